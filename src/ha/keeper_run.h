/*
 * keeper_run.h - private to the keeper files: the keeper's struct (what
 * outlives a tick), what one tick reads of the cluster, and the functions
 * the keeper files share. keeper.c owns the loop and the lease,
 * keeper_read.c the cluster read, keeper_act.c the decisions,
 * keeper_steps.c the long steps (initialise, clone, rewind, promote),
 * keeper_publish.c the member state and the history, keeper_backup.c the
 * scheduled backups.
 */
#ifndef PRODATA_HA_KEEPER_RUN_H
#define PRODATA_HA_KEEPER_RUN_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "ha/cluster_config.h"
#include "ha/etcd.h"
#include "ha/failsafe.h"
#include "ha/keeper.h"
#include "ha/keys.h"
#include "ha/member.h"
#include "ha/node.h"
#include "ha/roster.h"
#include "ha/schedule.h"
#include "ha/switchover.h"

enum
{
    PD_KEEPER_TARGET_MAX = 320, /* "host:port" */
    /* a standby not streaming this long from a leader on a newer timeline rewinds: well past
       wal_retrieve_retry_interval (5 s) and a reconnect on a busy node */
    PD_KEEPER_STUCK_MS = 30000,
    /* a WAL receiver still connecting after this is stopped (it ignores connect_timeout, 2 s) */
    PD_KEEPER_RECEIVER_CONNECT_MS = 5000,
    /* a node call's own bounds: a connection (2 s connect, 5 s statement), a reload or stop (10 s), and
       slack for a loaded machine; part of the bound an ordinary step of the loop declares */
    PD_KEEPER_NODE_CALL_MS = 12000,
    /* past its bound, a step is the run time of the program plus this before the lease thread stops */
    PD_KEEPER_STEP_SLACK_MS = 2000,
    PD_KEEPER_PROMOTE_MS = 15000, /* pg_ctl promote's bound */
    /* a switchover (keeper_switchover.c): the candidate's tick while a request names it; the leader's fast
       shutdown; how long the candidate waits for the old primary's last record after its release */
    PD_KEEPER_SWITCHOVER_TICK_MS = 50,
    /* how often the leader asks the candidate's PostgreSQL for its position after the stop, and the
       candidate looks for the release between its ticks; how often the other members look at the request
       and, having seen another member's leader key, at that key */
    PD_KEEPER_SWITCHOVER_ASK_MS = 10,
    PD_KEEPER_SWITCHOVER_WATCH_MS = 100,
    PD_KEEPER_SWITCHOVER_STOP_MS = 30000,
    PD_KEEPER_SWITCHOVER_CATCH_UP_MS = 5000,
    /* WAL since the last checkpoint past which the leader checkpoints before its shutdown (one segment) */
    PD_KEEPER_SWITCHOVER_CHECKPOINT_BYTES = 16 * 1024 * 1024,
    /* a scheduled backup (keeper_backup.c): how long its child has after SIGTERM at the keeper's stop, and
       how often the leader switches WAL segments while a standby takes one (its end must be archived) */
    PD_KEEPER_BACKUP_END_MS = 5000,
    PD_KEEPER_VERIFY_END_MS = 30000, /* a verify stops its trial server and removes its copy first */
    PD_KEEPER_BACKUP_SWITCH_MS = 10000,
};

/* The scheduled backup this keeper runs as a child (keeper_backup.c); what outlives a tick. */
typedef struct PdKeeperBackup
{
    int pid;              /* the child's; 0: none runs */
    PdScheduleKind kind;  /* of the job it runs, or whose result waits to be recorded */
    char job_id[128];     /* that job's id */
    int64_t job_revision; /* the job key's mod_revision when it started: the record's compare */
    int64_t started_ms;   /* CLOCK_MONOTONIC */
    int64_t log_offset;   /* where its output starts in state_dir/backup.log */
    bool has_result;      /* the child ended (or could not start): the record is to be written */
    int exit_code;        /* its exit status, -1 a signal */
    char message[PD_SCHEDULE_MESSAGE_MAX]; /* "" when ok, else why (the log's last line) */
    char label[64];                        /* the backup taken, "" unknown */
    int64_t switched_ms; /* the leader's last WAL switch for a standby's backup (CLOCK_MONOTONIC) */
} PdKeeperBackup;

/*
 * The lease, shared by the loop (the main thread) and the lease thread
 * (keeper_lease.c), every field under lock. The lease thread alone renews
 * and grants, with its own etcd client; the loop declares, before each step,
 * the time by which the step ends (alive_until), and the lease thread renews
 * only before it: a loop stuck past its step's bound lets the lease lapse.
 */
typedef struct PdKeeperLease
{
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    pthread_t thread;
    bool is_running;
    bool is_stopping;
    PdEtcd *etcd;              /* the lease thread's own client (the loop's only once it is joined) */
    int64_t lease_id;          /* 0: none */
    int64_t lease_valid_until; /* CLOCK_MONOTONIC ms: the lease lives at least until then */
    int64_t lease_fence_at;    /* lease_valid_until - margin; 0: no lease */
    int64_t
        failsafe_until;   /* the grants' deadline: a majority's round's send time + grant - margin; 0 none */
    bool is_reclaiming;   /* the lease was found gone while writing under grants: the key is to be taken
                             back; only the grants' deadline holds meanwhile */
    int64_t fence_at;     /* what the guard is to fence at: failsafe_until while reclaiming, else the later
                             of lease_fence_at and failsafe_until; 0: neither */
    int64_t guard_at;     /* what the guard was last sent; -1: not known (it fenced) */
    bool is_guard_wanted; /* the loop's: the node may write or leads, so the guard follows the lease */
    int64_t alive_until;  /* the loop's: the bound of the step it is in (CLOCK_MONOTONIC ms) */
    const char *step;     /* that step's name (a literal) */
    bool is_overrun_logged;
    int ttl_s;         /* the configuration's, copied by the loop */
    int granted_ttl_s; /* the TTL etcd granted the lease in force (a keepalive renews it to that) */
    int interval_ms;   /* a renewal every loop_interval_ms */
    int fence_margin_ms;
    bool is_leading;          /* the loop's is_leader, copied by pd_keeper_guard */
    bool is_failsafe;         /* the configuration's failsafe_mode, copied by the loop */
    int failsafe_grant_ms;    /* in effect (pd_cluster_config_grant_ms) */
    int failsafe_timeout_ms;  /* one round's bound */
    uint64_t lost;            /* times etcd said the lease was gone */
    uint64_t lost_seen;       /* of those, the ones the loop acted on (no new grant before) */
    uint64_t requested, done; /* renewals the loop asked for, and the last one made */
} PdKeeperLease;

/* The sync key: the quorum a leader applies in synchronous mode (keys.h). */
typedef struct PdKeeperSync
{
    bool exists;
    int64_t mod_revision;
    const char *leader;
    int quorum;       /* k of ANY k */
    PdRoster members; /* the standbys named, sorted */
} PdKeeperSync;

/* What one tick read of the cluster, in the tick arena. */
typedef struct PdKeeperRead
{
    bool is_known;        /* the range answered: everything below is etcd's */
    const char *leader;   /* the leader's name, NULL: no leader key */
    int64_t leader_lease; /* the leader key's lease */
    int64_t leader_revision;
    int64_t released_revision; /* the released key's mod_revision, 0: absent (keys.h) */
    PdMemberState *members;    /* every member key that parsed */
    size_t member_count;
    bool has_roster;
    PdRoster roster;
    const char *initializer; /* the initialize key's value, NULL: absent */
    PdKeeperSync sync;
    bool has_config;
    PdEtcdKv config;     /* the config key as read (exists false: the defaults) */
    bool has_switchover; /* the switchover key exists and parsed */
    PdSwitchover switchover;
    int64_t switchover_revision;
    bool has_backup_job; /* the backup job key exists and parsed (schedule.h) */
    PdScheduleJob backup_job;
    int64_t backup_job_revision;                   /* the job key's, parsed or not; 0: no job key */
    PdScheduleLast backup_last[PD_SCHEDULE_KINDS]; /* exists false: none recorded (or it did not parse) */
} PdKeeperRead;

struct PdKeeper
{
    PdArena *arena; /* the keeper's life */
    PdArena *tick;  /* reset at each tick */
    PdArena *config_arena[2];
    int config_index;
    PdClusterConfig config; /* the last good one */
    int64_t config_revision;
    bool is_config_read; /* the configuration in effect was read from etcd (not the defaults of an outage) */
    const PdKeeperSettings *settings;
    const char *name;
    char api_url[300];
    PdEtcd *etcd;
    PdKeys keys;
    PdNode *node;
    PdFence *fence;
    PdKeeperView *view;
    PdFailsafe *failsafe;  /* the grant table, shared with the API (options'; NULL: no failsafe) */
    PdKeeperLease lease;   /* keeper_lease.c's; the loop reads it through the functions below */
    int64_t tick_lease_id; /* the lease this tick runs under (read once at its start: a loss the lease
                              thread finds meanwhile is acted on at the next tick, as a leader) */
    /* what the keeper knows across ticks */
    bool is_leader;            /* holds the leader key under lease_id */
    bool saw_other_leader;     /* the last tick's read found another member's leader key */
    int64_t leader_revision;   /* the leader key's mod_revision when ours */
    bool was_primary;          /* its PostgreSQL was last a primary (or was made one) */
    uint64_t last_write_lsn;   /* its PostgreSQL's last write_lsn seen */
    int last_timeline;         /* the timeline that WAL position is on (0: none seen) */
    uint64_t leader_write_lsn; /* the last leader's write_lsn seen */
    int leader_timeline;       /* and its timeline (0: unknown) */
    char last_leader[PD_KEYS_MEMBER_MAX + 1];
    char following[PD_KEEPER_TARGET_MAX]; /* "host:port" its standby is configured for, "" not yet */
    int following_timeline;   /* the timeline that leader ran as a primary when last seen so, 0 not yet */
    uint32_t switch_timeline; /* the timeline own_switch was read for (a primary's), 0 none yet */
    PdWalSwitch own_switch;   /* where that timeline branched off its parent (pg_wal/<timeline>.history) */
    bool is_in_roster;
    bool may_initialize; /* this process raced for the initialize key and may have won it: initdb allowed */
    bool is_fenced;      /* the guard killed its postmaster since it last ran */
    int64_t
        stuck_since; /* CLOCK_MONOTONIC ms since its standby stopped streaming from the leader; 0: streams */
    int64_t leaderless_since_ms; /* wall clock when it first saw no leader key; 0: a leader is seen */
    int receiver_stops;          /* WAL receivers stopped while connecting since it last streamed */
    int64_t down_since; /* CLOCK_MONOTONIC ms since the leader's PostgreSQL was found down; 0: it runs */
    /* synchronous_standby_names as this process last wrote it to PostgreSQL */
    bool is_sync_known;
    int sync_quorum; /* 0: off */
    size_t sync_count;
    char sync_names[PD_ROSTER_MAX][PD_KEYS_MEMBER_MAX + 1];
    bool needs_rewind;       /* its standby cannot follow the leader's timeline: rejoin by rewind */
    const char *phase;       /* a step's state for the member key ("cloning"), NULL: from the node */
    const char *waiting_for; /* in the tick arena, "" none */
    char live_pending[512];  /* keeper_live.c: the pending_restart names last logged */
    /* keeper_switchover.c */
    bool is_switchover_fast;     /* a live switchover request names this member: ticks every 50 ms */
    bool saw_switchover_pending; /* the last tick's read found a live request not yet released */
    char handed_over_to[PD_KEYS_MEMBER_MAX + 1]; /* this former leader stopped cleanly and released the key
                                                    to that member ("" none): it rejoins it without rewind */
    int64_t failsafe_take_until;  /* the last taker round's grants, less the margin (CLOCK_MONOTONIC ms) */
    int64_t failsafe_recorded_ms; /* the longest grant recorded in state_dir (keeper_failsafe.c) */
    int64_t failsafe_quiet_until; /* no grant given before (a restart's quiet period) */
    int64_t failsafe_started_ms;  /* the keeper's start (CLOCK_MONOTONIC ms) */
    bool is_failsafe_counted;     /* in a leader's roster count (state_dir/failsafe_counted) */
    bool is_failsafe_record_lost; /* no state_dir/failsafe_grant_ms and no configuration read yet: the
                                     quiet period is the longest grant any configuration allows */
    bool is_failsafe_covered;     /* it held the leader key while a taker round's grants were live */
    const char *backup_program;   /* prodata's own path (options' restore_program); NULL: runs no backup */
    PdKeeperBackup backup;        /* keeper_backup.c */
};

/* keeper.c */
int64_t pd_keeper_now_ms(void);
int64_t pd_keeper_wall_ms(void);
/* The bound an ordinary step of the loop declares: its etcd calls and node calls, twice the interval. */
int pd_keeper_ordinary_ms(const PdKeeper *keeper);
/* The leader key deleted if it is still the one this keeper wrote, the released key written with it (only
 * once its PostgreSQL is stopped or killed: docs/ha.md); no longer the leader. */
void pd_keeper_release_leader(PdKeeper *keeper);

/* keeper_lease.c */
/* Opens the lease thread's etcd client and its lock (the thread starts in pd_keeper_lease_start). */
bool pd_keeper_lease_init(PdKeeper *keeper, const PdEtcdConfig *etcd_config, PdError *err);
bool pd_keeper_lease_start(PdKeeper *keeper, PdError *err);
/* Joins the lease thread (no renewal after), disarms the guard, revokes the lease. */
void pd_keeper_lease_end(PdKeeper *keeper);
void pd_keeper_lease_free(PdKeeper *keeper);
/* The loop declares that the step it starts ends within bound_ms; the lease is renewed only until then. */
void pd_keeper_step(PdKeeper *keeper, const char *step, int64_t bound_ms);
/* At each tick: the configuration's TTL and interval given to the lease thread, a lease found gone acted
 * on (no longer the leader; a primary that may take writes killed). */
void pd_keeper_lease_poll(PdKeeper *keeper);
/* No longer the leader (the lease, or the key, found gone): a primary that may take writes is killed at
 * once, since another node may lead by now; why opens the log lines. */
void pd_keeper_leadership_lost(PdKeeper *keeper, const char *why);
/* The lease this tick runs under (0: none), as pd_keeper_lease_poll found it at the tick's start. */
int64_t pd_keeper_lease_id(PdKeeper *keeper);
int64_t pd_keeper_fence_at(PdKeeper *keeper);
/* Sends the guard its deadline for what the node is now (armed when it may be writable or leads); the
 * lease thread then re-arms it after each renewal. */
void pd_keeper_guard(PdKeeper *keeper, bool may_write);
/* The guard reported a fence (it disarmed itself): the next pd_keeper_guard sends what is wanted. */
void pd_keeper_guard_fenced(PdKeeper *keeper);
/* Asks the lease thread for a renewal (a grant when there is no lease) now and waits for it, bounded. */
void pd_keeper_renew(PdKeeper *keeper);
/* Sets waiting_for (printf rules) in the tick arena and logs it at debug level. */
void pd_keeper_wait(PdKeeper *keeper, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The lease this tick runs under read again (after pd_keeper_renew took a new one). */
void pd_keeper_lease_refresh(PdKeeper *keeper);

/* keeper_failsafe.c (docs/ha.md, "The etcd outage: failsafe grants") */
/* At start: the longest grant the last process may have given read from state_dir, none given for that long.
 */
void pd_keeper_failsafe_start(PdKeeper *keeper);
/* This member is in a leader's roster count: it streams from the leader (its roster read naming it), or it
   took the leader key; recorded in state_dir, the table then gives grants (why: for the log). */
void pd_keeper_failsafe_counted(PdKeeper *keeper, const char *why);
/* The roster, the members' API addresses and failsafe_mode given to the grant table (a known read). */
void pd_keeper_failsafe_learn(PdKeeper *keeper, const PdKeeperRead *read);
/* The lease thread's round as the primary (no lock held): true with a majority of the roster, *sent_ms the
 * round's send time; granted_by names the granters. */
bool pd_keeper_failsafe_hold(PdKeeper *keeper, int64_t grant_ms, int timeout_ms, int64_t *sent_ms,
                             char *granted_by, size_t size);
/* Before taking the leader key: no live grant to another here, and ceil(n/2) grants to this member. */
bool pd_keeper_failsafe_may_take(PdKeeper *keeper);
/* After the key was taken: covered when its answer came while the taker round's grants were live. */
void pd_keeper_failsafe_taken(PdKeeper *keeper);
/* Before a promotion: covered, or a round now, holding the key. False: not now. */
bool pd_keeper_failsafe_covered(PdKeeper *keeper);
/* The key taken back after etcd came back, while writing under grants; true when it took the tick. */
bool pd_keeper_failsafe_reclaim(PdKeeper *keeper, const PdKeeperRead *read);
bool pd_keeper_failsafe_is_reclaiming(PdKeeper *keeper);
/* The member state's failsafe fields (strings in the tick arena). */
void pd_keeper_failsafe_fill(PdKeeper *keeper, PdMemberState *state);

/* keeper_read.c */
void pd_keeper_read(PdKeeper *keeper, PdKeeperRead *read);
const PdMemberState *pd_keeper_member(const PdKeeperRead *read, const char *name);
/* Applies the config key read when it changed: parsed into a fresh arena, kept on failure. */
void pd_keeper_apply_config(PdKeeper *keeper, const PdKeeperRead *read);

/* keeper_act.c */
void pd_keeper_act(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);

/* keeper_steps.c */
bool pd_keeper_has_data(const PdKeeper *keeper);
bool pd_keeper_is_standby_dir(const PdKeeper *keeper);
void pd_keeper_bootstrap(PdKeeper *keeper, const PdKeeperRead *read);
/* Starts the node as a standby of leader (configured, its slot there checked). is_joining: it streams as
 * joining (pd_node_set_joining) when pointed at leader now; false only when its WAL is known to be a prefix
 * of the leader's. */
void pd_keeper_start_standby(PdKeeper *keeper, const PdMemberState *leader, bool is_joining);
/* Whether the standby is configured for leader: its address, and the timeline it runs as a primary unless
 * that changed since (a leader missed in between: the standby must join it again). */
bool pd_keeper_is_following(PdKeeper *keeper, const PdMemberState *leader);
/* Records that the standby is configured for leader (its address, its timeline when it runs as a primary). */
void pd_keeper_set_following(PdKeeper *keeper, const PdMemberState *leader);
/* A stopped former primary made a standby of leader: rewind, or clone when rewind cannot work. */
void pd_keeper_rejoin(PdKeeper *keeper, const PdMemberState *leader);
/* Takes the leader key (absent -> own name under the lease), the released key deleted with it. */
bool pd_keeper_take_leader(PdKeeper *keeper);
/* The same, only while the released key is still the one read at released_revision (no take since that
 * release): no failsafe grants needed, the take counts as covered (docs/ha.md). */
bool pd_keeper_take_released(PdKeeper *keeper, int64_t released_revision);
void pd_keeper_promote(PdKeeper *keeper, const PdKeeperRead *read, uint64_t lsn);
/* pd_keeper_promote with the history's reason ("failover", "switchover", "manual"); true once promoted. */
bool pd_keeper_promote_for(PdKeeper *keeper, const PdKeeperRead *read, uint64_t lsn, const char *reason);
void pd_keeper_ensure_slots(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);
/* Restarts the crashed postmaster in place while the lease holds, within primary_start_timeout_ms. */
void pd_keeper_restart_in_place(PdKeeper *keeper, const PdKeeperRead *read);
/* Past primary_start_timeout_ms since the leader's PostgreSQL went down (down_since, set here), with a
 * fresh running standby in read to take over: its postmaster killed, the leader key released; true. */
bool pd_keeper_start_given_up(PdKeeper *keeper, const PdKeeperRead *read);

/* keeper_sync.c */
bool pd_keeper_sync_parse(PdArena *arena, const char *text, size_t length, PdKeeperSync *sync, PdError *err);
/* The leader keeps synchronous_standby_names and the sync key to the configuration and the roster. */
void pd_keeper_sync_lead(PdKeeper *keeper, const PdKeeperRead *read);
/* Before a promotion: the sync key and synchronous_standby_names set, so no commit is acknowledged
 * asynchronously. False: not now (the caller does not promote). */
bool pd_keeper_sync_prepare(PdKeeper *keeper, const PdKeeperRead *read);
/* With a sync key naming standbys, the failover rule: *applies true, and true when this member may take
 * over (it read n-k+1 fresh positions of the set and is the most advanced of them). */
bool pd_keeper_sync_may_take(PdKeeper *keeper, const PdKeeperRead *read, int timeline, uint64_t lsn,
                             bool *applies);
/* Configures the node as a primary with the synchronous_standby_names last applied (after a promotion). */
bool pd_keeper_sync_configure_primary(PdKeeper *keeper, PdError *err);
/* Whether this member is named in the sync key. */
bool pd_keeper_sync_is_member(const PdKeeper *keeper, const PdKeeperRead *read);

/* keeper_switchover.c: a switchover or a manual failover (switchover.h) */
/* At each tick, after the read: whether this member ticks fast (a live request names it). */
void pd_keeper_switchover_note(PdKeeper *keeper, const PdKeeperRead *read);
/* The leader: a request from it acted on (refused, or PostgreSQL stopped and the key released), or a
 * request done or stale deleted. True when it acted on one (the tick does nothing else). */
bool pd_keeper_switchover_lead(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);
/* No leader: the member a released (or leaderless failover) request names takes over; the others wait for
 * it, bounded. True when it decided this tick (the ordinary failover rules are not applied). */
bool pd_keeper_switchover_leaderless(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);
/* A stopped former leader that handed over cleanly to leader starts as its standby without a rewind. True
 * when it did (or waits to). */
bool pd_keeper_switchover_rejoin(PdKeeper *keeper, const PdMemberState *leader);
/* For the pause between ticks (keeper.c): whether the switchover request calls for a tick now (one get
 * bounded by limit_ms), how often to ask (the leader 50 ms, the candidate 10, others 100), and the pause's
 * length (50 ms while the member ticks fast, else loop_interval_ms). */
bool pd_keeper_switchover_calls(PdKeeper *keeper, int limit_ms);
int64_t pd_keeper_switchover_poll_ms(const PdKeeper *keeper);
int64_t pd_keeper_switchover_pause_ms(const PdKeeper *keeper);

/* keeper_live.c: the configuration's parameters and pg_hba applied (written, reloaded); pending restarts
 * logged */
void pd_keeper_live_apply(PdKeeper *keeper, const PdNodeStatus *status);
/* replay_lag_s and pending_restart of the member state. */
void pd_keeper_live_fill(const PdKeeper *keeper, const PdNodeStatus *status, PdMemberState *state);

/* keeper_backup.c (docs/ha.md, "Scheduled backups") */
/* At each tick, after the act: the leader writes the job that is due; the member a job names starts its
 * child, a child that ended is reaped and its result recorded (the job deleted with it). Never waits for a
 * child. */
void pd_keeper_backup(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);
/* At the keeper's stop: a child still running is ended (SIGTERM to its group), nothing recorded. */
void pd_keeper_backup_stop(PdKeeper *keeper);

/* keeper_publish.c */
void pd_keeper_publish(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status);
/* Publishes now, with phase as the state (before a long step). */
void pd_keeper_publish_phase(PdKeeper *keeper, const char *phase);
/* Tells the API at once that this node neither leads nor runs (the guard fenced it). */
void pd_keeper_publish_fenced(PdKeeper *keeper);
void pd_keeper_append_history(PdKeeper *keeper, const char *from, const char *reason, int timeline,
                              uint64_t lsn);

#endif

/*
 * node.h - the keeper's hands on one PostgreSQL 15 node: initialise a
 * primary, clone a standby, write the managed settings, start, stop, reload,
 * restart, promote, rewind, read the node's status, keep replication slots.
 * Each call is one bounded step (a timeout_ms, or the connect and statement
 * timeouts of node.c) that ends in a state the next call can start from; the
 * keeper loop decides which step to take. PostgreSQL's programs run as
 * config.os_user when the process is root (PostgreSQL refuses root).
 * A bound that passed is PD_ERR_LOCK_TIMEOUT, retryable, message "<step>
 * did not finish within N ms" (error.h has no general timeout code yet).
 * Operators' view: docs/ha.md, "The node". A PdNode belongs to one thread.
 */
#ifndef PRODATA_HA_NODE_H
#define PRODATA_HA_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/wal.h"

/* One managed PostgreSQL parameter beyond the fixed ones (the cluster-wide settings). */
typedef struct PdNodeSetting
{
    const char *name;  /* [a-z0-9_.]+, e.g. "shared_buffers" */
    const char *value; /* written as a quoted string: '64MB' */
} PdNodeSetting;

/*
 * What the node is. Strings are copied by pd_node_new. Paths must be absolute
 * and hold no quote, backslash, '%' or control character (they go into
 * postgresql.conf and shell commands).
 */
typedef struct PdNodeConfig
{
    const char *member_name;      /* [a-z0-9_-], 1-40 characters, starting with a letter or digit */
    const char *data_dir;         /* PGDATA */
    const char *state_dir;        /* prodata's own files: passfile, server log, socket, markers; not inside
                                     data_dir (pg_basebackup and pg_rewind copy that) */
    const char *bin_dir;          /* NULL: /usr/lib/postgresql/15/bin */
    const char *os_user;          /* account PostgreSQL runs as when we are root; NULL: "postgres" */
    const char *listen_address;   /* listen_addresses, e.g. "10.0.0.1" or "127.0.0.1" */
    int port;                     /* 1-65535 */
    const char *replication_user; /* NULL: "replicator" */
    const char *replication_password;  /* printable ASCII, 8-99 characters; read by the binary from a file
                                          or the environment; only its SCRAM verifier and the passfile
                                          (mode 0600) hold it, never a command line or a log */
    const char *const *peer_addresses; /* addresses or CIDR ranges allowed to replicate and rewind */
    size_t peer_count;
    const char *archive_dir;       /* NULL: no archiving, no restore_command */
    const char *archive_key_file;  /* the encrypted repository's key file; NULL: a plain repository */
    const char *wal_command;       /* NULL: "prodata-wal" (found in PostgreSQL's PATH) */
    const char *restore_program;   /* prodata's path, to clone from the repository; NULL: never */
    int clone_backup_max_age_s;    /* a clone restores the repository's newest backup when it ended at
                                      most this long ago (then streams); 0: always pg_basebackup */
    int max_wal_senders;           /* 0: 10 */
    int max_replication_slots;     /* 0: 10 */
    const PdNodeSetting *settings; /* further parameters, written after the fixed ones */
    size_t setting_count;
    const char *const *hba_lines; /* client rules: pg_hba.conf lines written after prodata's own */
    size_t hba_line_count;
} PdNodeConfig;

enum
{
    PD_NODE_SETTINGS_MAX = 256,  /* settings a node holds */
    PD_NODE_HBA_LINES_MAX = 128, /* client rules a node holds */
    PD_NODE_HBA_LINE_MAX = 1024, /* bytes of one */
};

typedef struct PdNode PdNode;

/* Where the postmaster stands, read from postmaster.pid and /proc (no connection). */
typedef enum PdNodeRun
{
    PD_NODE_STOPPED = 0, /* no postmaster.pid */
    PD_NODE_STARTING,    /* postmaster alive, not yet accepting connections (recovery to consistency) */
    PD_NODE_READY,       /* accepting connections (a primary, or a standby open for reads) */
    PD_NODE_STOPPING,    /* shutting down */
    PD_NODE_CRASHED,     /* postmaster.pid left by a postmaster that is gone */
} PdNodeRun;

/* A standby connected to this node (pg_stat_replication). */
typedef struct PdNodeStandby
{
    char *name;       /* application_name: the member name */
    char *state;      /* "streaming", "catchup", "startup", "backup" */
    char *sync_state; /* "async", "potential", "sync", "quorum" */
    uint64_t flush_lsn;
    uint64_t replay_lsn;
} PdNodeStandby;

/* A replication slot on this node (pg_replication_slots). */
typedef struct PdNodeSlot
{
    char *name;
    bool is_active;
    uint64_t restart_lsn; /* 0 when none */
} PdNodeSlot;

/* A primary's WAL archiving (pg_stat_archiver), read when archive_mode is not off. */
typedef struct PdNodeArchive
{
    bool is_known; /* the fields below were read: a primary with archive_mode on */
    int64_t archived_count;
    char *last_archived_wal;      /* "" none since the statistics were reset */
    int64_t last_archived_age_ms; /* ms since then, -1 none */
    int64_t failed_count;
    char *last_failed_wal; /* "" none */
    int64_t last_failed_age_ms;
    int64_t ready_count; /* segments waiting for the archiver (.ready files in pg_wal/archive_status) */
} PdNodeArchive;

typedef struct PdNodeStatus
{
    PdNodeRun run;
    int pid;               /* the postmaster's; 0 when stopped */
    bool is_connected;     /* the fields below were read (run is READY and the query answered) */
    bool is_in_recovery;   /* a standby */
    uint32_t timeline;     /* a primary's current timeline; the one a standby's received WAL ends on */
    uint64_t current_lsn;  /* primary: pg_current_wal_lsn() */
    uint64_t flush_lsn;    /* primary: pg_current_wal_flush_lsn() */
    uint64_t received_lsn; /* standby: pg_last_wal_receive_lsn(), 0 when nothing streamed */
    uint64_t replayed_lsn; /* standby: pg_last_wal_replay_lsn() */
    char *receiver_status; /* standby: pg_stat_wal_receiver.status ("streaming"...), "" when no receiver */
    char *receiver_host;   /* standby: the primary it streams from, "" when none */
    uint32_t receiver_timeline; /* standby: the timeline its WAL receiver streams (received_tli), 0 none */
    int connecting_pid;         /* standby: a WAL receiver still connecting to its primary, 0 none */
    int64_t connecting_ms;      /* how long it has been connecting */
    size_t standby_count;
    PdNodeStandby *standbys;
    size_t slot_count;
    PdNodeSlot *slots;
    int64_t replay_age_ms;        /* standby: ms since the last replayed transaction committed on the primary
                                     (pg_last_xact_replay_timestamp()), -1 when none was replayed */
    size_t pending_restart_count; /* parameters changed in the files that take effect at a restart */
    char **pending_restart;       /* their names (pg_settings.pending_restart), sorted */
    PdNodeArchive archive;        /* primary: the archiver's state */
} PdNodeStatus;

/*
 * Checks the configuration (every problem at once, PD_ERR_INVALID_INPUT), that
 * PostgreSQL's programs are in bin_dir (PD_ERR_NOT_FOUND, naming the first
 * one missing) and that os_user exists when root. *node is the caller's, freed with pd_node_free.
 */
bool pd_node_new(const PdNodeConfig *config, PdNode **node, PdError *err);
void pd_node_free(PdNode *node);

/*
 * Makes a new primary: initdb (data checksums, superuser "postgres"), the
 * managed files (pd_node_configure as a primary), a start, the replication
 * role with its password and the grants pg_rewind needs, and the passfile.
 * Leaves the server running. Refused (PD_ERR_REFUSED) when data_dir already
 * holds a cluster. Errors: PD_ERR_IO, PD_ERR_INTERNAL (a program failed; its
 * last output lines in the detail), PD_ERR_LOCK_TIMEOUT (timeout_ms passed).
 */
bool pd_node_init_primary(PdNode *node, int timeout_ms, PdError *err);

/*
 * Makes this node a standby of the primary at host:port: the repository's
 * newest backup restored (`prodata restore --as-standby`, when archive_dir,
 * restore_program and clone_backup_max_age_s allow and a backup that young
 * exists; the copy then replays the archived WAL and streams), else
 * pg_basebackup (WAL streamed, fast checkpoint, through the passfile), into a sibling directory,
 * then swapped with data_dir by two renames, so that an interrupted clone
 * leaves the old data directory or the new one, never half of one. Writes
 * standby.signal and the standby's settings. The server must be stopped
 * (PD_ERR_REFUSED otherwise); it stays stopped. Errors as init_primary.
 */
bool pd_node_clone(PdNode *node, const char *primary_host, int primary_port, int timeout_ms, PdError *err);

/* What the last pd_node_clone copied from: "the repository's newest backup", or "pg_basebackup" followed by
 * why the repository was not used when it could have been; "" before any clone. */
const char *pd_node_cloned_from(const PdNode *node);

/*
 * Rewrites the managed files: postgresql.prodata.conf (included from postgresql.conf),
 * pg_hba.conf, pg_ident.conf and, for a standby (primary_host not NULL),
 * primary_conninfo, primary_slot_name, restore_command and standby.signal;
 * for a primary (primary_host NULL) standby.signal is removed.
 * synchronous_standby_names is written when not NULL ("" turns it off).
 * Each file is replaced atomically. Takes effect at the next reload or restart.
 */
bool pd_node_configure(PdNode *node, const char *primary_host, int primary_port,
                       const char *synchronous_standby_names, PdError *err);

/*
 * Replaces the cluster-wide settings and client rules the node writes
 * (copied: the node's memory holds only the last ones), checked as at
 * pd_node_new (PD_ERR_INVALID_INPUT, nothing replaced). When this process
 * configured the node before (pd_node_configure, a clone or a rewind), the
 * managed files are rewritten at once with that call's role, primary and
 * synchronous_standby_names, and *is_written (may be NULL) is true; else the
 * next configure writes them. Takes effect at the next reload (parameters
 * that need a restart: pg_settings.pending_restart, in pd_node_status).
 */
bool pd_node_update(PdNode *node, const PdNodeSetting *settings, size_t setting_count,
                    const char *const *hba_lines, size_t hba_line_count, bool *is_written, PdError *err);

/* Whether the node holds exactly these settings and client rules (in this order). */
bool pd_node_holds(const PdNode *node, const PdNodeSetting *settings, size_t setting_count,
                   const char *const *hba_lines, size_t hba_line_count);

/*
 * Start, stop, reload, restart, promote: each bounded by timeout_ms
 * (PD_ERR_LOCK_TIMEOUT, retryable, when it passed). A start that timed out
 * leaves the postmaster running (recovery may just be slow: status says
 * STARTING); start refuses a node whose rewind was interrupted
 * (PD_ERR_REFUSED), and starts over a crashed postmaster's stale pid file.
 * Stop is fast shutdown, then immediate once half of timeout_ms passed;
 * *was_immediate (may be NULL) says which. Stopping a stopped node succeeds.
 * Promote asks pg_promote() over the local connection and waits until the
 * server leaves recovery (looked at every 10 ms); a server not in recovery is
 * PD_ERR_DB_QUERY.
 */
bool pd_node_start(PdNode *node, int timeout_ms, PdError *err);
bool pd_node_stop(PdNode *node, int timeout_ms, bool *was_immediate, PdError *err);
bool pd_node_reload(PdNode *node, int timeout_ms, PdError *err);
bool pd_node_restart(PdNode *node, int timeout_ms, PdError *err);
bool pd_node_promote(PdNode *node, int timeout_ms, PdError *err);

/* A CHECKPOINT on the running local server when at least min_wal_bytes of WAL were written since the last
 * one's redo point (a switchover's shutdown checkpoint then has little to write), over the bounded local
 * connection; *is_done says whether it ran. Errors: PD_ERR_DB_CONNECT, PD_ERR_DB_QUERY. */
bool pd_node_checkpoint(PdNode *node, int64_t min_wal_bytes, bool *is_done, PdError *err);

/* One small record (a logical message) and pg_switch_wal() on the running local primary, over the bounded
 * local connection: a backup taken on a standby ends once the segment holding its end is archived, and may
 * end at a segment's very start (the segment must then hold a record). Errors: PD_ERR_DB_CONNECT,
 * PD_ERR_DB_QUERY (a standby). */
bool pd_node_switch_wal(PdNode *node, PdError *err);

/* What pg_controldata says of a stopped node. */
typedef struct PdNodeControl
{
    bool is_shut_down;        /* "Database cluster state: shut down": a primary stopped cleanly */
    uint64_t checkpoint_lsn;  /* "Latest checkpoint location": after a clean stop, the last record written */
    uint32_t timeline;        /* "Latest checkpoint's TimeLineID" */
    uint32_t wal_block_bytes; /* "WAL block size" */
    uint64_t wal_segment_bytes; /* "Bytes per WAL segment" */
} PdNodeControl;

/*
 * A clean stop for a switchover: a fast shutdown only (SIGINT to the
 * postmaster, never immediate), over as soon as the shutdown checkpoint is
 * written (the control file says "shut down", seen within 10 ms): from then
 * on the node writes no WAL and takes no write, while its walsenders send the
 * WAL up to that checkpoint and its archiver runs a last cycle before the
 * postmaster exits (it may still run on return). *control is pg_controldata's
 * reading then: the checkpoint's location is the last record written.
 * PD_ERR_LOCK_TIMEOUT when the checkpoint is not written after timeout_ms (the
 * shutdown goes on: a fast shutdown is not called back); PD_ERR_REFUSED for a
 * crashed node; PD_ERR_INTERNAL when pg_controldata does not say "shut down".
 * Stopped already: its pg_controldata.
 */
bool pd_node_stop_clean(PdNode *node, int timeout_ms, PdNodeControl *control, PdError *err);

/*
 * Where the shutdown checkpoint record at control's latest checkpoint ends
 * in the node's pg_wal (its xl_tot_len, MAXALIGN'd, page headers of
 * control's WAL block size crossed): the end of a stopped primary's WAL
 * (PostgreSQL 15's record layout). Errors: PD_ERR_NOT_FOUND (no segment holds
 * it), PD_ERR_INTERNAL (no shutdown checkpoint record there).
 */
bool pd_node_record_end(const PdNode *node, const PdNodeControl *control, uint64_t *end, PdError *err);

/* Whether global/pg_control says "shut down" (read directly, cheap enough to poll, not CRC-checked): the
 * node's shutdown checkpoint is written, and it writes no more WAL and takes no write. */
bool pd_node_control_says_shut_down(const PdNode *node);

/* Runs pg_controldata within timeout_ms. Errors: PD_ERR_INTERNAL (it failed, or its output lacks a field),
 * PD_ERR_LOCK_TIMEOUT. */
bool pd_node_control(PdNode *node, int timeout_ms, PdNodeControl *control, PdError *err);

/*
 * Reads the node's status into *status (strings and arrays in arena), on a
 * connection kept for the next call. A stopped, starting or crashed node is
 * not an error: status->run says so and is_connected is false. Errors: PD_ERR_DB_CONNECT or PD_ERR_DB_GONE
 * when a READY server does not answer within the connect (2 s) and statement (5 s) timeouts; status->run and
 * pid are filled even then.
 */
bool pd_node_status(PdArena *arena, PdNode *node, PdNodeStatus *status, PdError *err);

/* host (an address or name) and port fit a conninfo and a postgresql.conf string. PD_ERR_INVALID_INPUT. */
bool pd_node_check_host(const char *host, int port, PdError *err);

/* Closes the connection pd_node_status keeps between calls (it opens one again when next called). */
void pd_node_status_close(PdNode *node);

/* Only the postmaster's state, from postmaster.pid and /proc; *pid 0 when none. Never fails. */
PdNodeRun pd_node_run_state(PdNode *node, int *pid);

/*
 * The replication slot of a member: "prodata_" and the member name with '-'
 * turned into '_' (so "a-b" and "a_b" share a slot: the keeper refuses such
 * pairs). False (PD_ERR_INVALID_INPUT) for a name that is not a member name.
 */
bool pd_node_slot_name(const char *member_name, char *slot, size_t size, PdError *err);

/*
 * Creates (WAL reserved at once) or drops the physical slot of member on this
 * node, which must be a running primary. A standby's slot must exist on its
 * primary before it starts (clone or rewind): without it the WAL receiver
 * is refused and the standby does not stream. Both are idempotent. Dropping a slot
 * in use fails with PD_ERR_DB_QUERY (sqlstate 55006).
 */
bool pd_node_slot_create(PdNode *node, const char *member, PdError *err);
bool pd_node_slot_drop(PdNode *node, const char *member, PdError *err);

/*
 * Rewinds this stopped node (a failed old primary) onto the primary at
 * host:port with pg_rewind (missing WAL restored from the archive when one is
 * set), then configures it as that primary's standby; it stays stopped.
 * Steps: the standby's settings written (without standby.signal), a crashed
 * target recovered in single-user mode, a CHECKPOINT asked of the new
 * primary (a just-promoted one still shows its old timeline until then,
 * and pg_rewind would answer "no rewind required"), then a
 * dry run: when rewind cannot work (no common history, another system)
 * nothing is touched and the answer is PD_ERR_REFUSED with pg_rewind's reason
 * and the hint to clone. The real run is bracketed by a marker file in
 * state_dir: an interrupted rewind leaves the marker, start and rewind then
 * refuse (PD_ERR_REFUSED), and only pd_node_clone clears it. A new primary
 * out of reach is PD_ERR_DB_CONNECT, retryable, with nothing changed.
 */
bool pd_node_rewind(PdNode *node, const char *primary_host, int primary_port, int timeout_ms, PdError *err);

/*
 * True when the node module writes the PostgreSQL parameter name itself
 * (listen_addresses, port, wal_level, the archive and standby settings,
 * synchronous_standby_names, ...) or it names a file of the data directory's
 * layout (data_directory, hba_file, ...): a cluster-wide setting may not name
 * it. Case-insensitive, as PostgreSQL's names.
 */
bool pd_node_owns_parameter(const char *name);

/* Whether password may be the replication role's: 8 to 99 printable ASCII characters (NULL: no). */
bool pd_node_password_is_valid(const char *password);

/* "0/3000060" into *lsn; false for anything else. */
bool pd_node_lsn_parse(const char *text, uint64_t *lsn);

/*
 * Where timeline ended in the lineage of history_timeline, from the node's
 * pg_wal/<history_timeline>.history: *has_history false when the file is
 * not there (yet); *is_found (and *end) when a line names timeline. False
 * (PD_ERR_IO, PD_ERR_INVALID_INPUT naming path:line, PD_ERR_NO_MEMORY) when
 * it cannot be read or is not a history file.
 */
bool pd_node_timeline_end(const PdNode *node, uint32_t history_timeline, uint32_t timeline, uint64_t *end,
                          bool *has_history, bool *is_found, PdError *err);

/*
 * Before a stopped standby starts: for each switch in the lineage of
 * history_timeline (pg_wal/<history_timeline>.history), the older
 * timeline's segment holding the switch point is renamed to
 * pg_wal/<name>.forked (.forked.N when that is taken) when the newer
 * timeline's segment for that place is not in pg_wal. Such a segment may hold WAL past the switch (a fork),
 * and PostgreSQL replays it at start when the newer one is missing; without it, the standby reads that
 * segment of the newer timeline from the archive or its primary. Without that history file in pg_wal (a
 * standby stopped before the failover), published (the leader's timeline_switch; NULL or parent 0: none) is
 * its last line. *moved counts the files renamed. No history, no segment: nothing to do. Errors: PD_ERR_IO,
 * PD_ERR_INVALID_INPUT (the history), PD_ERR_NO_MEMORY.
 */
bool pd_node_set_fork_aside(PdNode *node, uint32_t history_timeline, const PdWalSwitch *published, int *moved,
                            PdError *err);

/* The last line of the node's pg_wal/<timeline>.history (where timeline branched off its parent) into *last;
 * parent 0 when there is no such file. Errors as pd_node_timeline_end's. */
bool pd_node_timeline_switch(const PdNode *node, uint32_t timeline, PdWalSwitch *last, PdError *err);

/*
 * A joining standby streams under the application_name "<member>-joining",
 * which no synchronous_standby_names lists: its replies release no commit.
 * A WAL receiver reports the position its standby replayed as flushed from
 * the first reply, and a standby that replayed an older timeline past the
 * primary's fork would report WAL the primary never wrote. The keeper makes
 * a standby joining whenever it points it at a primary, and ends it
 * (pd_node_configure again, then a reload) once its WAL receiver streams
 * the primary's timeline. Written at the next configure; a new node is
 * joining.
 */
void pd_node_set_joining(PdNode *node, bool is_joining);
bool pd_node_is_joining(const PdNode *node);

/*
 * Starts argv[0] (an absolute path, or a program of bin_dir; argv NULL-terminated) without waiting for it:
 * as the server's account when root, in its own process group, stdin from /dev/null, stdout and stderr
 * appended to log_path (made 0640, the server account's, when missing), with pd_node_exec's environment.
 * *pid is the child's: pd_node_reap it, or pd_node_end it. Errors: PD_ERR_IO (the log, fork),
 * PD_ERR_NO_MEMORY.
 */
bool pd_node_spawn(PdNode *node, const char *const *argv, const char *log_path, int *pid, PdError *err);

/* Whether pd_node_spawn's child pid has ended (never waits): *exit_code its exit status, -1 when a signal
 * ended it (or it is no child of ours any more). */
bool pd_node_reap(int pid, int *exit_code);

/* Ends pd_node_spawn's child: SIGTERM to its process group, SIGKILL after grace_ms, and reaps it. */
void pd_node_end(int pid, int grace_ms);

/* The data directory, the server log, the passfile (owned by the node). */
const char *pd_node_data_dir(const PdNode *node);
const char *pd_node_log_path(const PdNode *node);
const char *pd_node_passfile(const PdNode *node);
/* A conninfo for the local superuser connection over the node's socket (owned by the node). */
const char *pd_node_local_conninfo(const PdNode *node);

const char *pd_node_run_name(PdNodeRun run);

#endif

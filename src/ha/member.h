/*
 * member.h - a member's published state, the value at pd_keys_member (keys.h)
 * that each keeper writes under its own lease every loop, and the functions
 * that turn it into JSON and back. The document (version 1):
 *
 *   {"version": 1, "name": "n1", "role": "primary", "state": "running",
 *    "pg_host": "127.0.0.1", "pg_port": 5432, "api_url": "http://127.0.0.1:8008",
 *    "timeline": 3, "write_lsn": "0/3000148", "replay_lsn": "0/3000148",
 *    "is_streaming": true, "lag_bytes": 0, "updated_ms": 1764489600123,
 *    "waiting_for": "", "replay_lag_s": 0.25, "pending_restart": ["shared_buffers"],
 *    "archive": {"archived_count": 12, "last_archived_wal": "000000030000000000000011",
 *                "last_archived_ms": 1764489599800, "failed_count": 0, "last_failed_wal": "",
 *                "last_failed_ms": 0, "ready_count": 0},
 *    "failsafe_grant": {"holder": "n2", "remaining_ms": 1800},
 *    "failsafe_writable": {"granted_by": "n2, n3", "remaining_ms": 2100},
 *    "timeline_switch": {"parent": 2, "lsn": "0/2A000A0"}}
 *
 * timeline_switch: a primary's own timeline's branch point (the last line of
 * its history file), null on timeline 1, on a standby and when unknown;
 * absent in a keeper's document from before it, read as null. A standby
 * that starts uses it to keep the old timeline's WAL past the switch out of
 * its recovery (pd_node_set_fork_aside).
 * write_lsn: a primary's pg_current_wal_flush_lsn(), a standby's flushed
 * received LSN (pg_last_wal_receive_lsn). lag_bytes: a standby's distance
 * behind the leader's write_lsn as last read (-1 unknown), 0 on a primary.
 * updated_ms: the writer's wall clock (ms since the epoch) when it wrote.
 * waiting_for: what a stalled step waits for, "" when none.
 * replay_lag_s: a standby's seconds since the last transaction it replayed
 * committed on the primary, 0 when it has replayed all the leader wrote (and
 * on a primary), null when unknown. pending_restart: the parameters changed
 * in the node's files that wait for a restart (pg_settings.pending_restart).
 * archive: a primary's WAL archiver (pg_stat_archiver): segments archived
 * and failed since the statistics were reset, the last of each and when
 * (wall clock ms, 0: none), and the segments waiting (.ready files); null on
 * a member that does not archive (a standby, archive_mode off).
 * failsafe_grant: the failsafe grant this member holds for another (null:
 * none); failsafe_writable: this primary writes without etcd under the
 * grants of granted_by ("" when it alone is a majority), null when not
 * (docs/ha.md, "The etcd outage: failsafe grants"); remaining_ms are the
 * writer's durations left when it wrote.
 * Every field is written; on reading every field is required but the last
 * five, which came later (absent: unknown, none). An unknown field or version
 * is refused, so a reader never acts on a half-understood state.
 */
#ifndef PRODATA_HA_MEMBER_H
#define PRODATA_HA_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_MEMBER_VERSION = 1,
    PD_MEMBER_DOCUMENT_MAX = 16 * 1024, /* bytes of one member's JSON */
    PD_MEMBER_TEXT_MAX = 256,           /* bytes of pg_host, api_url, waiting_for */
    PD_MEMBER_PENDING_MAX = 64,         /* names in pending_restart */
    PD_MEMBER_PARAMETER_MAX = 63,       /* bytes of one */
};

typedef enum PdMemberRole
{
    PD_MEMBER_ROLE_UNKNOWN = 0,
    PD_MEMBER_ROLE_PRIMARY,
    PD_MEMBER_ROLE_STANDBY,
} PdMemberRole;

/* The archive object of the document; is_known false: null or absent. */
typedef struct PdMemberArchive
{
    bool is_known;
    int64_t archived_count;
    const char *last_archived_wal; /* a WAL file name, "" none */
    int64_t last_archived_ms;      /* wall clock, ms since the epoch; 0 none */
    int64_t failed_count;
    const char *last_failed_wal;
    int64_t last_failed_ms;
    int64_t ready_count;
} PdMemberArchive;

typedef struct PdMemberState
{
    const char *name; /* a member name (pd_keys_check_member) */
    PdMemberRole role;
    const char *state; /* one of pd_member_is_state's names */
    const char *pg_host;
    int pg_port; /* 0: unknown */
    const char *api_url;
    int timeline;        /* 0: unknown */
    int switch_parent;   /* a primary: the timeline its own branched off (its history's last line), 0 none */
    uint64_t switch_lsn; /* where that was */
    uint64_t write_lsn;
    uint64_t replay_lsn;
    bool is_streaming;
    int64_t lag_bytes;  /* -1: unknown */
    int64_t updated_ms; /* wall clock, ms since the epoch */
    const char *waiting_for;
    int64_t replay_lag_ms; /* replay_lag_s in ms; -1: unknown (null) */
    const char *const *pending_restart;
    size_t pending_restart_count;
    PdMemberArchive archive;
    const char *failsafe_holder;     /* the member it grants failsafe to; NULL: none */
    int64_t failsafe_holder_ms;      /* that grant's time left */
    bool is_failsafe_writable;       /* a primary writing without etcd under grants */
    const char *failsafe_granted_by; /* "n2, n3" */
    int64_t failsafe_writable_ms;    /* the time left */
    const char *backup_job;          /* the scheduled backup job it runs, or ran and has not recorded
                                        (schedule.h); NULL: none */
} PdMemberState;

/*
 * The state as one compact JSON line, the fields in the order above. *json
 * in arena. Checks what it writes as pd_member_parse would read it (name,
 * state, text lengths, no control characters): a keeper never publishes a
 * document its peers refuse. Errors: PD_ERR_INVALID_INPUT (field set),
 * PD_ERR_NO_MEMORY.
 */
bool pd_member_json(PdArena *arena, const PdMemberState *state, char **json, PdError *err);

/*
 * Reads a document (length bytes, not NUL-terminated) strictly: every field
 * present with its type, version 1, no unknown field, the name a member name,
 * role and state among the known names, LSNs as "X/X". *state (strings in
 * arena) is written only on success. Errors: PD_ERR_INVALID_INPUT with every
 * problem named by its field (err->problems), PD_ERR_NO_MEMORY.
 */
bool pd_member_parse(PdArena *arena, const char *text, size_t length, PdMemberState *state, PdError *err);

/* The archive object as the document holds it (new reference), JSON null when !is_known; NULL: no
 * memory. */
json_t *pd_member_archive_json(const PdMemberArchive *archive);

/* "primary", "standby", "unknown". Never NULL. */
const char *pd_member_role_name(PdMemberRole role);

/* Whether state is one of "running", "starting", "stopped", "crashed", "cloning", "rewinding",
 * "fenced", "promoting", "initializing", "switching over". */
bool pd_member_is_state(const char *state);

/*
 * Two WAL positions compared as (timeline, LSN), for a failover: a member on
 * a newer timeline is ahead of one on an older timeline whatever the LSNs
 * (the older one's WAL past the switch is a fork no one acknowledged after
 * it); on one timeline the larger LSN is ahead. A timeline 0 is unknown: the
 * LSNs alone decide then. Returns <0, 0 or >0 as a is behind, level with or
 * ahead of b.
 */
int pd_member_position_compare(int a_timeline, uint64_t a_lsn, int b_timeline, uint64_t b_lsn);

/*
 * How many bytes position a is behind b: 0 when it is not behind (same or
 * newer timeline, LSN not smaller), b_lsn - a_lsn on one timeline (or a
 * timeline unknown), UINT64_MAX when a is on an older timeline than b (how
 * much of b's WAL a holds is not known from the positions).
 */
uint64_t pd_member_position_lag(int a_timeline, uint64_t a_lsn, int b_timeline, uint64_t b_lsn);

/* An LSN as PostgreSQL writes it ("0/3000148"), into buffer (at least 20 bytes). Returns buffer. */
const char *pd_member_lsn_text(uint64_t lsn, char *buffer, size_t size);

#endif

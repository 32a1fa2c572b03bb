/*
 * cluster_config.h - the cluster-wide configuration every keeper runs on: one
 * JSON document in etcd at pd_keys_config (keys.h), read each loop, changed by
 * `prodata cluster config set` with a compare-and-swap on its mod_revision so
 * that two concurrent changes never lose one. An absent key means the
 * defaults. Operators' view: docs/ha.md, "Cluster configuration".
 *
 *   {"synchronous_mode": "off", "synchronous_quorum": 1, "ttl_s": 3,
 *    "loop_interval_ms": 1000, "maximum_lag_on_failover_bytes": 1048576,
 *    "paused": false, "postgresql_parameters": {"work_mem": "16MB"},
 *    "pg_hba": ["host all app 10.0.0.0/24 scram-sha-256"], "failsafe_mode": true,
 *    "failsafe_grant_ms": 0, "failsafe_timeout_ms": 500, "backup_full_every_s": 86400,
 *    "backup_incr_every_s": 3600, "backup_verify_every_s": 0, "backup_on": "standby",
 *    "backup_retain_full": 2, "backup_retain_days": -1}
 *
 * Every field may be missing (its default is taken); an unknown field, a
 * value of the wrong type or out of bounds, a parameter name that is not one
 * or that the node module writes itself, is refused, every problem at once,
 * each naming its field.
 */
#ifndef PRODATA_HA_CLUSTER_CONFIG_H
#define PRODATA_HA_CLUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha/etcd.h"
#include "ha/keys.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_CLUSTER_TTL_S_DEFAULT = 3, /* docs/ha.md: a node loss is failed over within 5 s */
    PD_CLUSTER_TTL_S_MIN = 2,     /* etcd's own minimum with its default election timeout (1.5 x 1 s) */
    PD_CLUSTER_TTL_S_MAX = 3600,
    PD_CLUSTER_LOOP_MS_DEFAULT = 1000,
    PD_CLUSTER_LOOP_MS_MIN = 100,
    PD_CLUSTER_LOOP_MS_MAX = 60000,
    PD_CLUSTER_QUORUM_MAX = 8, /* the node's max_wal_senders (10) less the two a clone in progress uses */
    PD_CLUSTER_PARAMETERS_MAX = 200,
    PD_CLUSTER_PARAMETER_NAME_MAX = 63,
    PD_CLUSTER_PARAMETER_VALUE_MAX = 1024,
    PD_CLUSTER_HBA_LINES_MAX = 100,
    PD_CLUSTER_HBA_LINE_MAX = 512,             /* bytes of one pg_hba line */
    PD_CLUSTER_DOCUMENT_MAX = 256 * 1024,      /* bytes of the JSON document */
    PD_CLUSTER_FAILSAFE_GRANT_MS_MIN = 1000,   /* failsafe_grant_ms, when not 0 (ttl_s x 1000) */
    PD_CLUSTER_FAILSAFE_GRANT_MS_MAX = 600000, /* PD_FAILSAFE_DURATION_MAX_MS */
    PD_CLUSTER_FAILSAFE_TIMEOUT_MS_DEFAULT = 500,
    PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MIN = 50,
    PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MAX = 10000,
    PD_CLUSTER_BACKUP_EVERY_S_MIN = 60,         /* a backup schedule's interval, when not 0 (off) */
    PD_CLUSTER_BACKUP_EVERY_S_MAX = 31 * 86400, /* 31 days */
    PD_CLUSTER_BACKUP_RETAIN_FULL_MAX = 1000,
    PD_CLUSTER_BACKUP_RETAIN_DAYS_MAX = 36500,
};
#define PD_CLUSTER_MAX_LAG_DEFAULT ((int64_t)1 << 20) /* 1 MiB, Patroni's default too */
#define PD_CLUSTER_MAX_LAG_MAX ((int64_t)1 << 50)     /* 1 PiB: exact in any JSON reader's double */

/* One PostgreSQL parameter every node runs with (written by pd_node_configure after the fixed ones). */
typedef struct PdClusterParameter
{
    const char *name;  /* lower case: [a-z_][a-z0-9_]*, or two such parts joined by '.' (an extension's) */
    const char *value; /* any text without control characters */
} PdClusterParameter;

typedef struct PdClusterConfig
{
    bool is_synchronous;    /* synchronous_mode: "on" / "off" (default off) */
    int synchronous_quorum; /* k of synchronous_standby_names = 'ANY k (...)', 1-8 (default 1) */
    int ttl_s;              /* the leader lease (default 3) */
    int loop_interval_ms;   /* the keeper's loop (default 1000); at most half of ttl_s */
    int64_t maximum_lag_on_failover_bytes; /* a member further behind is not promoted (default 1 MiB) */
    bool is_paused; /* "paused": maintenance, the keepers take no automatic action (default false) */
    const PdClusterParameter *parameters; /* sorted by name, names unique */
    size_t parameter_count;
    const char *const *pg_hba; /* client rules, pg_hba.conf lines written after prodata's own, in order */
    size_t pg_hba_count;
    bool is_failsafe;      /* failsafe_mode (default true): an etcd outage is not a partition (docs/ha.md) */
    int failsafe_grant_ms; /* one grant's duration; 0 (default): ttl_s x 1000 */
    int failsafe_timeout_ms; /* one round of grant requests' bound (default 500) */
    /* backups the leader's keeper schedules (docs/ha.md, "Scheduled backups"): each 0 (default, off) or
       60 s to 31 days since the last successful one of its kind */
    int backup_full_every_s;
    int backup_incr_every_s;
    int backup_verify_every_s; /* `prodata backup verify --restore` */
    bool is_backup_on_primary; /* backup_on: "standby" (default: a healthy streaming standby, else the
                                  primary) or "primary" */
    /* retention applied after each scheduled full or incremental backup (docs/backup.md, "Retention"):
       the newest N full backups (0, default: no such rule), what restores to any moment of the last D
       days (-1, default: no such rule); when both are off the node's own settings decide */
    int backup_retain_full;
    int backup_retain_days;
} PdClusterConfig;

/* failsafe_grant_ms as in effect: the field, or ttl_s x 1000 when it is 0. */
int pd_cluster_config_grant_ms(const PdClusterConfig *config);

/* The defaults: what a cluster without the config key runs on. */
void pd_cluster_config_defaults(PdClusterConfig *config);

/*
 * Parses and checks a document (length bytes, not NUL-terminated). Missing
 * fields take their defaults. *config (strings and arrays in arena) is
 * written only on success. Errors: PD_ERR_INVALID_INPUT with every problem
 * (err->problems), each with its field ("ttl_s", "postgresql_parameters.port"),
 * the message the first; PD_ERR_NO_MEMORY.
 */
bool pd_cluster_config_parse(PdArena *arena, const char *text, size_t length, PdClusterConfig *config,
                             PdError *err);

/* Checks a configuration made in code (bounds, ttl_s against loop_interval_ms, parameters), as parse does. */
bool pd_cluster_config_check(const PdClusterConfig *config, PdError *err);

/*
 * The document, every field present, keys in a fixed order; is_pretty: indented
 * for people (and a final newline), else one compact line (what is stored).
 * In arena. Errors: PD_ERR_NO_MEMORY.
 */
char *pd_cluster_config_json(PdArena *arena, const PdClusterConfig *config, bool is_pretty, PdError *err);

/*
 * Applies "field=value" assignments to *config: synchronous_mode=on|off,
 * synchronous_quorum=K, ttl_s=S, loop_interval_ms=MS,
 * maximum_lag_on_failover_bytes=B, paused=true|false, failsafe_mode=true|false, failsafe_grant_ms=MS,
 * failsafe_timeout_ms=MS, backup_full_every_s=S, backup_incr_every_s=S,
 * backup_verify_every_s=S, backup_on=standby|primary, backup_retain_full=N, backup_retain_days=D,
 * postgresql_parameters.NAME=VALUE (an empty
 * VALUE removes NAME), pg_hba+=LINE (appended unless there), pg_hba-=LINE (removed),
 * pg_hba=[JSON array] (the lines replaced). Then checks the result. On any problem (every one
 * collected, each naming its field) *config is unchanged. Errors:
 * PD_ERR_INVALID_INPUT, PD_ERR_NO_MEMORY.
 */
bool pd_cluster_config_assign(PdArena *arena, PdClusterConfig *config, const char *const *assignments,
                              size_t count, PdError *err);

/* The outcome of reading or changing the document in etcd: read its status with a switch. */
typedef enum PdClusterConfigStatus
{
    PD_CLUSTER_CONFIG_UNKNOWN =
        0, /* etcd gave no answer to trust: a change may or may not have been applied */
    PD_CLUSTER_CONFIG_DONE,
    PD_CLUSTER_CONFIG_CONFLICT, /* changed by someone else (since if_revision, or on every attempt): nothing
                                   written; PD_ERR_REFUSED */
    PD_CLUSTER_CONFIG_INVALID,  /* the change, or the document in etcd, is not valid: nothing written;
                                   PD_ERR_INVALID_INPUT */
    PD_CLUSTER_CONFIG_REFUSED,  /* etcd refused the request (permission, argument): nothing written;
                                   PD_ERR_REFUSED */
} PdClusterConfigStatus;

typedef struct PdClusterConfigOutcome
{
    PdClusterConfigStatus status;
} PdClusterConfigOutcome;

/*
 * Reads the document. DONE: *config (in arena) and *mod_revision, the key's
 * mod_revision, 0 when the key is absent and *config the defaults. INVALID:
 * the stored document does not parse or check (err says where; the keeper
 * keeps the configuration it had). UNKNOWN: err is PD_ERR_DCS_UNKNOWN (or
 * PD_ERR_NO_MEMORY: nothing is known of the document either).
 */
PdClusterConfigOutcome pd_cluster_config_load(PdArena *arena, PdEtcd *etcd, const PdKeys *keys,
                                              PdClusterConfig *config, int64_t *mod_revision, PdError *err);

/*
 * Reads the document, applies the assignments (pd_cluster_config_assign) and
 * writes it back only if its mod_revision is still the one read (absent: only
 * if still absent). When someone else changed it in between, it starts over
 * from their document, up to max_attempts times in all (0: 5), so concurrent
 * changes of different fields are all applied; then CONFLICT. With
 * if_revision >= 0 it never starts over: a document whose mod_revision is not
 * if_revision (0: absent) gives CONFLICT. A change that leaves the document
 * as it is writes nothing and is DONE. DONE: *config and *mod_revision are
 * the document now in etcd. UNKNOWN: the write may or may not have been
 * applied (read the document again to see). *attempts (may be NULL) counts
 * the compare-and-swaps sent.
 */
PdClusterConfigOutcome pd_cluster_config_change(PdArena *arena, PdEtcd *etcd, const PdKeys *keys,
                                                const char *const *assignments, size_t count,
                                                int64_t if_revision, int max_attempts,
                                                PdClusterConfig *config, int64_t *mod_revision, int *attempts,
                                                PdError *err);

/* "done", "unknown", "conflict", "invalid", "refused". Never NULL. */
const char *pd_cluster_config_status_name(PdClusterConfigStatus status);

/* The PostgreSQL parameter names the configuration accepts (pd_node_owns_parameter's refused too). */
bool pd_cluster_config_is_parameter_name(const char *name);

#endif

/*
 * keys.h - the etcd key layout of one prodata cluster, the only place key
 * strings are built. Every key of a cluster lives under one root,
 * "<prefix>/<cluster>", both validated when the layout is made:
 *   <root>/config           the cluster-wide configuration (cluster_config.h)
 *   <root>/leader           the leader key, under the leader's lease
 *   <root>/members/<name>   a member's published state, under its own lease
 *   <root>/history          the failover history
 *   <root>/roster           the cluster's members for good: {"members": ["n1", "n2"]} (roster.h); each
 *                           keeper adds itself at start, `prodata cluster remove` takes a name out, and
 *                           the leader keeps one replication slot per name (drops the others' slots)
 *   <root>/sync             synchronous mode's quorum as the leader applies it:
 *                           {"leader": "n1", "quorum": 1, "members": ["n2", "n3"]}; it always covers what
 *                           PostgreSQL enforces (grown in etcd first, shrunk in PostgreSQL first)
 *   <root>/switchover       a planned change of leader asked by `prodata cluster switchover|failover`,
 *                           completed by the leader when it hands over (switchover.h)
 *   <root>/released         {"from": "n1", "at_ms": wall}: written (no lease) with the leader key's delete
 *                           by a holder that gave the key up after stopping its PostgreSQL, deleted with
 *                           every take of the leader key; present with no leader key, a taker needs no
 *                           failsafe grants (docs/ha.md)
 *   <root>/backup/job       the scheduled backup to run now (no lease): {"id", "kind", "member",
 *                           "from_standby", "created_ms", "leader"}, written by the leader, deleted by the
 *                           member it names when its run ends (schedule.h)
 *   <root>/backup/last/<kind>  the last scheduled run of a kind (full, incr, verify): {"time_ms", "member",
 *                           "ok", "exit_code", "message", "last_ok_ms", "label"}
 *   <root>/initialize       the bootstrap race: created (absent -> the winner's name) once, by the
 *                           keeper that initialises the first primary
 * A PdKeys holds its root in a fixed buffer (no allocation, no failure after
 * pd_keys_init) and hands out each key as bytes the PdKeys owns, except a
 * member's key, which needs the name and goes into the caller's arena.
 */
#ifndef PRODATA_HA_KEYS_H
#define PRODATA_HA_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "ha/etcd.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_KEYS_PREFIX_MAX = 128, /* bytes of a prefix */
    PD_KEYS_CLUSTER_MAX = 63, /* bytes of a cluster name */
    PD_KEYS_MEMBER_MAX = 40,  /* bytes of a member name: "prodata_" + 40 fits a slot name (63) */
    PD_KEYS_ROOT_MAX = PD_KEYS_PREFIX_MAX + 1 + PD_KEYS_CLUSTER_MAX + 1, /* with its NUL */
};

typedef struct PdKeys
{
    char root[PD_KEYS_ROOT_MAX]; /* "/prodata/main" */
    char config[PD_KEYS_ROOT_MAX + 8];
    char leader[PD_KEYS_ROOT_MAX + 8];
    char history[PD_KEYS_ROOT_MAX + 8];
    char roster[PD_KEYS_ROOT_MAX + 7];
    char sync[PD_KEYS_ROOT_MAX + 5];
    char initialize[PD_KEYS_ROOT_MAX + 11];
    char switchover[PD_KEYS_ROOT_MAX + 11];
    char released[PD_KEYS_ROOT_MAX + 9];
    char members[PD_KEYS_ROOT_MAX + 9]; /* "<root>/members/", the prefix of every member key */
    char backup_job[PD_KEYS_ROOT_MAX + 11];
    char backup_last[3][PD_KEYS_ROOT_MAX + 19]; /* "<root>/backup/last/full", "incr", "verify" */
} PdKeys;

/*
 * Checks prefix (starts with '/', then segments of [a-z0-9_.-] separated by
 * single '/', no trailing '/', no "." or ".." segment, at most
 * PD_KEYS_PREFIX_MAX bytes) and cluster (pd_keys_check_cluster) and fills
 * *keys. Errors: PD_ERR_INVALID_INPUT naming the field (etcd_prefix,
 * cluster_name).
 */
bool pd_keys_init(PdKeys *keys, const char *prefix, const char *cluster, PdError *err);

/* A cluster name: [a-z0-9][a-z0-9_-]*, at most PD_KEYS_CLUSTER_MAX bytes. Errors: PD_ERR_INVALID_INPUT,
 * field cluster_name. */
bool pd_keys_check_cluster(const char *cluster, PdError *err);

/*
 * A member name: [a-z0-9][a-z0-9_]*, at most PD_KEYS_MEMBER_MAX bytes. These
 * are the characters of a replication slot name, so each member has its own
 * slot (prodata_<name>) and no two names share one: '-' is refused, although
 * the node module would map it to '_'. Errors: PD_ERR_INVALID_INPUT, field
 * member_name.
 */
bool pd_keys_check_member(const char *member, PdError *err);

/* The keys of the layout, owned by keys (as long as it lives). */
PdEtcdBytes pd_keys_config(const PdKeys *keys);
PdEtcdBytes pd_keys_leader(const PdKeys *keys);
PdEtcdBytes pd_keys_history(const PdKeys *keys);
PdEtcdBytes pd_keys_roster(const PdKeys *keys);
PdEtcdBytes pd_keys_sync(const PdKeys *keys);
PdEtcdBytes pd_keys_initialize(const PdKeys *keys);
PdEtcdBytes pd_keys_switchover(const PdKeys *keys);
PdEtcdBytes pd_keys_released(const PdKeys *keys);
PdEtcdBytes pd_keys_backup_job(const PdKeys *keys);
/* kind: 0 full, 1 incr, 2 verify (PdScheduleKind, schedule.h); another kind gives the empty bytes. */
PdEtcdBytes pd_keys_backup_last(const PdKeys *keys, int kind);
/* "<root>/members/": pd_etcd_range of it lists every member's key. */
PdEtcdBytes pd_keys_members(const PdKeys *keys);

/* "<root>/members/<member>" in arena, member checked (pd_keys_check_member). Errors: PD_ERR_INVALID_INPUT,
 * PD_ERR_NO_MEMORY. */
bool pd_keys_member(PdArena *arena, const PdKeys *keys, const char *member, PdEtcdBytes *key, PdError *err);

/*
 * The member name in a key read from etcd (a pd_etcd_range of
 * pd_keys_members): *member (in arena) when key is "<root>/members/<name>" with a valid name; false, without
 * an error, for any other key (a stray key under the prefix is ignored, never trusted).
 */
bool pd_keys_member_of(PdArena *arena, const PdKeys *keys, PdEtcdBytes key, char **member);

#endif

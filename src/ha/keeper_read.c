/*
 * keeper_read.c - what one tick knows of the cluster: everything under the
 * cluster's root read in ONE pd_etcd_range (leader, members, roster,
 * initialize, config, the scheduled backup's job and records), so the keeper decides on one revision of etcd,
 * not on keys read at different moments. Anything etcd did not answer is unknown (is_known false): never read
 * as "no leader". A member key that does not parse is skipped and logged (a newer keeper's, a hand edit); a
 * config that does not parse keeps the last good one.
 */
#include <inttypes.h>
#include <string.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

const PdMemberState *
pd_keeper_member(const PdKeeperRead *read, const char *name)
{
    for (size_t i = 0; name != NULL && i < read->member_count; i++)
        if (strcmp(read->members[i].name, name) == 0)
            return &read->members[i];
    return NULL;
}

static bool
is_key(const PdEtcdKv *kv, PdEtcdBytes key)
{
    return kv->key.length == key.length && memcmp(kv->key.data, key.data, key.length) == 0;
}

static void
read_member(PdKeeper *keeper, const PdEtcdKv *kv, const char *name, PdKeeperRead *read)
{
    PdError err = {0};
    PdMemberState *state = &read->members[read->member_count];
    if (!pd_member_parse(keeper->tick, kv->value.data, kv->value.length, state, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: member key of %s skipped: %s", keeper->name, name, err.message);
    else if (strcmp(state->name, name) != 0)
        pd_logf(PD_LOG_WARNING, "keeper %s: member key of %s names %s: skipped", keeper->name, name,
                state->name);
    else
        read->member_count++;
}

static void
read_roster(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    PdError err = {0};
    if (pd_roster_parse(keeper->tick, kv->value.data, kv->value.length, &read->roster, &err))
        read->has_roster = true;
    else
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the roster is not valid (%s): no slot is dropped until it is "
                "repaired",
                keeper->name, err.message);
}

static void
read_sync(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    PdError err = {0};
    if (pd_keeper_sync_parse(keeper->tick, kv->value.data, kv->value.length, &read->sync, &err))
        read->sync.mod_revision = kv->mod_revision;
    else
        pd_logf(PD_LOG_WARNING, "keeper %s: the sync key is not valid (%s): ignored", keeper->name,
                err.message);
}

static void
read_switchover(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    PdError err = {0};
    if (pd_switchover_parse(keeper->tick, kv->value.data, kv->value.length, &read->switchover, &err))
    {
        read->has_switchover = true;
        read->switchover_revision = kv->mod_revision;
    }
    else
        pd_logf(PD_LOG_WARNING, "keeper %s: the switchover request is not valid (%s): ignored", keeper->name,
                err.message);
}

static void
read_backup_job(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    PdError err = {0};
    read->backup_job_revision = kv->mod_revision; /* a job that does not parse is replaced at that revision */
    if (pd_schedule_job_parse(keeper->tick, kv->value.data, kv->value.length, &read->backup_job, &err))
        read->has_backup_job = true;
    else
        pd_logf(PD_LOG_WARNING, "keeper %s: the backup job is not valid (%s): the leader replaces it",
                keeper->name, err.message);
}

/* A kind's last backup record into read, when kv is one; false for any other key. */
static bool
read_backup_last(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    for (int kind = 0; kind < PD_SCHEDULE_KINDS; kind++)
    {
        if (!is_key(kv, pd_keys_backup_last(&keeper->keys, kind)))
            continue;
        PdError err = {0};
        if (!pd_schedule_last_parse(keeper->tick, kv->value.data, kv->value.length, &read->backup_last[kind],
                                    &err))
            pd_logf(PD_LOG_WARNING, "keeper %s: the last %s backup record is not valid (%s): ignored",
                    keeper->name, pd_schedule_kind_name((PdScheduleKind)kind), err.message);
        return true;
    }
    return false;
}

static void
read_kv(PdKeeper *keeper, const PdEtcdKv *kv, PdKeeperRead *read)
{
    const PdKeys *keys = &keeper->keys;
    char *member = NULL;
    if (is_key(kv, pd_keys_leader(keys)))
    {
        read->leader = kv->value.data;
        read->leader_lease = kv->lease_id;
        read->leader_revision = kv->mod_revision;
    }
    else if (is_key(kv, pd_keys_roster(keys)))
        read_roster(keeper, kv, read);
    else if (is_key(kv, pd_keys_sync(keys)))
        read_sync(keeper, kv, read);
    else if (is_key(kv, pd_keys_initialize(keys)))
        read->initializer = kv->value.data;
    else if (is_key(kv, pd_keys_config(keys)))
        read->config = *kv;
    else if (is_key(kv, pd_keys_released(keys)))
        read->released_revision = kv->mod_revision;
    else if (is_key(kv, pd_keys_switchover(keys)))
        read_switchover(keeper, kv, read);
    else if (is_key(kv, pd_keys_backup_job(keys)))
        read_backup_job(keeper, kv, read);
    else if (read_backup_last(keeper, kv, read))
        return;
    else if (pd_keys_member_of(keeper->tick, keys, kv->key, &member))
        read_member(keeper, kv, member, read);
}

void
pd_keeper_read(PdKeeper *keeper, PdKeeperRead *read)
{
    memset(read, 0, sizeof *read);
    PdError err = {0};
    char *prefix = pd_arena_sprintf(keeper->tick, "%s/", keeper->keys.root);
    PdEtcdKv *kvs = NULL;
    size_t count = 0;
    if (prefix == NULL)
        return;
    PdEtcdOutcome outcome =
        pd_etcd_range(keeper->tick, keeper->etcd, pd_etcd_text(prefix), &kvs, &count, &err);
    if (outcome.status != PD_ETCD_DONE)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: the cluster could not be read (%s): %s", keeper->name,
                pd_etcd_status_name(outcome.status), err.message);
        pd_keeper_wait(keeper, "etcd to answer");
        return;
    }
    read->members = pd_arena_calloc(keeper->tick, count + 1, sizeof *read->members);
    if (read->members == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        read_kv(keeper, &kvs[i], read);
    read->is_known = true;
}

void
pd_keeper_apply_config(PdKeeper *keeper, const PdKeeperRead *read)
{
    int64_t revision = read->config.exists ? read->config.mod_revision : 0;
    if (revision == keeper->config_revision)
        return;
    int next = 1 - keeper->config_index;
    pd_arena_reset(keeper->config_arena[next]);
    PdClusterConfig config;
    PdError err = {0};
    if (!read->config.exists)
        pd_cluster_config_defaults(&config);
    else if (!pd_cluster_config_parse(keeper->config_arena[next], read->config.value.data,
                                      read->config.value.length, &config, &err))
    {
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the cluster configuration at revision %" PRId64
                " is not valid (%s): keeping the one in effect",
                keeper->name, revision, err.message);
        keeper->config_revision = revision; /* said once */
        return;
    }
    if (config.ttl_s != keeper->config.ttl_s)
        pd_logf(PD_LOG_NOTICE, "keeper %s: ttl_s is now %d; it applies to the next lease", keeper->name,
                config.ttl_s);
    keeper->config = config;
    keeper->is_config_read = true;
    keeper->config_index = next;
    keeper->config_revision = revision;
    pd_logf(PD_LOG_INFO, "keeper %s: cluster configuration revision %" PRId64 " in effect", keeper->name,
            revision);
}

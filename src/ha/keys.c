/*
 * keys.c - the etcd key layout of a cluster (keys.h): the prefix, cluster and
 * member names checked, the keys built once into the PdKeys and handed out.
 * Names are restricted to characters that need no escaping in a key, a log
 * line or a slot name, so one name maps to one key and one key to one name.
 */
#include "ha/keys.h"

#include <stdio.h>
#include <string.h>

static bool
is_name_char(char c, bool allows_dash)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (allows_dash && c == '-');
}

static bool
is_name(const char *text, size_t length, size_t max, bool allows_dash)
{
    if (length == 0 || length > max || text[0] == '_' || text[0] == '-')
        return false;
    for (size_t i = 0; i < length; i++)
        if (!is_name_char(text[i], allows_dash))
            return false;
    return true;
}

bool
pd_keys_check_cluster(const char *cluster, PdError *err)
{
    if (cluster != NULL && is_name(cluster, strlen(cluster), PD_KEYS_CLUSTER_MAX, true))
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "cluster_name \"%.64s\" is not a cluster name",
                 cluster != NULL ? cluster : "");
    pd_error_field(err, "cluster_name");
    return pd_error_hint(err,
                         "A cluster name is 1 to %d of a-z, 0-9, '_' and '-', starting with a letter or "
                         "digit.",
                         PD_KEYS_CLUSTER_MAX);
}

bool
pd_keys_check_member(const char *member, PdError *err)
{
    if (member != NULL && is_name(member, strlen(member), PD_KEYS_MEMBER_MAX, false))
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "member_name \"%.64s\" is not a member name",
                 member != NULL ? member : "");
    pd_error_field(err, "member_name");
    return pd_error_hint(err,
                         "A member name is 1 to %d of a-z, 0-9 and '_', starting with a letter or digit: "
                         "the characters of a replication slot name, so each member has its own slot.",
                         PD_KEYS_MEMBER_MAX);
}

/* "/a/b-c/d.e": segments of [a-z0-9_.-], never "." or "..", no empty one. */
static bool
is_prefix(const char *prefix)
{
    size_t length = prefix != NULL ? strlen(prefix) : 0;
    if (length < 2 || length > PD_KEYS_PREFIX_MAX || prefix[0] != '/')
        return false;
    const char *segment = prefix + 1;
    for (;;)
    {
        size_t size = strcspn(segment, "/");
        if (size == 0 || (size == 1 && segment[0] == '.') || (size == 2 && strncmp(segment, "..", 2) == 0))
            return false;
        for (size_t i = 0; i < size; i++)
            if (!is_name_char(segment[i], true) && segment[i] != '.')
                return false;
        if (segment[size] == '\0')
            return true;
        segment += size + 1;
    }
}

bool
pd_keys_init(PdKeys *keys, const char *prefix, const char *cluster, PdError *err)
{
    if (!is_prefix(prefix))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "etcd_prefix \"%.64s\" is not a key prefix",
                     prefix != NULL ? prefix : "");
        pd_error_field(err, "etcd_prefix");
        return pd_error_hint(err,
                             "A prefix is like /prodata: '/' then segments of a-z, 0-9, '_', '-' and '.', "
                             "separated by single slashes, no trailing slash, at most %d bytes.",
                             PD_KEYS_PREFIX_MAX);
    }
    if (!pd_keys_check_cluster(cluster, err))
        return false;
    memset(keys, 0, sizeof *keys);
    snprintf(keys->root, sizeof keys->root, "%s/%s", prefix, cluster);
    snprintf(keys->config, sizeof keys->config, "%s/config", keys->root);
    snprintf(keys->leader, sizeof keys->leader, "%s/leader", keys->root);
    snprintf(keys->history, sizeof keys->history, "%s/history", keys->root);
    snprintf(keys->roster, sizeof keys->roster, "%s/roster", keys->root);
    snprintf(keys->sync, sizeof keys->sync, "%s/sync", keys->root);
    snprintf(keys->initialize, sizeof keys->initialize, "%s/initialize", keys->root);
    snprintf(keys->switchover, sizeof keys->switchover, "%s/switchover", keys->root);
    snprintf(keys->released, sizeof keys->released, "%s/released", keys->root);
    snprintf(keys->members, sizeof keys->members, "%s/members/", keys->root);
    snprintf(keys->backup_job, sizeof keys->backup_job, "%s/backup/job", keys->root);
    static const char *const kinds[] = {"full", "incr", "verify"};
    char root[sizeof keys->root]; /* a copy: gcc cannot see that the array indexed below is never root */
    memcpy(root, keys->root, sizeof root);
    for (int kind = 0; kind < 3; kind++)
        snprintf(keys->backup_last[kind], sizeof keys->backup_last[kind], "%s/backup/last/%s", root,
                 kinds[kind]);
    return true;
}

PdEtcdBytes
pd_keys_config(const PdKeys *keys)
{
    return pd_etcd_text(keys->config);
}

PdEtcdBytes
pd_keys_leader(const PdKeys *keys)
{
    return pd_etcd_text(keys->leader);
}

PdEtcdBytes
pd_keys_history(const PdKeys *keys)
{
    return pd_etcd_text(keys->history);
}

PdEtcdBytes
pd_keys_roster(const PdKeys *keys)
{
    return pd_etcd_text(keys->roster);
}

PdEtcdBytes
pd_keys_sync(const PdKeys *keys)
{
    return pd_etcd_text(keys->sync);
}

PdEtcdBytes
pd_keys_initialize(const PdKeys *keys)
{
    return pd_etcd_text(keys->initialize);
}

PdEtcdBytes
pd_keys_switchover(const PdKeys *keys)
{
    return pd_etcd_text(keys->switchover);
}

PdEtcdBytes
pd_keys_released(const PdKeys *keys)
{
    return pd_etcd_text(keys->released);
}

PdEtcdBytes
pd_keys_backup_job(const PdKeys *keys)
{
    return pd_etcd_text(keys->backup_job);
}

PdEtcdBytes
pd_keys_backup_last(const PdKeys *keys, int kind)
{
    return pd_etcd_text(kind >= 0 && kind < 3 ? keys->backup_last[kind] : NULL);
}

PdEtcdBytes
pd_keys_members(const PdKeys *keys)
{
    return pd_etcd_text(keys->members);
}

bool
pd_keys_member(PdArena *arena, const PdKeys *keys, const char *member, PdEtcdBytes *key, PdError *err)
{
    if (!pd_keys_check_member(member, err))
        return false;
    char *text = pd_arena_sprintf(arena, "%s%s", keys->members, member);
    if (text == NULL)
        return pd_arena_error(arena, err);
    *key = pd_etcd_text(text);
    return true;
}

bool
pd_keys_member_of(PdArena *arena, const PdKeys *keys, PdEtcdBytes key, char **member)
{
    size_t prefix_length = strlen(keys->members);
    if (key.length <= prefix_length || memcmp(key.data, keys->members, prefix_length) != 0)
        return false;
    const char *name = key.data + prefix_length;
    size_t length = key.length - prefix_length;
    if (!is_name(name, length, PD_KEYS_MEMBER_MAX, false))
        return false;
    char *copy = pd_arena_strndup(arena, name, length);
    if (copy == NULL)
        return false;
    *member = copy;
    return true;
}

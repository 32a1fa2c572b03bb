/*
 * cluster_config_etcd.c - the cluster configuration in etcd: read (the
 * defaults when the key is absent), and changed by compare-and-swap on the
 * key's mod_revision, started over from the newer document when someone else
 * wrote in between, so two concurrent changes are both applied and neither
 * is lost. The three outcomes of the etcd client carry through: an UNKNOWN
 * write is reported as such, never as done nor as failed.
 */
#include <inttypes.h>
#include <string.h>

#include "ha/cluster_config.h"

enum
{
    DEFAULT_ATTEMPTS = 5,
};

static PdClusterConfigOutcome
outcome(PdClusterConfigStatus status)
{
    return (PdClusterConfigOutcome){status};
}

const char *
pd_cluster_config_status_name(PdClusterConfigStatus status)
{
    switch (status)
    {
        case PD_CLUSTER_CONFIG_UNKNOWN:
            return "unknown";
        case PD_CLUSTER_CONFIG_DONE:
            return "done";
        case PD_CLUSTER_CONFIG_CONFLICT:
            return "conflict";
        case PD_CLUSTER_CONFIG_INVALID:
            return "invalid";
        case PD_CLUSTER_CONFIG_REFUSED:
            return "refused";
    }
    return "unknown";
}

/* What an etcd outcome other than DONE means here; err is filled by the etcd client already. */
static PdClusterConfigOutcome
etcd_failure(PdEtcdStatus status, PdError *err)
{
    switch (status)
    {
        case PD_ETCD_UNKNOWN:
            return outcome(PD_CLUSTER_CONFIG_UNKNOWN);
        case PD_ETCD_COMPARE_FAILED:
            return outcome(PD_CLUSTER_CONFIG_CONFLICT);
        case PD_ETCD_DONE:
        case PD_ETCD_LEASE_NOT_FOUND:
        case PD_ETCD_REJECTED:
            break;
    }
    err->code = PD_ERR_REFUSED;
    return outcome(PD_CLUSTER_CONFIG_REFUSED);
}

PdClusterConfigOutcome
pd_cluster_config_load(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, PdClusterConfig *config,
                       int64_t *mod_revision, PdError *err)
{
    PdEtcdKv kv;
    PdEtcdStatus status = pd_etcd_get(arena, etcd, pd_keys_config(keys), &kv, err).status;
    if (status != PD_ETCD_DONE)
    {
        pd_error_context(err, "while reading the cluster configuration %s", pd_keys_config(keys).data);
        return etcd_failure(status, err);
    }
    if (!kv.exists)
    {
        pd_cluster_config_defaults(config);
        *mod_revision = 0;
        return outcome(PD_CLUSTER_CONFIG_DONE);
    }
    if (!pd_cluster_config_parse(arena, kv.value.data, kv.value.length, config, err))
    {
        pd_error_context(err, "in the cluster configuration %s (mod_revision %" PRId64 ")",
                         pd_keys_config(keys).data, kv.mod_revision);
        return outcome(err->code == PD_ERR_NO_MEMORY ? PD_CLUSTER_CONFIG_UNKNOWN : PD_CLUSTER_CONFIG_INVALID);
    }
    *mod_revision = kv.mod_revision;
    return outcome(PD_CLUSTER_CONFIG_DONE);
}

/* The compare-and-swap of one attempt: value put on the key if its mod_revision is still revision. */
static PdEtcdStatus
swap(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, int64_t revision, const char *value, int64_t *written,
     PdError *err)
{
    PdEtcdCas cas = {.key = pd_keys_config(keys),
                     .compare = revision == 0 ? PD_ETCD_IF_ABSENT : PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = revision,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(value)};
    PdEtcdKv current;
    PdEtcdStatus status = pd_etcd_cas(arena, etcd, &cas, &current, err).status;
    if (status == PD_ETCD_DONE)
        *written = current.mod_revision;
    return status;
}

static PdClusterConfigOutcome
conflict(PdError *err, int64_t if_revision, int64_t found, int attempts)
{
    if (if_revision >= 0 && found >= 0)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "the cluster configuration changed: its revision is %" PRId64 ", not %" PRId64
                     "; nothing was written",
                     found, if_revision);
        pd_error_hint(err, "Show it again (prodata cluster config) and decide on the newer document.");
    }
    else if (if_revision >= 0)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "the cluster configuration changed after revision %" PRId64 " was read; nothing was "
                     "written",
                     if_revision);
        pd_error_hint(err, "Show it again (prodata cluster config) and decide on the newer document.");
    }
    else
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "the cluster configuration was changed by others on each of %d attempts; nothing was "
                     "written",
                     attempts);
        pd_error_hint(err, "Try again when the other changes are done.");
    }
    return outcome(PD_CLUSTER_CONFIG_CONFLICT);
}

/* One attempt's read and change. DONE with *is_same when the change leaves the document as it is. */
static PdClusterConfigOutcome
prepare(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *const *assignments, size_t count,
        PdClusterConfig *next, int64_t *revision, char **value, bool *is_same, PdError *err)
{
    PdClusterConfig current;
    PdClusterConfigOutcome read = pd_cluster_config_load(arena, etcd, keys, &current, revision, err);
    if (read.status == PD_CLUSTER_CONFIG_INVALID)
        pd_error_hint(err,
                      "Nothing was written. `etcdctl del %s` brings back the defaults; then set "
                      "the fields again.",
                      pd_keys_config(keys).data);
    if (read.status != PD_CLUSTER_CONFIG_DONE)
        return read;
    *next = current;
    if (!pd_cluster_config_assign(arena, next, assignments, count, err))
        return outcome(err->code == PD_ERR_NO_MEMORY ? PD_CLUSTER_CONFIG_UNKNOWN : PD_CLUSTER_CONFIG_INVALID);
    char *before = pd_cluster_config_json(arena, &current, false, err);
    *value = before != NULL ? pd_cluster_config_json(arena, next, false, err) : NULL;
    if (*value == NULL)
        return outcome(PD_CLUSTER_CONFIG_UNKNOWN);
    *is_same = *revision != 0 && strcmp(before, *value) == 0;
    return outcome(PD_CLUSTER_CONFIG_DONE);
}

PdClusterConfigOutcome
pd_cluster_config_change(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *const *assignments,
                         size_t count, int64_t if_revision, int max_attempts, PdClusterConfig *config,
                         int64_t *mod_revision, int *attempts, PdError *err)
{
    int sent = 0;
    int limit = max_attempts > 0 ? max_attempts : DEFAULT_ATTEMPTS;
    if (attempts != NULL)
        *attempts = 0;
    for (;;)
    {
        PdClusterConfig next;
        int64_t revision;
        char *value;
        bool is_same = false;
        PdClusterConfigOutcome prepared =
            prepare(arena, etcd, keys, assignments, count, &next, &revision, &value, &is_same, err);
        if (prepared.status != PD_CLUSTER_CONFIG_DONE)
            return prepared;
        if (if_revision >= 0 && revision != if_revision)
            return conflict(err, if_revision, revision, sent);
        int64_t written = revision;
        PdEtcdStatus status =
            is_same ? PD_ETCD_DONE : swap(arena, etcd, keys, revision, value, &written, err);
        sent += is_same ? 0 : 1;
        if (attempts != NULL)
            *attempts = sent;
        if (status == PD_ETCD_DONE)
        {
            *config = next;
            *mod_revision = written;
            return outcome(PD_CLUSTER_CONFIG_DONE);
        }
        if (status != PD_ETCD_COMPARE_FAILED)
        {
            pd_error_context(err, "while writing the cluster configuration %s: %s", pd_keys_config(keys).data,
                             status == PD_ETCD_UNKNOWN ? "the change may or may not have been applied"
                                                       : "nothing was written");
            return etcd_failure(status, err);
        }
        pd_error_clear(err);
        if (if_revision >= 0 || sent >= limit)
            return conflict(err, if_revision, -1, sent);
    }
}

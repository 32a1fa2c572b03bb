/*
 * switchover.c - the switchover request as JSON (switchover.h), written in
 * one fixed order and read back strictly, every problem named by its field,
 * and the rules of who may take over, shared by `prodata cluster
 * switchover|failover` and the leader's keeper so that both refuse for the
 * same reasons. Nothing here talks to etcd or PostgreSQL: the command and
 * keeper_switchover.c do, on one read of the cluster each.
 */
#include "ha/switchover.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/keeper_run.h"
#include "ha/keys.h"
#include "ha/node.h"

static const char *const field_names[] = {
    "kind", "from", "to", "requested_ms", "timeout_ms", "allow_data_loss", "lsn", "released_ms", "aborted"};

enum
{
    FIELD_COUNT = sizeof field_names / sizeof field_names[0],
};

const char *
pd_switchover_kind_name(PdSwitchoverKind kind)
{
    return kind == PD_SWITCHOVER_KIND_FAILOVER ? "failover" : "switchover";
}

static bool
invalid(PdError *err, const char *field, const char *message)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "the switchover request's %s %s", field, message);
    return pd_error_field(err, "%s", field);
}

/* Printable text of 1 to PD_SWITCHOVER_REASON_MAX bytes (UTF-8 passes). */
static bool
is_reason(const char *text)
{
    size_t length = text != NULL ? strlen(text) : 0;
    if (length == 0 || length > PD_SWITCHOVER_REASON_MAX)
        return false;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

static bool
is_member_or_null(const char *name)
{
    return name == NULL || pd_keys_check_member(name, &(PdError){0});
}

/* The rules on values, as the reader applies them to what it read and the writer to what it writes. */
static bool
check_values(const PdSwitchover *request, PdError *err)
{
    if (!is_member_or_null(request->from))
        return invalid(err, "from", "must be a member name or null");
    if (!is_member_or_null(request->to))
        return invalid(err, "to", "must be a member name or null");
    if (request->kind == PD_SWITCHOVER_KIND_SWITCHOVER && request->from == NULL)
        return invalid(err, "from", "must name the leader of a switchover");
    if (request->kind == PD_SWITCHOVER_KIND_FAILOVER && request->to == NULL)
        return invalid(err, "to", "must name the member a failover promotes");
    if (request->requested_ms < 0)
        return invalid(err, "requested_ms", "must be ms since the epoch");
    if (request->timeout_ms <= 0 || request->timeout_ms > 24 * 3600 * 1000)
        return invalid(err, "timeout_ms", "must be 1 ms to a day");
    if ((request->lsn == 0) != (request->released_ms == 0) || request->released_ms < 0)
        return invalid(err, "released_ms", "and lsn must be both null or both set");
    if (request->aborted != NULL && !is_reason(request->aborted))
        return invalid(err, "aborted", "must be null or a printable text of at most 256 bytes");
    return true;
}

/* ---- reading ------------------------------------------------------------------------------------------ */

/* A member name or null at field into *name (in arena); false when it is neither. */
static bool
read_name(PdArena *arena, json_t *root, const char *field, const char **name)
{
    json_t *value = json_object_get(root, field);
    *name = NULL;
    if (json_is_null(value))
        return true;
    if (!json_is_string(value))
        return false;
    *name = pd_arena_strdup(arena, json_string_value(value));
    return *name != NULL;
}

static bool
read_kind(json_t *root, PdSwitchoverKind *kind)
{
    const char *text = json_string_value(json_object_get(root, "kind"));
    if (text != NULL && strcmp(text, "switchover") == 0)
        *kind = PD_SWITCHOVER_KIND_SWITCHOVER;
    else if (text != NULL && strcmp(text, "failover") == 0)
        *kind = PD_SWITCHOVER_KIND_FAILOVER;
    else
        return false;
    return true;
}

/* lsn, released_ms, aborted: null or their type. */
static bool
read_release(PdArena *arena, json_t *root, PdSwitchover *request, PdError *err)
{
    json_t *lsn = json_object_get(root, "lsn"), *released = json_object_get(root, "released_ms");
    json_t *aborted = json_object_get(root, "aborted");
    if (!json_is_null(lsn) &&
        (!json_is_string(lsn) || !pd_node_lsn_parse(json_string_value(lsn), &request->lsn) ||
         request->lsn == 0))
        return invalid(err, "lsn", "must be an LSN (\"0/3000148\", not 0/0) or null");
    if (!json_is_null(released) && !json_is_integer(released))
        return invalid(err, "released_ms", "must be ms since the epoch or null");
    request->released_ms = json_is_integer(released) ? json_integer_value(released) : 0;
    if (!json_is_null(aborted) && !json_is_string(aborted))
        return invalid(err, "aborted", "must be a text or null");
    request->aborted = json_is_string(aborted) ? pd_arena_strdup(arena, json_string_value(aborted)) : NULL;
    return true;
}

static bool
read_fields(PdArena *arena, json_t *root, PdSwitchover *request, PdError *err)
{
    const char *field;
    json_t *value;
    json_object_foreach(root, field, value)
    {
        size_t i = 0;
        while (i < FIELD_COUNT && strcmp(field_names[i], field) != 0)
            i++;
        if (i == FIELD_COUNT)
            return invalid(err, field, "is not a field of a switchover request");
    }
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (json_object_get(root, field_names[i]) == NULL)
            return invalid(err, field_names[i], "is missing");
    json_t *requested = json_object_get(root, "requested_ms"), *timeout = json_object_get(root, "timeout_ms");
    json_t *allow = json_object_get(root, "allow_data_loss");
    if (!read_kind(root, &request->kind))
        return invalid(err, "kind", "must be \"switchover\" or \"failover\"");
    if (!read_name(arena, root, "from", &request->from))
        return invalid(err, "from", "must be a member name or null");
    if (!read_name(arena, root, "to", &request->to))
        return invalid(err, "to", "must be a member name or null");
    if (!json_is_integer(requested) || !json_is_integer(timeout))
        return invalid(err, json_is_integer(requested) ? "timeout_ms" : "requested_ms", "must be an integer");
    request->requested_ms = json_integer_value(requested);
    request->timeout_ms = json_integer_value(timeout);
    if (!json_is_boolean(allow))
        return invalid(err, "allow_data_loss", "must be true or false");
    request->allow_data_loss = json_is_true(allow);
    return read_release(arena, root, request, err);
}

bool
pd_switchover_parse(PdArena *arena, const char *text, size_t length, PdSwitchover *request, PdError *err)
{
    if (length > PD_SWITCHOVER_DOCUMENT_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the switchover request is %zu bytes, at most %d",
                            length, PD_SWITCHOVER_DOCUMENT_MAX);
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (!json_is_object(root))
    {
        json_decref(root);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the switchover request is not a JSON object%s%s",
                            root == NULL ? ": " : "", root == NULL ? json_err.text : "");
    }
    PdSwitchover read = {0};
    PdError problem = {0};
    bool is_read = read_fields(arena, root, &read, &problem) && check_values(&read, &problem);
    json_decref(root);
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (!is_read)
    {
        *err = problem;
        return false;
    }
    *request = read;
    return true;
}

/* ---- writing ------------------------------------------------------------------------------------------ */

static json_t *
name_json(const char *name)
{
    return name != NULL ? json_string(name) : json_null();
}

bool
pd_switchover_json(PdArena *arena, const PdSwitchover *request, char **json, PdError *err)
{
    if (!check_values(request, err))
        return false;
    char lsn[24];
    json_t *root = json_pack(
        "{s:s, s:o, s:o, s:I, s:I, s:b, s:o, s:o, s:o}", "kind", pd_switchover_kind_name(request->kind),
        "from", name_json(request->from), "to", name_json(request->to), "requested_ms",
        (json_int_t)request->requested_ms, "timeout_ms", (json_int_t)request->timeout_ms, "allow_data_loss",
        request->allow_data_loss, "lsn",
        request->lsn != 0 ? json_string(pd_member_lsn_text(request->lsn, lsn, sizeof lsn)) : json_null(),
        "released_ms", request->released_ms != 0 ? json_integer(request->released_ms) : json_null(),
        "aborted", name_json(request->aborted));
    char *text = root != NULL ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the switchover request");
    *json = pd_arena_strdup(arena, text);
    free(text);
    return *json != NULL || pd_arena_error(arena, err);
}

bool
pd_switchover_is_live(const PdSwitchover *request, int64_t now_ms)
{
    return request->aborted == NULL && now_ms - request->requested_ms <= request->timeout_ms;
}

/* ---- who may take over -------------------------------------------------------------------------------- */

const PdMemberState *
pd_switchover_member(const PdSwitchoverCluster *cluster, const char *name)
{
    for (size_t i = 0; name != NULL && i < cluster->member_count; i++)
        if (strcmp(cluster->members[i].name, name) == 0)
            return &cluster->members[i];
    return NULL;
}

static bool
is_fresh(const PdSwitchoverCluster *cluster, const PdMemberState *member)
{
    return cluster->now_ms - member->updated_ms <= (int64_t)cluster->config->ttl_s * 2000;
}

static bool
is_synchronous(const PdSwitchoverCluster *cluster)
{
    return cluster->sync_set != NULL && cluster->sync_set->count > 0;
}

bool
pd_switchover_qualifies(PdArena *arena, const PdSwitchoverCluster *cluster, const char *name,
                        const char **why)
{
    const PdMemberState *member = pd_switchover_member(cluster, name);
    int64_t max_lag = cluster->config->maximum_lag_on_failover_bytes;
    if (cluster->leader != NULL && strcmp(cluster->leader, name) == 0)
        *why = pd_arena_sprintf(arena, "%s is the leader", name);
    else if (member == NULL)
        *why = pd_arena_sprintf(arena, "%s has no member state in etcd (its keeper is not running)", name);
    else if (!is_fresh(cluster, member))
        *why = pd_arena_sprintf(arena, "%s's member state is %" PRId64 " ms old (more than ttl_s * 2)", name,
                                cluster->now_ms - member->updated_ms);
    else if (strcmp(member->state, "running") != 0)
        *why = pd_arena_sprintf(arena, "%s is %s, not running", name, member->state);
    else if (member->role != PD_MEMBER_ROLE_STANDBY)
        *why =
            pd_arena_sprintf(arena, "%s is not a standby (role %s)", name, pd_member_role_name(member->role));
    else if (!member->is_streaming)
        *why = pd_arena_sprintf(arena, "%s is not streaming from the leader", name);
    else if (member->lag_bytes < 0 || member->lag_bytes > max_lag)
        *why = pd_arena_sprintf(
            arena, "%s's lag (%" PRId64 " bytes) is %s maximum_lag_on_failover_bytes (%" PRId64 ")", name,
            member->lag_bytes, member->lag_bytes < 0 ? "not known, so not within" : "above", max_lag);
    else if (is_synchronous(cluster) && !pd_roster_contains(cluster->sync_set, name))
        *why = pd_arena_sprintf(arena, "%s is not in the synchronous set (the sync key)", name);
    else
        return true;
    if (*why == NULL)
        *why = "out of memory";
    return false;
}

const char *
pd_switchover_choose(PdArena *arena, const PdSwitchoverCluster *cluster, const char **why)
{
    const PdMemberState *best = NULL;
    const char *reasons = "";
    for (size_t i = 0; i < cluster->member_count; i++)
    {
        const PdMemberState *member = &cluster->members[i];
        const char *reason = NULL;
        if (cluster->leader != NULL && strcmp(member->name, cluster->leader) == 0)
            continue;
        if (!pd_switchover_qualifies(arena, cluster, member->name, &reason))
        {
            reasons = pd_arena_sprintf(arena, "%s%s%s", reasons, reasons[0] != '\0' ? "; " : "", reason);
            continue;
        }
        int order = best == NULL ? 1
                                 : pd_member_position_compare(member->timeline, member->write_lsn,
                                                              best->timeline, best->write_lsn);
        if (order > 0 || (order == 0 && strcmp(member->name, best->name) < 0))
            best = member;
    }
    if (best != NULL)
        return best->name;
    *why =
        reasons != NULL && reasons[0] != '\0' ? reasons : "no member but the leader has published its state";
    return NULL;
}

/* Synchronous mode's rule (keeper_sync.c): n-k+1 fresh running positions of the set read, name the most
 * advanced of them. "" when it holds, else why not. */
static const char *
sync_rule(PdArena *arena, const PdSwitchoverCluster *cluster, const PdMemberState *candidate)
{
    if (!pd_roster_contains(cluster->sync_set, candidate->name))
        return pd_arena_sprintf(arena, "%s is not in the synchronous set: it may lack acknowledged commits",
                                candidate->name);
    int n = (int)cluster->sync_set->count, need = n - cluster->sync_quorum + 1, count = 0;
    for (size_t i = 0; i < cluster->member_count; i++)
    {
        const PdMemberState *member = &cluster->members[i];
        if (!pd_roster_contains(cluster->sync_set, member->name) || !is_fresh(cluster, member) ||
            strcmp(member->state, "running") != 0)
            continue;
        count++;
        if (pd_member_position_compare(member->timeline, member->write_lsn, candidate->timeline,
                                       candidate->write_lsn) > 0)
            return pd_arena_sprintf(arena, "%s of the synchronous set is ahead of %s", member->name,
                                    candidate->name);
    }
    if (count < need)
        return pd_arena_sprintf(
            arena,
            "only %d of the %d synchronous standbys report a position (%d needed to prove "
            "%s holds every acknowledged commit)",
            count, n, need, candidate->name);
    return "";
}

/* The fresh running member furthest ahead of candidate, *bytes ahead; NULL when none. */
static const char *
member_ahead(const PdSwitchoverCluster *cluster, const PdMemberState *candidate, uint64_t *bytes)
{
    const char *ahead = NULL;
    *bytes = 0;
    for (size_t i = 0; i < cluster->member_count; i++)
    {
        const PdMemberState *member = &cluster->members[i];
        uint64_t lag = pd_member_position_lag(candidate->timeline, candidate->write_lsn, member->timeline,
                                              member->write_lsn);
        if (is_fresh(cluster, member) && strcmp(member->state, "running") == 0 && lag > *bytes)
        {
            ahead = member->name;
            *bytes = lag;
        }
    }
    return ahead;
}

static const char *
joined(PdArena *arena, const char *a, const char *b)
{
    return a[0] == '\0' ? b : pd_arena_sprintf(arena, "%s; %s", a, b);
}

bool
pd_switchover_failover_loss(PdArena *arena, const PdSwitchoverCluster *cluster, const char *name,
                            uint64_t *lost_bytes, bool *is_safe, const char **why)
{
    const PdMemberState *candidate = pd_switchover_member(cluster, name);
    *lost_bytes = 0;
    *is_safe = false;
    if (candidate == NULL || !is_fresh(cluster, candidate) || strcmp(candidate->state, "running") != 0)
    {
        *why = pd_arena_sprintf(arena, "%s is %s", name,
                                candidate == NULL ? "not running (no member state in etcd)"
                                : !is_fresh(cluster, candidate)
                                    ? "not fresh (its member state is older than ttl_s * 2)"
                                    : candidate->state);
        return false;
    }
    uint64_t ahead_bytes = 0, lag = candidate->lag_bytes > 0 ? (uint64_t)candidate->lag_bytes : 0;
    const char *ahead = member_ahead(cluster, candidate, &ahead_bytes);
    const char *text = "";
    *lost_bytes = ahead_bytes > lag ? ahead_bytes : lag;
    if (ahead != NULL && ahead_bytes == UINT64_MAX)
        text = pd_arena_sprintf(arena, "%s is on a newer timeline than %s (timeline %d)", ahead, name,
                                candidate->timeline);
    else if (ahead != NULL)
        text = pd_arena_sprintf(arena, "%s is %" PRIu64 " bytes ahead of %s", ahead, ahead_bytes, name);
    if (text != NULL && lag > (uint64_t)cluster->config->maximum_lag_on_failover_bytes)
        text = joined(arena, text,
                      pd_arena_sprintf(arena,
                                       "%s was %" PRIu64 " bytes behind the last leader's position "
                                       "(maximum_lag_on_failover_bytes %" PRId64 ")",
                                       name, lag, cluster->config->maximum_lag_on_failover_bytes));
    const char *sync = is_synchronous(cluster) ? sync_rule(arena, cluster, candidate) : "";
    if (text != NULL && sync != NULL && sync[0] != '\0')
    {
        text = joined(arena, text, sync);
        if (*lost_bytes == 0)
            *lost_bytes = 1; /* not known, but not provably none */
    }
    *why = text != NULL && sync != NULL ? text : "out of memory";
    *is_safe = text != NULL && text[0] == '\0';
    return true;
}

bool
pd_switchover_sync_parse(PdArena *arena, const char *text, size_t length, PdRoster *set, int *quorum,
                         PdError *err)
{
    PdKeeperSync sync;
    if (!pd_keeper_sync_parse(arena, text, length, &sync, err))
        return false;
    *set = sync.members;
    *quorum = sync.quorum;
    return true;
}

/*
 * keeper_sync.c - synchronous mode with a quorum. The leader runs with
 * synchronous_standby_names = 'ANY k (s1, ..., sn)' over every roster member
 * but itself (a member that is down stays in the set: writes wait for k of
 * the others rather than lose durability), and records (k, set) in the sync
 * key. The key always covers what PostgreSQL enforces: a change that grows
 * the set or lowers k is written to etcd first, one that shrinks the set or
 * raises k to PostgreSQL first (through a record covering both). So any
 * acknowledged commit is on k members of the recorded set, and a failover
 * that reads the flushed positions of n-k+1 of them (published after the
 * leader was gone) finds at least one holding every acknowledged commit: the
 * most advanced of those read is the only one that may take over. Positions
 * compare as (timeline, LSN): a member on a newer timeline is ahead of one on
 * an older timeline whatever the LSNs (pd_member_position_compare), for a
 * former primary's WAL past the last switch is a fork no one acknowledged.
 * A position read is a running member's, or a stopped former primary's whose
 * keeper is live (published after the leader was gone): that one will not
 * move, and it holds no commit the sync key's leader acknowledged, which went
 * to standbys. A stopped standby is not read: its keeper starts it to learn
 * its real position (the last one seen may be behind what it flushed). A new
 * leader sets synchronous_standby_names before it promotes, so it never
 * acknowledges a commit asynchronously.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

bool
pd_keeper_sync_parse(PdArena *arena, const char *text, size_t length, PdKeeperSync *sync, PdError *err)
{
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, NULL);
    json_t *members = json_object_get(root, "members");
    json_t *quorum = json_object_get(root, "quorum");
    json_t *leader = json_object_get(root, "leader");
    PdKeeperSync parsed = {.exists = true};
    bool is_ok = json_is_object(root) && json_is_array(members) && json_is_integer(quorum) &&
                 json_is_string(leader) && json_integer_value(quorum) >= 1 &&
                 json_integer_value(quorum) <= PD_CLUSTER_QUORUM_MAX;
    if (is_ok)
    {
        parsed.quorum = (int)json_integer_value(quorum);
        parsed.leader = pd_arena_strdup(arena, json_string_value(leader));
        json_t *document = json_pack("{s:O}", "members", members);
        char *roster = document != NULL ? json_dumps(document, JSON_COMPACT) : NULL;
        json_decref(document);
        is_ok = roster != NULL && parsed.leader != NULL &&
                pd_roster_parse(arena, roster, strlen(roster), &parsed.members, err);
        free(roster);
    }
    json_decref(root);
    if (!is_ok)
        return err->code != PD_OK ? false
                                  : pd_error_set(err, PD_ERR_INVALID_INPUT,
                                                 "the sync key is not {\"leader\", \"quorum\", \"members\"}");
    *sync = parsed;
    return true;
}

static char *
sync_json(PdArena *arena, const PdKeeperSync *sync)
{
    json_t *names = json_array();
    for (size_t i = 0; names != NULL && i < sync->members.count; i++)
        json_array_append_new(names, json_string(sync->members.names[i]));
    json_t *root =
        json_pack("{s:s, s:i, s:o}", "leader", sync->leader, "quorum", sync->quorum, "members", names);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *copy = text != NULL ? pd_arena_strdup(arena, text) : NULL;
    free(text);
    return copy;
}

/* "ANY k (a, b)" of a set, or "" for off (quorum 0). */
static char *
standby_names(PdArena *arena, int quorum, const char *const *names, size_t count)
{
    if (quorum == 0 || count == 0)
        return pd_arena_strdup(arena, "");
    char *text = pd_arena_sprintf(arena, "ANY %d (", quorum);
    for (size_t i = 0; text != NULL && i < count; i++)
        text = pd_arena_sprintf(arena, "%s%s%s", text, i > 0 ? ", " : "", names[i]);
    return text != NULL ? pd_arena_sprintf(arena, "%s)", text) : NULL;
}

static bool
contains(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* What the configuration and the roster ask for: every roster member but the leader, k capped by their
 * number; quorum 0 when synchronous mode is off (or no standby is in the roster). */
static PdKeeperSync
wanted(PdKeeper *keeper, const PdKeeperRead *read)
{
    PdKeeperSync want = {.exists = true, .leader = keeper->name};
    const char **names = pd_arena_calloc(keeper->tick, read->roster.count + 1, sizeof *names);
    if (names == NULL || !keeper->config.is_synchronous || !read->has_roster)
        return want;
    size_t count = 0;
    for (size_t i = 0; i < read->roster.count; i++)
        if (strcmp(read->roster.names[i], keeper->name) != 0)
            names[count++] = read->roster.names[i];
    want.members = (PdRoster){names, count};
    want.quorum = count == 0                                       ? 0
                  : keeper->config.synchronous_quorum < (int)count ? keeper->config.synchronous_quorum
                                                                   : (int)count;
    return want;
}

/* The record covering the applied setting and want: the union of the sets, the smaller k. */
static PdKeeperSync
covering(PdKeeper *keeper, const PdKeeperSync *want)
{
    PdKeeperSync cover = *want;
    const char **names =
        pd_arena_calloc(keeper->tick, want->members.count + keeper->sync_count + 1, sizeof *names);
    if (names == NULL)
        return cover;
    size_t count = 0;
    for (size_t i = 0; i < want->members.count; i++)
        names[count++] = want->members.names[i];
    for (size_t i = 0; i < keeper->sync_count; i++)
        if (!contains(names, count, keeper->sync_names[i]))
            names[count++] = keeper->sync_names[i];
    cover.members = (PdRoster){names, count};
    if (keeper->sync_quorum > 0 && (cover.quorum == 0 || keeper->sync_quorum < cover.quorum))
        cover.quorum = keeper->sync_quorum;
    return cover;
}

static bool
same_record(const PdKeeperSync *a, const PdKeeperSync *b)
{
    if (!a->exists || !b->exists || a->quorum != b->quorum || strcmp(a->leader, b->leader) != 0 ||
        a->members.count != b->members.count)
        return false;
    for (size_t i = 0; i < a->members.count; i++)
        if (!pd_roster_contains(&b->members, a->members.names[i]))
            return false;
    return true;
}

/* Writes record (quorum 0: deletes the key) by compare-and-swap on what *current says; *current updated. */
static bool
write_record(PdKeeper *keeper, PdKeeperSync *current, const PdKeeperSync *record)
{
    PdError err = {0};
    PdRoster sorted = record->members;
    char *roster = NULL, *json = NULL;
    if (record->quorum > 0 && (!pd_roster_json(keeper->tick, &sorted, &roster, &err) ||
                               (json = sync_json(keeper->tick, record)) == NULL))
        return false;
    PdEtcdKv after;
    PdEtcdCas cas = {.key = pd_keys_sync(&keeper->keys),
                     .compare = current->exists ? PD_ETCD_IF_MOD_REVISION : PD_ETCD_IF_ABSENT,
                     .mod_revision = current->mod_revision,
                     .action = record->quorum > 0 ? PD_ETCD_PUT : PD_ETCD_DELETE,
                     .value = pd_etcd_text(json)};
    PdEtcdOutcome outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &after, &err);
    if (outcome.status != PD_ETCD_DONE)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: the sync key was not written (%s): %s", keeper->name,
                pd_etcd_status_name(outcome.status), err.message);
        return false;
    }
    *current = *record;
    current->exists = record->quorum > 0;
    current->mod_revision = after.mod_revision;
    return true;
}

/* The node configured as a primary (upstream NULL) or, before its promotion, still as the standby of
 * keeper->following ("host:port": standby.signal must stay until PostgreSQL removes it itself). */
static bool
configure(PdKeeper *keeper, bool is_standby, const char *names, PdError *err)
{
    char host[PD_KEEPER_TARGET_MAX];
    snprintf(host, sizeof host, "%s", keeper->following);
    char *colon = strrchr(host, ':');
    if (!is_standby || colon == NULL)
        return pd_node_configure(keeper->node, NULL, 0, names, err);
    *colon = '\0';
    return pd_node_configure(keeper->node, host, atoi(colon + 1), names, err);
}

bool
pd_keeper_sync_configure_primary(PdKeeper *keeper, PdError *err)
{
    const char *names[PD_ROSTER_MAX];
    for (size_t i = 0; i < keeper->sync_count; i++)
        names[i] = keeper->sync_names[i];
    char *text = standby_names(keeper->tick, keeper->sync_quorum, names, keeper->sync_count);
    if (text == NULL)
        return pd_arena_error(keeper->tick, err);
    return pd_node_configure(keeper->node, NULL, 0, text, err);
}

/* synchronous_standby_names set to record's (quorum 0: off) and reloaded; remembered as applied. */
static bool
apply_to_node(PdKeeper *keeper, const PdKeeperSync *record, bool is_standby)
{
    char *names = standby_names(keeper->tick, record->quorum, record->members.names, record->members.count);
    PdError err = {0};
    if (names == NULL || !configure(keeper, is_standby, names, &err) ||
        !pd_node_reload(keeper->node, 10000, &err))
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: synchronous_standby_names not set: %s", keeper->name,
                err.message);
        return false;
    }
    keeper->is_sync_known = true;
    keeper->sync_quorum = record->quorum;
    keeper->sync_count = 0;
    for (size_t i = 0; i < record->members.count && i < PD_ROSTER_MAX; i++)
        snprintf(keeper->sync_names[keeper->sync_count++], sizeof keeper->sync_names[0], "%s",
                 record->members.names[i]);
    pd_logf(PD_LOG_INFO, "keeper %s: synchronous_standby_names = '%s'", keeper->name, names);
    return true;
}

static bool
applied_is(const PdKeeper *keeper, const PdKeeperSync *record)
{
    if (!keeper->is_sync_known || keeper->sync_quorum != record->quorum ||
        (record->quorum > 0 && keeper->sync_count != record->members.count))
        return false;
    for (size_t i = 0; record->quorum > 0 && i < keeper->sync_count; i++)
        if (!pd_roster_contains(&record->members, keeper->sync_names[i]))
            return false;
    return true;
}

/* Not known since this process started: what the sync key says of this leader is what its files hold. */
static void
learn_applied(PdKeeper *keeper, const PdKeeperSync *current)
{
    if (keeper->is_sync_known)
        return;
    keeper->sync_quorum = 0;
    keeper->sync_count = 0;
    if (current->exists && strcmp(current->leader, keeper->name) == 0)
    {
        keeper->sync_quorum = current->quorum;
        for (size_t i = 0; i < current->members.count && i < PD_ROSTER_MAX; i++)
            snprintf(keeper->sync_names[keeper->sync_count++], sizeof keeper->sync_names[0], "%s",
                     current->members.names[i]);
    }
}

/* Grows etcd's record first (to one covering the old setting and the new), then PostgreSQL, then etcd
 * exactly; turning off: PostgreSQL first. Each step only once the one before it is done. */
static bool
converge(PdKeeper *keeper, PdKeeperSync *current, const PdKeeperSync *want, bool is_standby)
{
    bool is_current_mine = current->exists && strcmp(current->leader, keeper->name) == 0;
    if (want->quorum == 0)
        return (applied_is(keeper, want) || apply_to_node(keeper, want, is_standby)) &&
               (!current->exists || write_record(keeper, current, want));
    learn_applied(keeper, is_current_mine ? current : &(PdKeeperSync){0});
    PdKeeperSync cover = covering(keeper, want);
    if (!applied_is(keeper, want) && !(is_current_mine && same_record(current, &cover)) &&
        !write_record(keeper, current, &cover))
        return false;
    if (!applied_is(keeper, want) && !apply_to_node(keeper, want, is_standby))
        return false;
    return same_record(current, want) || write_record(keeper, current, want);
}

void
pd_keeper_sync_lead(PdKeeper *keeper, const PdKeeperRead *read)
{
    PdKeeperSync want = wanted(keeper, read);
    PdKeeperSync current = read->sync;
    if (!read->has_roster ||
        (applied_is(keeper, &want) && (want.quorum == 0 ? !current.exists : same_record(&current, &want))))
        return;
    converge(keeper, &current, &want, false);
}

bool
pd_keeper_sync_prepare(PdKeeper *keeper, const PdKeeperRead *read)
{
    keeper->is_sync_known = true; /* a promoted standby's files hold no synchronous_standby_names */
    keeper->sync_quorum = 0;
    keeper->sync_count = 0;
    PdKeeperSync want = wanted(keeper, read);
    if (want.quorum == 0)
        return true;
    PdKeeperSync current = read->sync;
    return converge(keeper, &current, &want, true);
}

bool
pd_keeper_sync_is_member(const PdKeeper *keeper, const PdKeeperRead *read)
{
    return read->sync.exists && pd_roster_contains(&read->sync.members, keeper->name);
}

/* Whether a member's published position counts as read: running, or a stopped former primary (its
 * timeline known), published after the leader was gone (its keeper is live). */
static bool
is_position_read(const PdKeeper *keeper, const PdKeeperRead *read, const PdMemberState *member)
{
    if (!pd_roster_contains(&read->sync.members, member->name) ||
        member->updated_ms < keeper->leaderless_since_ms)
        return false;
    if (strcmp(member->state, "running") == 0)
        return true;
    bool is_stopped = strcmp(member->state, "stopped") == 0 || strcmp(member->state, "crashed") == 0 ||
                      strcmp(member->state, "fenced") == 0;
    return is_stopped && member->role == PD_MEMBER_ROLE_PRIMARY && member->timeline > 0 &&
           strcmp(member->name, read->sync.leader) != 0;
}

/* The most advanced member of the set among the positions read (own: timeline, lsn); *read_count. */
static const char *
most_advanced(PdKeeper *keeper, const PdKeeperRead *read, int timeline, uint64_t lsn, int *read_count)
{
    const char *best = keeper->name;
    int best_timeline = timeline;
    uint64_t best_lsn = lsn;
    *read_count = 1;
    for (size_t i = 0; i < read->member_count; i++)
    {
        const PdMemberState *member = &read->members[i];
        if (strcmp(member->name, keeper->name) == 0 || !is_position_read(keeper, read, member))
            continue;
        (*read_count)++;
        int order = pd_member_position_compare(member->timeline, member->write_lsn, best_timeline, best_lsn);
        if (order > 0 || (order == 0 && strcmp(member->name, best) < 0))
        {
            best = member->name;
            best_timeline = member->timeline;
            best_lsn = member->write_lsn;
        }
    }
    return best;
}

bool
pd_keeper_sync_may_take(PdKeeper *keeper, const PdKeeperRead *read, int timeline, uint64_t lsn, bool *applies)
{
    *applies = read->sync.exists && read->sync.members.count > 0;
    if (!*applies || strcmp(read->sync.leader, keeper->name) == 0)
        return true; /* the leader that wrote the key acknowledged every commit itself, and none led since */
    if (!pd_roster_contains(&read->sync.members, keeper->name))
    {
        pd_keeper_wait(keeper, "a member of the synchronous set to take over");
        return false;
    }
    int n = (int)read->sync.members.count, need = n - read->sync.quorum + 1, count = 0;
    const char *best = most_advanced(keeper, read, timeline, lsn, &count);
    if (count < need)
    {
        pd_keeper_wait(keeper, "%d of the %d synchronous standbys to report their position (%d so far)", need,
                       n, count);
        return false;
    }
    if (strcmp(best, keeper->name) != 0)
    {
        pd_keeper_wait(keeper, "%s, the most advanced synchronous standby, to take the leader key", best);
        return false;
    }
    return true;
}

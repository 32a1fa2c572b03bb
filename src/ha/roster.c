/*
 * roster.c - the roster of members for good (roster.h): its document read
 * strictly and written sorted, and a name added or removed in etcd by
 * compare-and-swap on the key's mod_revision, started over from the newer
 * document when another writer came in between, so concurrent changes are
 * all kept. The outcomes of the etcd client carry through unchanged: an
 * UNKNOWN write stays unknown.
 */
#include "ha/roster.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum
{
    ATTEMPTS = 5,
};

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool
pd_roster_contains(const PdRoster *roster, const char *name)
{
    for (size_t i = 0; i < roster->count; i++)
        if (strcmp(roster->names[i], name) == 0)
            return true;
    return false;
}

static bool
invalid(PdError *err, const char *message, const char *name)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "the roster %s%s%.64s%s", message, name != NULL ? " \"" : "",
                 name != NULL ? name : "", name != NULL ? "\"" : "");
    return pd_error_field(err, "members");
}

/* Checks the names (member names, at most PD_ROSTER_MAX) and sorts them, a repeat refused. */
static bool
check_names(const char **names, size_t count, PdError *err)
{
    if (count > PD_ROSTER_MAX)
        return invalid(err, "has too many names", NULL);
    for (size_t i = 0; i < count; i++)
        if (!pd_keys_check_member(names[i], &(PdError){0}))
            return invalid(err, "holds a name that is not a member name:", names[i]);
    qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 1; i < count; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return invalid(err, "holds a name twice:", names[i]);
    return true;
}

static bool
read_names(PdArena *arena, json_t *members, PdRoster *roster, PdError *err)
{
    size_t count = json_array_size(members);
    const char **names = pd_arena_calloc(arena, count + 1, sizeof *names);
    if (names == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        json_t *name = json_array_get(members, i);
        if (!json_is_string(name))
            return invalid(err, "\"members\" holds something other than a name", NULL);
        if ((names[i] = pd_arena_strdup(arena, json_string_value(name))) == NULL)
            return pd_arena_error(arena, err);
    }
    if (!check_names(names, count, err))
        return false;
    *roster = (PdRoster){names, count};
    return true;
}

bool
pd_roster_parse(PdArena *arena, const char *text, size_t length, PdRoster *roster, PdError *err)
{
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    json_t *members = json_object_get(root, "members");
    bool is_ok = false;
    if (root == NULL)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "the roster is not JSON: %s", json_err.text);
    else if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(members))
        invalid(err, "is not an object with only \"members\", an array of names", NULL);
    else
        is_ok = read_names(arena, members, roster, err);
    json_decref(root);
    return is_ok;
}

bool
pd_roster_json(PdArena *arena, const PdRoster *roster, char **json, PdError *err)
{
    const char **names = pd_arena_calloc(arena, roster->count + 1, sizeof *names);
    if (names == NULL)
        return pd_arena_error(arena, err);
    memcpy(names, roster->names, roster->count * sizeof *names);
    if (!check_names(names, roster->count, err))
        return false;
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < roster->count; i++)
        if (json_array_append_new(array, json_string(names[i])) != 0)
            break;
    json_t *root = array != NULL ? json_pack("{s:o}", "members", array) : NULL;
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the roster's JSON");
    *json = pd_arena_strdup(arena, text);
    free(text);
    return *json != NULL || pd_arena_error(arena, err);
}

/* The roster with member added or removed, in arena. */
static bool
changed_roster(PdArena *arena, const PdRoster *roster, const char *member, bool is_add, PdRoster *changed,
               PdError *err)
{
    const char **names = pd_arena_calloc(arena, roster->count + 1, sizeof *names);
    if (names == NULL)
        return pd_arena_error(arena, err);
    size_t count = 0;
    for (size_t i = 0; i < roster->count; i++)
        if (strcmp(roster->names[i], member) != 0)
            names[count++] = roster->names[i];
    if (is_add)
        names[count++] = member;
    *changed = (PdRoster){names, count};
    return true;
}

static PdEtcdOutcome
status_outcome(PdEtcdStatus status)
{
    return (PdEtcdOutcome){status};
}

/* One attempt: *is_done when the roster in etcd now says so. COMPARE_FAILED means "start over". */
static PdEtcdOutcome
change_once(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *member, bool is_add,
            bool *is_changed, PdError *err)
{
    PdEtcdKv kv;
    PdEtcdOutcome read = pd_etcd_get(arena, etcd, pd_keys_roster(keys), &kv, err);
    if (read.status != PD_ETCD_DONE)
        return read;
    PdRoster roster = {0};
    if (kv.exists && !pd_roster_parse(arena, kv.value.data, kv.value.length, &roster, err))
        return status_outcome(PD_ETCD_REJECTED);
    if (pd_roster_contains(&roster, member) == is_add)
        return status_outcome(PD_ETCD_DONE);
    PdRoster changed;
    char *json = NULL;
    if (!changed_roster(arena, &roster, member, is_add, &changed, err) ||
        !pd_roster_json(arena, &changed, &json, err))
        return status_outcome(PD_ETCD_REJECTED);
    PdEtcdCas cas = {.key = pd_keys_roster(keys),
                     .compare = kv.exists ? PD_ETCD_IF_MOD_REVISION : PD_ETCD_IF_ABSENT,
                     .mod_revision = kv.mod_revision,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(json)};
    PdEtcdKv current;
    PdEtcdOutcome written = pd_etcd_cas(arena, etcd, &cas, &current, err);
    if (written.status == PD_ETCD_DONE)
        *is_changed = true;
    return written;
}

PdEtcdOutcome
pd_roster_change(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *member, bool is_add,
                 bool *is_changed, PdError *err)
{
    bool changed = false;
    PdEtcdOutcome outcome = status_outcome(PD_ETCD_REJECTED);
    if (!pd_keys_check_member(member, err))
        return outcome;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++)
    {
        outcome = change_once(arena, etcd, keys, member, is_add, &changed, err);
        if (outcome.status != PD_ETCD_COMPARE_FAILED)
            break;
    }
    if (is_changed != NULL)
        *is_changed = changed;
    if (outcome.status != PD_ETCD_DONE)
        pd_error_context(err, "while %s member %s %s the roster %s", is_add ? "adding" : "removing", member,
                         is_add ? "to" : "from", pd_keys_roster(keys).data);
    return outcome;
}

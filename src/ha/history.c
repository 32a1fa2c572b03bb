/*
 * history.c - the failover history read strictly (history.h): every entry an
 * object with exactly its six fields, each checked, so that a reader never
 * shows a half-understood entry; the first problem is named by its entry's
 * index and field. Writing it is the keeper's (one entry appended by
 * compare-and-swap); nothing here talks to etcd.
 */
#include "ha/history.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ha/keys.h"
#include "ha/node.h"

static bool
invalid(PdError *err, size_t index, const char *field, const char *message)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "the history's entry %zu: %s %s", index, field, message);
    return pd_error_field(err, "[%zu].%s", index, field);
}

static const char *
text_of(json_t *entry, const char *field)
{
    return json_string_value(json_object_get(entry, field));
}

/* One entry into *out (strings in arena); false with err naming the field. */
static bool
read_entry(PdArena *arena, json_t *entry, size_t index, PdHistoryEntry *out, PdError *err)
{
    static const char *const fields[] = {"at_ms", "from", "to", "reason", "timeline", "lsn"};
    if (!json_is_object(entry))
        return invalid(err, index, "entry", "is not an object");
    const char *key;
    json_t *value;
    json_object_foreach(entry, key, value)
    {
        size_t i = 0;
        while (i < 6 && strcmp(fields[i], key) != 0)
            i++;
        if (i == 6)
            return invalid(err, index, key, "is not a field of a history entry");
    }
    json_t *at_ms = json_object_get(entry, "at_ms"), *timeline = json_object_get(entry, "timeline");
    const char *from = text_of(entry, "from"), *to = text_of(entry, "to"), *reason = text_of(entry, "reason");
    const char *lsn = text_of(entry, "lsn");
    if (!json_is_integer(at_ms) || json_integer_value(at_ms) < 0)
        return invalid(err, index, "at_ms", "must be ms since the epoch");
    if (from == NULL || (from[0] != '\0' && !pd_keys_check_member(from, &(PdError){0})))
        return invalid(err, index, "from", "must be a member name or \"\"");
    if (to == NULL || !pd_keys_check_member(to, &(PdError){0}))
        return invalid(err, index, "to", "must be a member name");
    if (reason == NULL || (strcmp(reason, "failover") != 0 && strcmp(reason, "switchover") != 0 &&
                           strcmp(reason, "manual") != 0))
        return invalid(err, index, "reason", "must be \"failover\", \"switchover\" or \"manual\"");
    if (!json_is_integer(timeline) || json_integer_value(timeline) < 1 ||
        json_integer_value(timeline) > INT32_MAX)
        return invalid(err, index, "timeline", "must be a timeline (1 or more)");
    uint64_t position = 0;
    if (lsn == NULL || !pd_node_lsn_parse(lsn, &position))
        return invalid(err, index, "lsn", "must be an LSN (\"0/3000148\")");
    *out = (PdHistoryEntry){.at_ms = json_integer_value(at_ms),
                            .from = pd_arena_strdup(arena, from),
                            .to = pd_arena_strdup(arena, to),
                            .reason = pd_arena_strdup(arena, reason),
                            .timeline = (int)json_integer_value(timeline),
                            .lsn = position};
    return true;
}

bool
pd_history_parse(PdArena *arena, const char *text, size_t length, PdHistoryEntry **entries, size_t *count,
                 PdError *err)
{
    if (length > PD_HISTORY_DOCUMENT_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the history is %zu bytes, at most %d", length,
                            PD_HISTORY_DOCUMENT_MAX);
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (!json_is_array(root))
    {
        json_decref(root);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the history is not a JSON array%s%s",
                            root == NULL ? ": " : "", root == NULL ? json_err.text : "");
    }
    size_t size = json_array_size(root);
    PdHistoryEntry *read = pd_arena_calloc(arena, size > 0 ? size : 1, sizeof *read);
    bool is_read = read != NULL;
    for (size_t i = 0; is_read && i < size; i++)
        is_read = read_entry(arena, json_array_get(root, i), i, &read[i], err);
    json_decref(root);
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (!is_read)
        return false;
    *entries = read;
    *count = size;
    return true;
}

/*
 * member.c - a member's published state as JSON (member.h): written in one
 * fixed order with jansson, read back strictly, every problem named by its
 * field. The writer checks what it writes with the reader's rules, so a
 * document one keeper publishes is one every other keeper and `prodata
 * cluster` accepts. Nothing here talks to etcd; the keeper loop puts the
 * document under its lease.
 */
#include "ha/member.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/keys.h"
#include "ha/node.h"

static const char *const state_names[] = {"running",      "starting",      "stopped", "crashed",
                                          "cloning",      "rewinding",     "fenced",  "promoting",
                                          "initializing", "switching over"};

static const char *const field_names[] = {"version",
                                          "name",
                                          "role",
                                          "state",
                                          "pg_host",
                                          "pg_port",
                                          "api_url",
                                          "timeline",
                                          "write_lsn",
                                          "replay_lsn",
                                          "is_streaming",
                                          "lag_bytes",
                                          "updated_ms",
                                          "waiting_for",
                                          "replay_lag_s",
                                          "pending_restart",
                                          "archive",
                                          "failsafe_grant",
                                          "failsafe_writable",
                                          "timeline_switch",
                                          "backup_job"};

enum
{
    FIELD_COUNT = sizeof field_names / sizeof field_names[0],
};

const char *
pd_member_role_name(PdMemberRole role)
{
    switch (role)
    {
        case PD_MEMBER_ROLE_PRIMARY:
            return "primary";
        case PD_MEMBER_ROLE_STANDBY:
            return "standby";
        case PD_MEMBER_ROLE_UNKNOWN:
            break;
    }
    return "unknown";
}

static bool
role_of(const char *name, PdMemberRole *role)
{
    for (PdMemberRole r = PD_MEMBER_ROLE_UNKNOWN; r <= PD_MEMBER_ROLE_STANDBY; r++)
        if (strcmp(pd_member_role_name(r), name) == 0)
        {
            *role = r;
            return true;
        }
    return false;
}

bool
pd_member_is_state(const char *state)
{
    for (size_t i = 0; state != NULL && i < sizeof state_names / sizeof state_names[0]; i++)
        if (strcmp(state_names[i], state) == 0)
            return true;
    return false;
}

int
pd_member_position_compare(int a_timeline, uint64_t a_lsn, int b_timeline, uint64_t b_lsn)
{
    if (a_timeline > 0 && b_timeline > 0 && a_timeline != b_timeline)
        return a_timeline < b_timeline ? -1 : 1;
    return a_lsn < b_lsn ? -1 : a_lsn > b_lsn ? 1 : 0;
}

uint64_t
pd_member_position_lag(int a_timeline, uint64_t a_lsn, int b_timeline, uint64_t b_lsn)
{
    if (a_timeline > 0 && b_timeline > 0 && a_timeline != b_timeline)
        return a_timeline > b_timeline ? 0 : UINT64_MAX;
    return b_lsn > a_lsn ? b_lsn - a_lsn : 0;
}

const char *
pd_member_lsn_text(uint64_t lsn, char *buffer, size_t size)
{
    snprintf(buffer, size, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
    return buffer;
}

/* Printable text of at most PD_MEMBER_TEXT_MAX bytes (UTF-8 passes: bytes >= 0x80 are not controls). */
static bool
is_text(const char *text)
{
    if (text == NULL || strlen(text) > PD_MEMBER_TEXT_MAX)
        return false;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

/* A parameter's name as pg_settings writes it: [a-z0-9_.], at most PD_MEMBER_PARAMETER_MAX bytes. */
static bool
is_parameter(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > PD_MEMBER_PARAMETER_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") == strlen(name);
}

static void
check_pending(const PdMemberState *state, PdError *problems)
{
    if (state->pending_restart_count > PD_MEMBER_PENDING_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "pending_restart",
                             "pending_restart: %zu names, at most %d", state->pending_restart_count,
                             PD_MEMBER_PENDING_MAX);
    for (size_t i = 0; i < state->pending_restart_count && i < PD_MEMBER_PENDING_MAX; i++)
        if (!is_parameter(state->pending_restart[i]))
        {
            pd_error_add_problem(problems, NULL, 0, 0, "pending_restart",
                                 "pending_restart[%zu] is not a parameter name", i);
            return;
        }
}

json_t *
pd_member_archive_json(const PdMemberArchive *archive)
{
    if (!archive->is_known)
        return json_null();
    return json_pack("{s:I, s:s, s:I, s:I, s:s, s:I, s:I}", "archived_count",
                     (json_int_t)archive->archived_count, "last_archived_wal", archive->last_archived_wal,
                     "last_archived_ms", (json_int_t)archive->last_archived_ms, "failed_count",
                     (json_int_t)archive->failed_count, "last_failed_wal", archive->last_failed_wal,
                     "last_failed_ms", (json_int_t)archive->last_failed_ms, "ready_count",
                     (json_int_t)archive->ready_count);
}

/* The later fields, written after the first ones: replay_lag_s (seconds, ms precision), pending_restart
 * and archive. */
static bool
add_later_fields(json_t *root, const PdMemberState *state)
{
    json_t *lag = state->replay_lag_ms >= 0 ? json_real((double)state->replay_lag_ms / 1000.0) : json_null();
    json_t *pending = json_array();
    for (size_t i = 0; pending != NULL && i < state->pending_restart_count; i++)
        json_array_append_new(pending, json_string(state->pending_restart[i]));
    json_t *grant = state->failsafe_holder != NULL
                        ? json_pack("{s:s, s:I}", "holder", state->failsafe_holder, "remaining_ms",
                                    (json_int_t)state->failsafe_holder_ms)
                        : json_null();
    json_t *writable = state->is_failsafe_writable
                           ? json_pack("{s:s, s:I}", "granted_by",
                                       state->failsafe_granted_by != NULL ? state->failsafe_granted_by : "",
                                       "remaining_ms", (json_int_t)state->failsafe_writable_ms)
                           : json_null();
    json_t *archive = pd_member_archive_json(&state->archive);
    char switch_lsn[24];
    json_t *branch = state->switch_parent > 0
                         ? json_pack("{s:i, s:s}", "parent", state->switch_parent, "lsn",
                                     pd_member_lsn_text(state->switch_lsn, switch_lsn, sizeof switch_lsn))
                         : json_null();
    return json_object_set_new(root, "replay_lag_s", lag) == 0 &&
           json_object_set_new(root, "pending_restart", pending) == 0 &&
           json_array_size(pending) == state->pending_restart_count && archive != NULL &&
           json_object_set_new(root, "archive", archive) == 0 &&
           json_object_set_new(root, "failsafe_grant", grant) == 0 &&
           json_object_set_new(root, "failsafe_writable", writable) == 0 && grant != NULL &&
           writable != NULL && branch != NULL && json_object_set_new(root, "timeline_switch", branch) == 0 &&
           json_object_set_new(root, "backup_job",
                               state->backup_job != NULL ? json_string(state->backup_job) : json_null()) == 0;
}

/* A WAL file name as the archiver reports it ("000000010000000000000003", a history or backup file),
 * or "". */
static bool
is_wal_name(const char *name)
{
    if (name == NULL || strlen(name) > 64)
        return false;
    for (const char *c = name; *c != '\0'; c++)
        if (!isalnum((unsigned char)*c) && *c != '.')
            return false;
    return true;
}

static void
check_archive(const PdMemberArchive *archive, PdError *problems)
{
    if (!archive->is_known)
        return;
    if (!is_wal_name(archive->last_archived_wal) || !is_wal_name(archive->last_failed_wal))
        pd_error_add_problem(problems, NULL, 0, 0, "archive",
                             "archive: last_archived_wal and last_failed_wal must be WAL file names or \"\"");
    if (archive->archived_count < 0 || archive->failed_count < 0 || archive->ready_count < 0 ||
        archive->last_archived_ms < 0 || archive->last_failed_ms < 0)
        pd_error_add_problem(problems, NULL, 0, 0, "archive", "archive: counts and times must be 0 or more");
}

/* "n2, n3": member names joined by ", ", or "". */
static bool
is_name_list(const char *text)
{
    if (text == NULL || strlen(text) > PD_MEMBER_TEXT_MAX)
        return false;
    return strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_, ") == strlen(text);
}

static void
check_failsafe(const PdMemberState *state, PdError *problems)
{
    if (state->failsafe_holder != NULL &&
        (!pd_keys_check_member(state->failsafe_holder, &(PdError){0}) || state->failsafe_holder_ms < 0))
        pd_error_add_problem(
            problems, NULL, 0, 0, "failsafe_grant",
            "failsafe_grant must be {\"holder\": a member name, \"remaining_ms\": 0 or more}");
    if (state->is_failsafe_writable &&
        (!is_name_list(state->failsafe_granted_by) || state->failsafe_writable_ms < 0))
        pd_error_add_problem(
            problems, NULL, 0, 0, "failsafe_writable",
            "failsafe_writable must be {\"granted_by\": member names, \"remaining_ms\": 0 or "
            "more}");
}

/* The rules pd_member_parse applies to the values (types are the JSON's), each broken one a problem. */
static void
check_values(const PdMemberState *state, PdError *problems)
{
    if (state->name == NULL || !pd_keys_check_member(state->name, &(PdError){0}))
        pd_error_add_problem(problems, NULL, 0, 0, "name", "name \"%.64s\" is not a member name",
                             state->name != NULL ? state->name : "");
    if (!pd_member_is_state(state->state))
        pd_error_add_problem(problems, NULL, 0, 0, "state", "state \"%.64s\" is not a member state",
                             state->state != NULL ? state->state : "");
    const char *texts[] = {state->pg_host, state->api_url, state->waiting_for};
    const char *fields[] = {"pg_host", "api_url", "waiting_for"};
    for (size_t i = 0; i < 3; i++)
        if (!is_text(texts[i]))
            pd_error_add_problem(problems, NULL, 0, 0, fields[i],
                                 "%s is missing, longer than %d bytes or holds a control character",
                                 fields[i], PD_MEMBER_TEXT_MAX);
    if (state->pg_port < 0 || state->pg_port > 65535)
        pd_error_add_problem(problems, NULL, 0, 0, "pg_port", "pg_port %d is not a port (0: unknown)",
                             state->pg_port);
    if (state->timeline < 0)
        pd_error_add_problem(problems, NULL, 0, 0, "timeline", "timeline %d is negative", state->timeline);
    if (state->lag_bytes < -1)
        pd_error_add_problem(problems, NULL, 0, 0, "lag_bytes",
                             "lag_bytes %" PRId64 " is below -1 (-1: unknown)", state->lag_bytes);
    if (state->updated_ms < 0)
        pd_error_add_problem(problems, NULL, 0, 0, "updated_ms", "updated_ms %" PRId64 " is negative",
                             state->updated_ms);
    if (state->replay_lag_ms < -1)
        pd_error_add_problem(problems, NULL, 0, 0, "replay_lag_s", "replay_lag_s is negative");
    check_pending(state, problems);
    check_archive(&state->archive, problems);
    check_failsafe(state, problems);
    if (state->backup_job != NULL && (!is_text(state->backup_job) || state->backup_job[0] == '\0'))
        pd_error_add_problem(problems, NULL, 0, 0, "backup_job",
                             "backup_job must be a job id (text without control characters) or null");
}

bool
pd_member_json(PdArena *arena, const PdMemberState *state, char **json, PdError *err)
{
    PdError problems;
    pd_error_clear(&problems);
    check_values(state, &problems);
    if (problems.code != PD_OK)
    {
        *err = problems;
        return pd_error_context(err, "while writing the state of member %.64s",
                                state->name != NULL ? state->name : "");
    }
    char write_lsn[24], replay_lsn[24];
    json_t *root =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:b, s:I, s:I, s:s}", "version",
                  PD_MEMBER_VERSION, "name", state->name, "role", pd_member_role_name(state->role), "state",
                  state->state, "pg_host", state->pg_host, "pg_port", state->pg_port, "api_url",
                  state->api_url, "timeline", state->timeline, "write_lsn",
                  pd_member_lsn_text(state->write_lsn, write_lsn, sizeof write_lsn), "replay_lsn",
                  pd_member_lsn_text(state->replay_lsn, replay_lsn, sizeof replay_lsn), "is_streaming",
                  state->is_streaming, "lag_bytes", (json_int_t)state->lag_bytes, "updated_ms",
                  (json_int_t)state->updated_ms, "waiting_for", state->waiting_for);
    char *text = root != NULL && add_later_fields(root, state)
                     ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(15))
                     : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a member's JSON");
    *json = pd_arena_strdup(arena, text);
    free(text);
    return *json != NULL || pd_arena_error(arena, err);
}

/* ---- reading ---------------------------------------------------------------------------------------- */

static const char *
read_text(PdArena *arena, json_t *root, const char *field, PdError *problems)
{
    json_t *value = json_object_get(root, field);
    if (json_is_string(value))
        return pd_arena_strdup(arena, json_string_value(value));
    pd_error_add_problem(problems, NULL, 0, 0, field, "%s must be a string", field);
    return NULL;
}

static int64_t
read_integer(json_t *root, const char *field, PdError *problems)
{
    json_t *value = json_object_get(root, field);
    if (json_is_integer(value))
        return (int64_t)json_integer_value(value);
    pd_error_add_problem(problems, NULL, 0, 0, field, "%s must be an integer", field);
    return 0;
}

static int
read_int(json_t *root, const char *field, PdError *problems)
{
    int64_t value = read_integer(root, field, problems);
    if (value >= -1000000 && value <= 1000000)
        return (int)value;
    pd_error_add_problem(problems, NULL, 0, 0, field, "%s %" PRId64 " is out of bounds", field, value);
    return 0;
}

static uint64_t
read_lsn(json_t *root, const char *field, PdError *problems)
{
    json_t *value = json_object_get(root, field);
    uint64_t lsn = 0;
    if (!json_is_string(value) || !pd_node_lsn_parse(json_string_value(value), &lsn))
        pd_error_add_problem(problems, NULL, 0, 0, field, "%s must be an LSN such as \"0/3000148\"", field);
    return lsn;
}

/* archive: null, absent, or the object archive_json writes, every field present. */
static void
read_archive(PdArena *arena, json_t *root, PdMemberArchive *archive, PdError *problems)
{
    json_t *object = json_object_get(root, "archive");
    memset(archive, 0, sizeof *archive);
    if (object == NULL || json_is_null(object))
        return;
    json_t *counts[5];
    const char *count_names[] = {"archived_count", "last_archived_ms", "failed_count", "last_failed_ms",
                                 "ready_count"};
    bool is_whole = json_is_object(object) && json_object_size(object) == 7;
    for (size_t i = 0; i < 5; i++)
        is_whole = is_whole && json_is_integer(counts[i] = json_object_get(object, count_names[i]));
    json_t *archived = json_object_get(object, "last_archived_wal");
    json_t *failed = json_object_get(object, "last_failed_wal");
    if (!is_whole || !json_is_string(archived) || !json_is_string(failed))
    {
        pd_error_add_problem(problems, NULL, 0, 0, "archive",
                             "archive must be null or an object of archived_count, last_archived_wal, "
                             "last_archived_ms, failed_count, last_failed_wal, last_failed_ms, ready_count");
        return;
    }
    archive->is_known = true;
    archive->archived_count = (int64_t)json_integer_value(counts[0]);
    archive->last_archived_ms = (int64_t)json_integer_value(counts[1]);
    archive->failed_count = (int64_t)json_integer_value(counts[2]);
    archive->last_failed_ms = (int64_t)json_integer_value(counts[3]);
    archive->ready_count = (int64_t)json_integer_value(counts[4]);
    archive->last_archived_wal = pd_arena_strdup(arena, json_string_value(archived));
    archive->last_failed_wal = pd_arena_strdup(arena, json_string_value(failed));
}

/* replay_lag_s, pending_restart and archive: optional (a keeper before them wrote none). */
/* timeline_switch: {"parent": a timeline, "lsn": "X/Y"}, null, or absent (a keeper before it). */
static void
read_switch(json_t *root, PdMemberState *state, PdError *problems)
{
    json_t *branch = json_object_get(root, "timeline_switch");
    state->switch_parent = 0;
    state->switch_lsn = 0;
    if (branch == NULL || json_is_null(branch))
        return;
    json_t *parent = json_object_get(branch, "parent"), *lsn = json_object_get(branch, "lsn");
    if (!json_is_object(branch) || json_object_size(branch) != 2 || !json_is_integer(parent) ||
        json_integer_value(parent) < 1 || json_integer_value(parent) > INT32_MAX || !json_is_string(lsn) ||
        !pd_node_lsn_parse(json_string_value(lsn), &state->switch_lsn))
    {
        pd_error_add_problem(problems, NULL, 0, 0, "timeline_switch",
                             "timeline_switch must be {\"parent\": a timeline, \"lsn\": \"X/Y\"} or null");
        return;
    }
    state->switch_parent = (int)json_integer_value(parent);
}

static void
read_later_fields(PdArena *arena, json_t *root, PdMemberState *state, PdError *problems)
{
    json_t *lag = json_object_get(root, "replay_lag_s");
    state->replay_lag_ms = -1;
    if (json_is_number(lag) && json_number_value(lag) >= 0 && json_number_value(lag) < 1e12)
        state->replay_lag_ms = (int64_t)(json_number_value(lag) * 1000.0 + 0.5);
    else if (lag != NULL && !json_is_null(lag))
        pd_error_add_problem(problems, NULL, 0, 0, "replay_lag_s",
                             "replay_lag_s must be a number of seconds, 0 or more, or null");
    read_archive(arena, root, &state->archive, problems);
    read_switch(root, state, problems);
    json_t *pending = json_object_get(root, "pending_restart");
    if (pending == NULL)
        return;
    size_t count = json_array_size(pending);
    const char **names = pd_arena_calloc(arena, count + 1, sizeof *names);
    if (!json_is_array(pending) || names == NULL)
    {
        pd_error_add_problem(problems, NULL, 0, 0, "pending_restart",
                             "pending_restart must be an array of parameter names");
        return;
    }
    for (size_t i = 0; i < count; i++)
    {
        json_t *name = json_array_get(pending, i);
        names[i] = json_is_string(name) ? pd_arena_strdup(arena, json_string_value(name)) : "";
    }
    state->pending_restart = names;
    state->pending_restart_count = count;
}

/* failsafe_grant and failsafe_writable: optional, null or their object of exactly two fields. */
static void
read_failsafe(PdArena *arena, json_t *root, PdMemberState *state, PdError *problems)
{
    json_t *grant = json_object_get(root, "failsafe_grant");
    json_t *holder = json_object_get(grant, "holder"), *left = json_object_get(grant, "remaining_ms");
    if (json_is_object(grant) && json_object_size(grant) == 2 && json_is_string(holder) &&
        json_is_integer(left))
    {
        state->failsafe_holder = pd_arena_strdup(arena, json_string_value(holder));
        state->failsafe_holder_ms = (int64_t)json_integer_value(left);
    }
    else if (grant != NULL && !json_is_null(grant))
        pd_error_add_problem(problems, NULL, 0, 0, "failsafe_grant",
                             "failsafe_grant must be null or {\"holder\", \"remaining_ms\"}");
    json_t *writable = json_object_get(root, "failsafe_writable");
    json_t *by = json_object_get(writable, "granted_by");
    left = json_object_get(writable, "remaining_ms");
    if (json_is_object(writable) && json_object_size(writable) == 2 && json_is_string(by) &&
        json_is_integer(left))
    {
        state->is_failsafe_writable = true;
        state->failsafe_granted_by = pd_arena_strdup(arena, json_string_value(by));
        state->failsafe_writable_ms = (int64_t)json_integer_value(left);
    }
    else if (writable != NULL && !json_is_null(writable))
        pd_error_add_problem(problems, NULL, 0, 0, "failsafe_writable",
                             "failsafe_writable must be null or {\"granted_by\", \"remaining_ms\"}");
}

static void
read_fields(PdArena *arena, json_t *root, PdMemberState *state, PdError *problems)
{
    int64_t version = read_integer(root, "version", problems);
    if (json_is_integer(json_object_get(root, "version")) && version != PD_MEMBER_VERSION)
        pd_error_add_problem(problems, NULL, 0, 0, "version",
                             "version %" PRId64 " is not %d (a newer keeper?)", version, PD_MEMBER_VERSION);
    state->name = read_text(arena, root, "name", problems);
    const char *role = read_text(arena, root, "role", problems);
    if (role != NULL && !role_of(role, &state->role))
        pd_error_add_problem(problems, NULL, 0, 0, "role",
                             "role \"%.64s\" is not primary, standby or unknown", role);
    state->state = read_text(arena, root, "state", problems);
    state->pg_host = read_text(arena, root, "pg_host", problems);
    state->pg_port = read_int(root, "pg_port", problems);
    state->api_url = read_text(arena, root, "api_url", problems);
    state->timeline = read_int(root, "timeline", problems);
    state->write_lsn = read_lsn(root, "write_lsn", problems);
    state->replay_lsn = read_lsn(root, "replay_lsn", problems);
    json_t *streaming = json_object_get(root, "is_streaming");
    if (json_is_boolean(streaming))
        state->is_streaming = json_is_true(streaming);
    else
        pd_error_add_problem(problems, NULL, 0, 0, "is_streaming", "is_streaming must be true or false");
    state->lag_bytes = read_integer(root, "lag_bytes", problems);
    state->updated_ms = read_integer(root, "updated_ms", problems);
    state->waiting_for = read_text(arena, root, "waiting_for", problems);
    read_later_fields(arena, root, state, problems);
    read_failsafe(arena, root, state, problems);
    json_t *job = json_object_get(root, "backup_job");
    if (json_is_string(job))
        state->backup_job = pd_arena_strdup(arena, json_string_value(job));
    else if (job != NULL && !json_is_null(job))
        pd_error_add_problem(problems, NULL, 0, 0, "backup_job", "backup_job must be a job id or null");
}

static void
check_field_names(json_t *root, PdError *problems)
{
    const char *field;
    json_t *value;
    json_object_foreach(root, field, value)
    {
        bool is_known = false;
        for (size_t i = 0; i < FIELD_COUNT && !is_known; i++)
            is_known = strcmp(field_names[i], field) == 0;
        if (!is_known)
            pd_error_add_problem(problems, NULL, 0, 0, field, "unknown field \"%.64s\"", field);
    }
}

bool
pd_member_parse(PdArena *arena, const char *text, size_t length, PdMemberState *state, PdError *err)
{
    if (length > PD_MEMBER_DOCUMENT_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a member's state is %zu bytes, at most %d", length,
                            PD_MEMBER_DOCUMENT_MAX);
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL || !json_is_object(root))
    {
        json_decref(root);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a member's state is not a JSON object%s%s",
                            root == NULL ? ": " : "", root == NULL ? json_err.text : "");
    }
    PdMemberState parsed = {0};
    PdError problems;
    pd_error_clear(&problems);
    check_field_names(root, &problems);
    read_fields(arena, root, &parsed, &problems);
    json_decref(root);
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (problems.code == PD_OK)
        check_values(&parsed, &problems);
    if (problems.code != PD_OK)
    {
        *err = problems;
        return false;
    }
    *state = parsed;
    return true;
}

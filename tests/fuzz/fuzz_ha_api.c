/*
 * fuzz_ha_api.c - the keeper API's decisions on any request and the failover
 * history's reader on any bytes. The first byte sets the snapshot's flags
 * (leader, running, recovery, streaming, paused, sync, a tick, a published
 * snapshot), the first line is "METHOD PATH?QUERY" (the query split on & and
 * =, undecoded), what follows the line is a history document. The route
 * always answers (false only out of memory, which cannot happen here), with
 * one of its five statuses, a JSON body unless it is OPTIONS' empty one, and
 * Allow on a 405; the history reader succeeds with entries that are all
 * valid, or gives an input error. The same bytes go to the switchover
 * request's reader: a request it accepts is written back by the writer and
 * read again to the same document; so is a member state (member.h,
 * timeline_switch included) that the member reader accepts.
 * The same bytes after the line are also a
 * POST /failsafe body (failsafe.h) served by a grant table whose state the
 * first byte sets (empty, another member's live grant, leading, off): the
 * answer is one of 200, 409, 400, 413 with a JSON body, a 200 only for a
 * request that parses, and the table then holds its holder.
 */
#include <jansson.h>

#include "fuzz.h"
#include "ha/api_route.h"
#include "ha/failsafe.h"
#include "ha/history.h"
#include "ha/keys.h"
#include "ha/member.h"
#include "ha/switchover.h"

enum
{
    ARGS_MAX = 16,
};

static size_t
split_query(PdArena *arena, char *query, PdHaApiArg *args)
{
    size_t count = 0;
    for (char *part = query; part != NULL && count < ARGS_MAX;)
    {
        char *next = strchr(part, '&');
        if (next != NULL)
            *next++ = '\0';
        char *equals = strchr(part, '=');
        if (equals != NULL)
            *equals++ = '\0';
        args[count++] = (PdHaApiArg){pd_arena_strdup(arena, part), equals != NULL ? equals : ""};
        part = next;
    }
    return count;
}

static void
check_route(PdArena *arena, uint8_t flags, char *line)
{
    char *space = strchr(line, ' ');
    const char *method = "GET";
    char *target = line;
    if (space != NULL)
    {
        *space = '\0';
        method = line;
        target = space + 1;
    }
    char *question = strchr(target, '?');
    PdHaApiArg args[ARGS_MAX];
    size_t count = 0;
    if (question != NULL)
    {
        *question = '\0';
        count = split_query(arena, question + 1, args);
    }
    PdHaApiRequest request = {.method = method, .path = target, .args = args, .arg_count = count};
    request.has_snapshot = (flags & 0x80) != 0;
    request.snapshot = (PdKeeperSnapshot){.holds_leader = flags & 1,
                                          .pg_running = flags & 2,
                                          .in_recovery = flags & 4,
                                          .is_streaming = flags & 8,
                                          .is_paused = flags & 16,
                                          .is_sync_standby = flags & 32,
                                          .tick_mono_ms = (flags & 64) ? 1000 : 0,
                                          .leader_until_mono_ms = (flags & 64) ? INT64_MAX : 0,
                                          .lag_bytes = (int64_t)(flags % 7) - 1,
                                          .write_lsn = flags,
                                          .maximum_lag_bytes = flags % 3,
                                          .member_json = (flags & 3) == 3 ? "{\"name\":\"n1\"}" : "[]",
                                          .cluster_json = (flags & 5) == 5 ? "{}" : NULL};
    request.now_mono_ms = 5000;
    PdHaApiAnswer answer;
    PdError err = {0};
    FUZZ_ASSERT(pd_ha_api_route(arena, &request, &answer, &err), "no answer: %s", err.message);
    FUZZ_ASSERT(answer.status == 200 || answer.status == 503 || answer.status == 400 ||
                    answer.status == 404 || answer.status == 405,
                "status %d", answer.status);
    FUZZ_ASSERT(answer.status != 405 || answer.allow != NULL, "a 405 without Allow");
    FUZZ_ASSERT(answer.body != NULL, "no body");
    bool is_options_answer = strcmp(method, "OPTIONS") == 0 && answer.status != 404 && answer.status != 400;
    if (is_options_answer)
        FUZZ_ASSERT(answer.body[0] == '\0', "OPTIONS with a body: %s", answer.body);
    else
    {
        json_t *body = json_loads(answer.body, 0, NULL);
        FUZZ_ASSERT(body != NULL, "the body is not JSON: %s", answer.body);
        json_decref(body);
    }
}

static void
check_history(PdArena *arena, const char *text, size_t length)
{
    PdHistoryEntry *entries;
    size_t count;
    PdError err = {0};
    if (!pd_history_parse(arena, text, length, &entries, &count, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "code %d: %s", err.code, err.message);
        return;
    }
    for (size_t i = 0; i < count; i++)
    {
        FUZZ_ASSERT(pd_keys_check_member(entries[i].to, &err), "entry %zu: to \"%s\"", i, entries[i].to);
        FUZZ_ASSERT(entries[i].timeline >= 1 && entries[i].at_ms >= 0, "entry %zu: timeline or time", i);
    }
}

static void
check_switchover(PdArena *arena, const char *text, size_t length)
{
    PdSwitchover request, again;
    PdError err = {0};
    if (!pd_switchover_parse(arena, text, length, &request, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "code %d: %s", err.code, err.message);
        return;
    }
    char *json = NULL, *json_again = NULL;
    FUZZ_ASSERT(pd_switchover_json(arena, &request, &json, &err), "an accepted request not written: %s",
                err.message);
    FUZZ_ASSERT(pd_switchover_parse(arena, json, strlen(json), &again, &err), "its document refused: %s",
                err.message);
    FUZZ_ASSERT(pd_switchover_json(arena, &again, &json_again, &err) && strcmp(json, json_again) == 0,
                "written twice differently: %s / %s", json, json_again != NULL ? json_again : "");
}

/* A member state it accepts is written back and read again to the same document. */
static void
check_member(PdArena *arena, const char *text, size_t length)
{
    PdMemberState state, again;
    PdError err = {0};
    if (!pd_member_parse(arena, text, length, &state, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "code %d: %s", err.code, err.message);
        return;
    }
    char *json = NULL, *json_again = NULL;
    FUZZ_ASSERT(pd_member_json(arena, &state, &json, &err), "an accepted state not written: %s", err.message);
    FUZZ_ASSERT(pd_member_parse(arena, json, strlen(json), &again, &err), "its document refused: %s",
                err.message);
    FUZZ_ASSERT(pd_member_json(arena, &again, &json_again, &err) && strcmp(json, json_again) == 0,
                "written twice differently: %s / %s", json, json_again != NULL ? json_again : "");
}

static void
check_failsafe(PdArena *arena, uint8_t flags, const char *body, size_t length)
{
    PdFailsafe *failsafe = NULL;
    PdError err = {0};
    FUZZ_ASSERT(pd_failsafe_new("n2", "main", "so-s3cret-Pa55", &failsafe, &err), "table: %s", err.message);
    const char *roster[] = {"n1", "n2", "n3"};
    pd_failsafe_set_roster(failsafe, roster, 3);
    pd_failsafe_set_counted(failsafe, (flags & 64) == 0);
    if (flags & 1)
        pd_failsafe_grant(failsafe, "n3", 3000, 1000);
    pd_failsafe_set_leading(failsafe, (flags & 2) != 0);
    pd_failsafe_set_enabled(failsafe, (flags & 4) == 0);
    int status = 0;
    const char *json = NULL;
    bool is_too_large = (flags & 8) != 0 && length > 0;
    PdFailsafeIncoming incoming = {.body = body,
                                   .length = length,
                                   .is_too_large = is_too_large,
                                   .signature = (flags & 16) != 0 ? NULL : "00",
                                   .now_ms = 2000,
                                   .wall_ms = 1764500000000};
    char hex[PD_FAILSAFE_HMAC_HEX + 1];
    PdFailsafeRequest signable;
    const char *at = NULL;
    if ((flags & 32) != 0 && pd_failsafe_request_parse(arena, body, length, &signable, &at, &(PdError){0}) &&
        pd_failsafe_sign(failsafe, &signable, hex))
        incoming.signature = hex; /* a signed one: the table's rules decide */
    FUZZ_ASSERT(pd_failsafe_serve(arena, failsafe, &incoming, &status, &json, &err), "no answer: %s",
                err.message);
    FUZZ_ASSERT(status == 200 || status == 409 || status == 400 || status == 401 || status == 403 ||
                    status == 413,
                "status %d", status);
    FUZZ_ASSERT(status != 200 || incoming.signature == hex, "a 200 for a request not signed");
    json_t *root = json_loads(json, 0, NULL);
    FUZZ_ASSERT(json_is_object(root), "the body is not a JSON object: %s", json);
    json_decref(root);
    PdFailsafeRequest request;
    const char *field = NULL;
    bool is_request = pd_failsafe_request_parse(arena, body, length, &request, &field, &err);
    FUZZ_ASSERT(status != 200 || (is_request && !is_too_large), "a 200 for a body that does not parse");
    if (status == 200)
        FUZZ_ASSERT(strcmp(pd_failsafe_current(failsafe, 2000).holder, request.holder) == 0 &&
                        strcmp(request.granter, "n2") == 0,
                    "granted but the table does not hold %s, or the request asked %s", request.holder,
                    request.granter);
    pd_failsafe_free(failsafe);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        abort();
    char *text = fuzz_text(arena, data + 1, size - 1);
    char *newline = strchr(text, '\n');
    const char *history = "";
    size_t history_length = 0;
    if (newline != NULL)
    {
        *newline = '\0';
        history = newline + 1;
        history_length = size - 1 - (size_t)(newline + 1 - text);
    }
    check_route(arena, data[0], text);
    check_history(arena, history, history_length);
    check_switchover(arena, history, history_length);
    check_member(arena, history, history_length);
    check_failsafe(arena, data[0], history, history_length);
    pd_arena_free(arena);
    return 0;
}

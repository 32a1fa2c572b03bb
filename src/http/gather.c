/*
 * gather.c - single gets by key of one model gathered into one statement.
 * A GET or HEAD of one object by its key, with no query string, that reads
 * on its loop's multiplexed connection as the login role
 * (pd_http_db_may_gather) joins its loop's open gathering of that model, or
 * opens one and leads it: the leader parks until the loop's pass is over
 * (pd_http_task_defer), so that the gets libmicrohttpd hands the loop in the
 * same pass join, then closes it, sends every key as one statement
 * (pd_query_get_many_json: the keys as one array parameter, each object
 * beside its key) and hands each member its own object, copied into its
 * request's arena, or "not found". Why: a statement costs PostgreSQL several
 * times what one row by its key does (Bind, executor start and end, Sync,
 * and on our side a send and a flush of its own), so under load a get's cost
 * falls toward a row's, and the one backend of the multiplexed connection
 * answers more of them. Alone (an idle server), a get waits only for the end
 * of its pass. When the shared statement fails, each member runs its get
 * again on its own (a read writes nothing), as the error may come from
 * another key's row (a view's function, a row-level security policy, a
 * statement_timeout): every answer is the one the get alone would have had.
 * A key that finds several rows (not unique: a view) is PD_ERR_MULTIPLE, as
 * alone. Only keys whose text is PostgreSQL's own
 * output of them (a plain decimal integer, a lower-case uuid) are gathered,
 * as the answer's rows are told apart by that text; any other key is read
 * alone. Gatherings live on their leaders' stacks, in one list per loop
 * thread; members on their own stacks; all of it is touched only by the
 * loop's tasks.
 */
#include <ctype.h>
#include <string.h>

#include "loop.h"
#include "prodata/query.h"
#include "server.h"

/* Keys in one statement: its array parameter and its answer stay small. */
#define PD_HTTP_GATHER_MAX 64

/* One get in a gathering, on its request's stack. */
typedef struct GatherMember
{
    PdHttpContext *ctx;
    const char *key;
    void *task;       /* its task, to wake */
    const char *json; /* its object, in its own arena; NULL when none */
    size_t length;
    PdError *err; /* its own, filled only on failure */
    bool is_done;
    bool must_read_alone; /* the shared statement failed: its get runs again on its own */
} GatherMember;

typedef struct Gathering Gathering;
struct Gathering
{
    Gathering *next; /* the loop's open gatherings */
    const PdModel *model;
    const PdHttpCatalog *catalog;
    GatherMember *members[PD_HTTP_GATHER_MAX];
    size_t count;
};

static _Thread_local Gathering *open_gatherings;

/* Whether text is how PostgreSQL writes a value of the key's kind (so an answer's row names it exactly). */
static bool
is_canonical(const PdField *key, const char *text)
{
    size_t length = strlen(text);
    switch (key->kind)
    {
        case PD_FIELD_AUTO:
        case PD_FIELD_SMALLINT:
        case PD_FIELD_INT:
        case PD_FIELD_BIGINT:
        {
            const char *digits = text[0] == '-' ? text + 1 : text;
            size_t count = strlen(digits);
            if (count == 0 || count > 19 || (digits[0] == '0' && (count > 1 || digits != text)))
                return false;
            for (size_t i = 0; i < count; i++)
                if (!isdigit((unsigned char)digits[i]))
                    return false;
            return true;
        }
        case PD_FIELD_UUID:
            if (length != 36)
                return false;
            for (size_t i = 0; i < length; i++)
            {
                bool is_dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (is_dash ? text[i] != '-'
                            : !(isdigit((unsigned char)text[i]) || (text[i] >= 'a' && text[i] <= 'f')))
                    return false;
            }
            return true;
        default:
            return false;
    }
}

bool
pd_http_get_may_gather(const PdHttpContext *ctx, const PdModel *model, const char *pk)
{
    const PdField *key = pd_model_primary_key(model);
    return ctx->arg_count == 0 && key != NULL && pd_http_db_may_gather(ctx) && is_canonical(key, pk);
}

static Gathering *
find_open(const PdHttpContext *ctx, const PdModel *model)
{
    for (Gathering *gathering = open_gatherings; gathering != NULL; gathering = gathering->next)
        if (gathering->model == model && gathering->catalog == ctx->catalog &&
            gathering->count < PD_HTTP_GATHER_MAX)
            return gathering;
    return NULL;
}

static void
close_gathering(Gathering *gathering)
{
    for (Gathering **link = &open_gatherings; *link != NULL; link = &(*link)->next)
        if (*link == gathering)
        {
            *link = gathering->next;
            return;
        }
}

/* Each member's row by its key, copied into its own arena; a member without one is not found, one with
 * several gets PD_ERR_MULTIPLE. */
static void
hand_out(Gathering *gathering, const PdDbResult *rows)
{
    size_t row_count = pd_db_result_row_count(rows);
    for (size_t i = 0; i < gathering->count; i++)
    {
        GatherMember *member = gathering->members[i];
        size_t found = 0, at = 0;
        for (size_t row = 0; row < row_count; row++)
            if (strcmp(pd_db_result_value(rows, row, 0), member->key) == 0 && found++ == 0)
                at = row;
        if (found > 1) /* a key that is not unique (a view, a table without its key's constraint) */
            pd_error_set(member->err, PD_ERR_MULTIPLE, "get() returned more than one %s",
                         gathering->model->name);
        if (found == 1)
        {
            member->length = pd_db_result_length(rows, at, 1);
            member->json =
                pd_arena_strndup(member->ctx->arena, pd_db_result_value(rows, at, 1), member->length);
            if (member->json == NULL)
                pd_arena_error(member->ctx->arena, member->err);
        }
        if (member->json == NULL && member->err->code == PD_OK)
            pd_error_set(member->err, PD_ERR_NOT_FOUND, "%s matching query does not exist.",
                         gathering->model->name);
    }
}

/* Sends the gathering's keys as one statement on the leader's connection and hands every member its answer.
 * The statement and its answer live in an arena of their own: the answer holds every member's object. */
static void
run_gathering(PdHttpContext *leader, Gathering *gathering)
{
    PdError err;
    pd_error_init(&err);
    size_t count = gathering->count;
    PdArena *arena = pd_arena_new(count * PD_HTTP_REQUEST_ARENA_BUDGET);
    const char **keys = arena != NULL ? pd_arena_calloc(arena, count, sizeof(*keys)) : NULL;
    PdQuery *query = keys != NULL ? pd_query_new(arena, leader->catalog->catalog, gathering->model) : NULL;
    PdDbResult *rows = NULL;
    PdDb *db = NULL;
    bool ok = query != NULL || pd_error_set(&err, PD_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; ok && i < count; i++)
        keys[i] = gathering->members[i]->key;
    ok = ok && pd_http_db_acquire(leader, &db, &err);
    ok = ok && pd_query_get_many_json(query, db, keys, count, &rows, &err);
    if (db != NULL)
        pd_http_db_release(leader, db);
    if (ok)
        hand_out(gathering, rows);
    for (size_t i = 0; i < count; i++)
    {
        GatherMember *member = gathering->members[i];
        if (!ok && count == 1)
            *member->err = err;
        member->must_read_alone = !ok && count > 1; /* the error may be another key's row's */
        member->is_done = true;
        if (member->ctx != leader)
            pd_http_task_wake(member->task);
    }
    pd_arena_free(arena);
}

bool
pd_http_get_gathered(PdHttpContext *ctx, const PdModel *model, const char *pk, const char **json,
                     size_t *length, bool *must_read_alone, PdError *err)
{
    GatherMember self = {.ctx = ctx, .key = pk, .task = pd_http_task_self(), .err = err};
    Gathering *open = find_open(ctx, model);
    if (open != NULL)
    {
        open->members[open->count++] = &self;
        while (!self.is_done)
            pd_http_task_wait(self.task, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE, PD_DB_WAIT_FOREVER);
    }
    else
    {
        Gathering gathering = {.next = open_gatherings, .model = model, .catalog = ctx->catalog};
        gathering.members[gathering.count++] = &self;
        open_gatherings = &gathering;
        pd_http_task_defer();
        close_gathering(&gathering);
        run_gathering(ctx, &gathering);
    }
    *json = self.json;
    *length = self.length;
    *must_read_alone = self.must_read_alone;
    return self.json != NULL;
}

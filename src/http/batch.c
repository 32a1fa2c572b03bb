/*
 * batch.c - single creates of one model gathered into one multi-row INSERT.
 * A create that may use its loop's group-commit connection
 * (pd_http_db_acquire_create) and finds no batch of its model open becomes
 * a batch's leader: it opens one, waits while the connection's COMMIT in
 * flight is made durable (pd_db_share_await_commit; not at all when none
 * is), closes the batch and sends every object that joined meanwhile as
 * one INSERT (pd_object_create_each) of the next shared transaction, which
 * adds its rows to the row counters itself. Creates of the same model and
 * catalog that arrive while it waits join the batch and park until the
 * leader hands each its own object. Why: a statement costs PostgreSQL far more than a row (its
 * executor start, and the row counters' statement trigger with its
 * transition table), so under load a create's cost falls toward a row's.
 * With no COMMIT in flight the leader sends at once, alone: an idle server
 * answers a create as fast as before. A batch of several whose statement
 * certainly wrote nothing gives every member PD_ERR_ROLLED_BACK, so each
 * runs again alone and gets its own answer (its own 400 included); any other
 * failure (an outcome unknown, or one after the COMMIT) is every member's
 * own, never run again: a row is never written twice. Batches
 * live on their leaders' stacks and in one list per loop thread; members on
 * their own stacks; all of it is touched only by the loop's tasks.
 */
#include <string.h>

#include "loop.h"
#include "prodata/object.h"
#include "server.h"

/* Objects in one INSERT: a statement (and its prepared variants, one per count) stays small. */
#define PD_HTTP_BATCH_MAX 32

/* One create in a batch, on its request's stack. */
typedef struct BatchMember
{
    PdHttpContext *ctx;
    const PdValues *values;
    void *task;       /* its task, to wake */
    const char *json; /* its object, in its own arena */
    PdError err;
    bool is_done;
} BatchMember;

typedef struct Batch Batch;
struct Batch
{
    Batch *next; /* the loop's open batches */
    const PdModel *model;
    const PdHttpCatalog *catalog;
    BatchMember *members[PD_HTTP_BATCH_MAX];
    size_t count;
};

static _Thread_local Batch *open_batches;

static Batch *
find_open(const PdHttpContext *ctx, const PdModel *model)
{
    for (Batch *batch = open_batches; batch != NULL; batch = batch->next)
        if (batch->model == model && batch->catalog == ctx->catalog && batch->count < PD_HTTP_BATCH_MAX)
            return batch;
    return NULL;
}

static void
close_batch(Batch *batch)
{
    for (Batch **link = &open_batches; *link != NULL; link = &(*link)->next)
    {
        if (*link == batch)
        {
            *link = batch->next;
            return;
        }
    }
}

/*
 * Whether a failed statement certainly wrote nothing, so that each member may run again alone: its shared
 * transaction rolled back, the connection broke before the COMMIT went out, the objects were refused
 * before anything was sent, or the database refused the statement (a SQLSTATE: the transaction aborted).
 * Anything else (the result did not fit in memory, fewer rows came back than were sent) may come after the
 * COMMIT: running again would write those rows twice.
 */
static bool
wrote_nothing(const PdError *err)
{
    return err->code == PD_ERR_ROLLED_BACK || (err->code == PD_ERR_DB_GONE && err->is_retryable) ||
           err->code == PD_ERR_INVALID_INPUT || err->sqlstate[0] != '\0';
}

/* What each member gets when the statement failed: PD_ERR_ROLLED_BACK (run again alone) when it wrote
 * nothing, else the leader's error itself (an outcome unknown, or a failure after the COMMIT). */
static void
share_failure(Batch *batch, const PdError *err)
{
    bool is_final = !wrote_nothing(err);
    for (size_t i = 0; i < batch->count; i++)
    {
        BatchMember *member = batch->members[i];
        if (is_final)
            member->err = *err;
        else
            pd_error_set(
                &member->err, PD_ERR_ROLLED_BACK,
                "the create shared a statement that failed; nothing was written: run it again alone");
    }
}

/* Sends the batch's objects as one INSERT on the leader's share. Its statement and answer live in an
 * arena of their own, with the members' budgets together (PD_HTTP_REQUEST_ARENA_BUDGET each): the answer
 * holds every member's object, which must not exhaust the leader's own budget once the rows are written. */
static bool
send_batch(PdHttpContext *leader, PdDb *db, Batch *batch, const char **jsons, PdError *err)
{
    size_t count = batch->count;
    const char *counted_oid = pd_http_db_counted_oid(leader, batch->model, db);
    if (count == 1) /* alone: its refusal mapped to fields, in its own arena */
        return pd_object_create_each(leader->arena, db, &batch->members[0]->values, 1, counted_oid, &jsons[0],
                                     err);
    PdArena *arena = pd_arena_new(count * PD_HTTP_REQUEST_ARENA_BUDGET);
    const PdValues **objects = arena != NULL ? pd_arena_calloc(arena, count, sizeof(*objects)) : NULL;
    if (objects == NULL)
    {
        pd_arena_free(arena);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        objects[i] = batch->members[i]->values;
    bool ok = pd_object_create_each(arena, db, objects, count, counted_oid, jsons, err);
    for (size_t i = 0; ok && i < count; i++) /* each object into its own request's arena */
    {
        BatchMember *member = batch->members[i];
        jsons[i] = pd_arena_strdup(member->ctx->arena, jsons[i]);
        if (jsons[i] == NULL)
            pd_arena_error(member->ctx->arena, &member->err);
    }
    pd_arena_free(arena);
    return ok;
}

/* Sends the batch and hands every member its answer. */
static void
run_batch(PdHttpContext *leader, PdDb *db, Batch *batch)
{
    PdError err;
    pd_error_init(&err);
    size_t count = batch->count;
    const char *jsons[PD_HTTP_BATCH_MAX] = {0};
    bool ok = send_batch(leader, db, batch, jsons, &err);
    if (!ok && pd_http_db_counted_oid(leader, batch->model, db) != NULL)
        pd_http_db_counted_failed(leader, &err); /* a refusal of the count: each runs again alone */
    if (!ok && count == 1)
        batch->members[0]->err = err;
    else if (!ok)
        share_failure(batch, &err);
    for (size_t i = 0; ok && i < count; i++)
        batch->members[i]->json = jsons[i];
    for (size_t i = 0; i < count; i++)
    {
        batch->members[i]->is_done = true;
        if (batch->members[i]->ctx != leader)
            pd_http_task_wake(batch->members[i]->task);
    }
}

/* Joins the open batch and parks until its leader has answered. */
static bool
join(Batch *batch, BatchMember *self, const char **json, PdError *err)
{
    batch->members[batch->count++] = self;
    while (!self->is_done)
        pd_http_task_wait(self->task, PD_DB_NO_SOCKET, PD_DB_WAIT_WAKE, PD_DB_WAIT_FOREVER);
    *json = self->json;
    *err = self->err;
    return self->json != NULL;
}

bool
pd_http_create_batched(PdHttpContext *ctx, const PdModel *model, const PdValues *values, const char **json,
                       PdError *err)
{
    BatchMember self = {.ctx = ctx, .values = values, .task = pd_http_task_self()};
    Batch *open = pd_http_db_may_share_create(ctx) ? find_open(ctx, model) : NULL;
    if (open != NULL)
        return join(open, &self, json, err);
    PdDb *db;
    if (!pd_http_db_acquire_create(ctx, &db, err))
        return false;
    if (!pd_db_is_share(db)) /* no group connection now: a create of its own */
    {
        bool ok = pd_object_create(ctx->arena, db, values, json, err);
        pd_http_db_release(ctx, db);
        return ok;
    }
    Batch batch = {.next = open_batches, .model = model, .catalog = ctx->catalog};
    batch.members[batch.count++] = &self;
    open_batches = &batch;
    pd_db_share_await_commit(db);
    close_batch(&batch);
    run_batch(ctx, db, &batch);
    pd_http_db_release(ctx, db);
    *json = self.json;
    *err = self.err;
    return self.json != NULL;
}

/*
 * batch.c - single creates of one model gathered into one multi-row INSERT.
 * A create that may use its loop's group-commit connection
 * (pd_http_db_acquire_create) and finds no batch of its model open becomes
 * a batch's leader: it opens one, waits while the connection's COMMIT in
 * flight is made durable (pd_db_share_await_commit; not at all when none
 * is), closes the batch and sends every object that joined meanwhile as
 * one INSERT (pd_object_create_each) of the next shared transaction, its
 * rows tallied at once. Creates of the same model and catalog that arrive
 * while it waits join the batch and park until the leader hands each its
 * own object. Why: a statement costs PostgreSQL far more than a row (its
 * executor start, and the row counters' statement trigger with its
 * transition table), so under load a create's cost falls toward a row's.
 * With no COMMIT in flight the leader sends at once, alone: an idle server
 * answers a create as fast as before. A batch of several that fails in any
 * way but "outcome unknown" gives every member PD_ERR_ROLLED_BACK, so each
 * runs again alone and gets its own answer (its own 400 included). Batches
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

/* What each member gets when the statement failed: the leader's error only where running alone again
 * could not help (the COMMIT went out and its outcome is unknown); otherwise PD_ERR_ROLLED_BACK. */
static void
share_failure(Batch *batch, const PdError *err)
{
    bool is_final = err->code == PD_ERR_DB_GONE && !err->is_retryable;
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

/* Sends the batch's objects as one INSERT on the leader's share and hands every member its answer. */
static void
run_batch(PdHttpContext *leader, PdDb *db, Batch *batch)
{
    PdError err = {0};
    size_t count = batch->count;
    const PdValues **objects = pd_arena_calloc(leader->arena, count, sizeof(*objects));
    const char **jsons = pd_arena_calloc(leader->arena, count, sizeof(*jsons));
    bool ok = objects != NULL && jsons != NULL;
    if (!ok)
        pd_arena_error(leader->arena, &err);
    for (size_t i = 0; ok && i < count; i++)
        objects[i] = batch->members[i]->values;
    pd_http_db_tally(leader, batch->model, db, (long long)count);
    if (ok && count == 1)
        ok = pd_object_create(leader->arena, db, objects[0], &jsons[0],
                              &err); /* its refusal mapped to fields */
    else if (ok)
        ok = pd_object_create_each(leader->arena, db, objects, count, jsons, &err);
    if (!ok && count == 1)
        batch->members[0]->err = err;
    else if (!ok)
        share_failure(batch, &err);
    for (size_t i = 0; ok && i < count; i++)
    {
        BatchMember *member = batch->members[i];
        member->json = member->ctx == leader ? jsons[i] : pd_arena_strdup(member->ctx->arena, jsons[i]);
        if (member->json == NULL)
            pd_arena_error(member->ctx->arena, &member->err);
    }
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
        pd_http_db_tally(ctx, model, db, 1);
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

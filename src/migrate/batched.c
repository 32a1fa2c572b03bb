/*
 * batched.c - a backfill that never holds a big table: the statements of a
 * file's "-- +up batched [ROWS]" section run after its transaction commits,
 * each again and again in a transaction of its own with the batch size as
 * $1 (so it changes at most that many rows, under the lock timeout), until a
 * run changes no row. A SELECT before such a statement counts the rows it has
 * to do, for the time left. Each batch commits, so a stop loses at most one
 * batch and the next migrate starts the statement again, which picks up the
 * rows still to do; the statement is written so that a row it changed no
 * longer matches (WHERE new_column IS NULL), and takes its rows with FOR
 * UPDATE SKIP LOCKED so that it never waits for the application's writers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apply.h"
#include "history.h"

bool
pd_batched_is_count(const char *statement)
{
    return strncasecmp(statement, "select", 6) == 0 &&
           (statement[6] == ' ' || statement[6] == '\n' || statement[6] == '\t' || statement[6] == '\r');
}

/* The rows the SELECT before a statement counts; -1 without one (or when it does not give a number). */
static long long
count_to_do(PdArena *arena, PdDb *db, const char *count_sql)
{
    PdDbResult *result;
    PdError ignored;
    if (count_sql == NULL || !pd_db_query(arena, db, count_sql, 0, NULL, &result, &ignored) ||
        pd_db_result_row_count(result) != 1 || pd_db_result_is_null(result, 0, 0))
        return -1;
    return atoll(pd_db_result_value(result, 0, 0));
}

/* One batch in its own transaction: *changed rows; a lock timeout rolls it back (retried by the caller). */
static bool
run_batch(PdArena *arena, PdDb *db, const PdApplySql *sent, const char *rows, const PdMigrateOptions *options,
          long long *changed, PdError *err)
{
    const char *params[] = {rows};
    PdDbResult *result;
    if (pd_db_exec(db, "BEGIN", err) &&
        pd_history_set_lock_timeout(arena, db, options->lock_timeout_ms, true, err) &&
        pd_db_query(arena, db, sent->statement, 1, params, &result, err) && pd_db_exec(db, "COMMIT", err))
    {
        *changed = pd_db_result_affected(result);
        return true;
    }
    PdError ignored;
    pd_db_exec(db, "ROLLBACK", &ignored);
    pd_apply_add_position_context(db, sent, err);
    return false;
}

/*
 * A run that changed nothing may have skipped rows other sessions held
 * (FOR UPDATE SKIP LOCKED): when the count says rows are left, wait 200 ms
 * and go on (*changed -1), for at most lock_wait_ms in all; without a count,
 * nothing left is the statement's word.
 */
static bool
settle_skipped(PdArena *arena, PdDb *db, const char *count_sql, const PdMigrateOptions *options,
               long *waited_ms, long long *changed, PdError *err)
{
    long long left = count_to_do(arena, db, count_sql);
    if (left <= 0)
        return true;
    if (*waited_ms >= options->lock_wait_ms)
    {
        pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "%lld rows stayed locked by other sessions for %ld ms", left,
                     *waited_ms);
        return pd_error_hint(err,
                             "The rows done so far are committed; run migrate again to finish the rest.");
    }
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    *waited_ms += 200;
    *changed = -1;
    return true;
}

bool
pd_batched_run(PdArena *arena, PdDb *db, const PdApplySql *sent, const char *count_sql,
               const PdMigrateOptions *options, PdMigrateReport *report, PdError *err)
{
    const PdMigrationFile *file = sent->file;
    PdArena *batch = pd_arena_new_child(arena, 0);
    if (batch == NULL)
        return pd_arena_error(arena, err);
    char rows[16];
    snprintf(rows, sizeof(rows), "%d", file->batch_rows);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    PdMigrateEvent event = {
        .kind = PD_MIGRATE_BATCH, .migration = file->name, .rows_total = count_to_do(batch, db, count_sql)};
    PdRetry retry;
    pd_apply_begin_lock_retries(&retry, options);
    bool is_done = true;
    long waited_ms = 0;
    /* With a count: once more rows were changed than it said, it must have fallen, or the statement changes
     * rows that still match (no WHERE that the change makes false) and would run for ever. */
    long long last_left = event.rows_total, next_recount = event.rows_total + 1;
    for (long long changed = -1; is_done && changed != 0;)
    {
        pd_arena_reset(batch); /* one batch's results at a time, however many batches */
        if (pd_apply_was_interrupted(options, report, err))
        {
            is_done = false;
            pd_error_detail(err,
                            "%lld rows of the batched statement of %s were done and committed; the next "
                            "migrate goes on with the rest.",
                            event.rows_done, file->name);
            break;
        }
        struct timespec batch_start;
        clock_gettime(CLOCK_MONOTONIC, &batch_start);
        is_done = run_batch(batch, db, sent, rows, options, &changed, err);
        long batch_ms = pd_apply_elapsed_ms(&batch_start);
        event.longest_batch_ms = batch_ms > event.longest_batch_ms ? batch_ms : event.longest_batch_ms;
        if (!is_done && err->code == PD_ERR_LOCK_TIMEOUT && pd_retry_next(&retry, options->is_interrupted))
        {
            is_done = true; /* that batch rolled back; the next try takes its rows again */
            changed = -1;
            continue;
        }
        if (is_done && changed < 0)
        {
            is_done = pd_error_set(err, PD_ERR_INVALID_INPUT,
                                   "%s: a batched statement must change rows "
                                   "(UPDATE, DELETE or INSERT)",
                                   file->path != NULL ? file->path : file->name);
            break;
        }
        if (is_done && changed == 0 &&
            !settle_skipped(batch, db, count_sql, options, &waited_ms, &changed, err))
            is_done = false;
        pd_apply_begin_lock_retries(&retry, options);
        event.rows_done += changed > 0 ? changed : 0;
        if (is_done && changed > 0 && event.rows_total > 0 && event.rows_done >= next_recount)
        {
            long long left = count_to_do(batch, db, count_sql);
            if (left >= 0 && left >= last_left)
            {
                is_done = pd_error_set(err, PD_ERR_INVALID_INPUT,
                                       "%s: the batched statement changed %lld rows, but the rows left to do "
                                       "are %lld, not fewer than %lld",
                                       file->path != NULL ? file->path : file->name, event.rows_done, left,
                                       last_left);
                pd_error_detail(err, "It changes rows that still match it, so it would never end: %.160s",
                                sent->statement);
                pd_error_hint(err,
                              "Make its WHERE false for a row it changed (WHERE c IS NULL, setting c), "
                              "and its count the rows that WHERE matches. The batches done are committed.");
                break;
            }
            last_left = left >= 0 ? left : last_left;
            next_recount = event.rows_done + event.rows_total;
        }
        event.duration_ms = pd_apply_elapsed_ms(&start);
        pd_apply_emit(options, event);
    }
    pd_arena_free(batch);
    if (is_done)
    {
        event.is_batch_done = true;
        event.duration_ms = pd_apply_elapsed_ms(&start);
        pd_apply_emit(options, event);
    }
    return is_done;
}

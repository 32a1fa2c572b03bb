/*
 * backup_pool.c - what backup, restore and verify share to work on many
 * files at once: N threads taking the next task in order (each with an
 * arena of its own, reset after every task) until the tasks run out or one
 * fails, while the caller's thread reports progress; the files of a
 * manifest ordered largest first (so the last to finish is a small one);
 * and a tree written by them made durable by one sync of its file system,
 * then every folder fsynced, deepest first.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "backup.h"
#include "store.h"

/* A worker's arena: a stream's chunk and its compressor's state, reset after each task. */
#define WORKER_ARENA_BYTES (64u << 20)

typedef struct Pool
{
    size_t count;
    PdBackupTaskFn task;
    void *context;
    atomic_size_t next;
    atomic_bool failed;
    atomic_int running;
    pthread_mutex_t lock; /* guards first_error */
    PdError first_error;
} Pool;

static void
fail(Pool *pool, const PdError *err)
{
    pthread_mutex_lock(&pool->lock);
    if (!atomic_exchange(&pool->failed, true))
        pool->first_error = *err;
    pthread_mutex_unlock(&pool->lock);
}

static void *
worker_main(void *context)
{
    Pool *pool = context;
    PdBackupWorker worker = {pd_arena_new(WORKER_ARENA_BYTES), pd_arena_new(WORKER_ARENA_BYTES), NULL};
    PdError err;
    pd_error_init(&err);
    bool is_ready = worker.arena != NULL && worker.lasting != NULL;
    if (!is_ready)
        fail(pool, (pd_error_set(&err, PD_ERR_NO_MEMORY, "out of memory for a worker thread"), &err));
    while (is_ready && !atomic_load(&pool->failed))
    {
        size_t index = atomic_fetch_add(&pool->next, 1);
        if (index >= pool->count)
            break;
        if (!pool->task(pool->context, &worker, index, &err))
            fail(pool, &err);
        pd_arena_reset(worker.arena);
    }
    pd_arena_free(worker.arena);
    pd_arena_free(worker.lasting);
    atomic_fetch_sub(&pool->running, 1);
    return NULL;
}

bool
pd_backup_parallel(size_t count, int jobs, PdBackupTaskFn task, void *context,
                   void (*tick)(void *tick_context), void *tick_context, PdError *err)
{
    Pool pool = {.count = count, .task = task, .context = context};
    atomic_init(&pool.next, 0);
    atomic_init(&pool.failed, false);
    pd_error_init(&pool.first_error);
    pthread_mutex_init(&pool.lock, NULL);
    jobs = jobs < 1 ? 1 : jobs > PD_BACKUP_MAX_JOBS ? PD_BACKUP_MAX_JOBS : jobs;
    atomic_init(&pool.running, jobs);
    pthread_t threads[PD_BACKUP_MAX_JOBS];
    int started = 0;
    while (started < jobs && pthread_create(&threads[started], NULL, worker_main, &pool) == 0)
        started++;
    atomic_fetch_sub(&pool.running, jobs - started); /* those that could not start */
    while (tick != NULL && atomic_load(&pool.running) > 0)
    {
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
        tick(tick_context);
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&pool.lock);
    if (started == 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "could not start a worker thread");
    if (atomic_load(&pool.failed))
        return *err = pool.first_error, false;
    if (atomic_load(&pool.next) < count) /* every task was taken by a worker, or one failed */
        return pd_error_set(err, PD_ERR_INTERNAL, "the workers stopped before the last task");
    return true;
}

/* A file and its size, sorted largest first. */
typedef struct Sized
{
    uint64_t bytes;
    size_t index;
} Sized;

static int
larger_first(const void *a, const void *b)
{
    uint64_t x = ((const Sized *)a)->bytes, y = ((const Sized *)b)->bytes;
    return x < y ? 1 : x > y ? -1 : 0;
}

bool
pd_backup_order_files(PdArena *arena, const PdBackupEntry *entries, size_t count, size_t **order,
                      size_t *file_count, PdError *err)
{
    Sized *sized = pd_arena_calloc(arena, count ? count : 1, sizeof(*sized));
    *order = pd_arena_calloc(arena, count ? count : 1, sizeof(**order));
    if (sized == NULL || *order == NULL)
        return pd_arena_error(arena, err);
    *file_count = 0;
    for (size_t i = 0; i < count; i++)
        if (entries[i].kind == PD_BACKUP_ENTRY_FILE)
            sized[(*file_count)++] = (Sized){entries[i].bytes, i};
    qsort(sized, *file_count, sizeof(*sized), larger_first);
    for (size_t i = 0; i < *file_count; i++)
        (*order)[i] = sized[i].index;
    return true;
}

bool
pd_backup_sync_tree(PdArena *arena, const char *root, const PdBackupEntry *entries, size_t count,
                    PdError *err)
{
    if (!pd_archive_sync_filesystem(root, err))
        return false;
    for (size_t i = count; i-- > 0;)
    {
        if (entries[i].kind != PD_BACKUP_ENTRY_DIR)
            continue;
        const char *dir = pd_archive_join(arena, root, entries[i].path);
        if (dir == NULL)
            return pd_arena_error(arena, err);
        if (!pd_archive_fsync_dir(dir, err))
            return false;
    }
    return pd_archive_fsync_dir(root, err);
}

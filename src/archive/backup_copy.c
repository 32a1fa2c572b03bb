/*
 * backup_copy.c - the files of a backup copied into the repository by N
 * worker threads: each takes the next file (largest first, so the last one
 * to finish is a small one), streams it through payload.c into an archived
 * file (header, zstd or plain, SHA-256) under the backup's data folder,
 * and records its sizes and hash in its entry; one sync of the file system
 * at the end makes them all durable (an fsync per file costs a wait each). Relation files are
 * read through a page observer that checks each page's data checksum
 * (pagecheck.c); a page that fails is read once more (a write may have torn
 * it), and counted bad only if it fails again with an LSN before the
 * backup's start. A file that vanished (a table dropped meanwhile) leaves
 * the backup. The first error stops every worker; the caller's thread
 * reports progress while they run. Each worker owns its arena and error;
 * the entries are shared, each written by the worker that took it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

/* A worker's arena: the stream's chunk and the compressor's state, reset after each file. */
#define WORKER_ARENA_BYTES (64u << 20)

typedef struct Copy
{
    PdBackupCopy *job;
    size_t *order; /* entry indexes of the files, largest first */
    size_t file_count;
    atomic_size_t next; /* the next place in order to take */
    atomic_bool failed; /* a worker failed: the others stop after their current file */
    atomic_uint_fast64_t bytes_done;
    atomic_int running;   /* workers still working */
    pthread_mutex_t lock; /* guards the first error and the bad-page report */
    PdError first_error;
} Copy;

/* The page observer's state for one file. */
typedef struct PageCheck
{
    Copy *copy;
    PdBackupEntry *entry;
    int fd;
    uint32_t first_block;
} PageCheck;

static void
note_bad_page(Copy *copy, const PdBackupEntry *entry, uint32_t blkno)
{
    PdBackupCopy *job = copy->job;
    pthread_mutex_lock(&copy->lock);
    if (job->bad_page_count < PD_BACKUP_BAD_PAGES_SHOWN)
    {
        job->bad_pages[job->bad_page_count].path = entry->path;
        job->bad_pages[job->bad_page_count].block = blkno;
    }
    job->bad_page_count++;
    pthread_mutex_unlock(&copy->lock);
}

/* A page that failed is read again: PostgreSQL may have been writing it while it was read. */
static bool
still_bad(const PageCheck *check, uint64_t offset, uint32_t blkno, uint64_t start_lsn)
{
    unsigned char again[PD_BACKUP_PAGE_BYTES];
    if (pread(check->fd, again, sizeof(again), (off_t)offset) != (ssize_t)sizeof(again))
        return false; /* truncated meanwhile: the WAL says what became of it */
    return pd_backup_check_page(again, blkno, start_lsn) == PD_PAGE_BAD;
}

static bool
check_pages(void *context, const unsigned char *bytes, size_t length, uint64_t offset, PdError *err)
{
    (void)err;
    PageCheck *check = context;
    uint64_t start_lsn = check->copy->job->start_lsn;
    for (size_t at = 0; at + PD_BACKUP_PAGE_BYTES <= length; at += PD_BACKUP_PAGE_BYTES)
    {
        uint32_t blkno = check->first_block + (uint32_t)((offset + at) / PD_BACKUP_PAGE_BYTES);
        if (pd_backup_check_page(bytes + at, blkno, start_lsn) == PD_PAGE_BAD &&
            still_bad(check, offset + at, blkno, start_lsn))
        {
            check->entry->bad_pages++;
            note_bad_page(check->copy, check->entry, blkno);
        }
    }
    atomic_fetch_add(&check->copy->bytes_done, length);
    return true;
}

static bool
count_bytes(void *context, const unsigned char *bytes, size_t length, uint64_t offset, PdError *err)
{
    (void)bytes, (void)offset, (void)err;
    atomic_fetch_add(&((Copy *)context)->bytes_done, length);
    return true;
}

/* Streams the open source into dest_path: header placeholder, payload, the header (made durable later, all
 * files at once: pd_backup_copy). */
static bool
store_file(PdArena *arena, Copy *copy, PdBackupEntry *entry, int in_fd, const char *source, const char *dest,
           PdError *err)
{
    PdBackupCopy *job = copy->job;
    int out_fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out_fd < 0)
        return pd_archive_io_error(err, "create", dest);
    PdArchiveHeader header = {.compress = job->compress};
    uint32_t segment;
    PageCheck check = {copy, entry, in_fd, 0};
    bool is_relation = job->check_pages && pd_backup_is_relation_file(entry->path, &segment);
    if (is_relation)
        check.first_block = segment * PD_BACKUP_SEGMENT_BLOCKS;
    bool ok = lseek(out_fd, PD_ARCHIVE_HEADER_BYTES, SEEK_SET) == PD_ARCHIVE_HEADER_BYTES &&
              pd_archive_stream_in_observed(arena, in_fd, source, entry->bytes, out_fd, dest,
                                            job->compress_level, is_relation ? check_pages : count_bytes,
                                            is_relation ? (void *)&check : (void *)copy, &header, err);
    unsigned char encoded[PD_ARCHIVE_HEADER_BYTES];
    if (ok)
    {
        pd_archive_header_encode(&header, encoded);
        ok = pwrite(out_fd, encoded, sizeof(encoded), 0) == (ssize_t)sizeof(encoded) ||
             pd_archive_io_error(err, "write the header of", dest);
    }
    if (close(out_fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", dest);
    if (ok)
    {
        entry->bytes = header.original_bytes;
        entry->stored_bytes = header.stored_bytes;
        memcpy(entry->sha256, header.sha256, sizeof(entry->sha256));
    }
    return ok;
}

static bool
copy_one(PdArena *arena, Copy *copy, PdBackupEntry *entry, PdError *err)
{
    PdBackupCopy *job = copy->job;
    const char *source = pd_archive_join(arena, job->data_dir, entry->path);
    const char *dest = pd_archive_join(arena, job->dest_dir, entry->path);
    if (source == NULL || dest == NULL)
        return pd_arena_error(arena, err);
    int in_fd = open(source, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0)
    {
        if (errno != ENOENT)
            return pd_archive_io_error(err, "open", source);
        entry->is_vanished = true; /* dropped since the walk: replaying the WAL drops it too */
        return true;
    }
    bool ok = store_file(arena, copy, entry, in_fd, source, dest, err);
    close(in_fd);
    return ok;
}

static void
fail(Copy *copy, const PdError *err)
{
    pthread_mutex_lock(&copy->lock);
    if (!atomic_exchange(&copy->failed, true))
        copy->first_error = *err;
    pthread_mutex_unlock(&copy->lock);
}

static void *
worker_main(void *context)
{
    Copy *copy = context;
    PdArena *arena = pd_arena_new(WORKER_ARENA_BYTES);
    PdError err;
    pd_error_init(&err);
    if (arena == NULL)
    {
        pd_error_set(&err, PD_ERR_NO_MEMORY, "out of memory for a backup worker");
        fail(copy, &err);
        atomic_fetch_sub(&copy->running, 1);
        return NULL;
    }
    while (!atomic_load(&copy->failed))
    {
        size_t place = atomic_fetch_add(&copy->next, 1);
        if (place >= copy->file_count)
            break;
        if (!copy_one(arena, copy, &copy->job->entries[copy->order[place]], &err))
            fail(copy, &err);
        pd_arena_reset(arena);
    }
    pd_arena_free(arena);
    atomic_fetch_sub(&copy->running, 1);
    return NULL;
}

/* A file to copy and its size, sorted largest first. */
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

/* The folders of the backup's data, in walk order (a parent before its children), then the file order. */
static bool
prepare(PdArena *arena, Copy *copy, PdError *err)
{
    PdBackupCopy *job = copy->job;
    if (mkdir(job->dest_dir, 0700) != 0)
        return pd_archive_io_error(err, "create", job->dest_dir);
    size_t slots = job->entry_count ? job->entry_count : 1;
    Sized *sized = pd_arena_calloc(arena, slots, sizeof(*sized));
    copy->order = pd_arena_calloc(arena, slots, sizeof(*copy->order));
    if (sized == NULL || copy->order == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < job->entry_count; i++)
    {
        PdBackupEntry *entry = &job->entries[i];
        if (entry->kind == PD_BACKUP_ENTRY_FILE)
        {
            sized[copy->file_count++] = (Sized){entry->bytes, i};
            continue;
        }
        const char *dir = pd_archive_join(arena, job->dest_dir, entry->path);
        if (dir == NULL)
            return pd_arena_error(arena, err);
        if (mkdir(dir, 0700) != 0)
            return pd_archive_io_error(err, "create", dir);
    }
    qsort(sized, copy->file_count, sizeof(*sized), larger_first);
    for (size_t i = 0; i < copy->file_count; i++)
        copy->order[i] = sized[i].index;
    return true;
}

/* The files made durable by one sync of their file system, then every folder fsynced, deepest first. */
static bool
sync_dirs(PdArena *arena, const PdBackupCopy *job, PdError *err)
{
    if (!pd_archive_sync_filesystem(job->dest_dir, err))
        return false;
    for (size_t i = job->entry_count; i-- > 0;)
    {
        if (job->entries[i].kind != PD_BACKUP_ENTRY_DIR)
            continue;
        const char *dir = pd_archive_join(arena, job->dest_dir, job->entries[i].path);
        if (dir == NULL)
            return pd_arena_error(arena, err);
        if (!pd_archive_fsync_dir(dir, err))
            return false;
    }
    return pd_archive_fsync_dir(job->dest_dir, err);
}

/* Progress every 200 ms while the workers run, then every worker joined. */
static void
report_until_done(Copy *copy, pthread_t *threads, int started)
{
    PdBackupCopy *job = copy->job;
    while (job->progress != NULL && atomic_load(&copy->running) > 0)
    {
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
        job->progress(job->progress_context, atomic_load(&copy->bytes_done));
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}

bool
pd_backup_copy(PdArena *arena, PdBackupCopy *job, PdError *err)
{
    Copy copy = {.job = job};
    atomic_init(&copy.next, 0);
    atomic_init(&copy.failed, false);
    atomic_init(&copy.bytes_done, 0);
    pd_error_init(&copy.first_error);
    if (!prepare(arena, &copy, err))
        return false;
    pthread_mutex_init(&copy.lock, NULL);
    int jobs = job->jobs < 1 ? 1 : job->jobs > PD_BACKUP_MAX_JOBS ? PD_BACKUP_MAX_JOBS : job->jobs;
    pthread_t threads[PD_BACKUP_MAX_JOBS];
    int started = 0;
    atomic_init(&copy.running, jobs);
    while (started < jobs && pthread_create(&threads[started], NULL, worker_main, &copy) == 0)
        started++;
    atomic_fetch_sub(&copy.running, jobs - started); /* those that could not start */
    if (started == 0)
    {
        pthread_mutex_destroy(&copy.lock);
        return pd_error_set(err, PD_ERR_INTERNAL, "could not start a backup worker thread");
    }
    report_until_done(&copy, threads, started);
    pthread_mutex_destroy(&copy.lock);
    if (atomic_load(&copy.failed))
    {
        *err = copy.first_error;
        return false;
    }
    job->bytes_done = atomic_load(&copy.bytes_done);
    return sync_dirs(arena, job, err);
}

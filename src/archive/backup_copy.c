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
 * the backup. The threads are backup_pool.c's: the first error stops them,
 * the caller's thread reports progress meanwhile. The entries are shared,
 * each written by the worker that took it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

typedef struct Copy
{
    PdBackupCopy *job;
    size_t *order; /* entry indexes of the files, largest first */
    size_t file_count;
    atomic_uint_fast64_t bytes_done;
    pthread_mutex_t lock; /* guards the bad-page report */
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

/* One task of the pool: the file at place in the order. */
static bool
copy_task(void *context, PdArena *arena, size_t place, PdError *err)
{
    Copy *copy = context;
    return copy_one(arena, copy, &copy->job->entries[copy->order[place]], err);
}

/* The folders of the backup's data, in walk order (a parent before its children), then the file order. */
static bool
prepare(PdArena *arena, Copy *copy, PdError *err)
{
    PdBackupCopy *job = copy->job;
    if (mkdir(job->dest_dir, 0700) != 0)
        return pd_archive_io_error(err, "create", job->dest_dir);
    for (size_t i = 0; i < job->entry_count; i++)
    {
        if (job->entries[i].kind != PD_BACKUP_ENTRY_DIR)
            continue;
        const char *dir = pd_archive_join(arena, job->dest_dir, job->entries[i].path);
        if (dir == NULL)
            return pd_arena_error(arena, err);
        if (mkdir(dir, 0700) != 0)
            return pd_archive_io_error(err, "create", dir);
    }
    return pd_backup_order_files(arena, job->entries, job->entry_count, &copy->order, &copy->file_count, err);
}

static void
tick(void *context)
{
    Copy *copy = context;
    copy->job->progress(copy->job->progress_context, atomic_load(&copy->bytes_done));
}

bool
pd_backup_copy(PdArena *arena, PdBackupCopy *job, PdError *err)
{
    Copy copy = {.job = job};
    atomic_init(&copy.bytes_done, 0);
    if (!prepare(arena, &copy, err))
        return false;
    pthread_mutex_init(&copy.lock, NULL);
    bool ok = pd_backup_parallel(copy.file_count, job->jobs, copy_task, &copy,
                                 job->progress != NULL ? tick : NULL, &copy, err);
    pthread_mutex_destroy(&copy.lock);
    job->bytes_done = atomic_load(&copy.bytes_done);
    return ok && pd_backup_sync_tree(arena, job->dest_dir, job->entries, job->entry_count, err);
}

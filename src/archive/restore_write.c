/*
 * restore_write.c - a restore's plan (restore_plan.c) carried out: the files
 * stored in blocks created at their size, then every task on N threads (a
 * file stored whole streamed and checked against its size and SHA-256, or a
 * window of 128 pages gathered from the runs that own its pages and written
 * at once), and global/pg_control written last, so that a directory a failed
 * restore leaves behind is never taken for a cluster. A delta restore
 * (--delta) writes into a directory that already holds the cluster: a file
 * whose size and SHA-256 match is kept, and a window whose pages on disk all
 * have the hashes the newest copy's map records is neither decompressed nor
 * written; only what differs reaches the disk.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore_plan.h"
#include "store.h"

#define WINDOW_BYTES ((size_t)PD_BLOCKFILE_RUN_PAGES * PD_BACKUP_PAGE_BYTES)

/* The pool's context. */
typedef struct Writing
{
    PdRestoreWrite *job;
    atomic_uint_fast64_t written, kept;
} Writing;

static bool
mismatch(PdError *err, const char *path, const char *what)
{
    pd_error_set(err, PD_ERR_REFUSED, "backup file %s does not match its manifest: %s", path, what);
    pd_error_hint(err, "The repository is damaged: restore another backup (prodata backup list).");
    return false;
}

/* Whether the file at path already holds entry's bytes (its size and SHA-256): a delta restore keeps it. */
static bool
holds_already(PdArena *arena, const char *path, const PdBackupEntry *entry, bool *is_same, PdError *err)
{
    struct stat st;
    *is_same = false;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != entry->bytes)
        return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_archive_io_error(err, "open", path);
    PdArchiveHeader header = {.compress = PD_ARCHIVE_COMPRESS_NONE};
    bool ok = pd_archive_stream_in(arena, fd, path, entry->bytes, NULL, 0, &header, err);
    close(fd);
    *is_same = ok && header.original_bytes == entry->bytes &&
               memcmp(header.sha256, entry->sha256, sizeof(header.sha256)) == 0;
    return ok;
}

/* A file stored whole: one stream, checked against the manifest's size and SHA-256 as it is written. */
static bool
restore_whole(PdArena *arena, Writing *writing, const PdRestoreFile *file, PdError *err)
{
    const PdBackupEntry *entry = file->entry;
    bool is_same = false;
    if (writing->job->is_delta && !holds_already(arena, file->dest, entry, &is_same, err))
        return false;
    if (is_same)
        return atomic_fetch_add(&writing->kept, entry->bytes),
               chmod(file->dest, entry->mode & 0777) == 0 || pd_archive_io_error(err, "chmod", file->dest);
    PdSealIn in;
    if (!pd_seal_in_open_path(arena, writing->job->plan->key, file->whole, NULL, &in, err))
        return false;
    int in_fd = in.fd;
    int flags = writing->job->is_delta ? O_TRUNC : O_EXCL;
    int out_fd = open(file->dest, O_WRONLY | O_CREAT | flags | O_CLOEXEC, entry->mode & 0777);
    if (out_fd < 0)
    {
        close(in_fd);
        return pd_archive_io_error(err, "create", file->dest);
    }
    PdArchiveHeader header;
    bool ok = pd_archive_stream_out_durable(arena, &in, out_fd, file->dest, true, &header, err);
    if (ok && header.original_bytes != entry->bytes)
        ok = mismatch(err, file->whole, "its size differs");
    if (ok && memcmp(header.sha256, entry->sha256, sizeof(header.sha256)) != 0)
        ok = mismatch(err, file->whole, "its SHA-256 differs");
    close(in_fd);
    if (close(out_fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", file->dest);
    if (ok)
        atomic_fetch_add(&writing->written, entry->bytes);
    return ok;
}

static bool
write_at(int fd, const unsigned char *bytes, size_t length, uint64_t offset, const char *path, PdError *err)
{
    while (length > 0)
    {
        ssize_t done = pwrite(fd, bytes, length, (off_t)offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return pd_archive_io_error(err, "write", path);
        bytes += done, offset += (uint64_t)done, length -= (size_t)done;
    }
    return true;
}

/* Copies the pages of a run (one after the other in pages) that its source owns into window, the file's pages
 * from window_start on. */
static void
place_owned(const PdRestoreFile *file, uint32_t source, const PdBlockRun *run, const unsigned char *pages,
            uint64_t window_start, uint64_t span, unsigned char *window)
{
    uint32_t k = 0; /* the page's place among the run's pages */
    for (uint32_t i = 0; i < run->span; i++)
    {
        if (!pd_blockfile_has(run, i))
            continue;
        uint64_t at = run->first_block + (uint64_t)i - window_start;
        if (at < span && file->owner[window_start + at] == source)
            memcpy(window + at * PD_BACKUP_PAGE_BYTES, pages + (size_t)k * PD_BACKUP_PAGE_BYTES,
                   PD_BACKUP_PAGE_BYTES);
        k++;
    }
}

/* Whether the run holds every one of the first span pages of its window. */
static bool
holds_first(const PdBlockRun *run, uint64_t span)
{
    for (uint32_t i = 0; i < span; i++)
        if (!pd_blockfile_has(run, i))
            return false;
    return true;
}

/* A worker's buffers, made by its first task and reused by the others: no allocation per window. */
typedef struct Buffers
{
    PdBlockReader reader;
    const PdArchiveKey *key;  /* the repository's */
    unsigned char *assembled; /* a window of PD_BLOCKFILE_RUN_PAGES pages */
    unsigned char *existing;  /* delta: the window as the directory holds it */
} Buffers;

static Buffers *
worker_buffers(PdBackupWorker *worker, const PdArchiveKey *key, PdError *err)
{
    if (worker->state != NULL)
        return worker->state;
    Buffers *buffers = pd_arena_calloc(worker->lasting, 1, sizeof(*buffers));
    if (buffers == NULL || (buffers->assembled = pd_arena_alloc(worker->lasting, WINDOW_BYTES)) == NULL ||
        (buffers->existing = pd_arena_alloc(worker->lasting, WINDOW_BYTES)) == NULL)
        return pd_arena_error(worker->lasting, err), NULL;
    if (!pd_blockfile_reader(worker->lasting, &buffers->reader, err))
        return NULL;
    buffers->key = key;
    return worker->state = buffers;
}

/* Reads the run of a piece, checked against its SHA-256. */
static bool
read_piece(Buffers *buffers, const PdRestoreFile *file, const PdRestorePiece *piece, PdError *err)
{
    const PdRestoreSource *from = &file->sources[piece->source];
    PdSealIn in;
    if (!pd_seal_in_open_path(NULL, buffers->key, from->path, buffers->reader.seal_scratch, &in, err))
        return false;
    bool ok = pd_blockfile_read_run(&buffers->reader, &in, &from->map, &from->map.runs[piece->run], err);
    close(in.fd);
    return ok;
}

/* Reads what the file holds at offset (length bytes; fewer when it is shorter: the rest zeros). */
static bool
read_existing(int fd, unsigned char *into, size_t length, uint64_t offset, const char *path, PdError *err)
{
    size_t got;
    if (!pd_archive_read_full_at(fd, into, length, (int64_t)offset, &got, path, err))
        return false;
    memset(into + got, 0, length - got);
    return true;
}

/* Whether the file holds the window already: every page's hash is the newest copy's hash of that page (the
 * newest copy's map hashes every page of the file, stored in it or not). */
static bool
in_place(const Buffers *buffers, int fd, const PdRestoreTask *task, bool *is_same, PdError *err)
{
    const uint64_t *expected = task->file->sources[0].map.page_hashes;
    uint64_t start = (uint64_t)task->window * PD_BLOCKFILE_RUN_PAGES;
    uint64_t span = task->bytes / PD_BACKUP_PAGE_BYTES;
    *is_same = false;
    if (!read_existing(fd, buffers->existing, (size_t)task->bytes, start * PD_BACKUP_PAGE_BYTES,
                       task->file->dest, err))
        return false;
    for (uint64_t i = 0; i < span; i++)
        if (pd_blockfile_page_hash(buffers->existing + i * PD_BACKUP_PAGE_BYTES) != expected[start + i])
            return true;
    *is_same = true;
    return true;
}

/* The window's pages, gathered into the buffers (or left in the reader when one run holds them all). */
static bool
gather(Buffers *buffers, const PdRestoreTask *task, const unsigned char **window, PdError *err)
{
    const PdRestoreFile *file = task->file;
    const PdRestorePiece *pieces = &file->pieces[task->first_piece];
    uint64_t start = (uint64_t)task->window * PD_BLOCKFILE_RUN_PAGES;
    uint64_t span = task->bytes / PD_BACKUP_PAGE_BYTES;
    const PdBlockRun *only = &file->sources[pieces[0].source].map.runs[pieces[0].run];
    if (task->piece_count == 1 && holds_first(only, span)) /* the run is the window as it is */
    {
        *window = buffers->reader.pages;
        return read_piece(buffers, file, &pieces[0], err);
    }
    for (uint32_t p = 0; p < task->piece_count; p++)
    {
        const PdBlockRun *run = &file->sources[pieces[p].source].map.runs[pieces[p].run];
        if (!read_piece(buffers, file, &pieces[p], err))
            return false;
        place_owned(file, pieces[p].source, run, buffers->reader.pages, start, span, buffers->assembled);
    }
    *window = buffers->assembled;
    return true;
}

/*
 * One window of a file: gathered from the runs that own its pages and written with one write (writeback
 * started, so the final sync waits for little); in a delta restore, left alone when the file holds it
 * already.
 */
static bool
restore_window(PdBackupWorker *worker, Writing *writing, const PdRestoreTask *task, PdError *err)
{
    const PdRestoreFile *file = task->file;
    uint64_t offset = (uint64_t)task->window * PD_BLOCKFILE_RUN_PAGES * PD_BACKUP_PAGE_BYTES;
    Buffers *buffers = worker_buffers(worker, writing->job->plan->key, err);
    if (buffers == NULL)
        return false;
    int fd = open(file->dest, (writing->job->is_delta ? O_RDWR : O_WRONLY) | O_CLOEXEC);
    if (fd < 0)
        return pd_archive_io_error(err, "open", file->dest);
    bool is_same = false;
    const unsigned char *window = NULL;
    bool ok = !writing->job->is_delta || in_place(buffers, fd, task, &is_same, err);
    ok = ok && (is_same || gather(buffers, task, &window, err));
    if (ok && !is_same && (ok = write_at(fd, window, (size_t)task->bytes, offset, file->dest, err)))
        (void)sync_file_range(fd, (off_t)offset, (off_t)task->bytes, SYNC_FILE_RANGE_WRITE);
    if (close(fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", file->dest);
    if (ok)
        atomic_fetch_add(is_same ? &writing->kept : &writing->written, task->bytes);
    return ok;
}

/* One task of the pool: a whole file, or one window. */
static bool
restore_task(void *context, PdBackupWorker *worker, size_t index, PdError *err)
{
    Writing *writing = context;
    const PdRestoreTask *task = &writing->job->plan->tasks[index];
    if (task->file->whole != NULL)
        return restore_whole(worker->arena, writing, task->file, err);
    return restore_window(worker, writing, task, err);
}

/* The files stored in blocks, created at their size first (a delta keeps what they hold): their windows are
 * then written in any order. */
static bool
create_files(const PdRestoreWrite *job, PdError *err)
{
    for (size_t i = 0; i < job->plan->file_count; i++)
    {
        const PdRestoreFile *file = &job->plan->files[i];
        if (file->whole != NULL)
            continue;
        int fd = open(file->dest, O_WRONLY | O_CREAT | (job->is_delta ? 0 : O_EXCL) | O_CLOEXEC,
                      file->entry->mode & 0777);
        if (fd < 0)
            return pd_archive_io_error(err, "create", file->dest);
        bool ok =
            ftruncate(fd, (off_t)file->entry->bytes) == 0 || pd_archive_io_error(err, "size", file->dest);
        ok = ok &&
             (fchmod(fd, file->entry->mode & 0777) == 0 || pd_archive_io_error(err, "chmod", file->dest));
        if (close(fd) != 0 && ok)
            ok = pd_archive_io_error(err, "close", file->dest);
        if (!ok)
            return false;
    }
    return true;
}

bool
pd_restore_write(PdArena *arena, PdRestoreWrite *job, PdError *err)
{
    Writing writing = {.job = job};
    atomic_init(&writing.written, 0);
    atomic_init(&writing.kept, 0);
    bool ok = create_files(job, err) &&
              pd_backup_parallel(job->plan->task_count, job->jobs, restore_task, &writing, NULL, NULL, err);
    if (ok && job->plan->control != NULL) /* last: until it is there, the directory is no cluster */
        ok = restore_whole(arena, &writing, job->plan->control, err);
    job->bytes_written = atomic_load(&writing.written);
    job->bytes_kept = atomic_load(&writing.kept);
    return ok;
}

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
#include "blockfile.h"
#include "prodata/strmap.h"
#include "store.h"

typedef struct Copy
{
    PdBackupCopy *job;
    size_t *order; /* entry indexes of the files, largest first */
    size_t file_count;
    atomic_uint_fast64_t bytes_done;
    atomic_uint_fast64_t pages_read, pages_stored; /* of relation files */
    pthread_mutex_t lock;                          /* guards the bad-page report */
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

/* Checks the data checksum of the page at offset of the file (block blkno of its relation fork). */
static void
check_page(PageCheck *check, const unsigned char *page, uint64_t offset)
{
    uint64_t start_lsn = check->copy->job->start_lsn;
    uint32_t blkno = check->first_block + (uint32_t)(offset / PD_BACKUP_PAGE_BYTES);
    if (pd_backup_check_page(page, blkno, start_lsn) == PD_PAGE_BAD &&
        still_bad(check, offset, blkno, start_lsn))
    {
        check->entry->bad_pages++;
        note_bad_page(check->copy, check->entry, blkno);
    }
}

static bool
count_bytes(void *context, const unsigned char *bytes, size_t length, uint64_t offset, PdError *err)
{
    (void)bytes, (void)offset, (void)err;
    atomic_fetch_add(&((Copy *)context)->bytes_done, length);
    return true;
}

/* The prior backup's entry for path, when this backup is a diff or incr and the prior has that file. */
static const PdBackupEntry *
prior_entry(const Copy *copy, const char *path)
{
    const PdBackupEntry *prior =
        copy->job->prior_files != NULL ? pd_strmap_get(copy->job->prior_files, path) : NULL;
    return prior != NULL && prior->kind == PD_BACKUP_ENTRY_FILE ? prior : NULL;
}

/* The file unchanged since the prior backup: what was stored is removed, and the entry points at the prior
 * backup's copy (which may itself be a reference). */
static bool
refer_to_prior(const Copy *copy, PdBackupEntry *entry, const PdBackupEntry *prior, const char *dest,
               PdError *err)
{
    if (unlink(dest) != 0)
        return pd_archive_io_error(err, "remove", dest);
    entry->bytes = prior->bytes;
    entry->stored_bytes = prior->stored_bytes;
    memcpy(entry->sha256, prior->sha256, sizeof(entry->sha256));
    entry->storage = prior->storage;
    entry->is_partial = prior->is_partial;
    entry->reference = prior->reference != NULL ? prior->reference : copy->job->prior->label;
    return true;
}

/* Streams the open source into dest_path: header placeholder, payload, the header (made durable later, all
 * files at once: pd_backup_copy). */
static bool
store_whole(PdArena *arena, Copy *copy, PdBackupEntry *entry, int in_fd, const char *source, const char *dest,
            PdError *err)
{
    PdBackupCopy *job = copy->job;
    int out_fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out_fd < 0)
        return pd_archive_io_error(err, "create", dest);
    PdArchiveHeader header = {.compress = job->compress};
    PdSealOut stored;
    bool ok = pd_seal_out_open(arena, job->key, out_fd, dest, NULL, &stored, err) &&
              pd_archive_stream_in_observed(arena, in_fd, source, entry->bytes, &stored, job->compress_level,
                                            count_bytes, copy, &header, err);
    unsigned char encoded[PD_ARCHIVE_HEADER_BYTES];
    if (ok)
    {
        pd_archive_header_encode(&header, encoded);
        ok = pd_seal_out_close(&stored, encoded, err);
    }
    if (close(out_fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", dest);
    if (!ok)
        return false;
    const PdBackupEntry *prior = prior_entry(copy, entry->path);
    if (prior != NULL && prior->storage == PD_BACKUP_STORE_WHOLE && prior->bytes == header.original_bytes &&
        memcmp(prior->sha256, header.sha256, sizeof(header.sha256)) == 0)
        return refer_to_prior(copy, entry, prior, dest, err);
    entry->storage = PD_BACKUP_STORE_WHOLE;
    entry->bytes = header.original_bytes;
    entry->stored_bytes = header.stored_bytes;
    memcpy(entry->sha256, header.sha256, sizeof(entry->sha256));
    return true;
}

/* What a relation file's copy decides, page by page: which pages to store. */
typedef struct Relation
{
    PageCheck check;
    const PdBackupEntry *base;   /* the prior backup's copy the stored pages go over; NULL: store them all */
    const uint64_t *base_hashes; /* the hash of each of its pages */
    uint64_t base_pages;         /* its pages: every page past them is stored */
    uint64_t pages_stored;
    unsigned char *packed; /* with a base: the pages of a chunk to store, one after the other */
} Relation;

/*
 * The prior backup's copy of the file as the base of a partial one: its map read for its page hashes (from
 * the backup that stores it, the map checked against the prior's manifest). Without a copy in blocks, or one
 * that does not read, there is no base: every page is stored, which is always right.
 */
static void
load_base(PdArena *arena, const Copy *copy, const PdBackupEntry *prior, Relation *relation)
{
    if (prior == NULL || prior->storage != PD_BACKUP_STORE_BLOCKS)
        return;
    const char *label = prior->reference != NULL ? prior->reference : copy->job->prior->label;
    char *dir = pd_backup_dir(arena, copy->job->repo, label);
    char *data = dir != NULL ? pd_archive_join(arena, dir, "data") : NULL;
    char *path = data != NULL ? pd_archive_join(arena, data, prior->path) : NULL;
    PdSealIn in = {.fd = -1};
    PdBlockMap map;
    PdError ignored;
    pd_error_init(&ignored);
    bool is_open = path != NULL && pd_seal_in_open_path(arena, copy->job->key, path, NULL, &in, &ignored);
    if (is_open && pd_blockfile_read_map(arena, &in, &map, &ignored) &&
        memcmp(map.sha256, prior->sha256, sizeof(map.sha256)) == 0 && map.file_bytes == prior->bytes)
    {
        relation->base = prior;
        relation->base_hashes = map.page_hashes;
        relation->base_pages = map.file_bytes / PD_BACKUP_PAGE_BYTES;
    }
    if (is_open)
        close(in.fd);
}

/*
 * One chunk of whole pages read at offset (PD_BLOCKFILE_RUN_PAGES pages at most, starting a window): each
 * page checked and hashed; with a base, only the pages whose content differs from the base's (by their hash)
 * or that lie past its end are stored, as one run (packed one after the other when some are left out).
 */
static bool
store_chunk(Relation *relation, PdBlockWriter *writer, const unsigned char *chunk, size_t pages,
            uint64_t offset, PdError *err)
{
    uint64_t first = offset / PD_BACKUP_PAGE_BYTES;
    uint64_t present[2] = {0, 0}, hashes[PD_BLOCKFILE_RUN_PAGES];
    size_t kept = 0;
    for (size_t i = 0; i < pages; i++)
    {
        const unsigned char *page = chunk + i * PD_BACKUP_PAGE_BYTES;
        if (relation->check.copy->job->check_pages)
            check_page(&relation->check, page, offset + i * PD_BACKUP_PAGE_BYTES);
        hashes[i] = pd_blockfile_page_hash(page);
        if (relation->base == NULL || first + i >= relation->base_pages ||
            hashes[i] != relation->base_hashes[first + i])
            present[i / 64] |= UINT64_C(1) << (i % 64), kept++;
    }
    if (!pd_blockfile_hashes(writer, hashes, pages, err))
        return false;
    if (kept == 0)
        return true;
    relation->pages_stored += kept;
    if (kept == pages)
        return pd_blockfile_add(writer, (uint32_t)first, (uint32_t)pages, present, chunk, err);
    for (size_t i = 0, k = 0; i < pages; i++) /* the pages kept, one after the other */
        if (present[i / 64] >> (i % 64) & 1)
            memcpy(relation->packed + PD_BACKUP_PAGE_BYTES * k++, chunk + i * PD_BACKUP_PAGE_BYTES,
                   PD_BACKUP_PAGE_BYTES);
    return pd_blockfile_add(writer, (uint32_t)first, (uint32_t)pages, present, relation->packed, err);
}

/* Reads the relation file a chunk at a time into the writer (whole pages: a page still being extended is left
 * out, the WAL replayed from the backup's start writes it). */
static bool
read_relation(PdArena *arena, Relation *relation, PdBlockWriter *writer, const char *source, PdError *err)
{
    unsigned char *chunk = pd_arena_alloc(arena, PD_ARCHIVE_CHUNK_BYTES);
    relation->packed = relation->base != NULL ? pd_arena_alloc(arena, PD_ARCHIVE_CHUNK_BYTES) : chunk;
    if (chunk == NULL || relation->packed == NULL)
        return pd_arena_error(arena, err);
    uint64_t offset = 0;
    size_t got;
    do
    {
        if (!pd_archive_read_full(relation->check.fd, chunk, PD_ARCHIVE_CHUNK_BYTES, &got, source, err) ||
            !store_chunk(relation, writer, chunk, got / PD_BACKUP_PAGE_BYTES, offset, err))
            return false;
        offset += got / PD_BACKUP_PAGE_BYTES * PD_BACKUP_PAGE_BYTES;
        atomic_fetch_add(&relation->check.copy->bytes_done, got);
    } while (got == PD_ARCHIVE_CHUNK_BYTES);
    atomic_fetch_add(&relation->check.copy->pages_read, offset / PD_BACKUP_PAGE_BYTES);
    atomic_fetch_add(&relation->check.copy->pages_stored, relation->pages_stored);
    return true;
}

/*
 * A relation file as runs of pages (blockfile.c), each page's checksum checked and its hash recorded. In a
 * diff or incr, a file the prior backup holds in blocks stores only the pages whose content changed
 * (partial); a file with no page changed is removed again and referenced.
 */
static bool
store_blocks(PdArena *arena, Copy *copy, PdBackupEntry *entry, int in_fd, const char *source,
             const char *dest, uint32_t segment, PdError *err)
{
    PdBackupCopy *job = copy->job;
    const PdBackupEntry *prior = prior_entry(copy, entry->path);
    Relation relation = {.check = {copy, entry, in_fd, segment * PD_BACKUP_SEGMENT_BLOCKS}};
    load_base(arena, copy, prior, &relation);
    int out_fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out_fd < 0)
        return pd_archive_io_error(err, "create", dest);
    PdBlockWriter writer;
    PdBlockMap map;
    PdSealOut stored;
    bool ok = pd_seal_out_open(arena, job->key, out_fd, dest, NULL, &stored, err) &&
              pd_blockfile_begin(arena, &writer, &stored, job->compress, job->compress_level, err) &&
              read_relation(arena, &relation, &writer, source, err) &&
              pd_blockfile_finish(&writer, &map, err);
    if (close(out_fd) != 0 && ok)
        ok = pd_archive_io_error(err, "close", dest);
    if (!ok)
        return false;
    if (relation.base != NULL && relation.pages_stored == 0 && map.file_bytes == prior->bytes)
        return refer_to_prior(copy, entry, prior, dest, err);
    entry->storage = PD_BACKUP_STORE_BLOCKS;
    entry->is_partial = relation.base != NULL;
    entry->bytes = map.file_bytes;
    entry->stored_bytes = map.stored_bytes;
    memcpy(entry->sha256, map.sha256, sizeof(entry->sha256));
    return true;
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
    uint32_t segment;
    bool ok = pd_backup_is_relation_file(entry->path, &segment)
                  ? store_blocks(arena, copy, entry, in_fd, source, dest, segment, err)
                  : store_whole(arena, copy, entry, in_fd, source, dest, err);
    close(in_fd);
    return ok;
}

/* One task of the pool: the file at place in the order. */
static bool
copy_task(void *context, PdBackupWorker *worker, size_t place, PdError *err)
{
    Copy *copy = context;
    return copy_one(worker->arena, copy, &copy->job->entries[copy->order[place]], err);
}

/* The folders of the backup's data, in walk order (a parent before its children; a tablespace's link is a
 * folder in the repository), then the file order. */
static bool
prepare(PdArena *arena, Copy *copy, PdError *err)
{
    PdBackupCopy *job = copy->job;
    if (mkdir(job->dest_dir, 0700) != 0)
        return pd_archive_io_error(err, "create", job->dest_dir);
    for (size_t i = 0; i < job->entry_count; i++)
    {
        if (job->entries[i].kind == PD_BACKUP_ENTRY_FILE)
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
    atomic_init(&copy.pages_read, 0);
    atomic_init(&copy.pages_stored, 0);
    if (!prepare(arena, &copy, err))
        return false;
    pthread_mutex_init(&copy.lock, NULL);
    bool ok = pd_backup_parallel(copy.file_count, job->jobs, copy_task, &copy,
                                 job->progress != NULL ? tick : NULL, &copy, err);
    pthread_mutex_destroy(&copy.lock);
    job->bytes_done = atomic_load(&copy.bytes_done);
    job->pages_read = atomic_load(&copy.pages_read);
    job->pages_stored = atomic_load(&copy.pages_stored);
    return ok && pd_backup_sync_tree(arena, job->dest_dir, job->entries, job->entry_count, err);
}

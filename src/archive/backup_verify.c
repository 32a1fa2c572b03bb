/*
 * backup_verify.c - `prodata backup verify`: every file a backup stores
 * read back whole by N threads (backup_pool.c) (header, zstd frame, size and SHA-256, as a
 * restore reads it) and compared with what its manifest recorded; a file
 * missing from the repository is a problem too, and so is a manifest that
 * does not read. Then the WAL: every archived file read back, every segment
 * from each backup's start to its stop must be archived, and no gap may
 * follow a backup's start on its timeline or a later one (a restore could
 * not replay past it). Problems are collected, not raised: the command
 * prints them all and exits 3, as archive check does.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "blockfile.h"
#include "prodata/strmap.h"
#include "restore_plan.h"
#include "store.h"

/* One stored file to check. */
typedef struct Item
{
    const PdBackupManifest *backup;
    const PdBackupEntry *entry;
} Item;

typedef struct Verify
{
    const char *repo;
    const PdArchiveKey *key;
    Item *items;
    size_t item_count;
    atomic_uint_fast64_t bytes;
    pthread_mutex_t lock; /* guards the report's problems and the arena they live in */
    PdArena *arena;
    PdBackupVerifyReport *report;
} Verify;

static void
add_problem(PdArena *arena, const char ***list, size_t *count, const char *text)
{
    const char **grown = pd_arena_grow(arena, (void *)*list, *count, *count + 1, sizeof(*grown));
    char *copy = grown != NULL ? pd_arena_strdup(arena, text) : NULL;
    if (copy == NULL)
        return; /* out of memory: pd_arena_failed tells the caller */
    grown[(*count)++] = copy;
    *list = grown;
}

static void
file_problem(Verify *verify, const Item *item, const char *why)
{
    char text[1024];
    snprintf(text, sizeof(text), "%s: %s: %s", item->backup->label, item->entry->path, why);
    pthread_mutex_lock(&verify->lock);
    add_problem(verify->arena, &verify->report->problems, &verify->report->problem_count, text);
    pthread_mutex_unlock(&verify->lock);
}

/* Why the file stored in blocks at path does not verify (its map, then every run), or NULL. */
static const char *
check_blocks(PdArena *arena, Verify *verify, const Item *item, const char *path, PdError *err)
{
    PdBlockMap map;
    PdBlockReader reader;
    PdSealIn in;
    if (!pd_blockfile_reader(arena, &reader, err) ||
        !pd_seal_in_open_path(arena, verify->key, path, reader.seal_scratch, &in, err))
        return err->message;
    bool ok = pd_blockfile_read_map(arena, &in, &map, err);
    const char *why = ok ? NULL : err->message;
    if (ok && (memcmp(map.sha256, item->entry->sha256, sizeof(map.sha256)) != 0 ||
               map.file_bytes != item->entry->bytes || map.compress != item->backup->compress))
        why = "its map differs from the manifest's (SHA-256, size or compression)";
    for (size_t r = 0; why == NULL && r < map.run_count; r++)
        if (!pd_blockfile_read_run(&reader, &in, &map, &map.runs[r], err))
            why = err->message;
        else
            atomic_fetch_add(&verify->bytes, (uint64_t)map.runs[r].page_count * PD_BACKUP_PAGE_BYTES);
    close(in.fd);
    return why;
}

/* Why the stored file of item does not verify, or NULL when it does (its bytes counted). */
static const char *
check_item(PdArena *arena, Verify *verify, const Item *item, PdError *err)
{
    char *dir = pd_backup_dir(arena, verify->repo, item->backup->label);
    char *path = dir != NULL ? pd_arena_sprintf(arena, "%s/data/%s", dir, item->entry->path) : NULL;
    PdArchiveHeader header;
    if (path == NULL)
        return "out of memory";
    if (access(path, F_OK) != 0)
        return "missing from the repository";
    if (item->entry->storage == PD_BACKUP_STORE_BLOCKS)
        return check_blocks(arena, verify, item, path, err);
    if (!pd_archive_verify(arena, verify->key, path, &header, err))
        return err->message;
    if (header.original_bytes != item->entry->bytes)
        return "its size differs from the manifest's";
    if (memcmp(header.sha256, item->entry->sha256, sizeof(header.sha256)) != 0)
        return "its SHA-256 differs from the manifest's";
    atomic_fetch_add(&verify->bytes, header.original_bytes);
    return NULL;
}

/* One task of the pool: a file that does not verify is a problem of the report, not an error of the pool. */
static bool
verify_task(void *context, PdBackupWorker *worker, size_t index, PdError *err)
{
    Verify *verify = context;
    const char *why = check_item(worker->arena, verify, &verify->items[index], err);
    if (why != NULL)
        file_problem(verify, &verify->items[index], why);
    pd_error_init(err);
    return true;
}

/*
 * The backups a restore of label reads (itself and those it builds on or refers to), whose stored files
 * verify --set reads: damage in a full breaks every incr on it. A chain that does not trace is reported by
 * check_chains; its backups found so far are still read.
 */
static bool
chain_of(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label, PdStrmap **chain,
         PdError *err)
{
    *chain = pd_strmap_new(arena, 8);
    if (*chain == NULL)
        return pd_arena_error(arena, err);
    if (label == NULL)
        return true;
    PdBackupManifest backup;
    PdRestorePlan plan;
    PdError ignored;
    pd_error_init(&ignored);
    if (!pd_strmap_put(*chain, label, (void *)label))
        return pd_arena_error(arena, err);
    if (!pd_backup_read(arena, repo, key, label, &backup, &ignored))
        return true; /* no such backup: gather says so */
    PdArena *scratch = pd_arena_new(0);
    if (scratch == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a restore plan");
    (void)pd_restore_plan(scratch, repo, key, &backup, "/", &plan, &ignored);
    bool ok = true;
    for (size_t i = 0; ok && i < plan.chain_count; i++)
    {
        char *copy = pd_arena_strdup(arena, plan.chain[i]);
        ok = copy != NULL && pd_strmap_put(*chain, copy, copy);
    }
    pd_arena_free(scratch);
    return ok || pd_arena_error(arena, err);
}

/* The stored files of the backups chosen (label's chain, or all), to check. */
static bool
gather(PdArena *arena, const PdBackupList *list, const char *label, const PdStrmap *chain, Verify *verify,
       PdError *err)
{
    size_t capacity = 0;
    for (size_t b = 0; b < list->count; b++)
    {
        const PdBackupManifest *backup = &list->backups[b];
        if (label != NULL && !pd_strmap_contains(chain, backup->label))
            continue;
        verify->report->backup_count++;
        for (size_t e = 0; e < backup->entry_count; e++)
        {
            if (backup->entries[e].kind != PD_BACKUP_ENTRY_FILE || backup->entries[e].reference != NULL)
                continue;
            if (verify->item_count == capacity)
            {
                capacity = capacity ? capacity * 2 : 1024;
                verify->items =
                    pd_arena_grow(arena, verify->items, verify->item_count, capacity, sizeof(Item));
                if (verify->items == NULL)
                    return pd_arena_error(arena, err);
            }
            verify->items[verify->item_count++] = (Item){backup, &backup->entries[e]};
        }
    }
    if (label != NULL && verify->report->backup_count == 0)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "the repository %s holds no complete backup %s",
                            verify->repo, label);
    return true;
}

static bool
check_files(PdArena *arena, Verify *verify, int jobs, PdError *err)
{
    pthread_mutex_init(&verify->lock, NULL);
    bool ok = pd_backup_parallel(verify->item_count, jobs, verify_task, verify, NULL, NULL, err);
    pthread_mutex_destroy(&verify->lock);
    verify->report->file_count = verify->item_count;
    verify->report->bytes = atomic_load(&verify->bytes);
    return ok && (!pd_arena_failed(arena) || pd_arena_error(arena, err));
}

/* Each backup checked can be restored as a whole: every file traced through references and partial copies
 * to the copies that hold all its pages (restore_plan.c, as a restore would, writing nothing). */
static bool
check_chains(PdArena *arena, const char *repo, const PdArchiveKey *key, const PdBackupList *list,
             const char *label, PdBackupVerifyReport *report, PdError *err)
{
    for (size_t b = 0; b < list->count; b++)
    {
        const PdBackupManifest *backup = &list->backups[b];
        PdRestorePlan plan;
        if (label != NULL && strcmp(backup->label, label) != 0)
            continue;
        PdArena *scratch = pd_arena_new(0); /* a plan's page owners: freed before the next backup's */
        if (scratch == NULL)
            return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a restore plan");
        bool is_whole = pd_restore_plan(scratch, repo, key, backup, "/", &plan, err);
        pd_arena_free(scratch);
        if (is_whole)
            continue;
        if (err->code == PD_ERR_NO_MEMORY)
            return false;
        char text[1024];
        snprintf(text, sizeof(text), "%s: %s", backup->label, err->message);
        add_problem(arena, &report->problems, &report->problem_count, text);
        pd_error_init(err);
    }
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

/* The WAL each backup needs: its own range archived, and no gap after its start on its timeline or later. */
static bool
check_wal(PdArena *arena, const char *repo, const PdArchiveKey *key, const PdBackupList *list,
          const char *label, PdBackupVerifyReport *report, PdError *err)
{
    PdArchiveReport *wal = &report->wal;
    if (!pd_archive_scan(arena, repo, key, true, wal, err)) /* every archived WAL file read back too */
        return false;
    for (size_t i = 0; i < wal->corrupt_count; i++)
    {
        char text[512];
        snprintf(text, sizeof(text), "archived file %s", wal->corrupt[i]);
        add_problem(arena, &report->wal_problems, &report->wal_problem_count, text);
    }
    for (size_t b = 0; b < list->count; b++)
    {
        const PdBackupManifest *backup = &list->backups[b];
        PdBackupWalRange range;
        if (label != NULL && strcmp(backup->label, label) != 0)
            continue;
        if (!pd_backup_wal_range(arena, repo, backup, wal->segment_bytes, &range, err))
            return false;
        for (size_t i = 0; i < range.count; i++)
        {
            char text[256];
            snprintf(text, sizeof(text), "%s: WAL segment %s, which makes it consistent, is not archived",
                     backup->label, range.names[i]);
            if (access(range.paths[i], F_OK) != 0)
                add_problem(arena, &report->wal_problems, &report->wal_problem_count, text);
        }
        for (size_t g = 0; g < wal->gap_count; g++)
        {
            const PdArchiveGap *gap = &wal->gaps[g];
            char text[256];
            if (gap->timeline < range.timeline ||
                (gap->timeline == range.timeline && gap->last_segno < range.first_segno))
                continue;
            snprintf(text, sizeof(text), "%s: the archive misses %s .. %s: a restore cannot replay past them",
                     backup->label, gap->first, gap->last);
            add_problem(arena, &report->wal_problems, &report->wal_problem_count, text);
        }
    }
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

bool
pd_backup_verify(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label, int jobs,
                 PdBackupVerifyReport *report, PdError *err)
{
    *report = (PdBackupVerifyReport){0};
    PdBackupList list;
    Verify verify = {.repo = repo, .key = key, .arena = arena, .report = report};
    atomic_init(&verify.bytes, 0);
    if (!pd_backup_list(arena, repo, key, &list, err))
        return false;
    for (size_t i = 0; i < list.damaged_count; i++)
        add_problem(arena, &report->problems, &report->problem_count, list.damaged[i]);
    PdStrmap *chain;
    if (!chain_of(arena, repo, key, label, &chain, err) ||
        !gather(arena, &list, label, chain, &verify, err) || !check_files(arena, &verify, jobs, err) ||
        !check_chains(arena, repo, key, &list, label, report, err))
        return false;
    return check_wal(arena, repo, key, &list, label, report, err);
}

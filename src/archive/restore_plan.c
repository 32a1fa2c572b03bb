/*
 * restore_plan.c - a restore's plan, made before anything is written. Each
 * file of the chosen backup is traced: its entry names the backup storing
 * it (itself, or a reference); a copy stored whole ends the trace; a copy
 * stored in blocks is read for its map (checked against the manifest's
 * SHA-256 and size), and when partial the trace goes on to the same path in
 * the backup it builds on, down to a copy that holds every page. Each page
 * is then owned by the newest copy that holds it, and every window of 128
 * pages becomes a task over the runs that own its pages; a page no copy
 * holds is a damaged chain, refused by name. Manifests are read once each, whatever the length of the chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prodata/strmap.h"
#include "restore_plan.h"
#include "store.h"

#define NO_OWNER UINT16_MAX
/* Copies in one file's chain at most: the owner of a page is a uint16_t. */
#define MAX_SOURCES (NO_OWNER - 1)

/* A backup read for the plan: its manifest and its files by path. */
typedef struct Held
{
    PdBackupManifest manifest;
    PdStrmap *files;
    const char *data; /* REPO/backup/LABEL/data */
} Held;

typedef struct Planner
{
    PdArena *arena;
    const char *repo;
    PdStrmap *held; /* label -> Held */
    PdRestorePlan *plan;
    unsigned char *scratch; /* PD_SEAL_SCRATCH_BYTES: one for every map read */
} Planner;

/* "cannot restore PATH: why", or just why when path is NULL. */
static bool
refuse(PdError *err, const char *path, const char *why)
{
    if (path != NULL)
        pd_error_set(err, PD_ERR_REFUSED, "cannot restore %s: %s", path, why);
    else
        pd_error_set(err, PD_ERR_REFUSED, "%s", why);
    return pd_error_hint(err, "The repository is damaged or a backup was removed by hand: restore another "
                              "backup (prodata backup list, prodata backup verify); nothing was written.");
}

static bool
index_files(PdArena *arena, Held *held, PdError *err)
{
    held->files = pd_strmap_new(arena, held->manifest.entry_count);
    if (held->files == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < held->manifest.entry_count; i++)
        if (!pd_strmap_put(held->files, held->manifest.entries[i].path, &held->manifest.entries[i]))
            return pd_arena_error(arena, err);
    return true;
}

/* The backup label, read once; by names the backup that needs it, for the message. */
static bool
hold(Planner *planner, const char *label, const char *by, Held **out, PdError *err)
{
    *out = pd_strmap_get(planner->held, label);
    if (*out != NULL)
        return true;
    Held *held = pd_arena_calloc(planner->arena, 1, sizeof(*held));
    char *dir = pd_backup_dir(planner->arena, planner->repo, label);
    const char **chain = pd_arena_reserve_next(planner->arena, planner->plan->chain,
                                               planner->plan->chain_count, sizeof(*chain));
    if (held == NULL || dir == NULL || chain == NULL ||
        (held->data = pd_archive_join(planner->arena, dir, "data")) == NULL)
        return pd_arena_error(planner->arena, err);
    if (!pd_backup_read(planner->arena, planner->repo, planner->plan->key, label, &held->manifest, err))
    {
        if (err->code == PD_ERR_NOT_FOUND)
            return refuse(err, NULL,
                          pd_arena_sprintf(planner->arena,
                                           "backup %s, which %s needs, is not in the repository", label, by));
        return false;
    }
    planner->plan->chain = chain;
    chain[planner->plan->chain_count++] = held->manifest.label;
    if (!index_files(planner->arena, held, err) || !pd_strmap_put(planner->held, label, held))
        return pd_arena_error(planner->arena, err);
    *out = held;
    return true;
}

/* The copy that entry (of backup by) points at: stored in its backup, the same as entry says. */
static bool
stored_copy(Planner *planner, const PdBackupEntry *entry, const char *by, Held **held,
            const PdBackupEntry **stored, PdError *err)
{
    const char *label = entry->reference != NULL ? entry->reference : by;
    if (!hold(planner, label, by, held, err))
        return false;
    *stored = pd_strmap_get((*held)->files, entry->path);
    const PdBackupEntry *s = *stored;
    if (s == NULL || s->kind != PD_BACKUP_ENTRY_FILE || s->reference != NULL)
        return refuse(err, entry->path,
                      pd_arena_sprintf(planner->arena,
                                       "backup %s refers to it in %s, which does not store it", by, label));
    if (s->storage != entry->storage || s->is_partial != entry->is_partial || s->bytes != entry->bytes ||
        memcmp(s->sha256, entry->sha256, sizeof(s->sha256)) != 0)
        return refuse(
            err, entry->path,
            pd_arena_sprintf(planner->arena, "backup %s and %s describe it differently", by, label));
    return true;
}

/* Reads the map of a copy stored in blocks and adds it to the file's sources, checked against stored. */
static bool
add_source(Planner *planner, PdRestoreFile *file, const Held *held, const PdBackupEntry *stored, PdError *err)
{
    if (file->source_count == MAX_SOURCES)
        return refuse(err, stored->path, "its chain of incremental copies is too long");
    PdRestoreSource *sources =
        pd_arena_reserve_next(planner->arena, file->sources, file->source_count, sizeof(*sources));
    char *path = pd_archive_join(planner->arena, held->data, stored->path);
    if (sources == NULL || path == NULL)
        return pd_arena_error(planner->arena, err);
    file->sources = sources;
    PdRestoreSource *source = &sources[file->source_count];
    source->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return refuse(err, path, "it is missing from the repository");
    if (fd < 0)
        return pd_archive_io_error(err, "open", path);
    PdSealIn in;
    bool ok = pd_seal_in_open(planner->arena, planner->plan->key, fd, path, planner->scratch, &in, err) &&
              pd_blockfile_read_map(planner->arena, &in, &source->map, err);
    close(fd);
    if (!ok)
        return false;
    if (memcmp(source->map.sha256, stored->sha256, sizeof(stored->sha256)) != 0 ||
        source->map.file_bytes != stored->bytes || source->map.compress != held->manifest.compress)
        return refuse(err, path, "its map does not match its manifest (SHA-256, size or compression)");
    file->source_count++;
    return true;
}

/* Follows the file from the chosen backup's entry to a copy that holds all of it. */
static bool
trace(Planner *planner, const PdBackupManifest *chosen, PdRestoreFile *file, PdError *err)
{
    const PdBackupEntry *entry = file->entry;
    const char *by = chosen->label;
    for (;;)
    {
        Held *held;
        const PdBackupEntry *stored;
        if (!stored_copy(planner, entry, by, &held, &stored, err))
            return false;
        if (stored->storage == PD_BACKUP_STORE_WHOLE)
        {
            if (file->source_count > 0)
                return refuse(err, stored->path, "an incremental copy builds on a copy stored whole");
            file->whole = pd_archive_join(planner->arena, held->data, stored->path);
            if (file->whole == NULL)
                return pd_arena_error(planner->arena, err);
            return access(file->whole, F_OK) == 0 ||
                   refuse(err, file->whole, "it is missing from the repository");
        }
        if (!add_source(planner, file, held, stored, err))
            return false;
        if (!stored->is_partial)
            return true;
        Held *prior;
        if (held->manifest.prior == NULL ||
            !hold(planner, held->manifest.prior, held->manifest.label, &prior, err))
            return held->manifest.prior != NULL ? false
                                                : refuse(err, stored->path, "it is partial in a full backup");
        by = prior->manifest.label;
        entry = pd_strmap_get(prior->files, stored->path);
        if (entry == NULL || entry->kind != PD_BACKUP_ENTRY_FILE)
            return refuse(err, stored->path,
                          pd_arena_sprintf(planner->arena,
                                           "it holds the changes to a file backup %s does not have", by));
    }
}

static bool
add_task(Planner *planner, const PdRestoreTask *task, PdError *err)
{
    PdRestorePlan *plan = planner->plan;
    PdRestoreTask *tasks =
        pd_arena_reserve_next(planner->arena, plan->tasks, plan->task_count, sizeof(*tasks));
    if (tasks == NULL)
        return pd_arena_error(planner->arena, err);
    plan->tasks = tasks;
    tasks[plan->task_count++] = *task;
    return true;
}

/* Each page to the newest source that holds it; a piece for every run that owns a page. */
static bool
assign_pages(Planner *planner, PdRestoreFile *file, uint64_t pages, PdError *err)
{
    file->owner = pd_arena_alloc(planner->arena, (pages > 0 ? pages : 1) * sizeof(*file->owner));
    if (file->owner == NULL)
        return pd_arena_error(planner->arena, err);
    memset(file->owner, 0xff, (pages > 0 ? pages : 1) * sizeof(*file->owner));
    for (uint32_t s = 0; s < file->source_count; s++)
        for (size_t r = 0; r < file->sources[s].map.run_count; r++)
        {
            const PdBlockRun *run = &file->sources[s].map.runs[r];
            bool owns = false;
            for (uint32_t i = 0; i < run->span && run->first_block + (uint64_t)i < pages; i++)
                if (pd_blockfile_has(run, i) && file->owner[run->first_block + i] == NO_OWNER)
                    file->owner[run->first_block + i] = (uint16_t)s, owns = true;
            PdRestorePiece *pieces =
                owns ? pd_arena_reserve_next(planner->arena, file->pieces, file->piece_count, sizeof(*pieces))
                     : file->pieces;
            if (owns && pieces == NULL)
                return pd_arena_error(planner->arena, err);
            file->pieces = pieces;
            if (owns)
                pieces[file->piece_count++] =
                    (PdRestorePiece){s, (uint32_t)r, run->first_block / PD_BLOCKFILE_RUN_PAGES};
        }
    for (uint64_t b = 0; b < pages; b++)
        if (file->owner[b] == NO_OWNER)
            return refuse(err, file->entry->path,
                          pd_arena_sprintf(planner->arena,
                                           "no copy in its chain of backups holds its page %llu",
                                           (unsigned long long)b));
    return true;
}

static int
by_window(const void *a, const void *b)
{
    uint32_t x = ((const PdRestorePiece *)a)->window, y = ((const PdRestorePiece *)b)->window;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* The file's pieces grouped by window: a task per window. */
static bool
add_windows(Planner *planner, PdRestoreFile *file, uint64_t pages, PdError *err)
{
    qsort(file->pieces, file->piece_count, sizeof(*file->pieces), by_window);
    for (size_t first = 0; first < file->piece_count;)
    {
        size_t end = first;
        while (end < file->piece_count && file->pieces[end].window == file->pieces[first].window)
            end++;
        uint64_t start = (uint64_t)file->pieces[first].window * PD_BLOCKFILE_RUN_PAGES;
        uint64_t span = pages - start < PD_BLOCKFILE_RUN_PAGES ? pages - start : PD_BLOCKFILE_RUN_PAGES;
        PdRestoreTask task = {file, file->pieces[first].window, first, (uint32_t)(end - first),
                              span * PD_BACKUP_PAGE_BYTES};
        if (!add_task(planner, &task, err))
            return false;
        first = end;
    }
    return true;
}

static int
by_bytes_descending(const void *a, const void *b)
{
    uint64_t x = ((const PdRestoreTask *)a)->bytes, y = ((const PdRestoreTask *)b)->bytes;
    return x < y ? 1 : x > y ? -1 : 0;
}

static bool
plan_file(Planner *planner, const PdBackupManifest *chosen, PdRestoreFile *file, const char *data_dir,
          PdError *err)
{
    file->dest = pd_archive_join(planner->arena, data_dir, file->entry->path);
    if (file->dest == NULL)
        return pd_arena_error(planner->arena, err);
    if (!trace(planner, chosen, file, err))
        return false;
    if (file->whole != NULL && strcmp(file->entry->path, "global/pg_control") == 0)
        return planner->plan->control = file, true; /* written last, by itself */
    if (file->whole != NULL)
        return add_task(planner, &(PdRestoreTask){.file = file, .bytes = file->entry->bytes}, err);
    uint64_t pages = file->entry->bytes / PD_BACKUP_PAGE_BYTES;
    return assign_pages(planner, file, pages, err) && add_windows(planner, file, pages, err);
}

bool
pd_restore_plan(PdArena *arena, const char *repo, const PdArchiveKey *key, const PdBackupManifest *chosen,
                const char *data_dir, PdRestorePlan *plan, PdError *err)
{
    *plan = (PdRestorePlan){.key = key};
    Planner planner = {arena, repo, pd_strmap_new(arena, 8), plan,
                       key != NULL ? pd_arena_alloc(arena, PD_SEAL_SCRATCH_BYTES) : NULL};
    Held *own = pd_arena_calloc(arena, 1, sizeof(*own));
    char *dir = pd_backup_dir(arena, repo, chosen->label);
    plan->chain = pd_arena_reserve_next(arena, NULL, 0, sizeof(*plan->chain));
    plan->files =
        pd_arena_calloc(arena, chosen->entry_count > 0 ? chosen->entry_count : 1, sizeof(*plan->files));
    if (planner.held == NULL || own == NULL || dir == NULL || plan->chain == NULL || plan->files == NULL ||
        (own->data = pd_archive_join(arena, dir, "data")) == NULL)
        return pd_arena_error(arena, err);
    own->manifest = *chosen;
    plan->chain[plan->chain_count++] = chosen->label;
    if (!index_files(arena, own, err) || !pd_strmap_put(planner.held, chosen->label, own))
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < chosen->entry_count; i++)
    {
        if (chosen->entries[i].kind != PD_BACKUP_ENTRY_FILE)
            continue;
        PdRestoreFile *file = &plan->files[plan->file_count++];
        file->entry = &chosen->entries[i];
        if (!plan_file(&planner, chosen, file, data_dir, err))
            return false;
    }
    qsort(plan->tasks, plan->task_count, sizeof(*plan->tasks), by_bytes_descending);
    return true;
}

/*
 * restore_plan.h - what a restore writes and from where (restore_plan.c):
 * every file of the chosen backup traced to the backups that store it (a
 * reference, a chain of partial copies down to a whole one), each chain's
 * maps read and checked before anything is written, and the work cut into
 * tasks of one window of 128 pages (1 MB), so that every worker helps with a
 * 1 GB segment and each window is written once, whatever the number of
 * copies its pages come from. Private to src/archive.
 */
#ifndef PRODATA_ARCHIVE_RESTORE_PLAN_H
#define PRODATA_ARCHIVE_RESTORE_PLAN_H

#include "backup.h"
#include "blockfile.h"

/* One stored copy that a file's pages come from. */
typedef struct PdRestoreSource
{
    const char *path; /* the stored file in the repository */
    PdBlockMap map;
} PdRestoreSource;

/* A run of a source that a window takes pages from. */
typedef struct PdRestorePiece
{
    uint32_t source;
    uint32_t run;
    uint32_t window; /* its first page / PD_BLOCKFILE_RUN_PAGES */
} PdRestorePiece;

/* One file of the restore. */
typedef struct PdRestoreFile
{
    const PdBackupEntry *entry; /* in the chosen backup: path, mode, size */
    const char *dest;           /* in the data directory */
    const char *whole;          /* stored whole: the archived file; else NULL */
    PdRestoreSource *sources;   /* stored in blocks: the newest copy first */
    size_t source_count;
    uint16_t *owner;        /* per page: the source that writes it */
    PdRestorePiece *pieces; /* the runs that own a page, by window */
    size_t piece_count;
} PdRestoreFile;

/* One task: a whole file, or one window of a file stored in blocks, from the pieces that own its pages. */
typedef struct PdRestoreTask
{
    PdRestoreFile *file;
    uint32_t window;    /* blocks: the window */
    size_t first_piece; /* and its pieces: file->pieces[first_piece .. + piece_count] */
    uint32_t piece_count;
    uint64_t bytes; /* to write: the order, largest first */
} PdRestoreTask;

typedef struct PdRestorePlan
{
    PdRestoreFile *files;
    size_t file_count;
    PdRestoreTask *tasks; /* largest first */
    size_t task_count;
    const char **chain; /* the labels of the backups read, the chosen one first */
    size_t chain_count;
} PdRestorePlan;

/*
 * Plans the restore of chosen (in repo) into data_dir, reading the manifests it refers to and the maps of
 * its files stored in blocks. Nothing is written. Errors: PD_ERR_REFUSED (a backup referred to is missing or
 * damaged, a stored file or map that does not match its manifest, pages no copy holds: each names the file),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_plan(PdArena *arena, const char *repo, const PdBackupManifest *chosen, const char *data_dir,
                     PdRestorePlan *plan, PdError *err);

#endif

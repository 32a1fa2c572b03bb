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
    PdRestoreFile *control;  /* global/pg_control: no task, written after all the others */
    const PdArchiveKey *key; /* the repository's, for reading its files; NULL: plain */
} PdRestorePlan;

/*
 * Plans the restore of chosen (in repo) into data_dir, reading the manifests it refers to and the maps of
 * its files stored in blocks. Nothing is written. Errors: PD_ERR_REFUSED (a backup referred to is missing or
 * damaged, a stored file or map that does not match its manifest, pages no copy holds: each names the file),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_plan(PdArena *arena, const char *repo, const PdArchiveKey *key,
                     const PdBackupManifest *chosen, const char *data_dir, PdRestorePlan *plan, PdError *err);

/* ---- tablespaces (restore_space.c) ---- */

/* One tablespace of the backup: its link in the data directory and the directory it goes to. */
typedef struct PdRestoreSpace
{
    const char *oid;
    const char *link; /* DATA/pg_tblspc/OID */
    const char *dir;  /* its target, --tablespace-map's, or --tablespace-root/OID */
    bool is_made;     /* the directory was made by this restore */
    bool is_ours;     /* checked empty (or made): a failed restore empties it again */
    bool is_kept;     /* a delta restore's: the cluster's own tablespace directory, its link kept, swept */
} PdRestoreSpace;

typedef struct PdRestoreSpaces
{
    const char *data_dir;
    PdRestoreSpace *spaces;
    size_t count;
} PdRestoreSpaces;

/*
 * Where each of backup's tablespaces goes (options: tablespace_map, tablespace_root). Errors: PD_ERR_USAGE (a
 * map naming no tablespace, a directory not absolute or inside the data directory, two in one),
 * PD_ERR_NO_MEMORY.
 */
bool pd_restore_spaces_plan(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *backup,
                            PdRestoreSpaces *spaces, PdError *err);

/* Every tablespace's directory but a delta restore's kept ones checked absent or empty; nothing is written.
 * Errors: PD_ERR_REFUSED (naming the directory and what it holds), PD_ERR_IO. */
bool pd_restore_spaces_check(const PdRestoreSpaces *spaces, PdError *err);

/* pd_restore_spaces_check, then each directory not kept made (0700). Errors: PD_ERR_REFUSED, PD_ERR_IO. */
bool pd_restore_spaces_prepare(PdArena *arena, PdRestoreSpaces *spaces, PdError *err);

/* Where the entry at path (relative to the data directory) is written: in its tablespace's directory for
 * pg_tblspc/OID/..., else in the data directory. NULL when out of memory. */
char *pd_restore_spaces_place(PdArena *arena, const PdRestoreSpaces *spaces, const char *path);

/* The links pg_tblspc/OID -> directory. Errors: PD_ERR_IO. */
bool pd_restore_spaces_link(const PdRestoreSpaces *spaces, PdError *err);

/* Every tablespace's file system synced (syncfs), and its directory. Errors: PD_ERR_IO. */
bool pd_restore_spaces_sync(const PdRestoreSpaces *spaces, PdError *err);

/* tablespace_map naming the directories chosen (map itself when the backup has no tablespace); NULL: out of
 * memory. */
char *pd_restore_spaces_map(PdArena *arena, const PdRestoreSpaces *spaces, const char *map);

/* After a failed restore: the tablespaces' directories emptied (removed when this restore made them). */
void pd_restore_spaces_undo(const PdRestoreSpaces *spaces);

/* dir and its missing parents (0700), like mkdir -p; *is_made says whether dir itself was made (restore.c).
 * Errors: PD_ERR_IO, PD_ERR_NO_MEMORY. */
bool pd_restore_make_path(PdArena *arena, const char *dir, bool *is_made, PdError *err);

/* ---- carrying it out (restore_write.c) ---- */

typedef struct PdRestoreWrite
{
    const PdRestorePlan *plan;
    bool is_delta; /* the directory holds the cluster already: keep what matches */
    int jobs;
    uint64_t bytes_written; /* out */
    uint64_t bytes_kept;    /* out: a delta's files and windows found on disk already */
} PdRestoreWrite;

/*
 * Writes the plan's files into their directory (which holds the folders already) with job->jobs threads,
 * global/pg_control last. Errors: PD_ERR_REFUSED (a stored file that does not match its manifest, named),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_write(PdArena *arena, PdRestoreWrite *job, PdError *err);

/* ---- a delta restore's directory (restore_delta.c) ---- */

/*
 * Makes the existing data directory ready for a delta restore of backup: refused while PostgreSQL runs on it
 * (postmaster.pid names a live process), when it holds another cluster (global/pg_control's system
 * identifier) or is no data directory at all (no PG_VERSION: nothing is removed from a directory that may be
 * something else); then global/pg_control is removed first (until the restore writes it last, the directory
 * is no cluster), and every entry the backup does not have (or has as another kind) is removed: WAL in
 * pg_wal, backup_label, recovery.signal, files of dropped tables. A tablespace whose link pg_tblspc/OID
 * points at the directory spaces chose for it is the cluster's own (is_kept): its link stays and its
 * directory is swept the same way; a link that points elsewhere is removed (the tablespace is then written
 * to its chosen directory, which must be empty). *removed counts what went. Errors: PD_ERR_REFUSED,
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_restore_delta_prepare(PdArena *arena, const char *data_dir, const PdBackupManifest *backup,
                              PdRestoreSpaces *spaces, size_t *removed, PdError *err);

#endif

/*
 * backup.h - base backups in the WAL archive's directory, which with them
 * becomes the repository (docs/backup.md): what `prodata backup` and
 * `prodata restore` (src/cli/cmd_backup.c) call. A backup is a folder
 * backup/LABEL/ holding each file of the data directory as an archived file
 * (the 64-byte header of header.c, zstd or plain, the SHA-256 of the
 * original bytes) and manifest.json, written last: a folder without a
 * manifest is an incomplete backup, never restored. The WAL that makes a
 * backup consistent, and any later moment, is the archive's own. Relation
 * pages are checked against their data checksums while copied
 * (pagecheck.c).
 */
#ifndef PRODATA_ARCHIVE_BACKUP_H
#define PRODATA_ARCHIVE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/strmap.h"

/* ---- the manifest (manifest.c) --------------------------------------------------------------------- */

/* The manifest format this code writes; it also reads format 1, where every file is stored whole. */
#define PD_BACKUP_MANIFEST_FORMAT 2
#define PD_BACKUP_MANIFEST_FORMAT_1 1
/* The manifest's name in a backup's folder. */
#define PD_BACKUP_MANIFEST_NAME "manifest.json"

typedef enum PdBackupType
{
    PD_BACKUP_FULL, /* every file; "full" in the manifest */
    PD_BACKUP_DIFF, /* files changed since the last full backup; "diff" */
    PD_BACKUP_INCR, /* files changed since the last backup of any type; "incr" */
} PdBackupType;

typedef enum PdBackupEntryKind
{
    PD_BACKUP_ENTRY_FILE, /* a regular file: stored, or referenced in an earlier backup */
    PD_BACKUP_ENTRY_DIR,  /* a directory, recreated empty or not (pg_wal, pg_replslot, ...) */
    PD_BACKUP_ENTRY_LINK, /* a symbolic link (pg_tblspc/OID -> the tablespace's location) */
} PdBackupEntryKind;

/* How a file's bytes are stored in the repository. */
typedef enum PdBackupStorage
{
    PD_BACKUP_STORE_WHOLE,  /* an archived file (header.c): the whole file, one stream; "whole" */
    PD_BACKUP_STORE_BLOCKS, /* a relation file as runs of pages (blockfile.h); "blocks" */
} PdBackupStorage;

/* One entry of the data directory. Strings live in the manifest's arena. */
typedef struct PdBackupEntry
{
    PdBackupEntryKind kind;
    const char *path;         /* relative to the data directory, '/'-separated, no "." or ".." component */
    uint32_t mode;            /* permission bits (07777) */
    int64_t mtime;            /* seconds since the epoch, as found when copied */
    uint64_t bytes;           /* FILE: the original size */
    uint64_t stored_bytes;    /* FILE: the archived file's payload in the repository (after its header) */
    unsigned char sha256[32]; /* FILE: whole: of the original bytes; blocks: of the stored header and map */
    PdBackupStorage storage;  /* FILE */
    bool is_partial; /* FILE, blocks: holds only the pages that changed; the others are the prior backup's */
    const char
        *reference;     /* FILE: NULL when stored in this backup, else the label of the backup storing it */
    uint32_t bad_pages; /* FILE: pages whose data checksum did not verify while copied */
    const char *target; /* LINK: where the link points */
    bool is_vanished;   /* FILE: gone before it was copied (dropped meanwhile): left out of the manifest */
} PdBackupEntry;

typedef struct PdBackupManifest
{
    int format;        /* PD_BACKUP_MANIFEST_FORMAT */
    const char *label; /* the backup's name, also its folder: YYYYMMDD-HHMMSS and F, D or I */
    PdBackupType type;
    const char *prior; /* DIFF and INCR: the label of the backup it builds on; NULL for FULL */
    uint64_t system_identifier;
    int pg_version;        /* server_version_num, 150010 */
    uint32_t timeline;     /* of the backup's start */
    uint64_t start_lsn;    /* pg_backup_start's; a restore replays WAL from here ... */
    uint64_t stop_lsn;     /* ... to here at least before it is consistent */
    const char *start_wal; /* the segment names of start_lsn and stop_lsn on timeline */
    const char *stop_wal;
    int64_t start_time; /* seconds since the epoch */
    int64_t stop_time;
    PdArchiveCompress compress;
    int compress_level;
    const char *backup_label;   /* pg_backup_stop's labelfile, written into a restored data directory */
    const char *tablespace_map; /* pg_backup_stop's spcmapfile, NULL when there are no tablespaces */
    PdBackupEntry *entries;
    size_t entry_count;
} PdBackupManifest;

/*
 * Writes the manifest as JSON text (*json, NUL-terminated, arena-allocated). LSNs are written as
 * PostgreSQL writes them ("0/5000028"), the system identifier as a decimal string, SHA-256 as 64
 * lower-case hex digits. Errors: PD_ERR_INVALID_INPUT (a field that no reader would accept: an entry path
 * that is absolute or has a "." or ".." component, a label that is not a label), PD_ERR_NO_MEMORY.
 */
bool pd_backup_manifest_encode(PdArena *arena, const PdBackupManifest *manifest, char **json, PdError *err);

/*
 * Reads a manifest from json (length bytes; path names the file in messages) into *out, every string
 * arena-allocated. Strict: an unknown format, a missing or mistyped field, an entry path that could
 * leave the data directory (absolute, ".", "..", empty components, a NUL), a malformed LSN, label, hash
 * or number is refused. Errors: PD_ERR_REFUSED ("manifest PATH ...: why", err->field the field's JSON
 * path, e.g. "entries[3].sha256"), PD_ERR_NO_MEMORY.
 */
bool pd_backup_manifest_decode(PdArena *arena, const char *json, size_t length, const char *path,
                               PdBackupManifest *out, PdError *err);

/* The manifest's name for a type: "full", "diff", "incr". */
const char *pd_backup_type_name(PdBackupType type);

/* Reads "full", "diff" or "incr". False when text is none of them. */
bool pd_backup_parse_type(const char *text, PdBackupType *type);

/* Formats an LSN as PostgreSQL does ("16/B374D848") into out. */
void pd_backup_format_lsn(uint64_t lsn, char out[20]);

/* Reads an LSN written as PostgreSQL writes it (1-8 hex digits, '/', 1-8 hex digits). */
bool pd_backup_parse_lsn(const char *text, uint64_t *lsn);

/* ---- data checksums (pagecheck.c) ------------------------------------------------------------------ */

/* PostgreSQL's page size and the blocks per segment file of a relation (the defaults of a Debian build). */
#define PD_BACKUP_PAGE_BYTES 8192
#define PD_BACKUP_SEGMENT_BLOCKS 131072

/*
 * The data checksum of the page (PD_BACKUP_PAGE_BYTES bytes) at block number blkno of its relation fork,
 * computed as PostgreSQL computes it (storage/checksum_impl.h's algorithm: the page with its pd_checksum
 * field taken as zero, then the block number mixed in); compare with the page's pd_checksum. No errors.
 */
uint16_t pd_backup_page_checksum(const unsigned char *page, uint32_t blkno);

typedef enum PdPageVerdict
{
    PD_PAGE_OK,    /* its checksum matches */
    PD_PAGE_NEW,   /* all zeros (a page extended but never written): nothing to check */
    PD_PAGE_NEWER, /* its LSN is at or past the backup's start: possibly torn while read, and replaying the
                      WAL from the start rewrites it whole, so it is not judged */
    PD_PAGE_BAD,   /* a checksum that does not match, or a header no page has */
} PdPageVerdict;

/* Judges one page read at blkno while a backup that started at start_lsn copies it. No errors. */
PdPageVerdict pd_backup_check_page(const unsigned char *page, uint32_t blkno, uint64_t start_lsn);

/*
 * Whether path (relative to the data directory) is a relation fork's segment file, whose pages carry
 * data checksums: base/DB/FILENODE[_fsm|_vm|_init][.SEG], global/FILENODE..., or
 * pg_tblspc/OID/PG_*_*\/DB/FILENODE...; *segment receives SEG (0 without a suffix), so the first page of
 * the file is block segment * PD_BACKUP_SEGMENT_BLOCKS. Temporary relations (tNNN_FILENODE) are not.
 */
bool pd_backup_is_relation_file(const char *path, uint32_t *segment);

/* ---- taking a backup's files (backup_walk.c, backup_copy.c) ---------------------------------------- */

/*
 * Lists what of the data directory data_dir goes into a base backup (see backup_walk.c for what is left
 * out), a directory before what it holds; *bytes sums the files' sizes. Arena-allocated. Errors: PD_ERR_IO
 * (naming the path), PD_ERR_REFUSED (a symbolic link: tablespaces are not supported yet),
 * PD_ERR_INVALID_INPUT (not a directory), PD_ERR_NO_MEMORY.
 */
bool pd_backup_walk(PdArena *arena, const char *data_dir, PdBackupEntry **entries, size_t *count,
                    uint64_t *bytes, PdError *err);

/* ---- many files at once (backup_pool.c) ------------------------------------------------------------ */

/* At most this many worker threads. */
#define PD_BACKUP_MAX_JOBS 64

/* What a worker thread of a pool gives each task it runs. */
typedef struct PdBackupWorker
{
    PdArena *arena; /* the task's: reset after every task */
    PdArena
        *lasting; /* the worker's: freed when the pool ends, for buffers every task of the worker reuses */
    void *state;  /* the task function's own, kept from one task to the next of this worker (NULL at first) */
} PdBackupWorker;

/* One task of a pool: index is the task's number. */
typedef bool (*PdBackupTaskFn)(void *context, PdBackupWorker *worker, size_t index, PdError *err);

/*
 * Runs task for every index in [0, count) on jobs threads (clamped to 1 .. PD_BACKUP_MAX_JOBS), each taking
 * the next index; the first task that fails stops the others after their current one. While they run, the
 * caller's thread calls tick (when not NULL) about 5 times a second. Errors: the first failed task's,
 * PD_ERR_INTERNAL (no thread could start), PD_ERR_NO_MEMORY (a worker's arena).
 */
bool pd_backup_parallel(size_t count, int jobs, PdBackupTaskFn task, void *context,
                        void (*tick)(void *tick_context), void *tick_context, PdError *err);

/* The indexes of the file entries among entries, largest first (*order arena-allocated). Errors:
 * PD_ERR_NO_MEMORY. */
bool pd_backup_order_files(PdArena *arena, const PdBackupEntry *entries, size_t count, size_t **order,
                           size_t *file_count, PdError *err);

/*
 * Makes the tree at root that entries describe durable: one sync of its file system (syncfs), then every
 * directory entry fsynced, deepest first, then root. Errors: PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_backup_sync_tree(PdArena *arena, const char *root, const PdBackupEntry *entries, size_t count,
                         PdError *err);
/* Bad pages named in a report (all are counted). */
#define PD_BACKUP_BAD_PAGES_SHOWN 10

typedef struct PdBackupBadPage
{
    const char *path;
    uint32_t block;
} PdBackupBadPage;

/* One copy of a backup's files: what to copy, where, how; the outcome fields are filled by pd_backup_copy. */
typedef struct PdBackupCopy
{
    const char *repo;        /* the repository: a diff or incr reads the prior backup's stored maps */
    const PdArchiveKey *key; /* the repository's (NULL: plain): every stored file is sealed with it */
    const char *data_dir;    /* the source */
    const char *dest_dir;    /* the backup's data folder in the repository; must not exist yet */
    PdBackupEntry *entries;  /* from pd_backup_walk: files get their sizes and hashes, or is_vanished */
    size_t entry_count;
    PdArchiveCompress compress;
    int compress_level;
    const PdBackupManifest *prior; /* diff, incr: the backup this one builds on; NULL for a full */
    const PdStrmap *prior_files;   /* its entries by path */
    int jobs;                      /* copying threads, 1 .. PD_BACKUP_MAX_JOBS */
    bool check_pages;   /* verify relation pages' data checksums (a cluster initialised with them) */
    uint64_t start_lsn; /* the backup's start: pages at or past it are not judged */
    void (*progress)(void *context, uint64_t bytes_done); /* called about 5 times a second; may be NULL */
    void *progress_context;
    uint64_t bytes_done;               /* out: bytes read */
    uint64_t pages_read, pages_stored; /* out: relation pages read, and stored (all of them in a full) */
    PdBackupBadPage bad_pages[PD_BACKUP_BAD_PAGES_SHOWN]; /* out: the first bad pages found */
    size_t bad_page_count;                                /* out: all of them */
} PdBackupCopy;

/*
 * Creates job->dest_dir and its folders, copies every file entry into it with job->jobs threads (each an
 * archived file: header, zstd or plain, SHA-256), makes them durable (one syncfs) and fsyncs the folders.
 * Errors (the first worker's; the others stop): PD_ERR_IO naming the file, PD_ERR_NO_MEMORY, PD_ERR_INTERNAL.
 * On error the folder is left as it is: the caller removes it or leaves it marked incomplete.
 */
bool pd_backup_copy(PdArena *arena, PdBackupCopy *job, PdError *err);

/* ---- the repository's backups (backup_repo.c) --------------------------------------------------- */

/* The folder of the backups in the repository (the archive directory). */
#define PD_BACKUP_FOLDER "backup"

/* "REPO/backup/LABEL", or "REPO/backup" when label is NULL; arena-allocated, NULL when out of memory. */
char *pd_backup_dir(PdArena *arena, const char *repo, const char *label);

/* Whether path is a tablespace's link: pg_tblspc/OID (digits, no leading zero). */
bool pd_backup_is_tablespace_link(const char *path);

/* Whether name has a label's shape: YYYYMMDD-HHMMSS then F, D or I. */
bool pd_backup_is_label(const char *name);

/*
 * Reads the manifest of backup label in repo. Errors: PD_ERR_NOT_FOUND (no manifest: no such backup, or
 * an incomplete one), PD_ERR_REFUSED (a manifest that does not decode, or of another label), PD_ERR_IO,
 * PD_ERR_NO_MEMORY.
 */
bool pd_backup_read(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label,
                    PdBackupManifest *manifest, PdError *err);

/*
 * The text of a small file of the repository (a manifest, a verify record: MANIFEST_MAX_BYTES at most),
 * unsealed with key (NULL: plain), NUL-terminated. Errors: PD_ERR_NOT_FOUND (no such file), PD_ERR_REFUSED
 * (too large; sealed and no key, or plain with one; a tag that fails), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_backup_read_text(PdArena *arena, const PdArchiveKey *key, const char *path, char **text,
                         size_t *length, PdError *err);

/* Writes text as dir/name durably (pd_archive_write_durably), sealed with key when not NULL. Errors:
 * PD_ERR_IO, PD_ERR_INTERNAL, PD_ERR_NO_MEMORY. */
bool pd_backup_write_text(PdArena *arena, const PdArchiveKey *key, const char *dir, const char *name,
                          const char *text, PdError *err);

typedef struct PdBackupList
{
    PdBackupManifest *backups; /* complete ones, oldest first */
    size_t count;
    const char **incomplete; /* labels of folders without a manifest (interrupted backups) */
    size_t incomplete_count;
    const char **damaged; /* "LABEL: why" of each backup whose manifest does not read: never restored */
    size_t damaged_count;
} PdBackupList;

/* Lists repo's backups (none when it has no backup folder); a manifest that does not read is listed under
 * damaged, not an error. Errors: PD_ERR_IO, PD_ERR_NO_MEMORY. */
bool pd_backup_list(PdArena *arena, const char *repo, const PdArchiveKey *key, PdBackupList *list,
                    PdError *err);

/*
 * Writes manifest as backup_dir/manifest.json durably: a temporary file fsynced, renamed into place, the
 * folder fsynced. Errors: PD_ERR_INVALID_INPUT (see pd_backup_manifest_encode), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_backup_write_manifest(PdArena *arena, const char *backup_dir, const PdArchiveKey *key,
                              const PdBackupManifest *manifest, PdError *err);

/*
 * Takes the repository's backup lock (an flock on backup/.lock, created with the folder if needed), held
 * until *fd is closed. Errors: PD_ERR_REFUSED (another backup holds it), PD_ERR_IO.
 */
bool pd_backup_lock(PdArena *arena, const char *repo, int *fd, PdError *err);

/* Removes backup label's folder whole (no link followed). Errors: PD_ERR_INVALID_INPUT, PD_ERR_IO. */
bool pd_backup_remove(PdArena *arena, const char *repo, const char *label, PdError *err);

/*
 * Removes the tree at path without following links; with keep_root the folder itself stays, emptied. Not
 * thread-safe (one removal at a time per process). Errors: PD_ERR_IO naming the path.
 */
bool pd_backup_remove_tree(const char *path, bool keep_root, PdError *err);

/* The WAL segments a backup needs to be consistent: from its start_wal to its stop_wal. */
typedef struct PdBackupWalRange
{
    uint32_t timeline; /* the start's */
    uint64_t first_segno;
    uint64_t last_segno;
    size_t count;
    char (*names)[25];  /* their names */
    const char **paths; /* REPO/NAME */
} PdBackupWalRange;

/* backup's WAL range for segments of segment_bytes, in repo (arena-allocated). Errors: PD_ERR_REFUSED (names
 * that such segments cannot be), as pd_archive_parse_name, PD_ERR_NO_MEMORY. */
bool pd_backup_wal_range(PdArena *arena, const char *repo, const PdBackupManifest *backup,
                         uint32_t segment_bytes, PdBackupWalRange *range, PdError *err);

/* ---- taking a backup (backup_run.c) ---------------------------------------------------------------- */

/* How long a backup waits for its last WAL segment to reach the repository after pg_backup_stop. */
#define PD_BACKUP_ARCHIVE_WAIT_S 60

typedef struct PdBackupOptions
{
    const char *repo;        /* the archive directory, which archive_command pushes into */
    const PdArchiveKey *key; /* the repository's; NULL: a plain repository */
    const char *conninfo;    /* the server to back up ("" for the PG* variables) */
    const char *data_dir;    /* its data directory; NULL or "" asks the server (needs pg_read_all_settings) */
    bool from_standby;       /* the server is a standby: its files are copied, the primary archives the WAL */
    const char *primary_conninfo; /* from_standby: the primary, asked to switch WAL at the end; NULL: the
                                     standby's primary_conninfo */
    PdBackupType type;            /* asked for: a diff or incr with nothing to build on is taken in full */
    PdArchiveCompress compress;
    int compress_level;
    int jobs;
    void (*progress)(void *context, uint64_t bytes_done, uint64_t bytes_total); /* may be NULL */
    void *progress_context;
} PdBackupOptions;

typedef struct PdBackupOutcome
{
    PdBackupManifest manifest;
    uint64_t bytes;        /* read */
    uint64_t stored_bytes; /* written (payloads) */
    size_t file_count;
    size_t removed_incomplete; /* interrupted backups' folders removed first */
    const char *why_full;      /* a diff or incr taken in full: why (see pd_backup_choose_prior); else NULL */
    size_t unchanged_count;    /* files unchanged since the prior backup: referenced, not stored */
    uint64_t pages_read;       /* relation pages read */
    uint64_t pages_stored;     /* and stored: all of them in a full, the changed ones in a diff or incr */
    PdBackupBadPage bad_pages[PD_BACKUP_BAD_PAGES_SHOWN];
    size_t bad_page_count;
} PdBackupOutcome;

/*
 * Takes a base backup of the server into the repository with PostgreSQL's non-exclusive backup API
 * (pg_backup_start, fast checkpoint; the files copied; pg_backup_stop), waits until the WAL from its start to
 * its stop is in the repository (PD_BACKUP_ARCHIVE_WAIT_S at most), and writes its manifest
 * last. Interrupted backups' folders are removed first, under the repository's backup lock. The data
 * directory must be this machine's. Errors: PD_ERR_REFUSED (a standby, archive_mode off, another system's
 * repository, another backup running, WAL missing from the repository), PD_ERR_DB_CONNECT, PD_ERR_DB_QUERY,
 * PD_ERR_IO, PD_ERR_NO_MEMORY; on error no manifest is written (the folder is an incomplete backup).
 */
bool pd_backup_take(PdArena *arena, const PdBackupOptions *options, PdBackupOutcome *outcome, PdError *err);

/*
 * The backup a diff (the newest full) or an incr (the newest of any type) builds on, in repo: of pg_version's
 * major version, and on the history of timeline (the server's now) past its stop. *prior is NULL for a
 * full, or when none qualifies: then *why_full says why (arena-allocated) and the backup is taken in full.
 * Errors: as pd_backup_list and pd_archive_scan, PD_ERR_NO_MEMORY.
 */
bool pd_backup_choose_prior(PdArena *arena, const char *repo, const PdArchiveKey *key, PdBackupType type,
                            uint32_t timeline, int pg_version, const PdBackupManifest **prior,
                            const char **why_full, PdError *err);

/* ---- verify (backup_verify.c) -------------------------------------------------------------------- */

typedef struct PdBackupVerifyReport
{
    size_t backup_count;   /* backups checked */
    size_t file_count;     /* stored files read back */
    uint64_t bytes;        /* their original bytes */
    const char **problems; /* "LABEL: PATH: why" for each file that does not verify or is missing */
    size_t problem_count;
    const char **wal_problems; /* "LABEL: ..." for each segment or gap that a backup's restore would miss */
    size_t wal_problem_count;
    PdArchiveReport wal; /* the archive's scan (timelines, gaps, newest) */
} PdBackupVerifyReport;

/*
 * Reads back every file stored by the backups of repo (label's only, when not NULL) with jobs threads,
 * checking each as a restore would (header, zstd frame, size, SHA-256) and against its manifest, then the
 * WAL each backup needs (its start to its stop archived, no gap after its start). Problems go into *report
 * (arena-allocated); an error is returned only when the check itself cannot run. Errors: PD_ERR_NOT_FOUND
 * (no backup label), as pd_backup_list and pd_archive_scan, PD_ERR_NO_MEMORY.
 */
bool pd_backup_verify(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label, int jobs,
                      PdBackupVerifyReport *report, PdError *err);

/* ---- verify by restoring (backup_trial.c) ----------------------------------------------------- */

/* The record of the last trial, beside a backup's manifest. */
#define PD_BACKUP_TRIAL_NAME "verify.json"

typedef struct PdBackupTrialOptions
{
    const char *repo;
    const PdArchiveKey *key;    /* the repository's; NULL: a plain repository */
    const char *key_file;       /* where restore_command finds it (--archive-key-file) */
    const char *label;          /* the backup; NULL: the newest */
    const char *pg_bin;         /* PostgreSQL's programs (pg_ctl): /usr/lib/postgresql/MAJOR/bin */
    const char *scratch_parent; /* where the scratch directory is made ($TMPDIR or /tmp) */
    const char *user;      /* the role to connect as: the account PostgreSQL runs as (initdb's default) */
    const char *wal_fetch; /* the program restore_command runs, as for a restore */
    int jobs;
} PdBackupTrialOptions;

typedef struct PdBackupTrialReport
{
    const char *label;
    const char *scratch; /* removed at the end */
    double restore_seconds, start_seconds, check_seconds;
    size_t database_count; /* checked */
    size_t index_count;    /* B-tree indexes checked with bt_index_check(heapallindexed) */
    size_t table_count;    /* tables checked with verify_heapam */
    int64_t rows;          /* in the user tables */
    const char **problems; /* "DATABASE: RELATION: what amcheck says" */
    size_t problem_count;
} PdBackupTrialReport;

/*
 * Restores options->label (or the newest backup) into a scratch directory, recovers it to its consistency
 * point, starts PostgreSQL on it (a socket in the scratch directory only), runs amcheck on every B-tree index
 * and table of every database and counts the user tables' rows; stops it, removes the directory, and records
 * the outcome as backup/LABEL/verify.json. Problems go into *report. Errors (no record written): as
 * pd_backup_restore, PD_ERR_IO (pg_ctl failed; err->detail the server log's end), PD_ERR_REFUSED (not
 * consistent in time), PD_ERR_DB_CONNECT, PD_ERR_DB_QUERY (amcheck missing), PD_ERR_NO_MEMORY.
 */
bool pd_backup_trial(PdArena *arena, const PdBackupTrialOptions *options, PdBackupTrialReport *report,
                     PdError *err);

/* The JSON text of backup label's last trial (*json NULL when none). Errors: PD_ERR_IO, PD_ERR_NO_MEMORY. */
bool pd_backup_trial_read(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label,
                          char **json, PdError *err);

/* ---- retention (backup_expire.c) ----------------------------------------------------------------- */

typedef struct PdBackupExpireOptions
{
    const char *repo;
    const PdArchiveKey *key;
    int retain_full; /* keep the newest N full backups (and what they build on); 0: no such rule */
    int retain_days; /* keep what restores to any moment of the last D days; -1: no such rule */
    bool is_dry_run; /* say what would go, remove nothing */
} PdBackupExpireOptions;

typedef struct PdBackupExpireReport
{
    const char **removed; /* labels of the backups removed (or that would be), oldest first */
    size_t removed_count;
    size_t kept;
    const char *oldest_kept; /* its start is where the WAL kept begins */
    size_t wal_removed;      /* archived WAL files removed: segments, .partial and .backup files */
    uint64_t wal_bytes;
} PdBackupExpireReport;

/*
 * Applies retention to repo under its backup lock: keeps the newest retain_full full backups and what they
 * build on, and (retain_days >= 0) the newest backup that ended before now minus retain_days days with every
 * later one; always the newest backup. Removes the other backups, then the archived WAL before the oldest
 * kept backup's start (on its timeline and earlier ones; history files stay). Errors: PD_ERR_USAGE (neither
 * rule given), PD_ERR_REFUSED (a backup is running), as pd_backup_list and pd_archive_scan, PD_ERR_IO.
 */
bool pd_backup_expire(PdArena *arena, const PdBackupExpireOptions *options, PdBackupExpireReport *report,
                      PdError *err);

/* ---- restore points (backup_points.c) ------------------------------------------------------------ */

typedef struct PdBackupPoint
{
    const char *name;
    uint64_t lsn; /* pg_create_restore_point's */
    int64_t time; /* when it was made, seconds since the epoch */
} PdBackupPoint;

/* Whether name can be a restore point's: 1 to 63 printable bytes, no '/', not "." or "..". */
bool pd_backup_point_name_ok(const char *name);

/*
 * Makes the restore point name on the server (pg_create_restore_point, then pg_switch_wal so that it is
 * archived at once) and records it in repo (backup/points/NAME.json). *point is filled. Errors: PD_ERR_USAGE
 * (a name that cannot be one), PD_ERR_REFUSED (the name was made before), PD_ERR_DB_CONNECT, PD_ERR_DB_QUERY,
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_backup_point_create(PdArena *arena, const char *repo, const char *conninfo, const char *name,
                            PdBackupPoint *point, PdError *err);

/* Reads the recorded restore point name: *is_found false when none is. Errors: PD_ERR_REFUSED (a file that
 * does not read), PD_ERR_NO_MEMORY. */
bool pd_backup_point_read(PdArena *arena, const char *repo, const char *name, PdBackupPoint *point,
                          bool *is_found, PdError *err);

/* ---- restoring a backup (restore.c, restore_target.c) ------------------------------------------- */

typedef enum PdRestoreTargetKind
{
    PD_RESTORE_END,       /* no target: recover to the end of the archived WAL */
    PD_RESTORE_IMMEDIATE, /* recovery_target = 'immediate': stop as soon as the backup is consistent */
    PD_RESTORE_TIME,      /* recovery_target_time */
    PD_RESTORE_LSN,       /* recovery_target_lsn */
    PD_RESTORE_XID,       /* recovery_target_xid */
    PD_RESTORE_NAME,      /* recovery_target_name (pg_create_restore_point) */
} PdRestoreTargetKind;

typedef struct PdRestoreOptions
{
    const char *repo;        /* the repository (archive_dir) */
    const PdArchiveKey *key; /* the repository's; NULL: a plain repository */
    const char *key_file;    /* with key: the file restore_command reads it from (--archive-key-file) */
    const char *data_dir;    /* the directory to restore into: absent (created) or empty */
    const char *label;       /* the backup; NULL: the newest that ends before the target */
    PdRestoreTargetKind target_kind;
    const char *target;        /* its value as given (a time with an offset, an LSN, an xid, a name) */
    bool exclusive;            /* stop just before the target rather than just after it */
    const char *target_action; /* recovery_target_action: "promote", "pause" or "shutdown" */
    const char
        *target_timeline;  /* recovery_target_timeline ("current", "latest" or a number); NULL: latest */
    bool keeps_archiving;  /* keep the backup's archive_mode; else archive_mode = off (a copy must not
                              push its new timeline into the repository of the cluster it came from) */
    const char *wal_fetch; /* the program restore_command runs: prodata-wal (or prodata), as a path */
    int jobs;
    bool is_delta; /* data_dir holds this cluster already: rewrite only what differs, remove what is extra */
    bool as_standby;            /* to become a standby: no target, no recovery settings, no recovery.signal */
    const char *tablespace_map; /* "OID=DIR,OID=DIR": where those tablespaces go; NULL: their own targets */
    const char *tablespace_root;  /* every other tablespace to ROOT/OID; NULL: its own target */
    int max_age_s;                /* > 0: refuse a backup that ended longer ago than this */
    int port;                     /* > 0: port = N in the restored postgresql.auto.conf */
    struct PdRestoreStats *stats; /* out, when not NULL */
    const char *pg_bin; /* pg_waldump's folder, for the target check; NULL: /usr/lib/postgresql/MAJOR/bin */
    const char *scratch_parent; /* where the target check reads WAL (a directory of its own); NULL: /tmp */
    bool skips_target_check;    /* do not check that the archived WAL reaches the target (restore_reach.c) */
} PdRestoreOptions;

/* What a restore wrote. */
typedef struct PdRestoreStats
{
    uint64_t bytes_written;
    uint64_t bytes_kept; /* --delta: found on disk already */
    size_t removed;      /* --delta: entries the backup does not have, removed */
    const char **chain;  /* the backups read, the chosen one first */
    size_t chain_count;
} PdRestoreStats;

/* The recovery setting of a target kind ("recovery_target_time"); NULL for PD_RESTORE_END. */
const char *pd_restore_target_setting(PdRestoreTargetKind kind);

/* Writes a time as "2026-12-01 10:30:00+00" (UTC, the form --target-time reads back) into out. */
void pd_backup_format_time(int64_t epoch, char out[32]);

/* Reads "YYYY-MM-DD HH:MM:SS[.fraction]" ('T' also separates) and an offset ("Z", "+01", "-05:30"). */
bool pd_restore_parse_time(const char *text, int64_t *epoch);

/*
 * The backup a restore starts from (*chosen, arena-allocated): options->label's, or the newest complete
 * backup that ends before the target (its stop time or LSN at or before a time or LSN target, or a restore
 * point recorded by pd_backup_point_create; any backup for a point made otherwise or an xid). Errors:
 * PD_ERR_USAGE (a target that does not read as its kind, err->field the setting), PD_ERR_NOT_FOUND (no
 * complete backup, or none of that label), PD_ERR_REFUSED (the target is before the end of the backup
 * named, or of every backup: the message names the earliest target that works), as pd_backup_list.
 */
bool pd_restore_choose(PdArena *arena, const PdRestoreOptions *options, PdBackupManifest *chosen,
                       PdError *err);

/*
 * Restores the chosen backup (pd_restore_choose) into options->data_dir: folders, files by options->jobs
 * threads (each checked against the manifest's size and SHA-256 as written; one syncfs at the end),
 * backup_label, tablespace_map, recovery.signal, and restore_command and the target appended to
 * postgresql.auto.conf. Start PostgreSQL on it to recover. Before anything is written, a target is checked
 * against the archived WAL with pg_waldump (unless options->skips_target_check). Errors: as
 * pd_restore_choose, PD_ERR_REFUSED (a target the archived WAL does not reach, or no pg_waldump to check it;
 * a directory that is not empty: nothing written; a file that does not match its manifest, named), PD_ERR_IO,
 * PD_ERR_NO_MEMORY.
 */
bool pd_backup_restore(PdArena *arena, const PdRestoreOptions *options, PdBackupManifest *chosen,
                       PdError *err);

/* ---- starting the restored copy (restore_start.c) ------------------------------------------------ */

/* The server log a started restore writes, in the restored data directory. */
#define PD_RESTORE_LOG_NAME "prodata-restore.log"

typedef struct PdRestoreStartOptions
{
    const char *pg_bin; /* pg_ctl's folder; NULL: /usr/lib/postgresql/MAJOR/bin */
    int wait_seconds;   /* for the target at most */
} PdRestoreStartOptions;

typedef struct PdRestoreReached
{
    const char *state;            /* "promoted, accepting connections", "paused at the target", ... */
    const char *stopped_at;       /* PostgreSQL's "recovery stopping ..." line; NULL at the end of the WAL */
    const char *last_transaction; /* its "last completed transaction was at log time ..." line, or NULL */
    const char *log;              /* the server log */
} PdRestoreReached;

/*
 * Starts PostgreSQL on the directory pd_backup_restore wrote (options as given to it) and waits until
 * recovery reached its target and did the target action (or, without a target, promoted at the end of the
 * archived WAL), at most start->wait_seconds. Errors: PD_ERR_IO (pg_ctl failed), PD_ERR_REFUSED (a FATAL
 * line, the server gone, or the time up: the message quotes the log), PD_ERR_NO_MEMORY.
 */
bool pd_restore_start(PdArena *arena, const PdRestoreOptions *options, const PdBackupManifest *chosen,
                      const PdRestoreStartOptions *start, PdRestoreReached *reached, PdError *err);

#endif

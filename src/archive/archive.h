/*
 * archive.h - the WAL archive: what the command (src/cli/cmd_archive.c) calls.
 * PostgreSQL's archiver hands each finished WAL file to `prodata wal-push`
 * (pd_archive_push), recovery asks for them back with `prodata wal-fetch`
 * (pd_archive_fetch), and `prodata archive check` reads the directory
 * (pd_archive_scan) and the archiver's state (pd_archive_backlog). An archived
 * file keeps PostgreSQL's name and holds a 64-byte header (format, compression,
 * sizes, SHA-256 of the original bytes) before its payload. With base
 * backups beside the WAL the directory is a repository: backup.h, included
 * at the end, is that half of the interface (`prodata backup`, `restore`).
 * Not part of libprodata: the prodata binary links it.
 */
#ifndef PRODATA_ARCHIVE_H
#define PRODATA_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"

/* ---- names (walname.c) ----------------------------------------------------------------------------- */

/* The files PostgreSQL archives, by the shape of their names (xlog_internal.h). */
typedef enum PdWalKind
{
    PD_WAL_SEGMENT, /* 000000010000000A000000FF: timeline, log, seg, 24 upper-case hex digits */
    PD_WAL_PARTIAL, /* 000000010000000A000000FF.partial: the last segment of a timeline, cut at promotion */
    PD_WAL_HISTORY, /* 00000002.history: how a timeline branched off its parent */
    PD_WAL_BACKUP,  /* 000000010000000A000000FF.00000028.backup: a base backup's label */
} PdWalKind;

typedef struct PdWalName
{
    PdWalKind kind;
    uint32_t timeline;
    uint32_t log; /* the high 32 bits of the segment's place; 0 for a history file */
    uint32_t seg; /* the segment within log */
} PdWalName;

/* The length of a segment's name, without the NUL. */
#define PD_WAL_NAME_LENGTH 24
/* The segment size when nothing says otherwise: PostgreSQL's default. */
#define PD_WAL_DEFAULT_SEGMENT_BYTES (16u * 1024 * 1024)

/*
 * Reads a file name (no folder) as PostgreSQL names WAL files. Errors:
 * PD_ERR_INVALID_INPUT naming the name and the expected shapes. No allocation.
 */
bool pd_archive_parse_name(const char *name, PdWalName *out, PdError *err);

/* Whether bytes is a valid segment size: a power of two from 1 MB to 1 GB (initdb --wal-segsize). */
bool pd_archive_is_segment_size(uint64_t bytes);

/* Segments per log value for a segment size: 256 for 16 MB. */
uint64_t pd_archive_segments_per_log(uint32_t segment_bytes);

/*
 * The number of a segment (or the segment a .partial or .backup names) counted from the start of WAL:
 * log * segments_per_log + seg. False when seg is too large for segment_bytes.
 */
bool pd_archive_segno(const PdWalName *name, uint32_t segment_bytes, uint64_t *segno);

/* The segment name of timeline and segno: 24 characters and a NUL into out. */
void pd_archive_segment_name(uint32_t timeline, uint64_t segno, uint32_t segment_bytes, char out[25]);

/* ---- a segment's first page and the archive's system (segment.c) ------------------------------------ */

/* What the long page header at the start of every WAL segment says (xlog_internal.h). */
typedef struct PdWalSegmentHeader
{
    uint32_t timeline;     /* of the first record on the page: the parent's in a timeline's first segment */
    uint64_t page_address; /* the WAL position of the page: segno * segment_bytes */
    uint64_t system_identifier;
    uint32_t segment_bytes;
    uint32_t block_bytes;
} PdWalSegmentHeader;

/* The bytes of the long page header that are read. */
#define PD_WAL_LONG_HEADER_BYTES 40

/*
 * Reads the long page header from the first bytes of a segment (as PostgreSQL wrote them, in this
 * machine's byte order) and checks it against the segment's name and its file's size: a long header, a
 * segment size that is the file's, a block size that is a power of two, the page address the name's
 * segment number gives, a timeline not after the name's. path names the file in messages. Errors:
 * PD_ERR_INVALID_INPUT ("PATH is not the WAL segment its name says: ...", err->field the header field).
 */
bool pd_archive_read_segment_header(const unsigned char *bytes, size_t length, const PdWalName *name,
                                    uint64_t file_bytes, const char *path, PdWalSegmentHeader *out,
                                    PdError *err);

/* The file in the archive directory that records whose WAL it holds. */
#define PD_ARCHIVE_SYSTEM_FILE "prodata.archive"

/*
 * Makes sure the archive directory dir holds WAL of the database system system_identifier only: records it
 * in PD_ARCHIVE_SYSTEM_FILE on the first segment (written atomically, as a segment is), compares it after.
 * Errors: PD_ERR_REFUSED (another system's archive: both identifiers named), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_claim_system(PdArena *arena, const char *dir, uint64_t system_identifier, const char *path,
                             PdError *err);

/*
 * Reads the system identifier recorded in dir: *is_recorded says whether there is one, *system_identifier
 * holds it. Errors: PD_ERR_REFUSED (the file does not read as one), PD_ERR_IO.
 */
bool pd_archive_read_system(const char *dir, uint64_t *system_identifier, bool *is_recorded, PdError *err);

/* ---- the repository's key (key.c, seal.c) ------------------------------------------------------------- */

/* The repository's key: every file of an encrypted repository is sealed with a key derived from it. */
typedef struct PdArchiveKey
{
    unsigned char bytes[32];
} PdArchiveKey;

/* The least key material accepted: 32 bytes (`openssl rand -base64 32` gives 44). */
#define PD_ARCHIVE_KEY_MIN_BYTES 32
/* The file that marks a repository as encrypted and tells a wrong key at once (a sealed known text). */
#define PD_ARCHIVE_KEY_CHECK_FILE "prodata.keycheck"

/*
 * The key from its material (a key file's bytes or the archive_key setting: at least
 * PD_ARCHIVE_KEY_MIN_BYTES, never stored), by HKDF-SHA256. what names the source in errors (never the
 * material). Errors: PD_ERR_USAGE (too short), PD_ERR_INTERNAL (OpenSSL).
 */
bool pd_archive_key_derive(const void *material, size_t length, const char *what, PdArchiveKey *key,
                           PdError *err);

/*
 * Checks that key (NULL: none) is the repository dir's: an encrypted repository (it holds
 * PD_ARCHIVE_KEY_CHECK_FILE) needs its own key, a plain one none. With a key and no check file, a repository
 * that holds nothing yet becomes encrypted when may_mark (the commands that write into it), and one that
 * holds files is refused (encryption is chosen when a repository starts). A directory that does not exist
 * passes (its command says so). Errors: PD_ERR_REFUSED (no key, a wrong key, a key for a plain
 * repository), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_key_check(PdArena *arena, const char *dir, const PdArchiveKey *key, bool may_mark,
                          PdError *err);

/* ---- the stored file's header (header.c) ------------------------------------------------------------- */

#define PD_ARCHIVE_HEADER_BYTES 64

typedef enum PdArchiveCompress
{
    PD_ARCHIVE_COMPRESS_NONE, /* in the order of the archive_compress setting's choices */
    PD_ARCHIVE_COMPRESS_ZSTD,
} PdArchiveCompress;

typedef struct PdArchiveHeader
{
    PdArchiveCompress compress;
    uint64_t original_bytes;  /* the file as PostgreSQL wrote it */
    uint64_t stored_bytes;    /* the payload after the header */
    unsigned char sha256[32]; /* of the original bytes */
} PdArchiveHeader;

/* The 64 bytes: "PDWALARC", version 1, compression, sizes (little-endian), SHA-256, zero padding. */
void pd_archive_header_encode(const PdArchiveHeader *header, unsigned char out[PD_ARCHIVE_HEADER_BYTES]);

/*
 * Reads a header from bytes (length of them available). path names the file in messages. Errors:
 * PD_ERR_REFUSED ("archived file PATH is corrupt: why", err->field naming the field: header, magic,
 * version, compress, reserved, original_bytes, stored_bytes).
 */
bool pd_archive_header_decode(const unsigned char *bytes, size_t length, const char *path,
                              PdArchiveHeader *out, PdError *err);

/* ---- push, fetch, verify (push.c, fetch.c, payload.c) ---------------------------------------------- */

typedef struct PdArchiveOptions
{
    const char *dir; /* the archive directory; must exist */
    PdArchiveCompress compress;
    int zstd_level;
    const PdArchiveKey *key; /* NULL: a plain repository */
    const char *key_file;    /* where the key was read from; NULL: none (or the archive_key setting) */
    int prefetch;            /* wal-fetch: segments read ahead for recovery (prefetch.c); 0: none */
} PdArchiveOptions;

typedef enum PdArchivePushOutcome
{
    PD_ARCHIVE_STORED,           /* written and made durable */
    PD_ARCHIVE_ALREADY_ARCHIVED, /* the same bytes were already there (verified): nothing written */
} PdArchivePushOutcome;

/*
 * Stores the file at source_path under its own name in options->dir: written to a temporary file in
 * that directory while hashed (and compressed), fsynced, linked under the final name (never replacing
 * one), the temporary name removed and the directory fsynced. A name already archived with the same
 * content (checked against the archived copy, which is verified) succeeds with ALREADY_ARCHIVED.
 * Errors: PD_ERR_INVALID_INPUT (not a WAL file name, a segment of an impossible size), PD_ERR_REFUSED
 * (a different file already archived under the name, or the archived copy is corrupt: nothing is
 * overwritten), PD_ERR_IO (naming the file and the call), PD_ERR_NO_MEMORY.
 */
bool pd_archive_push(PdArena *arena, const PdArchiveOptions *options, const char *source_path,
                     PdArchivePushOutcome *outcome, PdError *err);

/*
 * True when the segment name (segment_bytes long) lies wholly before the end of its timeline in the
 * lineage of the newest timeline whose history the archive holds, or when no newer timeline is archived
 * (fork.c). False with PD_ERR_NOT_FOUND (err->field "timeline", the message naming the end and the
 * history file) when it holds WAL past that end: a fork that recovery must never replay. Other errors:
 * PD_ERR_IO, PD_ERR_REFUSED (a corrupt or oversized history), PD_ERR_INVALID_INPUT (a history that does not
 * parse), PD_ERR_NO_MEMORY.
 */
bool pd_archive_check_fork(PdArena *arena, const PdArchiveOptions *options, const PdWalName *name,
                           uint64_t segment_bytes, PdError *err);

/*
 * Restores the archived file name into dest_path: decompressed and checked against its SHA-256 while
 * written to a temporary file beside dest_path, which is renamed over dest_path only when it matches.
 * A segment past its timeline's end in the newest timeline's lineage is not restored into a dest_path named
 * RECOVERYXLOG, PostgreSQL recovery's (pd_archive_check_fork); pg_rewind's restores are not judged.
 * Errors: PD_ERR_NOT_FOUND (nothing archived under name: the common case during recovery; or a fork),
 * PD_ERR_INVALID_INPUT (name is not a WAL file name), PD_ERR_REFUSED (the archived file is corrupt:
 * bad header, wrong size or checksum), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_fetch(PdArena *arena, const PdArchiveOptions *options, const char *name,
                      const char *dest_path, PdError *err);

/* ---- read-ahead for recovery (prefetch.c, docs/archive.md "Read-ahead") ------------------------------ */

/* The spool for a request into dest (pg_wal/RECOVERYXLOG): pg_wal/prodata-prefetch. NULL: out of memory. */
char *pd_archive_prefetch_spool(PdArena *arena, const char *dest);

/* Removes the spool's segments older than name (segment_bytes long), and temporary files a killed
 * prefetcher left. */
void pd_archive_prefetch_sweep(const char *spool, const PdWalName *name, uint32_t segment_bytes);

/*
 * Recovery's segment name (parsed) from the spool beside dest_path, into dest_path by a rename: only when
 * the archive still holds name, the spooled file is the whole segment its first page says, and it passes
 * pd_archive_check_fork as the archived one would. 1 taken (*segment_bytes its size), 0 not spooled (or
 * not trusted: fetch it from the archive), -1 refused (err: a fork, PD_ERR_NOT_FOUND).
 */
int pd_archive_prefetch_take(PdArena *arena, const PdArchiveOptions *options, const PdWalName *parsed,
                             const char *name, const char *dest_path, uint32_t *segment_bytes, PdError *err);

/*
 * Starts, detached, a prefetcher of the options->prefetch segments after name (on its timeline) into the
 * spool beside dest, unless one runs already. Best effort: nothing to report (recovery's own requests
 * fetch what is not spooled).
 */
void pd_archive_prefetch_start(PdArena *arena, const PdArchiveOptions *options, const PdWalName *name,
                               uint32_t segment_bytes, const char *dest);

/* Removes the spool of the pg_wal folder wal_dir, and all in it (recovery over). */
void pd_archive_prefetch_remove(PdArena *arena, const char *wal_dir);

/*
 * Reads the archived file at path whole, decompressing, and checks its size and SHA-256 against its header
 * (*header filled when not NULL). Errors: PD_ERR_REFUSED (corrupt, saying how), PD_ERR_IO,
 * PD_ERR_NO_MEMORY.
 */
bool pd_archive_verify(PdArena *arena, const PdArchiveKey *key, const char *path, PdArchiveHeader *header,
                       PdError *err);

/* ---- check (scan.c, gaps.c, history.c, backlog.c)
 * --------------------------------------------------------------- */

typedef struct PdArchiveGap
{
    uint32_t timeline;
    uint64_t first_segno; /* the missing run, both ends included */
    uint64_t last_segno;
    char first[25]; /* their names */
    char last[25];
} PdArchiveGap;

typedef struct PdArchiveTimeline
{
    uint32_t timeline;
    uint64_t first_segno; /* the lowest and highest segment archived on it (a .partial counts) */
    uint64_t last_segno;
    size_t segments; /* distinct segments, .partial included */
    bool has_history;
    bool ends_partial;   /* its highest segment is a .partial only */
    uint32_t parent;     /* from its history file: the timeline it branched off, 0 when unknown */
    uint64_t switch_lsn; /* and where */
} PdArchiveTimeline;

typedef struct PdArchiveReport
{
    uint32_t segment_bytes;       /* from the archived segments' headers, else the default */
    PdArchiveTimeline *timelines; /* ascending */
    size_t timeline_count;
    PdArchiveGap *gaps; /* by timeline, then segment */
    size_t gap_count;
    char newest[64]; /* the newest segment: highest timeline, then segment; "" */
    size_t segment_count, partial_count, history_count, backup_count;
    const char **temporary; /* leftover temporary files of an interrupted push */
    size_t temporary_count;
    const char **unknown; /* other files */
    size_t unknown_count;
    uint64_t system_identifier; /* recorded in PD_ARCHIVE_SYSTEM_FILE, 0 when none */
    const char **corrupt;       /* with verify: "name: why" of each file that does not verify */
    size_t corrupt_count;
    size_t verified_count;
} PdArchiveReport;

/*
 * The gaps in names (any order; history and backup files are skipped): per timeline, each run of segment
 * numbers missing between its lowest and highest archived segment. Fills report's timelines, gaps and
 * newest (arena-allocated); other fields are left as they are. Errors: PD_ERR_NO_MEMORY.
 */
bool pd_archive_find_gaps(PdArena *arena, const PdWalName *names, size_t count, uint32_t segment_bytes,
                          PdArchiveReport *report, PdError *err);

/* Where a timeline branched off its parent: the last line of its history file. */
typedef struct PdArchiveSwitch
{
    uint32_t timeline;
    uint32_t parent;
    uint64_t switch_lsn;
} PdArchiveSwitch;

/*
 * Reads the text of timeline's history file (length bytes, as PostgreSQL writes it: "parent<TAB>X/Y<TAB>
 * reason" per line, # comments, blank lines) into *out: its last line, the switch from the direct parent.
 * Each line's parent must be below timeline and its LSN not before the previous line's. path names the file
 * in messages. Errors: PD_ERR_INVALID_INPUT naming path:line (no line at all is one too), PD_ERR_NO_MEMORY.
 */
bool pd_archive_parse_history(const char *text, size_t length, const char *path, uint32_t timeline,
                              PdArchiveSwitch *out, PdError *err);

/*
 * The gaps across timelines, after pd_archive_find_gaps filled report: for each switch, the parent's
 * segments must reach the one before the switch segment, and the child's must start at the switch segment
 * at the latest; a timeline with no archived segment is not judged. Adds to report->gaps (sorted again by
 * timeline and segment) and fills the timelines' parent and switch_lsn. Errors: PD_ERR_NO_MEMORY.
 */
bool pd_archive_find_switch_gaps(PdArena *arena, const PdArchiveSwitch *switches, size_t count,
                                 uint32_t segment_bytes, PdArchiveReport *report, PdError *err);

/*
 * Reads the archive directory dir: every file classified, the segment size from a segment's header, the
 * gaps; with verify every archived file is read and checked too. Errors: PD_ERR_IO (dir cannot be read),
 * PD_ERR_NO_MEMORY; a file that does not verify is listed in report->corrupt, not an error.
 */
bool pd_archive_scan(PdArena *arena, const char *dir, const PdArchiveKey *key, bool verify,
                     PdArchiveReport *report, PdError *err);

/* The archiver's state on a running server (pg_stat_archiver, pg_ls_archive_statusdir). */
typedef struct PdArchiveBacklog
{
    long long archived_count, failed_count;
    const char *last_archived_wal, *last_archived_time; /* "" when none */
    const char *last_failed_wal, *last_failed_time;
    long long ready_count;    /* .ready files: segments waiting for archive_command */
    const char *oldest_ready; /* "" when none */
    const char *current_wal;  /* pg_walfile_name(pg_current_wal_lsn()), "" on a standby */
} PdArchiveBacklog;

/*
 * Connects with conninfo (libpq's; "" uses the PG* variables) and reads the archiver's state. Strings live
 * in arena. Errors: PD_ERR_DB_CONNECT, PD_ERR_DB_QUERY (pg_ls_archive_statusdir needs superuser or
 * pg_monitor), PD_ERR_NO_MEMORY.
 */
bool pd_archive_backlog(PdArena *arena, const char *conninfo, PdArchiveBacklog *backlog, PdError *err);

/* The repository's backups and restores: the other half of this interface. */
#include "backup.h"

#endif

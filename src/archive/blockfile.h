/*
 * blockfile.h - how a backup stores a relation file: as runs, each the pages
 * present of a window of up to 128 pages, compressed on its own, with a map
 * at the end: the runs, and a hash of every page of the file as it was
 * copied, stored or not (blockfile.c). Independent runs let a restore write
 * one 1 GB segment with every worker at once. The page hashes let a diff or
 * incr store only the pages whose content changed (compared with the prior
 * backup's hashes: no LSN is trusted), let a restore check each page it
 * writes, and let a delta restore keep a page whose hash matches. A window's
 * changed pages go into one run (one zstd frame, so scattered pages compress
 * as well as a whole file); the pages it does not hold come from the same
 * file in the backup it builds on. Private to src/archive.
 */
#ifndef PRODATA_ARCHIVE_BLOCKFILE_H
#define PRODATA_ARCHIVE_BLOCKFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "archive.h"
#include "backup.h"
#include "seal.h"

/* The stored file's first bytes: magic "PDBLOCKS", then its fields (blockfile.c). */
#define PD_BLOCKFILE_HEADER_BYTES 64
/* Pages in one run at most: 1 MB, what one worker decompresses, hashes and writes as a unit. */
#define PD_BLOCKFILE_RUN_PAGES 128

/* One run: the pages present of a window of the data file, in order, stored as one zstd frame (or plain). */
typedef struct PdBlockRun
{
    uint32_t first_block;  /* the window's first page, from the start of the data file: a multiple of 128 */
    uint32_t span;         /* the window's pages: 1 .. PD_BLOCKFILE_RUN_PAGES */
    uint64_t present[2];   /* bit i (of present[i / 64]): page first_block + i is in the run */
    uint32_t page_count;   /* the bits set: the pages stored, at least 1 */
    uint64_t offset;       /* where its payload starts in the stored file */
    uint64_t stored_bytes; /* the payload's length */
} PdBlockRun;

/* A page's hash: the first 8 bytes of its SHA-256, little-endian. */
uint64_t pd_blockfile_page_hash(const unsigned char *page);

/* Whether page first_block + i is in the run. */
static inline bool
pd_blockfile_has(const PdBlockRun *run, uint32_t i)
{
    return i < run->span && (run->present[i / 64] >> (i % 64) & 1) != 0;
}

/* The header and map of a stored relation file. */
typedef struct PdBlockMap
{
    uint64_t file_bytes; /* the data file's size when copied: whole pages */
    PdArchiveCompress compress;
    PdBlockRun *runs; /* by first_block, not overlapping, inside file_bytes */
    size_t run_count;
    uint64_t *page_hashes;    /* file_bytes / page size of them: every page as copied, stored here or not */
    uint64_t stored_bytes;    /* the stored file's size after its header */
    unsigned char sha256[32]; /* of the header and the map as stored: the manifest's sha256 of the file */
} PdBlockMap;

/* Writes one stored relation file (one thread). Its memory lives in the arena given to begin. */
typedef struct PdBlockWriter
{
    PdArena *arena;
    PdSealOut *out; /* the stored file: plain or sealed (seal.c) */
    const char *path;
    PdArchiveCompress compress;
    void *cctx;           /* ZSTD_CCtx */
    unsigned char *frame; /* a compressed run */
    size_t frame_size;
    PdBlockRun *runs;
    size_t run_count;
    uint64_t *page_hashes;
    size_t page_count;    /* hashes recorded: the number of the next page */
    size_t hash_capacity; /* room in page_hashes */
    uint64_t offset;      /* where the next run's payload goes */
    uint64_t next_page;   /* the first page a next window may start at */
} PdBlockWriter;

/*
 * Starts the stored file opened as out (pd_seal_out_open: empty). Errors: PD_ERR_INTERNAL (zstd refused the
 * level), PD_ERR_NO_MEMORY.
 */
bool pd_blockfile_begin(PdArena *arena, PdBlockWriter *writer, PdSealOut *out, PdArchiveCompress compress,
                        int level, PdError *err);

/* Records the hashes of the next count pages of the file: every page is hashed, stored or not. Errors:
 * PD_ERR_NO_MEMORY. */
bool pd_blockfile_hashes(PdBlockWriter *writer, const uint64_t *hashes, size_t count, PdError *err);

/*
 * Adds a run: of the window of span pages (1 .. PD_BLOCKFILE_RUN_PAGES) from first_block (a multiple of
 * PD_BLOCKFILE_RUN_PAGES, past every window added before, its pages' hashes recorded), the pages whose bits
 * are set in present (at least one), given one after the other in pages. Errors: PD_ERR_IO, PD_ERR_INTERNAL
 * (the compressor failed), PD_ERR_INVALID_INPUT (an empty or misplaced window), PD_ERR_NO_MEMORY.
 */
bool pd_blockfile_add(PdBlockWriter *writer, uint32_t first_block, uint32_t span, const uint64_t present[2],
                      const unsigned char *pages, PdError *err);

/*
 * Ends the file: the map, then the header (file_bytes, the data file's size: a page for each hash
 * recorded); *map describes what was written (its runs and hashes in the writer's arena). Not made durable:
 * the backup syncs its file system once. Errors: PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_blockfile_finish(PdBlockWriter *writer, PdBlockMap *map, PdError *err);

/*
 * Reads and checks the header and map of the stored file opened as in: magic, version, a map
 * inside the file, runs in order inside file_bytes and the payload area. Errors: PD_ERR_REFUSED ("... is
 * corrupt: why"), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_blockfile_read_map(PdArena *arena, PdSealIn *in, PdBlockMap *map, PdError *err);

/* Reads runs (one thread): buffers for one run, reused. */
typedef struct PdBlockReader
{
    void *dctx;                  /* ZSTD_DCtx */
    unsigned char *payload;      /* a run as stored */
    unsigned char *pages;        /* a run's pages */
    unsigned char *seal_scratch; /* PD_SEAL_SCRATCH_BYTES, for pd_seal_in_open of the files read */
} PdBlockReader;

/* Errors: PD_ERR_NO_MEMORY. The reader's memory is freed with arena. */
bool pd_blockfile_reader(PdArena *arena, PdBlockReader *reader, PdError *err);

/*
 * Reads run of the stored file opened as in (compressed as map says) into reader->pages, each page checked
 * against its hash in the map. Errors: PD_ERR_REFUSED (corrupt: the frame, or a page whose hash differs,
 * named with path), PD_ERR_IO.
 */
bool pd_blockfile_read_run(PdBlockReader *reader, PdSealIn *in, const PdBlockMap *map, const PdBlockRun *run,
                           PdError *err);

#endif

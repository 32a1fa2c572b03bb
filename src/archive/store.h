/*
 * store.h - what the files of src/archive share and nobody else sees: file
 * I/O that reports errors as values naming the file (durable.c), and the two
 * payload streams (payload.c): the original bytes in, hashed and compressed
 * into an archived file; an archived file out, decompressed and checked.
 */
#ifndef PRODATA_ARCHIVE_STORE_H
#define PRODATA_ARCHIVE_STORE_H

#include "archive.h"
#include "seal.h"

/* Bytes read or written per call by the streams. */
#define PD_ARCHIVE_CHUNK_BYTES (1u << 20)

/* Writes all of length bytes to fd. Errors: PD_ERR_IO naming path and the errno. */
bool pd_archive_write_all(int fd, const void *data, size_t length, const char *path, PdError *err);

/* Reads up to length bytes (fewer only at end of file) into *got. Errors: PD_ERR_IO naming path. */
bool pd_archive_read_full(int fd, void *data, size_t length, size_t *got, const char *path, PdError *err);

/* The same from offset (pread: the file position is left alone), or from the file position when offset < 0.
 */
bool pd_archive_read_full_at(int fd, void *data, size_t length, int64_t offset, size_t *got, const char *path,
                             PdError *err);

/*
 * Writes text (length bytes) as dir/name durably: a temporary file (dir/.name.tmp) fsynced, renamed over
 * name, the folder fsynced; a crash leaves the old file or the new one. Errors: PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_write_durably(PdArena *arena, const char *dir, const char *name, const char *text,
                              size_t length, PdError *err);

/* fsync of the directory dir, so a link, rename or unlink in it survives a crash. Errors: PD_ERR_IO. */
bool pd_archive_fsync_dir(const char *dir, PdError *err);

/*
 * Makes everything written to the file system holding dir durable (syncfs): after a backup or a restore
 * wrote many files, one wait instead of one fsync per file. Errors: PD_ERR_IO.
 */
bool pd_archive_sync_filesystem(const char *dir, PdError *err);

/*
 * Runs PG_BIN/pg_ctl with args (NULL-terminated, the words after the program), without a shell, its output
 * discarded, and waits for it. log_path (the server log pg_ctl writes) is named in errors. Errors: PD_ERR_IO
 * (it could not run, or exited with a failure), PD_ERR_NO_MEMORY.
 */
bool pd_archive_pg_ctl(PdArena *arena, const char *pg_bin, const char *const *args, const char *log_path,
                       PdError *err);

/* PD_ERR_IO "could not VERB PATH: strerror(errno)". Returns false. */
bool pd_archive_io_error(PdError *err, const char *verb, const char *path);

/* "dir/name", arena-allocated (NULL when out of memory). */
char *pd_archive_join(PdArena *arena, const char *dir, const char *name);

/* Little-endian integers of the archive's binary headers, whatever the machine. */
static inline void
pd_archive_put_u32(unsigned char *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static inline void
pd_archive_put_u64(unsigned char *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static inline uint32_t
pd_archive_get_u32(const unsigned char *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

static inline uint64_t
pd_archive_get_u64(const unsigned char *in)
{
    return (uint64_t)pd_archive_get_u32(in) | (uint64_t)pd_archive_get_u32(in + 4) << 32;
}

/*
 * A zstd compression context at level (expected_bytes > 0: the size it will see, recorded in the frame), or
 * a decompression context, freed with arena (*context a ZSTD_CCtx or ZSTD_DCtx). Errors: PD_ERR_NO_MEMORY,
 * PD_ERR_INTERNAL (zstd refused the level).
 */
bool pd_archive_zstd_cctx(PdArena *arena, int level, uint64_t expected_bytes, void **context, PdError *err);
bool pd_archive_zstd_dctx(PdArena *arena, void **context, PdError *err);

/*
 * Reads in_fd to its end, hashing the bytes and, when stored is not NULL, writing them to the repository's
 * file compressed as header->compress says (zstd at zstd_level); expected_bytes (the file's size, or 0)
 * lets zstd record the size in its frame. Fills header's sizes and sha256 (the caller then closes stored
 * with the encoded header). in_path names the source in errors.
 * Errors: PD_ERR_IO, PD_ERR_NO_MEMORY, PD_ERR_INTERNAL (the compressor failed).
 */
bool pd_archive_stream_in(PdArena *arena, int in_fd, const char *in_path, uint64_t expected_bytes,
                          PdSealOut *stored, int zstd_level, PdArchiveHeader *header, PdError *err);

/*
 * Sees each chunk of the original bytes before it is hashed and stored: bytes, their length and their offset
 * in the file. Chunks are PD_ARCHIVE_CHUNK_BYTES long, the last one shorter, so a chunk starts on a page
 * boundary. Returning false stops the stream with the observer's error.
 */
typedef bool (*PdArchiveChunkFn)(void *context, const unsigned char *bytes, size_t length, uint64_t offset,
                                 PdError *err);

/* pd_archive_stream_in with observe (when not NULL) called on every chunk read. */
bool pd_archive_stream_in_observed(PdArena *arena, int in_fd, const char *in_path, uint64_t expected_bytes,
                                   PdSealOut *stored, int zstd_level, PdArchiveChunkFn observe, void *context,
                                   PdArchiveHeader *header, PdError *err);

/*
 * Reads the archived file opened as in (sealed or plain: seal.c): its header, then the payload,
 * decompressed and written to out_fd when >= 0, checked against the header's sizes and SHA-256.
 * *header receives the header. Errors: PD_ERR_REFUSED (corrupt: header, sizes, zstd frame or checksum),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_stream_out(PdArena *arena, PdSealIn *in, int out_fd, const char *out_path,
                           PdArchiveHeader *header, PdError *err);

/*
 * The original bytes of the small archived file at path (a history file: at most max_bytes - 1), checked as
 * pd_archive_stream_out checks them, into *text (arena, NUL-terminated). The stream's buffers live in an
 * arena of their own, freed before it returns. Errors: PD_ERR_REFUSED (corrupt, or larger than allowed),
 * PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_archive_read_small(PdArena *arena, const PdArchiveKey *key, const char *path, size_t max_bytes,
                           char **text, size_t *length, PdError *err);

/*
 * pd_archive_stream_out, with starts_writeback asking the kernel to start writing each chunk to disk as it is
 * written (sync_file_range), so that a restore's final sync waits for little: the disk works while the next
 * file is decompressed.
 */
bool pd_archive_stream_out_durable(PdArena *arena, PdSealIn *in, int out_fd, const char *out_path,
                                   bool starts_writeback, PdArchiveHeader *header, PdError *err);

#endif

/*
 * payload.c - the two streams of the archive, a megabyte at a time so a
 * 1 GB segment needs no more memory than a 16 MB one. In: the original bytes
 * are hashed (SHA-256, OpenSSL's EVP) and written plain or as one zstd frame.
 * Out: the header is read and checked, the payload decompressed, hashed and
 * written, and nothing counts as restored unless the sizes and the checksum
 * match the header exactly; any mismatch is "corrupt", named with its file.
 * The zstd and digest contexts are freed with the arena of the call.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "seal.h"
#include "store.h"

typedef struct Stream
{
    EVP_MD_CTX *digest;
    unsigned char *chunk; /* PD_ARCHIVE_CHUNK_BYTES */
    unsigned char *out;   /* the other side of the codec */
    size_t out_size;
    PdSealOut *stored; /* in: the repository's file (NULL: hash only) */
    int out_fd;        /* out: the file restored (-1: check only) */
    const char *out_path;
    uint64_t original_bytes, stored_bytes;
    uint64_t written_bytes; /* to out_fd so far */
    bool starts_writeback;  /* restore: the file is made durable at the end anyway */
} Stream;

static void
free_digest(void *digest)
{
    EVP_MD_CTX_free(digest);
}

static void
free_cctx(void *cctx)
{
    ZSTD_freeCCtx(cctx);
}

static void
free_dctx(void *dctx)
{
    ZSTD_freeDCtx(dctx);
}

static bool
stream_open(PdArena *arena, Stream *stream, PdSealOut *stored, int out_fd, const char *out_path,
            size_t out_size, PdError *err)
{
    memset(stream, 0, sizeof(*stream));
    stream->stored = stored;
    stream->out_fd = out_fd;
    stream->out_path = stored != NULL ? stored->path : out_path;
    stream->out_size = out_size;
    stream->chunk = pd_arena_alloc(arena, PD_ARCHIVE_CHUNK_BYTES);
    stream->out = pd_arena_alloc(arena, out_size);
    stream->digest = EVP_MD_CTX_new();
    if (stream->digest != NULL && !pd_arena_on_free(arena, free_digest, stream->digest))
    {
        EVP_MD_CTX_free(stream->digest);
        stream->digest = NULL;
    }
    if (stream->chunk == NULL || stream->out == NULL || stream->digest == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the archive's buffers");
    if (EVP_DigestInit_ex(stream->digest, EVP_sha256(), NULL) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not start a SHA-256 digest");
    return true;
}

/* Original bytes seen: hashed and counted. */
static bool
stream_hash(Stream *stream, const void *bytes, size_t length, PdError *err)
{
    stream->original_bytes += length;
    if (EVP_DigestUpdate(stream->digest, bytes, length) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not update a SHA-256 digest");
    return true;
}

/*
 * Writes to the output: the repository's file (sealed or plain: seal.c), or the file restored. A restore
 * also starts the kernel's writeback of those bytes at once (Linux), so the disk works while the next
 * chunk is decompressed and the final sync has less to wait for. The hint's failure is harmless: the sync
 * still makes everything durable.
 */
static bool
stream_write(Stream *stream, const void *bytes, size_t length, PdError *err)
{
    if (length == 0)
        return true;
    if (stream->stored != NULL)
        return pd_seal_out_write(stream->stored, bytes, length, err);
    if (stream->out_fd < 0)
        return true;
    if (!pd_archive_write_all(stream->out_fd, bytes, length, stream->out_path, err))
        return false;
    if (stream->starts_writeback)
        (void)sync_file_range(stream->out_fd, (off_t)stream->written_bytes, (off_t)length,
                              SYNC_FILE_RANGE_WRITE);
    stream->written_bytes += length;
    return true;
}

static bool
stream_finish(Stream *stream, unsigned char sha256[32], PdError *err)
{
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(stream->digest, sha256, &length) != 1 || length != 32)
        return pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not finish a SHA-256 digest");
    return true;
}

/* ---- in ------------------------------------------------------------------------------------------- */

/* One chunk (or, with is_last, the end) through the compressor to the output. */
static bool
compress_chunk(Stream *stream, ZSTD_CCtx *cctx, const unsigned char *bytes, size_t length, bool is_last,
               PdError *err)
{
    ZSTD_inBuffer in = {bytes, length, 0};
    ZSTD_EndDirective mode = is_last ? ZSTD_e_end : ZSTD_e_continue;
    size_t remaining;
    do
    {
        ZSTD_outBuffer out = {stream->out, stream->out_size, 0};
        remaining = ZSTD_compressStream2(cctx, &out, &in, mode);
        if (ZSTD_isError(remaining))
            return pd_error_set(err, PD_ERR_INTERNAL, "zstd could not compress into %s: %s", stream->out_path,
                                ZSTD_getErrorName(remaining));
        stream->stored_bytes += out.pos;
        if (!stream_write(stream, stream->out, out.pos, err))
            return false;
    } while (is_last ? remaining != 0 : in.pos < in.size);
    return true;
}

bool
pd_archive_zstd_cctx(PdArena *arena, int level, uint64_t expected_bytes, void **context, PdError *err)
{
    ZSTD_CCtx **cctx = (ZSTD_CCtx **)context;
    *cctx = ZSTD_createCCtx();
    if (*cctx == NULL || !pd_arena_on_free(arena, free_cctx, *cctx))
    {
        ZSTD_freeCCtx(*cctx);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a zstd context");
    }
    size_t rc = ZSTD_CCtx_setParameter(*cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(rc) && expected_bytes > 0)
        rc = ZSTD_CCtx_setPledgedSrcSize(*cctx, expected_bytes);
    if (ZSTD_isError(rc))
        return pd_error_set(err, PD_ERR_INTERNAL, "zstd refused level %d: %s", level, ZSTD_getErrorName(rc));
    return true;
}

bool
pd_archive_stream_in(PdArena *arena, int in_fd, const char *in_path, uint64_t expected_bytes,
                     PdSealOut *stored, int zstd_level, PdArchiveHeader *header, PdError *err)
{
    return pd_archive_stream_in_observed(arena, in_fd, in_path, expected_bytes, stored, zstd_level, NULL,
                                         NULL, header, err);
}

bool
pd_archive_stream_in_observed(PdArena *arena, int in_fd, const char *in_path, uint64_t expected_bytes,
                              PdSealOut *stored, int zstd_level, PdArchiveChunkFn observe, void *context,
                              PdArchiveHeader *header, PdError *err)
{
    bool is_zstd = header->compress == PD_ARCHIVE_COMPRESS_ZSTD && stored != NULL;
    Stream stream;
    ZSTD_CCtx *cctx = NULL;
    if (!stream_open(arena, &stream, stored, -1, NULL, is_zstd ? ZSTD_CStreamOutSize() : 1, err) ||
        (is_zstd && !pd_archive_zstd_cctx(arena, zstd_level, expected_bytes, (void **)&cctx, err)))
        return false;
    for (;;)
    {
        size_t got;
        if (!pd_archive_read_full(in_fd, stream.chunk, PD_ARCHIVE_CHUNK_BYTES, &got, in_path, err) ||
            (observe != NULL && !observe(context, stream.chunk, got, stream.original_bytes, err)) ||
            !stream_hash(&stream, stream.chunk, got, err))
            return false;
        bool is_last = got < PD_ARCHIVE_CHUNK_BYTES;
        if (is_zstd && !compress_chunk(&stream, cctx, stream.chunk, got, is_last, err))
            return false;
        if (!is_zstd && !stream_write(&stream, stream.chunk, got, err))
            return false;
        if (is_last)
            break;
    }
    header->original_bytes = stream.original_bytes;
    header->stored_bytes = is_zstd ? stream.stored_bytes : stream.original_bytes;
    if (stored == NULL)
        header->compress = PD_ARCHIVE_COMPRESS_NONE;
    return stream_finish(&stream, header->sha256, err);
}

/* ---- out ------------------------------------------------------------------------------------------ */

static bool
corrupt(PdError *err, const char *path, const char *field, const char *why)
{
    pd_error_set(err, PD_ERR_REFUSED, "archived file %s is corrupt: %s", path, why);
    return pd_error_field(err, "%s", field);
}

/* Original bytes recovered: hashed, written, and never more than the header promised. */
static bool
emit(Stream *stream, const PdArchiveHeader *header, const void *bytes, size_t length, const char *path,
     PdError *err)
{
    if (stream->original_bytes + length > header->original_bytes)
        return corrupt(err, path, "original_bytes", "its payload holds more bytes than its header says");
    return stream_hash(stream, bytes, length, err) && stream_write(stream, bytes, length, err);
}

/* One chunk of a zstd payload; *frame_left is zstd's hint, 0 once the frame is complete. */
static bool
decompress_chunk(Stream *stream, ZSTD_DCtx *dctx, const PdArchiveHeader *header, size_t length,
                 const char *path, size_t *frame_left, PdError *err)
{
    ZSTD_inBuffer in = {stream->chunk, length, 0};
    bool is_full;
    do
    {
        if (*frame_left == 0 && in.pos < in.size)
            return corrupt(err, path, "payload", "bytes follow the end of its zstd frame");
        ZSTD_outBuffer out = {stream->out, stream->out_size, 0};
        *frame_left = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(*frame_left))
            return corrupt(err, path, "payload", ZSTD_getErrorName(*frame_left));
        if (!emit(stream, header, stream->out, out.pos, path, err))
            return false;
        is_full = out.pos == out.size;
    } while (in.pos < in.size || (is_full && *frame_left != 0));
    return true;
}

static bool
read_header(PdSealIn *in, PdArchiveHeader *header, PdError *err)
{
    unsigned char bytes[PD_ARCHIVE_HEADER_BYTES];
    size_t got;
    const char *path = in->path;
    if (!pd_seal_in_read_at(in, bytes, sizeof(bytes), 0, &got, err) ||
        !pd_archive_header_decode(bytes, got, path, header, err))
        return false;
    if (in->size != PD_ARCHIVE_HEADER_BYTES + header->stored_bytes)
        return corrupt(err, path, "stored_bytes", "its size differs from its header's (a truncated copy?)");
    return true;
}

bool
pd_archive_zstd_dctx(PdArena *arena, void **context, PdError *err)
{
    ZSTD_DCtx **dctx = (ZSTD_DCtx **)context;
    *dctx = ZSTD_createDCtx();
    if (*dctx == NULL || !pd_arena_on_free(arena, free_dctx, *dctx))
    {
        ZSTD_freeDCtx(*dctx);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a zstd context");
    }
    return true;
}

static bool
check_end(Stream *stream, const PdArchiveHeader *header, size_t frame_left, const char *path, PdError *err)
{
    unsigned char sha256[32];
    if (frame_left != 0)
        return corrupt(err, path, "payload", "its zstd frame is cut short");
    if (stream->original_bytes != header->original_bytes)
        return corrupt(err, path, "original_bytes", "it holds fewer bytes than its header says");
    if (!stream_finish(stream, sha256, err))
        return false;
    if (memcmp(sha256, header->sha256, sizeof(sha256)) != 0)
        return corrupt(err, path, "sha256", "its SHA-256 does not match the one recorded at wal-push");
    return true;
}

bool
pd_archive_stream_out(PdArena *arena, PdSealIn *in, int out_fd, const char *out_path, PdArchiveHeader *header,
                      PdError *err)
{
    return pd_archive_stream_out_durable(arena, in, out_fd, out_path, false, header, err);
}

bool
pd_archive_stream_out_durable(PdArena *arena, PdSealIn *in, int out_fd, const char *out_path,
                              bool starts_writeback, PdArchiveHeader *header, PdError *err)
{
    Stream stream;
    ZSTD_DCtx *dctx = NULL;
    const char *path = in->path;
    if (!read_header(in, header, err))
        return false;
    bool is_zstd = header->compress == PD_ARCHIVE_COMPRESS_ZSTD;
    if (!stream_open(arena, &stream, NULL, out_fd, out_path, is_zstd ? ZSTD_DStreamOutSize() : 1, err) ||
        (is_zstd && !pd_archive_zstd_dctx(arena, (void **)&dctx, err)))
        return false;
    stream.starts_writeback = starts_writeback;
    size_t frame_left = is_zstd ? 1 : 0;
    uint64_t offset = PD_ARCHIVE_HEADER_BYTES;
    for (uint64_t left = header->stored_bytes; left > 0;)
    {
        size_t want = left < PD_ARCHIVE_CHUNK_BYTES ? (size_t)left : PD_ARCHIVE_CHUNK_BYTES;
        size_t got;
        if (!pd_seal_in_read_at(in, stream.chunk, want, offset, &got, err))
            return false;
        offset += got;
        if (got != want)
            return corrupt(err, path, "stored_bytes", "it ends before its payload does");
        left -= got;
        if (is_zstd ? !decompress_chunk(&stream, dctx, header, got, path, &frame_left, err)
                    : !emit(&stream, header, stream.chunk, got, path, err))
            return false;
    }
    return check_end(&stream, header, frame_left, path, err);
}

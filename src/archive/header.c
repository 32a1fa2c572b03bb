/*
 * header.c - the 64 bytes before every archived file's payload: the magic
 * "PDWALARC", a format version, the compression, the original and stored
 * sizes and the SHA-256 of the original bytes. Integers are little-endian
 * whatever the machine, so an archive moves between hosts. The header is the
 * file's own sidecar: a rename moves both at once, and a file is either there
 * whole with its checksum or not there. Decoding checks every field and says
 * which one is wrong; the payload is checked elsewhere (payload.c).
 */
#include <string.h>

#include "archive.h"
#include "store.h"

static const unsigned char magic[8] = {'P', 'D', 'W', 'A', 'L', 'A', 'R', 'C'};
enum
{
    FORMAT_VERSION = 1,
    OFFSET_VERSION = 8,
    OFFSET_COMPRESS = 9,
    OFFSET_ORIGINAL = 16,
    OFFSET_STORED = 24,
    OFFSET_SHA256 = 32,
};
/* The largest file PostgreSQL archives is a 1 GB segment; a payload may grow a little when compressed. */
#define MAX_ORIGINAL_BYTES (UINT64_C(1) << 30)
#define MAX_STORED_BYTES (MAX_ORIGINAL_BYTES + (MAX_ORIGINAL_BYTES >> 7) + (UINT64_C(1) << 20))

void
pd_archive_header_encode(const PdArchiveHeader *header, unsigned char out[PD_ARCHIVE_HEADER_BYTES])
{
    memset(out, 0, PD_ARCHIVE_HEADER_BYTES);
    memcpy(out, magic, sizeof(magic));
    out[OFFSET_VERSION] = FORMAT_VERSION;
    out[OFFSET_COMPRESS] = (unsigned char)header->compress;
    pd_archive_put_u64(out + OFFSET_ORIGINAL, header->original_bytes);
    pd_archive_put_u64(out + OFFSET_STORED, header->stored_bytes);
    memcpy(out + OFFSET_SHA256, header->sha256, sizeof(header->sha256));
}

static bool
corrupt(PdError *err, const char *path, const char *field, const char *why)
{
    pd_error_set(err, PD_ERR_REFUSED, "archived file %s is corrupt: %s", path, why);
    return pd_error_field(err, "%s", field);
}

bool
pd_archive_header_decode(const unsigned char *bytes, size_t length, const char *path, PdArchiveHeader *out,
                         PdError *err)
{
    if (length < PD_ARCHIVE_HEADER_BYTES)
        return corrupt(err, path, "header", "shorter than its 64-byte header");
    if (memcmp(bytes, magic, sizeof(magic)) != 0)
        return corrupt(err, path, "magic",
                       "it does not start with PDWALARC (not written by prodata wal-push)");
    if (bytes[OFFSET_VERSION] != FORMAT_VERSION)
        return corrupt(err, path, "version", "unknown format version (a newer prodata wrote it?)");
    if (bytes[OFFSET_COMPRESS] > PD_ARCHIVE_COMPRESS_ZSTD)
        return corrupt(err, path, "compress", "unknown compression");
    for (size_t i = OFFSET_VERSION + 2; i < OFFSET_ORIGINAL; i++)
        if (bytes[i] != 0)
            return corrupt(err, path, "reserved", "reserved header bytes are not zero");
    out->compress = (PdArchiveCompress)bytes[OFFSET_COMPRESS];
    out->original_bytes = pd_archive_get_u64(bytes + OFFSET_ORIGINAL);
    out->stored_bytes = pd_archive_get_u64(bytes + OFFSET_STORED);
    memcpy(out->sha256, bytes + OFFSET_SHA256, sizeof(out->sha256));
    if (out->original_bytes > MAX_ORIGINAL_BYTES)
        return corrupt(err, path, "original_bytes", "original size larger than 1 GB");
    if (out->stored_bytes > MAX_STORED_BYTES)
        return corrupt(err, path, "stored_bytes", "stored size out of range");
    if (out->compress == PD_ARCHIVE_COMPRESS_NONE && out->stored_bytes != out->original_bytes)
        return corrupt(err, path, "stored_bytes", "uncompressed, yet stored and original sizes differ");
    return true;
}

/*
 * blockfile.c - a relation file as a backup stores it: a 64-byte header,
 * the runs of pages (each one zstd frame, or plain), then the map of the
 * runs. The header (little-endian, as header.c's):
 *
 *   0  magic "PDBLOCKS"        16 file_bytes: the data file's size
 *   8  version (2)             24 run_count
 *   9  compress (0 none, 1 zstd)  32 map_offset: where the map starts
 *
 * The map is the runs, 40 bytes each: first_block (4), span (4), the
 * present pages' bits (2 x 8), offset (8), stored_bytes (8); then the hash
 * of every page of the file, 8 bytes each (the first 8 bytes of the page's
 * SHA-256). The manifest holds the SHA-256 of the header and the map
 * together, and every page read from a run is checked against its hash, so
 * every byte a restore uses is checked, by whichever worker takes the run. Runs are written in page order and
 * follow each other, each window starting at a multiple of 128 pages (so
 * the windows of every backup of a chain line up); a reader refuses
 * anything else.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "blockfile.h"
#include "store.h"

#define RUN_BYTES ((size_t)PD_BLOCKFILE_RUN_PAGES * PD_BACKUP_PAGE_BYTES)
#define MAP_ENTRY_BYTES 40
#define HASH_BYTES 8
#define FORMAT_VERSION 2
/* No relation segment holds more pages than a block number can count. */
#define MAX_FILE_BYTES ((uint64_t)UINT32_MAX * PD_BACKUP_PAGE_BYTES)

static const unsigned char magic[8] = {'P', 'D', 'B', 'L', 'O', 'C', 'K', 'S'};

enum
{
    OFFSET_VERSION = 8,
    OFFSET_COMPRESS = 9,
    OFFSET_FILE_BYTES = 16,
    OFFSET_RUN_COUNT = 24,
    OFFSET_MAP = 32,
};

uint64_t
pd_blockfile_page_hash(const unsigned char *page)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int got = 0;
    if (EVP_Digest(page, PD_BACKUP_PAGE_BYTES, digest, &got, EVP_sha256(), NULL) != 1 || got != 32)
        return 0; /* OpenSSL failing on a buffer in memory: the page then matches no stored hash */
    return pd_archive_get_u64(digest);
}

/* The SHA-256 of the header and the map together, as the manifest records it. */
static bool
map_sha256(const unsigned char *header, const unsigned char *map, size_t map_bytes, unsigned char out[32],
           PdError *err)
{
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    unsigned int got = 0;
    bool ok = digest != NULL && EVP_DigestInit_ex(digest, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(digest, header, PD_BLOCKFILE_HEADER_BYTES) == 1 &&
              EVP_DigestUpdate(digest, map, map_bytes) == 1 && EVP_DigestFinal_ex(digest, out, &got) == 1 &&
              got == 32;
    EVP_MD_CTX_free(digest);
    return ok || pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not compute a SHA-256");
}

bool
pd_blockfile_begin(PdArena *arena, PdBlockWriter *writer, PdSealOut *out, PdArchiveCompress compress,
                   int level, PdError *err)
{
    *writer = (PdBlockWriter){.arena = arena, .out = out, .path = out->path, .compress = compress};
    writer->offset = PD_BLOCKFILE_HEADER_BYTES;
    if (compress == PD_ARCHIVE_COMPRESS_NONE)
        return true;
    writer->frame_size = ZSTD_compressBound(RUN_BYTES);
    writer->frame = pd_arena_alloc(arena, writer->frame_size);
    if (writer->frame == NULL)
        return pd_arena_error(arena, err);
    return pd_archive_zstd_cctx(arena, level, 0, &writer->cctx, err);
}

static uint32_t
count_bits(const uint64_t present[2])
{
    return (uint32_t)(__builtin_popcountll(present[0]) + __builtin_popcountll(present[1]));
}

/* Whether present has no bit at or past span. */
static bool
fits_span(const uint64_t present[2], uint32_t span)
{
    for (uint32_t word = 0; word < 2; word++)
    {
        uint32_t from = word * 64;
        uint64_t allowed = span >= from + 64 ? UINT64_MAX
                           : span <= from    ? 0
                                             : (UINT64_C(1) << (span - from)) - 1;
        if ((present[word] & ~allowed) != 0)
            return false;
    }
    return true;
}

/* The run's pages (page_count of them, one after the other): hashed, compressed, appended. */
static bool
store_run(PdBlockWriter *writer, PdBlockRun *run, const unsigned char *pages, PdError *err)
{
    size_t length = (size_t)run->page_count * PD_BACKUP_PAGE_BYTES;
    const void *payload = pages;
    size_t stored = length;
    if (writer->compress == PD_ARCHIVE_COMPRESS_ZSTD)
    {
        stored = ZSTD_compress2(writer->cctx, writer->frame, writer->frame_size, pages, length);
        if (ZSTD_isError(stored))
            return pd_error_set(err, PD_ERR_INTERNAL, "zstd could not compress %s: %s", writer->path,
                                ZSTD_getErrorName(stored));
        payload = writer->frame;
    }
    if (!pd_seal_out_write(writer->out, payload, stored, err))
        return false;
    run->stored_bytes = stored;
    writer->offset += stored;
    return true;
}

bool
pd_blockfile_add(PdBlockWriter *writer, uint32_t first_block, uint32_t span, const uint64_t present[2],
                 const unsigned char *pages, PdError *err)
{
    if (span == 0 || span > PD_BLOCKFILE_RUN_PAGES || first_block % PD_BLOCKFILE_RUN_PAGES != 0 ||
        first_block < writer->next_page || (uint64_t)first_block + span > writer->page_count ||
        !fits_span(present, span) || count_bits(present) == 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a run of pages for %s is empty or out of place",
                            writer->path);
    PdBlockRun *runs = pd_arena_reserve_next(writer->arena, writer->runs, writer->run_count, sizeof(*runs));
    if (runs == NULL)
        return pd_arena_error(writer->arena, err);
    writer->runs = runs;
    PdBlockRun *run = &runs[writer->run_count];
    *run = (PdBlockRun){.first_block = first_block,
                        .span = span,
                        .present = {present[0], present[1]},
                        .page_count = count_bits(present),
                        .offset = writer->offset};
    if (!store_run(writer, run, pages, err))
        return false;
    writer->next_page = (uint64_t)first_block + span;
    writer->run_count++;
    return true;
}

bool
pd_blockfile_hashes(PdBlockWriter *writer, const uint64_t *hashes, size_t count, PdError *err)
{
    if (writer->page_count + count > UINT32_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s has more pages than a relation segment",
                            writer->path);
    if (writer->page_count + count > writer->hash_capacity) /* doubling: a 1 GB segment costs 2 MB at most */
    {
        size_t capacity = writer->hash_capacity > 0 ? writer->hash_capacity * 2 : 1024;
        while (capacity < writer->page_count + count)
            capacity *= 2;
        uint64_t *grown =
            pd_arena_grow(writer->arena, writer->page_hashes, writer->page_count, capacity, sizeof(*grown));
        if (grown == NULL)
            return pd_arena_error(writer->arena, err);
        writer->page_hashes = grown;
        writer->hash_capacity = capacity;
    }
    memcpy(writer->page_hashes + writer->page_count, hashes, count * sizeof(*hashes));
    writer->page_count += count;
    return true;
}

static void
encode_header(uint64_t file_bytes, PdArchiveCompress compress, size_t run_count, uint64_t map_offset,
              unsigned char out[PD_BLOCKFILE_HEADER_BYTES])
{
    memset(out, 0, PD_BLOCKFILE_HEADER_BYTES);
    memcpy(out, magic, sizeof(magic));
    out[OFFSET_VERSION] = FORMAT_VERSION;
    out[OFFSET_COMPRESS] = (unsigned char)compress;
    pd_archive_put_u64(out + OFFSET_FILE_BYTES, file_bytes);
    pd_archive_put_u64(out + OFFSET_RUN_COUNT, run_count);
    pd_archive_put_u64(out + OFFSET_MAP, map_offset);
}

bool
pd_blockfile_finish(PdBlockWriter *writer, PdBlockMap *map, PdError *err)
{
    uint64_t file_bytes = (uint64_t)writer->page_count * PD_BACKUP_PAGE_BYTES;
    size_t runs_bytes = writer->run_count * MAP_ENTRY_BYTES;
    size_t map_bytes = runs_bytes + writer->page_count * HASH_BYTES;
    unsigned char *encoded = pd_arena_alloc(writer->arena, map_bytes > 0 ? map_bytes : 1);
    if (encoded == NULL)
        return pd_arena_error(writer->arena, err);
    for (size_t i = 0; i < writer->run_count; i++)
    {
        const PdBlockRun *run = &writer->runs[i];
        unsigned char *entry = encoded + i * MAP_ENTRY_BYTES;
        pd_archive_put_u32(entry, run->first_block);
        pd_archive_put_u32(entry + 4, run->span);
        pd_archive_put_u64(entry + 8, run->present[0]);
        pd_archive_put_u64(entry + 16, run->present[1]);
        pd_archive_put_u64(entry + 24, run->offset);
        pd_archive_put_u64(entry + 32, run->stored_bytes);
    }
    for (size_t i = 0; i < writer->page_count; i++)
        pd_archive_put_u64(encoded + runs_bytes + i * HASH_BYTES, writer->page_hashes[i]);
    unsigned char header[PD_BLOCKFILE_HEADER_BYTES];
    encode_header(file_bytes, writer->compress, writer->run_count, writer->offset, header);
    *map = (PdBlockMap){.file_bytes = file_bytes,
                        .compress = writer->compress,
                        .runs = writer->runs,
                        .run_count = writer->run_count,
                        .page_hashes = writer->page_hashes,
                        .stored_bytes = writer->offset + map_bytes - PD_BLOCKFILE_HEADER_BYTES};
    if (!map_sha256(header, encoded, map_bytes, map->sha256, err) ||
        !pd_seal_out_write(writer->out, encoded, map_bytes, err))
        return false;
    return pd_seal_out_close(writer->out, header, err);
}

static bool
corrupt(PdError *err, const char *path, const char *why)
{
    pd_error_set(err, PD_ERR_REFUSED, "backup file %s is corrupt: %s", path, why);
    return pd_error_hint(err, "The repository is damaged: restore another backup (prodata backup list).");
}

static bool
read_at(PdSealIn *in, void *into, size_t length, uint64_t offset, PdError *err)
{
    size_t got;
    if (!pd_seal_in_read_at(in, into, length, offset, &got, err))
        return false;
    return got == length || corrupt(err, in->path, "it ends early");
}

/* The map's runs: in page order, one after the other from the header on, inside the file and the map. */
static bool
check_runs(const PdBlockMap *map, uint64_t map_offset, const char *path, PdError *err)
{
    uint64_t offset = PD_BLOCKFILE_HEADER_BYTES, next_block = 0;
    uint64_t pages = map->file_bytes / PD_BACKUP_PAGE_BYTES;
    size_t most = map->compress == PD_ARCHIVE_COMPRESS_ZSTD ? ZSTD_compressBound(RUN_BYTES) : RUN_BYTES;
    for (size_t i = 0; i < map->run_count; i++)
    {
        const PdBlockRun *run = &map->runs[i];
        if (run->span == 0 || run->span > PD_BLOCKFILE_RUN_PAGES ||
            run->first_block % PD_BLOCKFILE_RUN_PAGES != 0 || run->first_block < next_block ||
            (uint64_t)run->first_block + run->span > pages || !fits_span(run->present, run->span) ||
            run->page_count == 0)
            return corrupt(err, path, "its map holds a run of pages out of order or outside the file");
        if (run->offset != offset || run->stored_bytes == 0 || run->stored_bytes > most ||
            run->offset + run->stored_bytes > map_offset ||
            (map->compress == PD_ARCHIVE_COMPRESS_NONE &&
             run->stored_bytes != (uint64_t)run->page_count * PD_BACKUP_PAGE_BYTES))
            return corrupt(err, path, "its map places a run outside its payload");
        next_block = (uint64_t)run->first_block + run->span;
        offset += run->stored_bytes;
    }
    return offset == map_offset || corrupt(err, path, "its map does not account for its payload");
}

static bool
decode_header(const unsigned char *header, const char *path, PdBlockMap *map, uint64_t *run_count,
              uint64_t *map_offset, PdError *err)
{
    if (memcmp(header, magic, sizeof(magic)) != 0)
        return corrupt(err, path, "it does not start with PDBLOCKS");
    if (header[OFFSET_VERSION] != FORMAT_VERSION)
        return corrupt(err, path, "its format version is not 2");
    if (header[OFFSET_COMPRESS] > PD_ARCHIVE_COMPRESS_ZSTD)
        return corrupt(err, path, "its compression is unknown");
    map->compress = (PdArchiveCompress)header[OFFSET_COMPRESS];
    map->file_bytes = pd_archive_get_u64(header + OFFSET_FILE_BYTES);
    *run_count = pd_archive_get_u64(header + OFFSET_RUN_COUNT);
    *map_offset = pd_archive_get_u64(header + OFFSET_MAP);
    if (map->file_bytes % PD_BACKUP_PAGE_BYTES != 0 || map->file_bytes > MAX_FILE_BYTES)
        return corrupt(err, path, "its size is not whole pages of a relation segment");
    if (*run_count > map->file_bytes / PD_BACKUP_PAGE_BYTES || *map_offset < PD_BLOCKFILE_HEADER_BYTES)
        return corrupt(err, path, "its header is out of range");
    return true;
}

bool
pd_blockfile_read_map(PdArena *arena, PdSealIn *in, PdBlockMap *map, PdError *err)
{
    unsigned char header[PD_BLOCKFILE_HEADER_BYTES];
    uint64_t run_count = 0, map_offset = 0, size = in->size;
    const char *path = in->path;
    *map = (PdBlockMap){0};
    if (!read_at(in, header, sizeof(header), 0, err) ||
        !decode_header(header, path, map, &run_count, &map_offset, err))
        return false;
    uint64_t pages = map->file_bytes / PD_BACKUP_PAGE_BYTES;
    size_t runs_bytes = (size_t)run_count * MAP_ENTRY_BYTES;
    size_t map_bytes = runs_bytes + (size_t)pages * HASH_BYTES;
    if (map_offset > size || size - map_offset != map_bytes)
        return corrupt(err, path, "its size does not match its map");
    unsigned char *encoded = pd_arena_alloc(arena, map_bytes > 0 ? map_bytes : 1);
    map->runs = pd_arena_calloc(arena, run_count > 0 ? run_count : 1, sizeof(*map->runs));
    map->page_hashes = pd_arena_alloc(arena, (pages > 0 ? pages : 1) * sizeof(*map->page_hashes));
    if (encoded == NULL || map->runs == NULL || map->page_hashes == NULL)
        return pd_arena_error(arena, err);
    if (!read_at(in, encoded, map_bytes, map_offset, err) ||
        !map_sha256(header, encoded, map_bytes, map->sha256, err))
        return false;
    for (size_t i = 0; i < run_count; i++)
    {
        const unsigned char *entry = encoded + i * MAP_ENTRY_BYTES;
        PdBlockRun *run = &map->runs[i];
        *run = (PdBlockRun){.first_block = pd_archive_get_u32(entry),
                            .span = pd_archive_get_u32(entry + 4),
                            .present = {pd_archive_get_u64(entry + 8), pd_archive_get_u64(entry + 16)},
                            .offset = pd_archive_get_u64(entry + 24),
                            .stored_bytes = pd_archive_get_u64(entry + 32)};
        run->page_count = count_bits(run->present);
    }
    for (uint64_t i = 0; i < pages; i++)
        map->page_hashes[i] = pd_archive_get_u64(encoded + runs_bytes + i * HASH_BYTES);
    map->run_count = (size_t)run_count;
    map->stored_bytes = size - PD_BLOCKFILE_HEADER_BYTES;
    return check_runs(map, map_offset, path, err);
}

bool
pd_blockfile_reader(PdArena *arena, PdBlockReader *reader, PdError *err)
{
    *reader = (PdBlockReader){0};
    reader->payload = pd_arena_alloc(arena, ZSTD_compressBound(RUN_BYTES));
    reader->pages = pd_arena_alloc(arena, RUN_BYTES);
    reader->seal_scratch = pd_arena_alloc(arena, PD_SEAL_SCRATCH_BYTES);
    if (reader->payload == NULL || reader->pages == NULL || reader->seal_scratch == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a restore's buffers");
    return pd_archive_zstd_dctx(arena, &reader->dctx, err);
}

static bool
run_corrupt(PdError *err, const char *path, const PdBlockRun *run, const char *why)
{
    pd_error_set(err, PD_ERR_REFUSED, "backup file %s is corrupt: %s (pages %u to %u)", path, why,
                 run->first_block, run->first_block + run->span - 1);
    return pd_error_hint(err, "The repository is damaged: restore another backup (prodata backup list).");
}

bool
pd_blockfile_read_run(PdBlockReader *reader, PdSealIn *in, const PdBlockMap *map, const PdBlockRun *run,
                      PdError *err)
{
    const char *path = in->path;
    size_t length = (size_t)run->page_count * PD_BACKUP_PAGE_BYTES;
    unsigned char *into = map->compress == PD_ARCHIVE_COMPRESS_ZSTD ? reader->payload : reader->pages;
    if (!read_at(in, into, (size_t)run->stored_bytes, run->offset, err))
        return false;
    if (map->compress == PD_ARCHIVE_COMPRESS_ZSTD)
    {
        size_t got = ZSTD_decompressDCtx(reader->dctx, reader->pages, RUN_BYTES, reader->payload,
                                         (size_t)run->stored_bytes);
        if (ZSTD_isError(got))
            return run_corrupt(err, path, run, ZSTD_getErrorName(got));
        if (got != length)
            return run_corrupt(err, path, run, "a run holds fewer pages than its map says");
    }
    uint32_t k = 0; /* the page's place among the run's pages */
    for (uint32_t i = 0; i < run->span; i++)
    {
        if (!pd_blockfile_has(run, i))
            continue;
        if (pd_blockfile_page_hash(reader->pages + (size_t)k++ * PD_BACKUP_PAGE_BYTES) !=
            map->page_hashes[run->first_block + i])
        {
            pd_error_set(err, PD_ERR_REFUSED, "backup file %s is corrupt: its page %u differs from its hash",
                         path, run->first_block + i);
            return pd_error_hint(err,
                                 "The repository is damaged: restore another backup (prodata backup list).");
        }
    }
    return true;
}

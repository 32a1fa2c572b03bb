/*
 * test_blockfile.c - a relation file as a backup stores it (blockfile.c):
 * pages written as runs, zstd and plain, read back run by run equal to what
 * went in, with the header and map hashed as the manifest records them; a
 * payload byte changed, a map entry changed, a file cut short, runs out of
 * order, each refused as corrupt. The same through a sealed file (seal.c,
 * an encrypted repository): read back whole with the key, refused with
 * another key, with none, and when a byte of a unit is changed or the file
 * is cut at a unit's end.
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive/blockfile.h"

#define PAGE PD_BACKUP_PAGE_BYTES

/* The key the helpers write and read with: NULL for a plain repository. */
static const PdArchiveKey *current_key;

static void
open_stored(PdArena *arena, int fd, PdSealIn *in, PdError *err)
{
    assert_true(pd_seal_in_open(arena, current_key, fd, "f", NULL, in, err));
}

/* The writer of a new stored file at fd; out must live as long as the writer. */
static bool
begin(PdArena *arena, PdBlockWriter *writer, PdSealOut *out, int fd, const char *path,
      PdArchiveCompress compress, PdError *err)
{
    return pd_seal_out_open(arena, current_key, fd, path, "f", out, err) &&
           pd_blockfile_begin(arena, writer, out, compress, 1, err);
}

/* n pages whose bytes depend on their number and on seed. */
static unsigned char *
make_pages(PdArena *arena, uint32_t n, unsigned seed)
{
    unsigned char *pages = pd_arena_alloc(arena, (size_t)n * PAGE);
    assert_non_null(pages);
    for (size_t i = 0; i < (size_t)n * PAGE; i++)
        pages[i] = (unsigned char)((i / 7 + seed * 31 + (i / PAGE) * 13) % 251);
    return pages;
}

static int
temp_file(char *path)
{
    strcpy(path, "/tmp/test_blockfile.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* A window of pages and which of them a run holds. */
typedef struct Window
{
    uint32_t first, span;
    uint64_t present[2];
} Window;

static void
window_all(Window *w, uint32_t first, uint32_t span)
{
    *w = (Window){first, span, {0, 0}};
    for (uint32_t i = 0; i < span; i++)
        w->present[i / 64] |= UINT64_C(1) << (i % 64);
}

/* The present pages of a window, one after the other (as a backup packs them). */
static unsigned char *
packed(PdArena *arena, const unsigned char *pages, uint32_t first, uint32_t span, const uint64_t present[2])
{
    unsigned char *out = pd_arena_alloc(arena, (size_t)span * PAGE);
    size_t k = 0;
    for (uint32_t i = 0; i < span; i++)
        if (present[i / 64] >> (i % 64) & 1)
            memcpy(out + PAGE * k++, pages + (size_t)(first + i) * PAGE, PAGE);
    return out;
}

/* Writes the windows of pages into a new stored file; returns its fd and *map. */
static int
write_file(PdArena *arena, PdArchiveCompress compress, const Window *windows, size_t count,
           const unsigned char *pages, uint64_t file_bytes, PdBlockMap *map)
{
    char path[64];
    int fd = temp_file(path);
    PdBlockWriter writer;
    PdSealOut *out = pd_arena_alloc(arena, sizeof(*out));
    PdError err;
    assert_true(begin(arena, &writer, out, fd, path, compress, &err));
    for (uint64_t page = 0; page < file_bytes / PAGE; page++) /* every page hashed, stored or not */
    {
        uint64_t hash = pd_blockfile_page_hash(pages + page * PAGE);
        assert_true(pd_blockfile_hashes(&writer, &hash, 1, &err));
    }
    for (size_t i = 0; i < count; i++)
        assert_true(pd_blockfile_add(
            &writer, windows[i].first, windows[i].span, windows[i].present,
            packed(arena, pages, windows[i].first, windows[i].span, windows[i].present), &err));
    assert_true(pd_blockfile_finish(&writer, map, &err));
    assert_int_equal(map->file_bytes, file_bytes);
    return fd;
}

static void
assert_reads_back(PdArena *arena, int fd, const PdBlockMap *written, const unsigned char *pages)
{
    PdBlockMap map;
    PdBlockReader reader;
    PdError err;
    PdSealIn in;
    open_stored(arena, fd, &in, &err);
    assert_true(pd_blockfile_read_map(arena, &in, &map, &err));
    assert_memory_equal(map.sha256, written->sha256, 32);
    assert_int_equal(map.run_count, written->run_count);
    assert_int_equal(map.file_bytes, written->file_bytes);
    assert_int_equal(map.stored_bytes, written->stored_bytes);
    assert_true(pd_blockfile_reader(arena, &reader, &err));
    for (size_t r = 0; r < map.run_count; r++)
    {
        const PdBlockRun *run = &map.runs[r];
        assert_true(pd_blockfile_read_run(&reader, &in, &map, run, &err));
        assert_memory_equal(reader.pages, packed(arena, pages, run->first_block, run->span, run->present),
                            (size_t)run->page_count * PAGE);
    }
}

static void
test_round_trip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    unsigned char *pages = make_pages(arena, 300, 1);
    Window whole[3], some[3];
    window_all(&whole[0], 0, 128), window_all(&whole[1], 128, 128), window_all(&whole[2], 256, 44);
    some[0] = (Window){0, 128, {UINT64_C(1) << 3 | ~UINT64_C(0) << 10, ~UINT64_C(0)}}; /* 3, 10 .. 127 */
    window_all(&some[1], 128, 22);
    some[2] = (Window){256, 44, {UINT64_C(1) << 43, 0}};
    for (int compress = 0; compress < 2; compress++)
    {
        PdBlockMap map;
        int fd = write_file(arena, (PdArchiveCompress)compress, whole, 3, pages, 300 * PAGE, &map);
        assert_int_equal(map.runs[2].first_block, 256);
        assert_int_equal(map.runs[2].page_count, 44);
        assert_reads_back(arena, fd, &map, pages);
        close(fd);
        fd = write_file(arena, (PdArchiveCompress)compress, some, 3, pages, 300 * PAGE, &map);
        assert_int_equal(map.runs[0].page_count, 119);
        assert_true(pd_blockfile_has(&map.runs[0], 3) && !pd_blockfile_has(&map.runs[0], 4));
        assert_true(pd_blockfile_has(&map.runs[2], 43) && !pd_blockfile_has(&map.runs[2], 42));
        assert_reads_back(arena, fd, &map, pages);
        close(fd);
    }
    PdBlockMap empty;
    int fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, NULL, 0, pages, 0, &empty);
    assert_int_equal(empty.run_count, 0);
    assert_reads_back(arena, fd, &empty, pages);
    close(fd);
    pd_arena_free(arena);
}

/* The writer takes windows in order only, with pages inside them. */
static void
test_misplaced_window_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    unsigned char *pages = make_pages(arena, 256, 3);
    char path[64];
    int fd = temp_file(path);
    PdBlockWriter writer;
    PdSealOut out;
    PdError err;
    uint64_t one[2] = {1, 0}, past[2] = {UINT64_C(1) << 20, 0}, none[2] = {0, 0};
    uint64_t hashes[300] = {0};
    assert_true(begin(arena, &writer, &out, fd, path, PD_ARCHIVE_COMPRESS_ZSTD, &err));
    assert_false(pd_blockfile_add(&writer, 0, 1, one, pages, &err)); /* no hash recorded for its page */
    assert_true(pd_blockfile_hashes(&writer, hashes, 300, &err));
    assert_true(pd_blockfile_add(&writer, 128, 128, one, pages, &err));
    assert_false(pd_blockfile_add(&writer, 200, 10, one, pages, &err)); /* inside the window before */
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_false(pd_blockfile_add(&writer, 256, 10, past, pages, &err)); /* a page past its span */
    assert_false(pd_blockfile_add(&writer, 256, 10, none, pages, &err)); /* no page */
    assert_false(pd_blockfile_add(&writer, 256, 129, one, pages, &err)); /* too wide */
    close(fd);
    pd_arena_free(arena);
}

/* The file at fd with length bytes at offset replaced by bytes. */
static void
overwrite(int fd, off_t offset, const void *bytes, size_t length)
{
    assert_int_equal(pwrite(fd, bytes, length, offset), (ssize_t)length);
}

static void
assert_corrupt(PdArena *arena, int fd, const char *why)
{
    PdBlockMap map;
    PdBlockReader reader;
    PdError err;
    PdSealIn in;
    pd_error_init(&err);
    bool ok = pd_seal_in_open(arena, current_key, fd, "f", NULL, &in, &err) &&
              pd_blockfile_read_map(arena, &in, &map, &err) && pd_blockfile_reader(arena, &reader, &err);
    for (size_t r = 0; ok && r < map.run_count; r++)
        ok = pd_blockfile_read_run(&reader, &in, &map, &map.runs[r], &err);
    assert_false(ok);
    assert_int_equal(err.code, PD_ERR_REFUSED);
    if (strstr(err.message, why) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", err.message, why);
}

static void
test_damage_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    unsigned char *pages = make_pages(arena, 200, 2);
    Window whole[2];
    window_all(&whole[0], 0, 128), window_all(&whole[1], 128, 72);
    PdBlockMap map;
    int fd = write_file(arena, PD_ARCHIVE_COMPRESS_NONE, whole, 2, pages, 200 * PAGE, &map);
    overwrite(fd, PD_BLOCKFILE_HEADER_BYTES + 5 * PAGE + 17, "X", 1);
    assert_corrupt(arena, fd, "its page 5 differs from its hash");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 2, pages, 200 * PAGE, &map);
    overwrite(fd, (off_t)map.runs[1].offset + map.runs[1].stored_bytes / 2, "XXXX", 4);
    assert_corrupt(arena, fd, "is corrupt");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 2, pages, 200 * PAGE, &map);
    uint64_t map_offset = PD_BLOCKFILE_HEADER_BYTES + map.stored_bytes - 2 * 40 - 200 * 8;
    unsigned char swapped[4] = {100, 0, 0,
                                0}; /* the first run said to start at page 100: overlaps the next */
    overwrite(fd, (off_t)map_offset, swapped, sizeof(swapped));
    assert_corrupt(arena, fd, "out of order or outside the file");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 2, pages, 200 * PAGE, &map);
    assert_int_equal(ftruncate(fd, (off_t)(PD_BLOCKFILE_HEADER_BYTES + map.stored_bytes - 1)), 0);
    assert_corrupt(arena, fd, "its size does not match its map");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 2, pages, 200 * PAGE, &map);
    overwrite(fd, 0, "PDWALARC", 8);
    assert_corrupt(arena, fd, "does not start with PDBLOCKS");
    close(fd);

    /* a page's hash changed: read_map reports a map SHA-256 the manifest will not match */
    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 2, pages, 200 * PAGE, &map);
    overwrite(fd, (off_t)(map_offset + 2 * 40 + 8 * 7), "Z", 1); /* page 7's hash */
    PdBlockMap reread;
    PdError err;
    PdSealIn in;
    open_stored(arena, fd, &in, &err);
    assert_true(pd_blockfile_read_map(arena, &in, &reread, &err));
    assert_memory_not_equal(reread.sha256, map.sha256, 32);
    close(fd);
    pd_arena_free(arena);
}

/* The hashes of a whole 1 GB segment, given a window at a time, fit a worker's arena: their array grows by
 * doubling (it once grew by a window at a time, and a backup of a 1 GB table ran out of a 64 MB budget). */
static void
test_segment_hashes_fit(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(8u << 20);
    char path[64];
    int fd = temp_file(path);
    PdBlockWriter writer;
    PdSealOut out;
    PdBlockMap map;
    PdError err;
    uint64_t hashes[PD_BLOCKFILE_RUN_PAGES] = {0};
    assert_true(begin(arena, &writer, &out, fd, path, PD_ARCHIVE_COMPRESS_ZSTD, &err));
    for (int window = 0; window < PD_BACKUP_SEGMENT_BLOCKS / PD_BLOCKFILE_RUN_PAGES; window++)
        assert_true(pd_blockfile_hashes(&writer, hashes, PD_BLOCKFILE_RUN_PAGES, &err));
    assert_true(pd_blockfile_finish(&writer, &map, &err));
    assert_int_equal(map.file_bytes, (uint64_t)PD_BACKUP_SEGMENT_BLOCKS * PAGE);
    close(fd);
    pd_arena_free(arena);
}

/* A sealed file: the round trip as a plain one, then refused with another key, without a key, with a byte of
 * a unit changed, and cut at a unit's end (the units before still authentic: only the last-unit mark tells).
 */
static void
test_sealed(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveKey key, other;
    PdError err;
    assert_true(pd_archive_key_derive("0123456789abcdef0123456789abcdef", 32, "test key", &key, &err));
    assert_true(pd_archive_key_derive("0123456789abcdef0123456789abcdeX", 32, "test key", &other, &err));
    assert_false(pd_archive_key_derive("short", 5, "test key", &other, &err));
    assert_int_equal(err.code, PD_ERR_USAGE);
    current_key = &key;
    test_round_trip(state);
    unsigned char *pages = make_pages(arena, 300, 5);
    Window whole[3];
    window_all(&whole[0], 0, 128), window_all(&whole[1], 128, 128), window_all(&whole[2], 256, 44);
    PdBlockMap map;
    unsigned char probe_byte[1];
    int fd = write_file(arena, PD_ARCHIVE_COMPRESS_NONE, whole, 3, pages, 300 * PAGE, &map);
    off_t stored = lseek(fd, 0, SEEK_END);
    unsigned char *contents = pd_arena_alloc(arena, (size_t)stored);
    assert_int_equal(pread(fd, contents, (size_t)stored, 0), (ssize_t)stored);
    for (size_t page = 0; page < 300; page += 7) /* no 64 bytes of any page in the clear */
        assert_null(memmem(contents, (size_t)stored, pages + page * PAGE + 100, 64));
    PdSealIn renamed;
    size_t got;
    assert_true(pd_seal_in_open(arena, &key, fd, "/repo/000000010000000000000002", NULL, &renamed, &err));
    assert_false(pd_seal_in_read_at(&renamed, probe_byte, 1, 0, &got, &err)); /* sealed as "f" */
    assert_non_null(strstr(err.message, "under another name"));
    current_key = &other;
    assert_corrupt(arena, fd, "another key");
    current_key = NULL;
    PdSealIn in;
    assert_false(pd_seal_in_open(arena, NULL, fd, "f", NULL, &in, &err));
    assert_non_null(strstr(err.message, "is encrypted, and no key is set"));
    current_key = &key;
    overwrite(fd, PD_SEAL_PREFIX_BYTES + 80 + 3 * PD_SEAL_SCRATCH_BYTES + 100, "X", 1);
    assert_corrupt(arena, fd, "unit 4 fails its AES-256-GCM tag");
    close(fd);
    fd = write_file(arena, PD_ARCHIVE_COMPRESS_NONE, whole, 3, pages, 300 * PAGE, &map);
    assert_int_equal(ftruncate(fd, PD_SEAL_PREFIX_BYTES + 80 + 5 * PD_SEAL_SCRATCH_BYTES), 0);
    assert_corrupt(arena, fd, "is corrupt");
    unsigned char last;
    open_stored(arena, fd, &in, &err);
    assert_int_equal(in.size, PD_SEAL_HEAD_BYTES + 5 * PD_SEAL_UNIT_BYTES);
    assert_false(
        pd_seal_in_read_at(&in, &last, 1, in.size - 1, &got, &err)); /* the cut unit is not the last */
    assert_non_null(strstr(err.message, "unit 5 fails its AES-256-GCM tag"));
    close(fd);
    current_key = NULL;
    fd = write_file(arena, PD_ARCHIVE_COMPRESS_NONE, whole, 3, pages, 300 * PAGE, &map);
    assert_false(
        pd_seal_in_open(arena, &key, fd, "f", NULL, &in, &err)); /* a plain file in a sealed repository */
    assert_non_null(strstr(err.message, "is not encrypted"));
    close(fd);
    pd_arena_free(arena);
}

/* Small files sealed whole: every length around the unit boundaries comes back as it went in. */
static void
test_sealed_text(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveKey key;
    PdError err;
    assert_true(pd_archive_key_derive("another key of thirty-two bytes!", 32, "test key", &key, &err));
    static const size_t lengths[] = {0,
                                     1,
                                     63,
                                     64,
                                     65,
                                     64 + PD_SEAL_UNIT_BYTES,
                                     65 + PD_SEAL_UNIT_BYTES,
                                     200000,
                                     64 + 2 * PD_SEAL_UNIT_BYTES + 1};
    char *text = pd_arena_alloc(arena, 200001);
    for (size_t i = 0; i < 200000; i++)
        text[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
    {
        void *sealed;
        size_t sealed_length, back_length;
        char *back;
        assert_true(pd_seal_text(arena, &key, "t", text, lengths[i], &sealed, &sealed_length, &err));
        assert_true(pd_unseal_text(arena, &key, sealed, sealed_length, "t", &back, &back_length, &err));
        assert_int_equal(back_length, lengths[i]);
        assert_memory_equal(back, text, lengths[i]);
        assert_false(pd_unseal_text(arena, &key, sealed, sealed_length, "u", &back, &back_length, &err));
        if (lengths[i] > 64 + PD_SEAL_UNIT_BYTES) /* cut at a unit's end: the unit before is not the last */
            assert_false(pd_unseal_text(arena, &key, sealed,
                                        PD_SEAL_PREFIX_BYTES + 80 + PD_SEAL_SCRATCH_BYTES, "t", &back,
                                        &back_length, &err));
        if (lengths[i] > 64 + 2 * PD_SEAL_UNIT_BYTES) /* units 1 and 2 swapped */
        {
            unsigned char *units = (unsigned char *)sealed + PD_SEAL_PREFIX_BYTES + 80;
            unsigned char *first = pd_arena_alloc(arena, PD_SEAL_SCRATCH_BYTES);
            memcpy(first, units, PD_SEAL_SCRATCH_BYTES);
            memcpy(units, units + PD_SEAL_SCRATCH_BYTES, PD_SEAL_SCRATCH_BYTES);
            memcpy(units + PD_SEAL_SCRATCH_BYTES, first, PD_SEAL_SCRATCH_BYTES);
            assert_false(pd_unseal_text(arena, &key, sealed, sealed_length, "t", &back, &back_length, &err));
            memcpy(units + PD_SEAL_SCRATCH_BYTES, units, PD_SEAL_SCRATCH_BYTES);
            memcpy(units, first, PD_SEAL_SCRATCH_BYTES);
        }
        ((unsigned char *)sealed)[sealed_length - 1] ^= 1;
        assert_false(pd_unseal_text(arena, &key, sealed, sealed_length, "t", &back, &back_length, &err));
        assert_int_equal(err.code, PD_ERR_REFUSED);
    }
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_misplaced_window_refused),
        cmocka_unit_test(test_damage_refused), cmocka_unit_test(test_segment_hashes_fit),
        cmocka_unit_test(test_sealed),         cmocka_unit_test(test_sealed_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_blockfile.c - a relation file as a backup stores it (blockfile.c):
 * pages written as runs, zstd and plain, read back run by run equal to what
 * went in, with the header and map hashed as the manifest records them; a
 * payload byte changed, a map entry changed, a file cut short, runs out of
 * order, each refused as corrupt.
 */
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

/* Writes runs [first, first + count) of pages into a new stored file; returns its fd and *map. */
static int
write_file(PdArena *arena, PdArchiveCompress compress, const uint32_t (*ranges)[2], size_t range_count,
           const unsigned char *pages, uint64_t file_bytes, PdBlockMap *map)
{
    char path[64];
    int fd = temp_file(path);
    PdBlockWriter writer;
    PdError err;
    assert_true(pd_blockfile_begin(arena, &writer, fd, path, compress, 1, &err));
    for (size_t i = 0; i < range_count; i++)
        assert_true(
            pd_blockfile_add(&writer, ranges[i][0], pages + (size_t)ranges[i][0] * PAGE, ranges[i][1], &err));
    assert_true(pd_blockfile_finish(&writer, file_bytes, map, &err));
    return fd;
}

static void
assert_reads_back(PdArena *arena, int fd, const PdBlockMap *written, const unsigned char *pages)
{
    PdBlockMap map;
    PdBlockReader reader;
    PdError err;
    assert_true(pd_blockfile_read_map(arena, fd, "f", &map, &err));
    assert_memory_equal(map.sha256, written->sha256, 32);
    assert_int_equal(map.run_count, written->run_count);
    assert_int_equal(map.file_bytes, written->file_bytes);
    assert_int_equal(map.stored_bytes, written->stored_bytes);
    assert_true(pd_blockfile_reader(arena, &reader, &err));
    for (size_t r = 0; r < map.run_count; r++)
    {
        assert_true(pd_blockfile_read_run(&reader, fd, "f", &map, &map.runs[r], &err));
        assert_memory_equal(reader.pages, pages + (size_t)map.runs[r].first_block * PAGE,
                            (size_t)map.runs[r].block_count * PAGE);
    }
}

static void
test_round_trip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    unsigned char *pages = make_pages(arena, 300, 1);
    static const uint32_t whole[][2] = {{0, 300}};
    static const uint32_t some[][2] = {{3, 1}, {10, 140}, {299, 1}};
    for (int compress = 0; compress < 2; compress++)
    {
        PdBlockMap map;
        int fd = write_file(arena, (PdArchiveCompress)compress, whole, 1, pages, 300 * PAGE, &map);
        assert_int_equal(map.run_count, 3); /* 128 + 128 + 44 */
        assert_int_equal(map.runs[2].first_block, 256);
        assert_int_equal(map.runs[2].block_count, 44);
        assert_reads_back(arena, fd, &map, pages);
        close(fd);
        fd = write_file(arena, (PdArchiveCompress)compress, some, 3, pages, 300 * PAGE, &map);
        assert_int_equal(map.run_count, 4); /* 1, 128 + 12, 1 */
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
    pd_error_init(&err);
    bool ok = pd_blockfile_read_map(arena, fd, "f", &map, &err) && pd_blockfile_reader(arena, &reader, &err);
    for (size_t r = 0; ok && r < map.run_count; r++)
        ok = pd_blockfile_read_run(&reader, fd, "f", &map, &map.runs[r], &err);
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
    static const uint32_t whole[][2] = {{0, 200}};
    PdBlockMap map;
    int fd = write_file(arena, PD_ARCHIVE_COMPRESS_NONE, whole, 1, pages, 200 * PAGE, &map);
    overwrite(fd, PD_BLOCKFILE_HEADER_BYTES + 5 * PAGE + 17, "X", 1);
    assert_corrupt(arena, fd, "the SHA-256 of a run of pages differs (pages 0 to 127)");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 1, pages, 200 * PAGE, &map);
    overwrite(fd, (off_t)map.runs[1].offset + map.runs[1].stored_bytes / 2, "XXXX", 4);
    assert_corrupt(arena, fd, "(pages 128 to 199)");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 1, pages, 200 * PAGE, &map);
    uint64_t map_offset = PD_BLOCKFILE_HEADER_BYTES + map.stored_bytes - 2 * 56;
    unsigned char swapped[4] = {100, 0, 0,
                                0}; /* the first run said to start at page 100: overlaps the next */
    overwrite(fd, (off_t)map_offset, swapped, sizeof(swapped));
    assert_corrupt(arena, fd, "out of order or outside the file");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 1, pages, 200 * PAGE, &map);
    assert_int_equal(ftruncate(fd, (off_t)(PD_BLOCKFILE_HEADER_BYTES + map.stored_bytes - 1)), 0);
    assert_corrupt(arena, fd, "its size does not match its map");
    close(fd);

    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 1, pages, 200 * PAGE, &map);
    overwrite(fd, 0, "PDWALARC", 8);
    assert_corrupt(arena, fd, "does not start with PDBLOCKS");
    close(fd);

    /* a map entry's hash changed: read_map reports a map SHA-256 the manifest will not match */
    fd = write_file(arena, PD_ARCHIVE_COMPRESS_ZSTD, whole, 1, pages, 200 * PAGE, &map);
    overwrite(fd, (off_t)(map_offset + 24), "Z", 1);
    PdBlockMap reread;
    PdError err;
    assert_true(pd_blockfile_read_map(arena, fd, "f", &reread, &err));
    assert_memory_not_equal(reread.sha256, map.sha256, 32);
    close(fd);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

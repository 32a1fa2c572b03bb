/*
 * test_store.c - push, fetch and verify on real files in a scratch folder,
 * with and without zstd: a round trip gives the same bytes; a second push of
 * them is ALREADY_ARCHIVED; other bytes under the name are refused and the
 * archived file stays as it was; a flipped byte anywhere in the payload, a
 * truncated file and a wrong size are each "corrupt" and restore nothing; a
 * missing name is PD_ERR_NOT_FOUND; a segment of an impossible size, one
 * without a page header or whose header is another segment's is an input
 * error; a segment of another database system than the archive's is
 * refused; no temporary file stays behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "testing.h"

#define SEGMENT_BYTES (1u << 20) /* the smallest segment initdb allows: quick to write */

typedef struct Scratch
{
    char root[64];
    char dir[96];
    char source[160];
    char dest[160];
} Scratch;

#define SYSTEM UINT64_C(7713828616719481647)

/* A segment's first page header as PostgreSQL writes it (xlog_internal.h), in this machine's byte order. */
static void
write_page_header(FILE *file, uint64_t segno, uint64_t system, uint32_t segment_bytes)
{
    uint16_t magic = 0xD110, info = 0x0002;
    uint32_t timeline = 1, remaining = 0, padding = 0, block = 8192;
    uint64_t address = segno * segment_bytes;
    fwrite(&magic, 2, 1, file);
    fwrite(&info, 2, 1, file);
    fwrite(&timeline, 4, 1, file);
    fwrite(&address, 8, 1, file);
    fwrite(&remaining, 4, 1, file);
    fwrite(&padding, 4, 1, file);
    fwrite(&system, 8, 1, file);
    fwrite(&segment_bytes, 4, 1, file);
    fwrite(&block, 4, 1, file);
}

/* bytes of data at path: a page header for segment segno of system (none when segno is UINT64_MAX), then
 * words from seed, repetitive enough to compress. */
static void
write_wal(const char *path, uint64_t segno, uint64_t system, uint32_t seed, size_t bytes)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    size_t i = 0;
    if (segno != UINT64_MAX)
    {
        write_page_header(file, segno, system, (uint32_t)bytes);
        i = PD_WAL_LONG_HEADER_BYTES;
    }
    for (; i < bytes; i += 4)
    {
        uint32_t word = (uint32_t)(i / 64) * 2654435761u + seed;
        fwrite(&word, 4, 1, file);
    }
    fclose(file);
}

/* Segment 7 of SYSTEM, the name the tests push. */
static void
write_file(const char *path, uint32_t seed, size_t bytes)
{
    write_wal(path, 7, SYSTEM, seed, bytes);
}

static bool
same_files(const char *a, const char *b)
{
    char command[400];
    snprintf(command, sizeof(command), "cmp -s '%s' '%s'", a, b);
    return system(command) == 0;
}

static int
setup(void **state)
{
    Scratch *scratch = calloc(1, sizeof(Scratch));
    strcpy(scratch->root, "/tmp/prodata-archive-test.XXXXXX");
    if (mkdtemp(scratch->root) == NULL)
        return -1;
    snprintf(scratch->dir, sizeof(scratch->dir), "%s/archive", scratch->root);
    mkdir(scratch->dir, 0700);
    snprintf(scratch->source, sizeof(scratch->source), "%s/000000010000000000000007", scratch->root);
    snprintf(scratch->dest, sizeof(scratch->dest), "%s/RECOVERYXLOG", scratch->root);
    *state = scratch;
    return 0;
}

static int
teardown(void **state)
{
    Scratch *scratch = *state;
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", scratch->root);
    int rc = system(command);
    free(scratch);
    return rc == 0 ? 0 : -1;
}

static void
push_ok(PdArena *arena, const PdArchiveOptions *options, const char *source, PdArchivePushOutcome expected)
{
    PdArchivePushOutcome outcome;
    PdError err;
    if (!pd_archive_push(arena, options, source, &outcome, &err))
        fail_msg("push %s: %s", source, err.message);
    assert_int_equal(outcome, expected);
}

static size_t
entries_of(const char *dir)
{
    char command[200];
    snprintf(command, sizeof(command), "ls -A '%s' | wc -l", dir);
    FILE *pipe = popen(command, "r");
    size_t count = 0;
    if (pipe == NULL || fscanf(pipe, "%zu", &count) != 1)
        fail_msg("could not count the entries of %s", dir);
    pclose(pipe);
    return count;
}

static void
round_trip(void **state, PdArchiveCompress compress)
{
    Scratch *scratch = *state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveOptions options = {scratch->dir, compress, 1};
    PdError err;
    write_file(scratch->source, 1, SEGMENT_BYTES);
    push_ok(arena, &options, scratch->source, PD_ARCHIVE_STORED);
    assert_int_equal(entries_of(scratch->dir),
                     2); /* the segment and prodata.archive: no temporary file left */
    push_ok(arena, &options, scratch->source, PD_ARCHIVE_ALREADY_ARCHIVED);
    if (!pd_archive_fetch(arena, &options, "000000010000000000000007", scratch->dest, &err))
        fail_msg("fetch: %s", err.message);
    assert_true(same_files(scratch->source, scratch->dest));
    PdArchiveHeader header;
    char archived[200];
    snprintf(archived, sizeof(archived), "%s/000000010000000000000007", scratch->dir);
    assert_true(pd_archive_verify(arena, NULL, archived, &header, &err));
    assert_int_equal(header.compress, compress);
    if (compress == PD_ARCHIVE_COMPRESS_ZSTD)
        assert_true(header.stored_bytes < SEGMENT_BYTES / 4);
    /* other bytes under the same name: refused, the archived file unchanged */
    write_file(scratch->source, 2, SEGMENT_BYTES);
    PdArchivePushOutcome outcome;
    assert_false(pd_archive_push(arena, &options, scratch->source, &outcome, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "refusing to overwrite");
    assert_contains(err.message, "000000010000000000000007");
    assert_true(pd_archive_fetch(arena, &options, "000000010000000000000007", scratch->dest, &err));
    assert_false(same_files(scratch->source, scratch->dest)); /* still the first file's bytes */
    pd_arena_free(arena);
}

static void
test_round_trip_plain(void **state)
{
    round_trip(state, PD_ARCHIVE_COMPRESS_NONE);
}

static void
test_round_trip_zstd(void **state)
{
    round_trip(state, PD_ARCHIVE_COMPRESS_ZSTD);
}

/* Flips one byte of the archived file at offset and expects fetch to call it corrupt. */
static void
expect_corrupt_after_flip(PdArena *arena, const Scratch *scratch, const PdArchiveOptions *options,
                          long offset)
{
    char archived[200];
    snprintf(archived, sizeof(archived), "%s/000000010000000000000007", scratch->dir);
    FILE *file = fopen(archived, "r+b");
    assert_non_null(file);
    fseek(file, offset, SEEK_SET);
    int c = fgetc(file);
    fseek(file, offset, SEEK_SET);
    fputc(c ^ 0x5A, file);
    fclose(file);
    unlink(scratch->dest);
    PdError err;
    assert_false(pd_archive_fetch(arena, options, "000000010000000000000007", scratch->dest, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "is corrupt");
    assert_int_equal(access(scratch->dest, F_OK), -1); /* nothing restored */
    fseek(file = fopen(archived, "r+b"), offset, SEEK_SET);
    fputc(c, file); /* put it back */
    fclose(file);
}

static void
test_corruption_detected(void **state)
{
    Scratch *scratch = *state;
    PdArena *arena = pd_arena_new(0);
    for (int compress = 0; compress < 2; compress++)
    {
        PdArchiveOptions options = {scratch->dir, (PdArchiveCompress)compress, 1};
        char archived[200];
        snprintf(archived, sizeof(archived), "%s/000000010000000000000007", scratch->dir);
        unlink(archived);
        write_file(scratch->source, 3, SEGMENT_BYTES);
        push_ok(arena, &options, scratch->source, PD_ARCHIVE_STORED);
        struct stat info;
        stat(archived, &info);
        expect_corrupt_after_flip(arena, scratch, &options, PD_ARCHIVE_HEADER_BYTES + 10);
        expect_corrupt_after_flip(arena, scratch, &options, (long)info.st_size - 1);
        expect_corrupt_after_flip(arena, scratch, &options, 40); /* the recorded SHA-256 */
        assert_int_equal(truncate(archived, info.st_size - 100), 0);
        PdError err;
        assert_false(pd_archive_verify(arena, NULL, archived, NULL, &err));
        assert_contains(err.message, "its size differs from its header's");
        /* a re-push onto a corrupt copy is refused too, and the copy left for the operator */
        PdArchivePushOutcome outcome;
        assert_false(pd_archive_push(arena, &options, scratch->source, &outcome, &err));
        assert_contains(err.message, "the archived copy does not verify");
    }
    pd_arena_free(arena);
}

static void
test_missing_and_bad_input(void **state)
{
    Scratch *scratch = *state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveOptions options = {scratch->dir, PD_ARCHIVE_COMPRESS_ZSTD, 1};
    PdError err;
    assert_false(pd_archive_fetch(arena, &options, "000000010000000000000099", scratch->dest, &err));
    assert_int_equal(err.code, PD_ERR_NOT_FOUND);
    PdArchiveOptions unmounted = {"/nonexistent/archive", PD_ARCHIVE_COMPRESS_ZSTD, 1};
    assert_false(pd_archive_fetch(arena, &unmounted, "000000010000000000000099", scratch->dest, &err));
    assert_int_equal(err.code, PD_ERR_IO);
    assert_contains(err.message, "the archive directory /nonexistent/archive does not exist");
    assert_false(pd_archive_fetch(arena, &options, "../etc/passwd", scratch->dest, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    write_file(scratch->source, 4, SEGMENT_BYTES - 4); /* not a segment size */
    PdArchivePushOutcome outcome;
    assert_false(pd_archive_push(arena, &options, scratch->source, &outcome, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "is not a whole WAL segment");
    char history[200];
    snprintf(history, sizeof(history), "%s/00000002.history", scratch->root);
    FILE *file = fopen(history, "w");
    fputs("1\t0/3000000\tno recovery target specified\n", file);
    fclose(file);
    push_ok(arena, &options, history, PD_ARCHIVE_STORED);
    assert_true(pd_archive_fetch(arena, &options, "00000002.history", scratch->dest, &err));
    assert_true(same_files(history, scratch->dest));
    pd_arena_free(arena);
}

/* name (a segment of timeline 1 or 2, 1 MB) written and pushed. */
static void
push_segment(PdArena *arena, const PdArchiveOptions *options, const Scratch *scratch, const char *name,
             uint64_t segno)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/%s", scratch->root, name);
    write_wal(path, segno, SYSTEM, (uint32_t)segno, SEGMENT_BYTES);
    push_ok(arena, options, path, PD_ARCHIVE_STORED);
}

static void
push_history(PdArena *arena, const PdArchiveOptions *options, const Scratch *scratch, const char *name,
             const char *text)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/%s", scratch->root, name);
    FILE *file = fopen(path, "w");
    fputs(text, file);
    fclose(file);
    push_ok(arena, options, path, PD_ARCHIVE_STORED);
}

static void
fetch_refused(PdArena *arena, const PdArchiveOptions *options, const Scratch *scratch, const char *name,
              const char *end)
{
    PdError err;
    if (pd_archive_fetch(arena, options, name, scratch->dest, &err))
        fail_msg("%s restored: it lies past its timeline's end", name);
    assert_int_equal(err.code, PD_ERR_NOT_FOUND);
    assert_string_equal(err.field, "timeline");
    assert_contains(err.message, end);
}

/* A fenced primary archived timeline 1 past the switch to timeline 2: those segments are never restored. */
static void
test_fork_not_restored(void **state)
{
    Scratch *scratch = *state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveOptions options = {scratch->dir, PD_ARCHIVE_COMPRESS_ZSTD, 1};
    PdError err;
    push_segment(arena, &options, scratch, "000000010000000000000006", 6);
    push_segment(arena, &options, scratch, "000000010000000000000007", 7);
    push_segment(arena, &options, scratch, "000000010000000000000008", 8);
    assert_true(pd_archive_fetch(arena, &options, "000000010000000000000008", scratch->dest, &err));
    /* timeline 2 branched at 0/750000, inside segment 7 (1 MB segments) */
    push_history(arena, &options, scratch, "00000002.history", "1\t0/750000\tno recovery target specified\n");
    if (!pd_archive_fetch(arena, &options, "000000010000000000000006", scratch->dest, &err))
        fail_msg("segment 6, before the switch: %s", err.message);
    fetch_refused(arena, &options, scratch, "000000010000000000000007", "past its end at 0/750000");
    fetch_refused(arena, &options, scratch, "000000010000000000000008", "lineage of timeline 2");
    /* timeline 3 branched off 2 at 0/900000: 2's segment 8 (up to 0/900000) is served, 9 is not */
    push_segment(arena, &options, scratch, "000000020000000000000008", 8);
    push_segment(arena, &options, scratch, "000000020000000000000009", 9);
    push_history(arena, &options, scratch, "00000003.history", "1\t0/750000\tx\n2\t0/900000\ty\n");
    if (!pd_archive_fetch(arena, &options, "000000020000000000000008", scratch->dest, &err))
        fail_msg("timeline 2's segment 8: %s", err.message);
    fetch_refused(arena, &options, scratch, "000000020000000000000009", "lineage of timeline 3");
    fetch_refused(arena, &options, scratch, "000000010000000000000007", "00000003.history");
    /* pg_rewind --restore-target-wal reads a rewound node's own fork under the segment's name: served */
    char rewind_dest[200];
    snprintf(rewind_dest, sizeof(rewind_dest), "%s/000000010000000000000007", scratch->root);
    if (!pd_archive_fetch(arena, &options, "000000010000000000000007", rewind_dest, &err))
        fail_msg("pg_rewind's fetch of the fork: %s", err.message);
    pd_arena_free(arena);
}

static void
test_segment_header_and_system_checked(void **state)
{
    Scratch *scratch = *state;
    PdArena *arena = pd_arena_new(0);
    PdArchiveOptions options = {scratch->dir, PD_ARCHIVE_COMPRESS_ZSTD, 1};
    PdArchivePushOutcome outcome;
    PdError err;
    write_wal(scratch->source, UINT64_MAX, 0, 5, SEGMENT_BYTES); /* no page header: not WAL at all */
    assert_false(pd_archive_push(arena, &options, scratch->source, &outcome, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_contains(err.message, "is not the WAL segment its name says");
    write_wal(scratch->source, 8, SYSTEM, 5, SEGMENT_BYTES); /* segment 8's page under segment 7's name */
    assert_false(pd_archive_push(arena, &options, scratch->source, &outcome, &err));
    assert_string_equal(err.field, "xlp_pageaddr");
    write_file(scratch->source, 5, SEGMENT_BYTES);
    push_ok(arena, &options, scratch->source, PD_ARCHIVE_STORED);
    uint64_t recorded = 0;
    bool is_recorded = false;
    assert_true(pd_archive_read_system(scratch->dir, &recorded, &is_recorded, &err));
    assert_true(is_recorded);
    assert_true(recorded == SYSTEM);
    /* segment 9 of another database system: refused, whatever its name */
    char other[200];
    snprintf(other, sizeof(other), "%s/000000010000000000000009", scratch->root);
    write_wal(other, 9, SYSTEM + 1, 5, SEGMENT_BYTES);
    assert_false(pd_archive_push(arena, &options, other, &outcome, &err));
    assert_int_equal(err.code, PD_ERR_REFUSED);
    assert_contains(err.message, "it is WAL of database system 7713828616719481648");
    assert_contains(err.message, "holds system 7713828616719481647");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_not_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_header_and_system_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

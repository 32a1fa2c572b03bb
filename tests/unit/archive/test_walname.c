/*
 * test_walname.c - the pure logic of the WAL archive: WAL file names read as
 * PostgreSQL writes them (and everything else refused, with the name in the
 * message), segment numbers and names for 16 MB and other segment sizes, the
 * stored header's round trip and each corrupt field named, and the gap
 * finder: no gap, one run, several timelines, a .partial ending a timeline, a
 * timeline known only from its history file, the newest segment; history
 * files read (and bad ones named by line) and the gaps on either side of a
 * timeline switch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "prodata/wal.h"
#include "testing.h"

static PdWalName
parse_ok(const char *name)
{
    PdWalName out;
    PdError err;
    if (!pd_archive_parse_name(name, &out, &err))
        fail_msg("%s did not parse: %s", name, err.message);
    return out;
}

static void
test_names_of_each_kind(void **state)
{
    (void)state;
    PdWalName name = parse_ok("000000020000000A000000FF");
    assert_int_equal(name.kind, PD_WAL_SEGMENT);
    assert_int_equal(name.timeline, 2);
    assert_int_equal(name.log, 10);
    assert_int_equal(name.seg, 255);
    assert_int_equal(parse_ok("000000010000000000000003.partial").kind, PD_WAL_PARTIAL);
    name = parse_ok("0000000A.history");
    assert_int_equal(name.kind, PD_WAL_HISTORY);
    assert_int_equal(name.timeline, 10);
    name = parse_ok("000000010000000000000002.00000028.backup");
    assert_int_equal(name.kind, PD_WAL_BACKUP);
    assert_int_equal(name.seg, 2);
}

static void
test_bad_names_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "00000001000000000000000",   /* 23 digits */
                         "0000000100000000000000001", /* 25 */
                         "00000001000000000000000a",  /* lower case */
                         "000000000000000000000001",  /* timeline 0 */
                         "000000010000000000000001.part",
                         "../00000001000000000000001",
                         "00000001.history.gz",
                         "0000001.history",
                         "000000010000000000000002.0000028.backup",
                         "000000010000000000000002.00000028.backupX",
                         "RECOVERYXLOG",
                         "archive_status"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    {
        PdWalName out;
        PdError err;
        if (pd_archive_parse_name(bad[i], &out, &err))
            fail_msg("\"%s\" parsed as a WAL name", bad[i]);
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_contains(err.message, "is not a WAL file name");
    }
}

static void
test_segment_numbers(void **state)
{
    (void)state;
    uint64_t segno;
    PdWalName name = parse_ok("000000010000000A000000FF");
    assert_true(pd_archive_segno(&name, PD_WAL_DEFAULT_SEGMENT_BYTES, &segno));
    assert_int_equal(segno, 10 * 256 + 255);
    char text[25];
    pd_archive_segment_name(1, segno + 1, PD_WAL_DEFAULT_SEGMENT_BYTES, text);
    assert_string_equal(text, "000000010000000B00000000");
    /* 1 GB segments: 4 per log, so seg 0xFF cannot be one */
    assert_false(pd_archive_segno(&name, 1u << 30, &segno));
    name = parse_ok("000000030000000200000003");
    assert_true(pd_archive_segno(&name, 1u << 30, &segno));
    assert_int_equal(segno, 11);
    pd_archive_segment_name(3, 11, 1u << 30, text);
    assert_string_equal(text, "000000030000000200000003");
    assert_true(pd_archive_is_segment_size(16u << 20));
    assert_false(pd_archive_is_segment_size(3u << 20));
    assert_false(pd_archive_is_segment_size(1u << 19));
    assert_false(pd_archive_is_segment_size(UINT64_C(1) << 31));
}

static void
test_header_round_trip_and_corruption(void **state)
{
    (void)state;
    PdArchiveHeader header = {PD_ARCHIVE_COMPRESS_ZSTD, 16u << 20, 12345, {0}};
    for (int i = 0; i < 32; i++)
        header.sha256[i] = (unsigned char)(i * 7);
    unsigned char bytes[PD_ARCHIVE_HEADER_BYTES];
    pd_archive_header_encode(&header, bytes);
    PdArchiveHeader back;
    PdError err;
    assert_true(pd_archive_header_decode(bytes, sizeof(bytes), "f", &back, &err));
    assert_int_equal(back.compress, PD_ARCHIVE_COMPRESS_ZSTD);
    assert_int_equal(back.original_bytes, 16u << 20);
    assert_int_equal(back.stored_bytes, 12345);
    assert_memory_equal(back.sha256, header.sha256, 32);
    struct
    {
        size_t offset;
        unsigned char value;
        const char *field;
    } cases[] = {{0, 'X', "magic"},   {8, 2, "version"},         {9, 7, "compress"},
                 {12, 1, "reserved"}, {23, 1, "original_bytes"}, {31, 0x80, "stored_bytes"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        unsigned char broken[PD_ARCHIVE_HEADER_BYTES];
        memcpy(broken, bytes, sizeof(broken));
        broken[cases[i].offset] = cases[i].value;
        assert_false(pd_archive_header_decode(broken, sizeof(broken), "arch/f", &back, &err));
        assert_int_equal(err.code, PD_ERR_REFUSED);
        assert_string_equal(err.field, cases[i].field);
        assert_contains(err.message, "archived file arch/f is corrupt");
    }
    assert_false(pd_archive_header_decode(bytes, 63, "f", &back, &err));
    assert_string_equal(err.field, "header");
}

/* The report of names (text, one per element) at 16 MB segments. */
static PdArchiveReport
gaps_of(PdArena *arena, const char *const *texts, size_t count)
{
    PdWalName names[32];
    PdArchiveReport report;
    PdError err;
    memset(&report, 0, sizeof(report));
    for (size_t i = 0; i < count; i++)
        names[i] = parse_ok(texts[i]);
    if (!pd_archive_find_gaps(arena, names, count, PD_WAL_DEFAULT_SEGMENT_BYTES, &report, &err))
        fail_msg("find_gaps: %s", err.message);
    return report;
}

static void
test_gaps_none_and_one_run(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *whole[] = {"000000010000000000000003", "000000010000000000000001", "000000010000000000000002",
                           "000000010000000000000001.00000028.backup"};
    PdArchiveReport report = gaps_of(arena, whole, 4);
    assert_int_equal(report.gap_count, 0);
    assert_int_equal(report.timeline_count, 1);
    assert_int_equal(report.timelines[0].segments, 3);
    assert_string_equal(report.newest, "000000010000000000000003");
    /* across a log boundary: FE, FF, then 1/00 follows without a gap; 1/03 leaves 01..02 missing */
    const char *holes[] = {"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000",
                           "000000010000000100000003"};
    report = gaps_of(arena, holes, 4);
    assert_int_equal(report.gap_count, 1);
    assert_string_equal(report.gaps[0].first, "000000010000000100000001");
    assert_string_equal(report.gaps[0].last, "000000010000000100000002");
    assert_int_equal(report.gaps[0].last_segno - report.gaps[0].first_segno + 1, 2);
    pd_arena_free(arena);
}

static void
test_gaps_per_timeline_with_partial_and_history(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    /* timeline 1 ends in a .partial at 5; timeline 2 starts at 5 (its own copy), misses 7; 3 has only a
     * history */
    const char *names[] = {"000000010000000000000003",         "000000010000000000000004",
                           "000000010000000000000005.partial", "00000002.history",
                           "000000020000000000000005",         "000000020000000000000006",
                           "000000020000000000000008",         "00000003.history"};
    PdArchiveReport report = gaps_of(arena, names, 8);
    assert_int_equal(report.timeline_count, 3);
    assert_int_equal(report.timelines[0].timeline, 1);
    assert_true(report.timelines[0].ends_partial);
    assert_false(report.timelines[0].has_history);
    assert_int_equal(report.timelines[0].segments, 3);
    assert_int_equal(report.timelines[1].timeline, 2);
    assert_true(report.timelines[1].has_history);
    assert_int_equal(report.timelines[2].timeline, 3);
    assert_int_equal(report.timelines[2].segments, 0);
    assert_int_equal(report.gap_count, 1);
    assert_int_equal(report.gaps[0].timeline, 2);
    assert_string_equal(report.gaps[0].first, "000000020000000000000007");
    assert_string_equal(report.newest, "000000020000000000000008");
    pd_arena_free(arena);
}

static void
test_partial_beside_its_segment(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *names[] = {"000000010000000000000005.partial", "000000010000000000000005",
                           "000000010000000000000004"};
    PdArchiveReport report = gaps_of(arena, names, 3);
    assert_int_equal(report.timelines[0].segments, 2);
    assert_false(report.timelines[0].ends_partial);
    assert_string_equal(report.newest, "000000010000000000000005");
    const char *only_partial[] = {"000000010000000000000004", "000000010000000000000005.partial"};
    report = gaps_of(arena, only_partial, 2);
    assert_string_equal(report.newest, "000000010000000000000005.partial");
    report = gaps_of(arena, NULL, 0);
    assert_string_equal(report.newest, "");
    assert_int_equal(report.timeline_count, 0);
    pd_arena_free(arena);
}

static void
test_history_files(void **state)
{
    (void)state;
    PdArchiveSwitch step;
    PdError err;
    const char *one = "1\t0/9000000\tno recovery target specified\n";
    assert_true(pd_archive_parse_history(one, strlen(one), "00000002.history", 2, &step, &err));
    assert_int_equal(step.timeline, 2);
    assert_int_equal(step.parent, 1);
    assert_int_equal(step.switch_lsn, 0x9000000);
    const char *two =
        "# written by hand\n1\t0/3000000\tbefore transaction 740\n\n2\t1/5000060\tat restore point\n";
    assert_true(pd_archive_parse_history(two, strlen(two), "00000003.history", 3, &step, &err));
    assert_int_equal(step.parent, 2);
    assert_true(step.switch_lsn == ((UINT64_C(1) << 32) | 0x5000060));
    /* Every ancestor's end, as the keeper reads it (prodata/wal.h). */
    PdArena *arena = pd_arena_new(0);
    PdWalSwitch *switches = NULL;
    size_t count = 0;
    assert_true(
        pd_wal_history_parse(arena, two, strlen(two), "00000003.history", 3, &switches, &count, &err));
    assert_int_equal(count, 2);
    assert_int_equal(switches[0].parent, 1);
    assert_int_equal(switches[0].switch_lsn, 0x3000000);
    assert_int_equal(switches[1].parent, 2);
    pd_arena_free(arena);
    struct
    {
        const char *text;
        uint32_t timeline;
        const char *message;
    } bad[] = {{"", 2, "00000002.history:0: no switch line"},
               {"# only a comment\n", 2, "no switch line"},
               {"1\t0-3000000\tx\n", 2, "00000002.history:1: expected"},
               {"1\n", 2, ":1: expected"},
               {"1\t0/3000000\tx\n1\t0/4000000\ty\n", 3, ":2: timelines and LSNs do not ascend"},
               {"1\t0/5000000\tx\n2\t0/4000000\ty\n", 3, ":2: timelines and LSNs do not ascend"},
               {"2\t0/5000000\tx\n", 2, ":1: timelines and LSNs do not ascend"},
               {"1\t100000000/0\tx\n", 2, ":1: expected"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    {
        if (pd_archive_parse_history(bad[i].text, strlen(bad[i].text), "00000002.history", bad[i].timeline,
                                     &step, &err))
            fail_msg("history \"%s\" parsed", bad[i].text);
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_contains(err.message, bad[i].message);
    }
}

static void
test_gaps_across_a_switch(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err;
    /* timeline 2 branched at 0/9000000 (segment 9): 1 must reach 8, 2 start at 9 */
    PdArchiveSwitch step = {2, 1, 0x9000000};
    const char *whole[] = {"000000010000000000000007", "000000010000000000000008", "000000020000000000000009",
                           "00000002.history"};
    PdArchiveReport report = gaps_of(arena, whole, 4);
    assert_true(pd_archive_find_switch_gaps(arena, &step, 1, PD_WAL_DEFAULT_SEGMENT_BYTES, &report, &err));
    assert_int_equal(report.gap_count, 0);
    assert_int_equal(report.timelines[1].parent, 1);
    assert_int_equal(report.timelines[1].switch_lsn, 0x9000000);
    const char *holes[] = {"000000010000000000000003", "000000010000000000000004", "00000002000000000000000A",
                           "00000002000000000000000B"};
    report = gaps_of(arena, holes, 4);
    assert_true(pd_archive_find_switch_gaps(arena, &step, 1, PD_WAL_DEFAULT_SEGMENT_BYTES, &report, &err));
    assert_int_equal(report.gap_count, 2);
    assert_string_equal(report.gaps[0].first, "000000010000000000000005");
    assert_string_equal(report.gaps[0].last, "000000010000000000000008");
    assert_string_equal(report.gaps[1].first, "000000020000000000000009");
    assert_string_equal(report.gaps[1].last, "000000020000000000000009");
    /* a switch in the middle of segment 8: the parent's 8 (or its .partial) is not needed, the child's is */
    PdArchiveSwitch mid = {2, 1, 0x8000100};
    const char *partial[] = {"000000010000000000000007", "000000010000000000000008.partial",
                             "000000020000000000000008"};
    report = gaps_of(arena, partial, 3);
    assert_true(pd_archive_find_switch_gaps(arena, &mid, 1, PD_WAL_DEFAULT_SEGMENT_BYTES, &report, &err));
    assert_int_equal(report.gap_count, 0);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_of_each_kind),
        cmocka_unit_test(test_bad_names_refused),
        cmocka_unit_test(test_segment_numbers),
        cmocka_unit_test(test_header_round_trip_and_corruption),
        cmocka_unit_test(test_gaps_none_and_one_run),
        cmocka_unit_test(test_gaps_per_timeline_with_partial_and_history),
        cmocka_unit_test(test_partial_beside_its_segment),
        cmocka_unit_test(test_history_files),
        cmocka_unit_test(test_gaps_across_a_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

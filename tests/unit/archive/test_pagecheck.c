/*
 * test_pagecheck.c - data checksums as PostgreSQL 15 computes them, checked
 * against values PostgreSQL itself gave (pageinspect's page_checksum), never
 * against this code: a crafted page at several block numbers (the last block
 * a relation may have among them), a page of 0xFF bytes, and a real heap page
 * read from disk after a checkpoint, whose stored pd_checksum must come out.
 * Then the verdict on a page during a backup (new, newer than the start, bad
 * header, bad checksum, ok) and which paths of a data directory hold
 * checksummed relation pages, with their segment numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "archive/backup.h"
#include "testing.h"

enum
{
    PAGE = PD_BACKUP_PAGE_BYTES,
};

/* Header fields are written in this machine's byte order, as PostgreSQL writes them. */
static void
put_u16(unsigned char *page, size_t offset, uint16_t value)
{
    memcpy(page + offset, &value, sizeof(value));
}

static void
put_u32(unsigned char *page, size_t offset, uint32_t value)
{
    memcpy(page + offset, &value, sizeof(value));
}

static uint16_t
stored_checksum(const unsigned char *page)
{
    uint16_t value;
    memcpy(&value, page + 8, sizeof(value));
    return value;
}

/* A header as PageInit writes it, with an LSN: pd_lower, pd_upper, pd_special, size 8192 version 4. */
static void
put_header(unsigned char *page, uint64_t lsn, uint16_t lower, uint16_t upper, uint16_t special)
{
    put_u32(page, 0, (uint32_t)(lsn >> 32));
    put_u32(page, 4, (uint32_t)lsn);
    put_u16(page, 12, lower);
    put_u16(page, 14, upper);
    put_u16(page, 16, special);
    put_u16(page, 18, 0x2004);
}

/*
 * The crafted page: LSN 1/2345ABC8, pd_checksum 0xBEEF (to be ignored),
 * lower 24, upper and special 8176, one byte in 37 set through the page and
 * 16 bytes of special space. Its bytes went to PostgreSQL as a bytea literal.
 */
static void
build_crafted(unsigned char *page)
{
    memset(page, 0, PAGE);
    put_header(page, UINT64_C(0x12345ABC8), 24, 8176, 8176);
    put_u16(page, 8, 0xBEEF);
    for (size_t i = 24; i < 8176; i += 37)
        page[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 8176; i < PAGE; i++)
        page[i] = (unsigned char)(0xA0 + i % 16);
}

/*
 * A real page: block 1 of a heap table, read from its file after
 * CREATE TABLE pc_wide (id int, pad text); ALTER TABLE pc_wide ALTER pad SET STORAGE PLAIN;
 * INSERT INTO pc_wide SELECT i, repeat(chr(64 + i), 5000) FROM generate_series(1, 3) i;
 * VACUUM (FREEZE) pc_wide; CHECKPOINT; on PostgreSQL 15.18 initdb'ed with --data-checksums.
 * Its non-zero bytes: the header (LSN 0/17C7A28, pd_checksum 0xEE14, PD_ALL_VISIBLE) and one line
 * pointer; at 3160 the tuple header, id 2 and the varlena header; then 5000 'B'.
 */
static void
build_real(unsigned char *page)
{
    static const unsigned char header[] = {
        0x00, 0x00, 0x00, 0x00, 0x28, 0x7a, 0x7c, 0x01, 0x14, 0xee, 0x04, 0x00, 0x1c, 0x00,
        0x58, 0x0c, 0x00, 0x20, 0x04, 0x20, 0x00, 0x00, 0x00, 0x00, 0x58, 0x8c, 0x50, 0x27,
    };
    static const unsigned char tuple[] = {
        0xd5, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x01, 0x00, 0x02, 0x00, 0x02, 0x0b, 0x18, 0x00, 0x02, 0x00, 0x00, 0x00, 0x30, 0x4e, 0x00, 0x00,
    };
    memset(page, 0, PAGE);
    memcpy(page, header, sizeof(header));
    memcpy(page + 3160, tuple, sizeof(tuple));
    memset(page + 3192, 'B', 5000);
}
#define REAL_LSN UINT64_C(0x17C7A28)

/* Expected values: SELECT page_checksum(PAGE, BLKNO) from pageinspect 1.11 on PostgreSQL 15.18. */
static void
test_checksum_matches_postgresql(void **state)
{
    (void)state;
    unsigned char page[PAGE];
    build_crafted(page);
    assert_int_equal(pd_backup_page_checksum(page, 0), 11659);
    assert_int_equal(pd_backup_page_checksum(page, 7), 11662);
    assert_int_equal(pd_backup_page_checksum(page, 131073), 11658);
    assert_int_equal(pd_backup_page_checksum(page, 4294967294u), 53877);
    /* every bit set: each multiplication overflows, each shift carries bits */
    memset(page, 0xFF, PAGE);
    assert_int_equal(pd_backup_page_checksum(page, 0), 3612);
    assert_int_equal(pd_backup_page_checksum(page, 131073), 3611);
}

static void
test_checksum_of_a_real_page(void **state)
{
    (void)state;
    unsigned char page[PAGE];
    build_real(page);
    /* what PostgreSQL stored when it wrote block 1, and what page_checksum said for it */
    assert_int_equal(stored_checksum(page), 0xEE14);
    assert_int_equal(pd_backup_page_checksum(page, 1), 0xEE14);
    /* the same bytes as block 1 of the relation's second segment file */
    assert_int_equal(pd_backup_page_checksum(page, PD_BACKUP_SEGMENT_BLOCKS + 1), 60950);
}

static void
test_checksum_ignores_its_field_only(void **state)
{
    (void)state;
    unsigned char page[PAGE];
    build_crafted(page);
    uint16_t sum = pd_backup_page_checksum(page, 3);
    put_u16(page, 8, 0);
    assert_int_equal(pd_backup_page_checksum(page, 3), sum);
    put_u16(page, 8, 0xFFFF);
    assert_int_equal(pd_backup_page_checksum(page, 3), sum);
    /* the bytes either side of the field count */
    page[7] ^= 1;
    assert_int_not_equal(pd_backup_page_checksum(page, 3), sum);
    page[7] ^= 1;
    page[10] ^= 1;
    assert_int_not_equal(pd_backup_page_checksum(page, 3), sum);
    page[10] ^= 1;
    page[PAGE - 1] ^= 0x80;
    assert_int_not_equal(pd_backup_page_checksum(page, 3), sum);
    /* the page need not be aligned */
    unsigned char shifted[PAGE + 1];
    build_crafted(shifted + 1);
    assert_int_equal(pd_backup_page_checksum(shifted + 1, 0), 11659);
}

static void
test_verdict_new_newer_ok(void **state)
{
    (void)state;
    unsigned char page[PAGE];
    memset(page, 0, PAGE);
    assert_int_equal(pd_backup_check_page(page, 0, 1), PD_PAGE_NEW);
    assert_int_equal(pd_backup_check_page(page, 0, 0), PD_PAGE_NEW);
    /* one stray byte makes a zero page no longer new, and no page has such a header */
    page[PAGE - 1] = 1;
    assert_int_equal(pd_backup_check_page(page, 0, UINT64_MAX), PD_PAGE_BAD);
    build_real(page);
    assert_int_equal(pd_backup_check_page(page, 1, REAL_LSN + 1), PD_PAGE_OK);
    assert_int_equal(pd_backup_check_page(page, 1, UINT64_MAX), PD_PAGE_OK);
    /* written at or after the backup's start: not judged, even torn */
    assert_int_equal(pd_backup_check_page(page, 1, REAL_LSN), PD_PAGE_NEWER);
    page[5000] ^= 0x10;
    assert_int_equal(pd_backup_check_page(page, 1, REAL_LSN - 1), PD_PAGE_NEWER);
    /* the LSN's high word counts: 1/17C7A28 is past 0/FFFFFFFF, 0/17C7A28 is before 1/0 */
    build_real(page);
    put_u32(page, 0, 1);
    assert_int_equal(pd_backup_check_page(page, 1, UINT64_C(0xFFFFFFFF)), PD_PAGE_NEWER);
    build_real(page);
    assert_int_equal(pd_backup_check_page(page, 1, UINT64_C(0x100000000)), PD_PAGE_OK);
}

static void
test_verdict_bad_checksum(void **state)
{
    (void)state;
    unsigned char page[PAGE];
    build_real(page);
    page[5000] ^= 0x10;
    assert_int_equal(pd_backup_check_page(page, 1, UINT64_MAX), PD_PAGE_BAD);
    build_real(page);
    put_u16(page, 8, 0xEE15);
    assert_int_equal(pd_backup_check_page(page, 1, UINT64_MAX), PD_PAGE_BAD);
    /* a good page at the wrong place */
    build_real(page);
    assert_int_equal(pd_backup_check_page(page, 2, UINT64_MAX), PD_PAGE_BAD);
    assert_int_equal(pd_backup_check_page(page, PD_BACKUP_SEGMENT_BLOCKS + 1, UINT64_MAX), PD_PAGE_BAD);
}

/* Sets 16-bit header fields of the real page and re-signs it, so that only the header can be at fault. */
static PdPageVerdict
verdict_with_fields(size_t offset, uint16_t value, size_t other_offset, uint16_t other_value)
{
    unsigned char page[PAGE];
    build_real(page);
    put_u16(page, offset, value);
    put_u16(page, other_offset, other_value);
    put_u16(page, 8, pd_backup_page_checksum(page, 1));
    return pd_backup_check_page(page, 1, UINT64_MAX);
}

static PdPageVerdict
verdict_with_field(size_t offset, uint16_t value)
{
    return verdict_with_fields(offset, value, offset, value);
}

static void
test_verdict_bad_header(void **state)
{
    (void)state;
    /* the control: re-signing with a valid value keeps the page good */
    assert_int_equal(verdict_with_field(10, 0x0007), PD_PAGE_OK);
    assert_int_equal(verdict_with_field(12, 3160), PD_PAGE_OK);
    struct
    {
        size_t offset;
        uint16_t value;
        const char *why;
    } cases[] = {
        {10, 0x0008, "a flag beyond PD_ALL_VISIBLE"},
        {10, 0x8004, "the high flag bit"},
        {12, 3161, "pd_lower past pd_upper"},
        {14, 0, "pd_upper 0 (an uninitialized page) with content"},
        {16, 3152, "pd_special before pd_upper"},
        {16, 8200, "pd_special past the page"},
        {16, 8188, "pd_special not MAXALIGNed"},
        {18, 0x2005, "layout version 5"},
        {18, 0x1004, "page size 4096"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (verdict_with_field(cases[i].offset, cases[i].value) != PD_PAGE_BAD)
            fail_msg("%s was not judged bad", cases[i].why);
    /* pd_upper 0 marks a page never initialized, which only an all-zero page may be, even when in order */
    assert_int_equal(verdict_with_fields(12, 0, 14, 0), PD_PAGE_BAD);
    assert_int_equal(verdict_with_fields(12, 0, 14, 3160), PD_PAGE_OK);
}

static void
test_relation_files_accepted(void **state)
{
    (void)state;
    struct
    {
        const char *path;
        uint32_t segment;
    } cases[] = {
        {"base/5/16427", 0},
        {"base/1/1259", 0},
        {"base/16384/16385.1", 1},
        {"base/16384/16385_fsm", 0},
        {"base/16384/16385_vm", 0},
        {"base/16384/16385_init", 0},
        {"base/16384/16385_fsm.2", 2},
        {"base/4294967295/4294967295.32767", 32767},
        {"global/1262", 0},
        {"global/1262_vm.10", 10},
        {"pg_tblspc/16390/PG_15_202209061/16384/16391", 0},
        {"pg_tblspc/16390/PG_15_202209061/16384/16391_init.3", 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        uint32_t segment = 99;
        if (!pd_backup_is_relation_file(cases[i].path, &segment))
            fail_msg("%s was not taken for a relation file", cases[i].path);
        if (segment != cases[i].segment)
            fail_msg("%s: segment %u, expected %u", cases[i].path, segment, cases[i].segment);
    }
}

static void
test_other_files_refused(void **state)
{
    (void)state;
    const char *other[] = {
        "",
        "base",
        "base/",
        "base/5",
        "base/5/",
        "base/5/PG_VERSION",
        "base/5/pg_filenode.map",
        "base/5/pg_internal.init",
        "base/5/t3_16427", /* a temporary relation */
        "base/5/t3_16427.1",
        "base/5/16427_",
        "base/5/16427_fsm_vm",
        "base/5/16427_main",
        "base/5/16427_fsmx",
        "base/5/16427.",
        "base/5/16427.0", /* segment 0 has no suffix */
        "base/5/16427.01",
        "base/5/16427.32768", /* its blocks would be past the last block number */
        "base/5/16427.1.1",
        "base/5/16427/1",
        "base/5/016427",
        "base/5/0",
        "base/0/16427",
        "base/05/16427",
        "base/5/4294967296",
        "base/5/+16427",
        "base/5/-1",
        "base/5//16427",
        "base//16427",
        "/base/5/16427",
        "./base/5/16427",
        "base/5/../5/16427",
        "base/5/16427 ",
        "base/pgsql_tmp/pgsql_tmp123.0",
        "global/pg_control",
        "global/pg_filenode.map",
        "global/1262/1",
        "global/5/1262",
        "pg_wal/000000010000000000000001",
        "pg_xact/0000",
        "pg_tblspc/16390",
        "pg_tblspc/16390/PG_15_202209061",
        "pg_tblspc/16390/PG_15_202209061/16384",
        "pg_tblspc/16390/PG_15_202209061/16391", /* no database directory */
        "pg_tblspc/16390/PG_15_202209061/16384/16391/1",
        "pg_tblspc/16390/PG_15_/16384/16391",
        "pg_tblspc/16390/PG__202209061/16384/16391",
        "pg_tblspc/16390/PG_15202209061/16384/16391",
        "pg_tblspc/16390/pg_15_202209061/16384/16391",
        "pg_tblspc/16390/PG_15_202209061x/16384/16391",
        "pg_tblspc/0/PG_15_202209061/16384/16391",
        "pg_tblspc/16390/PG_15_202209061/16384/t3_16391",
        "pg_tblspc/16390/PG_15_202209061/16384/pg_filenode.map",
        "Base/5/16427",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
    {
        uint32_t segment = 99;
        if (pd_backup_is_relation_file(other[i], &segment))
            fail_msg("\"%s\" was taken for a relation file", other[i]);
        assert_int_equal(segment, 99);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_matches_postgresql),
        cmocka_unit_test(test_checksum_of_a_real_page),
        cmocka_unit_test(test_checksum_ignores_its_field_only),
        cmocka_unit_test(test_verdict_new_newer_ok),
        cmocka_unit_test(test_verdict_bad_checksum),
        cmocka_unit_test(test_verdict_bad_header),
        cmocka_unit_test(test_relation_files_accepted),
        cmocka_unit_test(test_other_files_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_waldump.c - PostgreSQL 15's pg_waldump lines as the restore's target
 * check reads them (restore_waldump.c): commits and aborts with their xid and
 * time to the microsecond (with subtransactions and invalidations after the
 * time), prepared transactions by their own xid, restore points by name
 * (spaces kept), other records by their LSN only, and lines that are no
 * record, or a time that does not read as UTC, refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "archive/restore_wal.h"

#define PREFIX "rmgr: Transaction len (rec/tot):     34/    34, "

/* 2026-12-01 10:50:52 UTC in seconds since the epoch. */
#define AT_105052 INT64_C(1796122252)

static void
test_commits_and_aborts(void **state)
{
    (void)state;
    PdWalRecord record;
    assert_true(pd_restore_waldump_parse(PREFIX
                                         "tx:        727, lsn: 0/01516868, prev 0/01516800, desc: COMMIT "
                                         "2026-12-01 10:50:52.202931 UTC",
                                         &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_COMMIT);
    assert_int_equal(record.xid, 727);
    assert_int_equal(record.lsn, 0x01516868);
    assert_int_equal(record.time_us, AT_105052 * 1000000 + 202931);
    assert_true(pd_restore_waldump_parse(PREFIX
                                         "tx:        730, lsn: 1/020004A0, prev 1/02000460, desc: COMMIT "
                                         "2026-12-01 10:50:52.000007 UTC; subxacts: 731",
                                         &record));
    assert_int_equal(record.xid, 730);
    assert_int_equal(record.lsn, UINT64_C(0x1020004A0));
    assert_int_equal(record.time_us, AT_105052 * 1000000 + 7);
    assert_true(pd_restore_waldump_parse(PREFIX
                                         "tx:        726, lsn: 0/015167D8, prev 0/01516798, desc: ABORT "
                                         "2026-12-01 10:50:52.202273 UTC",
                                         &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_ABORT);
    assert_int_equal(record.xid, 726);
}

static void
test_prepared_transactions(void **state)
{
    (void)state;
    PdWalRecord record;
    assert_true(pd_restore_waldump_parse(PREFIX "tx:          0, lsn: 0/020002C8, prev 0/020001D0, desc: "
                                                "COMMIT_PREPARED 728: 2026-12-01 10:50:52.918169 UTC",
                                         &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_COMMIT);
    assert_int_equal(record.xid, 728); /* the prepared transaction's, not the committer's 0 */
    assert_true(pd_restore_waldump_parse(PREFIX "tx:          0, lsn: 0/02000430, prev 0/02000338, desc: "
                                                "ABORT_PREPARED 729: 2026-12-01 10:50:52.919048 UTC",
                                         &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_ABORT);
    assert_int_equal(record.xid, 729);
    assert_true(pd_restore_waldump_parse(PREFIX
                                         "tx:        728, lsn: 0/020001D0, prev 0/02000110, desc: PREPARE "
                                         "gid a: 2026-12-01 10:50:52.917196 UTC",
                                         &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_OTHER); /* no target stops at a PREPARE */
}

static void
test_restore_points_and_other_records(void **state)
{
    (void)state;
    PdWalRecord record;
    assert_true(
        pd_restore_waldump_parse("rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: "
                                 "0/01516800, prev 0/015167D8, desc: RESTORE_POINT hello world",
                                 &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_RESTORE_POINT);
    assert_string_equal(record.name, "hello world");
    assert_true(
        pd_restore_waldump_parse("rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: "
                                 "0/01516890, prev 0/01516868, desc: SWITCH ",
                                 &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_OTHER);
    assert_int_equal(record.lsn, 0x01516890);
    assert_true(
        pd_restore_waldump_parse("rmgr: Heap        len (rec/tot):     59/    59, tx:        725, lsn: "
                                 "0/01516730, prev 0/015166F8, desc: INSERT off 1 flags 0x00, blkref #0: "
                                 "rel 1663/5/16384 blk 0",
                                 &record));
    assert_int_equal(record.kind, PD_WAL_RECORD_OTHER);
    assert_int_equal(record.xid, 725);
}

static void
test_lines_refused(void **state)
{
    (void)state;
    PdWalRecord record;
    assert_false(pd_restore_waldump_parse("", &record));
    assert_false(pd_restore_waldump_parse("pg_waldump: error: could not find file", &record));
    assert_false(pd_restore_waldump_parse(PREFIX "tx: 1, lsn: nowhere, desc: COMMIT", &record));
    assert_false(pd_restore_waldump_parse(PREFIX
                                          "tx:          9, lsn: 0/01516868, prev 0/01516800, desc: COMMIT "
                                          "2026-12-01 11:50:52.202931 CET",
                                          &record));
    assert_false(pd_restore_waldump_parse(PREFIX "tx:          9, lsn: 0/01516868, prev 0/01516800, desc: "
                                                 "COMMIT_PREPARED 2026-12-01 10:50:52.202931 UTC",
                                          &record));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commits_and_aborts),
        cmocka_unit_test(test_prepared_transactions),
        cmocka_unit_test(test_restore_points_and_other_records),
        cmocka_unit_test(test_lines_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

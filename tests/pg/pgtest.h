/*
 * pgtest.h - what the database-backed library tests (tests/pg/test_*.c)
 * share: the connection to the fresh database tests/run.sh made for the
 * program (PRODATA_TEST_CONNINFO), and a way to run setup SQL that must
 * succeed. Each program may create any tables it likes: its database is its
 * own and dropped on the next run.
 */
#ifndef PRODATA_TESTS_PGTEST_H
#define PRODATA_TESTS_PGTEST_H

#include <stdio.h>
#include <stdlib.h>

#include "prodata/db.h"

/* The conninfo of this program's database; the default suits a local run by hand. */
static inline const char *
pgtest_conninfo(void)
{
    const char *conninfo = getenv("PRODATA_TEST_CONNINFO");
    return conninfo != NULL ? conninfo : "dbname=postgres";
}

/* A connection to it, or the program stops: without its database no test can say anything. */
static inline PdDb *
pgtest_connect(void)
{
    PdDb *db = NULL;
    PdError err = {0};
    if (!pd_db_connect(pgtest_conninfo(), &db, &err))
    {
        fprintf(stderr, "pgtest: cannot connect (%s): %s\n", pgtest_conninfo(), err.message);
        exit(1);
    }
    return db;
}

/* Runs SQL that must work (fixtures); stops the program with the server's message when it does not. */
static inline void
pgtest_exec(PdDb *db, const char *sql)
{
    PdError err = {0};
    if (!pd_db_exec(db, sql, &err))
    {
        fprintf(stderr, "pgtest: setup failed: %s\nSQL: %s\n", err.message, sql);
        exit(1);
    }
}

#endif

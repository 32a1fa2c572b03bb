#!/bin/bash
# db.sh - the db module against the real server: runs the C test program
# build/tests/unit/db/test_db with --server (its pure half runs with the unit
# tests) on a database of its own. It proves the result API, transaction
# states and cancelling, and what server errors become: a unique or foreign-key
# violation an input error naming the constraint and the column, a deadlock a
# retryable error, a terminated backend and a read-only transaction "the
# server went away". Its TAP lines are cmocka's.
source tests/lib/tap.sh
tap_fresh_db db_test
CMOCKA_MESSAGE_OUTPUT=TAP exec "${PRODATA_BUILD:-build}/tests/unit/db/test_db" --server

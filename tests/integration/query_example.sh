#!/bin/bash
# query_example.sh - the example program of docs/query.md
# (examples/bookstore/query_example.c, built by `make`) on a freshly migrated
# bookstore: it runs, prints the objects PostgreSQL built and the refusals in
# DRF's words, and the database holds what it says it wrote.
source tests/lib/tap.sh
tap_plan 17
EXAMPLE=$PWD/${PRODATA_BUILD:-build}/examples/query_example
tap_workdir
ROOT=$PWD
cp -r examples/bookstore "$TAP_WORKDIR/"
cd "$TAP_WORKDIR/bookstore"
tap_fresh_db query_example
DB=query_example

run_cmd "$PRODATA" migrate
expect_rc "the bookstore migrates" 0

run_cmd env PRODATA_DATABASE="dbname=$DB" "$EXAMPLE"
expect_rc "without the models file where it looks, the example says so and fails" 1
# the connection from PRODATA_DATABASE (host and port from the run's PG* variables), the models as given
run_cmd env PRODATA_DATABASE="dbname=$DB" PGDATABASE=postgres "$EXAMPLE" "" models.pdm
expect_rc "the example runs" 0
expect_out "author as PostgreSQL built it" \
    '^created author \{"id":1,"name":"Frank Herbert","email":"frank@example.com","born":null,"website":null\}$'
expect_out "get_or_create finds the tag it made" '^tag \{"id":1,"name":"classic"\} \(created by this call: no\)$'
expect_out "a book with its tags" '^created book \{"id":1,"title":"Dune","author":1,"price":"9.99",.*"tags":\[1\],"status":"draft"\}$'
expect_out "two books in one statement, in order" \
    '^created in one statement \[\{"id":2,"title":"Dune Messiah".*\{"id":3,"title":"Children of Dune".*"tags":\[1\]'
expect_out "update_or_create changed the price" '^update_or_create \{"id":1,"title":"Dune",.*"price":"12.50",.*\(created: no\)$'
expect_out "a missing author in DRF's words" '^  author: Invalid pk "424242" - object does not exist\.$'
expect_out "a blank title" '^  title: This field may not be blank\.$'
expect_out "a wrong key type" '^  author: Incorrect type\. Expected pk value, received str\.$'
expect_out "too many decimal places" '^  price: Ensure that there are no more than 2 decimal places\.$'
expect_out "a choice that is none" '^  status: "lost" is not a valid choice\.$'
expect_out "a taken title for the author" '^  non_field_errors: The fields title, author must make a unique set\.$'
expect_eq "the database holds what the example says" \
    "$(sql $DB "SELECT string_agg(title || '=' || price, ',' ORDER BY id) || ' tags:' || (SELECT count(*) FROM book_tags) FROM book")" \
    "Dune=12.50,Dune Messiah=8.50,Children of Dune=0.00 tags:2"
# The read side's example (examples/query_books.c) over the rows the write example left.
run_cmd bash -c "cd '$ROOT' && '$ROOT/${PRODATA_BUILD:-build}/examples/query_books' 'dbname=$DB'"
expect_rc "query_books runs" 0
expect_out "a page over a price, its count and the author embedded" '^1 books cost 10 or more.*'
tap_done

#!/bin/bash
# query_example.sh - the example program of docs/query.md (examples/query_example.c, built by `make`) on a
# freshly migrated bookstore: it runs, prints the objects PostgreSQL built (writes, a filtered page with its
# count and embeds, get and its two errors, a transaction whose savepoint undoes a refused statement) and the
# refusals in DRF's words, and the database holds what it says it wrote. Then once more on a bookstore
# seeded as make demo seeds it.
source tests/lib/tap.sh
tap_plan 26
EXAMPLE=$PWD/${PRODATA_BUILD:-build}/examples/query_example
tap_workdir
cp -r examples/bookstore "$TAP_WORKDIR/"
cd "$TAP_WORKDIR/bookstore"
tap_fresh_db query_example
DB=query_example

run_cmd "$PRODATA" migrate
expect_rc "the bookstore migrates" 0

run_cmd env PRODATA_DATABASE="dbname=$DB" "$EXAMPLE"
expect_rc "without the models file where it looks, the example says so and fails" 1
expect_out "... naming what failed" '^query_example: load models: '
# the connection from PRODATA_DATABASE (host and port from the run's PG* variables), the models as given
run_cmd env PRODATA_DATABASE="dbname=$DB" PGDATABASE=postgres "$EXAMPLE" "" models.pdm
expect_rc "the example runs" 0
expect_out "author as PostgreSQL built it" \
    '^created author \{"id":1,"name":"Frank Herbert","email":"frank@example.com","born":null,"website":null\}$'
expect_out "get_or_create finds the tag it made" '^tag \{"id":1,"name":"classic"\} \(created by this call: no\)$'
expect_out "a book with its tags, the time stamp as DRF writes it" \
    '^created book \{"id":1,"title":"Dune","author":1,"price":"9.99","published":"[0-9-]{10}T[0-9:]{8}(\.[0-9]{6})?Z",.*"tags":\[1\],"status":"draft"\}$'
expect_out "two books in one statement, in order" \
    '^created in one statement \[\{"id":2,"title":"Dune Messiah".*\{"id":3,"title":"Children of Dune".*"tags":\[1\]'
expect_out "update_or_create changed the price" '^update_or_create \{"id":1,"title":"Dune",.*"price":"12.50",.*\(created: no\)$'
expect_out "an update through a query" '^out of stock: 2 books$'
expect_out "a page of the Q group, its count, the author and tags embedded" \
    '^2 books match; the first 1 \(more follow\): \[\{"id":1,"title":"Dune","price":"12.50","author":\{"id":1,"name":"Frank Herbert",[^}]*\},"tags":\[\{"id":1,"name":"classic"\}\]\}\]$'
expect_out "get finds one" '^get title=Dune: \{"id":1,"title":"Dune",'
expect_out "get of none says so" '^get title=Dune Returns: none: Book matching query does not exist\.$'
expect_out "get of several says so" '^get author__name=Frank Herbert: several: get\(\) returned more than one Book'
expect_out "a second Dune is refused inside the transaction" '^refused a second Dune inside the transaction:$'
expect_out "... by the database, in DRF's words" '^  non_field_errors: The fields title, author must make a unique set\.$'
expect_out "the review made before the savepoint is committed" '^committed the review \{"id":1,"book":1,"reviewer":"ann@example.com","rating":5,'
expect_out "a missing author in DRF's words" '^  author: Invalid pk "424242" - object does not exist\.$'
expect_out "a blank title" '^  title: This field may not be blank\.$'
expect_out "a wrong key type" '^  author: Incorrect type\. Expected pk value, received str\.$'
expect_out "too many decimal places" '^  price: Ensure that there are no more than 2 decimal places\.$'
expect_out "a choice that is none" '^  status: "lost" is not a valid choice\.$'
expect_eq "the database holds what the example says (the savepoint undid only the second Dune)" \
    "$(sql $DB "SELECT string_agg(title || '=' || price || ':' || in_stock, ',' ORDER BY id) || ' tags:' ||
                       (SELECT count(*) FROM book_tags) || ' reviews:' || (SELECT count(*) FROM book_review) FROM book")" \
    "Dune=12.50:true,Dune Messiah=8.50:false,Children of Dune=0.00:false tags:2 reviews:1"
expect_eq "... and no transaction is left open" \
    "$(sql $DB "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND state LIKE 'idle in transaction%'")" "0"

# make demo's bookstore: the seed's rows (a tag "classic" already there) beside the example's
tap_fresh_db query_example_seeded
"$PRODATA" migrate >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -f seed.sql >/dev/null
run_cmd "$EXAMPLE" "dbname=query_example_seeded" models.pdm
expect_rc "the example runs on make demo's seeded bookstore" 0
expect_out "... finding the seed's tag" '^tag \{"id":5,"name":"classic"\} \(created by this call: no\)$'
tap_done

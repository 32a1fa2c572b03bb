/*
 * count.h - private to src/query: the SQL of an unfiltered exact count read
 * from migrate's row counters, for the page and count statements.
 */
#ifndef PRODATA_QUERY_COUNT_H
#define PRODATA_QUERY_COUNT_H

#include <stdbool.h>

#include "prodata/count.h"
#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/strbuf.h"

/*
 * Appends to sql a scalar expression of type bigint: the number of rows of
 * model's table that the statement's snapshot sees, summed from its slots
 * in prodata_row_counts. No parameters (the table's name from the catalog,
 * quoted as an identifier inside a regclass literal). Use it only for a
 * count of the whole table, and only when pd_query_counter_available said
 * so: on a table without the counter it gives 0, with row-level security it
 * counts rows the role cannot see. Errors: the strbuf's failure is left for
 * the caller to check; none else.
 */
bool pd_query_count_expression(PdStrbuf *sql, const PdModel *model, PdError *err);

#endif

/*
 * count.h - whether a model's exact row count can come from the counters
 * that migrate keeps (prodata_row_counts, see docs/query.md "Counts")
 * instead of count(*). The query library uses the counter for an unfiltered
 * exact count when the caller says so (pd_query_use_counter) after asking
 * here once per model, when the catalog is loaded; the SQL it puts in the
 * page statement is pd_query_count_expression's.
 */
#ifndef PRODATA_COUNT_H
#define PRODATA_COUNT_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/export.h"
#include "prodata/model.h"
#include "prodata/strbuf.h"

PD_API_BEGIN

/*
 * *available is true when model's table (as the search_path finds it) has
 * migrate's counter triggers enabled (the three statement triggers, and the
 * two that counted at commit in the version before, when present), the current role may read
 * prodata_row_counts, and the table has no row-level security enabled (with
 * it, a role's count(*) sees only its rows, while the counter counts them
 * all; pd_query_count_expression checks that again at each statement). False
 * when the table does not exist. One catalog query; its answer holds until
 * the next migrate, so ask again when the catalog is reloaded. Errors: the
 * server's.
 */
bool pd_query_counter_available(PdArena *arena, PdDb *db, const PdModel *model, bool *available,
                                PdError *err);

/*
 * *oid (decimal text, in arena) is model's table's oid when a session may
 * create objects of model in transactions that add their own inserts to
 * the counters: they list the table in prodata.client_counts (',oid,...,')
 * and add the rows themselves, with prodata_count_add(table, rows) before
 * they commit or in the INSERT itself (pd_object_create_each's
 * counted_oid, what prodata serve's shared create transactions do), see
 * docs/query.md "Counting by the client". That needs the function (and the right to run it), a
 * session whose login role and current role may UPDATE prodata_row_counts,
 * and each create being one INSERT of exactly one row into the table and
 * none into another listed table: no enabled BEFORE INSERT row trigger of
 * the user's on the table (it may make an INSERT write no row without an
 * error), and on none of catalog's model tables a rule, or a column
 * default or CHECK constraint calling a function of the user's (those run
 * in the create's own statement and could insert rows). Else *oid is NULL
 * (also when the table does not exist). One catalog query; ask again when
 * the catalog is reloaded (prodata_count_add refuses a table that gained a
 * rule or trigger meanwhile, and the transaction rolls back; an INSERT that
 * counts itself adds the rows it wrote, and nothing past an INSTEAD rule).
 * Errors: the server's.
 */
bool pd_query_counter_client_table(PdArena *arena, PdDb *db, const PdCatalog *catalog, const PdModel *model,
                                   const char **oid, PdError *err);

/*
 * Appends to sql a scalar expression of type bigint: the number of rows of
 * model's table that the statement's snapshot sees, the sum of its slots in
 * prodata_row_counts (64 small rows, whatever the table's size). No
 * parameters: the table's name comes from the catalog, quoted as an
 * identifier inside a regclass literal. For a count of the whole table only,
 * and only where pd_query_counter_available said so: on a table without the
 * counter it gives 0. Where row-level security applies to the statement's
 * role (row_security_active, checked as it runs: RLS enabled after the
 * catalog loaded included) it is the table's count(*) instead, which counts
 * only the rows the role can see. The page statement uses it for an
 * unfiltered exact count.
 * A failed allocation is left in the strbuf for the caller to check; no
 * other error.
 */
bool pd_query_count_expression(PdStrbuf *sql, const PdModel *model, PdError *err);

PD_API_END

#endif

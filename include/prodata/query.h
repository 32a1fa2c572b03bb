/*
 * query.h - reading model objects, checked against the loaded catalog:
 * Django's QuerySet in C. A PdQuery names a model and collects conditions
 * (Django's lookups, Q trees, exclude, DRF's search), an ordering, a slice,
 * a field subset, embeds (select_related, prefetch) and a keyset position;
 * an execution turns it into ONE SQL statement whose values are parameters
 * and whose identifiers come from the catalog, quoted. Objects come back as
 * JSON that PostgreSQL built (DRF's representation, see docs/query.md),
 * passed through without re-encoding.
 *
 * Lifetimes: a query, its conditions and everything an execution returns
 * live in the arena given to pd_query_new. A query belongs to one thread; the
 * catalog is read-only and may be shared. Errors are PdError values:
 * PD_ERR_INVALID_INPUT (400: a name, lookup or value the catalog refuses,
 * err->field = the name as given), PD_ERR_NOT_FOUND / PD_ERR_MULTIPLE (get),
 * and the database's codes (see db.h). A value PostgreSQL refuses as data
 * (SQLSTATE class 22: a bad regular expression, a date out of range) is
 * PD_ERR_INVALID_INPUT too.
 */
#ifndef PRODATA_QUERY_H
#define PRODATA_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/export.h"
#include "prodata/model.h"

PD_API_BEGIN

typedef struct PdQuery PdQuery;

/*
 * Bounds on what one query may ask for, so that no input (a REST query string) can make a statement that
 * costs without bound: ordering terms (PostgreSQL refuses more than 1,664 output columns long before a
 * sort of hundreds of keys is sensible), relations followed by one embed path (each level multiplies the
 * rows), embeds in all, and the terms of a search (each one an OR over the searchable fields). Past them the
 * call fails with PD_ERR_INVALID_INPUT naming the parameter.
 */
#define PD_QUERY_MAX_ORDER_TERMS 16
#define PD_QUERY_MAX_EMBED_DEPTH 3
#define PD_QUERY_MAX_EMBEDS 16
#define PD_QUERY_MAX_SEARCH_TERMS 10
typedef struct PdQ PdQ; /* a condition tree, Django's Q */

/* A query over every object of model (a model of catalog). NULL on arena exhaustion. */
PdQuery *pd_query_new(PdArena *arena, const PdCatalog *catalog, const PdModel *model);
const PdModel *pd_query_model(const PdQuery *query);

/*
 * One lookup, Django's keyword: a path of fields ("price", "author__name"
 * across a foreign key, "books__title" over a reverse relation named by its
 * related name, "tags__name" over a many-to-many field, "pk" for the primary
 * key), then an optional transform (year, month, day on date and timestamptz;
 * date on timestamptz) and an optional lookup: exact iexact contains
 * icontains startswith istartswith endswith iendswith in gt gte lt lte range
 * isnull regex iregex. No lookup means exact; a relation alone compares its
 * key. value is text as the field takes it (NULL: SQL null, exact becomes IS
 * NULL), read as a body's value is: a uuid in every form Python's uuid.UUID
 * takes (32 hex digits, braces, "urn:uuid:", upper case), sent hyphenated in
 * lower case; a time's or time stamp's fraction of seven to nine digits cut
 * to six, not rounded, as Django cuts it. isnull takes true/false/1/0; in
 * takes a comma list (use pd_q_list for values holding commas); range two
 * values "a,b". A path through a to-many relation is an EXISTS sub-query:
 * rows are never repeated.
 * Errors: PD_ERR_INVALID_INPUT, err->field = lookup, the message naming the
 * bad part and what exists ("Book has no field \"pric\"; fields: id, title,
 * ..."; "lookup \"gte\" does not apply to bool field \"in_stock\"") or why
 * the value does not fit (pd_model_check_value's words). NULL on error.
 */
PdQ *pd_q(PdQuery *query, const char *lookup, const char *value, PdError *err);
/* in (count >= 0; an empty list matches nothing) and range (exactly 2) with values given one by one. */
PdQ *pd_q_list(PdQuery *query, const char *lookup, const char *const *values, size_t count, PdError *err);
/*
 * Checks lookup (pd_q's first argument: path, transform, lookup) against the catalog without a value, and
 * adds no condition: for a caller that ignores an argument whose value is empty, as django-filter does, yet
 * refuses a name that means nothing. Errors: pd_q's, err->field = lookup.
 */
bool pd_query_check_lookup(PdQuery *query, const char *lookup, PdError *err);
/* Trees. NULL in, NULL out: a chain with a failed part fails once, at filter. */
PdQ *pd_q_and(PdQuery *query, PdQ *left, PdQ *right);
PdQ *pd_q_or(PdQuery *query, PdQ *left, PdQ *right);
PdQ *pd_q_not(PdQuery *query, PdQ *q);

/* AND condition (filter) / AND NOT condition (exclude). condition NULL: PD_ERR_INVALID_INPUT (a failed pd_q).
 */
bool pd_query_filter(PdQuery *query, PdQ *condition, PdError *err);
bool pd_query_exclude(PdQuery *query, PdQ *condition, PdError *err);
/* pd_query_filter(query, pd_q(query, lookup, value)). */
bool pd_query_where(PdQuery *query, const char *lookup, const char *value, PdError *err);

/*
 * DRF's SearchFilter: terms split at spaces and commas; every term must be
 * contained (case-insensitively) in some searchable field of the model (the
 * `search` option). LIKE's wildcards in the terms match themselves. A model
 * with no searchable field, or more than PD_QUERY_MAX_SEARCH_TERMS terms: PD_ERR_INVALID_INPUT,
 * err->field "search". Empty terms: no condition. Fields with search=fulltext take the whole text as a web
 * search (websearch_to_tsquery in the field's configuration) instead; a row matches either way.
 */
bool pd_query_search(PdQuery *query, const char *terms, PdError *err);

/*
 * Ordering: comma list of paths, "-" for descending ("-published,title,
 * author__name"), through to-one relations only. Default: the model's
 * ordering. The primary key always ends it (stable pages, keysets). NULLs
 * sort as PostgreSQL's default: last ascending, first descending.
 */
bool pd_query_order_by(PdQuery *query, const char *terms, PdError *err);
/* OFFSET offset LIMIT limit; limit < 0: no limit. */
void pd_query_slice(PdQuery *query, int64_t offset, int64_t limit);
/*
 * The keys of the objects, in that order (comma list, "id,title,author"): fields, and reverse relations
 * prefetched before ("name,books"); an embed not named is left out (and not read). Anything else, a reverse
 * relation not yet prefetched included: PD_ERR_INVALID_INPUT "<Model> has no field ...", err->field the name.
 */
bool pd_query_only(PdQuery *query, const char *fields, PdError *err);
/*
 * Embeds the related object in place of its key: "author", "book__author"
 * (nested: the book embedded, its author embedded in it). To-one relations
 * (foreign key, one-to-one) only; a LEFT JOIN in the same statement; a null
 * key embeds null.
 */
bool pd_query_select_related(PdQuery *query, const char *path, PdError *err);
/*
 * Embeds a to-many relation as an array of objects (ordered by their primary
 * key): a many-to-many field ("tags", in place of its keys) or a reverse
 * relation by its related name ("books", "reviews", added after the fields).
 * A correlated sub-query in the same statement, never one query per row.
 */
bool pd_query_prefetch(PdQuery *query, const char *path, PdError *err);
/*
 * Keyset: rows strictly after (is_before: before) the row whose ordering
 * values are these texts (in pd_query_order_by's order with the primary key
 * last, as pd_query_page returns them in first_key/last_key; NULL for a null
 * value). count must be the ordering's length. With is_before the rows
 * nearest that row are taken (the statement orders backwards, limits, and
 * returns them in the query's order again). Call after the ordering is set.
 */
bool pd_query_after(PdQuery *query, const char *const *values, size_t count, bool is_before, PdError *err);
/* Unfiltered counts from the migrations' row counter when it is available (see docs/query.md). */
void pd_query_use_counter(PdQuery *query, bool use);
/* Whether pd_query_page returns the first and last rows' ordering values (the default; a keyset or cursor
 * needs them). Without them the page statement is cheaper: about a third of a page of 50 rows' time. */
void pd_query_page_keys(PdQuery *query, bool with_keys);

typedef enum PdCountMode
{
    PD_COUNT_NONE,
    PD_COUNT_EXACT
} PdCountMode;

typedef struct PdPage
{
    const char *json; /* the objects as a JSON array, PostgreSQL's text, never re-encoded */
    size_t json_length;
    size_t row_count;
    int64_t count;                /* total matching (the slice ignored) when asked, else -1 */
    bool has_more;                /* another row follows the page (limit + 1 rows were fetched) */
    const char *const *first_key; /* ordering values (text; NULL for null) of the first and last row */
    const char *const *last_key;  /* NULL when the page is empty or pd_query_page_keys said none */
    size_t key_count;
} PdPage;

/* ONE statement: the page as JSON, the count when asked, the keys, has_more. */
bool pd_query_page(PdQuery *query, PdDb *db, PdCountMode count, PdPage *page, PdError *err);
/* Exactly one object as JSON: PD_ERR_NOT_FOUND ("Book matching query does not exist.") or PD_ERR_MULTIPLE
 * ("get() returned more than one Book"). */
bool pd_query_get_json(PdQuery *query, PdDb *db, const char **json, size_t *length, PdError *err);
/*
 * Many objects by primary key in ONE statement: query's objects (each as pd_query_get_json writes it) whose
 * key is one of keys[0 .. count) (count >= 1; text as the key field takes it), as rows of *rows: column 0
 * the key as PostgreSQL writes it (its text output: "12" for a bigint given as "012"), column 1 the object.
 * A key with no object has no row; a key given twice, one row. The keys go as one array parameter, so the
 * statement's text is the same whatever their number (prepared once per connection). For a server that
 * answers many single gets at once.
 */
bool pd_query_get_many_json(PdQuery *query, PdDb *db, const char *const *keys, size_t count,
                            PdDbResult **rows, PdError *err);
bool pd_query_count(PdQuery *query, PdDb *db, int64_t *count, PdError *err);
bool pd_query_exists(PdQuery *query, PdDb *db, bool *exists, PdError *err);
/* Rows as text columns named after fields ("author" = the key; selected related "author__name";
 * many-to-many as a JSON array of keys), for C callers. Ordered and sliced. */
bool pd_query_fetch(PdQuery *query, PdDb *db, PdDbResult **rows, PdError *err);

typedef enum PdAggregateFunction
{
    PD_AGG_COUNT,
    PD_AGG_SUM,
    PD_AGG_AVG,
    PD_AGG_MIN,
    PD_AGG_MAX
} PdAggregateFunction;

typedef struct PdAggregate
{
    PdAggregateFunction function;
    const char *field; /* path (to-one relations only); NULL: count(*) */
    const char *alias; /* the result column's name; NULL: "<field>__<function>" as Django ("price__avg") */
} PdAggregate;

/* group_by: comma list of paths or NULL (one row); one row per group, ordered by the groups: the group
 * columns (named as given) then the aggregates. */
bool pd_query_aggregate(PdQuery *query, PdDb *db, const char *group_by, const PdAggregate *aggregates,
                        size_t count, PdDbResult **rows, PdError *err);

/* The SQL and parameters an execution would send (tests, logs, EXPLAIN). */
typedef enum PdQueryShape
{
    PD_SHAPE_PAGE,
    PD_SHAPE_GET,
    PD_SHAPE_COUNT,
    PD_SHAPE_EXISTS,
    PD_SHAPE_ROWS,
    PD_SHAPE_GET_KEYED /* pd_query_get_many_json's: the key as text, the object; no limit */
} PdQueryShape;

typedef struct PdSqlText
{
    const char *sql;
    const char *const *params; /* NULL entries are SQL nulls */
    int param_count;
} PdSqlText;

bool pd_query_sql(PdQuery *query, PdQueryShape shape, PdCountMode count, PdSqlText *out, PdError *err);

PD_API_END

#endif

/*
 * inspect_read.c - what inspectdb reads from the catalog: the tables of
 * current_schema() chosen by the patterns, with their columns, constraints
 * and indexes as PostgreSQL deparses them (the same deparsers the drift check
 * compares, drift.c), and one line for each object it does not inspect, so
 * that nothing is left out silently. Everything is read in one read-only
 * repeatable-read transaction (one snapshot), with the session's DateStyle,
 * IntervalStyle and string quoting fixed for it: constants then print in the
 * spellings the model language reads (ISO dates, ISO 8601 durations). Values
 * travel only as parameters. prodata's own tables, triggers and functions
 * (history, snapshot, row counters) are not the application's and are skipped.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "history.h"
#include "inspect.h"
#include "prodata/strbuf.h"
#include "prodata/strmap.h"

static const char *const own_tables[] = {PD_HISTORY_TABLE, PD_SNAPSHOT_LINES_TABLE, PD_SNAPSHOT_OLD_TABLE,
                                         PD_COUNTERS_TABLE};

/* The row counters' objects (counters.c): prodata_count_insert, ..., prodata_count_add. */
#define NOT_OWN_OBJECT(column) column " NOT LIKE 'prodata\\_count\\_%'"

/* Not a member of an extension (those are listed as the extension). */
#define NOT_EXTENSION_MEMBER(catalog, oid)                                                                   \
    "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '" catalog "'::regclass AND e.objid = " oid     \
    " AND e.deptype = 'e')"

static const char *schema_query =
    "SELECT current_database(), current_schema(), (SELECT oid FROM pg_namespace WHERE nspname = "
    "current_schema())";

static const char *tables_query =
    "SELECT c.oid, c.relname, c.relkind, c.relpersistence = 'u', obj_description(c.oid, 'pg_class'),\n"
    "       c.relispartition, (SELECT i.inhparent::regclass::text FROM pg_inherits i\n"
    "                          WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1)\n"
    "FROM pg_class c WHERE c.relnamespace = $1::oid AND c.relkind IN ('r', 'p')\n"
    "ORDER BY c.relname COLLATE \"C\"";

static const char *columns_query =
    "SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,\n"
    "       a.attidentity, a.attgenerated <> '', pg_get_expr(d.adbin, d.adrelid),\n"
    "       (SELECT s.relname FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid\n"
    "        WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass\n"
    "          AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'a'\n"
    "          AND s.relkind = 'S' ORDER BY s.relname COLLATE \"C\" LIMIT 1),\n"
    "       CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,\n"
    "       col_description(a.attrelid, a.attnum)\n"
    "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid\n"
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum\n"
    "WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped\n"
    "ORDER BY a.attrelid, a.attnum";

/* NOT NULL constraints (contype 'n', PostgreSQL 18) repeat attnotnull; the counters' trigger is ours. */
static const char *constraints_query =
    "SELECT con.conrelid, con.conname, con.contype, con.conkey::text, pg_get_constraintdef(con.oid),\n"
    "       con.confrelid, CASE WHEN con.confrelid <> 0 THEN con.confrelid::regclass::text END,\n"
    "       con.confkey::text\n"
    "FROM pg_constraint con\n"
    "WHERE con.conrelid = ANY ($1::oid[]) AND con.contype <> 'n' AND " NOT_OWN_OBJECT(
        "con.conname") "\n"
                       "ORDER BY con.conrelid, con.conname COLLATE \"C\"";

static const char *indexes_query =
    "SELECT x.indrelid, ic.relname, pg_get_indexdef(x.indexrelid), x.indisvalid,\n"
    "       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid\n"
    "               AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x'))\n"
    "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid\n"
    "WHERE x.indrelid = ANY ($1::oid[])\n"
    "ORDER BY x.indrelid, ic.relname COLLATE \"C\"";

/* prodata's auto_now trigger of each table (made by migrations; the mapper reads it as auto_now fields). */
static const char *auto_now_query =
    "SELECT t.tgrelid, pg_get_triggerdef(t.oid) FROM pg_trigger t\n"
    "WHERE t.tgrelid = ANY ($1::oid[]) AND t.tgname = 'prodata_auto_now' AND NOT t.tgisinternal";

/* Relations of the schema that are not tables, and sequences no column owns (serial or identity). */
static const char *relations_query =
    "SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'\n"
    "                  WHEN 'f' THEN 'foreign table' ELSE 'sequence' END\n"
    "FROM pg_class c WHERE c.relnamespace = $1::oid AND c.relkind IN ('v', 'm', 'f', 'S')\n"
    "  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass\n"
    "                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))\n"
    "ORDER BY c.relname COLLATE \"C\"";

/* What hangs on the chosen tables: triggers, rules, row-level security and its policies. */
static const char *table_objects_query =
    "SELECT line FROM (\n"
    "  SELECT c.relname AS rel, 1 AS kind, t.tgname AS name,\n"
    "         'trigger ' || t.tgname || ' on ' || c.relname || ': ' || pg_get_triggerdef(t.oid) AS line\n"
    "  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid\n"
    "  WHERE t.tgrelid = ANY ($1::oid[]) AND NOT t.tgisinternal AND t.tgname <> 'prodata_auto_now' "
    "AND " NOT_OWN_OBJECT(
        "t.tgname") "\n"
                    "  UNION ALL\n"
                    "  SELECT c.relname, 2, r.rulename, 'rule ' || r.rulename || ' on ' || c.relname\n"
                    "  FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class\n"
                    "  WHERE r.ev_class = ANY ($1::oid[]) AND r.rulename <> '_RETURN'\n"
                    "  UNION ALL\n"
                    "  SELECT c.relname, 3, '', 'row-level security enabled on ' || c.relname\n"
                    "  FROM pg_class c WHERE c.oid = ANY ($1::oid[]) AND c.relrowsecurity\n"
                    "  UNION ALL\n"
                    "  SELECT c.relname, 4, p.polname, 'policy ' || p.polname || ' on ' || c.relname\n"
                    "  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE p.polrelid = ANY "
                    "($1::oid[])\n"
                    ") o ORDER BY rel COLLATE \"C\", kind, name COLLATE \"C\"";

/* What belongs to the schema or the database rather than to a table. */
static const char *schema_objects_query =
    "SELECT line FROM (\n"
    "  SELECT 1 AS kind, p.oid::regprocedure::text AS name,\n"
    "         CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END\n"
    "         || p.oid::regprocedure::text AS line\n"
    "  FROM pg_proc p WHERE p.pronamespace = $1::oid AND p.proname <> 'prodata_auto_now' AND " NOT_OWN_OBJECT(
        "p.proname") "\n"
                     "    AND " NOT_EXTENSION_MEMBER(
                         "pg_proc",
                         "p.oid") "\n"
                                  "  UNION ALL\n"
                                  "  SELECT 2, t.typname, CASE "
                                  "t.typtype WHEN 'e' THEN 'enum type ' "
                                  "WHEN 'd' THEN 'domain '\n"
                                  "                           WHEN 'r' THEN 'range type ' ELSE 'composite "
                                  "type ' END || t.typname\n"
                                  "  FROM pg_type t WHERE t.typnamespace = $1::oid AND t.typtype IN ('e', "
                                  "'d', 'r', 'c')\n"
                                  "    AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE "
                                  "c.oid = t.typrelid) = 'c')\n"
                                  "    AND " NOT_EXTENSION_MEMBER(
                                      "pg_type",
                                      "t.oid") "\n"
                                               "  UNION ALL\n"
                                               "  SELECT 3, x.extname, 'extension ' || x.extname FROM "
                                               "pg_extension x WHERE x.extname <> 'plpgsql'\n"
                                               "  UNION ALL\n"
                                               "  SELECT 4, n.nspname, 'schema ' || n.nspname FROM "
                                               "pg_namespace n\n"
                                               "  WHERE n.oid <> $1::oid AND n.nspname <> "
                                               "'information_schema' AND n.nspname NOT LIKE 'pg\\_%'\n"
                                               "    AND " NOT_EXTENSION_MEMBER(
                                                   "pg_namespace",
                                                   "n.oid") "\n"
                                                            ") o ORDER BY kind, name COLLATE \"C\"";

typedef struct Reader
{
    PdArena *arena;
    PdDb *db;
    PdError *err;
    InspectSchema *schema;
    const char *namespace_oid;
    const char *table_oids; /* "{1,2}" */
    PdStrmap *by_oid;       /* oid text -> table index + 1 */
    const char *const *patterns;
    size_t pattern_count;
} Reader;

static bool
run(Reader *reader, const char *sql, const char *param, PdDbResult **result, const char *what)
{
    const char *params[] = {param};
    if (!pd_db_query(reader->arena, reader->db, sql, param != NULL ? 1 : 0, params, result, reader->err))
        return pd_error_context(reader->err, "while reading %s", what);
    return true;
}

static const char *
value_or_null(const PdDbResult *result, size_t row, size_t column)
{
    return pd_db_result_is_null(result, row, column) ? NULL : pd_db_result_value(result, row, column);
}

static bool
is_true(const PdDbResult *result, size_t row, size_t column)
{
    return strcmp(pd_db_result_value(result, row, column), "t") == 0;
}

static bool
is_own_table(const char *name)
{
    for (size_t i = 0; i < sizeof(own_tables) / sizeof(own_tables[0]); i++)
        if (strcmp(name, own_tables[i]) == 0)
            return true;
    return false;
}

/* Whether name is chosen: no patterns, or one that matches (marking it used). */
static bool
is_chosen(const Reader *reader, const char *name, bool *is_used)
{
    bool is_match = reader->pattern_count == 0;
    for (size_t i = 0; i < reader->pattern_count; i++)
        if (fnmatch(reader->patterns[i], name, 0) == 0)
        {
            is_match = true;
            if (is_used != NULL)
                is_used[i] = true;
        }
    return is_match;
}

static InspectTable *
table_of(const Reader *reader, const PdDbResult *result, size_t row)
{
    size_t index = (size_t)(uintptr_t)pd_strmap_get(reader->by_oid, pd_db_result_value(result, row, 0));
    return index > 0 ? &reader->schema->tables[index - 1] : NULL;
}

/* Why a table is no plain table, or NULL. */
static const char *
table_shape(PdArena *arena, const PdDbResult *result, size_t row)
{
    if (strcmp(pd_db_result_value(result, row, 2), "p") == 0)
        return "a partitioned table";
    const char *parent = value_or_null(result, row, 6);
    if (parent != NULL)
        return pd_arena_sprintf(
            arena, is_true(result, row, 5) ? "a partition of %s" : "a child of %s (INHERITS)", parent);
    return NULL;
}

static bool
read_tables(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, tables_query, reader->namespace_oid, &result, "the tables"))
        return false;
    size_t rows = pd_db_result_row_count(result);
    bool *is_used = pd_arena_calloc(reader->arena, reader->pattern_count + 1, sizeof(bool));
    InspectSchema *schema = reader->schema;
    schema->tables = pd_arena_calloc(reader->arena, rows + 1, sizeof(InspectTable));
    reader->by_oid = pd_strmap_new(reader->arena, rows);
    PdStrbuf oids;
    pd_strbuf_init(&oids, reader->arena);
    pd_strbuf_append_char(&oids, '{');
    if (is_used == NULL || schema->tables == NULL || reader->by_oid == NULL)
        return pd_arena_error(reader->arena, reader->err);
    for (size_t row = 0; row < rows; row++)
    {
        const char *name = pd_db_result_value(result, row, 1);
        if (is_own_table(name) || !is_chosen(reader, name, is_used))
            continue;
        InspectTable *table = &schema->tables[schema->table_count++];
        *table = (InspectTable){.oid = pd_db_result_value(result, row, 0),
                                .name = name,
                                .comment = value_or_null(result, row, 4),
                                .shape = table_shape(reader->arena, result, row),
                                .is_unlogged = is_true(result, row, 3)};
        if (!pd_strmap_put(reader->by_oid, table->oid, (void *)(uintptr_t)schema->table_count))
            return pd_arena_error(reader->arena, reader->err);
        pd_strbuf_appendf(&oids, "%s%s", schema->table_count > 1 ? "," : "", table->oid);
    }
    pd_strbuf_append_char(&oids, '}');
    if ((reader->table_oids = pd_strbuf_text(&oids)) == NULL)
        return pd_arena_error(reader->arena, reader->err);
    for (size_t i = 0; i < reader->pattern_count; i++)
        if (!is_used[i])
        {
            pd_error_set(reader->err, PD_ERR_NOT_FOUND, "no table of schema %s matches \"%s\"",
                         schema->schema, reader->patterns[i]);
            return pd_error_hint(reader->err, "Patterns are shell globs on table names, such as shop_* or "
                                              "auth_user; prodata's own tables are never inspected.");
        }
    return true;
}

static bool
read_columns(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, columns_query, reader->table_oids, &result, "the columns"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
    {
        InspectTable *table = table_of(reader, result, row);
        if (table == NULL)
            continue;
        table->columns =
            pd_arena_reserve_next(reader->arena, table->columns, table->column_count, sizeof(InspectColumn));
        if (table->columns == NULL)
            return pd_arena_error(reader->arena, reader->err);
        table->columns[table->column_count++] = (InspectColumn){
            .number = atoi(pd_db_result_value(result, row, 1)),
            .name = pd_db_result_value(result, row, 2),
            .type = pd_db_result_value(result, row, 3),
            .is_not_null = is_true(result, row, 4),
            .identity = pd_db_result_value(result, row, 5)[0],
            .is_generated = is_true(result, row, 6),
            .default_sql = value_or_null(result, row, 7),
            .owned_sequence = value_or_null(result, row, 8),
            .collation = value_or_null(result, row, 9),
            .comment = value_or_null(result, row, 10),
        };
    }
    return true;
}

/* An int2vector or array's text, "{1,2}", as numbers. */
static bool
read_numbers(PdArena *arena, const char *text, int **numbers, size_t *count)
{
    *numbers = NULL;
    *count = 0;
    if (text == NULL)
        return true;
    for (const char *p = text + strspn(text, "{"); *p != '\0' && *p != '}';)
    {
        char *end;
        long number = strtol(p, &end, 10);
        if (end == p)
            break;
        if ((*numbers = pd_arena_reserve_next(arena, *numbers, *count, sizeof(int))) == NULL)
            return false;
        (*numbers)[(*count)++] = (int)number;
        p = end + strspn(end, ",");
    }
    return true;
}

static bool
read_constraints(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, constraints_query, reader->table_oids, &result, "the constraints"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
    {
        InspectTable *table = table_of(reader, result, row);
        if (table == NULL)
            continue;
        table->constraints = pd_arena_reserve_next(reader->arena, table->constraints, table->constraint_count,
                                                   sizeof(InspectConstraint));
        if (table->constraints == NULL)
            return pd_arena_error(reader->arena, reader->err);
        InspectConstraint *constraint = &table->constraints[table->constraint_count++];
        size_t target = (size_t)(uintptr_t)pd_strmap_get(reader->by_oid, pd_db_result_value(result, row, 5));
        *constraint = (InspectConstraint){
            .name = pd_db_result_value(result, row, 1),
            .type = pd_db_result_value(result, row, 2)[0],
            .definition = pd_db_result_value(result, row, 4),
            .target = target > 0 ? target - 1 : INSPECT_NO_TABLE,
            .target_name = value_or_null(result, row, 6),
        };
        if (!read_numbers(reader->arena, value_or_null(result, row, 3), &constraint->columns,
                          &constraint->column_count) ||
            !read_numbers(reader->arena, value_or_null(result, row, 7), &constraint->target_columns,
                          &constraint->target_column_count))
            return pd_arena_error(reader->arena, reader->err);
    }
    return true;
}

static bool
read_indexes(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, indexes_query, reader->table_oids, &result, "the indexes"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
    {
        InspectTable *table = table_of(reader, result, row);
        if (table == NULL)
            continue;
        table->indexes =
            pd_arena_reserve_next(reader->arena, table->indexes, table->index_count, sizeof(InspectIndex));
        if (table->indexes == NULL)
            return pd_arena_error(reader->arena, reader->err);
        table->indexes[table->index_count++] = (InspectIndex){
            .name = pd_db_result_value(result, row, 1),
            .definition = pd_db_result_value(result, row, 2),
            .is_valid = is_true(result, row, 3),
            .is_constraint = is_true(result, row, 4),
        };
    }
    return true;
}

static bool
read_auto_now(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, auto_now_query, reader->table_oids, &result, "the auto_now triggers"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
    {
        InspectTable *table = table_of(reader, result, row);
        if (table != NULL)
            table->auto_now_trigger = pd_db_result_value(result, row, 1);
    }
    return true;
}

static bool
add_leftover(Reader *reader, const char *line)
{
    InspectSchema *schema = reader->schema;
    schema->leftovers =
        pd_arena_reserve_next(reader->arena, schema->leftovers, schema->leftover_count, sizeof(char *));
    if (schema->leftovers == NULL || line == NULL)
        return pd_arena_error(reader->arena, reader->err);
    schema->leftovers[schema->leftover_count++] = line;
    return true;
}

/* One line per object not inspected: relations (chosen by the patterns too), what hangs on the chosen
 * tables, and what belongs to the schema or the database. */
static bool
read_leftovers(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, relations_query, reader->namespace_oid, &result, "the views and sequences"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
    {
        const char *name = pd_db_result_value(result, row, 0);
        const char *kind = pd_db_result_value(result, row, 1);
        if (is_chosen(reader, name, NULL) &&
            !add_leftover(reader,
                          pd_arena_sprintf(reader->arena, "%s %s%s", kind, name,
                                           strcmp(kind, "sequence") == 0 ? " (no column owns it)" : "")))
            return false;
    }
    if (!run(reader, table_objects_query, reader->table_oids, &result, "the triggers, rules and policies"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
        if (!add_leftover(reader, pd_db_result_value(result, row, 0)))
            return false;
    if (!run(reader, schema_objects_query, reader->namespace_oid, &result,
             "the functions, types and schemas"))
        return false;
    for (size_t row = 0; row < pd_db_result_row_count(result); row++)
        if (!add_leftover(reader, pd_db_result_value(result, row, 0)))
            return false;
    return true;
}

static bool
read_schema_name(Reader *reader)
{
    PdDbResult *result;
    if (!run(reader, schema_query, NULL, &result, "the current schema"))
        return false;
    if (pd_db_result_is_null(result, 0, 1) || pd_db_result_is_null(result, 0, 2))
    {
        pd_error_set(reader->err, PD_ERR_NOT_FOUND, "no current schema to inspect");
        return pd_error_hint(reader->err, "current_schema() is the first schema of search_path that exists; "
                                          "set search_path (options='-c search_path=app' in the conninfo).");
    }
    reader->schema->database = pd_db_result_value(result, 0, 0);
    reader->schema->schema = pd_db_result_value(result, 0, 1);
    reader->namespace_oid = pd_db_result_value(result, 0, 2);
    return true;
}

static bool
check_patterns(const char *const *patterns, size_t pattern_count, PdError *err)
{
    for (size_t i = 0; i < pattern_count; i++)
        if (patterns[i] == NULL || patterns[i][0] == '\0')
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "table pattern %zu of %zu is empty", i + 1,
                         pattern_count);
            return pd_error_hint(err, "Give comma-separated shell globs on table names, such as "
                                      "'shop_*,auth_user'.");
        }
    return true;
}

/*
 * The session settings deparsed constants depend on: dates as YYYY-MM-DD, durations in ISO 8601 (both read
 * by the model language), quotes doubled and backslashes as they are. Local to the transaction.
 */
static const char *begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
                               "SET LOCAL DateStyle = 'ISO, YMD';\n"
                               "SET LOCAL IntervalStyle = 'iso_8601';\n"
                               "SET LOCAL standard_conforming_strings = on";

bool
pd_inspect_read(PdArena *arena, PdDb *db, const char *const *patterns, size_t pattern_count,
                InspectSchema **schema, PdError *err)
{
    if (!check_patterns(patterns, pattern_count, err))
        return false;
    Reader reader = {arena, db, err, pd_arena_calloc(arena, 1, sizeof(InspectSchema))};
    reader.patterns = patterns;
    reader.pattern_count = pattern_count;
    if (reader.schema == NULL)
        return pd_arena_error(arena, err);
    if (!pd_db_exec(db, begin_sql, err))
        return pd_error_context(err, "while starting the read-only transaction");
    bool is_read = read_schema_name(&reader) && read_tables(&reader) && read_columns(&reader) &&
                   read_constraints(&reader) && read_indexes(&reader) && read_auto_now(&reader) &&
                   read_leftovers(&reader);
    PdError ignored;
    pd_db_rollback(db, &ignored); /* it read only */
    if (!is_read)
        return false;
    *schema = reader.schema;
    return true;
}

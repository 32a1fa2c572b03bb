/*
 * count.c - exact counts of whole tables from the counters migrate keeps
 * (src/migrate/counters.c: triggers add each statement's inserted and
 * deleted rows, or a transaction adds its own inserted rows of the tables
 * it lists, to one of 64 slots of prodata_row_counts, in the writer's
 * transaction). Summing a table's slots reads 64 small rows where count(*)
 * reads the table, and gives the same number under any snapshot: a
 * writer's rows and its slot change commit together. What this file
 * decides is when that is allowed (pd_query_counter_available): the counter
 * must be installed and enabled (the three statement triggers, and the
 * pair that counted at commit either both enabled or both absent, as a
 * database counted by the version before has them until its next migrate),
 * readable, and the table free of row-level security, whose policies make
 * count(*) differ per role; and which tables a transaction may count its
 * own rows of (pd_query_counter_client_table). Row-level security is asked
 * again by every count statement (pd_query_count_expression), as it can be
 * enabled after the catalog was loaded and applies per role: where it
 * applies the statement counts with count(*), never from the counters.
 * Filtered counts are the page query's own (count(*) through the indexes).
 */
#include "prodata/count.h"

#include <string.h>

#include "prodata/strbuf.h"

bool
pd_query_counter_available(PdArena *arena, PdDb *db, const PdModel *model, bool *available, PdError *err)
{
    static const char *sql =
        "SELECT NOT c.relrowsecurity\n"
        "   AND (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled <> 'D'\n"
        "          AND g.tgname IN ('prodata_count_insert', 'prodata_count_delete', "
        "'prodata_count_truncate')) = 3\n"
        "   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled = 'D'\n"
        "          AND g.tgname IN ('prodata_count_defer', 'prodata_count_flush'))\n"
        "   AND (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid\n"
        "          AND g.tgname IN ('prodata_count_defer', 'prodata_count_flush')) IN (0, 2)\n"
        "   AND coalesce(has_table_privilege(to_regclass('prodata_row_counts'), 'SELECT'), false)\n"
        "FROM pg_class c WHERE c.oid = to_regclass($1)";
    PdStrbuf name;
    pd_strbuf_init(&name, arena);
    pd_strbuf_append_identifier(&name, model->table);
    if (pd_strbuf_failed(&name))
        return pd_arena_error(arena, err);
    const char *params[] = {pd_strbuf_text(&name)};
    PdDbResult *result;
    if (!pd_db_query(arena, db, sql, 1, params, &result, err))
        return pd_error_context(err, "while asking whether table %s keeps a row counter", model->table);
    *available = pd_db_result_row_count(result) == 1 && strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

/* The quoted names of the catalog's model tables as a text[] literal ({"\"book\"",...}), in arena. */
static const char *
model_tables(PdArena *arena, const PdCatalog *catalog)
{
    PdStrbuf list;
    pd_strbuf_init(&list, arena);
    pd_strbuf_append_char(&list, '{');
    for (size_t m = 0; m < catalog->model_count; m++)
    {
        PdStrbuf name;
        pd_strbuf_init(&name, arena);
        pd_strbuf_append_identifier(&name, catalog->models[m].table);
        pd_strbuf_append(&list, m > 0 ? ",\"" : "\"");
        for (const char *c = pd_strbuf_failed(&name) ? "" : pd_strbuf_text(&name); *c != '\0'; c++)
        {
            if (*c == '"' || *c == '\\')
                pd_strbuf_append_char(&list, '\\');
            pd_strbuf_append_char(&list, *c);
        }
        pd_strbuf_append_char(&list, '"');
        if (pd_strbuf_failed(&name))
            list.failed = true;
    }
    pd_strbuf_append_char(&list, '}');
    return pd_strbuf_failed(&list) ? NULL : pd_strbuf_text(&list);
}

/*
 * One row, the table's oid, when a transaction may add its own rows of it ($1, the quoted name; $2, every
 * model table's, as a text[]): the function and both roles' right to write the counters; no BEFORE INSERT
 * row trigger of the user's on it; and on no model table a rule, or a column default or CHECK constraint
 * calling a function of the user's (oid past the system's): those run in the statement itself
 * (pg_trigger_depth() = 0) and could insert rows into a listed table that no create counts.
 */
static const char *client_table_sql =
    "WITH models AS (SELECT to_regclass(t) AS oid FROM unnest($2::text[]) t)\n"
    "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1)\n"
    "   AND coalesce(has_function_privilege(to_regprocedure('prodata_count_add(regclass, int8)'), "
    "'EXECUTE'), false)\n"
    "   AND coalesce(has_table_privilege(session_user, to_regclass('prodata_row_counts'), 'UPDATE'), false)\n"
    "   AND coalesce(has_table_privilege(current_user, to_regclass('prodata_row_counts'), 'UPDATE'), false)\n"
    "   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal\n"
    "          AND g.tgenabled <> 'D' AND g.tgtype::int & 7 = 7)\n"
    "   AND NOT EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM models))\n"
    "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass\n"
    "          AND d.refobjid >= 16384\n"
    "          AND (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT a.oid FROM pg_attrdef a\n"
    "                 WHERE a.adrelid IN (SELECT oid FROM models))\n"
    "            OR d.classid = 'pg_constraint'::regclass AND d.objid IN (SELECT k.oid FROM pg_constraint k\n"
    "                 WHERE k.conrelid IN (SELECT oid FROM models))))";

bool
pd_query_counter_client_table(PdArena *arena, PdDb *db, const PdCatalog *catalog, const PdModel *model,
                              const char **oid, PdError *err)
{
    *oid = NULL;
    PdStrbuf name;
    pd_strbuf_init(&name, arena);
    pd_strbuf_append_identifier(&name, model->table);
    const char *tables = model_tables(arena, catalog);
    if (pd_strbuf_failed(&name) || tables == NULL)
        return pd_arena_error(arena, err);
    const char *params[] = {pd_strbuf_text(&name), tables};
    PdDbResult *result;
    if (!pd_db_query(arena, db, client_table_sql, 2, params, &result, err))
        return pd_error_context(err, "while asking whether creates of %s may count their own rows",
                                model->table);
    if (pd_db_result_row_count(result) == 1)
        *oid = pd_db_result_value(result, 0, 0);
    return true;
}

/*
 * The expression, for table "t" (the regclass literal '"t"'::regclass): (SELECT CASE WHEN
 * row_security_active(t) THEN (SELECT count(*) FROM t) ELSE <sum of t's slots> END). Row-level security is
 * asked at each execution, not once per catalog load: a policy enabled while the server runs, or a request's
 * role that policies filter, gets count(*) under its policies at once, where the counters would count rows
 * the role cannot see (and tell that they exist). Each branch is an uncorrelated subquery, an InitPlan that
 * PostgreSQL runs only when the CASE reaches it: the counters' path reads no row of the table, and pays one
 * catalog lookup. The table named in the statement also makes a prepared plan be replanned when its policies
 * change.
 */
bool
pd_query_count_expression(PdStrbuf *sql, const PdModel *model, PdError *err)
{
    (void)err;
    PdStrbuf name;
    pd_strbuf_init(&name, sql->arena);
    pd_strbuf_append_identifier(&name, model->table);
    const char *quoted = pd_strbuf_failed(&name) ? "" : pd_strbuf_text(&name);
    pd_strbuf_append(sql, "(SELECT CASE WHEN pg_catalog.row_security_active(");
    pd_strbuf_append_literal(sql, quoted);
    pd_strbuf_append(sql, "::regclass) THEN (SELECT count(*) FROM ");
    pd_strbuf_append_identifier(sql, model->table);
    pd_strbuf_append(
        sql, ") ELSE (SELECT coalesce(sum(prodata_slot.n), 0)::int8 FROM prodata_row_counts prodata_slot "
             "WHERE prodata_slot.relid = ");
    pd_strbuf_append_literal(sql, quoted);
    pd_strbuf_append(sql, "::regclass) END)");
    if (pd_strbuf_failed(&name))
        sql->failed = true;
    return true;
}

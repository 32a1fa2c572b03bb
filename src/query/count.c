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
 * own rows of (pd_query_counter_client_table). Filtered counts are the page
 * query's own (count(*) through the indexes).
 */
#include "prodata/count.h"

#include <string.h>

#include "prodata/kind.h"

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

/* Whether a join table of model's many-to-many fields is a model's table (and so may be counted). */
static bool
joins_model_table(const PdCatalog *catalog, const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (field->kind != PD_FIELD_MANY_TO_MANY || field->through_table == NULL)
            continue;
        for (size_t m = 0; m < catalog->model_count; m++)
            if (strcmp(catalog->models[m].table, field->through_table) == 0)
                return true;
    }
    return false;
}

bool
pd_query_counter_client_table(PdArena *arena, PdDb *db, const PdCatalog *catalog, const PdModel *model,
                              const char **oid, PdError *err)
{
    static const char *sql =
        "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1)\n"
        "   AND coalesce(has_function_privilege(to_regprocedure('prodata_count_add(regclass, int8)'), "
        "'EXECUTE'), false)\n"
        "   AND coalesce(has_table_privilege(session_user, to_regclass('prodata_row_counts'), 'UPDATE'), "
        "false)\n"
        "   AND NOT c.relhasrules\n"
        "   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal\n"
        "          AND g.tgenabled <> 'D' AND g.tgtype::int & 7 = 7)";
    *oid = NULL;
    if (joins_model_table(catalog, model))
        return true;
    PdStrbuf name;
    pd_strbuf_init(&name, arena);
    pd_strbuf_append_identifier(&name, model->table);
    if (pd_strbuf_failed(&name))
        return pd_arena_error(arena, err);
    const char *params[] = {pd_strbuf_text(&name)};
    PdDbResult *result;
    if (!pd_db_query(arena, db, sql, 1, params, &result, err))
        return pd_error_context(err, "while asking whether creates of %s may count their own rows",
                                model->table);
    if (pd_db_result_row_count(result) == 1)
        *oid = pd_db_result_value(result, 0, 0);
    return true;
}

bool
pd_query_count_expression(PdStrbuf *sql, const PdModel *model, PdError *err)
{
    (void)err;
    PdStrbuf name;
    pd_strbuf_init(&name, sql->arena);
    pd_strbuf_append_identifier(&name, model->table);
    pd_strbuf_append(sql,
                     "(SELECT coalesce(sum(prodata_slot.n), 0)::int8 FROM prodata_row_counts prodata_slot "
                     "WHERE prodata_slot.relid = ");
    pd_strbuf_append_literal(sql, pd_strbuf_failed(&name) ? "" : pd_strbuf_text(&name));
    pd_strbuf_append(sql, "::regclass)");
    if (pd_strbuf_failed(&name))
        sql->failed = true;
    return true;
}

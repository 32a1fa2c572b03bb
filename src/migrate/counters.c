/*
 * counters.c - exact row counts of the model tables, kept by the database in
 * the same transactions as the rows. Each model table gets three
 * statement-level triggers: AFTER INSERT (its NEW TABLE counted) and AFTER
 * DELETE (its OLD TABLE) add to one row of prodata_row_counts, one of the
 * table's 64 slots: the first from pg_backend_pid() % 64 on that no other
 * open transaction holds (a transaction-level advisory lock per slot, tried
 * without waiting), so concurrent writers do not wait on one row until
 * another's commit; AFTER TRUNCATE sets the table's slots to zero. A table's
 * count is the sum of its slots. The trigger functions run as their owner
 * (security definer, every name in them qualified), so a role that may
 * insert into a table needs no right on the counters; every role may read
 * them, as it may read pg_class.reltuples.
 *
 * Counting by the client: a transaction that lists a table in
 * prodata.client_counts (',oid,oid,'; prodata serve's shared create
 * transactions list the tables of the models it may) says that it adds its
 * own statements' inserted rows of that table itself, before it commits,
 * with prodata_count_add(table, rows), or in each INSERT statement itself
 * under the same condition as CLIENT_CONDITION (serve's way:
 * src/query/write.c, append_tally): one UPDATE per table and transaction,
 * or per multi-row INSERT, instead of a trigger call and an UPDATE per
 * statement. Only rows of the transaction's own statements are
 * skipped (pg_trigger_depth() = 0 as the statement ends): rows that a
 * trigger of the user's inserts are counted as ever, and so are tables not
 * listed. Any SQL of a session can set a setting, so it is believed only
 * while both the session's login role and the current role may UPDATE the
 * counters; other sessions' inserts are counted by their statements
 * whatever they set, and their prodata_count_add adds nothing. prodata_count_add adds nothing to a table
 * the transaction did not list or whose insert trigger does not know the
 * list (an older version's, which counted the rows itself, or none), and
 * refuses a table with rules or BEFORE INSERT row triggers of the user's,
 * which could make an INSERT write no row without an error (the
 * transaction then rolls back): so the count stays exact whichever version
 * installed the triggers. The insert trigger's argument ('client_counts')
 * marks the version that knows the list. Deletes and truncates are always
 * counted by their statements.
 *
 * Exactness: the slots are seeded with count(*) after LOCK TABLE ... SHARE
 * ROW EXCLUSIVE, the lock CREATE TRIGGER takes. It waits until every
 * transaction that wrote the table has ended and keeps new writers out until
 * the migration commits; the count(*) is a later statement of a READ
 * COMMITTED transaction, so its snapshot sees every committed row. Each
 * later write changes its rows and its slot in the same transaction, so any
 * snapshot sees both or neither, and concurrent UPDATEs of one slot add up
 * (READ COMMITTED re-reads the newest row). apply.c runs this inside each
 * migration's transaction, after its SQL, with the state after it, and once
 * more at the end of a run (which also deletes the rows of dropped tables).
 * Which tables are counted follows the models, by oid: a renamed table keeps
 * its triggers and rows, a dropped one loses them, a new one is seeded.
 * Join tables of many-to-many fields are not counted. Functions of an older
 * version (another body) are replaced in place, and a table counted by an
 * earlier version's triggers (the three statement triggers without the
 * client list, and the pair that deferred counts to the commit, if there)
 * gets this version's three in the migration's transaction, its slots
 * untouched: either keeps every slot and the count.
 */
#include "counters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/strbuf.h"

/* PD_COUNTERS_SLOTS as SQL text, for the function bodies. */
#define SLOTS_TEXT "64"
_Static_assert(PD_COUNTERS_SLOTS == 64, "SLOTS_TEXT spells PD_COUNTERS_SLOTS");

/* Every trigger name of ours, this version's and the version before's (prodata_count_defer, _flush). */
#define TRIGGER_NAMES                                                                                        \
    "'prodata_count_insert', 'prodata_count_delete', 'prodata_count_truncate', 'prodata_count_defer', "      \
    "'prodata_count_flush'"
/* The statement triggers every version has had. */
#define BASE_TRIGGER_NAMES "'prodata_count_insert', 'prodata_count_delete', 'prodata_count_truncate'"

/*
 * Whether this statement's rows are ones the client adds itself: the
 * transaction lists the table (prodata.client_counts holds ',oid,', the
 * first %s, a literal), the statement is the transaction's own (not one a
 * trigger runs), and both the session's login role and the current role
 * may UPDATE the counter table (the second and third %s, its regclass), so
 * that listing a table gives no role a way to change a count that it did
 * not already have. Evaluated as the
 * statement ends; AND stops at the first false, so other writers pay one
 * setting lookup.
 */
#define CLIENT_CONDITION                                                                                     \
    "pg_catalog.strpos(COALESCE(pg_catalog.current_setting('prodata.client_counts', true), ''), %s)"         \
    " OPERATOR(pg_catalog.>) 0 AND pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0"                   \
    " AND pg_catalog.has_table_privilege(SESSION_USER, CAST(%s AS pg_catalog.regclass), 'UPDATE')"           \
    " AND pg_catalog.has_table_privilege(CURRENT_USER, CAST(%s AS pg_catalog.regclass), 'UPDATE')"

/* One table as the catalog has it: a model table, or one carrying counter triggers. */
typedef struct CountedTable
{
    const char *oid;
    const char *name;
    bool is_model;
    bool is_installed;  /* the three triggers as this version makes them, enabled, and every slot */
    bool is_upgradable; /* every slot and an earlier version's triggers (the three statement ones), enabled */
    bool has_triggers;  /* any of ours (TRIGGER_NAMES), enabled or not */
} CountedTable;

typedef struct CountersState
{
    const char *schema;         /* current_schema(), quoted as an identifier */
    bool has_table;             /* prodata_row_counts exists in it */
    bool has_current_functions; /* the four functions, with this version's bodies */
    CountedTable *tables;
    size_t table_count;
} CountersState;

/* The model tables as a text[] literal: {"book","author"} with \ and " escaped. */
static const char *
model_tables_array(PdArena *arena, const PdCatalog *state)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append_char(&buf, '{');
    for (size_t m = 0; state != NULL && m < state->model_count; m++)
    {
        pd_strbuf_append(&buf, m > 0 ? ",\"" : "\"");
        for (const char *c = state->models[m].table; *c != '\0'; c++)
        {
            if (*c == '"' || *c == '\\')
                pd_strbuf_append_char(&buf, '\\');
            pd_strbuf_append_char(&buf, *c);
        }
        pd_strbuf_append_char(&buf, '"');
    }
    pd_strbuf_append_char(&buf, '}');
    return pd_strbuf_failed(&buf) ? NULL : pd_strbuf_text(&buf);
}

/* The schema migrate works in and whether the counter table is there. */
static bool
read_schema(PdArena *arena, PdDb *db, CountersState *state, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(
            arena, db,
            "SELECT quote_ident(current_schema()), EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace "
            "n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = "
            "'" PD_COUNTERS_TABLE "' AND c.relkind = 'r')",
            0, NULL, &result, err))
        return false;
    if (pd_db_result_is_null(result, 0, 0))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no schema to keep row counters in") &&
               pd_error_hint(err, "Set search_path to the schema the migrations use.");
    state->schema = pd_db_result_value(result, 0, 0);
    state->has_table = strcmp(pd_db_result_value(result, 0, 1), "t") == 0;
    return true;
}

/*
 * The model tables of the current schema and every table carrying one of
 * the triggers, with whether it is installed (its three triggers as
 * install_table makes them, enabled, no other, and, when the counter table
 * exists, its 64 slots) or counted by an earlier version (its slots, the
 * three statement triggers enabled, and the deferring pair of the version
 * before enabled too, if there).
 */
static bool
read_tables(PdArena *arena, PdDb *db, const PdCatalog *models, CountersState *state, PdError *err)
{
    static const char *with_slots =
        "WITH wanted AS (SELECT unnest($1::text[]) AS relname),\n"
        "t AS (\n"
        "  SELECT c.oid, c.relname, w.relname IS NOT NULL AS is_model,\n"
        "         (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled <> 'D'\n"
        "            AND CASE g.tgname WHEN 'prodata_count_insert' THEN g.tgqual IS NOT NULL AND g.tgnargs = "
        "1\n"
        "                              ELSE g.tgname IN (" BASE_TRIGGER_NAMES ") END) AS current,\n"
        "         (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled <> 'D'\n"
        "            AND g.tgname IN (" BASE_TRIGGER_NAMES ")) AS base,\n"
        "         (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgenabled <> 'D'\n"
        "            AND g.tgname IN (" TRIGGER_NAMES ")) AS enabled,\n"
        "         (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname IN (" TRIGGER_NAMES
        ")) AS present\n"
        "  FROM pg_class c LEFT JOIN wanted w ON w.relname = c.relname\n"
        "  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())\n"
        "    AND c.relkind = 'r' AND c.relname <> '" PD_COUNTERS_TABLE "'\n"
        ")\n"
        "SELECT oid, relname, is_model, current = 3 AND present = 3 AND %s, base = 3 AND enabled = present "
        "AND %s, present > "
        "0\n"
        "FROM t WHERE is_model OR present > 0 ORDER BY relname";
    const char *slots = state->has_table ? "(SELECT count(*) FROM " PD_COUNTERS_TABLE
                                           " s WHERE s.relid = t.oid AND s.slot BETWEEN 0 AND 63) = 64"
                                         : "false";
    const char *sql = pd_arena_sprintf(arena, with_slots, slots, slots);
    const char *tables = model_tables_array(arena, models);
    if (sql == NULL || tables == NULL)
        return pd_arena_error(arena, err);
    const char *params[] = {tables};
    PdDbResult *result;
    if (!pd_db_query(arena, db, sql, 1, params, &result, err))
        return false;
    size_t count = pd_db_result_row_count(result);
    state->tables = pd_arena_calloc(arena, count ? count : 1, sizeof(*state->tables));
    if (state->tables == NULL)
        return pd_arena_error(arena, err);
    for (size_t row = 0; row < count; row++)
        state->tables[row] = (CountedTable){pd_db_result_value(result, row, 0),
                                            pd_db_result_value(result, row, 1),
                                            strcmp(pd_db_result_value(result, row, 2), "t") == 0,
                                            strcmp(pd_db_result_value(result, row, 3), "t") == 0,
                                            strcmp(pd_db_result_value(result, row, 4), "t") == 0,
                                            strcmp(pd_db_result_value(result, row, 5), "t") == 0};
    state->table_count = count;
    return true;
}

/*
 * The slot, in `chosen` (declared by the body): the first, from
 * pg_backend_pid() % 64 on, whose transaction-level advisory lock (table
 * oid, slot) this transaction gets without waiting; every writer takes its
 * slot's lock before its UPDATE and both are held until its transaction
 * ends, so the slot's row is then free (or already this transaction's) and
 * the UPDATE does not wait for another writer's commit. A lock some other
 * holder took on that key only moves the writer on; with all 64 taken it
 * waits on its own slot, as every writer did before.
 */
#define CHOOSE_SLOT_OF(relid)                                                                                \
    "    chosen := pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.%) " SLOTS_TEXT ";\n"                     \
    "    FOR attempt IN 1.." SLOTS_TEXT " LOOP\n"                                                            \
    "        EXIT WHEN pg_catalog.pg_try_advisory_xact_lock(CAST(" relid " AS pg_catalog.int4), chosen);\n"  \
    "        chosen := (chosen OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.%) " SLOTS_TEXT ";\n"           \
    "    END LOOP;\n"
#define CHOOSE_SLOT CHOOSE_SLOT_OF("TG_RELID")

/*
 * The body of the insert and delete functions: ONE statement per firing, an
 * UPDATE of the pre-seeded slot by the transition table's row count
 * (skipped when it is empty), the slot a parameter (a cheap filter, and an
 * index scan once the counter table has grown past a few pages).
 */
#define ADD_ROWS(op, transition)                                                                             \
    "DECLARE\n"                                                                                              \
    "    chosen pg_catalog.int4;\n"                                                                          \
    "BEGIN\n" CHOOSE_SLOT "    UPDATE SCHEMA." PD_COUNTERS_TABLE "\n"                                        \
    "    SET n = n OPERATOR(pg_catalog." op ") (SELECT pg_catalog.count(*) FROM " transition ")\n"           \
    "    WHERE relid OPERATOR(pg_catalog.=) TG_RELID AND slot OPERATOR(pg_catalog.=) chosen\n"               \
    "      AND EXISTS (SELECT FROM " transition ");\n"                                                       \
    "    RETURN NULL;\n"                                                                                     \
    "END"

/* Truncate: every slot to zero. */
#define TRUNCATE_BODY                                                                                        \
    "BEGIN\n"                                                                                                \
    "    UPDATE SCHEMA." PD_COUNTERS_TABLE " SET n = 0\n"                                                    \
    "    WHERE relid OPERATOR(pg_catalog.=) TG_RELID AND n OPERATOR(pg_catalog.<>) 0;\n"                     \
    "    RETURN NULL;\n"                                                                                     \
    "END"

/*
 * prodata_count_add(target, added): a client's own inserted rows of a table
 * its transaction lists in prodata.client_counts, added to a slot of
 * target's, before it commits. Nothing for a table not listed, or whose
 * insert trigger does not skip such rows (no 'client_counts' argument: an older
 * version's, which counted them, or none); an error for one with rules or
 * enabled BEFORE INSERT row triggers of the user's (tgtype bits ROW |
 * BEFORE | INSERT), under which an INSERT may write no row and still
 * succeed, so that the client's tally could be wrong: that transaction
 * rolls back instead. Runs as its caller; adds nothing unless both the
 * session's login role and the current role may UPDATE the counters (the
 * rule CLIENT_CONDITION applies, so such a caller's rows were counted by
 * their statements), so it gives no one a new power.
 */
/* clang-format off */
#define EQ " OPERATOR(pg_catalog.=) "
#define CLIENT_ADD_BODY                                                                                      \
    "DECLARE\n"                                                                                              \
    "    target_oid pg_catalog.oid := CAST(target AS pg_catalog.oid);\n"                                     \
    "    chosen pg_catalog.int4;\n"                                                                          \
    "BEGIN\n"                                                                                                \
    "    IF NOT (pg_catalog.has_table_privilege(SESSION_USER, 'IN_LITERAL_SCHEMA." PD_COUNTERS_TABLE "', 'UPDATE')\n" \
    "        AND pg_catalog.has_table_privilege(CURRENT_USER, 'IN_LITERAL_SCHEMA." PD_COUNTERS_TABLE "', 'UPDATE')) THEN\n" \
    "        RETURN;\n"                                                                                      \
    "    END IF;\n"                                                                                          \
    "    IF added OPERATOR(pg_catalog.<) 0 THEN\n"                                                           \
    "        RAISE EXCEPTION 'prodata_count_add: % rows added to %', added, target\n"                        \
    "            USING ERRCODE = '22023';\n"                                                                 \
    "    END IF;\n"                                                                                          \
    "    IF added" EQ "0 OR pg_catalog.strpos(COALESCE(pg_catalog.current_setting("                          \
    "'prodata.client_counts', true), ''), ',' OPERATOR(pg_catalog.||) target_oid OPERATOR(pg_catalog.||) ',')" \
    EQ "0\n"                                                                                                 \
    "        OR NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g\n"                                           \
    "        WHERE g.tgrelid" EQ "target_oid AND g.tgname" EQ "'prodata_count_insert'\n"                      \
    "          AND g.tgenabled OPERATOR(pg_catalog.<>) 'D' AND g.tgnargs" EQ "1) THEN\n"                      \
    "        RETURN;\n"                                                                                      \
    "    END IF;\n"                                                                                          \
    "    IF EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class" EQ "target_oid)\n"                  \
    "        OR EXISTS (SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid" EQ "target_oid\n"               \
    "          AND NOT g.tgisinternal AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'\n"                         \
    "          AND CAST(g.tgtype AS pg_catalog.int4) OPERATOR(pg_catalog.&) 7" EQ "7) THEN\n"                 \
    "        RAISE EXCEPTION 'the rows of % are counted by their statements, not by the client: '\n"         \
    "            'it has rules or BEFORE INSERT row triggers', target USING ERRCODE = '55000';\n"            \
    "    END IF;\n"                                                                                          \
    CHOOSE_SLOT_OF("target_oid")                                                                             \
    "    UPDATE SCHEMA." PD_COUNTERS_TABLE " s SET n = s.n OPERATOR(pg_catalog.+) added\n"                   \
    "    WHERE s.relid" EQ "target_oid AND s.slot" EQ "chosen;\n"                                            \
    "END"
/* clang-format on */

/* One function as installed: its name, arguments, result, whether it runs as its owner, and body. */
typedef struct CounterFunction
{
    const char *name;
    const char *arguments; /* as in CREATE FUNCTION (names and types) */
    const char *returns;
    bool is_definer;
    const char *body; /* SCHEMA. stands for the schema */
} CounterFunction;

#define FUNCTION_COUNT 4

/*
 * The trigger functions run as their owner (security definer), so writers
 * need no right on the counters; prodata_count_add runs as its caller.
 */
static const CounterFunction functions[FUNCTION_COUNT] = {
    {"prodata_count_insert", "", "trigger", true, ADD_ROWS("+", "prodata_inserted")},
    {"prodata_count_delete", "", "trigger", true, ADD_ROWS("-", "prodata_deleted")},
    {"prodata_count_truncate", "", "trigger", true, TRUNCATE_BODY},
    {"prodata_count_add", "target pg_catalog.regclass, added pg_catalog.int8", "void", false,
     CLIENT_ADD_BODY},
};

/*
 * A function's source as installed: `body` with SCHEMA. standing for the
 * schema's quoted name, and IN_LITERAL_SCHEMA. for the same inside a string
 * literal (its single quotes doubled).
 */
static const char *
function_source(PdArena *arena, const char *schema, const char *body)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    for (const char *at = body; *at != '\0';)
    {
        const char *mark = strstr(at, "SCHEMA.");
        size_t length = mark != NULL ? (size_t)(mark - at) : strlen(at);
        bool is_in_literal = mark != NULL && length >= strlen("IN_LITERAL_") &&
                             strncmp(mark - strlen("IN_LITERAL_"), "IN_LITERAL_", strlen("IN_LITERAL_")) == 0;
        pd_strbuf_append_length(&text, at, is_in_literal ? length - strlen("IN_LITERAL_") : length);
        if (mark == NULL)
            break;
        for (const char *c = schema; *c != '\0'; c++)
            pd_strbuf_append(&text, *c == '\'' && is_in_literal ? "''" : (char[]){*c, '\0'});
        pd_strbuf_append_char(&text, '.');
        at = mark + strlen("SCHEMA.");
    }
    return pd_strbuf_failed(&text) ? NULL : pd_strbuf_text(&text);
}

/*
 * One function, its source as a string literal (no dollar quote a schema's
 * name could end). The trigger functions run as their owner (security
 * definer), so writers need no right on the counters; prodata_count_add
 * runs as its caller. Every table, function and operator in the
 * bodies is schema-qualified (the transition table's name is resolved
 * before any schema), so no object of a writer's can stand in for them;
 * that is instead of a pinned search_path, whose save and restore on every
 * call would cost each writing statement. Trigger functions cannot be
 * called directly; prodata_count_add may be by anyone, and adds only for
 * callers who may write the counters themselves (CLIENT_ADD_BODY).
 */
static void
append_function(PdStrbuf *sql, const char *schema, const CounterFunction *function)
{
    const char *source = function_source(sql->arena, schema, function->body);
    pd_strbuf_appendf(sql, "CREATE OR REPLACE FUNCTION %s.%s(%s) RETURNS %s LANGUAGE plpgsql%s AS ", schema,
                      function->name, function->arguments, function->returns,
                      function->is_definer ? " SECURITY DEFINER" : "");
    pd_strbuf_append_literal(sql, source != NULL ? source : "");
    pd_strbuf_append(sql, ";\n");
    if (strcmp(function->returns, "trigger") == 0)
        pd_strbuf_appendf(sql, "REVOKE ALL ON FUNCTION %s.%s() FROM PUBLIC;\n", schema, function->name);
    if (source == NULL)
        sql->failed = true;
}

/*
 * Whether the functions in the schema are this version's (security
 * definer, the source as function_source makes it). A database counted by
 * an older prodata has other bodies: migrate replaces them (same name and
 * oid, so the triggers keep pointing at them, and the slots and their sum
 * are unchanged: the count stays exact across the upgrade).
 */
static bool
read_functions_current(PdArena *arena, PdDb *db, CountersState *state, PdError *err)
{
    const char *params[3 * FUNCTION_COUNT];
    for (size_t i = 0; i < FUNCTION_COUNT; i++)
    {
        params[3 * i] = functions[i].name;
        params[3 * i + 1] = function_source(arena, state->schema, functions[i].body);
        params[3 * i + 2] = functions[i].is_definer ? "t" : "f";
        if (params[3 * i + 1] == NULL)
            return pd_arena_error(arena, err);
    }
    _Static_assert(FUNCTION_COUNT == 4, "the VALUES list below has a row per function");
    PdDbResult *result;
    if (!pd_db_query(
            arena, db,
            "SELECT count(*) = 4 FROM pg_proc p JOIN (VALUES ($1, $2, $3::bool), ($4, $5, $6::bool), "
            "($7, $8, $9::bool), ($10, $11, $12::bool)) "
            "f(name, body, is_definer) ON p.proname = f.name AND p.prosrc = f.body AND p.prosecdef = "
            "f.is_definer\n"
            "WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
            3 * FUNCTION_COUNT, params, &result, err))
        return false;
    state->has_current_functions = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

/*
 * The counter table and the four functions, created or replaced (and the
 * two of the version before, which deferred counts to the commit, dropped
 * once no trigger uses them: sync_on).
 * Every write updates a slot row: room on each page for new versions
 * (fillfactor), and vacuum after every 1,000 dead versions rather than a
 * fraction of a table that stays 64 rows per table, since busy writers keep
 * its pages pinned and in-page pruning then often cannot run.
 */
static bool
install_objects(PdArena *arena, PdDb *db, const CountersState *state, PdError *err)
{
    PdStrbuf sql;
    pd_strbuf_init(&sql, arena);
    pd_strbuf_appendf(&sql,
                      "CREATE TABLE IF NOT EXISTS %s." PD_COUNTERS_TABLE
                      " (relid oid NOT NULL, slot smallint NOT NULL, n bigint NOT NULL,"
                      " PRIMARY KEY (relid, slot)) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,"
                      " autovacuum_vacuum_threshold = 1000);\n"
                      "GRANT SELECT ON %s." PD_COUNTERS_TABLE " TO PUBLIC;\n",
                      state->schema, state->schema);
    for (size_t i = 0; i < FUNCTION_COUNT; i++)
        append_function(&sql, state->schema, &functions[i]);
    if (pd_strbuf_failed(&sql))
        return pd_arena_error(arena, err);
    return pd_db_exec(db, pd_strbuf_text(&sql), err) ||
           pd_error_context(err, "while creating the row counters' table and functions");
}

static const char *const trigger_names[] = {"prodata_count_insert", "prodata_count_delete",
                                            "prodata_count_truncate", "prodata_count_defer",
                                            "prodata_count_flush"};

/* Drops whichever of our triggers (this version's or the version before's) table has. */
static void
append_drop_triggers(PdStrbuf *sql, const char *table)
{
    for (size_t i = 0; i < sizeof(trigger_names) / sizeof(trigger_names[0]); i++)
    {
        pd_strbuf_appendf(sql, "DROP TRIGGER IF EXISTS %s ON ", trigger_names[i]);
        pd_strbuf_append_identifier(sql, table);
        pd_strbuf_append(sql, ";\n");
    }
}

/* text as an SQL string literal, in arena; NULL when out of memory. */
static const char *
quoted_literal(PdArena *arena, const char *text)
{
    PdStrbuf literal;
    pd_strbuf_init(&literal, arena);
    pd_strbuf_append_literal(&literal, text);
    return pd_strbuf_failed(&literal) ? NULL : pd_strbuf_text(&literal);
}

/*
 * The three triggers on `quoted` (the table's quoted name, `oid` its oid):
 * the statement triggers count inserts unless they are the client's own
 * (CLIENT_CONDITION), deletes and truncates always; the insert trigger's
 * argument marks this version.
 */
static void
append_create_triggers(PdStrbuf *sql, const char *schema, const char *quoted, const char *oid)
{
    PdStrbuf table, marker;
    pd_strbuf_init(&table, sql->arena);
    pd_strbuf_init(&marker, sql->arena);
    pd_strbuf_appendf(&table, "%s." PD_COUNTERS_TABLE, schema);
    pd_strbuf_appendf(&marker, ",%s,", oid);
    const char *counters =
        pd_strbuf_failed(&table) ? NULL : quoted_literal(sql->arena, pd_strbuf_text(&table));
    const char *listed =
        pd_strbuf_failed(&marker) ? NULL : quoted_literal(sql->arena, pd_strbuf_text(&marker));
    if (counters == NULL || listed == NULL)
    {
        sql->failed = true;
        return;
    }
    pd_strbuf_appendf(sql,
                      "CREATE TRIGGER prodata_count_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS "
                      "prodata_inserted FOR EACH STATEMENT WHEN (NOT (" CLIENT_CONDITION
                      ")) EXECUTE FUNCTION %s.prodata_count_insert('client_counts');\n",
                      quoted, listed, counters, counters, schema);
    pd_strbuf_appendf(sql,
                      "CREATE TRIGGER prodata_count_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS "
                      "prodata_deleted FOR EACH STATEMENT EXECUTE FUNCTION %s.prodata_count_delete();\n",
                      quoted, schema);
    pd_strbuf_appendf(sql,
                      "CREATE TRIGGER prodata_count_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE "
                      "FUNCTION %s.prodata_count_truncate();\n",
                      quoted, schema);
}

/*
 * Counts one table: locks it against writers (waiting for those under way
 * to end), puts the three triggers on it, then seeds its slots with
 * count(*), a statement whose snapshot is taken after the lock was granted.
 */
static bool
install_table(PdArena *arena, PdDb *db, const CountersState *state, const CountedTable *table, PdError *err)
{
    PdStrbuf sql, quoted;
    pd_strbuf_init(&sql, arena);
    pd_strbuf_init(&quoted, arena);
    pd_strbuf_append_identifier(&quoted, table->name);
    const char *name = pd_strbuf_failed(&quoted) ? "" : pd_strbuf_text(&quoted);
    pd_strbuf_appendf(&sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", name);
    if (table->has_triggers)
        append_drop_triggers(&sql, table->name);
    append_create_triggers(&sql, state->schema, name, table->oid);
    const char *seed =
        pd_arena_sprintf(arena,
                         "INSERT INTO %s." PD_COUNTERS_TABLE " (relid, slot, n)\n"
                         "SELECT $1::oid, s, CASE WHEN s = 0 THEN (SELECT count(*) FROM %s) ELSE 0 END\n"
                         "FROM generate_series(0, %d) s\n"
                         "ON CONFLICT (relid, slot) DO UPDATE SET n = excluded.n",
                         state->schema, name, PD_COUNTERS_SLOTS - 1);
    if (pd_strbuf_failed(&sql) || pd_strbuf_failed(&quoted) || seed == NULL)
        return pd_arena_error(arena, err);
    const char *params[] = {table->oid};
    PdDbResult *result;
    if (!pd_db_exec(db, pd_strbuf_text(&sql), err) || !pd_db_query(arena, db, seed, 1, params, &result, err))
        return pd_error_context(err, "while installing the row counter of table %s", table->name);
    return true;
}

/*
 * A table counted by an earlier version (three statement triggers, and the
 * deferring pair of the version before, if there): its triggers replaced by
 * this version's three, its slots untouched. No writer is under way (DROP
 * TRIGGER waits for them), so none has rows pending for a commit-time flush
 * of the version before. DROP and CREATE
 * TRIGGER hold the table's SHARE ROW EXCLUSIVE lock until the migration
 * commits, so every write is counted by the old triggers before it or by
 * the new ones after it, and the sum stays exact with no recount.
 */
static bool
upgrade_table(PdArena *arena, PdDb *db, const CountersState *state, const CountedTable *table, PdError *err)
{
    PdStrbuf sql, quoted;
    pd_strbuf_init(&sql, arena);
    pd_strbuf_init(&quoted, arena);
    pd_strbuf_append_identifier(&quoted, table->name);
    append_drop_triggers(&sql, table->name);
    append_create_triggers(&sql, state->schema, pd_strbuf_failed(&quoted) ? "" : pd_strbuf_text(&quoted),
                           table->oid);
    if (pd_strbuf_failed(&sql) || pd_strbuf_failed(&quoted))
        return pd_arena_error(arena, err);
    return pd_db_exec(db, pd_strbuf_text(&sql), err) ||
           pd_error_context(err, "while upgrading the row counter of table %s", table->name);
}

/* Takes the counter off one table: its triggers and its slots. */
static bool
remove_table(PdArena *arena, PdDb *db, const CountersState *state, const CountedTable *table, PdError *err)
{
    PdStrbuf sql;
    pd_strbuf_init(&sql, arena);
    append_drop_triggers(&sql, table->name);
    if (pd_strbuf_failed(&sql))
        return pd_arena_error(arena, err);
    if (!pd_db_exec(db, pd_strbuf_text(&sql), err))
        return pd_error_context(err, "while removing the row counter of table %s", table->name);
    if (!state->has_table)
        return true;
    const char *params[] = {table->oid};
    PdDbResult *result;
    const char *delete_slots =
        pd_arena_sprintf(arena, "DELETE FROM %s." PD_COUNTERS_TABLE " WHERE relid = $1::oid", state->schema);
    if (delete_slots == NULL)
        return pd_arena_error(arena, err);
    return pd_db_query(arena, db, delete_slots, 1, params, &result, err) ||
           pd_error_context(err, "while removing the row counter of table %s", table->name);
}

/* count_rows off: every trigger, then the functions and the table. */
static bool
remove_everything(PdArena *arena, PdDb *db, const CountersState *state, int *changed, PdError *err)
{
    for (size_t i = 0; i < state->table_count; i++)
    {
        if (!state->tables[i].has_triggers)
            continue;
        if (!remove_table(arena, db, state, &state->tables[i], err))
            return false;
        (*changed)++;
    }
    const char *sql = pd_arena_sprintf(arena,
                                       "DROP TABLE IF EXISTS %s." PD_COUNTERS_TABLE ";\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_insert();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_delete();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_truncate();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_defer();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_flush();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_add(pg_catalog.regclass, "
                                       "pg_catalog.int8);\n",
                                       state->schema, state->schema, state->schema, state->schema,
                                       state->schema, state->schema, state->schema);
    if (sql == NULL)
        return pd_arena_error(arena, err);
    return pd_db_exec(db, sql, err) || pd_error_context(err, "while dropping their table and functions");
}

/* Whether anything of the counters is there to remove. */
static bool
has_anything(PdArena *arena, PdDb *db, const CountersState *state, bool *has, PdError *err)
{
    *has = state->has_table;
    for (size_t i = 0; i < state->table_count && !*has; i++)
        *has = state->tables[i].has_triggers;
    if (*has)
        return true;
    PdDbResult *result;
    if (!pd_db_query(
            arena, db,
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = (SELECT oid FROM pg_namespace "
            "WHERE nspname = current_schema()) AND proname IN (" TRIGGER_NAMES ", 'prodata_count_add'))",
            0, NULL, &result, err))
        return false;
    *has = strcmp(pd_db_result_value(result, 0, 0), "t") == 0;
    return true;
}

/* The functions of the version before that deferred counts to the commit, when there: no trigger uses them
 * any more (asked first, so that migrate's output shows no DROP ... IF EXISTS notice). */
static bool
drop_deferring_functions(PdArena *arena, PdDb *db, const CountersState *state, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(
            arena, db,
            "SELECT count(*) FROM pg_proc WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE "
            "nspname = current_schema()) AND proname IN ('prodata_count_defer', 'prodata_count_flush')",
            0, NULL, &result, err))
        return false;
    if (strcmp(pd_db_result_value(result, 0, 0), "0") == 0)
        return true;
    const char *sql = pd_arena_sprintf(arena,
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_defer();\n"
                                       "DROP FUNCTION IF EXISTS %s.prodata_count_flush();\n",
                                       state->schema, state->schema);
    if (sql == NULL)
        return pd_arena_error(arena, err);
    return pd_db_exec(db, sql, err) ||
           pd_error_context(err, "while dropping the functions of the version before");
}

/* count_rows on: each model table counted, the counters of other tables removed. */
static bool
sync_on(PdArena *arena, PdDb *db, CountersState *state, int *changed, PdError *err)
{
    bool needs_objects = state->has_table && !state->has_current_functions;
    for (size_t i = 0; i < state->table_count; i++)
        needs_objects |= state->tables[i].is_model && !state->tables[i].is_installed;
    if (needs_objects)
    {
        if (!install_objects(arena, db, state, err))
            return false;
        state->has_table = true;
    }
    for (size_t i = 0; i < state->table_count; i++)
    {
        const CountedTable *table = &state->tables[i];
        if (table->is_model && !table->is_installed && table->is_upgradable &&
            !upgrade_table(arena, db, state, table, err))
            return false;
        if (table->is_model && !table->is_installed && !table->is_upgradable &&
            !install_table(arena, db, state, table, err))
            return false;
        if (!table->is_model && !remove_table(arena, db, state, table, err))
            return false;
        *changed += !table->is_model || !table->is_installed;
    }
    return drop_deferring_functions(arena, db, state, err);
}

/* The slots of tables that are gone or no longer carry the insert trigger. */
static bool
forget_uncounted(PdArena *arena, PdDb *db, const CountersState *state, PdError *err)
{
    const char *sql =
        pd_arena_sprintf(arena,
                         "DELETE FROM %s." PD_COUNTERS_TABLE " s WHERE NOT EXISTS (SELECT 1 FROM "
                         "pg_trigger g WHERE g.tgrelid = s.relid AND g.tgname = "
                         "'prodata_count_insert')",
                         state->schema);
    PdDbResult *result;
    if (sql == NULL)
        return pd_arena_error(arena, err);
    return pd_db_query(arena, db, sql, 0, NULL, &result, err) ||
           pd_error_context(err, "while deleting the row counters of dropped tables");
}

bool
pd_counters_sync(PdArena *arena, PdDb *db, const PdCatalog *state, bool is_on, bool is_run_end, int *changed,
                 PdError *err)
{
    CountersState counters = {0};
    int changed_here = 0;
    if (!read_schema(arena, db, &counters, err) || !read_tables(arena, db, state, &counters, err) ||
        (is_on && !read_functions_current(arena, db, &counters, err)))
        return pd_error_context(err, "while reading the row counters");
    bool is_synced;
    if (is_on)
        is_synced = sync_on(arena, db, &counters, &changed_here, err) &&
                    (!is_run_end || !counters.has_table || forget_uncounted(arena, db, &counters, err));
    else
    {
        bool has = false;
        is_synced = has_anything(arena, db, &counters, &has, err) &&
                    (!has || remove_everything(arena, db, &counters, &changed_here, err));
    }
    if (changed != NULL)
        *changed = changed_here;
    return is_synced;
}

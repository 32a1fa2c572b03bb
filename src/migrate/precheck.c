/*
 * precheck.c - what existing rows would break, said before anything
 * changes. A migration that sets NOT NULL, adds a unique, check or foreign
 * key constraint, adds a required column or changes a type can fail halfway
 * through a deploy on rows nobody looked at. Here such a statement is
 * recognised by its shape and runs behind a savepoint; when PostgreSQL
 * refuses it on the data, the savepoint is rolled back, the rows that break
 * it are counted, with a few of their primary keys (or, for a unique, the
 * values that repeat), and the migration is refused with the way out; its
 * transaction then rolls back whole. A statement that succeeds has cost one
 * scan, as before. The concurrent part (VALIDATE CONSTRAINT, CREATE UNIQUE
 * INDEX CONCURRENTLY) runs after the commit, so its checks are counted inside
 * the transaction, before the commit: the transactional part is never
 * committed to be followed by a concurrent part that the data fails.
 *
 * Identifiers come from the migration file and the catalog, quoted; the
 * counting queries are built with format() and %I / %s of those.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apply.h"
#include "precheck.h"
#include "prodata/strbuf.h"

typedef enum CheckKind
{
    CHECK_NONE,
    CHECK_NOT_NULL, /* ALTER COLUMN c SET NOT NULL */
    CHECK_REQUIRED, /* ADD COLUMN c ... NOT NULL without a default */
    CHECK_UNIQUE,   /* ADD CONSTRAINT n UNIQUE (cols), CREATE UNIQUE INDEX ... (cols) */
    CHECK_CHECK,    /* ADD CONSTRAINT n CHECK (expr) */
    CHECK_FOREIGN,  /* ADD CONSTRAINT n FOREIGN KEY (cols) REFERENCES t (cols) */
    CHECK_TYPE,     /* ALTER COLUMN c TYPE t [USING expr] */
    CHECK_VALIDATE  /* VALIDATE CONSTRAINT n */
} CheckKind;

/* A statement read for its shape: the table, and what the kind needs, as written (quoted). */
typedef struct Shape
{
    CheckKind kind;
    const char *table;   /* "book" as written, usable in SQL */
    const char *column;  /* NOT_NULL, REQUIRED, TYPE */
    const char *columns; /* UNIQUE, FOREIGN: "(a, b)" */
    const char *expr;    /* CHECK: "(price >= 0)"; TYPE: the USING expression or NULL */
    const char *type;    /* TYPE */
    const char *target;  /* FOREIGN: the referenced table and its columns, "author (id)" */
    const char *name;    /* VALIDATE: the constraint */
} Shape;

/* ---- reading a statement's shape ----------------------------------------- */

typedef struct Reader
{
    PdArena *arena;
    const char *at;
} Reader;

static void
skip_blanks(Reader *r)
{
    while (isspace((unsigned char)*r->at))
        r->at++;
}

/* The next token as written: a word, a "quoted" name, a (balanced group), a 'string' or one character. */
static const char *
next_token(Reader *r)
{
    skip_blanks(r);
    const char *start = r->at;
    if (*start == '\0')
        return NULL;
    if (*start == '"' || *start == '\'')
    {
        char quote = *start;
        for (r->at++; *r->at != '\0' && !(r->at[0] == quote && r->at[1] != quote); r->at++)
            r->at += r->at[0] == quote;
        r->at += *r->at == quote;
    }
    else if (*start == '(')
    {
        int depth = 0;
        for (; *r->at != '\0'; r->at++)
        {
            if (*r->at == '\'' || *r->at == '"')
            {
                Reader inner = {r->arena, r->at};
                next_token(&inner);
                r->at = inner.at - 1;
                continue;
            }
            depth += *r->at == '(' ? 1 : *r->at == ')' ? -1 : 0;
            if (depth == 0)
            {
                r->at++;
                break;
            }
        }
    }
    else if (isalnum((unsigned char)*start) || *start == '_' || (unsigned char)*start >= 0x80)
        while (isalnum((unsigned char)*r->at) || *r->at == '_' || *r->at == '$' ||
               (unsigned char)*r->at >= 0x80)
            r->at++;
    else
        r->at++;
    return pd_arena_strndup(r->arena, start, (size_t)(r->at - start));
}

/* Whether the next tokens are the words of `words` (space-separated, lower case); consumes them if so. */
static bool
accept(Reader *r, const char *words)
{
    Reader saved = *r;
    char copy[96], *state = NULL;
    snprintf(copy, sizeof(copy), "%s", words);
    for (char *word = strtok_r(copy, " ", &state); word != NULL; word = strtok_r(NULL, " ", &state))
    {
        const char *token = next_token(r);
        if (token == NULL || strcasecmp(token, word) != 0)
        {
            *r = saved;
            return false;
        }
    }
    return true;
}

/* A name, possibly qualified ("public"."book"), as written. */
static const char *
read_name(Reader *r)
{
    skip_blanks(r);
    const char *start = r->at;
    const char *token = next_token(r);
    if (token == NULL || token[0] == '(' || token[0] == '\'' || token[0] == ';')
        return NULL;
    while (*r->at == '.')
    {
        r->at++;
        next_token(r);
    }
    return pd_arena_strndup(r->arena, start, (size_t)(r->at - start));
}

/* Whether the rest of the statement holds the words (e.g. "not valid"), outside groups and quotes. */
static bool
rest_has(Reader r, const char *words)
{
    for (;;)
    {
        Reader here = r;
        if (accept(&here, words))
            return true;
        if (next_token(&r) == NULL)
            return false;
    }
}

/* The text from the reader's place up to a word of stop (lower case, space-separated) or the end, trimmed. */
static const char *
read_until(Reader *r, const char *stop)
{
    skip_blanks(r);
    const char *start = r->at, *end = r->at;
    for (;;)
    {
        Reader here = *r;
        const char *token = next_token(&here);
        if (token == NULL)
            break;
        char pattern[64];
        snprintf(pattern, sizeof(pattern), " %s ", stop);
        char word[72];
        snprintf(word, sizeof(word), " %s ", token);
        for (char *c = word; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (strstr(pattern, word) != NULL)
            break;
        *r = here;
        end = r->at;
    }
    return pd_arena_strndup(r->arena, start, (size_t)(end - start));
}

/* The action of ALTER TABLE t: one action only (a comma at the top level makes it none we read). */
static void
read_alter_action(Reader *r, Shape *shape)
{
    if (rest_has(*r, ","))
        return;
    if (accept(r, "alter column") || accept(r, "alter"))
    {
        shape->column = read_name(r);
        if (accept(r, "set not null"))
            shape->kind = CHECK_NOT_NULL;
        else if (accept(r, "type") || accept(r, "set data type"))
        {
            shape->kind = CHECK_TYPE;
            shape->type = read_until(r, "using collate");
            if (accept(r, "collate"))
                read_name(r);
            shape->expr = accept(r, "using") ? read_until(r, "") : NULL;
        }
        return;
    }
    if (accept(r, "validate constraint"))
    {
        shape->kind = CHECK_VALIDATE;
        shape->name = read_name(r);
        return;
    }
    if (accept(r, "add constraint"))
    {
        read_name(r);
        if (rest_has(*r, "not valid") || rest_has(*r, "using index"))
            return;
        if (accept(r, "unique"))
        {
            if (!accept(r, "nulls distinct"))
                accept(r, "nulls not distinct");
            shape->kind = CHECK_UNIQUE, shape->columns = next_token(r);
        }
        else if (accept(r, "primary key")) /* a composite key (keys.c): repeated keys counted as a unique's */
            shape->kind = CHECK_UNIQUE, shape->columns = next_token(r);
        else if (accept(r, "check"))
            shape->kind = CHECK_CHECK, shape->expr = next_token(r);
        else if (accept(r, "foreign key"))
        {
            shape->columns = next_token(r);
            if (accept(r, "references"))
                shape->kind = CHECK_FOREIGN,
                shape->target = read_until(r, "on match deferrable not initially");
        }
        return;
    }
    if (accept(r, "add column") || accept(r, "add"))
    {
        accept(r, "if not exists");
        shape->column = read_name(r);
        if (rest_has(*r, "not null") && !rest_has(*r, "default") && !rest_has(*r, "generated") &&
            !rest_has(*r, "primary key"))
            shape->kind = CHECK_REQUIRED;
    }
}

static Shape
read_shape(PdArena *arena, const char *statement)
{
    Shape shape = {CHECK_NONE, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    Reader r = {arena, statement};
    if (accept(&r, "alter table"))
    {
        accept(&r, "if exists");
        accept(&r, "only");
        shape.table = read_name(&r);
        if (shape.table != NULL)
            read_alter_action(&r, &shape);
    }
    else if (accept(&r, "create unique index"))
    {
        accept(&r, "concurrently");
        accept(&r, "if not exists");
        if (!accept(&r, "on"))
        {
            read_name(&r);
            accept(&r, "on");
        }
        accept(&r, "only");
        shape.table = read_name(&r);
        if (accept(&r, "using"))
            read_name(&r);
        shape.columns = next_token(&r);
        if (shape.table != NULL && shape.columns != NULL && shape.columns[0] == '(' && !rest_has(r, "where"))
            shape.kind = CHECK_UNIQUE;
    }
    if (shape.kind != CHECK_NONE && shape.table == NULL)
        shape.kind = CHECK_NONE;
    return shape;
}

/* ---- counting the rows that break a statement ---------------------------- */

/* The items of a "(a, b)" group, each trimmed, as written. */
static bool
split_group(PdArena *arena, const char *group, const char ***items, size_t *count)
{
    *items = NULL;
    *count = 0;
    if (group == NULL || group[0] != '(')
        return false;
    size_t length = strlen(group);
    Reader r = {arena, pd_arena_strndup(arena, group + 1, length > 1 ? length - 2 : 0)};
    if (r.at == NULL)
        return false;
    for (;;)
    {
        const char *item = read_until(&r, ",");
        const char **grown = pd_arena_reserve_next(arena, (void *)*items, *count, sizeof(*grown));
        if (item == NULL || grown == NULL)
            return false;
        grown[(*count)++] = item;
        *items = grown;
        if (!accept(&r, ","))
            return true;
    }
}

/* "pd_t.a, pd_t.b" from ("a", "b"): each item behind alias. */
static const char *
qualified(PdArena *arena, const char *alias, const char **items, size_t count)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; i < count; i++)
        pd_strbuf_appendf(&out, "%s%s.%s", i ? ", " : "", alias, items[i]);
    return pd_strbuf_failed(&out) ? NULL : pd_strbuf_text(&out);
}

/* The table's primary key columns, quoted and comma-separated; NULL when it has none. */
static bool
read_primary_key(PdArena *arena, PdDb *db, const char *table, const char **key, PdError *err)
{
    const char *params[] = {table};
    PdDbResult *result;
    if (!pd_db_query(arena, db,
                     "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) FROM pg_index i\n"
                     "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)\n"
                     "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum\n"
                     "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                     1, params, &result, err))
        return false;
    *key = pd_db_result_is_null(result, 0, 0) ? NULL : pd_db_result_value(result, 0, 0);
    return true;
}

/* Runs `SELECT count(*) FROM <from>` and an example query; the count into *count. */
static bool
count_and_show(PdArena *arena, PdDb *db, const char *count_sql, const char *examples_sql, long long *count,
               const char **examples, PdError *err)
{
    PdDbResult *result;
    if (!pd_db_query(arena, db, count_sql, 0, NULL, &result, err))
        return false;
    *count = atoll(pd_db_result_value(result, 0, 0));
    *examples = NULL;
    if (*count > 0 && examples_sql != NULL && pd_db_query(arena, db, examples_sql, 0, NULL, &result, err) &&
        !pd_db_result_is_null(result, 0, 0))
        *examples = pd_db_result_value(result, 0, 0);
    return true;
}

/* Rows matching cond (SQL over the table aliased pd_t): their count and up to five primary keys. */
static bool
count_rows(PdArena *arena, PdDb *db, const Shape *shape, const char *cond, long long *count,
           const char **examples, PdError *err)
{
    const char *key;
    if (!read_primary_key(arena, db, shape->table, &key, err))
        return false;
    const char *count_sql =
        pd_arena_sprintf(arena, "SELECT count(*) FROM %s AS pd_t WHERE %s", shape->table, cond);
    const char *examples_sql =
        key == NULL
            ? NULL
            : pd_arena_sprintf(arena,
                               "SELECT string_agg(k, ', ') FROM (SELECT (%s%s%s)::text AS k FROM %s AS "
                               "pd_t WHERE %s ORDER BY 1 LIMIT 5) s",
                               strchr(key, ',') ? "row(" : "", key, strchr(key, ',') ? ")" : "", shape->table,
                               cond);
    if (count_sql == NULL)
        return pd_arena_error(arena, err);
    return count_and_show(arena, db, count_sql, examples_sql, count, examples, err);
}

/* Duplicated values of a unique's columns: how many values repeat, and up to five of them. */
static bool
count_duplicates(PdArena *arena, PdDb *db, const Shape *shape, long long *count, const char **examples,
                 PdError *err)
{
    const char *list = pd_arena_strndup(arena, shape->columns + 1, strlen(shape->columns) - 2);
    const char *from = pd_arena_sprintf(
        arena, "FROM %s WHERE row(%s) IS NOT NULL GROUP BY %s HAVING count(*) > 1", shape->table, list, list);
    if (list == NULL || from == NULL)
        return pd_arena_error(arena, err);
    return count_and_show(
        arena, db, pd_arena_sprintf(arena, "SELECT count(*) FROM (SELECT 1 %s) s", from),
        pd_arena_sprintf(
            arena, "SELECT string_agg(v, '; ') FROM (SELECT row(%s)::text AS v %s ORDER BY 1 LIMIT 5) s",
            list, from),
        count, examples, err);
}

/* Rows whose foreign key names no row of the target: "columns" and "target" as ADD CONSTRAINT writes them. */
static bool
count_orphans(PdArena *arena, PdDb *db, const Shape *shape, long long *count, const char **examples,
              PdError *err)
{
    const char **ours, **theirs;
    size_t our_count, their_count;
    Reader r = {arena, shape->target};
    const char *target = read_name(&r);
    const char *target_columns = next_token(&r);
    if (target == NULL || !split_group(arena, shape->columns, &ours, &our_count))
        return pd_arena_error(arena, err);
    if (target_columns == NULL || target_columns[0] != '(')
    {
        const char *key;
        if (!read_primary_key(arena, db, target, &key, err))
            return false;
        target_columns = pd_arena_sprintf(arena, "(%s)", key != NULL ? key : "");
    }
    if (!split_group(arena, target_columns, &theirs, &their_count) || their_count != our_count)
        return pd_arena_error(arena, err);
    const char *cond = pd_arena_sprintf(
        arena, "row(%s) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s AS pd_r WHERE row(%s) = row(%s))",
        qualified(arena, "pd_t", ours, our_count), target, qualified(arena, "pd_r", theirs, their_count),
        qualified(arena, "pd_t", ours, our_count));
    return cond != NULL ? count_rows(arena, db, shape, cond, count, examples, err)
                        : pd_arena_error(arena, err);
}

/* A function that says whether a query runs without a data exception (per row, for type changes). */
static bool
make_try_function(PdDb *db, PdError *err)
{
    return pd_db_exec(
        db,
        "CREATE OR REPLACE FUNCTION pg_temp.prodata_runs(q text, t tid) RETURNS boolean\n"
        "LANGUAGE plpgsql AS $prodata$\n"
        "BEGIN EXECUTE q USING t; RETURN true;\n"
        "EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN RETURN false; END\n"
        "$prodata$",
        err);
}

/* Values the type change cannot convert: the USING expression evaluated row by row. */
static bool
count_unconvertible(PdArena *arena, PdDb *db, const Shape *shape, long long *count, const char **examples,
                    PdError *err)
{
    const char *expr =
        shape->expr != NULL ? shape->expr : pd_arena_sprintf(arena, "%s::%s", shape->column, shape->type);
    PdDbResult *result;
    const char *params[] = {
        pd_arena_sprintf(arena, "SELECT (%s)::%s FROM %s WHERE ctid = $1", expr, shape->type, shape->table)};
    if (params[0] == NULL)
        return pd_arena_error(arena, err);
    if (!make_try_function(db, err) ||
        !pd_db_query(arena, db, "SELECT quote_literal($1)", 1, params, &result, err))
        return false;
    const char *cond =
        pd_arena_sprintf(arena, "NOT pg_temp.prodata_runs(%s, pd_t.ctid)", pd_db_result_value(result, 0, 0));
    return cond != NULL ? count_rows(arena, db, shape, cond, count, examples, err)
                        : pd_arena_error(arena, err);
}

/* A name as the catalog holds it: "quoted" unquoted ("" inside made one), a plain word folded to lower case.
 */
static char *
catalog_name(PdArena *arena, const char *written)
{
    char *name = pd_arena_strdup(arena, written);
    if (name == NULL)
        return NULL;
    size_t used = 0;
    if (written[0] != '"')
    {
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        return name;
    }
    for (const char *c = written + 1; *c != '\0'; c++)
    {
        if (c[0] == '"' && c[1] != '"')
            break;
        name[used++] = *c;
        c += c[0] == '"';
    }
    name[used] = '\0';
    return name;
}

/*
 * The column of a check "(column IS NOT NULL)" as pg_get_expr deparses it, quoted ("title"), or NULL for any
 * other check. PostgreSQL quotes a name only when it must, so quoting a bare one names the same column.
 */
static const char *
not_null_column(PdArena *arena, const char *expr)
{
    Reader r = {arena, expr};
    const char *group = next_token(&r);
    if (group == NULL || group[0] != '(' || next_token(&r) != NULL)
        return NULL;
    Reader inner = {arena, pd_arena_strndup(arena, group + 1, strlen(group) - 2)};
    if (inner.at == NULL)
        return NULL;
    const char *column = read_name(&inner);
    if (column == NULL || strchr(column, '.') != NULL || !accept(&inner, "is not null") ||
        next_token(&inner) != NULL)
        return NULL;
    return column[0] == '"' ? column : pd_arena_sprintf(arena, "\"%s\"", column);
}

/* VALIDATE CONSTRAINT: the constraint read back from the catalog, as a CHECK, NOT NULL or FOREIGN shape. */
static bool
read_validated(PdArena *arena, PdDb *db, Shape *shape, PdError *err)
{
    const char *params[] = {shape->table, catalog_name(arena, shape->name)};
    if (params[1] == NULL)
        return pd_arena_error(arena, err);
    PdDbResult *result;
    if (!pd_db_query(
            arena, db,
            "SELECT contype, pg_get_expr(conbin, conrelid), pg_get_constraintdef(oid) FROM pg_constraint\n"
            "WHERE conrelid = $1::regclass AND conname = $2",
            2, params, &result, err))
        return false;
    shape->kind = CHECK_NONE;
    if (pd_db_result_row_count(result) != 1)
        return true;
    char type = pd_db_result_value(result, 0, 0)[0];
    if (type == 'c')
        shape->kind = CHECK_CHECK, shape->expr = pd_db_result_value(result, 0, 1);
    /* The planner's way to NOT NULL (a check NOT VALID, validated): said as the NOT NULL it stands for. */
    const char *column = type == 'c' ? not_null_column(arena, shape->expr) : NULL;
    if (column != NULL)
        shape->kind = CHECK_NOT_NULL, shape->column = column;
    Reader r = {arena, pd_db_result_value(result, 0, 2)};
    if (type == 'f' && accept(&r, "foreign key"))
    {
        shape->columns = next_token(&r);
        if (accept(&r, "references"))
            shape->kind = CHECK_FOREIGN, shape->target = read_until(&r, "on match deferrable not initially");
    }
    return true;
}

/* The rows (or repeated values) that break shape, in the open transaction; *count 0 when none. */
static bool
count_breaking(PdArena *arena, PdDb *db, Shape *shape, long long *count, const char **examples, PdError *err)
{
    *count = 0;
    *examples = NULL;
    if (shape->kind == CHECK_VALIDATE && !read_validated(arena, db, shape, err))
        return false;
    switch (shape->kind)
    {
        case CHECK_NOT_NULL:
            return count_rows(arena, db, shape, pd_arena_sprintf(arena, "pd_t.%s IS NULL", shape->column),
                              count, examples, err);
        case CHECK_REQUIRED:
            return count_rows(arena, db, shape, "true", count, examples, err);
        case CHECK_CHECK:
            return count_rows(arena, db, shape, pd_arena_sprintf(arena, "NOT (%s)", shape->expr), count,
                              examples, err);
        case CHECK_UNIQUE:
            return count_duplicates(arena, db, shape, count, examples, err);
        case CHECK_FOREIGN:
            return count_orphans(arena, db, shape, count, examples, err);
        case CHECK_TYPE:
            return count_unconvertible(arena, db, shape, count, examples, err);
        case CHECK_NONE:
        case CHECK_VALIDATE:
            break;
    }
    return true;
}

/* ---- the refusal ----------------------------------------------------------- */

static bool
refuse(const PdMigrationFile *file, const Shape *shape, const char *statement, long long count,
       const char *examples, PdError *err)
{
    const char *where = file->path != NULL ? file->path : file->name;
    const char *rows = count == 1 ? "row" : "rows";
    const char *s = count == 1 ? "s" : ""; /* the verb's ending: 1 row holds, 2 rows hold */
    switch (shape->kind)
    {
        case CHECK_NOT_NULL:
            pd_error_set(err, PD_ERR_REFUSED,
                         "%s: %lld %s of %s hold%s NULL in %s, which this migration makes NOT NULL",
                         file->name, count, rows, shape->table, s, shape->column);
            pd_error_hint(
                err, "Give them a value first: backfill=... (or a default=...) on the field fills them in "
                     "batches before the column becomes NOT NULL; or an UPDATE in a migration before "
                     "this one (prodata makemigrations --empty); or keep the field null.");
            break;
        case CHECK_REQUIRED:
            pd_error_set(err, PD_ERR_REFUSED,
                         "%s: %s has %lld %s, and the new column %s is NOT NULL without a default",
                         file->name, shape->table, count, rows, shape->column);
            pd_error_hint(err,
                          "Give the field a default=..., or make it null and fill it in a later migration.");
            break;
        case CHECK_UNIQUE:
            pd_error_set(err, PD_ERR_REFUSED,
                         "%s: %lld value%s of %s %s appear%s more than once, and this migration "
                         "makes them unique",
                         file->name, count, count == 1 ? "" : "s", shape->table, shape->columns, s);
            pd_error_hint(err, "Remove or change the duplicates first, in a migration before this one.");
            break;
        case CHECK_CHECK:
            pd_error_set(err, PD_ERR_REFUSED,
                         "%s: %lld %s of %s fail%s the check %s that this migration adds", file->name, count,
                         rows, shape->table, s, shape->expr);
            pd_error_hint(err, "Fix those rows first, in a migration before this one, or change the check.");
            break;
        case CHECK_FOREIGN:
            pd_error_set(err, PD_ERR_REFUSED, "%s: %lld %s of %s point%s with %s to no row of %s", file->name,
                         count, rows, shape->table, s, shape->columns, shape->target);
            pd_error_hint(err,
                          "Delete those rows, set the key to null (on a null field), or add the rows they "
                          "point to, in a migration before this one.");
            break;
        case CHECK_TYPE:
            pd_error_set(err, PD_ERR_REFUSED, "%s: %lld %s of %s hold%s a value of %s that cannot become %s",
                         file->name, count, rows, shape->table, s, shape->column, shape->type);
            pd_error_hint(err,
                          "Change those values first, in a migration before this one, or keep the type and "
                          "add a new field for the new one.");
            break;
        default:
            return false;
    }
    pd_error_detail(err, "%s %s. Statement: %.200s (%s). Nothing was changed.",
                    shape->kind == CHECK_UNIQUE ? "Repeated values:" : "Primary keys of some of them:",
                    examples != NULL ? examples : "(none to show)", statement, where);
    return false;
}

/* ---- running a section ------------------------------------------------------- */

/* Whether a data error of this SQLSTATE is one a counted check explains. */
static bool
is_data_error(const char *sqlstate)
{
    return strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "23502") == 0 ||
           strcmp(sqlstate, "23503") == 0 || strcmp(sqlstate, "23505") == 0 || strcmp(sqlstate, "23514") == 0;
}

/*
 * One statement that existing rows may break, behind a savepoint; on a data
 * error, the rows are counted after the savepoint is rolled back and the
 * refusal replaces the server's error.
 */
static bool
run_checked(PdArena *arena, PdDb *db, const PdApplySql *sent, Shape *shape, PdError *err)
{
    if (!pd_db_exec(db, "SAVEPOINT prodata_precheck", err))
        return false;
    if (pd_db_exec(db, sent->statement, err))
        return pd_db_exec(db, "RELEASE SAVEPOINT prodata_precheck", err);
    PdError failed = *err, counting;
    long long count = 0;
    const char *examples = NULL;
    if (!is_data_error(err->sqlstate) ||
        !pd_db_exec(db, "ROLLBACK TO SAVEPOINT prodata_precheck", &counting) ||
        !count_breaking(arena, db, shape, &count, &examples, &counting) || count == 0)
    {
        *err = failed;
        pd_apply_add_position_context(db, sent, err);
        return false;
    }
    return refuse(sent->file, shape, sent->statement, count, examples, err);
}

bool
pd_precheck_run(PdArena *arena, PdDb *db, const PdApplySql *section, PdError *err)
{
    const char **statements;
    size_t count, risky = 0;
    const char *where = section->file->path != NULL ? section->file->path : section->file->name;
    if (!pd_migration_split_statements(arena, section->section, where, section->first_line, &statements,
                                       &count, err))
        return false;
    Shape *shapes = pd_arena_calloc(arena, count + 1, sizeof(*shapes));
    if (shapes == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        shapes[i] = read_shape(arena, statements[i]);
        risky += shapes[i].kind != CHECK_NONE;
    }
    if (risky == 0) /* nothing existing rows can break: the section in one round trip */
    {
        if (pd_db_exec(db, section->section, err))
            return true;
        pd_apply_add_position_context(db, section, err);
        return false;
    }
    for (size_t i = 0; i < count; i++)
    {
        PdApplySql sent = *section;
        sent.statement = statements[i];
        if (shapes[i].kind != CHECK_NONE)
        {
            if (!run_checked(arena, db, &sent, &shapes[i], err))
                return false;
        }
        else if (!pd_db_exec(db, statements[i], err))
        {
            pd_apply_add_position_context(db, &sent, err);
            return false;
        }
    }
    return true;
}

bool
pd_precheck_concurrent(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err)
{
    const char **statements;
    size_t count;
    const char *where = file->path != NULL ? file->path : file->name;
    if (file->up_concurrently_sql == NULL || file->up_concurrently_sql[0] == '\0')
        return true;
    if (!pd_migration_split_statements(arena, file->up_concurrently_sql, where, file->up_concurrently_line,
                                       &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        Shape shape = read_shape(arena, statements[i]);
        long long broken = 0;
        const char *examples = NULL;
        if (shape.kind != CHECK_UNIQUE && shape.kind != CHECK_VALIDATE)
            continue;
        if (!count_breaking(arena, db, &shape, &broken, &examples, err))
            return pd_error_context(err, "while checking the data for %s", file->name);
        if (broken > 0)
            return refuse(file, &shape, statements[i], broken, examples, err);
    }
    return true;
}

/* How many statements of sql (a section) have a shape existing rows can break. */
static bool
count_risky(PdArena *arena, const PdMigrationFile *file, const char *sql, int first_line, size_t *risky,
            PdError *err)
{
    const char **statements;
    size_t count;
    const char *where = file->path != NULL ? file->path : file->name;
    if (sql == NULL || sql[0] == '\0')
        return true;
    if (!pd_migration_split_statements(arena, sql, where, first_line, &statements, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
        *risky += read_shape(arena, statements[i]).kind != CHECK_NONE;
    return true;
}

bool
pd_precheck_is_needed(PdArena *arena, const PdMigrationFile *file, bool *is_needed, PdError *err)
{
    size_t risky = 0;
    if (!count_risky(arena, file, file->up_sql, file->up_line, &risky, err) ||
        !count_risky(arena, file, file->up_concurrently_sql, file->up_concurrently_line, &risky, err))
        return false;
    *is_needed = risky > 0;
    return true;
}

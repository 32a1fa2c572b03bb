/*
 * schema.c - the database objects a catalog implies: for a field, its column
 * (type, NOT NULL, default) and the constraints and index it owns; for a
 * many-to-many field, its join table; for unique(...) and index(...), the
 * composite object. Every name comes from the model's naming helpers, so the
 * planner, the drift check and the query library agree on them. Objects are
 * derived for a given table and column name: the planner derives an old
 * field's objects under the new names to see what an ALTER must change, and
 * under both old and new names to see what a rename must rename.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "plan.h"

/* A name for an object of the whole table ("book_pkey"). */
static char *
table_object_name(PlanContext *ctx, const char *table, const char *suffix)
{
    return pd_model_constraint_name(ctx->arena, table, NULL, suffix);
}

/* A number as PostgreSQL reads it unquoted: -12, 3.50, .5, 1e3. Anything else is quoted. */
static bool
is_plain_number(const char *text)
{
    const char *c = text;
    if (*c == '-' || *c == '+')
        c++;
    bool has_digits = false;
    while (isdigit((unsigned char)*c))
        c++, has_digits = true;
    if (*c == '.')
        for (c++; isdigit((unsigned char)*c); c++)
            has_digits = true;
    if (!has_digits)
        return false;
    if (*c == 'e' || *c == 'E')
    {
        c++;
        if (*c == '-' || *c == '+')
            c++;
        if (!isdigit((unsigned char)*c))
            return false;
        while (isdigit((unsigned char)*c))
            c++;
    }
    return *c == '\0';
}

/* A literal compared with or stored in a column of `type` (type_sql spelled): bare when PostgreSQL types it
 * right, else quoted. */
void
pd_plan_schema_value(PdStrbuf *buf, const PdLiteral *literal, const PdColumnType *type, const char *type_sql,
                     bool is_cast)
{
    PdKindFamily family = pd_kind_info(type->kind)->family;
    bool is_number_column = family == PD_FAMILY_INTEGER || family == PD_FAMILY_NUMERIC;
    if (literal->kind == PD_LITERAL_NULL)
        pd_strbuf_append(buf, "NULL");
    else if (literal->kind == PD_LITERAL_NUMBER && is_number_column && is_plain_number(literal->text))
        pd_strbuf_append(buf, literal->text);
    else if (literal->kind == PD_LITERAL_BOOL && family == PD_FAMILY_BOOLEAN)
        pd_strbuf_append(buf, strcmp(literal->text, "true") == 0 ? "true" : "false");
    else if (family == PD_FAMILY_BINARY)
    {
        /* The model language writes bytes as base64 (docs/models.md): store the bytes, not the text. */
        pd_strbuf_append(buf, "decode(");
        pd_strbuf_append_literal(buf, literal->text);
        pd_strbuf_append(buf, ", 'base64')");
    }
    else
    {
        pd_strbuf_append_literal(buf, literal->text);
        if (is_cast && family != PD_FAMILY_TEXT)
            pd_strbuf_appendf(buf, "::%s", type_sql);
    }
}

/* An element of an array constant as PostgreSQL's array_out writes it: bare when it can be, else quoted. */
static void
append_array_element(PdStrbuf *buf, const PdLiteral *item)
{
    const char *text = item->text;
    if (item->kind == PD_LITERAL_BOOL)
    {
        pd_strbuf_append(buf, strcmp(text, "true") == 0 ? "t" : "f");
        return;
    }
    /* PostgreSQL reads an unquoted NULL in any case as a null element, and \v, \f as blanks. */
    bool is_bare = text[0] != '\0' && strcspn(text, "{}\",\\ \t\n\r\v\f") == strlen(text) &&
                   strcasecmp(text, "NULL") != 0;
    if (is_bare)
    {
        pd_strbuf_append(buf, text);
        return;
    }
    pd_strbuf_append_char(buf, '"');
    for (const char *c = text; *c != '\0'; c++)
    {
        if (*c == '"' || *c == '\\')
            pd_strbuf_append_char(buf, '\\');
        pd_strbuf_append_char(buf, *c);
    }
    pd_strbuf_append_char(buf, '"');
}

/* An array field's default: '{1,2}'::integer[], the form PostgreSQL deparses the constant back to. */
static const char *
array_default_sql(PlanContext *ctx, const PdLiteral *literal, const char *type_sql)
{
    PdStrbuf text, buf;
    pd_strbuf_init(&text, ctx->arena);
    pd_strbuf_append_char(&text, '{');
    for (size_t i = 0; i < literal->item_count; i++)
    {
        pd_strbuf_append(&text, i > 0 ? "," : "");
        append_array_element(&text, &literal->items[i]);
    }
    pd_strbuf_append_char(&text, '}');
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append_literal(&buf, pd_strbuf_text(&text));
    pd_strbuf_appendf(&buf, "::%s", type_sql);
    return pd_strbuf_text(&buf);
}

static const char *
default_sql(PlanContext *ctx, const PdField *field, const FieldObjects *objects)
{
    switch (field->default_value.kind)
    {
        case PD_DEFAULT_NONE:
            return NULL;
        case PD_DEFAULT_NOW:
            /* now() in a date or time column would be cast from a timestamp with time zone: the kind table
             * says what is meant (CURRENT_DATE, LOCALTIME). */
            return pd_kind_info(field->kind)->now_sql;
        case PD_DEFAULT_UUID:
            return "gen_random_uuid()";
        case PD_DEFAULT_SERIAL:
            return NULL; /* the column is made serial: its own sequence is its default (serial_type) */
        case PD_DEFAULT_LITERAL:
            break;
    }
    if (field->is_array)
        return array_default_sql(ctx, &field->default_value.literal, objects->type_sql);
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_plan_schema_value(&buf, &field->default_value.literal, &objects->type, objects->type_sql, true);
    return pd_strbuf_text(&buf);
}

const char *
pd_plan_schema_operator(PdCheckOp op)
{
    switch (op)
    {
        case PD_CHECK_EQ:
            return "=";
        case PD_CHECK_NE:
            return "<>";
        case PD_CHECK_LT:
            return "<";
        case PD_CHECK_LE:
            return "<=";
        case PD_CHECK_GT:
            return ">";
        case PD_CHECK_GE:
            return ">=";
    }
    return "=";
}

/* One check(...): <column> <op> <literal>, with = NULL and <> NULL spelled IS [NOT] NULL. */
static const char *
check_sql(PlanContext *ctx, const PdCheck *check, const FieldObjects *objects)
{
    const char *column = objects->column;
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append_identifier(&buf, column);
    if (check->value.kind == PD_LITERAL_NULL && (check->op == PD_CHECK_EQ || check->op == PD_CHECK_NE))
        pd_strbuf_append(&buf, check->op == PD_CHECK_EQ ? " IS NULL" : " IS NOT NULL");
    else
    {
        pd_strbuf_appendf(&buf, " %s ", pd_plan_schema_operator(check->op));
        pd_plan_schema_value(&buf, &check->value, &objects->type, objects->type_sql, false);
    }
    return pd_strbuf_text(&buf);
}

static const char *
choices_sql(PlanContext *ctx, const PdField *field, const FieldObjects *objects)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append_identifier(&buf, objects->column);
    pd_strbuf_append(&buf, " IN (");
    for (size_t i = 0; i < field->choice_count; i++)
    {
        if (i > 0)
            pd_strbuf_append(&buf, ", ");
        pd_plan_schema_value(&buf, &field->choices[i].value, &objects->type, objects->type_sql, false);
    }
    pd_strbuf_append(&buf, ")");
    return pd_strbuf_text(&buf);
}

/* Each check(...) is one constraint, named as PostgreSQL would (_check, _check1, ...); choices one more. */
static bool
field_checks(PlanContext *ctx, const char *table, const PdField *field, FieldObjects *out)
{
    size_t count = field->check_count + (field->choice_count > 0);
    if (count == 0)
        return true;
    out->check_names = pd_arena_calloc(ctx->arena, count, sizeof(char *));
    out->check_sqls = pd_arena_calloc(ctx->arena, count, sizeof(char *));
    if (out->check_names == NULL || out->check_sqls == NULL)
        return false;
    for (size_t i = 0; i < field->check_count; i++)
    {
        out->check_names[i] = pd_model_check_constraint_name(ctx->arena, table, out->column, i);
        out->check_sqls[i] = check_sql(ctx, &field->checks[i], out);
    }
    if (field->choice_count > 0)
    {
        out->check_names[field->check_count] =
            pd_model_constraint_name(ctx->arena, table, out->column, "choices");
        out->check_sqls[field->check_count] = choices_sql(ctx, field, out);
    }
    out->check_count = count;
    return true;
}

static const char *
on_delete_sql(PdOnDelete on_delete)
{
    switch (on_delete)
    {
        case PD_ON_DELETE_CASCADE:
            return "CASCADE";
        case PD_ON_DELETE_RESTRICT:
            return "RESTRICT";
        case PD_ON_DELETE_PROTECT:
            return "NO ACTION";
        case PD_ON_DELETE_SET_NULL:
            return "SET NULL";
        case PD_ON_DELETE_SET_DEFAULT:
            return "SET DEFAULT";
    }
    return "CASCADE";
}

/* FOREIGN KEY ("column") REFERENCES "table" ("target_column") ON DELETE ..., without deferrability. */
static const char *
foreign_key_sql(PlanContext *ctx, const char *column, const char *table, const char *target_column,
                PdOnDelete on_delete)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "FOREIGN KEY (");
    pd_strbuf_append_identifier(&buf, column);
    pd_strbuf_append(&buf, ") REFERENCES ");
    pd_strbuf_append_identifier(&buf, table);
    pd_strbuf_append(&buf, " (");
    pd_strbuf_append_identifier(&buf, target_column);
    pd_strbuf_appendf(&buf, ") ON DELETE %s", on_delete_sql(on_delete));
    return pd_strbuf_text(&buf);
}

ModelRef
pd_plan_schema_model_ref(PlanContext *ctx, const PdModel *model)
{
    const PdField *pk = pd_model_primary_key(model);
    ModelRef ref = {model->name, model->table, pk != NULL ? pk->column : "id",
                    pk != NULL ? pd_model_column_type(ctx->arena, pk) : "bigint"};
    return ref;
}

/* An index of its own: asked for (index, slug, foreign keys unless no_index), and not covered by a unique
 * one. */
static bool
needs_index(const PdField *field)
{
    return field->is_indexed && !field->is_unique && !field->is_primary_key &&
           field->kind != PD_FIELD_ONE_TO_ONE && field->kind != PD_FIELD_MANY_TO_MANY;
}

/*
 * The index of search=trigram, USING gin ("col" gin_trgm_ops), which serves ILIKE '%term%' on the column (the
 * query library writes "col"::text ILIKE $n, a relabelling the planner looks through); or of search=fulltext,
 * USING gin (to_tsvector('config'::regconfig, COALESCE("col"::text, ''::text))): the regconfig given
 * explicitly makes the expression immutable, and src/query/condition.c writes the same expression for
 * ?search=, so the index serves it. NULL for other fields.
 */
static const char *
search_index_sql(PlanContext *ctx, const char *column, const PdField *field)
{
    if (field->search != PD_SEARCH_TRIGRAM && field->search != PD_SEARCH_FULLTEXT)
        return NULL;
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    if (field->search == PD_SEARCH_TRIGRAM)
    {
        pd_strbuf_append(&buf, "USING gin (");
        pd_strbuf_append_identifier(&buf, column);
        pd_strbuf_append(&buf, " gin_trgm_ops)");
        return pd_strbuf_text(&buf);
    }
    pd_strbuf_append(&buf, "USING gin (to_tsvector(");
    pd_strbuf_append_literal(&buf, field->search_config);
    pd_strbuf_append(&buf, "::regconfig, COALESCE(");
    pd_strbuf_append_identifier(&buf, column);
    pd_strbuf_append(&buf, "::text, ''::text)))");
    return pd_strbuf_text(&buf);
}

const char **
pd_plan_schema_extensions(PdArena *arena, const PdCatalog *catalog)
{
    static const char *known[] = {"citext", "pg_trgm"};
    bool is_needed[2] = {false, false};
    for (size_t m = 0; m < catalog->model_count; m++)
        for (size_t f = 0; f < catalog->models[m].field_count; f++)
            for (int e = 0; pd_model_field_extension(&catalog->models[m].fields[f], e) != NULL; e++)
                for (int k = 0; k < 2; k++)
                    if (strcmp(pd_model_field_extension(&catalog->models[m].fields[f], e), known[k]) == 0)
                        is_needed[k] = true;
    const char **out = pd_arena_calloc(arena, 3, sizeof(char *));
    if (out == NULL)
        return NULL;
    size_t count = 0;
    for (int k = 0; k < 2; k++)
        if (is_needed[k])
            out[count++] = known[k];
    return out;
}

bool
pd_plan_schema_field(PlanContext *ctx, const char *table, const char *column, const PdField *field,
                     const ModelRef *target, FieldObjects *out)
{
    memset(out, 0, sizeof(*out));
    out->field = field;
    out->table = table;
    out->column = column;
    out->type = (PdColumnType){.kind = field->kind};
    out->type_sql = "";
    if (pd_model_column_type_of(field, &out->type))
        out->type_sql = pd_kind_column_sql(ctx->arena, &out->type);
    out->is_identity = field->kind == PD_FIELD_AUTO;
    if (field->default_value.kind == PD_DEFAULT_SERIAL)
        out->serial_type = pd_kind_info(field->kind)->serial_sql;
    out->is_not_null = !field->is_nullable || field->is_primary_key || out->is_identity;
    out->default_sql = default_sql(ctx, field, out);
    out->generated_sql = pd_plan_generated_sql(ctx, field);
    if (field->backfill != NULL)
    {
        PdStrbuf backfill;
        pd_strbuf_init(&backfill, ctx->arena);
        pd_plan_schema_value(&backfill, field->backfill, &out->type, out->type_sql, true);
        out->backfill_sql = pd_strbuf_text(&backfill);
    }
    if (field->is_primary_key || out->is_identity)
        out->pkey_name = table_object_name(ctx, table, "pkey");
    else if (field->is_unique || field->kind == PD_FIELD_ONE_TO_ONE)
        out->unique_name = pd_model_constraint_name(ctx->arena, table, column, "key");
    if (!field_checks(ctx, table, field, out))
        return pd_arena_error(ctx->arena, ctx->err);
    if ((field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE) && target != NULL)
    {
        /* A given name is kept as written: it follows no rename of the table or the column. */
        out->fk_name = field->fk_name != NULL ? field->fk_name
                                              : pd_model_constraint_name(ctx->arena, table, column, "fkey");
        out->fk_reference_sql =
            foreign_key_sql(ctx, column, target->table, target->pk_column, field->on_delete);
        out->is_fk_deferrable = field->is_deferrable;
        out->fk_sql = !field->is_deferrable ? out->fk_reference_sql
                                            : pd_arena_sprintf(ctx->arena, "%s DEFERRABLE INITIALLY DEFERRED",
                                                               out->fk_reference_sql);
    }
    if (needs_index(field))
    {
        out->index_name = pd_model_constraint_name(ctx->arena, table, column, "idx");
        out->index_columns_sql = pd_plan_schema_field_index_columns(ctx->arena, field, column);
    }
    if (field->search == PD_SEARCH_TRIGRAM || field->search == PD_SEARCH_FULLTEXT)
    {
        out->search_index_name = pd_model_search_index_name(ctx->arena, table, column, field);
        out->search_index_sql = search_index_sql(ctx, column, field);
    }
    if (pd_arena_failed(ctx->arena))
        return pd_arena_error(ctx->arena, ctx->err);
    return true;
}

/* A field index's columns: ("col"), or USING gin ("col") for an array, so that @>, <@ and && use it. */
const char *
pd_plan_schema_field_index_columns(PdArena *arena, const PdField *field, const char *column)
{
    const char *columns = pd_plan_ddl_columns(arena, column);
    return field->is_array && columns != NULL ? pd_arena_sprintf(arena, "USING gin %s", columns) : columns;
}

bool
pd_plan_schema_join(PlanContext *ctx, const char *through, const ModelRef *owner, const ModelRef *target,
                    JoinObjects *out)
{
    memset(out, 0, sizeof(*out));
    out->table = through;
    /* The naming helper reads only the two models' names: stand-ins carry the names asked for. */
    PdModel owner_model = {.name = owner->name, .table = owner->table};
    PdModel target_model = {.name = target->name, .table = target->table};
    PdField field = {.kind = PD_FIELD_MANY_TO_MANY, .target_name = target->name, .target = &target_model};
    char *columns[2];
    if (!pd_model_through_columns(ctx->arena, &owner_model, &field, &columns[0], &columns[1]))
        return pd_arena_error(ctx->arena, ctx->err);
    out->columns[0] = columns[0];
    out->columns[1] = columns[1];
    const ModelRef *ends[2] = {owner, target};
    for (int i = 0; i < 2; i++)
    {
        out->types[i] = ends[i]->pk_type;
        out->targets[i] = ends[i]->table;
        out->target_pks[i] = ends[i]->pk_column;
        out->fk_names[i] = pd_model_constraint_name(ctx->arena, through, out->columns[i], "fkey");
    }
    out->pkey_name = table_object_name(ctx, through, "pkey");
    char *pair = pd_arena_sprintf(ctx->arena, "%s_%s", out->columns[0], out->columns[1]);
    out->unique_name = pd_model_constraint_name(ctx->arena, through, pair, "key");
    out->index_name = pd_model_constraint_name(ctx->arena, through, out->columns[1], "idx");
    if (pd_arena_failed(ctx->arena))
        return pd_arena_error(ctx->arena, ctx->err);
    return true;
}

const char *
pd_plan_schema_index_columns(PlanContext *ctx, const PdIndex *index, const char *const *columns)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    pd_strbuf_append(&buf, "(");
    for (size_t i = 0; i < index->field_count; i++)
    {
        if (i > 0)
            pd_strbuf_append(&buf, ", ");
        const char *function = index->functions != NULL ? index->functions[i] : NULL;
        if (function != NULL) /* lower or upper, as the checker allows: written by us, not copied */
            pd_strbuf_append(&buf, strcmp(function, "upper") == 0 ? "upper(" : "lower(");
        pd_strbuf_append_identifier(&buf, columns[i]);
        if (function != NULL)
            pd_strbuf_append_char(&buf, ')');
        if (index->opclasses != NULL && index->opclasses[i] != NULL)
        {
            pd_strbuf_append_char(&buf, ' ');
            pd_strbuf_append_identifier(&buf, index->opclasses[i]);
        }
    }
    pd_strbuf_append(&buf, ")");
    return pd_strbuf_text(&buf);
}

const char *
pd_plan_schema_index_where(PlanContext *ctx, const char *columns_sql, const char *where_sql)
{
    return where_sql == NULL ? NULL : pd_arena_sprintf(ctx->arena, "%s WHERE (%s)", columns_sql, where_sql);
}

bool
pd_plan_schema_index(PlanContext *ctx, const PdModel *model, const PdIndex *index, IndexObjects *out)
{
    out->table = model->table;
    out->is_unique = index->is_unique;
    out->name = index->name != NULL ? index->name : pd_model_index_name(ctx->arena, model, index);
    const char **columns = pd_arena_calloc(ctx->arena, index->field_count + 1, sizeof(char *));
    if (columns == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < index->field_count; i++)
    {
        const PdField *field = pd_model_find_field(model, index->fields[i]);
        columns[i] = field != NULL && field->column != NULL ? field->column : index->fields[i];
    }
    out->is_constraint = index->is_unique && index->where == NULL && index->functions == NULL;
    out->columns_sql = pd_plan_schema_index_columns(ctx, index, columns);
    if (out->columns_sql != NULL && index->where != NULL)
        out->columns_sql = pd_plan_schema_index_where(ctx, out->columns_sql,
                                                      pd_plan_expr_sql(ctx, model, NULL, index->where));
    if (out->name == NULL || out->columns_sql == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    return true;
}

char *
pd_plan_schema_index_fields(PlanContext *ctx, const PdIndex *index)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    for (size_t i = 0; i < index->field_count; i++)
    {
        pd_strbuf_appendf(&buf, "%s%s", i > 0 ? ", " : "", index->fields[i]);
        if (index->opclasses != NULL && index->opclasses[i] != NULL)
            pd_strbuf_appendf(&buf, " %s", index->opclasses[i]);
    }
    return (char *)pd_strbuf_text(&buf);
}

char *
pd_plan_schema_field_summary(PlanContext *ctx, const PdField *field)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, ctx->arena);
    const char *type = pd_model_type_text(ctx->arena, field);
    pd_strbuf_append(&buf, type != NULL ? type : "");
    if (field->kind == PD_FIELD_ONE_TO_ONE)
        pd_strbuf_append(&buf, " one_to_one");
    if (field->is_nullable)
        pd_strbuf_append(&buf, " null");
    if (field->is_primary_key)
        pd_strbuf_append(&buf, " primary_key");
    if (field->is_unique)
        pd_strbuf_append(&buf, " unique");
    if (needs_index(field) && !pd_kind_info(field->kind)->is_indexed_by_default)
        pd_strbuf_append(&buf, " index");
    if (field->search == PD_SEARCH_TRIGRAM || field->search == PD_SEARCH_FULLTEXT)
        pd_strbuf_appendf(&buf, " search=%s", pd_model_search_name(field->search));
    if (field->is_auto_now_add || field->is_auto_now)
        pd_strbuf_append(&buf, field->is_auto_now ? " auto_now" : " auto_now_add");
    else if (field->default_value.kind == PD_DEFAULT_NOW)
        pd_strbuf_append(&buf, " default=now");
    else if (field->default_value.kind == PD_DEFAULT_UUID)
        pd_strbuf_append(&buf, " default=uuid");
    else if (field->default_value.kind == PD_DEFAULT_SERIAL)
        pd_strbuf_append(&buf, " default=serial");
    else if (field->default_value.kind == PD_DEFAULT_LITERAL)
        pd_strbuf_appendf(
            &buf, field->default_value.literal.kind == PD_LITERAL_STRING ? " default=\"%s\"" : " default=%s",
            field->default_value.literal.text);
    if (field->generated != NULL)
        pd_strbuf_appendf(&buf, " generated(%s)", pd_plan_generated_sql(ctx, field));
    if (field->fk_name != NULL)
        pd_strbuf_appendf(&buf, " fk_name=\"%s\"", field->fk_name);
    if (field->is_deferrable)
        pd_strbuf_append(&buf, " deferrable");
    return (char *)pd_strbuf_text(&buf);
}

/*
 * refusal.c - what the database refused, in Django REST Framework's words.
 * The writers send no SELECT before an INSERT: a taken unique key, a foreign
 * key to nothing, a check or a not null is found by PostgreSQL, and its error
 * (sqlstate, constraint name, column, detail) is turned here into the problem
 * DRF would have reported, under the API field's name. Constraint names are
 * matched against the names the model derives (pd_model_constraint_name and
 * friends), the same ones the migrations created, never parsed from text;
 * only the offending key's value is read from the server's detail.
 */
#include <stdio.h>
#include <string.h>

#include "values.h"

typedef struct Refusal
{
    PdArena *arena;
    const PdModel *model;
    const PdValueParam *params;
    const char *constraint;
    const char *column;
    const char *detail;
} Refusal;

/* Django's verbose names: "BookReview" -> "book review", "in_stock" -> "in stock". */
static char *
verbose(PdArena *arena, const char *snake)
{
    char *text = pd_arena_strdup(arena, snake);
    for (char *c = text; c != NULL && *c != '\0'; c++)
        if (*c == '_')
            *c = ' ';
    return text;
}

static bool
same(const char *name, const char *constraint)
{
    return name != NULL && strcmp(name, constraint) == 0;
}

/* The value of "Key (a, b)=(x, y)" in a detail, as text ("" when absent). */
static const char *
key_value(PdArena *arena, const char *detail)
{
    const char *start = strstr(detail, ")=(");
    if (start == NULL)
        return "";
    start += 3;
    const char *end = strrchr(start, ')');
    return end != NULL ? pd_arena_strndup(arena, start, (size_t)(end - start)) : "";
}

static const PdField *
field_of_column(const PdModel *model, const char *column)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].column != NULL && strcmp(model->fields[i].column, column) == 0)
            return &model->fields[i];
    return NULL;
}

static bool
problem(PdError *err, const char *field, const char *message)
{
    return pd_error_add_problem(err, NULL, 0, 0, field, "%s", message);
}

static bool
unique_problem(const Refusal *r, PdError *err)
{
    const PdModel *model = r->model;
    char *model_name = verbose(r->arena, pd_model_snake_case(r->arena, model->name));
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (field->column == NULL)
            continue;
        bool is_key = field->is_primary_key || field->kind == PD_FIELD_AUTO;
        const char *name = pd_model_constraint_name(r->arena, model->table, is_key ? NULL : field->column,
                                                    is_key ? "pkey" : "key");
        if ((field->is_unique || is_key || field->kind == PD_FIELD_ONE_TO_ONE) && same(name, r->constraint))
            return problem(err, field->name,
                           pd_arena_sprintf(r->arena, "%s with this %s already exists.", model_name,
                                            verbose(r->arena, field->name)));
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *index = &model->indexes[i];
        if (!index->is_unique || !same(pd_model_index_name(r->arena, model, index), r->constraint))
            continue;
        PdStrbuf names;
        pd_strbuf_init(&names, r->arena);
        for (size_t f = 0; f < index->field_count; f++)
            pd_strbuf_appendf(&names, "%s%s", f > 0 ? ", " : "", index->fields[f]);
        return problem(
            err, "non_field_errors",
            pd_arena_sprintf(r->arena, "The fields %s must make a unique set.", pd_strbuf_text(&names)));
    }
    if (model->key_field_count > 0 && same(pd_model_constraint_name(r->arena, model->table, NULL, "pkey"),
                                           r->constraint)) /* primary_key(a, b): as a unique(a, b) */
    {
        PdStrbuf names;
        pd_strbuf_init(&names, r->arena);
        for (size_t f = 0; f < model->key_field_count; f++)
            pd_strbuf_appendf(&names, "%s%s", f > 0 ? ", " : "", model->key_fields[f]);
        return problem(
            err, "non_field_errors",
            pd_arena_sprintf(r->arena, "The fields %s must make a unique set.", pd_strbuf_text(&names)));
    }
    return false;
}

/* A foreign key of the model, or the join table of a many-to-many field, pointing at nothing. */
static bool
foreign_key_problem(const Refusal *r, PdError *err)
{
    const PdModel *model = r->model;
    const char *value = key_value(r->arena, r->detail);
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        const char *name = NULL;
        if (field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE)
            name = pd_model_foreign_key_name(r->arena, model, field);
        else if (field->kind == PD_FIELD_MANY_TO_MANY)
        {
            char *source = NULL, *target = NULL;
            if (pd_model_through_columns(r->arena, model, field, &source, &target))
                name = pd_model_constraint_name(r->arena, field->through_table, target, "fkey");
        }
        if (same(name, r->constraint))
            return problem(err, field->name,
                           pd_arena_sprintf(r->arena, "Invalid pk \"%s\" - object does not exist.", value));
    }
    return false;
}

static bool
check_problem(const Refusal *r, PdError *err)
{
    const PdModel *model = r->model;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (field->column == NULL)
            continue;
        for (size_t c = 0; c < field->check_count; c++)
            if (same(pd_model_check_constraint_name(r->arena, model->table, field->column, c), r->constraint))
                return problem(err, field->name, pd_query_check_message(r->arena, &field->checks[c]));
        if (field->choice_count > 0 &&
            same(pd_model_constraint_name(r->arena, model->table, field->column, "choices"), r->constraint))
        {
            const PdValueParam *param = r->params != NULL ? &r->params[i] : NULL;
            const char *text = param != NULL && param->text != NULL ? param->text : "";
            return problem(err, field->name,
                           pd_arena_sprintf(r->arena, "\"%s\" is not a valid choice.", text));
        }
    }
    return false;
}

static bool
not_null_problem(const Refusal *r, PdError *err)
{
    const PdField *field = field_of_column(r->model, r->column);
    return field != NULL && problem(err, field->name, "This field may not be null.");
}

/* Keeps the server's words and names for the caller's logs, under the problem in DRF's words. */
static bool
map(const Refusal *r, const PdError *server, bool (*mapper)(const Refusal *, PdError *), PdError *err)
{
    PdError mapped = {0};
    mapper(r, &mapped);
    if (mapped.code == PD_OK)
        return false;
    memcpy(mapped.sqlstate, server->sqlstate, sizeof(mapped.sqlstate));
    snprintf(mapped.detail, sizeof(mapped.detail), "%s", server->detail);
    snprintf(mapped.constraint, sizeof(mapped.constraint), "%s", server->constraint);
    *err = mapped;
    return false;
}

bool
pd_query_refusal(PdArena *arena, const PdModel *model, const PdValueParam *params, PdError *err)
{
    if (err->code != PD_ERR_INVALID_INPUT || err->problem_count > 0)
        return false;
    PdError server = *err;
    Refusal r = {arena, model, params, server.constraint, server.field, server.detail};
    if (strcmp(server.sqlstate, "23505") == 0)
        map(&r, &server, unique_problem, err);
    else if (strcmp(server.sqlstate, "23503") == 0)
        map(&r, &server, foreign_key_problem, err);
    else if (strcmp(server.sqlstate, "23514") == 0)
        map(&r, &server, check_problem, err);
    else if (strcmp(server.sqlstate, "23502") == 0)
        map(&r, &server, not_null_problem, err);
    return false;
}

/*
 * inherit.c - abstract models (Django's `class Meta: abstract = True`). An
 * `abstract model` has no table, resource or state of its own: between the
 * parser and the checker, its lines are copied into every model that
 * `extends` it, so the checker, the canonical form, the planner, queries and
 * REST only ever see concrete models, each complete. A model's fields are its
 * bases' fields first (bases in the order written, each base flattened
 * before, as Django puts inherited fields first), then its own; a field of
 * the model itself replaces an inherited one of its name (Django lets a
 * child override a field of an abstract base). Indexes, unique(...) and
 * check(...) directives of the bases come before the model's own, `%(class)s`
 * in a name given to one of them replaced by the model's table; the ordering
 * is the model's own, else that of its first base that has one; access, when
 * the model says none. What is reached twice (A and B both extend T) is the
 * same line, taken once; two different fields of one name from two bases are
 * a problem. Copies share the bases' syntax, positions included, so a mistake
 * in a base is reported at its line in the base. Every problem is collected
 * as the checker does; on any, *syntax is left alone.
 */
#include <string.h>

#include "prodata/strbuf.h"
#include "prodata/strmap.h"

#include "syntax.h"

#define CLASS_MARK "%(class)s"

typedef struct Inheritor
{
    PdArena *arena;
    PdError *err;      /* the problem being raised */
    PdError *problems; /* every problem found, in the order found */
    bool is_fatal;     /* memory ran out */
    PdFileSyntax *syntax;
    PdStrmap *by_name; /* model name -> PdModelSyntax (the first of that name) */
    int *state;        /* per model: 0 not flattened, 1 under way (a cycle when met again), 2 done */
} Inheritor;

static bool
fail_memory(Inheritor *in)
{
    in->is_fatal = true;
    return pd_arena_error(in->arena, in->err);
}

/* Moves the raised problem into the list; false only when memory ran out. */
static bool
report(Inheritor *in)
{
    if (in->is_fatal)
        return false;
    PdError *raised = in->err;
    if (in->problems->code == PD_OK)
        *in->problems = *raised;
    else
        for (size_t i = 0; i < raised->problem_count; i++)
            pd_error_add_problem(in->problems, raised->problems[i].pos.file, raised->problems[i].pos.line,
                                 raised->problems[i].pos.column, raised->problems[i].field, "%s",
                                 raised->problems[i].message);
    pd_error_clear(raised);
    return true;
}

static const char *
file_of(PdSourcePos pos)
{
    return pos.file != NULL ? pos.file : "input";
}

static bool
same_pos(PdSourcePos a, PdSourcePos b)
{
    return a.line == b.line && a.column == b.column && file_of(a) == file_of(b);
}

/* An abstract model's name in a name given to one of its indexes or checks must carry %(class)s. */
static bool
check_abstract_name(Inheritor *in, const PdModelSyntax *model, const char *name, PdSourcePos pos,
                    const char *what)
{
    if (name == NULL || strstr(name, CLASS_MARK) != NULL)
        return true;
    pd_model_error_at(in->err, pos,
                      "name \"%s\" of %s in abstract model %s would be the same in every model extending it, "
                      "expected a name with %s (replaced by each model's table)",
                      name, what, model->model.name, CLASS_MARK);
    return report(in);
}

/* What an abstract model may not say: table, resource, primary_key(...), names given without %(class)s. */
static bool
check_abstract(Inheritor *in, const PdModelSyntax *model)
{
    const char *word = model->model.table != NULL      ? "table"
                       : model->model.resource != NULL ? "resource"
                                                       : NULL;
    if (word != NULL)
    {
        pd_model_error_at(in->err, model->model.table != NULL ? model->table_pos : model->resource_pos,
                          "%s \"%s\" in abstract model %s, expected it in each model extending it (an "
                          "abstract model has no table or resource)",
                          word, model->model.table != NULL ? model->model.table : model->model.resource,
                          model->model.name);
        if (!report(in))
            return false;
    }
    if (model->model.key_field_count > 0)
    {
        pd_model_error_at(in->err, model->key_pos,
                          "primary_key(...) in abstract model %s, expected it in each model extending it",
                          model->model.name);
        if (!report(in))
            return false;
    }
    for (size_t i = 0; i < model->index_count; i++)
        if (!check_abstract_name(in, model, model->indexes[i].index.name, model->indexes[i].name_pos,
                                 model->indexes[i].index.is_unique ? "unique(...)" : "index(...)"))
            return false;
    for (size_t i = 0; i < model->model.check_count; i++)
        if (model->model.checks[i].is_named && !check_abstract_name(in, model, model->model.checks[i].name,
                                                                    model->check_name_pos[i], "check(...)"))
            return false;
    return true;
}

/* Model names (a clash involving an abstract model; the checker reports the others), bases and relation
 * targets. */
static bool
check_names(Inheritor *in)
{
    PdFileSyntax *syntax = in->syntax;
    for (size_t i = 0; i < syntax->model_count; i++)
    {
        PdModelSyntax *model = &syntax->models[i];
        const PdModelSyntax *first = pd_strmap_get(in->by_name, model->model.name);
        if (first == NULL && !pd_strmap_put(in->by_name, model->model.name, model))
            return fail_memory(in);
        if (first != NULL && (first->is_abstract || model->is_abstract))
        {
            if (file_of(first->model.pos) != file_of(model->model.pos))
                pd_model_error_at(
                    in->err, model->model.pos,
                    "model %s defined in %s:%d:%d and %s:%d:%d, expected each model once across "
                    "the model files",
                    model->model.name, file_of(first->model.pos), first->model.pos.line,
                    first->model.pos.column, file_of(model->model.pos), model->model.pos.line,
                    model->model.pos.column);
            else
                pd_model_error_at(in->err, model->model.pos,
                                  "model \"%s\" defined twice, expected each model once (first at line %d)",
                                  model->model.name, first->model.pos.line);
            if (!report(in))
                return false;
        }
    }
    for (size_t i = 0; i < syntax->model_count; i++)
    {
        const PdModelSyntax *model = &syntax->models[i];
        if (model->is_abstract && !check_abstract(in, model))
            return false;
        for (size_t b = 0; b < model->base_count; b++)
        {
            const PdModelSyntax *base = pd_strmap_get(in->by_name, model->bases[b]);
            if (base == NULL)
                pd_model_error_at(in->err, model->base_pos[b],
                                  "unknown model \"%s\" after extends, expected an abstract model of the "
                                  "model files",
                                  model->bases[b]);
            else if (!base->is_abstract)
                pd_model_error_at(in->err, model->base_pos[b],
                                  "model %s extends %s, which is not abstract, expected an abstract model "
                                  "(write \"abstract model %s\"; a model with a table cannot be extended)",
                                  model->model.name, base->model.name, base->model.name);
            if ((base == NULL || !base->is_abstract) && !report(in))
                return false;
        }
        for (size_t f = 0; f < model->field_count; f++)
        {
            const PdFieldSyntax *field = &model->fields[f];
            const PdModelSyntax *through = field->field.through_model_name == NULL
                                               ? NULL
                                               : pd_strmap_get(in->by_name, field->field.through_model_name);
            if (through != NULL && through->is_abstract)
            {
                pd_model_error_at(
                    in->err, field->option_pos[PD_OPTION_THROUGH],
                    "through model %s of field \"%s\" is abstract, which has no table, expected a "
                    "concrete model with a foreign key to each side",
                    through->model.name, field->field.name);
                if (!report(in))
                    return false;
            }
            const PdModelSyntax *target = pd_strmap_get(in->by_name, field->type_name);
            if (target == NULL || !target->is_abstract)
                continue;
            pd_model_error_at(in->err, field->type_pos,
                              "field \"%s\" of model %s relates to abstract model %s, which has no table, "
                              "expected a concrete model (one that extends %s)",
                              field->field.name, model->model.name, target->model.name, target->model.name);
            if (!report(in))
                return false;
        }
    }
    return true;
}

/* Grows *array (of *count items of size) by one; the new item's address, or NULL on exhaustion. */
static void *
push(Inheritor *in, void **array, size_t *count, size_t size)
{
    char *grown = pd_arena_grow(in->arena, *array, *count, *count + 1, size);
    if (grown == NULL)
        return NULL;
    *array = grown;
    return grown + (*count)++ * size;
}

/* The name with every %(class)s replaced by table; name itself when it has none. */
static const char *
class_name(Inheritor *in, const char *name, const char *table)
{
    if (name == NULL || strstr(name, CLASS_MARK) == NULL)
        return name;
    PdStrbuf out;
    pd_strbuf_init(&out, in->arena);
    for (const char *at = name, *mark; *at != '\0'; at = mark + strlen(CLASS_MARK))
    {
        mark = strstr(at, CLASS_MARK);
        if (mark == NULL)
        {
            pd_strbuf_append(&out, at);
            break;
        }
        pd_strbuf_append_length(&out, at, (size_t)(mark - at));
        pd_strbuf_append(&out, table);
    }
    return pd_strbuf_failed(&out) ? NULL : pd_strbuf_text(&out);
}

/* The base's fields, then the model's own, into *out; a field met twice through two bases is taken once when
 * it is the same line, a problem when not. */
static bool
merge_fields(Inheritor *in, PdModelSyntax *model, PdStrmap *own)
{
    PdFieldSyntax *fields = NULL;
    const char **from = NULL;
    size_t count = 0, from_count = 0;
    PdStrmap *seen = pd_strmap_new(in->arena, 16);
    if (seen == NULL)
        return fail_memory(in);
    for (size_t b = 0; b < model->base_count; b++)
    {
        const PdModelSyntax *base = pd_strmap_get(in->by_name, model->bases[b]);
        for (size_t f = 0; f < base->field_count; f++)
        {
            const PdFieldSyntax *field = &base->fields[f];
            if (pd_strmap_contains(own, field->field.name))
                continue;
            size_t at = (size_t)pd_strmap_get(seen, field->field.name);
            if (at != 0 && same_pos(fields[at - 1].field.pos, field->field.pos))
                continue;
            if (at != 0)
            {
                pd_model_error_at(
                    in->err, model->base_pos[b],
                    "field \"%s\" of model %s is inherited from both %s and %s, expected it from "
                    "one base (or defined in %s itself)",
                    field->field.name, model->model.name, from[at - 1], base->model.name, model->model.name);
                if (!report(in))
                    return false;
                continue;
            }
            PdFieldSyntax *slot = push(in, (void **)&fields, &count, sizeof(PdFieldSyntax));
            const char **name = push(in, (void **)&from, &from_count, sizeof(char *));
            if (slot == NULL || name == NULL || !pd_strmap_put(seen, field->field.name, (void *)count))
                return fail_memory(in);
            *slot = *field;
            *name = base->model.name;
        }
    }
    for (size_t f = 0; f < model->field_count; f++)
    {
        PdFieldSyntax *slot = push(in, (void **)&fields, &count, sizeof(PdFieldSyntax));
        if (slot == NULL)
            return fail_memory(in);
        *slot = model->fields[f];
    }
    if (push(in, (void **)&fields, &count, sizeof(PdFieldSyntax)) == NULL) /* one spare, as the parser */
        return fail_memory(in);
    model->fields = fields;
    model->field_count = count - 1;
    return true;
}

/* The bases' indexes, then the model's own; names given in a base with %(class)s made the model's. */
static bool
merge_indexes(Inheritor *in, PdModelSyntax *model, const char *table)
{
    PdIndexSyntax *indexes = NULL;
    size_t count = 0;
    for (size_t b = 0; b <= model->base_count; b++)
    {
        const PdModelSyntax *from =
            b < model->base_count ? pd_strmap_get(in->by_name, model->bases[b]) : model;
        for (size_t i = 0; i < from->index_count; i++)
        {
            size_t k = 0;
            while (k < count && !same_pos(indexes[k].index.pos, from->indexes[i].index.pos))
                k++;
            if (k < count)
                continue;
            PdIndexSyntax *slot = push(in, (void **)&indexes, &count, sizeof(PdIndexSyntax));
            if (slot == NULL)
                return fail_memory(in);
            *slot = from->indexes[i];
            if (from != model && (slot->index.name = class_name(in, slot->index.name, table)) == NULL &&
                from->indexes[i].index.name != NULL)
                return fail_memory(in);
        }
    }
    model->indexes = indexes;
    model->index_count = count;
    return true;
}

/* The bases' checks, then the model's own, as indexes are. */
static bool
merge_checks(Inheritor *in, PdModelSyntax *model, const char *table)
{
    PdModelCheck *checks = NULL;
    PdSourcePos *name_pos = NULL;
    size_t count = 0, pos_count = 0;
    for (size_t b = 0; b <= model->base_count; b++)
    {
        const PdModelSyntax *from =
            b < model->base_count ? pd_strmap_get(in->by_name, model->bases[b]) : model;
        for (size_t i = 0; i < from->model.check_count; i++)
        {
            size_t k = 0;
            while (k < count && !same_pos(checks[k].pos, from->model.checks[i].pos))
                k++;
            if (k < count)
                continue;
            PdModelCheck *slot = push(in, (void **)&checks, &count, sizeof(PdModelCheck));
            PdSourcePos *pos = push(in, (void **)&name_pos, &pos_count, sizeof(PdSourcePos));
            if (slot == NULL || pos == NULL)
                return fail_memory(in);
            *slot = from->model.checks[i];
            *pos = from->check_name_pos[i];
            if (from != model && slot->is_named && (slot->name = class_name(in, slot->name, table)) == NULL)
                return fail_memory(in);
        }
    }
    model->model.checks = checks;
    model->model.check_count = count;
    model->check_name_pos = name_pos;
    return true;
}

/* Ordering and access, when the model gives none: those of its first base that has them. */
static void
merge_directives(Inheritor *in, PdModelSyntax *model)
{
    for (size_t b = 0; b < model->base_count; b++)
    {
        const PdModelSyntax *base = pd_strmap_get(in->by_name, model->bases[b]);
        if (model->model.ordering_count == 0 && base->model.ordering_count > 0)
        {
            model->model.ordering = base->model.ordering;
            model->model.ordering_count = base->model.ordering_count;
            model->ordering_pos = base->ordering_pos;
        }
        if (model->access_pos.line == 0 && base->access_pos.line != 0)
        {
            model->model.read_access = base->model.read_access;
            model->model.write_access = base->model.write_access;
            model->access_pos = base->access_pos;
            memcpy(model->access_pos_of, base->access_pos_of, sizeof(model->access_pos_of));
            memcpy(model->role_pos_of, base->role_pos_of, sizeof(model->role_pos_of));
        }
    }
}

static bool
merge(Inheritor *in, PdModelSyntax *model)
{
    PdStrmap *own = pd_strmap_new(in->arena, model->field_count + 1);
    if (own == NULL)
        return fail_memory(in);
    for (size_t f = 0; f < model->field_count; f++)
        if (!pd_strmap_put(own, model->fields[f].field.name, NULL))
            return fail_memory(in);
    const char *table = model->model.table;
    if (table == NULL && (table = pd_model_snake_case(in->arena, model->model.name)) == NULL)
        return fail_memory(in);
    if (model->is_abstract)
        table = CLASS_MARK; /* named entries keep their mark until a concrete model takes them */
    if (!merge_fields(in, model, own) || !merge_indexes(in, model, table) || !merge_checks(in, model, table))
        return false;
    merge_directives(in, model);
    return true;
}

/* Flattens model i after its bases; a base met again while under way closes a cycle. */
static bool
flatten(Inheritor *in, size_t i)
{
    PdModelSyntax *model = &in->syntax->models[i];
    if (in->state[i] == 2)
        return true;
    in->state[i] = 1;
    bool is_ok = true;
    for (size_t b = 0; b < model->base_count && is_ok; b++)
    {
        const PdModelSyntax *base = pd_strmap_get(in->by_name, model->bases[b]);
        size_t at = (size_t)(base - in->syntax->models);
        if (in->state[at] == 1)
        {
            pd_model_error_at(in->err, model->base_pos[b],
                              "model %s extends %s, which extends %s, expected no cycle of extends",
                              model->model.name, base->model.name, model->model.name);
            is_ok = false;
            if (!report(in))
                return false;
        }
        else if (!flatten(in, at))
            is_ok = false;
    }
    if (is_ok && model->base_count > 0 && !merge(in, model))
        is_ok = false;
    in->state[i] = 2;
    return is_ok || !in->is_fatal;
}

bool
pd_model_inherit(PdArena *arena, PdFileSyntax *syntax, PdError *err)
{
    bool has_any = false;
    for (size_t i = 0; i < syntax->model_count; i++)
        has_any = has_any || syntax->models[i].is_abstract || syntax->models[i].base_count > 0;
    if (!has_any)
        return true;
    PdError raised, problems;
    pd_error_clear(&raised);
    pd_error_clear(&problems);
    Inheritor in = {.arena = arena, .err = &raised, .problems = &problems, .syntax = syntax};
    in.by_name = pd_strmap_new(arena, syntax->model_count);
    in.state = pd_arena_calloc(arena, syntax->model_count + 1, sizeof(int));
    if (in.by_name == NULL || in.state == NULL)
        return pd_arena_error(arena, err);
    if (check_names(&in) && problems.code == PD_OK)
        for (size_t i = 0; i < syntax->model_count && !in.is_fatal; i++)
            flatten(&in, i);
    if (in.is_fatal || problems.code != PD_OK)
    {
        *err = in.is_fatal ? raised : problems;
        return false;
    }
    size_t kept = 0;
    for (size_t i = 0; i < syntax->model_count; i++)
        if (!syntax->models[i].is_abstract)
            syntax->models[kept++] = syntax->models[i];
    syntax->model_count = kept;
    return true;
}

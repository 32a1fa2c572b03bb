/*
 * check.c - turns a parsed file into a catalog: model names, tables and
 * resources, the implicit id, each field (check_field.c), then what needs
 * the whole model or file: duplicate fields and columns, renamed_from hints,
 * values of relations (they depend on the target's key), ordering and
 * composite indexes, related names that would clash on a target, and one
 * namespace for every table and index name, as PostgreSQL has. It reports
 * every problem it can find, not only the first (as Django's system checks):
 * each model, field, ordering term, index or relation is judged on its own
 * and a problem in one is collected (capped, pd_error_add_problem) before the
 * next is judged. The steps depend on each other (fields need every model
 * name, relation values their target's key), so a step that found problems is
 * the last one run: no check judges what an earlier one refused, and one
 * mistake is reported once, not again through its consequences. Problems come
 * in text order and the first is the one the checker has always met first.
 * Only memory running out stops at once. Every name is looked up in a string
 * map (models, fields of each model, database names, related names,
 * renamed_from, ordering and index terms), so a file of thousands of models,
 * fields or terms is checked in time proportional to its size.
 */
#include <string.h>

#include "prodata/strmap.h"

#include "lexer.h"
#include "syntax.h"

#define MODEL_NAME_MAX 63

typedef struct Checker
{
    PdArena *arena;
    PdError *err;         /* the problem being raised; collect() moves it into problems */
    PdError *problems;    /* every problem found so far, in text order */
    size_t problem_total; /* problems collected, those past the cap included */
    const PdFileSyntax *syntax;
    PdCatalog *catalog;
    PdStrmap *models;   /* model name -> PdModel */
    PdStrmap *db_names; /* tables and indexes share one namespace in PostgreSQL: name -> Owner */
    PdStrmap **fields;  /* per model: field name -> PdField */
} Checker;

static bool
fail_memory(Checker *checker)
{
    return pd_arena_error(checker->arena, checker->err);
}

/* Whether the raised problem is already in the list: a line of an abstract model, copied into each model
 * extending it, is reported once. */
static bool
is_reported(const PdError *problems, const PdError *raised)
{
    if (raised->problem_count != 1)
        return false;
    const PdProblem *new_one = &raised->problems[0];
    for (size_t i = 0; i < problems->problem_count; i++)
    {
        const PdProblem *old = &problems->problems[i];
        if (old->pos.line == new_one->pos.line && old->pos.column == new_one->pos.column &&
            strcmp(old->pos.file, new_one->pos.file) == 0 && strcmp(old->message, new_one->message) == 0)
            return true;
    }
    return false;
}

/*
 * The outcome of one independent check: the problem it raised (an input
 * error) is moved into the list and checking goes on. False only when checking must stop at once
 * (memory ran out: checker->err holds that error).
 */
static bool
collect(Checker *checker, bool is_ok)
{
    PdError *raised = checker->err;
    if (is_ok)
        return true;
    if (raised->code != PD_ERR_INVALID_INPUT)
        return false;
    if (is_reported(checker->problems, raised))
    {
        pd_error_clear(raised);
        return true;
    }
    checker->problem_total++;
    if (checker->problems->code == PD_OK)
        *checker->problems = *raised; /* the first keeps its message and raise site as they are */
    else                              /* raised by pd_model_error_at: one problem */
        for (size_t i = 0; i < raised->problem_count; i++)
            pd_error_add_problem(checker->problems, raised->problems[i].pos.file,
                                 raised->problems[i].pos.line, raised->problems[i].pos.column,
                                 raised->problems[i].field, "%s", raised->problems[i].message);
    pd_error_clear(raised);
    return true;
}

/* Whether a step found problems (then the steps that depend on it are not run). */
static bool
has_problems(const Checker *checker)
{
    return checker->problems->code != PD_OK;
}

/* What a database name or a related name belongs to; described only when a clash is reported. */
typedef struct Owner
{
    const char *what; /* "the table of model", "index(...) of model", ...; NULL: a relation field */
    const PdModel *model;
    const char *item; /* field name, or NULL */
} Owner;

static const char *
describe_owner(PdArena *arena, const Owner *owner)
{
    if (owner->what == NULL)
        return pd_arena_sprintf(arena, "%s.%s", owner->model->name, owner->item);
    if (owner->item == NULL)
        return pd_arena_sprintf(arena, "%s %s", owner->what, owner->model->name);
    return pd_arena_sprintf(arena, "%s %s.%s", owner->what, owner->model->name, owner->item);
}

static const Owner *
new_owner(PdArena *arena, const char *what, const PdModel *model, const char *item)
{
    Owner *owner = pd_arena_alloc(arena, sizeof(Owner));
    if (owner != NULL)
        *owner = (Owner){what, model, item};
    return owner;
}

/* Adds a table or index name to the schema's namespace; a clash is an error at pos. */
static bool
claim_db_name(Checker *checker, const char *name, PdSourcePos pos, const char *what, const PdModel *model,
              const char *item)
{
    const Owner *owner = new_owner(checker->arena, what, model, item);
    if (owner == NULL)
        return fail_memory(checker);
    const Owner *other = pd_strmap_get(checker->db_names, name);
    if (other != NULL)
    {
        const char *mine = describe_owner(checker->arena, owner),
                   *theirs = describe_owner(checker->arena, other);
        if (mine == NULL || theirs == NULL)
            return fail_memory(checker);
        return pd_model_error_at(
            checker->err, pos,
            "database name \"%s\" of %s is already the name of %s, expected distinct names "
            "(set table, through= or name= explicitly)",
            name, mine, theirs);
    }
    return pd_strmap_put(checker->db_names, name, (void *)owner) || fail_memory(checker);
}

static bool
is_model_name(const char *name)
{
    if (!(name[0] >= 'A' && name[0] <= 'Z'))
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static bool
is_resource_name(const char *name)
{
    return name[0] >= 'a' && name[0] <= 'z' && strlen(name) <= 63 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(name);
}

/* Name, table, resource and renamed_from of one model. */
static bool
check_model_names(Checker *checker, const PdModelSyntax *syntax, PdModel *model, PdStrmap *resources)
{
    PdError *err = checker->err;
    *model = syntax->model;
    if (!is_model_name(model->name))
        return pd_model_error_at(
            err, model->pos,
            "model name \"%s\", expected a capitalised name of letters and digits such as Book", model->name);
    if (strlen(model->name) > MODEL_NAME_MAX)
        return pd_model_error_at(err, model->pos,
                                 "model name \"%.20s...\" of %zu characters, expected at most %d",
                                 model->name, strlen(model->name), MODEL_NAME_MAX);
    const PdModel *first = pd_strmap_get(checker->models, model->name);
    if (first != NULL && first->pos.file != NULL && model->pos.file != NULL &&
        strcmp(first->pos.file, model->pos.file) != 0)
        return pd_model_error_at(err, model->pos,
                                 "model %s defined in %s:%d:%d and %s:%d:%d, expected each model once across "
                                 "the model files",
                                 model->name, first->pos.file, first->pos.line, first->pos.column,
                                 model->pos.file, model->pos.line, model->pos.column);
    if (first != NULL)
        return pd_model_error_at(err, model->pos,
                                 "model \"%s\" defined twice, expected each model once (first at line %d)",
                                 model->name, first->pos.line);
    if (!pd_strmap_put(checker->models, model->name, model))
        return fail_memory(checker);
    char *snake = pd_model_snake_case(checker->arena, model->name);
    if (snake == NULL)
        return fail_memory(checker);
    PdSourcePos table_pos = model->table != NULL ? syntax->table_pos : model->pos;
    if (model->table == NULL)
        model->table = snake;
    if (strlen(model->table) > 63)
        return pd_model_error_at(err, table_pos,
                                 "table name \"%.24s...\" of model %s has %zu bytes, expected at most 63 "
                                 "(set table \"...\")",
                                 model->table, model->name, strlen(model->table));
    if (!pd_model_is_sql_name(model->table))
        return pd_model_error_at(
            err, table_pos,
            "table name \"%s\" of model %s, expected lower-case letters, digits, _ and $, at most "
            "63 bytes",
            model->table, model->name);
    PdSourcePos resource_pos = model->resource != NULL ? syntax->resource_pos : model->pos;
    if (model->resource == NULL && (model->resource = pd_model_plural(checker->arena, snake)) == NULL)
        return fail_memory(checker);
    if (!is_resource_name(model->resource))
        return pd_model_error_at(
            err, resource_pos,
            "resource name \"%s\" of model %s, expected lower-case letters, digits, _ and -, at "
            "most 63 bytes",
            model->resource, model->name);
    const PdModel *user = pd_strmap_get(resources, model->resource);
    if (user != NULL)
        return pd_model_error_at(err, resource_pos,
                                 "resource \"%s\" of model %s is already used by model %s, expected distinct "
                                 "resources (set resource \"...\")",
                                 model->resource, model->name, user->name);
    if (!pd_strmap_put(resources, model->resource, model))
        return fail_memory(checker);
    if (model->renamed_from != NULL && !is_model_name(model->renamed_from))
        return pd_model_error_at(err, syntax->renamed_from_pos,
                                 "renamed_from %s, expected the old model name", model->renamed_from);
    return claim_db_name(checker, model->table, table_pos, "the table of model", model, NULL);
}

static bool
add_implicit_id(Checker *checker, PdModel *model, const PdModelSyntax *syntax)
{
    for (size_t i = 0; i < syntax->field_count; i++)
        if (syntax->fields[i].has_option[PD_OPTION_PRIMARY_KEY])
            return true;
    if (syntax->model.key_field_count > 0) /* primary_key(a, b): no implicit id */
        return true;
    PdField *id = &model->fields[model->field_count++];
    memset(id, 0, sizeof(*id));
    id->name = "id";
    id->column = "id";
    id->kind = PD_FIELD_AUTO;
    id->is_primary_key = true;
    id->pos = model->pos;
    (void)checker;
    return true;
}

/* The names and columns of one model so far, and its primary key; a field joins them once accepted. */
typedef struct FieldSet
{
    PdStrmap *names;
    PdStrmap *columns;
    const PdField *primary_key;
} FieldSet;

/*
 * What a composite key (primary_key(a, b)) rules out on a field line, as Django 5.2 does: a field-level
 * primary_key beside it, a relation (foreign key, one-to-one, many-to-many) to a model with one, and a
 * many-to-many field on such a model (its join table would need the whole key).
 */
static bool
check_composite_relation(Checker *checker, const PdModel *model, const PdFieldSyntax *line,
                         const PdField *field)
{
    if (field->is_primary_key && model->key_field_count > 0)
        return pd_model_error_at(
            checker->err, line->option_pos[PD_OPTION_PRIMARY_KEY],
            "primary_key on field \"%s\" of model %s, which has primary_key(...) already, "
            "expected one primary key: the option or the directive",
            field->name, model->name);
    if (field->target != NULL && field->target->key_field_count > 0)
        return pd_model_error_at(checker->err, line->type_pos,
                                 "%s %s.%s to model %s, which has a composite primary key, expected a "
                                 "relation to a model with a one-field key (relations to a composite key "
                                 "are not supported, as in Django 5.2)",
                                 field->kind == PD_FIELD_MANY_TO_MANY ? "many-to-many field"
                                 : field->kind == PD_FIELD_ONE_TO_ONE ? "one-to-one field"
                                                                      : "foreign key",
                                 model->name, field->name, field->target->name);
    if (field->kind == PD_FIELD_MANY_TO_MANY && model->key_field_count > 0)
        return pd_model_error_at(checker->err, line->type_pos,
                                 "many-to-many field %s.%s on a model with a composite primary key, expected "
                                 "a model of its own with foreign keys (a join table needs a one-field key)",
                                 model->name, field->name);
    return true;
}

/* One field line, then what it must not share with the fields accepted before it. */
static bool
check_field_line(Checker *checker, const PdModel *model, const PdFieldSyntax *line, PdField *field,
                 FieldSet *set)
{
    const PdModel *target = pd_strmap_get(checker->models, line->type_name);
    if (!pd_model_check_field(checker->arena, target, model, line, field, checker->err))
        return false;
    if (!check_composite_relation(checker, model, line, field))
        return false;
    if (field->is_primary_key && set->primary_key != NULL)
        return pd_model_error_at(
            checker->err, line->option_pos[PD_OPTION_PRIMARY_KEY],
            "a second primary key \"%s\" in model %s, expected one (\"%s\" is the first)", field->name,
            model->name, set->primary_key->name);
    const PdField *other = pd_strmap_get(set->names, field->name);
    if (other != NULL && other->kind == PD_FIELD_AUTO)
        return pd_model_error_at(
            checker->err, field->pos,
            "field \"id\" in model %s clashes with the implicit primary key id, expected "
            "another name, or primary_key on this field to replace the implicit one",
            model->name);
    if (other != NULL)
        return pd_model_error_at(checker->err, field->pos,
                                 "field \"%s\" defined twice in model %s, expected each name once (first at "
                                 "line %d)",
                                 field->name, model->name, other->pos.line);
    if (field->column != NULL && (other = pd_strmap_get(set->columns, field->column)) != NULL)
        return pd_model_error_at(checker->err, field->pos,
                                 "column \"%s\" of field \"%s\" is also the column of field \"%s\" in model "
                                 "%s, expected distinct columns",
                                 field->column, field->name, other->name, model->name);
    if (!pd_strmap_put(set->names, field->name, field) ||
        (field->column != NULL && !pd_strmap_put(set->columns, field->column, field)))
        return fail_memory(checker);
    if (field->is_primary_key)
        set->primary_key = field;
    return true;
}

/*
 * Every field of one model, each line on its own: a refused line is reported
 * and left out (its slot is reused, and no name, column or primary key of it
 * is kept for the lines after it). False only when memory ran out.
 */
static bool
check_fields(Checker *checker, const PdModelSyntax *syntax, PdModel *model, PdStrmap **names_out)
{
    model->fields = pd_arena_calloc(checker->arena, syntax->field_count + 1, sizeof(PdField));
    FieldSet set = {pd_strmap_new(checker->arena, syntax->field_count + 1),
                    pd_strmap_new(checker->arena, syntax->field_count + 1), NULL};
    if (model->fields == NULL || set.names == NULL || set.columns == NULL)
        return fail_memory(checker);
    *names_out = set.names;
    add_implicit_id(checker, model, syntax);
    if (model->field_count == 1 && (!pd_strmap_put(set.names, "id", &model->fields[0]) ||
                                    !pd_strmap_put(set.columns, "id", &model->fields[0])))
        return fail_memory(checker);
    for (size_t i = 0; i < syntax->field_count; i++)
    {
        bool is_ok =
            check_field_line(checker, model, &syntax->fields[i], &model->fields[model->field_count], &set);
        if (!collect(checker, is_ok))
            return false;
        if (is_ok)
            model->field_count++;
    }
    return true;
}

/* renamed_from on a field names a field that is gone; it may not name a current one, nor twice the same. */
static bool
check_field_rename(Checker *checker, const PdModel *model, const PdField *field, PdSourcePos pos,
                   const PdStrmap *names, PdStrmap *old_names)
{
    const PdField *other = pd_strmap_get(old_names, field->renamed_from);
    if (pd_strmap_contains(names, field->renamed_from))
        return pd_model_error_at(checker->err, pos,
                                 "renamed_from=%s on field \"%s\" names a current field of %s, expected the "
                                 "field's old name, no longer in the model",
                                 field->renamed_from, field->name, model->name);
    if (other != NULL)
        return pd_model_error_at(checker->err, pos,
                                 "renamed_from=%s on field \"%s\" and on field \"%s\", expected one field "
                                 "per old name",
                                 field->renamed_from, field->name, other->name);
    return pd_strmap_put(old_names, field->renamed_from, (void *)field) || fail_memory(checker);
}

static bool
check_field_renames(Checker *checker, const PdModelSyntax *syntax, const PdModel *model,
                    const PdStrmap *names)
{
    size_t offset = model->field_count - syntax->field_count;
    PdStrmap *old_names = pd_strmap_new(checker->arena, 0); /* renamed_from -> the first field with it */
    if (old_names == NULL)
        return fail_memory(checker);
    for (size_t i = offset; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        PdSourcePos pos = syntax->fields[i - offset].option_pos[PD_OPTION_RENAMED_FROM];
        if (field->renamed_from != NULL &&
            !collect(checker, check_field_rename(checker, model, field, pos, names, old_names)))
            return false;
    }
    return true;
}

/* A field named in ordering, unique(...) or index(...): it must exist and have a column. */
static bool
check_field_reference(Checker *checker, const PdModel *model, const PdStrmap *names, const char *name,
                      PdSourcePos pos, const char *where)
{
    const PdField *field = pd_strmap_get(names, name);
    if (field == NULL)
        return pd_model_error_at(checker->err, pos,
                                 "unknown field \"%s\" in %s of model %s, expected a field of %s", name,
                                 where, model->name, model->name);
    if (field->column == NULL)
        return pd_model_error_at(
            checker->err, pos, "many-to-many field \"%s\" in %s of model %s, expected a field with a column",
            name, where, model->name);
    return true;
}

/* One ordering term: a field with a column, not named before in the same ordering (seen). */
static bool
check_ordering_term(Checker *checker, const PdModel *model, const PdStrmap *names, PdStrmap *seen,
                    const char *name, PdSourcePos pos)
{
    if (!check_field_reference(checker, model, names, name, pos, "ordering"))
        return false;
    if (pd_strmap_contains(seen, name))
        return pd_model_error_at(checker->err, pos,
                                 "field \"%s\" twice in ordering of model %s, expected each field once", name,
                                 model->name);
    return pd_strmap_put(seen, name, NULL) || fail_memory(checker);
}

static bool
check_ordering(Checker *checker, const PdModelSyntax *syntax, const PdModel *model, const PdStrmap *names)
{
    PdStrmap *seen = pd_strmap_new(checker->arena, model->ordering_count);
    if (seen == NULL)
        return fail_memory(checker);
    for (size_t i = 0; i < model->ordering_count; i++)
        if (!collect(checker, check_ordering_term(checker, model, names, seen, model->ordering[i].field,
                                                  syntax->ordering_pos[i])))
            return false;
    return true;
}

/* An operator class after a field of index(...): a lower-case word; unique(...) takes none. */
static bool
check_opclass(Checker *checker, const PdIndexSyntax *entry, size_t f, const PdModel *model, const char *where)
{
    const char *opclass = entry->index.opclasses[f];
    PdSourcePos pos = entry->opclass_pos[f];
    if (entry->index.is_unique)
        return pd_model_error_at(checker->err, pos,
                                 "operator class \"%s\" after field \"%s\" in %s of model %s, expected field "
                                 "names only (an operator class belongs in index(...))",
                                 opclass, entry->index.fields[f], where, model->name);
    if (!pd_model_is_lower_name(opclass) || strlen(opclass) > 63)
        return pd_model_error_at(checker->err, pos,
                                 "operator class \"%s\" after field \"%s\" in %s of model %s, expected "
                                 "lower-case letters, digits and _, at most 63 bytes",
                                 opclass, entry->index.fields[f], where, model->name);
    return true;
}

/* lower(f) / upper(f) in an index: the immutable text functions only, on a text field. */
static bool
check_index_function(Checker *checker, const PdIndexSyntax *entry, size_t f, const PdModel *model,
                     const char *where)
{
    const char *function = entry->index.functions[f];
    const PdField *field = pd_model_find_field(model, entry->index.fields[f]);
    if (strcmp(function, "lower") != 0 && strcmp(function, "upper") != 0)
        return pd_model_error_at(checker->err, entry->field_pos[f],
                                 "function \"%s\" in %s of model %s, expected lower(field) or upper(field)",
                                 function, where, model->name);
    if (field != NULL && (pd_kind_info(field->kind)->family != PD_FAMILY_TEXT || field->is_array))
        return pd_model_error_at(checker->err, entry->field_pos[f],
                                 "%s(%s) in %s of model %s on a field of type %s%s, expected a string, text, "
                                 "email, url or slug field",
                                 function, field->name, where, model->name, pd_model_kind_name(field->kind),
                                 field->is_array ? "[]" : "");
    return true;
}

/* The fields of one unique(...) or index(...): each a field with a column, each once. */
static bool
check_index_fields(Checker *checker, const PdIndexSyntax *entry, const PdModel *model, const PdStrmap *names,
                   const char *where)
{
    const PdIndex *index = &entry->index;
    PdStrmap *seen = pd_strmap_new(checker->arena, index->field_count);
    if (seen == NULL)
        return fail_memory(checker);
    for (size_t f = 0; f < index->field_count; f++)
    {
        if (!check_field_reference(checker, model, names, index->fields[f], entry->field_pos[f], where))
            return false;
        if (index->opclasses != NULL && index->opclasses[f] != NULL &&
            !check_opclass(checker, entry, f, model, where))
            return false;
        if (index->functions != NULL && index->functions[f] != NULL &&
            !check_index_function(checker, entry, f, model, where))
            return false;
        const PdField *field = pd_model_find_field(model, index->fields[f]);
        if (!index->is_unique && field != NULL && field->is_array)
            return pd_model_error_at(checker->err, entry->field_pos[f],
                                     "array field \"%s\" in %s of model %s, expected the field's own index "
                                     "option (a GIN index, which contains, contained_by and overlap use)",
                                     index->fields[f], where, model->name);
        if (index->functions != NULL && index->functions[f] != NULL)
            continue; /* lower(email) beside email is two keys */
        if (pd_strmap_contains(seen, index->fields[f]))
            return pd_model_error_at(checker->err, entry->field_pos[f],
                                     "field \"%s\" twice in %s of model %s, expected each field once",
                                     index->fields[f], where, model->name);
        if (!pd_strmap_put(seen, index->fields[f], NULL))
            return fail_memory(checker);
    }
    return true;
}

/* One unique(...) or index(...): its fields, then its name (given or derived from them) in the namespace. */
static bool
check_index(Checker *checker, const PdIndexSyntax *entry, PdIndex *index, const PdModel *model,
            const PdStrmap *names)
{
    *index = entry->index;
    const char *where = index->is_unique ? "unique(...)" : "index(...)";
    if (!check_index_fields(checker, entry, model, names, where))
        return false;
    PdSourcePos pos = index->name != NULL ? entry->name_pos : index->pos;
    if (index->where != NULL && !pd_model_check_expr(model, index->where, checker->err))
        return false;
    if (index->name != NULL && !pd_model_is_sql_name(index->name))
        return pd_model_error_at(
            checker->err, pos,
            "index name \"%s\", expected lower-case letters, digits, _ and $, at most 63 bytes", index->name);
    if (index->name == NULL && (index->name = pd_model_index_name(checker->arena, model, index)) == NULL)
        return fail_memory(checker);
    return claim_db_name(checker, index->name, pos,
                         index->is_unique ? "unique(...) of model" : "index(...) of model", model, NULL);
}

static bool
check_indexes(Checker *checker, const PdModelSyntax *syntax, PdModel *model, const PdStrmap *names)
{
    model->index_count = syntax->index_count;
    model->indexes = pd_arena_calloc(checker->arena, syntax->index_count + 1, sizeof(PdIndex));
    if (model->indexes == NULL)
        return fail_memory(checker);
    for (size_t i = 0; i < syntax->index_count; i++)
        if (!collect(checker, check_index(checker, &syntax->indexes[i], &model->indexes[i], model, names)))
            return false;
    return true;
}

/* The join table of a many-to-many field, or the index a field implies: primary key, unique, indexed. */
static bool
claim_field_name(Checker *checker, const PdModel *model, const PdField *field)
{
    const char *suffix = field->is_primary_key ? "pkey"
                         : field->is_unique    ? "key"
                         : field->is_indexed   ? "idx"
                                               : NULL;
    if (pd_model_has_join_table(field) &&
        !claim_db_name(checker, field->through_table, field->pos, "the join table of", model, field->name))
        return false;
    char *search_index = pd_model_search_index_name(checker->arena, model->table, field->column, field);
    if (search_index != NULL &&
        !claim_db_name(checker, search_index, field->pos, "the search index of", model, field->name))
        return false;
    if (suffix == NULL)
        return true;
    char *name = pd_model_constraint_name(checker->arena, model->table,
                                          field->is_primary_key ? NULL : field->column, suffix);
    if (name == NULL)
        return fail_memory(checker);
    return claim_db_name(checker, name, field->pos, "the index of", model, field->name);
}

/*
 * The table's constraint names that name no index (derived foreign keys, checks, choices), each with its
 * owner: PostgreSQL names constraints once per table, so a given fk_name must not take one of them.
 */
static bool
add_constraint_names(Checker *checker, const PdModel *model, PdStrmap *constraints)
{
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        const char *column = field->column;
        if (column == NULL)
            continue;
        for (size_t c = 0; c <= field->check_count; c++)
        {
            bool is_choices = c == field->check_count;
            if (is_choices && field->choice_count == 0)
                break;
            char *name = is_choices
                             ? pd_model_constraint_name(checker->arena, model->table, column, "choices")
                             : pd_model_check_constraint_name(checker->arena, model->table, column, c);
            const Owner *owner =
                new_owner(checker->arena, is_choices ? "the choices of" : "a check of", model, field->name);
            if (name == NULL || owner == NULL || !pd_strmap_put(constraints, name, (void *)owner))
                return fail_memory(checker);
        }
        if (field->fk_name != NULL ||
            (field->kind != PD_FIELD_FOREIGN_KEY && field->kind != PD_FIELD_ONE_TO_ONE))
            continue;
        char *name = pd_model_foreign_key_name(checker->arena, model, field);
        const Owner *owner = new_owner(checker->arena, "the foreign key of", model, field->name);
        if (name == NULL || owner == NULL || !pd_strmap_put(constraints, name, (void *)owner))
            return fail_memory(checker);
    }
    return true;
}

/* A foreign key's given name: no other constraint of its table, and in the one namespace with the rest. */
static bool
claim_foreign_key_name(Checker *checker, const PdModel *model, const PdField *field, PdSourcePos pos,
                       const PdStrmap *constraints)
{
    const Owner *other = pd_strmap_get(constraints, field->fk_name);
    if (other == NULL)
        other = pd_strmap_get(checker->db_names, field->fk_name);
    if (other == NULL)
        return claim_db_name(checker, field->fk_name, pos, "the foreign key of", model, field->name);
    const char *theirs = describe_owner(checker->arena, other);
    if (theirs == NULL)
        return fail_memory(checker);
    return pd_model_error_at(checker->err, pos,
                             "foreign key name \"%s\" of %s.%s is already the name of %s, expected distinct "
                             "names (set fk_name= to another name)",
                             field->fk_name, model->name, field->name, theirs);
}

static bool
claim_field_names(Checker *checker, const PdModelSyntax *syntax, const PdModel *model)
{
    PdStrmap *constraints = NULL;
    size_t offset = model->field_count - syntax->field_count;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if (!collect(checker, claim_field_name(checker, model, field)))
            return false;
        if (field->fk_name == NULL)
            continue;
        if (constraints == NULL &&
            ((constraints = pd_strmap_new(checker->arena, model->field_count)) == NULL ||
             !add_constraint_names(checker, model, constraints)))
            return fail_memory(checker);
        PdSourcePos pos = syntax->fields[i - offset].option_pos[PD_OPTION_FK_NAME];
        if (!collect(checker, claim_foreign_key_name(checker, model, field, pos, constraints)))
            return false;
    }
    return true;
}

/* One relation's related name on its target: distinct from the target's fields and other related names. */
static bool
check_related_name(Checker *checker, PdStrmap **reverse, const PdModel *model, const PdField *field)
{
    size_t target = (size_t)(field->target - checker->catalog->models);
    const Owner *other = reverse[target] != NULL ? pd_strmap_get(reverse[target], field->related_name) : NULL;
    const PdField *same = pd_strmap_get(checker->fields[target], field->related_name);
    if (other != NULL || same != NULL)
    {
        const char *theirs = other != NULL ? describe_owner(checker->arena, other)
                                           : pd_arena_sprintf(checker->arena, "its field %s", same->name);
        if (theirs == NULL)
            return fail_memory(checker);
        return pd_model_error_at(checker->err, field->pos,
                                 "related name \"%s\" of %s.%s clashes on model %s with %s%s, expected "
                                 "related=<another name>",
                                 field->related_name, model->name, field->name, field->target->name,
                                 other != NULL ? "the related name of " : "", theirs);
    }
    const Owner *owner = new_owner(checker->arena, NULL, model, field->name);
    if (reverse[target] == NULL)
        reverse[target] = pd_strmap_new(checker->arena, 0);
    if (owner == NULL || reverse[target] == NULL ||
        !pd_strmap_put(reverse[target], field->related_name, (void *)owner))
        return fail_memory(checker);
    return true;
}

/*
 * Reverse accessors: on each target, related names must differ from each
 * other and from the target's fields. One set per target model, filled as
 * relations are met in file order.
 */
static bool
check_related_names(Checker *checker, PdStrmap **reverse)
{
    const PdCatalog *catalog = checker->catalog;
    for (size_t m = 0; m < catalog->model_count; m++)
    {
        const PdModel *model = &catalog->models[m];
        for (size_t i = 0; i < model->field_count; i++)
            if (model->fields[i].target != NULL &&
                !collect(checker, check_related_name(checker, reverse, model, &model->fields[i])))
                return false;
    }
    return true;
}

/* Values of foreign keys and one-to-one fields: they depend on the target's key. */
static bool
check_relation_values(Checker *checker, const PdModelSyntax *syntax, const PdModel *model)
{
    size_t offset = model->field_count - syntax->field_count;
    for (size_t i = offset; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        if ((field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE) &&
            !collect(checker, pd_model_check_field_values(&syntax->fields[i - offset], field, checker->err)))
            return false;
    }
    return true;
}

/* The foreign keys of through that point at the model named target: how many, and the names of the first
 * two. */
static size_t
count_keys_to(const PdModel *through, const char *target, const char **names)
{
    size_t count = 0;
    for (size_t i = 0; i < through->field_count; i++)
    {
        const PdField *key = &through->fields[i];
        if ((key->kind == PD_FIELD_FOREIGN_KEY || key->kind == PD_FIELD_ONE_TO_ONE) &&
            strcmp(key->target_name, target) == 0 && count++ < 2)
            names[count - 1] = key->name;
    }
    return count;
}

/* A many-to-many field `through=Model`: that model exists and has exactly one foreign key to each side
 * (Django's through_fields, to choose among several, is not supported). */
static bool
check_through(Checker *checker, const PdModel *model, PdField *field, PdSourcePos pos)
{
    const PdModel *through = pd_strmap_get(checker->models, field->through_model_name);
    if (through == NULL)
        return pd_model_error_at(checker->err, pos,
                                 "through model \"%s\" of field \"%s\" is no model of the files, expected a "
                                 "model with a foreign key to %s and one to %s",
                                 field->through_model_name, field->name, model->name, field->target_name);
    if (strcmp(model->name, field->target_name) == 0)
        return pd_model_error_at(
            checker->err, pos,
            "field \"%s\" relates %s to itself through model %s, expected another target (a join "
            "model of a model with itself needs Django's through_fields: not supported)",
            field->name, model->name, through->name);
    const char *sides[2] = {model->name, field->target_name};
    for (size_t s = 0; s < 2; s++)
    {
        const char *names[2] = {NULL, NULL};
        size_t count = count_keys_to(through, sides[s], names);
        if (count == 0)
            return pd_model_error_at(
                checker->err, pos,
                "through model %s of field \"%s\" has no foreign key to %s, expected one "
                "foreign key to %s and one to %s",
                through->name, field->name, sides[s], model->name, field->target_name);
        if (count > 1)
            return pd_model_error_at(
                checker->err, pos,
                "through model %s of field \"%s\" has %zu foreign keys to %s (%s, %s%s), "
                "expected one (Django's through_fields is not supported)",
                through->name, field->name, count, sides[s], names[0], names[1], count > 2 ? ", ..." : "");
    }
    field->through_model = through;
    field->through_table = through->table;
    return true;
}

static bool
check_throughs(Checker *checker, const PdModelSyntax *syntax, PdModel *model)
{
    size_t offset = model->field_count - syntax->field_count;
    for (size_t i = offset; i < model->field_count; i++)
        if (model->fields[i].kind == PD_FIELD_MANY_TO_MANY && model->fields[i].through_model_name != NULL &&
            !collect(checker, check_through(checker, model, &model->fields[i],
                                            syntax->fields[i - offset].option_pos[PD_OPTION_THROUGH])))
            return false;
    return true;
}

/* One role of an access list: a PostgreSQL role name that is not one of the words and not listed twice. */
static bool
check_access_role(Checker *checker, const PdModel *model, const PdAccess *access, size_t index,
                  PdSourcePos pos, const char *side)
{
    const char *role = access->roles[index];
    static const char *words[] = {"anyone", "authenticated", "none"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(role, words[i]) == 0)
            return pd_model_error_at(
                checker->err, pos, "\"%s\" combined with roles in %s=, expected it alone or role names only",
                role, side);
    if (strlen(role) > 63)
        return pd_model_error_at(checker->err, pos, "role name \"%.20s...\" is longer than 63 bytes", role);
    if (strncmp(role, "pg_", 3) == 0)
        return pd_model_error_at(checker->err, pos,
                                 "role \"%s\" in %s= of model %s, expected a role of your own (pg_ names are "
                                 "PostgreSQL's)",
                                 role, side, model->name);
    for (size_t i = 0; i < index; i++)
        if (strcmp(access->roles[i], role) == 0)
            return pd_model_error_at(checker->err, pos, "role \"%s\" twice in %s=, expected each role once",
                                     role, side);
    return true;
}

/* The access directive: read=none is refused (nothing could read the resource), roles judged one by one. */
static bool
check_access(Checker *checker, const PdModelSyntax *syntax, const PdModel *model)
{
    if (model->read_access.kind == PD_ACCESS_NONE &&
        !collect(checker, pd_model_error_at(checker->err, syntax->access_pos_of[0],
                                            "read=none on model %s, expected anyone, authenticated or role "
                                            "names (none is for write: a read-only resource)",
                                            model->name)))
        return false;
    for (int side = 0; side < 2; side++)
    {
        const PdAccess *access = side == 0 ? &model->read_access : &model->write_access;
        for (size_t i = 0; i < access->role_count; i++)
            if (!collect(checker, check_access_role(checker, model, access, i, syntax->role_pos_of[side][i],
                                                    side == 0 ? "read" : "write")))
                return false;
    }
    return true;
}

/*
 * Everything that needs every model's fields: relation values, renames,
 * ordering, names in the database namespace, indexes. Each kind of check
 * judges every item on its own; the model's next kind runs only when this one
 * found nothing, so its problems stay in text order (the kinds are not in the
 * order of the lines they point at). False only when memory ran out.
 */
/* One model-level check(...): its expression, its name (given or derived), distinct from the table's other
 * constraint names (in constraints, with the earlier checks) and from every index name. */
static bool
check_model_check(Checker *checker, const PdModel *model, PdModelCheck *check, PdSourcePos name_pos,
                  PdStrmap *constraints)
{
    if (!pd_model_check_expr(model, check->expr, checker->err))
        return false;
    PdSourcePos pos = check->is_named ? name_pos : check->pos;
    if (check->is_named && !pd_model_is_sql_name(check->name))
        return pd_model_error_at(
            checker->err, pos,
            "check name \"%s\", expected lower-case letters, digits, _ and $, at most 63 "
            "bytes",
            check->name);
    if (!check->is_named && (check->name = pd_model_check_name(checker->arena, model, check->expr)) == NULL)
        return fail_memory(checker);
    const Owner *other = pd_strmap_get(constraints, check->name);
    if (other == NULL)
        other = pd_strmap_get(checker->db_names, check->name);
    if (other != NULL)
    {
        const char *theirs = describe_owner(checker->arena, other);
        if (theirs == NULL)
            return fail_memory(checker);
        return pd_model_error_at(checker->err, pos,
                                 "check name \"%s\" of model %s is already the name of %s, expected distinct "
                                 "names (give the check name=\"...\")",
                                 check->name, model->name, theirs);
    }
    const Owner *owner = new_owner(checker->arena, "a check(...) of model", model, NULL);
    if (owner == NULL || !pd_strmap_put(constraints, check->name, (void *)owner))
        return fail_memory(checker);
    return true;
}

static bool
check_model_checks(Checker *checker, const PdModelSyntax *syntax, PdModel *model)
{
    if (model->check_count == 0)
        return true;
    PdStrmap *constraints = pd_strmap_new(checker->arena, model->field_count + model->check_count);
    if (constraints == NULL || !add_constraint_names(checker, model, constraints))
        return fail_memory(checker);
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        const Owner *owner = new_owner(checker->arena, "the foreign key of", model, field->name);
        if (field->fk_name != NULL &&
            (owner == NULL || !pd_strmap_put(constraints, field->fk_name, (void *)owner)))
            return fail_memory(checker);
    }
    for (size_t i = 0; i < model->check_count; i++)
        if (!collect(checker, check_model_check(checker, model, &model->checks[i], syntax->check_name_pos[i],
                                                constraints)))
            return false;
    return true;
}

/* One field of primary_key(a, b): a field of the model with a column, not null, not json, listed once. */
static bool
check_key_field(Checker *checker, const PdModelSyntax *syntax, const PdModel *model, const PdStrmap *names,
                PdStrmap *seen, size_t i)
{
    const char *name = model->key_fields[i];
    PdSourcePos pos = syntax->key_field_pos[i];
    if (!check_field_reference(checker, model, names, name, pos, "primary_key(...)"))
        return false;
    const PdField *field = pd_strmap_get(names, name);
    if (pd_strmap_contains(seen, name))
        return pd_model_error_at(
            checker->err, pos, "field \"%s\" twice in primary_key(...) of model %s, expected each field once",
            name, model->name);
    if (field->is_nullable)
        return pd_model_error_at(checker->err, pos,
                                 "nullable field \"%s\" in primary_key(...) of model %s, expected fields "
                                 "without null (a primary key is never NULL)",
                                 name, model->name);
    if (field->kind == PD_FIELD_JSON || field->is_array)
        return pd_model_error_at(checker->err, pos,
                                 "%s field \"%s\" in primary_key(...) of model %s, expected fields of other "
                                 "types (a key's value must fit in a detail URL)",
                                 field->is_array ? "array" : "json", name, model->name);
    return pd_strmap_put(seen, name, NULL) || fail_memory(checker);
}

/* primary_key(a, b): at least two distinct fields, and the name <table>_pkey in the one namespace. */
static bool
check_key(Checker *checker, const PdModelSyntax *syntax, const PdModel *model, const PdStrmap *names)
{
    if (model->key_field_count == 0)
        return true;
    if (model->key_field_count == 1)
        return collect(checker, pd_model_error_at(checker->err, syntax->key_pos,
                                                  "primary_key(%s) of model %s names one field, expected two "
                                                  "or more (write primary_key on the field itself)",
                                                  model->key_fields[0], model->name));
    PdStrmap *seen = pd_strmap_new(checker->arena, model->key_field_count);
    if (seen == NULL)
        return fail_memory(checker);
    size_t before = checker->problem_total;
    for (size_t i = 0; i < model->key_field_count; i++)
        if (!collect(checker, check_key_field(checker, syntax, model, names, seen, i)))
            return false;
    if (checker->problem_total != before)
        return true;
    char *name = pd_model_constraint_name(checker->arena, model->table, NULL, "pkey");
    if (name == NULL)
        return fail_memory(checker);
    return collect(checker, claim_db_name(checker, name, syntax->key_pos, "the primary key of", model, NULL));
}

/* Each generated(...): its fields and types, judged once every field of the model is resolved. */
static bool
check_generated_fields(Checker *checker, const PdModel *model)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].generated != NULL &&
            !collect(checker, pd_model_check_generated(model, &model->fields[i], checker->err)))
            return false;
    return true;
}

static bool
check_model_rest(Checker *checker, const PdModelSyntax *syntax, PdModel *model, const PdStrmap *names)
{
    size_t before = checker->problem_total;
    if (!check_relation_values(checker, syntax, model) || !check_throughs(checker, syntax, model))
        return false;
    if (checker->problem_total == before && !check_generated_fields(checker, model))
        return false;
    if (checker->problem_total == before && !check_field_renames(checker, syntax, model, names))
        return false;
    if (checker->problem_total == before && !check_key(checker, syntax, model, names))
        return false;
    if (checker->problem_total == before && !check_ordering(checker, syntax, model, names))
        return false;
    if (checker->problem_total == before && !check_access(checker, syntax, model))
        return false;
    if (checker->problem_total == before && !claim_field_names(checker, syntax, model))
        return false;
    if (checker->problem_total == before && !check_indexes(checker, syntax, model, names))
        return false;
    return checker->problem_total != before || check_model_checks(checker, syntax, model);
}

static bool
check_model_renames(Checker *checker)
{
    const PdCatalog *catalog = checker->catalog;
    for (size_t i = 0; i < catalog->model_count; i++)
    {
        const PdModel *model = &catalog->models[i];
        bool is_ok = model->renamed_from == NULL ||
                     !pd_strmap_contains(checker->models, model->renamed_from) ||
                     pd_model_error_at(checker->err, checker->syntax->models[i].renamed_from_pos,
                                       "renamed_from %s on model %s names a current model, expected the "
                                       "model's old name, no longer in the file",
                                       model->renamed_from, model->name);
        if (!collect(checker, is_ok))
            return false;
    }
    return true;
}

/*
 * The steps in order, each run only when the ones before it found nothing:
 * model names (fields refer to models further down the file), each model's
 * fields, what needs every model's fields, renamed models, related names.
 * The first two are needed by what follows; the last three are kept apart
 * so that problems come in text order, the first one being the one the
 * checker always met first. False when a step found problems or memory ran
 * out.
 */
static bool
check_steps(Checker *checker, PdStrmap *resources, PdStrmap **reverse)
{
    const PdFileSyntax *syntax = checker->syntax;
    PdCatalog *result = checker->catalog;
    size_t count = syntax->model_count;
    for (size_t i = 0; i < count; i++, result->model_count++)
        if (!collect(checker, check_model_names(checker, &syntax->models[i], &result->models[i], resources)))
            return false;
    if (has_problems(checker))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        result->models[i].field_count = 0;
        if (!check_fields(checker, &syntax->models[i], &result->models[i], &checker->fields[i]))
            return false;
    }
    if (has_problems(checker))
        return false;
    for (size_t i = 0; i < count; i++)
        if (!check_model_rest(checker, &syntax->models[i], &result->models[i], checker->fields[i]))
            return false;
    if (has_problems(checker) || !check_model_renames(checker) || has_problems(checker))
        return false;
    return check_related_names(checker, reverse) && !has_problems(checker);
}

bool
pd_model_check_syntax(PdArena *arena, const PdFileSyntax *syntax, PdCatalog **catalog, PdError *err)
{
    PdError raised, problems;
    pd_error_clear(&raised);
    pd_error_clear(&problems);
    Checker checker = {.arena = arena, .err = &raised, .problems = &problems, .syntax = syntax};
    size_t count = syntax->model_count;
    PdCatalog *result = pd_arena_calloc(arena, 1, sizeof(PdCatalog));
    PdStrmap *resources = pd_strmap_new(arena, count);
    PdStrmap **reverse = pd_arena_calloc(arena, count + 1, sizeof(PdStrmap *)); /* per target, on first use */
    checker.models = pd_strmap_new(arena, count);
    checker.db_names = pd_strmap_new(arena, count * 8);
    checker.fields = pd_arena_calloc(arena, count + 1, sizeof(PdStrmap *));
    if (result == NULL || resources == NULL || reverse == NULL || checker.models == NULL ||
        checker.db_names == NULL || checker.fields == NULL)
        return pd_arena_error(arena, err);
    result->models = pd_arena_calloc(arena, count + 1, sizeof(PdModel));
    if (result->models == NULL)
        return pd_arena_error(arena, err);
    checker.catalog = result;
    if (check_steps(&checker, resources, reverse))
    {
        *catalog = result;
        return true;
    }
    *err = raised.code != PD_OK ? raised : problems; /* memory ran out, or the problems found */
    return false;
}

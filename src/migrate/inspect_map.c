/*
 * inspect_map.c - the model inspectdb writes for each table read by
 * inspect_read.c. The rule: a migration made from the model must remake the
 * table with the same columns, constraints and indexes, under the same names
 * and with the same deparsed definitions; whatever the language cannot say
 * so is kept as a comment naming the object and its definition, and a table
 * it cannot express at all (no primary key, one unnamed-as-derived,
 * partitioning) becomes a commented-out model; a key of several columns is
 * primary_key(a, b). Derived names come from
 * the model's naming helpers (naming.c), values and checks are read by
 * inspect_sql.c. Tables are decided in three passes: names and primary keys
 * (which tables are models, so relations know their targets), then each
 * table's fields, constraints and indexes, then the related names that would
 * clash on a target.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "prodata/strbuf.h"
#include "prodata/strmap.h"

#define NAME_MAX_BYTES 63
#define FIELD_NAME_MAX 59

typedef struct Mapper
{
    PdArena *arena;
    PdError *err;
    const InspectSchema *schema;
    InspectModel *models;
    PdStrmap *db_names; /* the language's one namespace: tables, indexes and the foreign key names given */
} Mapper;

/* The work on one table: which of its constraints and indexes a field or directive already says. */
typedef struct TableWork
{
    Mapper *mapper;
    InspectModel *model;
    const InspectTable *table;
    bool *is_constraint_said;
    bool *is_index_said;
} TableWork;

static bool
add_line(PdArena *arena, const char ***lines, size_t *count, const char *line)
{
    if (line == NULL || (*lines = pd_arena_reserve_next(arena, *lines, *count, sizeof(char *))) == NULL)
        return false;
    (*lines)[(*count)++] = line;
    return true;
}

static bool tail_note(TableWork *work, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A comment line at the end of the model's body. */
static bool
tail_note(TableWork *work, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *line = pd_arena_vsprintf(work->mapper->arena, fmt, args);
    va_end(args);
    InspectModel *model = work->model;
    return add_line(work->mapper->arena, &model->tail_notes, &model->tail_note_count, line);
}

static bool field_note(PdArena *arena, InspectField *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A comment line before the field (or instead of it). */
static bool
field_note(PdArena *arena, InspectField *field, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *line = pd_arena_vsprintf(arena, fmt, args);
    va_end(args);
    return add_line(arena, &field->notes, &field->note_count, line);
}

/* ---- names ----------------------------------------------------------------- */

/* [a-z_][a-z0-9_$]*, at most 63 bytes: what `table "..."` and name="..." accept. */
static bool
is_sql_name(const char *name)
{
    size_t length = strlen(name);
    return length > 0 && length <= NAME_MAX_BYTES && ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_$") == length;
}

/* Why name cannot be a field's name, or NULL. */
static const char *
field_name_problem(const char *name, bool is_primary_key)
{
    static const char *reserved[] = {"ordering", "table", "resource", "unique", "index", "renamed_from"};
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        return "a field name is lower-case letters, digits and _";
    if (strlen(name) > FIELD_NAME_MAX)
        return "a field name has at most 59 characters";
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(name, reserved[i]) == 0)
            return "it is a reserved word of the language";
    if (strcmp(name, "id") == 0 && !is_primary_key)
        return "id is the name of the implicit primary key";
    return NULL;
}

/* CamelCase of a table name: shop_book -> ShopBook. Letters and digits only, starting with a capital. */
static char *
camel_case(PdArena *arena, const char *table)
{
    size_t length = strlen(table);
    char *name = pd_arena_alloc(arena, length + 6);
    if (name == NULL)
        return NULL;
    size_t used = 0;
    bool is_word_start = true;
    for (const char *c = table; *c != '\0'; c++)
    {
        bool is_letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
        if (!is_letter && !(*c >= '0' && *c <= '9'))
        {
            is_word_start = true;
            continue;
        }
        name[used++] = is_word_start && *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
        is_word_start = false;
    }
    name[used] = '\0'; /* no longer than the table's name: at most 63 bytes */
    if (!(name[0] >= 'A' && name[0] <= 'Z'))
        return pd_arena_sprintf(arena, "Table%.58s", name);
    return name;
}

/* base, or base2, base3, ...: the first that names is not holding; at most 63 bytes. */
static const char *
unique_name(PdArena *arena, PdStrmap *names, const char *base)
{
    const char *name = base;
    for (int n = 2; name != NULL && pd_strmap_contains(names, name); n++)
        name = pd_arena_sprintf(arena, "%.*s%d", NAME_MAX_BYTES - 10, base, n);
    if (name == NULL || !pd_strmap_put(names, name, (void *)name))
        return NULL;
    return name;
}

/*
 * Model names, unique over the file: first the tables that are the snake_case of their CamelCase name keep
 * it (shop_book is ShopBook), then the others take theirs, numbered when it is taken (odd__d is OddD2).
 */
static bool
assign_model_names(Mapper *mapper, PdStrmap *names)
{
    PdArena *arena = mapper->arena;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < mapper->schema->table_count; i++)
        {
            InspectModel *model = &mapper->models[i];
            if (model->name != NULL)
                continue;
            char *base = camel_case(arena, model->table->name);
            char *snake = base != NULL ? pd_model_snake_case(arena, base) : NULL;
            if (snake == NULL)
                return false;
            if (pass == 0 && strcmp(snake, model->table->name) != 0)
                continue;
            if ((model->name = unique_name(arena, names, base)) == NULL)
                return false;
        }
    return true;
}

/* Model names, table directives and resources, unique over the file; tables that can be no model. */
static bool
assign_names(Mapper *mapper)
{
    PdArena *arena = mapper->arena;
    size_t count = mapper->schema->table_count;
    PdStrmap *names = pd_strmap_new(arena, count), *resources = pd_strmap_new(arena, count);
    if (names == NULL || resources == NULL || !assign_model_names(mapper, names))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        InspectModel *model = &mapper->models[i];
        char *snake = pd_model_snake_case(arena, model->name);
        char *plural = snake != NULL ? pd_model_plural(arena, snake) : NULL;
        if (plural == NULL)
            return false;
        model->has_table_directive = strcmp(snake, model->table->name) != 0;
        if (!is_sql_name(model->table->name))
            model->not_a_model = "its name is not one the language can write (lower-case letters, digits, _ "
                                 "and $, at most 63 bytes)";
        else if (model->table->shape != NULL)
            model->not_a_model =
                pd_arena_sprintf(arena, "it is %s, which the language cannot express", model->table->shape);
        if (model->not_a_model != NULL)
            continue;
        const char *resource = unique_name(arena, resources, plural);
        if (resource == NULL)
            return false;
        model->resource = strcmp(resource, plural) != 0 ? resource : NULL;
    }
    return true;
}

/* ---- primary keys ---------------------------------------------------------- */

static const InspectColumn *
column_by_number(const InspectTable *table, int number)
{
    for (size_t i = 0; i < table->column_count; i++)
        if (table->columns[i].number == number)
            return &table->columns[i];
    return NULL;
}

static const InspectColumn *
column_by_name(const InspectTable *table, const char *name)
{
    for (size_t i = 0; i < table->column_count; i++)
        if (strcmp(table->columns[i].name, name) == 0)
            return &table->columns[i];
    return NULL;
}

static const InspectConstraint *
primary_key_of(const InspectTable *table)
{
    for (size_t i = 0; i < table->constraint_count; i++)
        if (table->constraints[i].type == 'p')
            return &table->constraints[i];
    return NULL;
}

/* The language's own id: bigint generated by default as identity, named id. */
static bool
is_implicit_id(const InspectColumn *column)
{
    return strcmp(column->name, "id") == 0 && strcmp(column->type, "bigint") == 0 &&
           column->identity == 'd' && column->default_sql == NULL && !column->is_generated &&
           column->collation == NULL;
}

/* A primary key of several columns: primary_key(a, b), each column one the language can type (a foreign
 * key column becomes its relation field's name when written). Why not, or NULL; fills the key's columns. */
static const char *
composite_key_problem(Mapper *mapper, InspectModel *model, const InspectConstraint *key)
{
    model->key_columns = pd_arena_calloc(mapper->arena, key->column_count + 1, sizeof(InspectColumn *));
    if (model->key_columns == NULL)
        return NULL;
    for (size_t i = 0; i < key->column_count; i++)
    {
        const InspectColumn *column = column_by_number(model->table, key->columns[i]);
        PdColumnType type;
        if (column == NULL)
            return "a column of its primary key was not read";
        if (column->identity != 0 || column->is_generated || !pd_inspect_column_type(column->type, &type) ||
            type.kind == PD_FIELD_JSON)
            return pd_arena_sprintf(mapper->arena, "its primary key's column %s %s cannot be part of a key",
                                    column->name, column->type);
        model->key_columns[model->key_column_count++] = column;
    }
    model->key_type = ""; /* no relation may point at it (the language refuses them, as Django 5.2) */
    return NULL;
}

/* Why the table's primary key cannot be said (then the table is no model), or NULL; fills the key. */
static const char *
key_problem(Mapper *mapper, InspectModel *model)
{
    const InspectTable *table = model->table;
    const InspectConstraint *key = primary_key_of(table);
    if (key == NULL)
        return "it has no primary key, and every model has one";
    const char *derived = pd_model_constraint_name(mapper->arena, table->name, NULL, "pkey");
    if (derived == NULL)
        return NULL;
    if (strcmp(key->name, derived) != 0)
        return pd_arena_sprintf(mapper->arena, "its primary key is named %s; the language names it %s",
                                key->name, derived);
    if (!pd_inspect_is_plain_key(key->definition, true))
        return pd_arena_sprintf(mapper->arena, "its primary key is %s", key->definition);
    if (key->column_count != 1)
        return composite_key_problem(mapper, model, key);
    const InspectColumn *column = column_by_number(table, key->columns[0]);
    if (column == NULL)
        return "its primary key's column was not read";
    model->key_type = column->type;
    if (is_implicit_id(column))
    {
        model->key_kind = PD_FIELD_BIGINT;
        return NULL;
    }
    PdColumnType type;
    if (column->identity != 0)
        return pd_arena_sprintf(mapper->arena,
                                "its primary key %s is %s generated %s as identity; the language's identity "
                                "column is id bigint generated by default",
                                column->name, column->type,
                                column->identity == 'a' ? "always" : "by default");
    if (column->is_generated || !pd_inspect_column_type(column->type, &type) || type.kind == PD_FIELD_JSON ||
        type.is_array)
        return pd_arena_sprintf(mapper->arena,
                                "its primary key %s is of type %s%s, which a model's key cannot be",
                                column->name, column->type, column->is_generated ? " (generated)" : "");
    const char *problem = field_name_problem(column->name, true);
    if (problem != NULL)
        return pd_arena_sprintf(mapper->arena, "its primary key's column %s cannot be a field name: %s",
                                column->name, problem);
    model->primary_key = column;
    model->key_kind = type.kind;
    return NULL;
}

/* ---- fields ------------------------------------------------------------------ */

/* The column as the drift check prints it: "character(3) not null default 'x'::bpchar". */
static const char *
column_sql(PdArena *arena, const InspectColumn *column)
{
    return pd_arena_sprintf(arena, "%s%s%s%s%s%s", column->type, column->is_not_null ? " not null" : " null",
                            column->identity == 'a'   ? " generated always as identity"
                            : column->identity == 'd' ? " generated by default as identity"
                                                      : "",
                            column->default_sql == NULL ? ""
                            : column->is_generated      ? " generated always as "
                                                        : " default ",
                            column->default_sql != NULL ? column->default_sql : "",
                            column->is_generated ? " stored" : "");
}

/* The model-language spelling of a type: "string(200)", "decimal(8,2)", "int". */
static const char *
type_text(PdArena *arena, const PdColumnType *type)
{
    const PdKindInfo *info = pd_kind_info(type->kind);
    const char *brackets = type->is_array ? "[]" : "";
    if (info->numbers == PD_NUMBERS_LENGTH)
        return pd_arena_sprintf(arena, "%s(%d)%s", info->name, type->length, brackets);
    if (info->numbers == PD_NUMBERS_PRECISION_SCALE)
        return pd_arena_sprintf(arena, "%s(%d,%d)%s", info->name, type->precision, type->scale, brackets);
    return pd_arena_sprintf(arena, "%s%s", info->name, brackets);
}

/* The only foreign key on exactly this column, or NULL (none, or several: then each is a comment). */
static const InspectConstraint *
foreign_key_on(const InspectTable *table, const InspectColumn *column)
{
    const InspectConstraint *found = NULL;
    for (size_t i = 0; i < table->constraint_count; i++)
    {
        const InspectConstraint *constraint = &table->constraints[i];
        bool is_on_column = false;
        for (size_t k = 0; k < constraint->column_count; k++)
            is_on_column = is_on_column || constraint->columns[k] == column->number;
        if (constraint->type != 'f' || !is_on_column)
            continue;
        if (found != NULL || constraint->column_count != 1)
            return NULL;
        found = constraint;
    }
    return found;
}

/* A default of field's column; a comment when it is not one the language says. */
static bool
map_default(TableWork *work, InspectField *out, const PdField *value_field)
{
    PdArena *arena = work->mapper->arena;
    const InspectColumn *column = out->column;
    if (column->default_sql == NULL)
        return true;
    PdKindFamily family = pd_kind_info(value_field->kind)->family;
    char *sequence = pd_model_constraint_name(arena, work->table->name, column->name, "seq");
    if (sequence == NULL)
        return false;
    if (family == PD_FAMILY_INTEGER && column->is_not_null && column->owned_sequence != NULL &&
        strcmp(column->owned_sequence, sequence) == 0 && pd_inspect_is_nextval(column->default_sql, sequence))
    {
        out->is_serial = true;
        return true;
    }
    bool is_current_timestamp;
    if (pd_inspect_read_default(arena, value_field, column->default_sql, &out->field.default_value,
                                &is_current_timestamp))
        return !is_current_timestamp ||
               field_note(arena, out,
                          "default CURRENT_TIMESTAMP of column %s: written default=now, which migrations "
                          "spell now() (the same value)",
                          column->name);
    return field_note(arena, out, "default of column %s: %s: not expressed, the field has no default",
                      column->name, column->default_sql);
}

/* A generated column of a model type: generated(...) when its expression reads back in the language. */
static bool
map_generated(TableWork *work, InspectField *out, const PdColumnType *type)
{
    PdArena *arena = work->mapper->arena;
    const InspectColumn *column = out->column;
    const char *reason = NULL;
    if (out->type_text == NULL)
        return false;
    if (!pd_inspect_read_generated(arena, work->table, column, out->type_text, &out->generated, &reason))
    {
        out->name = NULL;
        return field_note(arena, out, "column %s %s: not in the model (a generated column: %s)", column->name,
                          column_sql(arena, column), reason);
    }
    out->field = (PdField){.name = column->name,
                           .column = column->name,
                           .kind = type->kind,
                           .max_length = type->length,
                           .precision = type->precision,
                           .scale = type->scale,
                           .is_nullable = !column->is_not_null};
    return true;
}

/* The field of a column with a model type of its own (not a relation). False only on exhaustion. */
static bool
map_plain(TableWork *work, InspectField *out)
{
    PdArena *arena = work->mapper->arena;
    const InspectColumn *column = out->column;
    PdColumnType type;
    const char *problem = field_name_problem(column->name, column == work->model->primary_key);
    const char *why = NULL;
    if (column->identity != 0)
        why = "an identity column other than the implicit id";
    else if (!pd_inspect_column_type(column->type, &type))
        why = pd_arena_sprintf(arena, "the language has no type %s", column->type);
    else if (problem != NULL)
        why = pd_arena_sprintf(arena, "its name cannot be a field's: %s", problem);
    if (why != NULL)
        return field_note(arena, out, "column %s %s: not in the model (%s)", column->name,
                          column_sql(arena, column), why);
    out->name = column->name;
    out->type_text = type_text(arena, &type);
    if (column->is_generated)
        return map_generated(work, out, &type);
    out->field = (PdField){.name = column->name,
                           .column = column->name,
                           .kind = type.kind,
                           .is_array = type.is_array,
                           .max_length = type.length,
                           .precision = type.precision,
                           .scale = type.scale,
                           .is_nullable = !column->is_not_null,
                           .is_primary_key = column == work->model->primary_key};
    return out->type_text != NULL && map_default(work, out, &out->field);
}

/* Why a foreign key cannot be a relation field, or NULL; fills out as that field. */
static const char *
relation_problem(TableWork *work, const InspectConstraint *key, InspectField *out)
{
    PdArena *arena = work->mapper->arena;
    const InspectColumn *column = out->column;
    const char *reason = NULL;
    bool is_deferrable = false;
    PdOnDelete on_delete;
    if (!pd_inspect_read_foreign_key(key->definition, &on_delete, &is_deferrable, &reason))
        return reason;
    if (key->target == INSPECT_NO_TABLE)
        return pd_arena_sprintf(arena, "%s is not inspected", key->target_name);
    const InspectModel *target = &work->mapper->models[key->target];
    if (target->not_a_model != NULL)
        return pd_arena_sprintf(arena, "%s is not a model", target->table->name);
    if (target->key_column_count > 0)
        return pd_arena_sprintf(arena,
                                "%s has a composite primary key, and relations to one are not supported",
                                target->table->name);
    const InspectColumn *target_key =
        target->primary_key != NULL ? target->primary_key : column_by_name(target->table, "id");
    if (key->target_column_count != 1 || target_key == NULL || key->target_columns[0] != target_key->number)
        return pd_arena_sprintf(arena, "it references another column of %s than its primary key",
                                target->table->name);
    if (column == work->model->primary_key)
        return "a primary key cannot be a relation in the language";
    size_t length = strlen(column->name);
    if (length < 4 || strcmp(column->name + length - 3, "_id") != 0)
        return "its column's name does not end in _id";
    char *name = pd_arena_strndup(arena, column->name, length - 3);
    const char *problem = name != NULL ? field_name_problem(name, false) : "out of memory";
    if (problem != NULL)
        return pd_arena_sprintf(arena, "%s cannot be a field's name: %s", name, problem);
    if (column_by_name(work->table, name) != NULL)
        return pd_arena_sprintf(arena, "its field would be named %s, as another column is", name);
    if (strcmp(column->type, target->key_type) != 0)
        return pd_arena_sprintf(arena, "its column is %s and the key of %s is %s", column->type,
                                target->table->name, target->key_type);
    if (column->identity != 0 || column->is_generated)
        return "its column is an identity or generated column";
    if (on_delete == PD_ON_DELETE_SET_NULL && column->is_not_null)
        return "ON DELETE SET NULL on a column that is not null";
    out->name = name;
    out->type_text = target->name;
    out->target = key->target;
    out->is_deferrable = is_deferrable;
    out->is_no_index = true; /* until its index is found */
    out->field = (PdField){.name = name,
                           .column = column->name,
                           .kind = PD_FIELD_FOREIGN_KEY,
                           .is_nullable = !column->is_not_null,
                           .on_delete = on_delete};
    const char *derived = pd_model_constraint_name(arena, work->table->name, column->name, "fkey");
    if (derived == NULL || strcmp(derived, key->name) == 0)
        return NULL;
    if (!is_sql_name(key->name))
        return "its name is not one the language can write";
    /* PostgreSQL names foreign keys per table; the language keeps a given name in one namespace */
    if (pd_strmap_contains(work->mapper->db_names, key->name))
        return "its name is also a table's, an index's or another foreign key's, which the language refuses";
    out->fk_name = key->name;
    return NULL;
}

/* A relation's default: a value of the target's key. */
static bool
map_relation_default(TableWork *work, InspectField *out)
{
    const InspectModel *target = &work->mapper->models[out->target];
    PdField value_field = {
        .name = out->name, .kind = target->key_kind, .is_nullable = out->field.is_nullable};
    PdColumnType type;
    if (pd_inspect_column_type(target->key_type, &type))
        value_field.max_length = type.length, value_field.precision = type.precision,
        value_field.scale = type.scale;
    if (!map_default(work, out, &value_field))
        return false;
    if (out->is_serial) /* a sequence in a reference column is no serial of the language */
    {
        out->is_serial = false;
        return field_note(work->mapper->arena, out, "default of column %s: %s: not expressed",
                          out->column->name, out->column->default_sql);
    }
    return true;
}

static bool
map_column_shape(TableWork *work, const InspectColumn *column, InspectField *out)
{
    PdArena *arena = work->mapper->arena;
    if (column->collation != NULL && !field_note(arena, out, "column %s has the collation %s: not expressed",
                                                 column->name, column->collation))
        return false;
    const InspectConstraint *key = foreign_key_on(work->table, column);
    if (key == NULL)
        return map_plain(work, out);
    work->is_constraint_said[key - work->table->constraints] = true;
    InspectField relation = *out;
    const char *problem = relation_problem(work, key, &relation);
    if (problem == NULL && !map_relation_default(work, &relation))
        return false;
    if (problem == NULL && relation.field.on_delete == PD_ON_DELETE_SET_DEFAULT &&
        relation.field.default_value.kind == PD_DEFAULT_NONE)
        problem = "ON DELETE SET DEFAULT without a default the language can say";
    if (problem == NULL)
    {
        *out = relation;
        return out->fk_name == NULL || work->model->not_a_model != NULL ||
               pd_strmap_put(work->mapper->db_names, out->fk_name, (void *)out->fk_name);
    }
    return tail_note(work, "foreign key %s: %s: not expressed (%s); %s stays a plain column", key->name,
                     key->definition, problem, column->name) &&
           map_plain(work, out);
}

/* One column as a field (its comment as comment="..."), or as the comment saying why it is none. */
static bool
map_column(TableWork *work, const InspectColumn *column, InspectField *out)
{
    *out = (InspectField){.column = column, .target = INSPECT_NO_TABLE};
    if (!map_column_shape(work, column, out))
        return false;
    if (column->comment == NULL)
        return true;
    if (out->name != NULL)
    {
        out->field.comment = column->comment;
        return true;
    }
    return field_note(work->mapper->arena, out, "database comment on column %s: %s", column->name,
                      column->comment);
}

static bool
map_columns(TableWork *work)
{
    InspectModel *model = work->model;
    const InspectTable *table = work->table;
    model->fields = pd_arena_calloc(work->mapper->arena, table->column_count + 1, sizeof(InspectField));
    if (model->fields == NULL)
        return false;
    for (size_t i = 0; i < table->column_count; i++)
    {
        const InspectColumn *column = &table->columns[i];
        if (model->primary_key == NULL && model->key_column_count == 0 && model->not_a_model == NULL &&
            is_implicit_id(column))
        {
            if (column->comment != NULL &&
                !add_line(work->mapper->arena, &model->notes, &model->note_count,
                          pd_arena_sprintf(work->mapper->arena, "database comment on column id: %s",
                                           column->comment)))
                return false;
            continue;
        }
        if (!map_column(work, column, &model->fields[model->field_count++]))
            return false;
    }
    return true;
}

/* ---- constraints and indexes --------------------------------------------------- */

static InspectField *
field_of_column(const InspectModel *model, const char *column)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].name != NULL && strcmp(model->fields[i].column->name, column) == 0)
            return &model->fields[i];
    return NULL;
}

static bool
add_model_index(TableWork *work, bool is_unique, const char *name, InspectField **fields,
                const char **opclasses, size_t count)
{
    PdArena *arena = work->mapper->arena;
    InspectModel *model = work->model;
    model->indexes =
        pd_arena_reserve_next(arena, model->indexes, model->index_count, sizeof(InspectModelIndex));
    const char **names = pd_arena_calloc(arena, count, sizeof(char *));
    if (model->indexes == NULL || names == NULL)
        return false;
    for (size_t i = 0; i < count; i++)
        names[i] = fields[i]->name;
    model->indexes[model->index_count++] = (InspectModelIndex){is_unique, names, opclasses, count, name};
    return true;
}

/* The fields of a list of columns, each once; NULL (with *missing) when one is not in the model. */
static InspectField **
fields_of(TableWork *work, const char *const *columns, size_t count, const char **missing)
{
    InspectField **fields = pd_arena_calloc(work->mapper->arena, count + 1, sizeof(InspectField *));
    if (fields == NULL)
        return *missing = NULL, NULL;
    for (size_t i = 0; i < count; i++)
    {
        fields[i] = field_of_column(work->model, columns[i]);
        for (size_t k = 0; k < i && fields[i] != NULL; k++)
            if (fields[k] == fields[i])
                return *missing = columns[i], NULL;
        if (fields[i] == NULL)
            return *missing = columns[i], NULL;
    }
    return fields;
}

/* UNIQUE constraints: a field's `unique` (or one_to_one) when named as derived, else unique(...). */
static bool
map_unique(TableWork *work, const InspectConstraint *constraint)
{
    PdArena *arena = work->mapper->arena;
    const char **columns = pd_arena_calloc(arena, constraint->column_count + 1, sizeof(char *));
    if (columns == NULL)
        return false;
    for (size_t i = 0; i < constraint->column_count; i++)
    {
        const InspectColumn *column = column_by_number(work->table, constraint->columns[i]);
        columns[i] = column != NULL ? column->name : "?";
    }
    const char *missing = NULL;
    InspectField **fields = fields_of(work, columns, constraint->column_count, &missing);
    if (fields == NULL)
        return missing != NULL &&
               tail_note(work, "unique constraint %s: %s: not expressed (its column %s is not a field)",
                         constraint->name, constraint->definition, missing);
    if (!pd_inspect_is_plain_key(constraint->definition, false) || !is_sql_name(constraint->name))
        return tail_note(work, "unique constraint %s: %s: not expressed", constraint->name,
                         constraint->definition);
    InspectField *field = fields[0];
    const char *derived = pd_model_constraint_name(arena, work->table->name, field->column->name, "key");
    if (derived == NULL)
        return false;
    if (constraint->column_count == 1 && strcmp(constraint->name, derived) == 0 &&
        !field->field.is_primary_key && !field->field.is_unique && field->field.kind != PD_FIELD_ONE_TO_ONE)
    {
        if (field->field.kind == PD_FIELD_FOREIGN_KEY)
        {
            field->field.kind = PD_FIELD_ONE_TO_ONE;
            field->is_no_index = false; /* a one-to-one field has no index of its own */
        }
        else
            field->field.is_unique = true;
        return true;
    }
    return add_model_index(work, true, constraint->name, fields,
                           pd_arena_calloc(arena, constraint->column_count, sizeof(char *)),
                           constraint->column_count);
}

/* A field's checks: those named <table>_<column>_check, _check1, ... in turn, while each reads as one. */
static bool
map_field_checks(TableWork *work, InspectField *field)
{
    PdArena *arena = work->mapper->arena;
    for (size_t number = 0;; number++)
    {
        const char *name =
            pd_model_check_constraint_name(arena, work->table->name, field->column->name, number);
        if (name == NULL)
            return false;
        size_t found = work->table->constraint_count;
        for (size_t i = 0; i < work->table->constraint_count; i++)
            if (work->table->constraints[i].type == 'c' &&
                strcmp(work->table->constraints[i].name, name) == 0)
                found = i;
        PdCheck check;
        if (found == work->table->constraint_count ||
            !pd_inspect_read_check(arena, &field->field, field->column->name,
                                   work->table->constraints[found].definition, &check))
            return true;
        field->field.checks =
            pd_arena_reserve_next(arena, field->field.checks, field->field.check_count, sizeof(PdCheck));
        if (field->field.checks == NULL)
            return false;
        field->field.checks[field->field.check_count++] = check;
        work->is_constraint_said[found] = true;
    }
}

/*
 * A CHECK that is no field's: a model-level check(...) with its name, when the language's expressions can
 * say its condition (a candidate, verified by inspect_verify.c); else a comment.
 */
static bool
map_model_check(TableWork *work, const InspectConstraint *constraint)
{
    PdArena *arena = work->mapper->arena;
    const char *definition = constraint->definition, *text = NULL;
    size_t length = strlen(definition);
    if (strncmp(definition, "CHECK (", 7) == 0 && definition[length - 1] == ')' &&
        is_sql_name(constraint->name))
    {
        char *inner = pd_arena_strndup(arena, definition + 7, length - 8);
        if (inner == NULL)
            return false;
        if (!pd_inspect_read_condition(arena, inner, &text))
            text = NULL;
    }
    if (text == NULL)
        return tail_note(work, "check %s: %s: not expressed", constraint->name, definition);
    InspectModel *model = work->model;
    model->checks =
        pd_arena_reserve_next(arena, model->checks, model->check_count, sizeof(InspectModelCheck));
    if (model->checks == NULL)
        return false;
    model->checks[model->check_count++] = (InspectModelCheck){constraint->name, text, definition};
    return true;
}

static bool
map_constraints(TableWork *work)
{
    const InspectTable *table = work->table;
    for (size_t i = 0; i < work->model->field_count; i++)
        if (work->model->fields[i].name != NULL && !map_field_checks(work, &work->model->fields[i]))
            return false;
    for (size_t i = 0; i < table->constraint_count; i++)
    {
        const InspectConstraint *constraint = &table->constraints[i];
        if (work->is_constraint_said[i] || constraint->type == 'p')
            continue;
        bool is_done = true;
        if (constraint->type == 'u')
            is_done = map_unique(work, constraint);
        else if (constraint->type == 'c')
            is_done = map_model_check(work, constraint);
        else if (constraint->type == 'f')
            is_done = tail_note(work,
                                "foreign key %s: %s: not expressed (a key of several columns, or one of "
                                "several on its column)",
                                constraint->name, constraint->definition);
        else
            is_done = tail_note(work, "%s %s: %s: not expressed",
                                constraint->type == 'x'   ? "exclusion constraint"
                                : constraint->type == 't' ? "constraint trigger"
                                                          : "constraint",
                                constraint->name, constraint->definition);
        if (!is_done)
            return false;
    }
    return true;
}

/* A one-column index that a field says: `index`, or a foreign key's own (no `no_index`). */
static bool
is_field_index(TableWork *work, const InspectIndex *index, const InspectIndexShape *shape,
               InspectField *field)
{
    if (shape->column_count != 1 || shape->opclasses[0] != NULL || shape->is_gin != field->field.is_array)
        return false;
    const char *derived =
        pd_model_constraint_name(work->mapper->arena, work->table->name, field->column->name, "idx");
    if (derived == NULL || strcmp(derived, index->name) != 0)
        return false;
    if (field->field.kind == PD_FIELD_FOREIGN_KEY && field->is_no_index)
    {
        field->is_no_index = false; /* its default index is there */
        return true;
    }
    if (field->field.kind == PD_FIELD_FOREIGN_KEY || field->field.kind == PD_FIELD_ONE_TO_ONE ||
        field->field.is_primary_key || field->field.is_unique || field->is_index)
        return false;
    return field->is_index = true;
}

/*
 * "CREATE INDEX <table>_<column>_trgm ON <schema>.<table> USING gin (<column> gin_trgm_ops)" on a text field:
 * the index search=trigram makes, said by that option. Any other GIN index stays a note.
 */
static bool
is_trigram_index(TableWork *work, const InspectIndex *index)
{
    static const char using[] = " USING gin (", opclass[] = " gin_trgm_ops)";
    const char *at = strstr(index->definition, using);
    if (strncmp(index->definition, "CREATE INDEX ", 13) != 0 || at == NULL)
        return false;
    const char *column = at + strlen(using), *end = strstr(column, opclass);
    if (end == NULL || strcmp(end, opclass) != 0)
        return false;
    const char *name = pd_arena_strndup(work->mapper->arena, column, (size_t)(end - column));
    const char *missing = NULL;
    InspectField **fields = name != NULL ? fields_of(work, &name, 1, &missing) : NULL;
    if (fields == NULL || pd_kind_info(fields[0]->field.kind)->family != PD_FAMILY_TEXT ||
        fields[0]->field.search != PD_SEARCH_NONE)
        return false;
    const char *derived = pd_model_constraint_name(work->mapper->arena, work->table->name, name, "trgm");
    if (derived == NULL || strcmp(derived, index->name) != 0)
        return false;
    fields[0]->field.search = PD_SEARCH_TRIGRAM;
    fields[0]->field.is_searchable = true;
    return true;
}

static bool
map_index(TableWork *work, const InspectIndex *index)
{
    PdArena *arena = work->mapper->arena;
    InspectIndexShape shape;
    const char *reason = NULL;
    if (!index->is_valid)
        return tail_note(work,
                         "index %s: %s: not expressed (it is INVALID: a failed CREATE INDEX CONCURRENTLY)",
                         index->name, index->definition);
    if (is_trigram_index(work, index))
        return true;
    if (!pd_inspect_read_index(arena, index->definition, &shape, &reason))
        return tail_note(work, "index %s: %s: not expressed (%s)", index->name, index->definition, reason);
    bool has_function = false;
    for (size_t i = 0; i < shape.column_count; i++)
        has_function = has_function || shape.functions[i] != NULL;
    const char *where = NULL;
    if (shape.where != NULL && !pd_inspect_read_condition(arena, shape.where, &where))
        return tail_note(work, "index %s: %s: not expressed (a condition the language cannot say)",
                         index->name, index->definition);
    if (shape.is_unique && where == NULL && !has_function)
        return tail_note(work, "index %s: %s: not expressed (a unique index that is no constraint)",
                         index->name, index->definition);
    const char *missing = NULL;
    InspectField **fields = fields_of(work, shape.columns, shape.column_count, &missing);
    if (fields == NULL)
        return missing != NULL &&
               tail_note(work, "index %s: %s: not expressed (its column %s is not a field)", index->name,
                         index->definition, missing);
    if (!is_sql_name(index->name))
        return tail_note(work, "index %s: %s: not expressed (its name is not one the language can write)",
                         index->name, index->definition);
    if (where == NULL && !has_function && is_field_index(work, index, &shape, fields[0]))
        return true;
    if (shape.is_gin)
        return tail_note(work, "index %s: %s: not expressed (a gin index other than an array field's index)",
                         index->name, index->definition);
    if (!add_model_index(work, shape.is_unique, index->name, fields, shape.opclasses, shape.column_count))
        return false;
    if (where != NULL || has_function)
    {
        InspectModelIndex *added = &work->model->indexes[work->model->index_count - 1];
        added->functions = has_function ? shape.functions : NULL;
        added->where = where;
        added->definition = index->definition;
    }
    return true;
}

static bool
map_indexes(TableWork *work)
{
    for (size_t i = 0; i < work->table->index_count; i++)
    {
        const InspectIndex *index = &work->table->indexes[i];
        if (!index->is_constraint && !map_index(work, index))
            return false;
    }
    return true;
}

/*
 * prodata's auto_now trigger: each column it keeps current is an auto_now field when it has the default of
 * now (which the trigger's field implies); otherwise the trigger is a comment and the fields keep
 * default=now.
 */
static bool
map_auto_now(TableWork *work)
{
    const char *definition = work->table->auto_now_trigger;
    if (definition == NULL)
        return true;
    const char **columns;
    size_t count;
    if (!pd_inspect_read_auto_now(work->mapper->arena, definition, &columns, &count))
        return tail_note(work, "trigger prodata_auto_now: %s: not expressed", definition);
    InspectField **fields = pd_arena_calloc(work->mapper->arena, count + 1, sizeof(InspectField *));
    if (fields == NULL)
        return false;
    for (size_t i = 0; i < count; i++)
    {
        InspectField *field = field_of_column(work->model, columns[i]);
        if (field == NULL || field->field.default_value.kind != PD_DEFAULT_NOW ||
            field->field.is_primary_key || field->field.is_auto_now)
            return tail_note(work,
                             "trigger prodata_auto_now: %s: not expressed (column %s is no field with "
                             "the default of now)",
                             definition, columns[i]);
        fields[i] = field;
    }
    for (size_t i = 0; i < count; i++)
        fields[i]->field.is_auto_now = true;
    return true;
}

static bool
map_table(Mapper *mapper, InspectModel *model)
{
    PdArena *arena = mapper->arena;
    const InspectTable *table = model->table;
    TableWork work = {mapper, model, table, pd_arena_calloc(arena, table->constraint_count + 1, sizeof(bool)),
                      pd_arena_calloc(arena, table->index_count + 1, sizeof(bool))};
    if (work.is_constraint_said == NULL || work.is_index_said == NULL)
        return false;
    if (table->is_unlogged &&
        !tail_note(&work, "table %s is UNLOGGED: not expressed (a migration makes it logged)", table->name))
        return false;
    return map_columns(&work) && map_auto_now(&work) && map_constraints(&work) && map_indexes(&work);
}

/* ---- related names ------------------------------------------------------------- */

/*
 * Each target's reverse accessors must differ from each other and from its fields: the default
 * (<model snake>_set, or <model snake> for one-to-one) when free, else <model snake>_<field>[_set], else
 * that with a number.
 */
static bool
assign_related_names(Mapper *mapper)
{
    PdArena *arena = mapper->arena;
    size_t count = mapper->schema->table_count;
    PdStrmap **taken = pd_arena_calloc(arena, count + 1, sizeof(PdStrmap *));
    if (taken == NULL)
        return false;
    for (size_t m = 0; m < count; m++)
    {
        InspectModel *model = &mapper->models[m];
        if (model->not_a_model != NULL)
            continue;
        if ((taken[m] = pd_strmap_new(arena, model->field_count + 1)) == NULL ||
            !pd_strmap_put(taken[m], "id", model))
            return false;
        for (size_t i = 0; i < model->field_count; i++)
            if (model->fields[i].name != NULL && !pd_strmap_put(taken[m], model->fields[i].name, model))
                return false;
    }
    for (size_t m = 0; m < count; m++)
    {
        InspectModel *model = &mapper->models[m];
        char *snake = pd_model_snake_case(arena, model->name);
        if (snake == NULL)
            return false;
        for (size_t i = 0; i < model->field_count && model->not_a_model == NULL; i++)
        {
            InspectField *field = &model->fields[i];
            if (field->name == NULL || field->target == INSPECT_NO_TABLE)
                continue;
            const char *suffix = field->field.kind == PD_FIELD_ONE_TO_ONE ? "" : "_set";
            const char *base = pd_arena_sprintf(arena, "%s%s", snake, suffix);
            const char *name = base;
            PdStrmap *names = taken[field->target];
            if (name != NULL && pd_strmap_contains(names, name))
                name = base = pd_arena_sprintf(arena, "%s_%s%s", snake, field->name, suffix);
            for (int n = 2; name != NULL && pd_strmap_contains(names, name); n++)
                name = pd_arena_sprintf(arena, "%s_%d", base, n);
            if (name == NULL || !pd_strmap_put(names, name, field))
                return false;
            const char *default_name = pd_arena_sprintf(arena, "%s%s", snake, suffix);
            field->related_name = default_name != NULL && strcmp(name, default_name) != 0 ? name : NULL;
        }
    }
    return true;
}

bool
pd_inspect_map(PdArena *arena, const InspectSchema *schema, InspectModel **models, PdError *err)
{
    Mapper mapper = {arena, err, schema,
                     pd_arena_calloc(arena, schema->table_count + 1, sizeof(InspectModel))};
    if (mapper.models == NULL)
        return pd_arena_error(arena, err);
    mapper.db_names = pd_strmap_new(arena, schema->table_count);
    if (mapper.db_names == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < schema->table_count; i++)
    {
        const InspectTable *table = &schema->tables[i];
        mapper.models[i].table = table;
        if (!pd_strmap_put(mapper.db_names, table->name, (void *)table->name))
            return pd_arena_error(arena, err);
        for (size_t k = 0; k < table->index_count; k++)
            if (!pd_strmap_put(mapper.db_names, table->indexes[k].name, (void *)table->indexes[k].name))
                return pd_arena_error(arena, err);
    }
    if (!assign_names(&mapper))
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < schema->table_count; i++)
        if (mapper.models[i].not_a_model == NULL)
            mapper.models[i].not_a_model = key_problem(&mapper, &mapper.models[i]);
    for (size_t i = 0; i < schema->table_count; i++)
        if (!map_table(&mapper, &mapper.models[i]))
            return pd_arena_error(arena, err);
    if (!assign_related_names(&mapper))
        return pd_arena_error(arena, err);
    *models = mapper.models;
    return true;
}

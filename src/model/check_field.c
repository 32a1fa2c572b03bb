/*
 * check_field.c - the meaning of one field line: its type (a built-in or a
 * model), the numbers in its type, which options apply to that type and
 * which exclude each other, and the values it carries (default, check
 * literals, choices). It also derives what the line leaves implicit: the
 * column, the default index of slugs and foreign keys, on_delete, related
 * names and join tables. Checks that need the whole model (duplicate
 * names, column clashes) or the whole file (related-name clashes) are in
 * check.c. What each kind accepts (spellings, numbers, families) is read from
 * the kind table (kind.c). Every error points at the token it is about. A
 * line gives at most one problem (its options mean little with a wrong type);
 * check.c collects it and goes on to the next line.
 */
#include <stdio.h>
#include <string.h>

#include "lexer.h"
#include "prodata/strmap.h"
#include "syntax.h"

#define FIELD_NAME_MAX 59

static bool
is_family(PdFieldKind kind, PdKindFamily family)
{
    return pd_kind_info(kind)->family == family;
}

static bool
is_number_kind(PdFieldKind kind)
{
    return is_family(kind, PD_FAMILY_INTEGER) || is_family(kind, PD_FAMILY_NUMERIC);
}

static bool
check_length(const PdFieldSyntax *syntax, PdField *out, const PdKindInfo *type, PdError *err)
{
    if (syntax->type_arg_count == 0)
    {
        if (type->numbers == PD_NUMBERS_LENGTH)
            return pd_model_error_at(err, syntax->type_pos,
                                     "type %s without a length, expected %s(n) with n from 1 to %d",
                                     syntax->type_name, syntax->type_name, type->max_length);
        out->max_length = type->default_length;
        return true;
    }
    if (syntax->type_arg_count != 1)
        return pd_model_error_at(err, syntax->type_args_pos, "%zu numbers after type %s, expected one: %s(n)",
                                 syntax->type_arg_count, syntax->type_name, syntax->type_name);
    long length = syntax->type_args[0];
    if (length < 1 || length > type->max_length)
        return pd_model_error_at(err, syntax->type_args_pos, "length %ld for type %s, expected 1 to %d",
                                 length, syntax->type_name, type->max_length);
    out->max_length = (int)length;
    return true;
}

static bool
check_decimal_args(const PdFieldSyntax *syntax, PdField *out, const PdKindInfo *type, PdError *err)
{
    const int precision_max = type->max_precision;
    if (syntax->type_arg_count != 2)
        return pd_model_error_at(
            err, syntax->type_arg_count ? syntax->type_args_pos : syntax->type_pos,
            "decimal with %zu numbers, expected decimal(p,s): precision p from 1 to %d and "
            "scale s from 0 to p",
            syntax->type_arg_count, precision_max);
    long precision = syntax->type_args[0], scale = syntax->type_args[1];
    if (precision < 1 || precision > precision_max)
        return pd_model_error_at(err, syntax->type_args_pos, "decimal precision %ld, expected 1 to %d",
                                 precision, precision_max);
    if (scale < 0 || scale > precision)
        return pd_model_error_at(
            err, syntax->type_args_pos,
            "decimal(%ld,%ld) with scale above precision, expected a scale from 0 to %ld", precision, scale,
            precision);
    out->precision = (int)precision;
    out->scale = (int)scale;
    return true;
}

/* The type: a built-in (with its numbers) or a model, resolved against the catalog. */
static bool
check_type(const PdModel *target, const PdFieldSyntax *syntax, PdField *out, PdError *err)
{
    const char *name = syntax->type_name;
    if (name[0] >= 'A' && name[0] <= 'Z')
    {
        out->target_name = name;
        out->target = target;
        if (out->target == NULL)
            return pd_model_error_at(
                err, syntax->type_pos,
                "unknown model \"%s\" in the type of field \"%s\", expected a model of this file", name,
                out->name);
        if (syntax->type_arg_count > 0)
            return pd_model_error_at(
                err, syntax->type_args_pos,
                "numbers after model %s, expected none (a relation takes its target's key type)", name);
        out->kind = syntax->is_list                            ? PD_FIELD_MANY_TO_MANY
                    : syntax->has_option[PD_OPTION_ONE_TO_ONE] ? PD_FIELD_ONE_TO_ONE
                                                               : PD_FIELD_FOREIGN_KEY;
        return true;
    }
    const PdKindInfo *type = pd_kind_find(name);
    if (type == NULL)
        return pd_model_error_at(
            err, syntax->type_pos,
            "unknown field type \"%s\", expected a type such as string(n), text, int, bool, "
            "decimal(p,s), timestamptz, json or a model name",
            name);
    if (syntax->is_list && (type->family == PD_FAMILY_JSON || type->family == PD_FAMILY_BINARY))
        return pd_model_error_at(err, syntax->type_pos,
                                 "array of %s, expected an array of a scalar type such as int[], "
                                 "string(n)[], date[] or inet[] (%s)",
                                 name,
                                 type->family == PD_FAMILY_JSON ? "a json field holds a list itself"
                                                                : "bytes have no array form in the API");
    out->kind = type->kind;
    out->is_array = syntax->is_list;
    if (type->numbers == PD_NUMBERS_PRECISION_SCALE)
        return check_decimal_args(syntax, out, type, err);
    if (type->numbers != PD_NUMBERS_NONE)
        return check_length(syntax, out, type, err);
    if (syntax->type_arg_count > 0)
        return pd_model_error_at(
            err, syntax->type_args_pos,
            "numbers after type %s, expected none (only string, email, url, slug and decimal "
            "take them)",
            name);
    return true;
}

/* Whether an option applies to a kind at all; the text names where it does. */
static const char *
option_applies(PdOption option, PdFieldKind kind)
{
    switch (option)
    {
        case PD_OPTION_PRIMARY_KEY:
            return is_family(kind, PD_FAMILY_RELATION) || is_family(kind, PD_FAMILY_JSON)
                       ? "on a field that is not a relation or json"
                       : NULL;
        case PD_OPTION_ONE_TO_ONE:
            return kind != PD_FIELD_ONE_TO_ONE ? "on a relation to a single model (field Model one_to_one)"
                                               : NULL;
        case PD_OPTION_NO_INDEX:
            return !pd_kind_info(kind)->is_indexed_by_default
                       ? "on slug and foreign key fields, which are indexed by default"
                       : NULL;
        case PD_OPTION_AUTO_NOW:
        case PD_OPTION_AUTO_NOW_ADD:
            return pd_kind_info(kind)->now_sql == NULL ? "on date, time and timestamptz fields" : NULL;
        case PD_OPTION_GENERATED:
            return is_family(kind, PD_FAMILY_RELATION) || kind == PD_FIELD_AUTO
                       ? "on a field that is not a relation or auto (a column of its own type)"
                       : NULL;
        case PD_OPTION_SEARCH:
            return !is_family(kind, PD_FAMILY_TEXT) ? "on string, text, citext, email, url or slug fields"
                                                    : NULL;
        case PD_OPTION_CHECK:
            return !is_family(kind, PD_FAMILY_TEXT) && !is_number_kind(kind) &&
                           !is_family(kind, PD_FAMILY_TEMPORAL)
                       ? "on number, string, date, time, timestamptz and duration fields"
                       : NULL;
        case PD_OPTION_CHOICES:
            return !is_family(kind, PD_FAMILY_TEXT) && !is_number_kind(kind) ? "on string and number fields"
                                                                             : NULL;
        case PD_OPTION_ON_DELETE:
        case PD_OPTION_FK_NAME:
        case PD_OPTION_DEFERRABLE:
            return kind != PD_FIELD_FOREIGN_KEY && kind != PD_FIELD_ONE_TO_ONE
                       ? "on foreign keys and one-to-one fields"
                       : NULL;
        case PD_OPTION_RELATED:
            return !is_family(kind, PD_FAMILY_RELATION) ? "on relation fields" : NULL;
        case PD_OPTION_THROUGH:
            return kind != PD_FIELD_MANY_TO_MANY ? "on many-to-many fields (Model[])" : NULL;
        default:
            return NULL;
    }
}

/* The options an array field takes: the column's own (null, unique, a GIN index, a default, a comment). */
static bool
is_array_option(PdOption option)
{
    return option == PD_OPTION_NULL || option == PD_OPTION_UNIQUE || option == PD_OPTION_INDEX ||
           option == PD_OPTION_DEFAULT || option == PD_OPTION_COMMENT || option == PD_OPTION_RENAMED_FROM;
}

static bool
check_applies(const PdFieldSyntax *syntax, const PdField *out, PdError *err)
{
    for (int option = 0; option < PD_OPTION_COUNT; option++)
    {
        if (!syntax->has_option[option])
            continue;
        if (out->is_array && !is_array_option((PdOption)option))
            return pd_model_error_at(
                err, syntax->option_pos[option],
                "option \"%s\" on array field \"%s\", expected only null, unique, index, default=, "
                "comment= and renamed_from= on an array field",
                pd_model_option_name((PdOption)option), out->name);
        if (out->kind == PD_FIELD_MANY_TO_MANY && option != PD_OPTION_RELATED &&
            option != PD_OPTION_THROUGH && option != PD_OPTION_RENAMED_FROM)
            return pd_model_error_at(
                err, syntax->option_pos[option],
                "option \"%s\" on many-to-many field \"%s\", expected only related=, through= "
                "and renamed_from= on a many-to-many field",
                pd_model_option_name((PdOption)option), out->name);
        const char *where = option_applies((PdOption)option, out->kind);
        if (where != NULL)
            return pd_model_error_at(err, syntax->option_pos[option],
                                     "option \"%s\" on field \"%s\" of type %s, expected it only %s",
                                     pd_model_option_name((PdOption)option), out->name, syntax->type_name,
                                     where);
    }
    return true;
}

/* Pairs of options that exclude each other, with the reason. */
static bool
check_conflicts(const PdFieldSyntax *syntax, const PdField *out, PdError *err)
{
    static const struct
    {
        PdOption first, second;
        const char *reason;
    } conflicts[] = {
        {PD_OPTION_PRIMARY_KEY, PD_OPTION_NULL, "a primary key is never null"},
        {PD_OPTION_PRIMARY_KEY, PD_OPTION_UNIQUE, "a primary key is unique already"},
        {PD_OPTION_PRIMARY_KEY, PD_OPTION_INDEX, "a primary key is indexed already"},
        {PD_OPTION_ONE_TO_ONE, PD_OPTION_UNIQUE, "one_to_one is unique already"},
        {PD_OPTION_ONE_TO_ONE, PD_OPTION_INDEX, "one_to_one is indexed by its unique constraint"},
        {PD_OPTION_UNIQUE, PD_OPTION_INDEX, "a unique field is indexed by its constraint"},
        {PD_OPTION_UNIQUE, PD_OPTION_NO_INDEX, "a unique field has no separate index to turn off"},
        {PD_OPTION_PRIMARY_KEY, PD_OPTION_NO_INDEX, "a primary key has no separate index to turn off"},
        {PD_OPTION_INDEX, PD_OPTION_NO_INDEX, "choose one"},
        {PD_OPTION_PRIMARY_KEY, PD_OPTION_BACKFILL, "the rows of a primary key need values of their own"},
        {PD_OPTION_AUTO_NOW, PD_OPTION_AUTO_NOW_ADD, "auto_now sets the value on insert too"},
        {PD_OPTION_AUTO_NOW, PD_OPTION_DEFAULT, "auto_now is a default of now"},
        {PD_OPTION_AUTO_NOW_ADD, PD_OPTION_DEFAULT, "auto_now_add is a default of now"},
        {PD_OPTION_AUTO_NOW, PD_OPTION_PRIMARY_KEY, "a primary key does not change by itself"},
        {PD_OPTION_AUTO_NOW_ADD, PD_OPTION_PRIMARY_KEY, "a primary key is not the time of its insert"},
        {PD_OPTION_GENERATED, PD_OPTION_DEFAULT, "the database computes a generated field's value"},
        {PD_OPTION_GENERATED, PD_OPTION_PRIMARY_KEY, "PostgreSQL refuses a generated primary key"},
        {PD_OPTION_GENERATED, PD_OPTION_BACKFILL, "the rows already there get the computed value"},
        {PD_OPTION_GENERATED, PD_OPTION_AUTO_NOW, "the database computes a generated field's value"},
        {PD_OPTION_GENERATED, PD_OPTION_AUTO_NOW_ADD, "the database computes a generated field's value"},
    };
    for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++)
    {
        PdOption first = conflicts[i].first, second = conflicts[i].second;
        if (!syntax->has_option[first] || !syntax->has_option[second])
            continue;
        /* Point at whichever was written second. */
        bool is_second_later = syntax->option_pos[second].line > syntax->option_pos[first].line ||
                               (syntax->option_pos[second].line == syntax->option_pos[first].line &&
                                syntax->option_pos[second].column > syntax->option_pos[first].column);
        PdOption later = is_second_later ? second : first, earlier = is_second_later ? first : second;
        return pd_model_error_at(err, syntax->option_pos[later],
                                 "option \"%s\" with \"%s\" on field \"%s\", expected only one of them (%s)",
                                 pd_model_option_name(later), pd_model_option_name(earlier), out->name,
                                 conflicts[i].reason);
    }
    return true;
}

static bool
check_on_delete(const PdFieldSyntax *syntax, PdField *out, PdError *err)
{
    out->on_delete = PD_ON_DELETE_CASCADE;
    if (!syntax->has_option[PD_OPTION_ON_DELETE])
        return true;
    int action = 0;
    while (action <= PD_ON_DELETE_SET_DEFAULT &&
           strcmp(pd_model_on_delete_name((PdOnDelete)action), syntax->on_delete_name) != 0)
        action++;
    PdSourcePos pos = syntax->option_pos[PD_OPTION_ON_DELETE];
    if (action > PD_ON_DELETE_SET_DEFAULT)
        return pd_model_error_at(
            err, pos,
            "on_delete=%s on field \"%s\", expected cascade, restrict, protect, set_null or "
            "set_default",
            syntax->on_delete_name, out->name);
    out->on_delete = (PdOnDelete)action;
    if (action == PD_ON_DELETE_SET_NULL && !out->is_nullable)
        return pd_model_error_at(err, pos,
                                 "on_delete=set_null on field \"%s\" that is not null, expected the option "
                                 "null as well",
                                 out->name);
    if (action == PD_ON_DELETE_SET_DEFAULT && out->default_value.kind == PD_DEFAULT_NONE)
        return pd_model_error_at(err, pos,
                                 "on_delete=set_default on field \"%s\" without a default, expected "
                                 "default=... as well",
                                 out->name);
    return true;
}

/* related=, through=: validity of what was given, or the derived default. */
static bool
derive_relation_names(PdArena *arena, const PdModel *model, const PdFieldSyntax *syntax, PdField *out,
                      PdError *err)
{
    if (out->related_name != NULL && !pd_model_is_lower_name(out->related_name))
        return pd_model_error_at(err, syntax->option_pos[PD_OPTION_RELATED],
                                 "related name \"%s\", expected lower-case letters, digits and _",
                                 out->related_name);
    if (out->fk_name != NULL && !pd_model_is_sql_name(out->fk_name))
        return pd_model_error_at(
            err, syntax->option_pos[PD_OPTION_FK_NAME],
            "foreign key name \"%s\" of field \"%s\", expected lower-case letters, digits, _ and $, at most "
            "63 bytes",
            out->fk_name, out->name);
    if (out->through_table != NULL && !pd_model_is_sql_name(out->through_table))
        return pd_model_error_at(
            err, syntax->option_pos[PD_OPTION_THROUGH],
            "through table \"%s\", expected lower-case letters, digits, _ and $, at most 63 bytes",
            out->through_table);
    char *snake = pd_model_snake_case(arena, model->name);
    if (snake == NULL)
        return pd_arena_error(arena, err);
    if (out->related_name == NULL)
        out->related_name =
            out->kind == PD_FIELD_ONE_TO_ONE ? snake : pd_arena_sprintf(arena, "%s_set", snake);
    if (out->kind == PD_FIELD_MANY_TO_MANY && out->through_model_name != NULL)
        return true; /* its table is the through model's: check.c resolves it once every model has fields */
    if (out->kind == PD_FIELD_MANY_TO_MANY && out->through_table == NULL)
        out->through_table = pd_model_through_table_name(arena, model->table, out->name);
    if (out->related_name == NULL || (out->kind == PD_FIELD_MANY_TO_MANY && out->through_table == NULL))
        return pd_arena_error(arena, err);
    return true;
}

static bool
check_default_kind(const PdFieldSyntax *syntax, const PdField *out, PdError *err)
{
    PdDefaultKind kind = out->default_value.kind;
    PdSourcePos pos = syntax->option_pos[PD_OPTION_DEFAULT];
    if (kind == PD_DEFAULT_NOW && pd_kind_info(out->kind)->now_sql == NULL)
        return pd_model_error_at(
            err, pos,
            "default=now on field \"%s\" of type %s, expected now only on date, time and "
            "timestamptz fields",
            out->name, syntax->type_name);
    if (kind == PD_DEFAULT_UUID && !is_family(out->kind, PD_FAMILY_UUID))
        return pd_model_error_at(err, pos,
                                 "default=uuid on field \"%s\" of type %s, expected uuid only on uuid fields",
                                 out->name, syntax->type_name);
    if (kind != PD_DEFAULT_SERIAL)
        return true;
    if (pd_kind_info(out->kind)->serial_sql == NULL)
        return pd_model_error_at(
            err, pos,
            "default=serial on field \"%s\" of type %s, expected serial only on smallint, int and "
            "bigint fields",
            out->name, syntax->type_name);
    if (syntax->has_option[PD_OPTION_NULL])
        return pd_model_error_at(
            err, pos,
            "default=serial on field \"%s\" that is null, expected a not null field (the "
            "database numbers every row)",
            out->name);
    if (syntax->has_option[PD_OPTION_CHOICES])
        return pd_model_error_at(
            err, pos,
            "default=serial on field \"%s\" with choices, expected one of them (a sequence's "
            "numbers are not chosen from a list)",
            out->name);
    if (syntax->has_option[PD_OPTION_BACKFILL])
        return pd_model_error_at(
            err, syntax->option_pos[PD_OPTION_BACKFILL],
            "backfill= on field \"%s\" with default=serial, expected one of them (the sequence numbers "
            "the rows already there)",
            out->name);
    return true;
}

/* search, search=trigram, search=fulltext[(config)]: which search, and a configuration only for fulltext. */
static bool
check_search(const PdFieldSyntax *syntax, PdField *out, PdError *err)
{
    out->search = PD_SEARCH_NONE;
    out->search_config = NULL;
    if (!syntax->has_option[PD_OPTION_SEARCH])
        return true;
    PdSourcePos pos = syntax->option_pos[PD_OPTION_SEARCH];
    const char *name = syntax->search_name;
    if (name == NULL)
        out->search = PD_SEARCH_PLAIN;
    else if (strcmp(name, "trigram") == 0)
        out->search = PD_SEARCH_TRIGRAM;
    else if (strcmp(name, "fulltext") == 0)
        out->search = PD_SEARCH_FULLTEXT;
    else
        return pd_model_error_at(
            err, pos,
            "search=%s on field \"%s\", expected search, search=trigram or "
            "search=fulltext (optionally with a configuration: search=fulltext(english))",
            name, out->name);
    const char *config = syntax->field.search_config;
    if (config != NULL && out->search != PD_SEARCH_FULLTEXT)
        return pd_model_error_at(err, syntax->search_config_pos,
                                 "text search configuration \"%s\" with search=%s on field \"%s\", expected "
                                 "one only with search=fulltext",
                                 config, name, out->name);
    if (config != NULL && (!pd_model_is_lower_name(config) || strlen(config) > 63))
        return pd_model_error_at(err, syntax->search_config_pos,
                                 "text search configuration \"%s\" on field \"%s\", expected the lower-case "
                                 "name of a configuration such as simple or english, at most 63 characters",
                                 config, out->name);
    if (out->search == PD_SEARCH_FULLTEXT)
        out->search_config = config != NULL ? config : "simple";
    return true;
}

bool
pd_model_check_field(PdArena *arena, const PdModel *target, const PdModel *model, const PdFieldSyntax *syntax,
                     PdField *out, PdError *err)
{
    *out = syntax->field;
    if (!pd_model_is_lower_name(out->name))
        return pd_model_error_at(
            err, out->pos,
            "field name \"%s\", expected a lower-case name: letters a-z, digits and _, not "
            "starting with a digit",
            out->name);
    if (strlen(out->name) > FIELD_NAME_MAX)
        return pd_model_error_at(err, out->pos,
                                 "field name \"%.20s...\" of %zu characters, expected at most %d", out->name,
                                 strlen(out->name), FIELD_NAME_MAX);
    if (!check_type(target, syntax, out, err) || !check_applies(syntax, out, err) ||
        !check_conflicts(syntax, out, err) || !check_default_kind(syntax, out, err))
        return false;
    const bool *has = syntax->has_option;
    out->is_primary_key = has[PD_OPTION_PRIMARY_KEY];
    out->is_nullable = has[PD_OPTION_NULL];
    out->is_unique = has[PD_OPTION_UNIQUE] || out->kind == PD_FIELD_ONE_TO_ONE;
    out->is_searchable = has[PD_OPTION_SEARCH];
    if (!check_search(syntax, out, err))
        return false;
    out->is_deferrable = has[PD_OPTION_DEFERRABLE];
    out->is_auto_now = has[PD_OPTION_AUTO_NOW];
    out->is_auto_now_add = has[PD_OPTION_AUTO_NOW_ADD];
    if (out->is_auto_now || out->is_auto_now_add)
        out->default_value = (PdDefault){.kind = PD_DEFAULT_NOW}; /* the database's now on insert */
    bool is_indexed_by_default = pd_kind_info(out->kind)->is_indexed_by_default && !out->is_array;
    out->is_indexed = has[PD_OPTION_INDEX] || (is_indexed_by_default && !has[PD_OPTION_NO_INDEX] &&
                                               !out->is_unique && !out->is_primary_key);
    if (out->renamed_from != NULL && !pd_model_is_lower_name(out->renamed_from))
        return pd_model_error_at(err, syntax->option_pos[PD_OPTION_RENAMED_FROM],
                                 "renamed_from=%s on field \"%s\", expected the old field name (lower case)",
                                 out->renamed_from, out->name);
    if (is_family(out->kind, PD_FAMILY_RELATION))
    {
        if (!check_on_delete(syntax, out, err) || !derive_relation_names(arena, model, syntax, out, err))
            return false;
        if (out->kind == PD_FIELD_MANY_TO_MANY)
            return true; /* no column */
        out->column = pd_arena_sprintf(arena, "%s_id", out->name);
        return out->column != NULL ? true : pd_arena_error(arena, err);
    }
    out->column = out->name;
    return pd_model_check_field_values(syntax, out, err);
}

/* Whether choice i repeats an earlier one: a scan for a few, a map (in a scratch arena) for many. */
static bool
is_repeated_choice(const PdField *field, size_t i, PdArena *scratch, PdStrmap *seen)
{
    const PdLiteral *value = &field->choices[i].value;
    char *key = seen != NULL ? pd_arena_sprintf(scratch, "%d:%s", (int)value->kind, value->text) : NULL;
    if (key != NULL && pd_strmap_contains(seen, key))
        return true;
    if (key != NULL && pd_strmap_put(seen, key, NULL))
        return false;
    for (size_t j = 0; j < i; j++) /* few choices, or no memory for the map */
        if (field->choices[j].value.kind == value->kind &&
            strcmp(field->choices[j].value.text, value->text) == 0)
            return true;
    return false;
}

static bool
check_choices(const PdFieldSyntax *syntax, const PdField *field, PdError *err)
{
    enum
    {
        SCAN_MAX = 16
    };
    PdArena *scratch = field->choice_count > SCAN_MAX ? pd_arena_new(0) : NULL;
    PdStrmap *seen = scratch != NULL ? pd_strmap_new(scratch, field->choice_count) : NULL;
    bool is_ok = true;
    for (size_t i = 0; i < field->choice_count && is_ok; i++)
    {
        const PdLiteral *value = &field->choices[i].value;
        if (!pd_model_check_literal(field, value, false, true, err))
        {
            PdError inner = *err;
            is_ok = pd_model_error_at(err, syntax->choice_pos[i], "choice of field \"%s\": %s", field->name,
                                      inner.message);
        }
        else if (is_repeated_choice(field, i, scratch, seen))
            is_ok = pd_model_error_at(err, syntax->choice_pos[i],
                                      "choice \"%s\" listed twice in field \"%s\", expected each value once",
                                      value->text, field->name);
    }
    pd_arena_free(scratch);
    return is_ok;
}

bool
pd_model_check_field_values(const PdFieldSyntax *syntax, const PdField *field, PdError *err)
{
    PdError inner;
    if (!check_choices(syntax, field, err))
        return false;
    for (size_t i = 0; i < field->check_count; i++)
    {
        const PdCheck *check = &field->checks[i];
        if (check->value.kind == PD_LITERAL_NULL)
        {
            if (check->op != PD_CHECK_EQ && check->op != PD_CHECK_NE)
                return pd_model_error_at(
                    err, check->pos,
                    "null in an ordering comparison on field \"%s\", expected null only with "
                    "= (IS NULL) or != (IS NOT NULL)",
                    field->name);
            continue;
        }
        if (!pd_model_check_literal(field, &check->value, false, false, &inner))
            return pd_model_error_at(err, check->pos, "check on field \"%s\": %s", field->name,
                                     inner.message);
    }
    if (field->default_value.kind == PD_DEFAULT_LITERAL &&
        !pd_model_check_literal(field, &field->default_value.literal, true, true, &inner))
        return pd_model_error_at(err, syntax->option_pos[PD_OPTION_DEFAULT], "default of field \"%s\": %s",
                                 field->name, inner.message);
    if (field->backfill != NULL && !pd_model_check_literal(field, field->backfill, true, true, &inner))
        return pd_model_error_at(err, syntax->option_pos[PD_OPTION_BACKFILL], "backfill of field \"%s\": %s",
                                 field->name, inner.message);
    return true;
}

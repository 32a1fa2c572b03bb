/*
 * lookup.c - conditions: Django's lookups parsed against the catalog, their
 * values checked before any SQL exists, Q trees, and their rendering into a
 * boolean SQL expression with numbered parameters. A lookup on the model's
 * own field compares its column; a path across relations becomes one EXISTS
 * sub-query joining the hops, so a to-many relation never repeats a row.
 * Values stay parameters cast to the field's type (from the catalog); the
 * LIKE lookups get their pattern built here with the wildcards of the value
 * escaped, so "50%" matches "50%" only. A uuid and a time are read as a
 * body's (validate.c's rules): a path key or a filter takes every form a
 * body does, and PostgreSQL is sent one.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "query/build.h"
#include "query/values.h"

static const char *lookup_names[PD_LOOKUP_COUNT_] = {
    [PD_LOOKUP_EXACT] = "exact",
    [PD_LOOKUP_IEXACT] = "iexact",
    [PD_LOOKUP_CONTAINS] = "contains",
    [PD_LOOKUP_ICONTAINS] = "icontains",
    [PD_LOOKUP_STARTSWITH] = "startswith",
    [PD_LOOKUP_ISTARTSWITH] = "istartswith",
    [PD_LOOKUP_ENDSWITH] = "endswith",
    [PD_LOOKUP_IENDSWITH] = "iendswith",
    [PD_LOOKUP_IN] = "in",
    [PD_LOOKUP_GT] = "gt",
    [PD_LOOKUP_GTE] = "gte",
    [PD_LOOKUP_LT] = "lt",
    [PD_LOOKUP_LTE] = "lte",
    [PD_LOOKUP_RANGE] = "range",
    [PD_LOOKUP_ISNULL] = "isnull",
    [PD_LOOKUP_REGEX] = "regex",
    [PD_LOOKUP_IREGEX] = "iregex",
    [PD_LOOKUP_FULLTEXT] = "search",
    [PD_LOOKUP_CONTAINED_BY] = "contained_by",
    [PD_LOOKUP_OVERLAP] = "overlap",
};

static const char *transform_names[] = {"", "year", "month", "day", "date", "len"};

const char *
pd_query_lookup_name(PdLookup lookup)
{
    return lookup < PD_LOOKUP_COUNT_ ? lookup_names[lookup] : "?";
}

static bool
find_lookup(const char *name, PdLookup *lookup)
{
    for (int i = 0; i < PD_LOOKUP_COUNT_; i++)
    {
        if (i != PD_LOOKUP_FULLTEXT && strcmp(lookup_names[i], name) == 0) /* ?search= only, no filter */
        {
            *lookup = (PdLookup)i;
            return true;
        }
    }
    return false;
}

static bool
find_transform(const char *name, PdTransform *transform)
{
    for (int i = 1; i < (int)(sizeof(transform_names) / sizeof(transform_names[0])); i++)
    {
        if (strcmp(transform_names[i], name) == 0)
        {
            *transform = (PdTransform)i;
            return true;
        }
    }
    return false;
}

bool
pd_query_is_lookup_word(const char *name)
{
    PdLookup lookup;
    PdTransform transform;
    return find_lookup(name, &lookup) || find_transform(name, &transform);
}

static bool
is_text_lookup(PdLookup lookup)
{
    return lookup >= PD_LOOKUP_IEXACT && lookup <= PD_LOOKUP_IENDSWITH;
}

/* The lookups that compare an array field with an array of values: exact, contains, contained_by, overlap. */
static bool
is_array_lookup(const PdField *field, PdTransform transform, PdLookup lookup)
{
    return field->is_array && transform == PD_TRANSFORM_NONE &&
           (lookup == PD_LOOKUP_EXACT || lookup == PD_LOOKUP_CONTAINS || lookup == PD_LOOKUP_CONTAINED_BY ||
            lookup == PD_LOOKUP_OVERLAP);
}

/* Which lookups a field of this kind (after the transform) takes. */
static bool
lookup_applies(const PdField *field, PdTransform transform, PdLookup lookup)
{
    if (field->is_array) /* Django's ArrayField: the array lookups, isnull, and comparisons of its len */
        return lookup == PD_LOOKUP_ISNULL || is_array_lookup(field, transform, lookup) ||
               (transform == PD_TRANSFORM_LEN && !is_text_lookup(lookup) && lookup != PD_LOOKUP_REGEX &&
                lookup != PD_LOOKUP_IREGEX && lookup != PD_LOOKUP_CONTAINED_BY &&
                lookup != PD_LOOKUP_OVERLAP);
    if (lookup == PD_LOOKUP_CONTAINED_BY || lookup == PD_LOOKUP_OVERLAP)
        return false;
    if (lookup == PD_LOOKUP_ISNULL || lookup == PD_LOOKUP_REGEX || lookup == PD_LOOKUP_IREGEX)
        return true;
    if (transform != PD_TRANSFORM_NONE)
        return !is_text_lookup(lookup);
    switch (pd_kind_info(field->kind)->family)
    {
        case PD_FAMILY_TEXT:
            return true;
        case PD_FAMILY_BOOLEAN:
            return lookup == PD_LOOKUP_EXACT || lookup == PD_LOOKUP_IN;
        case PD_FAMILY_JSON:
        case PD_FAMILY_BINARY:
            return lookup == PD_LOOKUP_EXACT;
        default:
            return !is_text_lookup(lookup);
    }
}

static bool
transform_applies(const PdField *field, PdTransform transform)
{
    if (transform == PD_TRANSFORM_NONE)
        return true;
    if (field->is_array || transform == PD_TRANSFORM_LEN)
        return field->is_array && transform == PD_TRANSFORM_LEN;
    if (field->kind == PD_FIELD_TIMESTAMPTZ)
        return true;
    return field->kind == PD_FIELD_DATE && transform != PD_TRANSFORM_DATE;
}

/* Parses the names after the path: [transform] [lookup]. */
static bool
parse_tail(const PdPath *path, char **names, size_t count, PdTransform *transform, PdLookup *lookup,
           PdError *err)
{
    *transform = PD_TRANSFORM_NONE;
    *lookup = PD_LOOKUP_EXACT;
    size_t i = 0;
    if (i < count && find_transform(names[i], transform))
        i++;
    if (i < count && find_lookup(names[i], lookup))
        i++;
    const PdField *field = path->field;
    const char *kind = pd_model_kind_name(field->kind);
    if (i < count)
    {
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "unknown lookup \"%.60s\" on %s field \"%s\"; lookups: exact, iexact, contains, "
                            "icontains, startswith, istartswith, endswith, iendswith, in, gt, gte, lt, lte, "
                            "range, isnull, regex, iregex, contained_by, overlap; transforms: year, month, "
                            "day, date, len",
                            names[i], kind, field->name);
    }
    if (!transform_applies(field, *transform))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "transform \"%s\" does not apply to %s field \"%s\"",
                            transform_names[*transform], kind, field->name);
    if (!lookup_applies(field, *transform, *lookup))
    {
        if (*transform != PD_TRANSFORM_NONE)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "lookup \"%s\" does not apply to \"%s\" of %s field \"%s\"",
                                lookup_names[*lookup], transform_names[*transform], kind, field->name);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "lookup \"%s\" does not apply to %s field \"%s\"",
                            lookup_names[*lookup], kind, field->name);
    }
    return true;
}

static bool
value_error(PdError *err, const char *fmt, const char *value)
{
    return pd_error_set(err, PD_ERR_INVALID_INPUT, fmt, value);
}

/* isnull's and a boolean field's words: true/false/1/0 (and Python's True/False), normalised. */
static const char *
boolean_text(const char *text)
{
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 || strcmp(text, "1") == 0)
        return "true";
    if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 || strcmp(text, "0") == 0)
        return "false";
    return NULL;
}

static bool
is_whole_number(const char *text)
{
    const char *digits = text + (text[0] == '-');
    size_t length = strlen(digits);
    return length > 0 && length <= 9 && strspn(digits, "0123456789") == length;
}

/* A number as the model language writes one: -12, 3.50, 1e3 (the value check takes the syntax as given). */
static bool
is_number_text(const char *text)
{
    const char *p = text + (*text == '-');
    size_t whole = strspn(p, "0123456789");
    p += whole;
    if (*p == '.')
    {
        size_t fraction = strspn(p + 1, "0123456789");
        if (fraction == 0)
            return false;
        p += 1 + fraction;
    }
    if (whole == 0)
        return false;
    if (*p == 'e' || *p == 'E')
    {
        p++;
        p += *p == '-' || *p == '+';
        size_t exponent = strspn(p, "0123456789");
        if (exponent == 0)
            return false;
        p += exponent;
    }
    return *p == '\0';
}

static PdLiteralKind
literal_kind(const PdField *field)
{
    if (field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE)
    {
        const PdField *key = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
        return key != NULL ? literal_kind(key) : PD_LITERAL_STRING;
    }
    switch (pd_kind_info(field->kind)->family)
    {
        case PD_FAMILY_INTEGER:
        case PD_FAMILY_NUMERIC:
            return PD_LITERAL_NUMBER;
        case PD_FAMILY_BOOLEAN:
            return PD_LITERAL_BOOL;
        default:
            return PD_LITERAL_STRING;
    }
}

/*
 * *text as PostgreSQL is sent it when Django's form field for a filter would read it so (as a body's value,
 * validate.c): a uuid in any form Python's uuid.UUID takes, hyphenated in lower case; a time's fraction past
 * microseconds cut, not rounded. Text that is neither is left for the model's rule to refuse. False when
 * the arena is exhausted.
 */
static bool
read_form(PdArena *arena, PdFieldKind kind, const char **text, PdError *err)
{
    const char *form = *text;
    if (kind == PD_FIELD_UUID)
        (void)pd_query_uuid_text(arena, *text, &form); /* form left alone when text is no uuid */
    else if (kind == PD_FIELD_TIME || kind == PD_FIELD_TIMESTAMPTZ)
        form = pd_query_cut_fraction(arena, *text);
    if (form == NULL)
        return pd_arena_error(arena, err);
    *text = form;
    return true;
}

/* One value of a lookup, checked; *param is the text sent (normalised booleans, LIKE patterns, read_form). */
static bool
check_one(PdArena *arena, const PdField *field, PdTransform transform, PdLookup lookup, const char *text,
          const char **param, PdError *err)
{
    *param = text;
    if (!field->is_array &&
        (lookup == PD_LOOKUP_REGEX || lookup == PD_LOOKUP_IREGEX || is_text_lookup(lookup)))
        return true; /* any text: a pattern or a part of a value need not be a valid value itself */
    if (transform == PD_TRANSFORM_YEAR || transform == PD_TRANSFORM_MONTH || transform == PD_TRANSFORM_DAY ||
        transform == PD_TRANSFORM_LEN)
        return is_whole_number(text) ||
               pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.60s\" is not a valid %s, expected a whole number",
                            text, transform_names[transform]);
    if (transform == PD_TRANSFORM_DATE)
    {
        PdField date = {.name = field->name, .kind = PD_FIELD_DATE};
        PdLiteral literal = {PD_LITERAL_STRING, text};
        return pd_model_check_value(&date, &literal, err);
    }
    PdField element;
    if (field->is_array) /* a value of an array lookup is one element */
    {
        element = *field;
        element.is_array = false;
        element.is_nullable = false;
        field = &element;
    }
    PdLiteral literal = {literal_kind(field), text};
    if (literal.kind == PD_LITERAL_BOOL && (literal.text = boolean_text(text)) == NULL)
        return value_error(err, "\"%.60s\" is not a valid boolean, expected true, false, 1 or 0", text);
    if (literal.kind == PD_LITERAL_NUMBER && !is_number_text(text))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.60s\" is not a valid %s, expected a number", text,
                            pd_model_kind_name(pd_query_key_kind(field)));
    if (!read_form(arena, pd_query_key_kind(field), &literal.text, err))
        return false;
    *param = literal.text;
    return pd_model_check_value(field, &literal, err);
}

/* LIKE pattern: the value with \ % _ escaped, between the wildcards the lookup needs. */
static const char *
like_pattern(PdArena *arena, PdLookup lookup, const char *text)
{
    PdStrbuf pattern;
    pd_strbuf_init(&pattern, arena);
    bool is_contains = lookup == PD_LOOKUP_CONTAINS || lookup == PD_LOOKUP_ICONTAINS;
    if (is_contains || lookup == PD_LOOKUP_ENDSWITH || lookup == PD_LOOKUP_IENDSWITH)
        pd_strbuf_append_char(&pattern, '%');
    for (const char *p = text; *p != '\0'; p++)
    {
        if (*p == '\\' || *p == '%' || *p == '_')
            pd_strbuf_append_char(&pattern, '\\');
        pd_strbuf_append_char(&pattern, *p);
    }
    if (is_contains || lookup == PD_LOOKUP_STARTSWITH || lookup == PD_LOOKUP_ISTARTSWITH)
        pd_strbuf_append_char(&pattern, '%');
    pd_strbuf_append(&pattern, "");
    return pd_strbuf_text(&pattern);
}

static PdQ *
new_q(PdQuery *query, PdQKind kind)
{
    PdQ *q = pd_arena_calloc(query->arena, 1, sizeof(*q));
    if (q != NULL)
        q->kind = kind;
    return q;
}

static bool
check_values(PdQuery *query, PdQ *q, const char *const *values, size_t count, PdError *err)
{
    const PdField *field = q->path.field;
    bool is_array = is_array_lookup(field, q->transform, q->lookup);
    if (is_array && count == 1 && values[0] == NULL && q->lookup == PD_LOOKUP_EXACT)
        is_array = false; /* exact None: IS NULL */
    q->is_array_value = is_array;
    if (q->lookup == PD_LOOKUP_RANGE && count != 2)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "range takes two values, not %zu", count);
    if (q->lookup != PD_LOOKUP_IN && q->lookup != PD_LOOKUP_RANGE && !is_array && count != 1)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "lookup \"%s\" takes one value, not %zu",
                            lookup_names[q->lookup], count);
    q->values = pd_arena_calloc(query->arena, count > 0 ? count : 1, sizeof(*q->values));
    if (q->values == NULL)
        return pd_arena_error(query->arena, err);
    q->value_count = count;
    for (size_t i = 0; i < count; i++)
    {
        if (values[i] == NULL && is_array)
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "an element of lookup \"%s\" is null, expected values",
                                lookup_names[q->lookup]);
        if (values[i] == NULL)
        {
            if (q->lookup == PD_LOOKUP_EXACT || q->lookup == PD_LOOKUP_IN)
                continue; /* exact None is IS NULL; a null in a list matches nothing */
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "lookup \"%s\" takes a value, not null",
                                lookup_names[q->lookup]);
        }
        if (q->lookup == PD_LOOKUP_ISNULL)
        {
            const char *word = boolean_text(values[i]);
            if (word == NULL)
                return value_error(err, "isnull takes true or false, not \"%.60s\"", values[i]);
            q->is_true = word[0] == 't';
            continue;
        }
        if (!check_one(query->arena, field, q->transform, q->lookup, values[i], &q->values[i], err))
            return false;
        if (!is_array && is_text_lookup(q->lookup) && q->lookup != PD_LOOKUP_IEXACT &&
            (q->values[i] = like_pattern(query->arena, q->lookup, values[i])) == NULL)
            return pd_arena_error(query->arena, err);
    }
    return true;
}

static const char **split_list(PdArena *arena, const char *text, size_t *count);

/* An array lookup given as text ("a,b"): its elements, split at commas as Django's SimpleArrayField does. */
static bool
check_text_values(PdQuery *query, PdQ *q, const char *text, PdError *err)
{
    size_t count = 0;
    const char **values = NULL;
    if (text != NULL && is_array_lookup(q->path.field, q->transform, q->lookup) &&
        (values = split_list(query->arena, text, &count)) == NULL)
        return pd_arena_error(query->arena, err);
    if (values != NULL)
        return check_values(query, q, values, count, err);
    const char *one[] = {text};
    return check_values(query, q, one, 1, err);
}

/* A leaf for lookup with its values checked; values NULL: the path and the lookup only, no values. text
 * (when values is NULL): one value as a query string gives it, split for an array lookup. */
static PdQ *
leaf_of(PdQuery *query, const char *lookup, const char *const *values, size_t count, const char *const *text,
        PdError *err)
{
    size_t name_count = 0;
    char **names = pd_query_split_path(query->arena, lookup, &name_count);
    PdQ *q = new_q(query, PD_Q_LEAF);
    if (names == NULL || q == NULL)
    {
        pd_arena_error(query->arena, err);
        return NULL;
    }
    size_t used = 0;
    q->path.text = pd_arena_strdup(query->arena, lookup);
    bool ok = pd_query_resolve_path(query->arena, query->catalog, query->model, names, name_count, true,
                                    &used, &q->path, err) &&
              parse_tail(&q->path, names + used, name_count - used, &q->transform, &q->lookup, err) &&
              (text != NULL ? check_text_values(query, q, *text, err)
                            : values == NULL || check_values(query, q, values, count, err));
    if (!ok)
    {
        pd_error_field(err, "%s", lookup);
        return NULL;
    }
    return q;
}

static PdQ *
leaf(PdQuery *query, const char *lookup, const char *const *values, size_t count, PdError *err)
{
    return leaf_of(query, lookup, values, count, NULL, err);
}

bool
pd_query_check_lookup(PdQuery *query, const char *lookup, PdError *err)
{
    if (query == NULL || lookup == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no query or no lookup");
    return leaf(query, lookup, NULL, 0, err) != NULL;
}

PdQ *
pd_q_list(PdQuery *query, const char *lookup, const char *const *values, size_t count, PdError *err)
{
    if (query == NULL || lookup == NULL)
        return NULL;
    static const char *const none[1] = {NULL};
    return leaf(query, lookup, values != NULL ? values : none, values != NULL ? count : 0, err);
}

/* Splits "a,b,c" for in and range (an empty text: no values). */
static const char **
split_list(PdArena *arena, const char *text, size_t *count)
{
    size_t parts = 1;
    for (const char *p = text; *p != '\0'; p++)
        parts += *p == ',';
    const char **values = pd_arena_calloc(arena, parts, sizeof(*values));
    if (values == NULL)
        return NULL;
    *count = 0;
    if (*text == '\0')
        return values;
    const char *start = text;
    for (;;)
    {
        const char *end = strchr(start, ',');
        size_t length = end != NULL ? (size_t)(end - start) : strlen(start);
        if ((values[(*count)++] = pd_arena_strndup(arena, start, length)) == NULL)
            return NULL;
        if (end == NULL)
            return values;
        start = end + 1;
    }
}

static bool
is_list_lookup(const char *lookup)
{
    size_t length = strlen(lookup);
    return (length >= 4 && strcmp(lookup + length - 4, "__in") == 0) ||
           (length >= 7 && strcmp(lookup + length - 7, "__range") == 0);
}

PdQ *
pd_q(PdQuery *query, const char *lookup, const char *value, PdError *err)
{
    if (query == NULL || lookup == NULL)
        return NULL;
    if (value != NULL && is_list_lookup(lookup))
    {
        size_t count = 0;
        const char **values = split_list(query->arena, value, &count);
        if (values == NULL)
        {
            pd_arena_error(query->arena, err);
            return NULL;
        }
        return pd_q_list(query, lookup, values, count, err);
    }
    return leaf_of(query, lookup, NULL, 0, &value, err);
}

static PdQ *
combine(PdQuery *query, PdQKind kind, PdQ *left, PdQ *right)
{
    if (query == NULL || left == NULL || (kind != PD_Q_NOT && right == NULL))
        return NULL;
    PdQ *q = new_q(query, kind);
    if (q != NULL)
    {
        q->left = left;
        q->right = right;
    }
    return q;
}

PdQ *
pd_q_and(PdQuery *query, PdQ *left, PdQ *right)
{
    return combine(query, PD_Q_AND, left, right);
}

PdQ *
pd_q_or(PdQuery *query, PdQ *left, PdQ *right)
{
    return combine(query, PD_Q_OR, left, right);
}

PdQ *
pd_q_not(PdQuery *query, PdQ *q)
{
    return combine(query, PD_Q_NOT, q, NULL);
}

/*
 * A date or time stamp as PostgreSQL writes one that the input shape refuses: a year past 9999
 * ("12345-06-01T10:00:00+00:00"), a year BC ("0044-03-15 BC"), infinity. The rest must have the shape, the
 * year put aside; the cast to the column's type judges the whole.
 */
static bool
is_postgres_temporal(PdArena *arena, const PdField *field, const char *text)
{
    if (field->kind != PD_FIELD_DATE && field->kind != PD_FIELD_TIMESTAMPTZ)
        return false;
    if (strcmp(text, "infinity") == 0 || strcmp(text, "-infinity") == 0)
        return true;
    size_t year = strspn(text, "0123456789");
    size_t length = strlen(text);
    bool is_bc = length > 3 && strcmp(text + length - 3, " BC") == 0;
    if (year < 4 || (year == 4 && !is_bc))
        return false;
    PdLiteral literal = {
        PD_LITERAL_STRING,
        pd_arena_sprintf(arena, "2000%.*s", (int)(length - year - (is_bc ? 3 : 0)), text + year)};
    PdError ignored = {0};
    return literal.text != NULL && pd_model_check_value(field, &literal, &ignored);
}

/* A keyset position's array, as to_json wrote it, made an array literal: {"3","1",NULL}. */
static bool
array_position(PdArena *arena, const char *text, const char **param, PdError *err)
{
    json_t *array = json_loads(text, JSON_DECODE_ANY, NULL);
    PdStrbuf literal;
    pd_strbuf_init(&literal, arena);
    pd_strbuf_append_char(&literal, '{');
    bool is_ok = json_is_array(array);
    for (size_t i = 0; is_ok && i < json_array_size(array); i++)
    {
        json_t *item = json_array_get(array, i);
        pd_strbuf_append(&literal, i > 0 ? "," : "");
        if (json_is_null(item))
        {
            pd_strbuf_append(&literal, "NULL");
            continue;
        }
        char *owned = json_is_string(item) ? NULL : json_dumps(item, JSON_ENCODE_ANY);
        const char *value = json_is_string(item) ? json_string_value(item) : owned;
        is_ok = value != NULL && !json_is_array(item) && !json_is_object(item);
        pd_strbuf_append_char(&literal, '"');
        for (const char *c = value != NULL ? value : ""; *c != '\0'; c++)
        {
            if (*c == '"' || *c == '\\')
                pd_strbuf_append_char(&literal, '\\');
            pd_strbuf_append_char(&literal, *c);
        }
        pd_strbuf_append_char(&literal, '"');
        free(owned);
    }
    json_decref(array);
    pd_strbuf_append_char(&literal, '}');
    if (!is_ok)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.60s\" is not an array position", text);
    *param = pd_strbuf_text(&literal);
    return *param != NULL || pd_arena_error(arena, err);
}

bool
pd_query_check_value(PdArena *arena, const PdField *field, const char *text, const char **param, PdError *err)
{
    /* a keyset position holds the values of a row as PostgreSQL gave them: any value a column can hold; an
     * array's (its JSON, "[3,1,2]") goes back as an array literal for PostgreSQL to read */
    if (field->is_array)
        return array_position(arena, text, param, err);
    if (is_postgres_temporal(arena, field, text))
    {
        *param = text;
        return true;
    }
    return check_one(arena, field, PD_TRANSFORM_NONE, PD_LOOKUP_EXACT, text, param, err);
}

/* A leaf of the query's own model: field, lookup, one value. */
static PdQ *
one_value_leaf(PdQuery *query, const PdField *field, PdLookup lookup, const char *value)
{
    PdQ *q = new_q(query, PD_Q_LEAF);
    const char **values = pd_arena_calloc(query->arena, 1, sizeof(*values));
    if (q == NULL || values == NULL || value == NULL)
        return NULL;
    q->path.text = field->name;
    q->path.model = query->model;
    q->path.field = field;
    q->lookup = lookup;
    q->values = values;
    q->value_count = 1;
    values[0] = value;
    return q;
}

PdQ *
pd_query_leaf_fulltext(PdQuery *query, const PdField *field, const char *text)
{
    return one_value_leaf(query, field, PD_LOOKUP_FULLTEXT, text);
}

PdQ *
pd_query_leaf_search(PdQuery *query, const PdField *field, const char *term)
{
    return one_value_leaf(query, field, PD_LOOKUP_ICONTAINS,
                          like_pattern(query->arena, PD_LOOKUP_ICONTAINS, term));
}

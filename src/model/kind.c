/*
 * kind.c - the field-kind table: one row per PdFieldKind with its spellings,
 * SQL type, family, numbers, value range, default=now meaning and JSON
 * encoding, and the cast table the planner reads for ALTER COLUMN TYPE. Every
 * other file asks here instead of switching on kinds, so adding a kind is one
 * row (and its value check in value.c). The cast table works on column
 * types, not kinds: email(254) and string(254) are the same varchar(254), and
 * the implicit id is a bigint. It reproduces what PostgreSQL's casts do to
 * values (explicit casts, since the planner always writes USING col::type);
 * the rows are in priority order and the first that matches decides.
 */
#include <stdio.h>
#include <string.h>

#include "prodata/kind.h"
#include "prodata/model.h"

#define VARCHAR_MAX 10485760
#define NUMERIC_PRECISION_MAX 1000

/* clang-format off */
static const PdKindInfo kinds[PD_FIELD_KIND_COUNT] = {
    [PD_FIELD_AUTO] = {PD_FIELD_AUTO, "auto", {NULL}, false, "bigint", PD_FAMILY_INTEGER, PD_NUMBERS_NONE,
                       0, 0, 0, INT64_MIN, INT64_MAX, false, NULL, NULL, PD_JSON_NUMBER},
    [PD_FIELD_STRING] = {PD_FIELD_STRING, "string", {NULL}, true, "character varying", PD_FAMILY_TEXT,
                         PD_NUMBERS_LENGTH, 0, VARCHAR_MAX, 0, 0, 0, false, NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_TEXT] = {PD_FIELD_TEXT, "text", {NULL}, true, "text", PD_FAMILY_TEXT, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_EMAIL] = {PD_FIELD_EMAIL, "email", {NULL}, true, "character varying", PD_FAMILY_TEXT,
                        PD_NUMBERS_OPTIONAL_LENGTH, 254, VARCHAR_MAX, 0, 0, 0, false,
                        NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_URL] = {PD_FIELD_URL, "url", {NULL}, true, "character varying", PD_FAMILY_TEXT,
                      PD_NUMBERS_OPTIONAL_LENGTH, 200, VARCHAR_MAX, 0, 0, 0, false,
                      NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_SLUG] = {PD_FIELD_SLUG, "slug", {NULL}, true, "character varying", PD_FAMILY_TEXT,
                       PD_NUMBERS_OPTIONAL_LENGTH, 50, VARCHAR_MAX, 0, 0, 0, true,
                       NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_SMALLINT] = {PD_FIELD_SMALLINT, "smallint", {NULL}, true, "smallint", PD_FAMILY_INTEGER,
                           PD_NUMBERS_NONE, 0, 0, 0, INT16_MIN, INT16_MAX, false,
                           NULL, "smallserial", PD_JSON_NUMBER},
    [PD_FIELD_INT] = {PD_FIELD_INT, "int", {"integer", NULL}, true, "integer", PD_FAMILY_INTEGER,
                      PD_NUMBERS_NONE, 0, 0, 0, INT32_MIN, INT32_MAX, false, NULL, "serial", PD_JSON_NUMBER},
    [PD_FIELD_BIGINT] = {PD_FIELD_BIGINT, "bigint", {NULL}, true, "bigint", PD_FAMILY_INTEGER,
                         PD_NUMBERS_NONE, 0, 0, 0, INT64_MIN, INT64_MAX, false,
                         NULL, "bigserial", PD_JSON_NUMBER},
    [PD_FIELD_BOOL] = {PD_FIELD_BOOL, "bool", {"boolean", NULL}, true, "boolean", PD_FAMILY_BOOLEAN,
                       PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_BOOLEAN},
    [PD_FIELD_FLOAT] = {PD_FIELD_FLOAT, "float", {NULL}, true, "double precision", PD_FAMILY_NUMERIC,
                        PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_NUMBER},
    [PD_FIELD_DECIMAL] = {PD_FIELD_DECIMAL, "decimal", {NULL}, true, "numeric", PD_FAMILY_NUMERIC,
                          PD_NUMBERS_PRECISION_SCALE, 0, 0, NUMERIC_PRECISION_MAX, 0, 0, false, NULL,
                          NULL, PD_JSON_DECIMAL_STRING},
    [PD_FIELD_DATE] = {PD_FIELD_DATE, "date", {NULL}, true, "date", PD_FAMILY_TEMPORAL, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, "CURRENT_DATE", NULL, PD_JSON_DATE},
    [PD_FIELD_TIME] = {PD_FIELD_TIME, "time", {NULL}, true, "time without time zone", PD_FAMILY_TEMPORAL,
                       PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, "LOCALTIME", NULL, PD_JSON_TIME},
    [PD_FIELD_TIMESTAMPTZ] = {PD_FIELD_TIMESTAMPTZ, "timestamptz", {"datetime", NULL}, true,
                              "timestamp with time zone", PD_FAMILY_TEMPORAL, PD_NUMBERS_NONE, 0, 0, 0, 0, 0,
                              false, "now()", NULL, PD_JSON_TIMESTAMP},
    [PD_FIELD_DURATION] = {PD_FIELD_DURATION, "duration", {NULL}, true, "interval", PD_FAMILY_TEMPORAL,
                           PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_DURATION},
    [PD_FIELD_UUID] = {PD_FIELD_UUID, "uuid", {NULL}, true, "uuid", PD_FAMILY_UUID, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_UUID},
    [PD_FIELD_JSON] = {PD_FIELD_JSON, "json", {NULL}, true, "jsonb", PD_FAMILY_JSON, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_AS_IS},
    [PD_FIELD_BINARY] = {PD_FIELD_BINARY, "binary", {NULL}, true, "bytea", PD_FAMILY_BINARY,
                         PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_BASE64},
    [PD_FIELD_CITEXT] = {PD_FIELD_CITEXT, "citext", {NULL}, true, "citext", PD_FAMILY_TEXT, PD_NUMBERS_NONE,
                         0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_INET] = {PD_FIELD_INET, "inet", {NULL}, true, "inet", PD_FAMILY_NETWORK, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_CIDR] = {PD_FIELD_CIDR, "cidr", {NULL}, true, "cidr", PD_FAMILY_NETWORK, PD_NUMBERS_NONE,
                       0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_STRING},
    [PD_FIELD_FOREIGN_KEY] = {PD_FIELD_FOREIGN_KEY, "foreign_key", {NULL}, false, NULL, PD_FAMILY_RELATION,
                              PD_NUMBERS_NONE, 0, 0, 0, 0, 0, true, NULL, NULL, PD_JSON_KEY},
    [PD_FIELD_ONE_TO_ONE] = {PD_FIELD_ONE_TO_ONE, "one_to_one", {NULL}, false, NULL, PD_FAMILY_RELATION,
                             PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL, NULL, PD_JSON_KEY},
    [PD_FIELD_MANY_TO_MANY] = {PD_FIELD_MANY_TO_MANY, "many_to_many", {NULL}, false, NULL,
                               PD_FAMILY_RELATION, PD_NUMBERS_NONE, 0, 0, 0, 0, 0, false, NULL,
                               NULL, PD_JSON_KEY_LIST},
};
/* clang-format on */

const PdKindInfo *
pd_kind_info(PdFieldKind kind)
{
    if ((int)kind < 0 || (int)kind >= PD_FIELD_KIND_COUNT)
        return NULL;
    return &kinds[kind];
}

const PdKindInfo *
pd_kind_find(const char *name)
{
    for (int k = 0; k < PD_FIELD_KIND_COUNT; k++)
    {
        const PdKindInfo *info = &kinds[k];
        if (!info->is_written)
            continue;
        if (strcmp(info->name, name) == 0)
            return info;
        for (size_t a = 0; a < sizeof(info->aliases) / sizeof(info->aliases[0]) && info->aliases[a]; a++)
            if (strcmp(info->aliases[a], name) == 0)
                return info;
    }
    return NULL;
}

const char *
pd_kind_family_name(PdKindFamily family)
{
    static const char *names[] = {"integer", "text",   "numeric", "temporal", "boolean",
                                  "json",    "binary", "uuid",    "network",  "relation"};
    if ((size_t)family < sizeof(names) / sizeof(names[0]))
        return names[family];
    return "unknown";
}

const char *
pd_kind_json_name(PdJsonEncoding encoding)
{
    static const char *names[PD_JSON_ENCODING_COUNT] = {
        [PD_JSON_NUMBER] = "number",       [PD_JSON_DECIMAL_STRING] = "decimal_string",
        [PD_JSON_STRING] = "string",       [PD_JSON_BOOLEAN] = "boolean",
        [PD_JSON_DATE] = "date",           [PD_JSON_TIME] = "time",
        [PD_JSON_TIMESTAMP] = "timestamp", [PD_JSON_DURATION] = "duration",
        [PD_JSON_UUID] = "uuid",           [PD_JSON_BASE64] = "base64",
        [PD_JSON_AS_IS] = "json",          [PD_JSON_KEY] = "key",
        [PD_JSON_KEY_LIST] = "key_list",
    };
    if ((int)encoding >= 0 && (int)encoding < PD_JSON_ENCODING_COUNT)
        return names[encoding];
    return "unknown";
}

const char *
pd_kind_column_sql(PdArena *arena, const PdColumnType *type)
{
    const PdKindInfo *info = pd_kind_info(type->kind);
    if (info == NULL || info->sql_type == NULL)
        return NULL;
    const char *brackets = type->is_array ? "[]" : "";
    switch (info->numbers)
    {
        case PD_NUMBERS_LENGTH:
        case PD_NUMBERS_OPTIONAL_LENGTH:
            return pd_arena_sprintf(arena, "%s(%d)%s", info->sql_type, type->length, brackets);
        case PD_NUMBERS_PRECISION_SCALE:
            return pd_arena_sprintf(arena, "%s(%d,%d)%s", info->sql_type, type->precision, type->scale,
                                    brackets);
        case PD_NUMBERS_NONE:
            break;
    }
    return type->is_array ? pd_arena_sprintf(arena, "%s[]", info->sql_type) : info->sql_type;
}

bool
pd_kind_column_equal(const PdColumnType *a, const PdColumnType *b)
{
    const PdKindInfo *x = pd_kind_info(a->kind), *y = pd_kind_info(b->kind);
    if (x == NULL || y == NULL)
        return false;
    bool is_same_sql = x->sql_type != NULL && y->sql_type != NULL
                           ? strcmp(x->sql_type, y->sql_type) == 0
                           : x->sql_type == y->sql_type; /* no column */
    return is_same_sql && a->is_array == b->is_array && a->length == b->length &&
           a->precision == b->precision && a->scale == b->scale;
}

/* ---- casts ------------------------------------------------------------- */

/* The first written kind with the same SQL type: email -> string, auto -> bigint. */
static PdFieldKind
storage_kind(PdFieldKind kind)
{
    const PdKindInfo *info = pd_kind_info(kind);
    for (int k = 0; info != NULL && info->sql_type != NULL && k < PD_FIELD_KIND_COUNT; k++)
        if (kinds[k].is_written && kinds[k].sql_type != NULL &&
            strcmp(kinds[k].sql_type, info->sql_type) == 0)
            return (PdFieldKind)k;
    return kind;
}

#define K(kind) (1u << (kind))
#define TEXTS (K(PD_FIELD_STRING) | K(PD_FIELD_TEXT))
#define INTEGERS (K(PD_FIELD_SMALLINT) | K(PD_FIELD_INT) | K(PD_FIELD_BIGINT))
#define FRACTIONAL (K(PD_FIELD_DECIMAL) | K(PD_FIELD_FLOAT))
#define NETWORKS (K(PD_FIELD_INET) | K(PD_FIELD_CIDR))
#define STORED                                                                                               \
    (TEXTS | INTEGERS | FRACTIONAL | K(PD_FIELD_BOOL) | K(PD_FIELD_DATE) | K(PD_FIELD_TIME) |                \
     K(PD_FIELD_TIMESTAMPTZ) | K(PD_FIELD_DURATION) | K(PD_FIELD_UUID) | K(PD_FIELD_JSON) |                  \
     K(PD_FIELD_BINARY) | K(PD_FIELD_CITEXT) | NETWORKS)

typedef enum CastRule
{
    CAST_LOSS,      /* rewrites; loses what `loss` says (NULL: nothing) */
    CAST_LENGTH,    /* text to text: lossless and in place when the new length holds the old */
    CAST_PRECISION, /* numeric to numeric: in place when only the precision grows */
    CAST_IN_PLACE,  /* binary-coercible (text and citext, cidr to inet): no rewrite, nothing lost */
} CastRule;

typedef struct CastRow
{
    unsigned from; /* storage kinds, as K() bits */
    unsigned to;
    CastRule rule;
    const char *loss;
} CastRow;

static const CastRow casts[] = {
    /* citext's casts to and from text and varchar are WITHOUT FUNCTION: the table is not rewritten (its
     * indexes on the column are rebuilt, their operator class changes). */
    {TEXTS, K(PD_FIELD_CITEXT), CAST_IN_PLACE, NULL},
    {K(PD_FIELD_CITEXT), K(PD_FIELD_TEXT), CAST_IN_PLACE, NULL},
    {TEXTS, TEXTS, CAST_LENGTH, "longer values are cut to the new length"},
    {K(PD_FIELD_INT) | K(PD_FIELD_BIGINT), K(PD_FIELD_SMALLINT), CAST_LOSS,
     "values out of the smaller range make it fail"},
    {K(PD_FIELD_BIGINT), K(PD_FIELD_INT), CAST_LOSS, "values out of the smaller range make it fail"},
    {INTEGERS, INTEGERS, CAST_LOSS, NULL},
    {FRACTIONAL, INTEGERS, CAST_LOSS, "fractions are rounded away"},
    {K(PD_FIELD_DECIMAL), K(PD_FIELD_DECIMAL), CAST_PRECISION,
     "values are rounded to fewer decimals, and larger ones make it fail"},
    {K(PD_FIELD_FLOAT), K(PD_FIELD_DECIMAL), CAST_LOSS,
     "values are rounded to the new precision, and larger ones make it fail"},
    {K(PD_FIELD_DECIMAL) | K(PD_FIELD_BIGINT), K(PD_FIELD_FLOAT), CAST_LOSS,
     "digits beyond a double's 15 to 17 significant ones are rounded away"},
    {INTEGERS, FRACTIONAL, CAST_LOSS, NULL},
    {STORED, K(PD_FIELD_STRING), CAST_LOSS, "values longer than the new length are cut"},
    {STORED, K(PD_FIELD_TEXT), CAST_LOSS, NULL},
    /* Parsed per row: a value that does not parse makes it fail, but one that parses can still lose
     * information (a time of day or zone in a date, decimals rounded to a scale, "yes"/"on" folded). */
    {TEXTS, K(PD_FIELD_DATE) | K(PD_FIELD_TIME), CAST_LOSS,
     "text with more than the new type holds (a time of day, a zone) is cut to it"},
    {TEXTS, FRACTIONAL, CAST_LOSS, "numbers are rounded to the new type's precision"},
    {TEXTS, K(PD_FIELD_BOOL), CAST_LOSS,
     "every spelling of true and false (yes, on, 1, t) becomes one value"},
    {TEXTS, STORED, CAST_LOSS, NULL},
    {K(PD_FIELD_BOOL), K(PD_FIELD_INT), CAST_LOSS, NULL},
    {K(PD_FIELD_INT), K(PD_FIELD_BOOL), CAST_LOSS, "every non-zero number becomes true"},
    {K(PD_FIELD_DATE), K(PD_FIELD_TIMESTAMPTZ), CAST_LOSS, NULL},
    {K(PD_FIELD_TIMESTAMPTZ), K(PD_FIELD_DATE), CAST_LOSS, "the time of day is lost"},
    {K(PD_FIELD_TIMESTAMPTZ), K(PD_FIELD_TIME), CAST_LOSS, "the date is lost"},
    {K(PD_FIELD_CIDR), K(PD_FIELD_INET), CAST_IN_PLACE, NULL},
    {K(PD_FIELD_INET), K(PD_FIELD_CIDR), CAST_LOSS,
     "bits right of the netmask are cleared (192.168.1.5/24 becomes 192.168.1.0/24)"},
};

static PdKindCast
apply_rule(const CastRow *row, const PdColumnType *a, const PdColumnType *b)
{
    PdKindCast cast = {true, true, row->loss};
    if (row->rule == CAST_LENGTH)
    {
        bool is_wider = b->length == 0 || (a->length != 0 && b->length >= a->length);
        cast.is_rewrite = !is_wider;
        cast.loss = is_wider ? NULL : row->loss;
    }
    else if (row->rule == CAST_PRECISION)
    {
        /* numeric without a precision (never written by a model) holds any value */
        bool is_narrower = a->precision > 0 && b->precision > 0 &&
                           (b->scale < a->scale || b->precision - b->scale < a->precision - a->scale);
        cast.is_rewrite = a->precision == 0 ||
                          !(b->precision == 0 || (b->scale == a->scale && b->precision >= a->precision));
        cast.loss = is_narrower ? row->loss : NULL;
    }
    else if (row->rule == CAST_IN_PLACE)
        cast.is_rewrite = false;
    return cast;
}

PdKindCast
pd_kind_cast(const PdColumnType *from, const PdColumnType *to)
{
    PdKindCast cast = {true, false, NULL};
    if (pd_kind_column_equal(from, to))
        return cast;
    unsigned a = K(storage_kind(from->kind)), b = K(storage_kind(to->kind));
    for (size_t i = 0; i < sizeof(casts) / sizeof(casts[0]) && from->is_array == to->is_array; i++)
        if ((casts[i].from & a) != 0 && (casts[i].to & b) != 0)
        {
            cast = apply_rule(&casts[i], from, to);
            /* An array is cast element by element into a new array: always a rewrite. */
            cast.is_rewrite = cast.is_rewrite || from->is_array;
            return cast;
        }
    cast.is_castable = false;
    cast.is_rewrite = true;
    return cast;
}

/* ---- fields ------------------------------------------------------------ */

bool
pd_model_column_type_of(const PdField *field, PdColumnType *out)
{
    const PdKindInfo *info = pd_kind_info(field->kind);
    if (info == NULL)
        return false;
    if (info->family == PD_FAMILY_RELATION)
    {
        const PdField *key = field->kind != PD_FIELD_MANY_TO_MANY && field->target != NULL
                                 ? pd_model_primary_key(field->target)
                                 : NULL;
        /* A key is never a relation (the checker refuses primary_key there), so this recursion ends. */
        return key != NULL && pd_model_column_type_of(key, out);
    }
    PdColumnType type = {.kind = field->kind, .is_array = field->is_array};
    if (info->numbers == PD_NUMBERS_LENGTH || info->numbers == PD_NUMBERS_OPTIONAL_LENGTH)
        type.length = field->max_length;
    else if (info->numbers == PD_NUMBERS_PRECISION_SCALE)
    {
        type.precision = field->precision;
        type.scale = field->scale;
    }
    *out = type;
    return true;
}

const char *
pd_model_column_type(PdArena *arena, const PdField *field)
{
    PdColumnType type;
    return pd_model_column_type_of(field, &type) ? pd_kind_column_sql(arena, &type) : NULL;
}

const char *
pd_model_type_text(PdArena *arena, const PdField *field)
{
    const PdKindInfo *info = pd_kind_info(field->kind);
    if (info == NULL)
        return NULL;
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return pd_arena_sprintf(arena, "%s[]", field->target_name);
    if (info->family == PD_FAMILY_RELATION)
        return field->target_name;
    const char *brackets = field->is_array ? "[]" : "";
    switch (info->numbers)
    {
        case PD_NUMBERS_LENGTH:
        case PD_NUMBERS_OPTIONAL_LENGTH:
            return pd_arena_sprintf(arena, "%s(%d)%s", info->name, field->max_length, brackets);
        case PD_NUMBERS_PRECISION_SCALE:
            return pd_arena_sprintf(arena, "%s(%d,%d)%s", info->name, field->precision, field->scale,
                                    brackets);
        case PD_NUMBERS_NONE:
            break;
    }
    return field->is_array ? pd_arena_sprintf(arena, "%s[]", info->name) : info->name;
}

const char *
pd_model_kind_name(PdFieldKind kind)
{
    const PdKindInfo *info = pd_kind_info(kind);
    return info != NULL ? info->name : "unknown";
}

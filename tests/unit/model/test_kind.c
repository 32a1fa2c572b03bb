/*
 * test_kind.c - the field-kind table itself: every kind has a descriptor,
 * every spelling and alias a model file may use parses to its kind and is
 * written back in the one canonical spelling, the column-type printer and
 * comparison, the cast table (reflexive and lossless on equal types, and the
 * widening/narrowing cases the planner relies on), and the JSON encoding
 * names the REST layer will read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/kind.h"
#include "prodata/model.h"
#include "testing.h"

static PdArena *arena;

static int
setup(void **state)
{
    (void)state;
    arena = pd_arena_new(0);
    return arena == NULL;
}

static int
teardown(void **state)
{
    (void)state;
    pd_arena_free(arena);
    return 0;
}

/* A column type of the kind with typical numbers (a length, a precision and scale) where it takes them. */
static PdColumnType
sample_type(PdFieldKind kind)
{
    const PdKindInfo *info = pd_kind_info(kind);
    PdColumnType type = {kind, 0, 0, 0};
    if (info->numbers == PD_NUMBERS_LENGTH || info->numbers == PD_NUMBERS_OPTIONAL_LENGTH)
        type.length = 120;
    if (info->numbers == PD_NUMBERS_PRECISION_SCALE)
        type = (PdColumnType){kind, 0, 10, 2};
    return type;
}

static void
test_every_kind_has_a_descriptor(void **state)
{
    (void)state;
    for (int k = 0; k < PD_FIELD_KIND_COUNT; k++)
    {
        const PdKindInfo *info = pd_kind_info((PdFieldKind)k);
        assert_non_null(info);
        assert_int_equal(info->kind, k);
        assert_non_null(info->name);
        assert_string_equal(pd_model_kind_name((PdFieldKind)k), info->name);
        assert_string_not_equal(pd_kind_family_name(info->family), "unknown");
        assert_string_not_equal(pd_kind_json_name(info->json), "unknown");
        /* Exactly the relations take their column type from elsewhere. */
        assert_int_equal(info->sql_type == NULL, info->family == PD_FAMILY_RELATION);
        assert_int_equal(info->numbers == PD_NUMBERS_OPTIONAL_LENGTH, info->default_length > 0);
        if (info->numbers == PD_NUMBERS_LENGTH || info->numbers == PD_NUMBERS_OPTIONAL_LENGTH)
            assert_int_equal(info->max_length, 10485760);
        if (info->family == PD_FAMILY_INTEGER)
            assert_true(info->min_value < 0 && info->max_value > 0);
        /* default=serial: the written integer kinds, each with its serial type */
        assert_int_equal(info->serial_sql != NULL, info->family == PD_FAMILY_INTEGER && info->is_written);
        for (int other = 0; other < k; other++)
            assert_string_not_equal(pd_kind_info((PdFieldKind)other)->name, info->name);
    }
    assert_null(pd_kind_info((PdFieldKind)PD_FIELD_KIND_COUNT));
    assert_string_equal(pd_kind_info(PD_FIELD_SMALLINT)->serial_sql, "smallserial");
    assert_string_equal(pd_kind_info(PD_FIELD_INT)->serial_sql, "serial");
    assert_string_equal(pd_kind_info(PD_FIELD_BIGINT)->serial_sql, "bigserial");
    assert_null(pd_kind_info((PdFieldKind)-1));
    assert_int_equal(pd_kind_info(PD_FIELD_SMALLINT)->max_value, 32767);
    assert_int_equal(pd_kind_info(PD_FIELD_INT)->min_value, -2147483648LL);
    assert_true(pd_kind_info(PD_FIELD_BIGINT)->max_value == INT64_MAX);
}

/* Each spelling finds its kind, parses in a model file, and pd_model_format writes the canonical name. */
static void
check_spelling(const PdKindInfo *info, const char *spelling)
{
    const PdKindInfo *found = pd_kind_find(spelling);
    assert_non_null(found);
    assert_int_equal(found->kind, info->kind);
    const char *type = info->numbers == PD_NUMBERS_LENGTH ? pd_arena_sprintf(arena, "%s(20)", spelling)
                       : info->numbers == PD_NUMBERS_PRECISION_SCALE
                           ? pd_arena_sprintf(arena, "%s(6,2)", spelling)
                           : spelling;
    PdCatalog *catalog = testing_parse(arena, pd_arena_sprintf(arena, "model M {\n  f %s\n}\n", type));
    const PdField *field = pd_model_find_field(pd_model_find(catalog, "M"), "f");
    assert_non_null(field);
    assert_int_equal(field->kind, info->kind);
    char *text = NULL;
    PdError err;
    assert_true(pd_model_format(arena, catalog, &text, &err));
    const char *canonical = pd_model_type_text(arena, field);
    assert_true(strncmp(canonical, info->name, strlen(info->name)) == 0);
    assert_contains(text, pd_arena_sprintf(arena, "  f %s", canonical));
}

static void
test_every_alias_parses_to_its_kind(void **state)
{
    (void)state;
    size_t alias_count = 0;
    for (int k = 0; k < PD_FIELD_KIND_COUNT; k++)
    {
        const PdKindInfo *info = pd_kind_info((PdFieldKind)k);
        if (!info->is_written)
        {
            /* auto and the relations are never written as a type name */
            assert_null(pd_kind_find(info->name));
            assert_null(info->aliases[0]);
            continue;
        }
        check_spelling(info, info->name);
        for (size_t a = 0; a < sizeof(info->aliases) / sizeof(info->aliases[0]) && info->aliases[a];
             a++, alias_count++)
            check_spelling(info, info->aliases[a]);
    }
    assert_int_equal(alias_count, 3); /* integer, boolean, datetime */
    assert_int_equal(pd_kind_find("datetime")->kind, PD_FIELD_TIMESTAMPTZ);
    assert_null(pd_kind_find("varchar"));
    assert_null(pd_kind_find("String"));
    assert_null(pd_kind_find(""));
}

static void
test_column_types_print_and_compare(void **state)
{
    (void)state;
    static const struct
    {
        PdColumnType type;
        const char *sql;
    } cases[] = {
        {{PD_FIELD_AUTO, 0, 0, 0}, "bigint"},
        {{PD_FIELD_STRING, 200, 0, 0}, "character varying(200)"},
        {{PD_FIELD_EMAIL, 254, 0, 0}, "character varying(254)"},
        {{PD_FIELD_TEXT, 0, 0, 0}, "text"},
        {{PD_FIELD_DECIMAL, 0, 8, 2}, "numeric(8,2)"},
        {{PD_FIELD_FLOAT, 0, 0, 0}, "double precision"},
        {{PD_FIELD_TIME, 0, 0, 0}, "time without time zone"},
        {{PD_FIELD_TIMESTAMPTZ, 0, 0, 0}, "timestamp with time zone"},
        {{PD_FIELD_DURATION, 0, 0, 0}, "interval"},
        {{PD_FIELD_JSON, 0, 0, 0}, "jsonb"},
        {{PD_FIELD_BINARY, 0, 0, 0}, "bytea"},
        {{PD_FIELD_CITEXT, 0, 0, 0}, "citext"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(pd_kind_column_sql(arena, &cases[i].type), cases[i].sql);
    PdColumnType fk = {PD_FIELD_FOREIGN_KEY, 0, 0, 0};
    assert_null(pd_kind_column_sql(arena, &fk));

    /* Equal exactly when the SQL text is equal. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
            assert_int_equal(pd_kind_column_equal(&cases[i].type, &cases[j].type),
                             strcmp(cases[i].sql, cases[j].sql) == 0);
    PdColumnType bigint = {PD_FIELD_BIGINT, 0, 0, 0}, slug = {PD_FIELD_SLUG, 254, 0, 0};
    assert_true(pd_kind_column_equal(&cases[0].type, &bigint)); /* auto is a bigint */
    assert_true(pd_kind_column_equal(&cases[2].type, &slug));   /* email(254) and slug(254) alike */
    assert_false(pd_kind_column_equal(&cases[1].type, &slug));  /* lengths differ */

    /* A foreign key's column takes its target's key type. */
    PdCatalog *catalog = testing_parse(
        arena,
        "model A {\n  code string(12) primary_key\n}\nmodel B {\n  a A\n  c B null\n  m A[] related=ms\n}\n");
    const PdModel *b = pd_model_find(catalog, "B");
    PdColumnType type;
    assert_true(pd_model_column_type_of(pd_model_find_field(b, "a"), &type));
    assert_int_equal(type.kind, PD_FIELD_STRING);
    assert_int_equal(type.length, 12);
    assert_true(pd_model_column_type_of(pd_model_find_field(b, "c"), &type));
    assert_true(pd_kind_column_equal(&type, &bigint));
    assert_false(pd_model_column_type_of(pd_model_find_field(b, "m"), &type));
    assert_string_equal(pd_model_type_text(arena, pd_model_find_field(b, "m")), "A[]");
    assert_string_equal(pd_model_type_text(arena, pd_model_find_field(b, "a")), "A");
}

static void
test_lossless_cast_is_reflexive(void **state)
{
    (void)state;
    for (int k = 0; k < PD_FIELD_KIND_COUNT; k++)
    {
        if (pd_kind_info((PdFieldKind)k)->sql_type == NULL)
            continue;
        PdColumnType type = sample_type((PdFieldKind)k);
        PdKindCast cast = pd_kind_cast(&type, &type);
        assert_true(cast.is_castable);
        assert_false(cast.is_rewrite);
        assert_null(cast.loss);
        /* Every stored kind casts to text and back (PostgreSQL's I/O casts). */
        PdColumnType text = {PD_FIELD_TEXT, 0, 0, 0};
        assert_true(pd_kind_cast(&type, &text).is_castable);
        assert_null(pd_kind_cast(&type, &text).loss);
        assert_true(pd_kind_cast(&text, &type).is_castable);
    }
}

static void
test_cast_table(void **state)
{
    (void)state;
    PdColumnType v100 = {PD_FIELD_STRING, 100, 0, 0}, v200 = {PD_FIELD_EMAIL, 200, 0, 0},
                 text = {PD_FIELD_TEXT, 0, 0, 0}, small = {PD_FIELD_SMALLINT, 0, 0, 0},
                 integer = {PD_FIELD_INT, 0, 0, 0}, big = {PD_FIELD_AUTO, 0, 0, 0},
                 dec82 = {PD_FIELD_DECIMAL, 0, 8, 2}, dec102 = {PD_FIELD_DECIMAL, 0, 10, 2},
                 dec84 = {PD_FIELD_DECIMAL, 0, 8, 4}, flt = {PD_FIELD_FLOAT, 0, 0, 0},
                 boolean = {PD_FIELD_BOOL, 0, 0, 0}, date = {PD_FIELD_DATE, 0, 0, 0},
                 stamp = {PD_FIELD_TIMESTAMPTZ, 0, 0, 0}, uuid = {PD_FIELD_UUID, 0, 0, 0},
                 json = {PD_FIELD_JSON, 0, 0, 0};
    PdKindCast cast = pd_kind_cast(&v100, &v200); /* widening a varchar: in place, lossless */
    assert_true(cast.is_castable && !cast.is_rewrite && cast.loss == NULL);
    cast = pd_kind_cast(&v100, &text);
    assert_true(!cast.is_rewrite && cast.loss == NULL);
    cast = pd_kind_cast(&v200, &v100);
    assert_true(cast.is_rewrite && cast.loss != NULL);
    cast = pd_kind_cast(&small, &big);
    assert_true(cast.is_rewrite && cast.loss == NULL);
    assert_non_null(pd_kind_cast(&big, &integer).loss);
    assert_non_null(pd_kind_cast(&integer, &small).loss);
    cast = pd_kind_cast(&dec82, &dec102); /* more precision, same scale: in place */
    assert_true(!cast.is_rewrite && cast.loss == NULL);
    cast = pd_kind_cast(&dec82, &dec84); /* more scale: rewritten, and fewer whole digits */
    assert_true(cast.is_rewrite && cast.loss != NULL);
    assert_non_null(pd_kind_cast(&dec82, &integer).loss);
    assert_non_null(pd_kind_cast(&big, &flt).loss);
    assert_null(pd_kind_cast(&integer, &flt).loss);
    assert_null(pd_kind_cast(&boolean, &integer).loss);
    assert_non_null(pd_kind_cast(&integer, &boolean).loss);
    assert_false(pd_kind_cast(&small, &boolean).is_castable);
    assert_null(pd_kind_cast(&date, &stamp).loss);
    assert_non_null(pd_kind_cast(&stamp, &date).loss);
    assert_false(pd_kind_cast(&date, &integer).is_castable);
    assert_false(pd_kind_cast(&uuid, &json).is_castable);
    assert_non_null(pd_kind_cast(&uuid, &v100).loss); /* cut to the length */
    /* citext and text or varchar: binary-coercible both ways, in place; to a varchar(n) values may be cut */
    PdColumnType citext = {PD_FIELD_CITEXT, 0, 0, 0};
    cast = pd_kind_cast(&v100, &citext);
    assert_true(cast.is_castable && !cast.is_rewrite && cast.loss == NULL);
    cast = pd_kind_cast(&citext, &text);
    assert_true(cast.is_castable && !cast.is_rewrite && cast.loss == NULL);
    assert_non_null(pd_kind_cast(&citext, &v100).loss);
    assert_false(pd_kind_cast(&integer, &citext).is_castable);

    /* inet and cidr: cidr is an inet without a cast (binary coercible); inet to cidr clears host bits. */
    PdColumnType inet = {PD_FIELD_INET, 0, 0, 0}, cidr = {PD_FIELD_CIDR, 0, 0, 0};
    cast = pd_kind_cast(&cidr, &inet);
    assert_true(cast.is_castable && !cast.is_rewrite && cast.loss == NULL);
    cast = pd_kind_cast(&inet, &cidr);
    assert_true(cast.is_castable && cast.is_rewrite && cast.loss != NULL);
    assert_true(pd_kind_cast(&text, &inet).is_castable);
    assert_false(pd_kind_cast(&inet, &integer).is_castable);

    /* Arrays: the cast of their elements, always a rewrite; none between an array and a scalar. */
    PdColumnType ints = {PD_FIELD_INT, 0, 0, 0, true}, bigs = {PD_FIELD_BIGINT, 0, 0, 0, true},
                 texts = {PD_FIELD_TEXT, 0, 0, 0, true}, dates = {PD_FIELD_DATE, 0, 0, 0, true};
    cast = pd_kind_cast(&ints, &bigs);
    assert_true(cast.is_castable && cast.is_rewrite && cast.loss == NULL);
    assert_non_null(pd_kind_cast(&bigs, &ints).loss);
    assert_true(pd_kind_cast(&dates, &texts).is_castable);
    assert_false(pd_kind_cast(&ints, &integer).is_castable);
    assert_false(pd_kind_cast(&integer, &ints).is_castable);
    assert_false(pd_kind_cast(&dates, &ints).is_castable);
    assert_false(pd_kind_column_equal(&ints, &integer));
    PdColumnType v30s = {PD_FIELD_STRING, 30, 0, 0, true};
    assert_string_equal(pd_kind_column_sql(arena, &v30s), "character varying(30)[]");
    assert_string_equal(pd_kind_column_sql(arena, &ints), "integer[]");
}

static void
test_json_encoding_names(void **state)
{
    (void)state;
    static const struct
    {
        PdFieldKind kind;
        const char *encoding;
    } cases[] = {
        {PD_FIELD_AUTO, "number"},
        {PD_FIELD_SMALLINT, "number"},
        {PD_FIELD_INT, "number"},
        {PD_FIELD_BIGINT, "number"},
        {PD_FIELD_FLOAT, "number"},
        {PD_FIELD_DECIMAL, "decimal_string"},
        {PD_FIELD_STRING, "string"},
        {PD_FIELD_TEXT, "string"},
        {PD_FIELD_EMAIL, "string"},
        {PD_FIELD_URL, "string"},
        {PD_FIELD_SLUG, "string"},
        {PD_FIELD_BOOL, "boolean"},
        {PD_FIELD_DATE, "date"},
        {PD_FIELD_TIME, "time"},
        {PD_FIELD_TIMESTAMPTZ, "timestamp"},
        {PD_FIELD_DURATION, "duration"},
        {PD_FIELD_UUID, "uuid"},
        {PD_FIELD_JSON, "json"},
        {PD_FIELD_BINARY, "base64"},
        {PD_FIELD_CITEXT, "string"},
        {PD_FIELD_INET, "string"},
        {PD_FIELD_CIDR, "string"},
        {PD_FIELD_FOREIGN_KEY, "key"},
        {PD_FIELD_ONE_TO_ONE, "key"},
        {PD_FIELD_MANY_TO_MANY, "key_list"},
    };
    assert_int_equal(sizeof(cases) / sizeof(cases[0]), PD_FIELD_KIND_COUNT);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(pd_kind_json_name(pd_kind_info(cases[i].kind)->json), cases[i].encoding);
    for (int e = 0; e < PD_JSON_ENCODING_COUNT; e++)
        for (int other = 0; other < e; other++)
            assert_string_not_equal(pd_kind_json_name((PdJsonEncoding)e),
                                    pd_kind_json_name((PdJsonEncoding)other));
    assert_string_equal(pd_kind_json_name((PdJsonEncoding)PD_JSON_ENCODING_COUNT), "unknown");
}

/*
 * A value written in its kind's JSON encoding is accepted back as input
 * (the REST layer reads what it writes). The literal kind is what the REST
 * layer makes of the JSON: numbers and decimal strings become number literals.
 */
static void
test_json_examples_are_valid_values(void **state)
{
    (void)state;
    PdCatalog *catalog = testing_parse(arena, "model M {\n  i int\n  big bigint\n  fl float\n"
                                              "  d decimal(8,2)\n  s string(20)\n  b bool\n  dt date\n"
                                              "  tm time\n  ts timestamptz\n  du duration\n  u uuid\n"
                                              "  bn binary\n  j json\n  fk M null related=ms\n}\n");
    static const struct
    {
        const char *field;
        PdLiteralKind kind;
        const char *text;
    } cases[] = {
        {"i", PD_LITERAL_NUMBER, "42"},
        {"big", PD_LITERAL_NUMBER, "9007199254740993"},
        {"fl", PD_LITERAL_NUMBER, "1.5"},
        {"d", PD_LITERAL_NUMBER, "3.50"},
        {"s", PD_LITERAL_STRING, "Dune"},
        {"b", PD_LITERAL_BOOL, "true"},
        {"dt", PD_LITERAL_STRING, "2024-02-29"},
        {"tm", PD_LITERAL_STRING, "10:30:00"},
        {"tm", PD_LITERAL_STRING, "10:30:00.500000"},
        {"ts", PD_LITERAL_STRING, "2024-01-02T10:00:00+02:00"},
        {"ts", PD_LITERAL_STRING, "2024-01-02T10:00:00.123456Z"},
        {"du", PD_LITERAL_STRING, "3 01:02:03"},
        {"du", PD_LITERAL_STRING, "-1 23:00:00"},
        {"du", PD_LITERAL_STRING, "00:01:30.500000"},
        {"du", PD_LITERAL_STRING, "10 00:00:00.000001"},
        {"u", PD_LITERAL_STRING, "123e4567-e89b-12d3-a456-426614174000"},
        {"bn", PD_LITERAL_STRING, "AAEC"},
        {"j", PD_LITERAL_STRING, "{\"a\": [1, 2]}"},
        {"j", PD_LITERAL_NUMBER, "3"},
        {"fk", PD_LITERAL_NUMBER, "7"},
    };
    const PdModel *model = pd_model_find(catalog, "M");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        PdLiteral value = {cases[i].kind, cases[i].text};
        PdError err;
        if (!pd_model_check_value(pd_model_find_field(model, cases[i].field), &value, &err))
            fail_msg("%s = %s refused: %s", cases[i].field, cases[i].text, err.message);
    }
    /* A bare number counts days only right before a clock. */
    static const char *refused[] = {"3 4", "3 4 days", "1.5 01:00:00", "3 days 4 01:00:00", "3 001:00:00"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
    {
        PdLiteral value = {PD_LITERAL_STRING, refused[i]};
        PdError err;
        if (pd_model_check_value(pd_model_find_field(model, "du"), &value, &err))
            fail_msg("duration %s accepted", refused[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_a_descriptor),
        cmocka_unit_test(test_every_alias_parses_to_its_kind),
        cmocka_unit_test(test_column_types_print_and_compare),
        cmocka_unit_test(test_lossless_cast_is_reflexive),
        cmocka_unit_test(test_cast_table),
        cmocka_unit_test(test_json_encoding_names),
        cmocka_unit_test(test_json_examples_are_valid_values),
    };
    return cmocka_run_group_tests_name("model_kind", tests, setup, teardown);
}

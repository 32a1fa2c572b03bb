/*
 * test_query_represent.c - the JSON form of objects (pd_query_represent)
 * against real PostgreSQL values: one model holding every kind, tables made
 * by prodata's own migration planner, rows written with SQL, and the text
 * PostgreSQL returns compared whole with what DRF's serializer writes for the
 * same values (decimals as "12.50", timestamptz as DRF's "...Z" in UTC,
 * Django's duration strings, base64, json as JSON, null, unicode, a foreign
 * key as the target's key, many-to-many as the ordered array of keys).
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pgtest.h"
#include "prodata/migrate.h"
#include "prodata/model.h"
#include "prodata/strbuf.h"
#include "query/represent.h"

static const char *models_text = "model Tag {\n"
                                 "  name  slug(40)  unique\n"
                                 "}\n"
                                 "model Code {\n"
                                 "  code  string(10)  primary_key\n"
                                 "}\n"
                                 "model Money {\n"
                                 "  amount  decimal(6,2)  primary_key\n"
                                 "}\n"
                                 "model Sample {\n"
                                 "  small   smallint      null\n"
                                 "  whole   int           null\n"
                                 "  big     bigint        null\n"
                                 "  flag    bool          null\n"
                                 "  ratio   float         null\n"
                                 "  price   decimal(8,2)  null\n"
                                 "  day     date          null\n"
                                 "  clock   time          null\n"
                                 "  stamp   timestamptz   null\n"
                                 "  span    duration      null\n"
                                 "  ident   uuid          null\n"
                                 "  doc     json          null\n"
                                 "  blob    binary        null\n"
                                 "  note    text          null\n"
                                 "  label   string(20)    null\n"
                                 "  mail    email         null\n"
                                 "  site    url           null\n"
                                 "  handle  slug          null\n"
                                 "  code    Code          null\n"
                                 "  money   Money         null\n"
                                 "  tags    Tag[]\n"
                                 "}\n";

typedef struct Fixture
{
    PdArena *arena;
    PdDb *db;
    PdCatalog *catalog;
} Fixture;

static int
setup(void **state)
{
    Fixture *fx = calloc(1, sizeof(*fx));
    PdError err = {0};
    PdMigrationPlan *plan = NULL;
    fx->arena = pd_arena_new(0);
    fx->db = pgtest_connect();
    if (!pd_model_parse(fx->arena, "represent.pdm", models_text, &fx->catalog, &err) ||
        !pd_migrate_plan(fx->arena, NULL, fx->catalog, &plan, &err))
    {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    pgtest_exec(fx->db, plan->up_sql);
    pgtest_exec(fx->db,
                "INSERT INTO tag (name) VALUES ('zeta'), ('alpha');"
                "INSERT INTO code VALUES ('AB-1');"
                "INSERT INTO money VALUES (3.5);"
                "INSERT INTO sample (small, whole, big, flag, ratio, price, day, clock, stamp, span, ident,"
                " doc, blob, note, label, mail, site, handle, code_id, money_id) VALUES"
                " (-7, 42, 9007199254740993, true, 1.5, 12.5, '2024-02-29', '10:30:00.5',"
                " '2024-01-02 10:00:00.25+02', '3 days 01:02:03', '123E4567-E89B-12D3-A456-426614174000',"
                " '{\"a\": [1, 2], \"b\": null}', '\\x000102ff', 'caf\u00e9 \u2603 \"q\" \\ ok',"
                " 'Dune', 'ann@example.com', 'https://example.com/', 'a-b_c', 'AB-1', 3.5);"
                "INSERT INTO sample (span) VALUES ('-01:30:00');"
                "INSERT INTO sample (span, clock) VALUES ('00:01:30.5', '23:59:59');"
                "INSERT INTO sample_tags (sample_id, tag_id) VALUES (1, 1), (1, 2);");
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fx = *state;
    pd_db_close(fx->db);
    pd_arena_free(fx->arena);
    free(fx);
    return 0;
}

/* The representation of sample row `id` with the given fields, as PostgreSQL's text. */
static const char *
represent_row(Fixture *fx, const char *table, const char *id, const char *const *fields, size_t count)
{
    PdError err = {0};
    PdStrbuf sql;
    pd_strbuf_init(&sql, fx->arena);
    pd_strbuf_append(&sql, "SELECT ");
    const PdModel *model = NULL;
    for (size_t i = 0; i < fx->catalog->model_count; i++)
        if (strcmp(fx->catalog->models[i].table, table) == 0)
            model = &fx->catalog->models[i];
    assert_non_null(model);
    assert_true(pd_query_represent(&sql, model, "s", fields, count, &err));
    pd_strbuf_append(&sql, " FROM ");
    pd_strbuf_append_identifier(&sql, table);
    pd_strbuf_append(&sql, " AS s WHERE s.");
    pd_strbuf_append_identifier(&sql, pd_model_primary_key(model)->column);
    pd_strbuf_append(&sql, "::text = $1");
    assert_false(pd_strbuf_failed(&sql));
    PdDbResult *result = NULL;
    const char *params[] = {id};
    if (!pd_db_query(fx->arena, fx->db, pd_strbuf_text(&sql), 1, params, &result, &err))
        fail_msg("%s\nSQL: %s", err.message, pd_strbuf_text(&sql));
    assert_int_equal(pd_db_result_row_count(result), 1);
    return pd_db_result_value(result, 0, 0);
}

static void
test_every_kind_in_utc(void **state)
{
    Fixture *fx = *state;
    pgtest_exec(fx->db, "SET TimeZone = 'UTC'");
    assert_string_equal(
        represent_row(fx, "sample", "1", NULL, 0),
        "{\"id\":1,\"small\":-7,\"whole\":42,\"big\":9007199254740993,\"flag\":true,"
        "\"ratio\":1.5,\"price\":\"12.50\",\"day\":\"2024-02-29\",\"clock\":\"10:30:00.500000\","
        "\"stamp\":\"2024-01-02T08:00:00.250000Z\",\"span\":\"3 01:02:03\","
        "\"ident\":\"123e4567-e89b-12d3-a456-426614174000\","
        "\"doc\":{\"a\": [1, 2], \"b\": null},\"blob\":\"AAEC/w==\","
        "\"note\":\"caf\u00e9 \u2603 \\\"q\\\" \\\\ ok\",\"label\":\"Dune\","
        "\"mail\":\"ann@example.com\",\"site\":\"https://example.com/\",\"handle\":\"a-b_c\","
        "\"code\":\"AB-1\",\"money\":\"3.50\",\"tags\":[1, 2]}");
}

static void
test_nulls_and_empty_lists(void **state)
{
    Fixture *fx = *state;
    assert_string_equal(
        represent_row(fx, "sample", "2", NULL, 0),
        "{\"id\":2,\"small\":null,\"whole\":null,\"big\":null,\"flag\":null,\"ratio\":null,"
        "\"price\":null,\"day\":null,\"clock\":null,\"stamp\":null,\"span\":\"-1 22:30:00\","
        "\"ident\":null,\"doc\":null,\"blob\":null,\"note\":null,\"label\":null,\"mail\":null,"
        "\"site\":null,\"handle\":null,\"code\":null,\"money\":null,\"tags\":[]}");
}

static void
test_offset_follows_the_session_time_zone(void **state)
{
    Fixture *fx = *state;
    const char *fields[] = {"stamp", "day"};
    pgtest_exec(fx->db, "SET TimeZone = 'Asia/Kolkata'");
    assert_string_equal(represent_row(fx, "sample", "1", fields, 2),
                        "{\"stamp\":\"2024-01-02T13:30:00.25+05:30\",\"day\":\"2024-02-29\"}");
    pgtest_exec(fx->db, "SET TimeZone = 'UTC'");
}

/* Row 3's stamp set to `value` (SQL text), represented alone. */
static const char *
stamp_as(Fixture *fx, const char *value)
{
    const char *fields[] = {"stamp"};
    char sql[160];
    snprintf(sql, sizeof(sql), "UPDATE sample SET stamp = '%s' WHERE id = 3", value);
    pgtest_exec(fx->db, sql);
    return represent_row(fx, "sample", "3", fields, 1);
}

/* DRF's DateTimeField: isoformat (six digits of fraction, none when zero) and "Z" for a zero offset. */
static void
test_time_stamps_as_drf_writes_them(void **state)
{
    Fixture *fx = *state;
    pgtest_exec(fx->db, "SET TimeZone = 'UTC'");
    assert_string_equal(stamp_as(fx, "2024-01-02 08:00:00Z"), "{\"stamp\":\"2024-01-02T08:00:00Z\"}");
    assert_string_equal(stamp_as(fx, "2024-01-02 08:00:00.000001Z"),
                        "{\"stamp\":\"2024-01-02T08:00:00.000001Z\"}");
    assert_string_equal(stamp_as(fx, "2024-01-02 23:59:59.5+02:00"),
                        "{\"stamp\":\"2024-01-02T21:59:59.500000Z\"}");
    /* what Python cannot hold keeps PostgreSQL's own form rather than a wrong date */
    assert_string_equal(stamp_as(fx, "infinity"), "{\"stamp\":\"infinity\"}");
    assert_string_equal(stamp_as(fx, "0044-03-15 12:00:00Z BC"),
                        "{\"stamp\":\"0044-03-15T12:00:00+00:00 BC\"}");
    /* a zone whose offset is zero in winter only: Z then, the offset in summer */
    pgtest_exec(fx->db, "SET TimeZone = 'Europe/London'");
    assert_string_equal(stamp_as(fx, "2024-01-02 08:00:00Z"), "{\"stamp\":\"2024-01-02T08:00:00Z\"}");
    assert_string_equal(stamp_as(fx, "2024-07-02 08:00:00Z"), "{\"stamp\":\"2024-07-02T09:00:00+01:00\"}");
    pgtest_exec(fx->db, "SET TimeZone = 'UTC'");
    pgtest_exec(fx->db, "UPDATE sample SET stamp = NULL WHERE id = 3");
}

/* No ":name" outside a cast's "::" in the text of any kind: pgbench would read it as a variable. */
static void
test_text_has_no_colon_names(void **state)
{
    Fixture *fx = *state;
    PdError err = {0};
    PdStrbuf sql;
    pd_strbuf_init(&sql, fx->arena);
    assert_true(pd_query_represent(&sql, pd_model_find(fx->catalog, "Sample"), "s", NULL, 0, &err));
    const char *text = pd_strbuf_text(&sql);
    assert_non_null(strstr(text, "to_char("));
    for (const char *at = strchr(text, ':'); at != NULL; at = strchr(at + 1, ':'))
    {
        if (at[1] == ':')
            at++;
        else if (isalpha((unsigned char)at[1]) || at[1] == '_')
            fail_msg("\":%.12s\" in \"%.40s\"", at + 1, at > text + 20 ? at - 20 : text);
    }
}

static void
test_subset_in_the_order_given(void **state)
{
    Fixture *fx = *state;
    const char *fields[] = {"tags", "span", "clock", "id"};
    assert_string_equal(represent_row(fx, "sample", "3", fields, 4),
                        "{\"tags\":[],\"span\":\"00:01:30.500000\",\"clock\":\"23:59:59\",\"id\":3}");
    assert_string_equal(represent_row(fx, "sample", "1", fields, 0), "{}");
}

static void
test_keys_of_other_kinds(void **state)
{
    Fixture *fx = *state;
    assert_string_equal(represent_row(fx, "money", "3.50", NULL, 0), "{\"amount\":\"3.50\"}");
    assert_string_equal(represent_row(fx, "code", "AB-1", NULL, 0), "{\"code\":\"AB-1\"}");
    assert_string_equal(represent_row(fx, "tag", "2", NULL, 0), "{\"id\":2,\"name\":\"alpha\"}");
}

static void
test_unknown_field_is_refused(void **state)
{
    Fixture *fx = *state;
    PdStrbuf sql;
    PdError err = {0};
    pd_strbuf_init(&sql, fx->arena);
    const char *fields[] = {"id", "pric"};
    assert_false(pd_query_represent(&sql, pd_model_find(fx->catalog, "Sample"), "s", fields, 2, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, "Sample has no field \"pric\"");
    assert_string_equal(err.field, "pric");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_in_utc),
        cmocka_unit_test(test_nulls_and_empty_lists),
        cmocka_unit_test(test_offset_follows_the_session_time_zone),
        cmocka_unit_test(test_time_stamps_as_drf_writes_them),
        cmocka_unit_test(test_text_has_no_colon_names),
        cmocka_unit_test(test_subset_in_the_order_given),
        cmocka_unit_test(test_keys_of_other_kinds),
        cmocka_unit_test(test_unknown_field_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

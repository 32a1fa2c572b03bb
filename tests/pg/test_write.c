/*
 * test_write.c - the write side of the query library (include/prodata/object.h)
 * on the bookstore models of examples/bookstore/models.pdm, migrated by
 * prodata's own planner into this program's fresh database: values that
 * come back as they went in (unicode, nulls, decimals, many-to-many keys),
 * each database refusal in DRF's words under the API field's name, a bulk
 * insert that is one statement and all or nothing, upserts that say whether
 * they created, get_or_create racing a concurrent creator, and injection
 * attempts as values and as field names that leave the data as it was. A
 * second catalog, of models whose primary keys the database draws from a
 * default (uuid, a literal, a serial's sequence), checks creates with
 * many-to-many keys there, and a deferrable foreign key with its own name.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgtest.h"
#include "prodata/migrate.h"
#include "prodata/model.h"
#include "prodata/object.h"
#include "prodata/query.h"

static PdArena *arena;
static PdDb *db;
static PdCatalog *catalog;
static PdCatalog *keyed; /* KEYED_MODELS: keys with a default, not auto */

/* Keys drawn from the field's default, not a sequence; beside the bookstore's tables in the same database. */
static const char *KEYED_MODELS = "model Label {\n"
                                  "  word  string(20)  unique\n"
                                  "}\n"
                                  "model Gadget {\n"
                                  "  code    uuid        primary_key  default=uuid\n"
                                  "  name    string(40)\n"
                                  "  labels  Label[]\n"
                                  "}\n"
                                  "model Ticket {\n"
                                  "  ref     string(12)  primary_key  default=\"first\"\n"
                                  "  labels  Label[]\n"
                                  "}\n"
                                  "model Legacy {\n"
                                  "  id      int  primary_key  default=serial\n"
                                  "  name    string(40)\n"
                                  "  labels  Label[]\n"
                                  "}\n"
                                  "model Loan {\n"
                                  "  legacy  Legacy  fk_name=\"app_loan_legacy_fk\"  deferrable\n"
                                  "  number  bigint  default=serial\n"
                                  "}\n";

static int
setup(void **state)
{
    (void)state;
    PdError err = {0};
    PdMigrationPlan *plan = NULL;
    arena = pd_arena_new(0);
    db = pgtest_connect();
    if (!pd_model_load_file(arena, "examples/bookstore/models.pdm", &catalog, &err) ||
        !pd_migrate_plan(arena, NULL, catalog, &plan, &err))
    {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    pgtest_exec(db, plan->up_sql);
    if (!pd_model_parse(arena, "keyed.pdm", KEYED_MODELS, &keyed, &err) ||
        !pd_migrate_plan(arena, NULL, keyed, &plan, &err))
    {
        fprintf(stderr, "setup: keyed models: %s\n", err.message);
        return -1;
    }
    pgtest_exec(db, plan->up_sql);
    pgtest_exec(db, "SET TIME ZONE 'UTC'");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    pd_db_close(db);
    pd_arena_free(arena);
    return 0;
}

static const PdModel *
model(const char *name)
{
    const PdModel *found = pd_model_find(catalog, name);
    assert_non_null(found);
    return found;
}

/* A PdValues read from JSON, which must read. */
static PdValues *
values_of(const char *model_name, const char *json)
{
    PdValues *values = pd_values_new(arena, model(model_name));
    PdError err = {0};
    if (!pd_values_from_json(values, json, strlen(json), &err))
        fail_msg("reading %s: %s", json, err.message);
    return values;
}

/* One value of a query that must work. */
static const char *
scalar(const char *sql)
{
    PdDbResult *result = NULL;
    PdError err = {0};
    if (!pd_db_query(arena, db, sql, 0, NULL, &result, &err))
        fail_msg("%s: %s", sql, err.message);
    return pd_db_result_value(result, 0, 0);
}

static const char *
create(const char *model_name, const char *json)
{
    const char *out = NULL;
    PdError err = {0};
    if (!pd_object_create(arena, db, values_of(model_name, json), &out, &err))
        fail_msg("create %s: %s (%s)", json, err.message, err.detail);
    return out;
}

/* The create must be refused with exactly this one problem. */
static void
assert_refused(const char *model_name, const char *json, const char *field, const char *message)
{
    const char *out = NULL;
    PdError err = {0};
    assert_false(pd_object_create(arena, db, values_of(model_name, json), &out, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(err.problem_count, 1);
    assert_string_equal(err.problems[0].field, field);
    assert_string_equal(err.problems[0].message, message);
    assert_string_equal(err.field, field);
}

static void
test_create_round_trip(void **state)
{
    (void)state;
    const char *json = create("Author", "{\"name\": \"  Zoë Ødegaard 🌸 \", \"email\": \"zoe@example.com\","
                                        " \"born\": null, \"website\": \"https://zoe.example.com/\"}");
    char expected[512];
    snprintf(expected, sizeof(expected),
             "{\"id\":%s,\"name\":\"Zoë Ødegaard 🌸\",\"email\":\"zoe@example.com\",\"born\":null,"
             "\"website\":\"https://zoe.example.com/\"}",
             scalar("SELECT max(id) FROM author"));
    assert_string_equal(json, expected);
    assert_string_equal(scalar("SELECT name FROM author WHERE email = 'zoe@example.com'"), "Zoë Ødegaard 🌸");

    const char *book =
        create("Book", "{\"title\": \"Ünïcode\", \"author\": \"1\", \"price\": 12.5,"
                       " \"published\": \"2024-05-01T10:30:00Z\", \"meta\": {\"pages\": [1, 2]},"
                       " \"status\": \"published\"}");
    snprintf(expected, sizeof(expected),
             "{\"id\":%s,\"title\":\"Ünïcode\",\"author\":1,\"price\":\"12.50\","
             "\"published\":\"2024-05-01T10:30:00Z\",\"in_stock\":true,\"meta\":{\"pages\": [1, 2]},"
             "\"tags\":[],\"status\":\"published\"}",
             scalar("SELECT max(id) FROM book"));
    assert_string_equal(book, expected);
    assert_string_equal(scalar("SELECT meta->'pages'->>1 FROM book WHERE title = 'Ünïcode'"), "2");
}

static void
test_create_many_to_many(void **state)
{
    (void)state;
    create("Tag", "{\"name\": \"poetry\"}");
    create("Tag", "{\"name\": \"essays\"}");
    const char *poetry = scalar("SELECT id FROM tag WHERE name = 'poetry'");
    const char *essays = scalar("SELECT id FROM tag WHERE name = 'essays'");
    char body[256], expected[64];
    snprintf(body, sizeof(body), "{\"title\": \"Tagged\", \"author\": 1, \"tags\": [%s, %s, %s]}", essays,
             poetry, essays);
    const char *book = create("Book", body);
    snprintf(expected, sizeof(expected), "\"tags\":[%s, %s]", poetry, essays);
    if (strstr(book, expected) == NULL)
        fail_msg("%s in %s", expected, book);
    assert_non_null(strstr(book, expected));
    assert_string_equal(scalar("SELECT count(*) FROM book_tags JOIN book ON book.id = book_id "
                               "WHERE book.title = 'Tagged'"),
                        "2");
}

static void
test_refusals_mapped(void **state)
{
    (void)state;
    create("Author", "{\"name\": \"Ann\", \"email\": \"ann@example.com\"}");
    const char *books = scalar("SELECT count(*) FROM book");
    assert_refused("Author", "{\"name\": \"Other Ann\", \"email\": \"ann@example.com\"}", "email",
                   "author with this email already exists.");
    create("Book", "{\"title\": \"Twice\", \"author\": 1}");
    assert_refused("Book", "{\"title\": \"Twice\", \"author\": 1}", "non_field_errors",
                   "The fields title, author must make a unique set.");
    assert_refused("Book", "{\"title\": \"Orphan\", \"author\": 9}", "author",
                   "Invalid pk \"9\" - object does not exist.");
    assert_refused("Book", "{\"title\": \"Bad tag\", \"author\": 1, \"tags\": [424242]}", "tags",
                   "Invalid pk \"424242\" - object does not exist.");
    assert_refused("Tag", "{\"name\": \"poetry\"}", "name", "tag with this name already exists.");
    char count_after[32];
    snprintf(count_after, sizeof(count_after), "%s", scalar("SELECT count(*) FROM book"));
    assert_int_equal(atoi(count_after), atoi(books) + 1);

    /* What only the database knows: a check and a not null stricter than the model (a drifted table). */
    pgtest_exec(db, "BEGIN; ALTER TABLE book DROP CONSTRAINT book_price_check,"
                    " ADD CONSTRAINT book_price_check CHECK (price >= 5) NOT VALID");
    assert_refused("Book", "{\"title\": \"Cheap\", \"author\": 1, \"price\": \"1.00\"}", "price",
                   "Ensure this value is greater than or equal to 0.");
    pgtest_exec(db, "ROLLBACK; BEGIN; UPDATE author SET born = '2000-01-01' WHERE born IS NULL;"
                    " ALTER TABLE author ALTER born SET NOT NULL");
    assert_refused("Author", "{\"name\": \"Nobody\", \"email\": \"no@example.com\"}", "born",
                   "This field may not be null.");
    pgtest_exec(db, "ROLLBACK");
}

static void
test_validation_before_database(void **state)
{
    (void)state;
    const char *out = NULL;
    PdError err = {0};
    PdValues *values =
        values_of("Book", "{\"price\": \"123456.789\", \"status\": \"lost\", \"in_stock\": \"maybe\"}");
    assert_false(pd_object_create(arena, db, values, &out, &err));
    assert_int_equal(err.problem_count, 5);
    assert_string_equal(err.problems[0].field, "title");
    assert_string_equal(err.problems[0].message, "This field is required.");
    assert_string_equal(err.problems[1].field, "author");
    assert_string_equal(err.problems[2].field, "price");
    assert_string_equal(err.problems[2].message, "Ensure that there are no more than 8 digits in total.");
    assert_string_equal(err.problems[3].field, "in_stock");
    assert_string_equal(err.problems[3].message, "Must be a valid boolean.");
    assert_string_equal(err.problems[4].message, "\"lost\" is not a valid choice.");
}

/* All rows inserted by one statement share their transaction (xmin) and command (cmin). */
static void
test_bulk_one_statement(void **state)
{
    (void)state;
    const char *poetry = scalar("SELECT id FROM tag WHERE name = 'poetry'");
    char second[128];
    snprintf(second, sizeof(second), "{\"title\": \"Bulk B\", \"author\": 1, \"tags\": [%s]}", poetry);
    const PdValues *objects[] = {
        values_of("Book", "{\"title\": \"Bulk A\", \"author\": 1, \"price\": \"3.10\"}"),
        values_of("Book", second),
        values_of("Book", "{\"title\": \"Bulk C\", \"author\": 1, \"in_stock\": false}"),
    };
    const char *json = NULL;
    PdError err = {0};
    if (!pd_object_create_bulk(arena, db, objects, 3, &json, &err))
        fail_msg("bulk: %s", err.message);
    assert_non_null(strstr(json, "\"title\":\"Bulk A\""));
    assert_true(strstr(json, "\"Bulk A\"") < strstr(json, "\"Bulk B\"") &&
                strstr(json, "\"Bulk B\"") < strstr(json, "\"Bulk C\""));
    assert_non_null(strstr(json, "\"price\":\"3.10\""));
    char tags[64];
    snprintf(tags, sizeof(tags), "\"tags\":[%s]", poetry);
    assert_non_null(strstr(json, tags));
    assert_string_equal(scalar("SELECT count(DISTINCT (xmin::text, cmin::text)) FROM book "
                               "WHERE title LIKE 'Bulk _'"),
                        "1");
    assert_string_equal(scalar("SELECT count(*) FROM book WHERE title LIKE 'Bulk _'"), "3");
    assert_string_equal(scalar("SELECT in_stock::text FROM book WHERE title = 'Bulk C'"), "false");
    assert_string_equal(scalar("SELECT count(*) FROM book_tags JOIN book b ON b.id = book_id "
                               "WHERE b.title = 'Bulk B'"),
                        "1");
}

static void
test_bulk_all_or_nothing(void **state)
{
    (void)state;
    char before[32];
    snprintf(before, sizeof(before), "%s", scalar("SELECT count(*) FROM book"));
    const PdValues *objects[] = {
        values_of("Book", "{\"title\": \"Half 1\", \"author\": 1}"),
        values_of("Book", "{\"title\": \"Half 2\", \"author\": 77}"),
    };
    const char *json = NULL;
    PdError err = {0};
    assert_false(pd_object_create_bulk(arena, db, objects, 2, &json, &err));
    assert_string_equal(err.problems[0].field, "author");
    assert_string_equal(err.problems[0].message, "Invalid pk \"77\" - object does not exist.");
    assert_string_equal(scalar("SELECT count(*) FROM book"), before);
}

/* Several callers' creates in one INSERT: each gets its own object, in input order, with and without the
 * drawn keys that many-to-many values need. */
static void
check_each(const char *prefix, bool with_tags)
{
    const char *poetry = scalar("SELECT id FROM tag WHERE name = 'poetry'");
    char texts[3][160];
    const PdValues *objects[3];
    for (int i = 0; i < 3; i++)
    {
        snprintf(texts[i], sizeof(texts[i]), "{\"title\": \"%s %c\", \"author\": 1%s%s%s}", prefix, 'A' + i,
                 with_tags && i == 1 ? ", \"tags\": [" : "", with_tags && i == 1 ? poetry : "",
                 with_tags && i == 1 ? "]" : "");
        objects[i] = values_of("Book", texts[i]);
    }
    const char *jsons[3] = {0};
    PdError err = {0};
    if (!pd_object_create_each(arena, db, objects, 3, NULL, jsons, &err))
        fail_msg("each: %s", err.message);
    for (int i = 0; i < 3; i++)
    {
        char title[32], member[64];
        snprintf(title, sizeof(title), "%s %c", prefix, 'A' + i);
        snprintf(member, sizeof(member), "\"title\":\"%s\"", title);
        assert_non_null(strstr(jsons[i], member));
        const char *id = strstr(jsons[i], "\"id\":");
        assert_non_null(id);
        assert_string_equal(scalar(pd_arena_sprintf(arena, "SELECT title FROM book WHERE id = %ld",
                                                    strtol(id + 5, NULL, 10))),
                            title);
    }
    char tags[64];
    snprintf(tags, sizeof(tags), "\"tags\":[%s]", with_tags ? poetry : "");
    assert_non_null(strstr(jsons[1], tags));
    char *statements = pd_arena_sprintf(arena,
                                        "SELECT count(DISTINCT (xmin::text, cmin::text)) || '/' || count(*) "
                                        "FROM book WHERE title LIKE '%s _'",
                                        prefix);
    assert_string_equal(scalar(statements), "1/3");
}

static void
test_create_each(void **state)
{
    (void)state;
    check_each("Each", false);
    check_each("Tagged", true);
    const PdValues *refused[] = {
        values_of("Book", "{\"title\": \"Each bad 1\", \"author\": 1}"),
        values_of("Book", "{\"title\": \"Each bad 2\", \"author\": 77}"),
    };
    const char *jsons[2] = {0};
    PdError err = {0};
    assert_false(pd_object_create_each(arena, db, refused, 2, NULL, jsons, &err));
    assert_string_equal(scalar("SELECT count(*) FROM book WHERE title LIKE 'Each bad _'"), "0");
}

/* ---- keys drawn from a default ---- */

/* A PdValues of KEYED_MODELS read from JSON, which must read. */
static PdValues *
keyed_values(const char *model_name, const char *json)
{
    const PdModel *found = pd_model_find(keyed, model_name);
    assert_non_null(found);
    PdValues *values = pd_values_new(arena, found);
    PdError err = {0};
    if (!pd_values_from_json(values, json, strlen(json), &err))
        fail_msg("reading %s: %s", json, err.message);
    return values;
}

/* The uuid after "code": in a Gadget's JSON (in arena); fails when there is none. */
static const char *
code_of(const char *json)
{
    const char *code = strstr(json, "\"code\":\"");
    if (code == NULL || strlen(code) < 8 + 36 || code[8 + 36] != '"')
        fail_msg("no uuid code in %s", json);
    return pd_arena_sprintf(arena, "%.36s", code + 8);
}

/* The labels' words the join table holds for the gadget with this code, "a,b" (empty: none). */
static const char *
gadget_words(const char *code)
{
    return scalar(pd_arena_sprintf(arena,
                                   "SELECT coalesce(string_agg(l.word, ',' ORDER BY l.word), '') "
                                   "FROM gadget_labels j JOIN label l ON l.id = j.label_id "
                                   "WHERE j.gadget_id = '%s'",
                                   code));
}

static const char *
label_id(const char *word)
{
    return scalar(pd_arena_sprintf(arena, "SELECT id FROM label WHERE word = '%s'", word));
}

/* DRF creates an object whose uuid key has default=uuid4 with its many-to-many keys: the key is drawn
 * (gen_random_uuid() in the statement), the join rows name it, and the object comes back with both. */
static void
test_create_default_key_many_to_many(void **state)
{
    (void)state;
    PdError err = {0};
    const char *out = NULL;
    const char *words[] = {"red", "blue"};
    for (size_t w = 0; w < 2; w++)
        if (!pd_object_create(arena, db,
                              keyed_values("Label", pd_arena_sprintf(arena, "{\"word\": \"%s\"}", words[w])),
                              &out, &err))
            fail_msg("label %s: %s", words[w], err.message);
    const char *red = label_id("red"), *blue = label_id("blue");
    const char *body = pd_arena_sprintf(arena, "{\"name\": \"One\", \"labels\": [%s, %s]}", blue, red);
    if (!pd_object_create(arena, db, keyed_values("Gadget", body), &out, &err))
        fail_msg("create: %s (%s)", err.message, err.detail);
    const char *code = code_of(out);
    assert_string_equal(scalar(pd_arena_sprintf(arena, "SELECT name FROM gadget WHERE code = '%s'", code)),
                        "One");
    assert_string_equal(gadget_words(code), "blue,red");
    assert_non_null(strstr(out, pd_arena_sprintf(arena, "\"labels\":[%s, %s]", red, blue)));

    /* a literal default: the key is that literal, once */
    body = pd_arena_sprintf(arena, "{\"labels\": [%s]}", red);
    if (!pd_object_create(arena, db, keyed_values("Ticket", body), &out, &err))
        fail_msg("ticket: %s (%s)", err.message, err.detail);
    assert_non_null(strstr(out, "\"ref\":\"first\""));
    assert_string_equal(scalar("SELECT count(*) FROM ticket_labels WHERE ticket_id = 'first'"), "1");
}

/* Bulk and each (the server's shared creates): each object its own key, drawn or given, and its join rows. */
static void
test_bulk_default_key_many_to_many(void **state)
{
    (void)state;
    const char *red = label_id("red"), *blue = label_id("blue");
    const char *given = "8c1f0b7e-5d4a-4e2b-9f3c-1a2b3c4d5e6f";
    const PdValues *objects[] = {
        keyed_values("Gadget", pd_arena_sprintf(arena, "{\"name\": \"Bulk 1\", \"labels\": [%s]}", red)),
        keyed_values("Gadget", "{\"name\": \"Bulk 2\"}"),
        keyed_values("Gadget", pd_arena_sprintf(arena,
                                                "{\"code\": \"%s\", \"name\": \"Bulk 3\", "
                                                "\"labels\": [%s, %s]}",
                                                given, red, blue)),
    };
    const char *json = NULL;
    PdError err = {0};
    if (!pd_object_create_bulk(arena, db, objects, 3, &json, &err))
        fail_msg("bulk: %s (%s)", err.message, err.detail);
    const char *first = strstr(json, "\"Bulk 1\""), *second = strstr(json, "\"Bulk 2\"");
    const char *third = strstr(json, "\"Bulk 3\"");
    assert_true(first != NULL && first < second && second < third);
    const char *code = scalar("SELECT code FROM gadget WHERE name = 'Bulk 1'");
    assert_non_null(strstr(json, code));
    assert_string_equal(gadget_words(code), "red");
    assert_string_equal(gadget_words(scalar("SELECT code FROM gadget WHERE name = 'Bulk 2'")), "");
    assert_string_equal(scalar("SELECT code FROM gadget WHERE name = 'Bulk 3'"), given);
    assert_string_equal(gadget_words(given), "blue,red");

    const PdValues *each[] = {
        keyed_values("Gadget", pd_arena_sprintf(arena, "{\"name\": \"Each 1\", \"labels\": [%s]}", blue)),
        keyed_values("Gadget", pd_arena_sprintf(arena, "{\"name\": \"Each 2\", \"labels\": [%s]}", red)),
    };
    const char *jsons[2] = {0};
    if (!pd_object_create_each(arena, db, each, 2, NULL, jsons, &err))
        fail_msg("each: %s (%s)", err.message, err.detail);
    assert_non_null(strstr(jsons[0], "\"Each 1\""));
    assert_non_null(strstr(jsons[1], "\"Each 2\""));
    assert_string_equal(gadget_words(code_of(jsons[0])), "blue");
    assert_string_equal(gadget_words(code_of(jsons[1])), "red");
    assert_string_not_equal(code_of(jsons[0]), code_of(jsons[1]));
}

/* A serial key (Django's AutoField before 4.1) is the database's, as the implicit id: a given one is
 * read-only and ignored, the sequence numbers every row, once for the row and its join rows. A deferrable
 * foreign key with its own name is refused in DRF's words under its field, and a serial field that is no key
 * needs no value. */
static void
test_serial_key_and_deferrable_foreign_key(void **state)
{
    (void)state;
    PdError err = {0};
    const char *out = NULL;
    const char *red = label_id("red");
    if (!pd_object_create(arena, db, keyed_values("Legacy", "{\"id\": 999, \"name\": \"First\"}"), &out,
                          &err))
        fail_msg("create: %s (%s)", err.message, err.detail);
    assert_non_null(strstr(out, "\"id\":1,"));
    const char *body = pd_arena_sprintf(arena, "{\"name\": \"Second\", \"labels\": [%s]}", red);
    if (!pd_object_create(arena, db, keyed_values("Legacy", body), &out, &err))
        fail_msg("create with labels: %s (%s)", err.message, err.detail);
    assert_non_null(strstr(out, "\"id\":2,"));
    assert_string_equal(scalar("SELECT string_agg(legacy_id::text, ',') FROM legacy_labels"), "2");
    const PdValues *objects[] = {
        keyed_values("Legacy", pd_arena_sprintf(arena, "{\"name\": \"Bulk\", \"labels\": [%s]}", red)),
        keyed_values("Legacy", "{\"name\": \"Bulk too\"}"),
    };
    if (!pd_object_create_bulk(arena, db, objects, 2, &out, &err))
        fail_msg("bulk: %s (%s)", err.message, err.detail);
    assert_string_equal(scalar("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM legacy"),
                        "1:First,2:Second,3:Bulk,4:Bulk too");
    assert_string_equal(
        scalar("SELECT string_agg(legacy_id::text, ',' ORDER BY legacy_id) FROM legacy_labels"), "2,3");
    assert_string_equal(scalar("SELECT pg_get_serial_sequence('legacy', 'id')"), "public.legacy_id_seq");

    if (!pd_object_create(arena, db, keyed_values("Loan", "{\"legacy\": 2}"), &out, &err))
        fail_msg("loan: %s (%s)", err.message, err.detail);
    assert_non_null(strstr(out, "\"number\":1"));
    assert_false(pd_object_create(arena, db, keyed_values("Loan", "{\"legacy\": 77}"), &out, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_int_equal(err.problem_count, 1);
    assert_string_equal(err.problems[0].field, "legacy");
    assert_string_equal(err.problems[0].message, "Invalid pk \"77\" - object does not exist.");
    assert_string_equal(scalar("SELECT count(*) FROM loan"), "1");
}

static PdQuery *
books_where(const char *lookup, const char *value)
{
    PdQuery *query = pd_query_new(arena, catalog, model("Book"));
    PdError err = {0};
    assert_non_null(query);
    if (!pd_query_where(query, lookup, value, &err))
        fail_msg("%s=%s: %s", lookup, value, err.message);
    return query;
}

static void
test_update(void **state)
{
    (void)state;
    const char *json = NULL;
    int64_t updated = 0;
    PdError err = {0};
    /* PATCH of three rows, across a relation, many-to-many cleared in the same statement */
    if (!pd_object_update(arena, db, books_where("title__startswith", "Bulk "),
                          values_of("Book", "{\"price\": \"4.40\", \"tags\": []}"), PD_VALIDATE_PARTIAL,
                          &json, &updated, &err))
        fail_msg("update: %s", err.message);
    assert_int_equal(updated, 3);
    assert_non_null(strstr(json, "\"title\":\"Bulk A\""));
    assert_null(strstr(json, "\"tags\":[1"));
    assert_string_equal(scalar("SELECT string_agg(price::text, ',' ORDER BY title) FROM book "
                               "WHERE title LIKE 'Bulk _'"),
                        "4.40,4.40,4.40");
    assert_string_equal(scalar("SELECT count(*) FROM book_tags t JOIN book b ON b.id = t.book_id "
                               "WHERE b.title LIKE 'Bulk _'"),
                        "0");
    const char *poetry = scalar("SELECT id FROM tag WHERE name = 'poetry'");
    char body[128], tags[64];
    snprintf(body, sizeof(body), "{\"tags\": [%s], \"in_stock\": \"no\"}", poetry);
    if (!pd_object_update(arena, db, books_where("author__email", "zoe@example.com"), values_of("Book", body),
                          PD_VALIDATE_PARTIAL, &json, &updated, &err))
        fail_msg("update across a relation: %s", err.message);
    snprintf(tags, sizeof(tags), "\"tags\":[%s]", poetry);
    assert_non_null(strstr(json, tags));
    assert_string_equal(scalar("SELECT count(*) FROM book b JOIN author a ON a.id = b.author_id "
                               "WHERE a.email = 'zoe@example.com' AND NOT in_stock"),
                        pd_arena_sprintf(arena, "%lld", (long long)updated));
    /* PUT without a required field; a taken unique set: refused, nothing changed */
    PdError put = {0};
    assert_false(pd_object_update(arena, db, books_where("title", "Bulk A"),
                                  values_of("Book", "{\"price\": 1}"), PD_VALIDATE_REPLACE, &json, &updated,
                                  &put));
    assert_string_equal(put.problems[0].field, "title");
    assert_string_equal(put.problems[0].message, "This field is required.");
    PdError taken = {0};
    assert_false(pd_object_update(arena, db, books_where("title", "Bulk A"),
                                  values_of("Book", "{\"title\": \"Bulk B\"}"), PD_VALIDATE_PARTIAL, &json,
                                  &updated, &taken));
    assert_string_equal(taken.problems[0].field, "non_field_errors");
    assert_string_equal(taken.problems[0].message, "The fields title, author must make a unique set.");
    assert_string_equal(scalar("SELECT count(*) FROM book WHERE title = 'Bulk A'"), "1");
    /* no match: an empty array */
    assert_true(pd_object_update(arena, db, books_where("title", "nothing"),
                                 values_of("Book", "{\"price\": 1}"), PD_VALIDATE_PARTIAL, &json, &updated,
                                 &err));
    assert_string_equal(json, "[]");
    assert_int_equal(updated, 0);
    /* a sliced query cannot be updated (Django's rule) */
    PdQuery *sliced = books_where("title__startswith", "Bulk");
    pd_query_slice(sliced, 0, 1);
    PdError slice = {0};
    assert_false(pd_object_update(arena, db, sliced, values_of("Book", "{\"price\": 1}"), PD_VALIDATE_PARTIAL,
                                  &json, &updated, &slice));
    assert_int_equal(slice.code, PD_ERR_INVALID_INPUT);
}

static void
test_delete(void **state)
{
    (void)state;
    int64_t deleted = -1;
    PdError err = {0};
    assert_true(pd_object_delete(arena, db, books_where("title", "Bulk C"), &deleted, &err));
    assert_int_equal(deleted, 1);
    assert_string_equal(scalar("SELECT count(*) FROM book WHERE title = 'Bulk C'"), "0");
    assert_true(pd_object_delete(arena, db, books_where("title", "Bulk C"), &deleted, &err));
    assert_int_equal(deleted, 0);
    /* a row other rows protect: Django's words, nothing deleted */
    pgtest_exec(db, "BEGIN; ALTER TABLE book DROP CONSTRAINT book_author_id_fkey, ADD CONSTRAINT "
                    "book_author_id_fkey FOREIGN KEY (author_id) REFERENCES author (id) ON DELETE RESTRICT");
    PdQuery *authors = pd_query_new(arena, catalog, model("Author"));
    assert_true(pd_query_where(authors, "email", "zoe@example.com", &err));
    PdError refused = {0};
    assert_false(pd_object_delete(arena, db, authors, &deleted, &refused));
    assert_string_equal(refused.problems[0].field, "non_field_errors");
    assert_string_equal(refused.problems[0].message,
                        "Cannot delete some instances of model 'Author' because they are referenced through "
                        "protected foreign keys: 'Book.author'.");
    pgtest_exec(db, "ROLLBACK");
    assert_string_equal(scalar("SELECT count(*) FROM author WHERE email = 'zoe@example.com'"), "1");
}

static void
test_update_or_create(void **state)
{
    (void)state;
    const char *fields[] = {"title", "author"};
    const char *json = NULL;
    bool created = false;
    PdError err = {0};
    assert_true(pd_object_update_or_create(
        arena, db, values_of("Book", "{\"title\": \"Upsert\", \"author\": 1, \"price\": 2}"), fields, 2,
        &json, &created, &err));
    assert_true(created);
    assert_non_null(strstr(json, "\"price\":\"2.00\""));
    assert_true(pd_object_update_or_create(
        arena, db,
        values_of("Book", "{\"title\": \"Upsert\", \"author\": 1, \"price\": \"7.25\", \"tags\": []}"),
        fields, 2, &json, &created, &err));
    assert_false(created);
    assert_non_null(strstr(json, "\"price\":\"7.25\""));
    assert_string_equal(scalar("SELECT count(*) || ' ' || max(price) FROM book WHERE title = 'Upsert'"),
                        "1 7.25");
    const char *not_unique[] = {"price"};
    assert_false(pd_object_update_or_create(arena, db,
                                            values_of("Book", "{\"title\": \"U2\", \"author\": 1}"),
                                            not_unique, 1, &json, &created, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
}

static void
test_get_or_create(void **state)
{
    (void)state;
    const char *json = NULL, *again = NULL;
    bool created = false;
    PdError err = {0};
    PdValues *lookup = values_of("Author", "{\"email\": \"goc@example.com\"}");
    PdValues *defaults = values_of("Author", "{\"name\": \"Got\"}");
    assert_true(pd_object_get_or_create(arena, db, lookup, defaults, &json, &created, &err));
    assert_true(created);
    assert_true(pd_object_get_or_create(arena, db, lookup, defaults, &again, &created, &err));
    assert_false(created);
    assert_string_equal(json, again);
    assert_string_equal(scalar("SELECT count(*) FROM author WHERE email = 'goc@example.com'"), "1");
}

/* A second connection's get_or_create waits for the first creator's transaction and finds its row. */
typedef struct Racer
{
    const char *json;
    bool created;
    bool is_ok;
} Racer;

static void *
race(void *data)
{
    Racer *racer = data;
    PdDb *other = pgtest_connect();
    PdArena *own = pd_arena_new(0);
    PdValues *lookup = pd_values_new(own, pd_model_find(catalog, "Author"));
    PdValues *defaults = pd_values_new(own, pd_model_find(catalog, "Author"));
    PdError err = {0};
    racer->is_ok = pd_values_set_text(lookup, "email", "race@example.com", &err) &&
                   pd_values_set_text(defaults, "name", "Second", &err) &&
                   pd_object_get_or_create(own, other, lookup, defaults, &racer->json, &racer->created, &err);
    racer->json = racer->is_ok ? strdup(racer->json) : NULL;
    pd_arena_free(own);
    pd_db_close(other);
    return NULL;
}

static void
test_get_or_create_race(void **state)
{
    (void)state;
    const char *json = NULL;
    bool created = false;
    PdError err = {0};
    pgtest_exec(db, "BEGIN");
    assert_true(pd_object_get_or_create(arena, db, values_of("Author", "{\"email\": \"race@example.com\"}"),
                                        values_of("Author", "{\"name\": \"First\"}"), &json, &created, &err));
    assert_true(created);
    Racer racer = {0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, race, &racer), 0);
    usleep(300 * 1000); /* the racer now waits on the unique index for this transaction */
    pgtest_exec(db, "COMMIT");
    pthread_join(thread, NULL);
    assert_true(racer.is_ok);
    assert_false(racer.created);
    assert_string_equal(racer.json, json);
    free((void *)racer.json);
    assert_string_equal(scalar("SELECT count(*) FROM author WHERE email = 'race@example.com'"), "1");
}

static void
test_injection_leaves_data(void **state)
{
    (void)state;
    char before[64];
    snprintf(before, sizeof(before), "%s",
             scalar("SELECT (SELECT count(*) FROM book) || '/' || "
                    "(SELECT count(*) FROM author)"));
    const char *evil = "'; DROP TABLE book; --";
    PdValues *values = pd_values_new(arena, model("Book"));
    PdError err = {0};
    assert_true(pd_values_set_text(values, "title", evil, &err));
    assert_true(pd_values_set_text(values, "author", "1", &err));
    const char *json = NULL;
    assert_true(pd_object_create(arena, db, values, &json, &err));
    assert_string_equal(scalar("SELECT title FROM book WHERE title LIKE '%DROP%'"), evil);
    /* as field names: refused before any SQL */
    PdError name_err = {0};
    assert_false(pd_values_set_text(values, "title\"; DROP TABLE book; --", "x", &name_err));
    assert_string_equal(name_err.problems[0].field, "title\"; DROP TABLE book; --");
    PdValues *from_json = pd_values_new(arena, model("Author"));
    PdError json_err = {0};
    const char *body = "{\"id;--\": 1, \"author__password\": \"x\", \"name\": \"ok\"}";
    assert_false(pd_values_from_json(from_json, body, strlen(body), &json_err));
    assert_int_equal(json_err.problem_count, 2);
    assert_string_equal(json_err.problems[0].field, "id;--");
    assert_string_equal(json_err.problems[1].field, "author__password");
    /* and as a value of every kind of the model */
    assert_refused("Book", "{\"title\": \"x\", \"author\": \"1; DROP TABLE book\"}", "author",
                   "Incorrect type. Expected pk value, received str.");
    assert_refused("Book", "{\"title\": \"y\", \"author\": 1, \"price\": \"0); DELETE FROM book; --\"}",
                   "price", "A valid number is required.");
    char after[64];
    snprintf(after, sizeof(after), "%s",
             scalar("SELECT (SELECT count(*) FROM book) - 1 || '/' || "
                    "(SELECT count(*) FROM author)"));
    assert_string_equal(after, before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_round_trip),
        cmocka_unit_test(test_create_many_to_many),
        cmocka_unit_test(test_refusals_mapped),
        cmocka_unit_test(test_validation_before_database),
        cmocka_unit_test(test_bulk_one_statement),
        cmocka_unit_test(test_bulk_all_or_nothing),
        cmocka_unit_test(test_create_each),
        cmocka_unit_test(test_create_default_key_many_to_many),
        cmocka_unit_test(test_bulk_default_key_many_to_many),
        cmocka_unit_test(test_serial_key_and_deferrable_foreign_key),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_update_or_create),
        cmocka_unit_test(test_get_or_create),
        cmocka_unit_test(test_get_or_create_race),
        cmocka_unit_test(test_injection_leaves_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

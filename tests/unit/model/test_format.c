/*
 * test_format.c - the canonical text. parse -> format -> parse -> format must
 * give the same bytes, and the second catalog must equal the first, for the
 * bookstore example, for a file using every feature, and for the 200-model
 * file generated from the Django anchor by bench/migrate/gen_pdm.py (a copy
 * is in data/). Also prints how long the 200-model file takes to parse:
 * printed, never asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

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

/* A data file; a missing one fails the test. */
static char *
read_text(const char *path)
{
    char *text = testing_read_text(arena, path);
    assert_non_null(text);
    return text;
}

static PdCatalog *
parse_ok(const char *name, const char *text)
{
    PdCatalog *catalog = NULL;
    PdError err;
    pd_error_clear(&err);
    if (!pd_model_parse(arena, name, text, &catalog, &err))
        fail_msg("parse of %s failed: %s", name, err.message);
    return catalog;
}

static char *
format_ok(const PdCatalog *catalog)
{
    char *text = NULL;
    PdError err;
    assert_true(pd_model_format(arena, catalog, &text, &err));
    return text;
}

static void
assert_same_literal(const PdLiteral *a, const PdLiteral *b)
{
    assert_int_equal(a->kind, b->kind);
    if (a->text != NULL || b->text != NULL)
        assert_string_equal(a->text, b->text);
    assert_int_equal(a->item_count, b->item_count);
    for (size_t i = 0; i < a->item_count; i++)
        assert_same_literal(&a->items[i], &b->items[i]);
}

static void
assert_same_field(const PdField *a, const PdField *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->kind, b->kind);
    if (a->column != NULL || b->column != NULL)
        assert_string_equal(a->column, b->column);
    assert_int_equal(a->is_array, b->is_array);
    assert_int_equal(a->max_length, b->max_length);
    assert_int_equal(a->precision, b->precision);
    assert_int_equal(a->scale, b->scale);
    assert_int_equal(a->is_nullable, b->is_nullable);
    assert_int_equal(a->is_unique, b->is_unique);
    assert_int_equal(a->is_indexed, b->is_indexed);
    assert_int_equal(a->is_searchable, b->is_searchable);
    assert_int_equal(a->search, b->search);
    assert_int_equal(a->search_config != NULL, b->search_config != NULL);
    if (a->search_config != NULL)
        assert_string_equal(a->search_config, b->search_config);
    assert_int_equal(a->is_primary_key, b->is_primary_key);
    assert_int_equal(a->default_value.kind, b->default_value.kind);
    if (a->default_value.kind == PD_DEFAULT_LITERAL)
        assert_same_literal(&a->default_value.literal, &b->default_value.literal);
    assert_int_equal(a->check_count, b->check_count);
    for (size_t i = 0; i < a->check_count; i++)
    {
        assert_int_equal(a->checks[i].op, b->checks[i].op);
        assert_same_literal(&a->checks[i].value, &b->checks[i].value);
    }
    assert_int_equal(a->choice_count, b->choice_count);
    for (size_t i = 0; i < a->choice_count; i++)
    {
        assert_same_literal(&a->choices[i].value, &b->choices[i].value);
        assert_string_equal(a->choices[i].label, b->choices[i].label);
    }
    if (a->target_name != NULL || b->target_name != NULL)
    {
        assert_string_equal(a->target_name, b->target_name);
        assert_string_equal(a->related_name, b->related_name);
        assert_int_equal(a->on_delete, b->on_delete);
    }
    assert_int_equal(a->fk_name != NULL, b->fk_name != NULL);
    if (a->fk_name != NULL)
        assert_string_equal(a->fk_name, b->fk_name);
    assert_int_equal(a->is_deferrable, b->is_deferrable);
    if (a->through_table != NULL || b->through_table != NULL)
        assert_string_equal(a->through_table, b->through_table);
    if (a->renamed_from != NULL || b->renamed_from != NULL)
        assert_string_equal(a->renamed_from, b->renamed_from);
}

static void
assert_same_access(const PdAccess *a, const PdAccess *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->role_count, b->role_count);
    for (size_t i = 0; i < a->role_count; i++)
        assert_string_equal(a->roles[i], b->roles[i]);
}

static void
assert_same_catalog(const PdCatalog *a, const PdCatalog *b)
{
    assert_int_equal(a->model_count, b->model_count);
    for (size_t m = 0; m < a->model_count; m++)
    {
        const PdModel *x = &a->models[m], *y = &b->models[m];
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->table, y->table);
        assert_string_equal(x->resource, y->resource);
        assert_int_equal(x->field_count, y->field_count);
        for (size_t f = 0; f < x->field_count; f++)
            assert_same_field(&x->fields[f], &y->fields[f]);
        assert_int_equal(x->index_count, y->index_count);
        for (size_t i = 0; i < x->index_count; i++)
        {
            assert_string_equal(x->indexes[i].name, y->indexes[i].name);
            assert_int_equal(x->indexes[i].is_unique, y->indexes[i].is_unique);
            assert_int_equal(x->indexes[i].field_count, y->indexes[i].field_count);
            assert_int_equal(x->indexes[i].opclasses != NULL, y->indexes[i].opclasses != NULL);
            for (size_t f = 0; x->indexes[i].opclasses != NULL && f < x->indexes[i].field_count; f++)
            {
                const char *p = x->indexes[i].opclasses[f], *q = y->indexes[i].opclasses[f];
                assert_int_equal(p != NULL, q != NULL);
                if (p != NULL)
                    assert_string_equal(p, q);
            }
        }
        assert_int_equal(x->ordering_count, y->ordering_count);
        for (size_t i = 0; i < x->ordering_count; i++)
        {
            assert_string_equal(x->ordering[i].field, y->ordering[i].field);
            assert_int_equal(x->ordering[i].is_descending, y->ordering[i].is_descending);
        }
        if (x->renamed_from != NULL || y->renamed_from != NULL)
            assert_string_equal(x->renamed_from, y->renamed_from);
        assert_int_equal(x->key_field_count, y->key_field_count);
        for (size_t i = 0; i < x->key_field_count; i++)
            assert_string_equal(x->key_fields[i], y->key_fields[i]);
        assert_same_access(&x->read_access, &y->read_access);
        assert_same_access(&x->write_access, &y->write_access);
    }
}

/* Returns the canonical text after checking that it is a fixed point. */
static char *
assert_round_trip(const char *name, const char *text)
{
    PdCatalog *first = parse_ok(name, text);
    char *canonical = format_ok(first);
    PdCatalog *second = parse_ok("canonical.pdm", canonical);
    assert_same_catalog(first, second);
    char *again = format_ok(second);
    assert_string_equal(canonical, again);
    return canonical;
}

static void
test_bookstore_round_trip(void **state)
{
    (void)state;
    char *canonical = assert_round_trip("models.pdm", read_text("examples/bookstore/models.pdm"));
    assert_non_null(strstr(canonical, "model Book {\n"
                                      "  table \"book\"\n"
                                      "  resource \"books\"\n"
                                      "  title string(300) index search\n"
                                      "  author Author index on_delete=cascade related=books\n"
                                      "  price decimal(8,2) default=0 check(>= 0)\n"));
    assert_non_null(strstr(canonical, "  tags Tag[] related=book_set through=\"book_tags\"\n"));
    assert_non_null(strstr(canonical,
                           "  status string(16) default=\"draft\" choices(draft \"Draft\", published "
                           "\"Published\")\n"));
    assert_non_null(strstr(canonical, "  unique(title, author) name=\"book_title_author_id_uniq\"\n"));
}

static void
test_every_feature_round_trip(void **state)
{
    (void)state;
    const char *text =
        "model Country {\n"
        "  code string(2) primary_key\n"
        "}\n"
        "model Person {\n"
        "  renamed_from People\n"
        "  table \"people\"\n"
        "  resource \"folk\"\n"
        "  name string(100) search default=\"quote \\\" backslash \\\\ tab \\t nl \\n \\u0001 \xc3\xa9\"\n"
        "  handle slug(30) unique\n"
        "  handle2 slug no_index\n"
        "  labels slug(20)[] null\n"
        "  age smallint null check(>= 0) check(< 150)\n"
        "  score float default=1.5e3\n"
        "  ratio decimal(4,3) default=-0.125\n"
        "  born date default=\"2000-01-31\" check(> \"1900-01-01\")\n"
        "  wakes time default=now\n"
        "  seen datetime null check(!= null)\n"
        "  wait duration default=\"1 day 02:00:00\"\n"
        "  ref uuid default=uuid unique\n"
        "  data json default=\"{\\\"k\\\": []}\"\n"
        "  blob binary null\n"
        "  kind int choices(1 \"One\", 2 \"Two\") default=2\n"
        "  mood string(20) choices(\"so so\" \"Meh\", ok) default=\"so so\"\n"
        "  site url null\n"
        "  mail email(120) null\n"
        "  country Country null on_delete=set_null\n"
        "  home Country default=\"fr\" on_delete=set_default related=residents no_index\n"
        "  twin Person one_to_one null on_delete=restrict related=twin_of\n"
        "  friends Person[] related=befriended\n"
        "  old_name text renamed_from=nickname\n"
        "  mentor Person null deferrable fk_name=\"people_mentor_fk\" on_delete=set_null related=mentees\n"
        "  buddy Person one_to_one null related=buddy_of deferrable on_delete=set_null\n"
        "  number int unique default=serial\n"
        "  login citext unique search=trigram\n"
        "  summary text search=fulltext(english) default=\"\"\n"
        "  motto string(80) null search=fulltext\n"
        "  filled string(10) backfill=\"none yet\" default=\"x\" check(!= \"\")\n"
        "  counted int null backfill=0\n"
        "  ordering -age, name\n"
        "  unique(name, born)\n"
        "  index(score, age) name=\"person_score_age\"\n"
        "  index(name varchar_pattern_ops, site text_pattern_ops, age) name=\"person_name_like\"\n"
        "  index(mood text_pattern_ops)\n"
        "  access write=editor|admin|web_owner read=authenticated\n"
        "}\n"
        "model Host {\n  scores int[] default=[]\n  labels string(30)[] null index\n"
        "  prices decimal(6,2)[] default=[1.50, 2,\n  ]\n  words text[] default=[\"a \\\"b\\\"\", \"\"] "
        "unique\n"
        "  addr inet null default=\"::1\"\n  net cidr default=\"10.0.0.0/8\" comment=\"net\"\n}\n"
        "model Log {\n  line text\n  access write=none\n}\n"
        "model Counter {\n  id bigint primary_key default=serial\n  small smallint default=serial\n}\n"
        "model Note {\n  access text\n  access read=anyone write=anyone\n}\n"
        "model Stamp {\n  made timestamptz auto_now_add\n  changed timestamptz null auto_now check(> "
        "\"2000-01-01\")\n  day date auto_now\n  at time auto_now_add\n"
        "  check(changed > made or changed is null)\n"
        "  check(not (day = \"2000-01-01\" and (at < \"10:00\" or at is not null)) or not not day is null) "
        "name=\"stamp_odd\"\n"
        "  check(((day >= \"2001-01-01\")) and at != \"12:00\")\n"
        "  index(day) where changed is null or (day > \"2001-01-01\" and at is not null)\n"
        "  unique(day, at) where not (made is null)  name=\"stamp_day_at_once\"\n}\n"
        "model Login {\n  comment \"who logs in, \\\"quoted\\\"\"\n  email email comment=\"where\" null\n"
        "  handle string(20)\n  tries int db_default=3\n  seen date db_default=now\n  comment text\n"
        "  index( lower( email )  varchar_pattern_ops, handle, upper(handle))\n"
        "  unique(lower(email)) where handle != \"x\" name=\"login_email_once\"\n}\n";
    char *canonical = assert_round_trip("all.pdm", text);
    assert_non_null(strstr(canonical,
                           "  name string(100) search default=\"quote \\\" backslash \\\\ tab \\t nl \\n "
                           "\\u0001 \xc3\xa9\"\n"));
    assert_non_null(strstr(canonical, "  handle2 slug(50) no_index\n"));
    assert_non_null(strstr(canonical, "  labels slug(20)[] null\n")); /* no no_index: an array is not indexed */
    assert_non_null(strstr(canonical, "  login citext unique search=trigram\n"));
    assert_non_null(strstr(canonical, "  summary text search=fulltext(english) default=\"\"\n"));
    assert_non_null(strstr(canonical, "  motto string(80) null search=fulltext\n"));
    assert_non_null(strstr(canonical, "  seen timestamptz null check(!= null)\n"));
    assert_non_null(
        strstr(canonical, "  mood string(20) default=\"so so\" choices(\"so so\" \"Meh\", ok \"ok\")\n"));
    assert_non_null(strstr(canonical, "  twin Person one_to_one null on_delete=restrict related=twin_of\n"));
    assert_non_null(strstr(canonical, "  friends Person[] related=befriended through=\"people_friends\"\n"));
    assert_non_null(strstr(canonical, "  renamed_from People\n  table \"people\"\n  resource \"folk\"\n"));
    assert_non_null(
        strstr(canonical, "  country Country null index on_delete=set_null related=person_set\n"));
    assert_non_null(strstr(canonical, "  access read=authenticated write=editor|admin|web_owner\n}\n"));
    assert_non_null(strstr(canonical, "  access write=none\n}\n"));
    /* fk_name only when given, after related=; deferrable after it; serial as written; operator classes */
    assert_non_null(strstr(canonical, "  mentor Person null index on_delete=set_null related=mentees "
                                      "fk_name=\"people_mentor_fk\" deferrable\n"));
    assert_non_null(
        strstr(canonical, "  buddy Person one_to_one null on_delete=set_null related=buddy_of deferrable\n"));
    assert_non_null(strstr(canonical, "  number int unique default=serial\n"));
    /* backfill= right after default= */
    assert_non_null(
        strstr(canonical, "  filled string(10) default=\"x\" backfill=\"none yet\" check(!= \"\")\n"));
    assert_non_null(strstr(canonical, "  counted int null backfill=0\n"));
    assert_non_null(strstr(canonical, "  index(name varchar_pattern_ops, site text_pattern_ops, age) "
                                      "name=\"person_name_like\"\n"));
    /* the derived name is the one without operator classes */
    assert_non_null(strstr(canonical, "  index(mood text_pattern_ops) name=\"people_mood_idx\"\n"));
    assert_non_null(
        strstr(canonical, "  id bigint primary_key default=serial\n  small smallint default=serial\n"));
    /* a field called access stays a field; the default access is not written */
    assert_non_null(strstr(canonical, "  access text\n}\n"));
    /* model-level checks: the fewest parentheses that keep the tree, a derived name left out */
    assert_non_null(strstr(canonical,
                           "  check(changed > made or changed is null)\n"
                           "  check(not (day = \"2000-01-01\" and (at < \"10:00\" or at is not null)) "
                           "or not not day is null) name=\"stamp_odd\"\n"
                           "  check(day >= \"2001-01-01\" and at != \"12:00\")\n}\n"));
    /* comments: the table's after resource, a field's before renamed_from; a field may be called comment */
    assert_non_null(strstr(canonical, "  resource \"logins\"\n  comment \"who logs in, \\\"quoted\\\"\"\n"
                                      "  email email(254) null comment=\"where\"\n"));
    assert_non_null(strstr(canonical, "  comment text\n"));
    /* db_default= is default= under Django's name, written as default= */
    assert_non_null(strstr(canonical, "  tries int default=3\n  seen date default=now\n"));
    /* expression indexes: lower(f) / upper(f), an operator class after the parenthesis */
    assert_non_null(strstr(canonical,
                           "  index(lower(email) varchar_pattern_ops, handle, upper(handle)) "
                           "name=\"login_email_handle_handle_idx\"\n"
                           "  unique(lower(email)) where handle != \"x\" name=\"login_email_once\"\n"));
    /* partial indexes: where before name= */
    assert_non_null(strstr(canonical,
                           "  index(day) where changed is null or day > \"2001-01-01\" and at is not null "
                           "name=\"stamp_day_idx\"\n  unique(day, at) where not made is null "
                           "name=\"stamp_day_at_once\"\n"));
    /* auto_now and auto_now_add in default='s place, their default of now implied */
    assert_non_null(strstr(canonical,
                           "  made timestamptz auto_now_add\n  changed timestamptz null auto_now "
                           "check(> \"2000-01-01\")\n  day date auto_now\n  at time auto_now_add\n"));
}

/* primary_key(a, b): written after the fields, before ordering; no implicit id; keys as declared. */
static void
test_composite_key_round_trip(void **state)
{
    (void)state;
    const char *text = "model Order {\n  code string(20)\n}\n\n"
                       "model OrderLine {\n"
                       "  ordering line\n"
                       "  primary_key(product,   order)\n"
                       "  order Order\n"
                       "  product int\n"
                       "  line int\n"
                       "}\n";
    char *canonical = assert_round_trip("models.pdm", text);
    assert_non_null(strstr(canonical, "  line int\n  primary_key(product, order)\n  ordering line\n}\n"));
    PdCatalog *catalog = parse_ok("canonical.pdm", canonical);
    const PdModel *line = pd_model_find(catalog, "OrderLine");
    assert_int_equal(line->field_count, 3); /* no implicit id */
    assert_null(pd_model_primary_key(line));
    assert_int_equal(pd_model_key_count(line), 2);
    assert_string_equal(pd_model_key_field(line, 0)->name, "product");
    assert_string_equal(pd_model_key_field(line, 1)->column, "order_id");
    assert_null(pd_model_key_field(line, 2));
    assert_true(pd_model_is_key_part(line, pd_model_find_field(line, "order")));
    assert_false(pd_model_is_key_part(line, pd_model_find_field(line, "line")));
    const PdModel *order = pd_model_find(catalog, "Order");
    assert_int_equal(pd_model_key_count(order), 1);
    assert_string_equal(pd_model_key_field(order, 0)->name, "id");
}

static double
elapsed_ms(struct timespec start, struct timespec end)
{
    return (double)(end.tv_sec - start.tv_sec) * 1e3 + (double)(end.tv_nsec - start.tv_nsec) / 1e6;
}

static void
test_generated_200_models(void **state)
{
    (void)state;
    const char *text = read_text("tests/unit/model/data/gen200.pdm");
    PdCatalog *catalog = parse_ok("gen200.pdm", text);
    assert_int_equal(catalog->model_count, 200);
    size_t fields = 0;
    for (size_t i = 0; i < catalog->model_count; i++)
        fields += catalog->models[i].field_count - 1; /* less the implicit id */
    assert_int_equal(fields, 1843);
    assert_string_equal(catalog->models[0].table, "genapp_clinicticket");
    assert_round_trip("gen200.pdm", text);

    /* Timing: the best of a few runs, each in a fresh arena. Printed, never asserted. */
    double best = 1e9;
    for (int run = 0; run < 5; run++)
    {
        PdArena *scratch = pd_arena_new(0);
        PdCatalog *timed = NULL;
        PdError err;
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        bool is_ok = pd_model_parse(scratch, "gen200.pdm", text, &timed, &err);
        clock_gettime(CLOCK_MONOTONIC, &end);
        assert_true(is_ok);
        if (elapsed_ms(start, end) < best)
            best = elapsed_ms(start, end);
        pd_arena_free(scratch);
    }
    printf("# parse + check of 200 models (%zu bytes): %.3f ms (best of 5)\n", strlen(text), best);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bookstore_round_trip),
        cmocka_unit_test(test_every_feature_round_trip),
        cmocka_unit_test(test_generated_200_models),
        cmocka_unit_test(test_composite_key_round_trip),
    };
    return cmocka_run_group_tests_name("model_format", tests, setup, teardown);
}

/*
 * test_parse.c - what the parser and checker put in the catalog: every type
 * with its lengths and column type, every option, the implicit id, derived
 * tables, resources, related names, join tables and index names, and the
 * lexical details (comments, escapes, wrapped lists, positions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/model.h"

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

static PdCatalog *
parse_ok(const char *text)
{
    PdCatalog *catalog = NULL;
    PdError err;
    pd_error_clear(&err);
    if (!pd_model_parse(arena, "t.pdm", text, &catalog, &err))
        fail_msg("parse failed: %s", err.message);
    return catalog;
}

static const PdField *
field_of(const PdCatalog *catalog, const char *model, const char *field)
{
    const PdModel *found = pd_model_find(catalog, model);
    assert_non_null(found);
    const PdField *result = pd_model_find_field(found, field);
    assert_non_null(result);
    return result;
}

static void
test_every_type(void **state)
{
    (void)state;
    static const struct
    {
        const char *line;
        PdFieldKind kind;
        int max_length;
        const char *column_type;
    } cases[] = {
        {"f string(200)", PD_FIELD_STRING, 200, "character varying(200)"},
        {"f text", PD_FIELD_TEXT, 0, "text"},
        {"f email", PD_FIELD_EMAIL, 254, "character varying(254)"},
        {"f email(100)", PD_FIELD_EMAIL, 100, "character varying(100)"},
        {"f url", PD_FIELD_URL, 200, "character varying(200)"},
        {"f url(500)", PD_FIELD_URL, 500, "character varying(500)"},
        {"f slug", PD_FIELD_SLUG, 50, "character varying(50)"},
        {"f slug(80)", PD_FIELD_SLUG, 80, "character varying(80)"},
        {"f smallint", PD_FIELD_SMALLINT, 0, "smallint"},
        {"f int", PD_FIELD_INT, 0, "integer"},
        {"f integer", PD_FIELD_INT, 0, "integer"},
        {"f bigint", PD_FIELD_BIGINT, 0, "bigint"},
        {"f bool", PD_FIELD_BOOL, 0, "boolean"},
        {"f boolean", PD_FIELD_BOOL, 0, "boolean"},
        {"f float", PD_FIELD_FLOAT, 0, "double precision"},
        {"f decimal(8,2)", PD_FIELD_DECIMAL, 0, "numeric(8,2)"},
        {"f date", PD_FIELD_DATE, 0, "date"},
        {"f time", PD_FIELD_TIME, 0, "time without time zone"},
        {"f timestamptz", PD_FIELD_TIMESTAMPTZ, 0, "timestamp with time zone"},
        {"f datetime", PD_FIELD_TIMESTAMPTZ, 0, "timestamp with time zone"},
        {"f duration", PD_FIELD_DURATION, 0, "interval"},
        {"f uuid", PD_FIELD_UUID, 0, "uuid"},
        {"f json", PD_FIELD_JSON, 0, "jsonb"},
        {"f binary", PD_FIELD_BINARY, 0, "bytea"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        PdCatalog *catalog = parse_ok(pd_arena_sprintf(arena, "model M {\n  %s\n}\n", cases[i].line));
        const PdField *field = field_of(catalog, "M", "f");
        assert_int_equal(field->kind, cases[i].kind);
        assert_int_equal(field->max_length, cases[i].max_length);
        assert_string_equal(field->column, "f");
        assert_string_equal(pd_model_column_type(arena, field), cases[i].column_type);
        assert_int_equal(field->is_indexed, cases[i].kind == PD_FIELD_SLUG);
        assert_false(field->is_nullable);
    }
    const PdField *decimal = field_of(parse_ok("model M {\n f decimal(10,3)\n}"), "M", "f");
    assert_int_equal(decimal->precision, 10);
    assert_int_equal(decimal->scale, 3);
}

static void
test_implicit_id_and_model_names(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("model BookReview {\n  body text\n}\nmodel Category {}\nmodel Address {}\n"
                                  "model HTTPServer {}\n");
    assert_int_equal(catalog->model_count, 4);
    const PdModel *model = &catalog->models[0];
    assert_string_equal(model->name, "BookReview");
    assert_string_equal(model->table, "book_review");
    assert_string_equal(model->resource, "book_reviews");
    assert_int_equal(model->field_count, 2);
    const PdField *id = &model->fields[0];
    assert_string_equal(id->name, "id");
    assert_string_equal(id->column, "id");
    assert_int_equal(id->kind, PD_FIELD_AUTO);
    assert_true(id->is_primary_key);
    assert_ptr_equal(pd_model_primary_key(model), id);
    assert_string_equal(pd_model_column_type(arena, id), "bigint");
    assert_int_equal(model->pos.line, 1);
    assert_int_equal(model->pos.column, 7);
    assert_string_equal(catalog->models[1].resource, "categories");
    assert_string_equal(catalog->models[2].resource, "addresses");
    assert_string_equal(catalog->models[3].table, "http_server");
    assert_int_equal(catalog->models[1].field_count, 1);
}

static void
test_explicit_primary_key_replaces_id(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("model Country {\n  code string(2) primary_key\n  name text\n}\n"
                                  "model City {\n  country Country\n}\n");
    const PdModel *country = pd_model_find(catalog, "Country");
    assert_int_equal(country->field_count, 2);
    assert_string_equal(pd_model_primary_key(country)->name, "code");
    assert_null(pd_model_find_field(country, "id"));
    const PdField *fk = field_of(catalog, "City", "country");
    assert_string_equal(pd_model_column_type(arena, fk), "character varying(2)");
}

/* auto_now_add and auto_now: a default of now, read-only in the API (the database writes them). */
static void
test_auto_now_fields(void **state)
{
    (void)state;
    PdCatalog *catalog =
        parse_ok("model Note {\n  made timestamptz auto_now_add\n  changed date null auto_now\n"
                 "  at time default=now\n}\n");
    const PdField *made = field_of(catalog, "Note", "made");
    const PdField *changed = field_of(catalog, "Note", "changed");
    const PdField *at = field_of(catalog, "Note", "at");
    assert_true(made->is_auto_now_add);
    assert_false(made->is_auto_now);
    assert_int_equal(made->default_value.kind, PD_DEFAULT_NOW);
    assert_true(changed->is_auto_now);
    assert_true(changed->is_nullable);
    assert_int_equal(changed->default_value.kind, PD_DEFAULT_NOW);
    assert_true(pd_model_is_read_only(made));
    assert_true(pd_model_is_read_only(changed));
    assert_false(pd_model_is_read_only(at));
    assert_true(pd_model_is_read_only(pd_model_primary_key(pd_model_find(catalog, "Note"))));
}

static void
test_flags_and_values(void **state)
{
    (void)state;
    PdCatalog *catalog =
        parse_ok("model M {\n"
                 "  a string(10) null unique search\n"
                 "  b int index default=-5 check(>= -10) check(!= 3)\n"
                 "  c slug no_index\n"
                 "  d timestamptz default=now\n"
                 "  e uuid default=uuid\n"
                 "  f bool default=false\n"
                 "  g string(16) choices(draft \"Draft\", \"two words\", x3 \"x\") default=\"draft\"\n"
                 "  h decimal(6,2) default=2.00 choices(1.5, 2)\n"
                 "  i json default=\"{\\\"a\\\": [1, 2]}\"\n"
                 "  j text renamed_from=old_j\n"
                 "}\n");
    const PdField *a = field_of(catalog, "M", "a");
    assert_true(a->is_nullable && a->is_unique && a->is_searchable);
    assert_false(a->is_indexed);
    const PdField *b = field_of(catalog, "M", "b");
    assert_true(b->is_indexed);
    assert_int_equal(b->default_value.kind, PD_DEFAULT_LITERAL);
    assert_int_equal(b->default_value.literal.kind, PD_LITERAL_NUMBER);
    assert_string_equal(b->default_value.literal.text, "-5");
    assert_int_equal(b->check_count, 2);
    assert_int_equal(b->checks[0].op, PD_CHECK_GE);
    assert_string_equal(b->checks[0].value.text, "-10");
    assert_int_equal(b->checks[1].op, PD_CHECK_NE);
    assert_int_equal(b->checks[1].pos.line, 3);
    assert_false(field_of(catalog, "M", "c")->is_indexed);
    assert_int_equal(field_of(catalog, "M", "d")->default_value.kind, PD_DEFAULT_NOW);
    assert_int_equal(field_of(catalog, "M", "e")->default_value.kind, PD_DEFAULT_UUID);
    const PdField *f = field_of(catalog, "M", "f");
    assert_int_equal(f->default_value.literal.kind, PD_LITERAL_BOOL);
    assert_string_equal(f->default_value.literal.text, "false");
    const PdField *g = field_of(catalog, "M", "g");
    assert_int_equal(g->choice_count, 3);
    assert_string_equal(g->choices[0].value.text, "draft");
    assert_string_equal(g->choices[0].label, "Draft");
    assert_string_equal(g->choices[1].value.text, "two words");
    assert_string_equal(g->choices[1].label, "two words");
    assert_int_equal(g->choices[0].value.kind, PD_LITERAL_STRING);
    const PdField *h = field_of(catalog, "M", "h");
    assert_int_equal(h->choices[0].value.kind, PD_LITERAL_NUMBER);
    assert_string_equal(field_of(catalog, "M", "i")->default_value.literal.text, "{\"a\": [1, 2]}");
    assert_string_equal(field_of(catalog, "M", "j")->renamed_from, "old_j");
}

static void
test_relations(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("model Author {\n  name text\n}\n"
                                  "model Tag {}\n"
                                  "model Person {\n  friends Person[]\n}\n"
                                  "model BookReview {\n"
                                  "  author Author\n"
                                  "  editor Author null on_delete=set_null related=edited_reviews no_index\n"
                                  "  profile Author one_to_one on_delete=protect\n"
                                  "  tags Tag[]\n"
                                  "  labels Tag[] through=\"review_labels\" related=labelled_reviews\n"
                                  "  backup Author default=1 on_delete=set_default related=backed_up\n"
                                  "}\n");
    const PdField *author = field_of(catalog, "BookReview", "author");
    assert_int_equal(author->kind, PD_FIELD_FOREIGN_KEY);
    assert_string_equal(author->column, "author_id");
    assert_string_equal(author->target_name, "Author");
    assert_ptr_equal(author->target, pd_model_find(catalog, "Author"));
    assert_int_equal(author->on_delete, PD_ON_DELETE_CASCADE);
    assert_string_equal(author->related_name, "book_review_set");
    assert_true(author->is_indexed);
    assert_string_equal(pd_model_column_type(arena, author), "bigint");
    const PdField *editor = field_of(catalog, "BookReview", "editor");
    assert_int_equal(editor->on_delete, PD_ON_DELETE_SET_NULL);
    assert_string_equal(editor->related_name, "edited_reviews");
    assert_false(editor->is_indexed);
    const PdField *profile = field_of(catalog, "BookReview", "profile");
    assert_int_equal(profile->kind, PD_FIELD_ONE_TO_ONE);
    assert_true(profile->is_unique);
    assert_false(profile->is_indexed);
    assert_int_equal(profile->on_delete, PD_ON_DELETE_PROTECT);
    assert_string_equal(profile->related_name, "book_review");
    const PdField *tags = field_of(catalog, "BookReview", "tags");
    assert_int_equal(tags->kind, PD_FIELD_MANY_TO_MANY);
    assert_null(tags->column);
    assert_null(pd_model_column_type(arena, tags));
    assert_string_equal(tags->through_table, "book_review_tags");
    assert_string_equal(tags->related_name, "book_review_set");
    assert_string_equal(field_of(catalog, "BookReview", "labels")->through_table, "review_labels");
    assert_int_equal(field_of(catalog, "BookReview", "backup")->on_delete, PD_ON_DELETE_SET_DEFAULT);
    char *source, *target;
    const PdModel *review = pd_model_find(catalog, "BookReview");
    assert_true(pd_model_through_columns(arena, review, tags, &source, &target));
    assert_string_equal(source, "book_review_id");
    assert_string_equal(target, "tag_id");
    const PdModel *person = pd_model_find(catalog, "Person");
    assert_true(
        pd_model_through_columns(arena, person, pd_model_find_field(person, "friends"), &source, &target));
    assert_string_equal(source, "from_person_id");
    assert_string_equal(target, "to_person_id");
}

static void
test_directives(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("# leading comment\n\n"
                                  "model Book {   # trailing comment\n"
                                  "  table \"books_t\"\n"
                                  "  resource \"library-books\"\n"
                                  "  renamed_from Volume\n"
                                  "  title string(100)\n"
                                  "  author_name string(100)\n"
                                  "  published date\n"
                                  "  ordering -published, title\n"
                                  "  unique(title, author_name)\n"
                                  "  index(published, title) name=\"book_pub_idx\"\n"
                                  "}\n");
    const PdModel *book = &catalog->models[0];
    assert_string_equal(book->table, "books_t");
    assert_string_equal(book->resource, "library-books");
    assert_string_equal(book->renamed_from, "Volume");
    assert_int_equal(book->ordering_count, 2);
    assert_true(book->ordering[0].is_descending);
    assert_string_equal(book->ordering[0].field, "published");
    assert_false(book->ordering[1].is_descending);
    assert_int_equal(book->index_count, 2);
    assert_true(book->indexes[0].is_unique);
    assert_string_equal(book->indexes[0].name, "books_t_title_author_name_uniq");
    assert_int_equal(book->indexes[0].field_count, 2);
    assert_false(book->indexes[1].is_unique);
    assert_string_equal(book->indexes[1].name, "book_pub_idx");
    assert_int_equal(book->indexes[1].pos.line, 12);
}

static void
test_lexical_details(void **state)
{
    (void)state;
    /* Escapes, a \u escape, UTF-8 text, CRLF line ends and a choices list that wraps. */
    PdCatalog *catalog = parse_ok("model M {\r\n"
                                  "  s string(40) default=\"a\\\"b\\\\c\\n\\u00e9\\t\xc3\xa9\"\r\n"
                                  "  k string(10) choices(\n"
                                  "    a \"A\",\n"
                                  "    b \"B\",\n"
                                  "  )\r\n"
                                  "  ordering s\n"
                                  "}");
    const PdField *s = field_of(catalog, "M", "s");
    assert_string_equal(s->default_value.literal.text, "a\"b\\c\n\xc3\xa9\t\xc3\xa9");
    assert_int_equal(s->pos.line, 2);
    assert_int_equal(s->pos.column, 3);
    assert_int_equal(field_of(catalog, "M", "k")->choice_count, 2);
    /* a field may be named like a type, and words that are directives elsewhere */
    catalog = parse_ok("model M {\n  text text\n  model int\n  name string(5)\n  ordering text\n}\n");
    assert_int_equal(catalog->models[0].field_count, 4);
    assert_string_equal(catalog->models[0].ordering[0].field, "text");
}

static void
test_names_and_hashes(void **state)
{
    (void)state;
    assert_string_equal(pd_model_snake_case(arena, "BookReview"), "book_review");
    assert_string_equal(pd_model_snake_case(arena, "Book"), "book");
    assert_string_equal(pd_model_snake_case(arena, "HTTPServerLog"), "http_server_log");
    assert_string_equal(pd_model_snake_case(arena, "Book2Author"), "book2_author");
    assert_string_equal(pd_model_plural(arena, "book"), "books");
    assert_string_equal(pd_model_plural(arena, "category"), "categories");
    assert_string_equal(pd_model_plural(arena, "address"), "addresses");
    assert_string_equal(pd_model_plural(arena, "book_review"), "book_reviews");
    assert_string_equal(pd_model_plural(arena, "box"), "boxes");
    assert_string_equal(pd_model_plural(arena, "batch"), "batches");
    assert_string_equal(pd_model_plural(arena, "day"), "days");
    assert_string_equal(pd_model_constraint_name(arena, "book", NULL, "pkey"), "book_pkey");
    assert_string_equal(pd_model_constraint_name(arena, "book", "author_id", "fkey"), "book_author_id_fkey");
    assert_string_equal(pd_model_check_constraint_name(arena, "book", "price", 0), "book_price_check");
    assert_string_equal(pd_model_check_constraint_name(arena, "book", "price", 2), "book_price_check2");
    /* Long names: cut to 54 bytes, then "_" and 8 hex digits of FNV-1a of the full name. */
    const char *table = "a_really_long_table_name_for_testing_limits";
    const char *column = "and_an_equally_long_column_name";
    char *name = pd_model_constraint_name(arena, table, column, "key");
    assert_int_equal(strlen(name), 63);
    assert_memory_equal(name, "a_really_long_table_name_for_testing_limits_and_an_equ_", 55);
    char *again = pd_model_constraint_name(arena, table, column, "key");
    assert_string_equal(name, again);
    char *other = pd_model_constraint_name(arena, table, column, "idx");
    assert_int_equal(strlen(other), 63);
    assert_string_not_equal(name, other);
    char exactly[64];
    memset(exactly, 'x', 59);
    exactly[59] = '\0';
    assert_int_equal(strlen(pd_model_constraint_name(arena, exactly, NULL, "idx")), 63);
    assert_string_equal(pd_model_kind_name(PD_FIELD_TIMESTAMPTZ), "timestamptz");
    assert_string_equal(pd_model_on_delete_name(PD_ON_DELETE_SET_NULL), "set_null");
}

static void
test_long_derived_names_are_hashed(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("model AVeryLongModelNameForTestingDerivedNamesAbcdef {\n"
                                  "  a_long_field_name_to_go_with_it int\n"
                                  "  another_long_field_name_here int\n"
                                  "  tags AVeryLongModelNameForTestingDerivedNamesAbcdef[] related=tagged\n"
                                  "  unique(a_long_field_name_to_go_with_it, another_long_field_name_here)\n"
                                  "}\n");
    const PdModel *model = &catalog->models[0];
    assert_int_equal(strlen(model->indexes[0].name), 63);
    assert_true(strlen(pd_model_find_field(model, "tags")->through_table) <= 63);
}

static void
test_check_value(void **state)
{
    (void)state;
    PdCatalog *catalog = parse_ok("model M {\n"
                                  "  e email\n  u url\n  s slug\n  d date\n  t time\n  ts timestamptz\n"
                                  "  du duration\n  id2 uuid null\n  j json\n  b binary\n  n decimal(5,2)\n"
                                  "  st string(8) choices(a, b)\n  i smallint choices(1, 2)\n"
                                  "}\n");
    static const struct
    {
        const char *field;
        PdLiteralKind kind;
        const char *text;
        bool is_valid;
    } cases[] = {
        {"e", PD_LITERAL_STRING, "ann@example.com", true},
        {"e", PD_LITERAL_STRING, "ann.b+tag@mail.example.org", true},
        {"e", PD_LITERAL_STRING, "ann@localhost", false},
        {"e", PD_LITERAL_STRING, "ann..b@example.com", false},
        {"e", PD_LITERAL_STRING, "@example.com", false},
        {"u", PD_LITERAL_STRING, "https://example.com/a?b=c#d", true},
        {"u", PD_LITERAL_STRING, "http://localhost:8080", true},
        {"u", PD_LITERAL_STRING, "http://127.0.0.1/", true},
        {"u", PD_LITERAL_STRING, "ftp://[::1]/x", true},
        {"u", PD_LITERAL_STRING, "javascript:alert(1)", false},
        {"u", PD_LITERAL_STRING, "http://exa mple.com", false},
        {"u", PD_LITERAL_STRING, "http://example.com:99999", false},
        {"s", PD_LITERAL_STRING, "a-b_c9", true},
        {"s", PD_LITERAL_STRING, "", false},
        {"s", PD_LITERAL_STRING, "a/b", false},
        {"d", PD_LITERAL_STRING, "2024-02-29", true},
        {"d", PD_LITERAL_STRING, "2023-02-29", false},
        {"d", PD_LITERAL_STRING, "2024-1-01", false},
        {"t", PD_LITERAL_STRING, "23:59:59.123456", true},
        {"t", PD_LITERAL_STRING, "24:00", false},
        {"ts", PD_LITERAL_STRING, "2024-05-01T10:00:00Z", true},
        {"ts", PD_LITERAL_STRING, "2024-05-01 10:00:00.5+02:00", true},
        {"ts", PD_LITERAL_STRING, "2024-05-01", true},
        {"ts", PD_LITERAL_STRING, "2024-05-01 25:00", false},
        {"du", PD_LITERAL_STRING, "3 days", true},
        {"du", PD_LITERAL_STRING, "1 year 2 months 3 days 04:05:06", true},
        {"du", PD_LITERAL_STRING, "-01:30:00", true},
        {"du", PD_LITERAL_STRING, "P1DT2H30M", true},
        {"du", PD_LITERAL_STRING, "3 fortnights", false},
        {"du", PD_LITERAL_STRING, "P", false},
        {"id2", PD_LITERAL_STRING, "123e4567-e89b-12d3-a456-426614174000", true},
        {"id2", PD_LITERAL_NULL, NULL, true},
        {"e", PD_LITERAL_NULL, NULL, false},
        {"j", PD_LITERAL_STRING, "{\"a\": 1}", true},
        {"j", PD_LITERAL_NUMBER, "12", true},
        {"j", PD_LITERAL_STRING, "{", false},
        {"b", PD_LITERAL_STRING, "aGVsbG8=", true},
        {"b", PD_LITERAL_STRING, "aGVsbG8", false},
        {"n", PD_LITERAL_NUMBER, "-999.99", true},
        {"n", PD_LITERAL_NUMBER, "0.5", true},
        {"n", PD_LITERAL_NUMBER, "1000", false},
        {"n", PD_LITERAL_NUMBER, "1.234", false},
        {"n", PD_LITERAL_NUMBER, "1e2", false},
        {"st", PD_LITERAL_STRING, "a", true},
        {"st", PD_LITERAL_STRING, "c", false},
        {"i", PD_LITERAL_NUMBER, "2", true},
        {"i", PD_LITERAL_NUMBER, "3", false},
        {"id", PD_LITERAL_NUMBER, "9223372036854775807", true},
        {"id", PD_LITERAL_NUMBER, "9223372036854775808", false},
    };
    const PdModel *model = &catalog->models[0];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        PdLiteral value = {cases[i].kind, cases[i].text};
        PdError err;
        pd_error_clear(&err);
        bool is_valid = pd_model_check_value(pd_model_find_field(model, cases[i].field), &value, &err);
        if (is_valid != cases[i].is_valid)
            fail_msg("%s = %s: expected %s, got %s", cases[i].field, cases[i].text ? cases[i].text : "null",
                     cases[i].is_valid ? "valid" : "invalid", err.message);
        if (!is_valid)
            assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    }
    PdLiteral choice = {PD_LITERAL_STRING, "c"};
    PdError err;
    assert_false(pd_model_check_value(pd_model_find_field(model, "st"), &choice, &err));
    assert_string_equal(err.message, "\"c\" is not one of the choices of field \"st\", expected one of a, b");
}

static void
test_budget_exhaustion_is_an_error(void **state)
{
    (void)state;
    PdArena *small = pd_arena_new(2048);
    PdCatalog *catalog = NULL;
    PdError err;
    const char *text = "model Author {\n  name string(200)\n  email email unique\n}\n"
                       "model Book {\n  title string(300)\n  author Author\n}\n";
    assert_false(pd_model_parse(small, "t.pdm", text, &catalog, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_null(catalog);
    pd_arena_free(small);
}

/*
 * The checker collects problems in several models; when memory runs out on
 * the way, the error says so and carries no partial list. Every budget from
 * too small to enough gives either that error or the whole list.
 */
static void
test_budget_exhaustion_while_collecting(void **state)
{
    (void)state;
    const char *text =
        "model Author {\n  name strng(20)\n  born date default=\"x\"\n}\n"
        "model Book {\n  title string(20)\n  title text\n  author Author on_delete=set_null\n}\n"
        "model Shelf {\n  size smallint default=40000\n}\n";
    PdError whole;
    PdCatalog *catalog = NULL;
    assert_false(pd_model_parse(arena, "t.pdm", text, &catalog, &whole));
    assert_int_equal(whole.problem_count, 5);
    size_t exhausted = 0;
    for (size_t budget = 1024; budget < 64 * 1024; budget += 256)
    {
        PdArena *small = pd_arena_new(budget);
        PdError err;
        assert_false(pd_model_parse(small, "t.pdm", text, &catalog, &err));
        assert_null(catalog);
        if (err.code == PD_ERR_TOO_LARGE)
        {
            assert_int_equal(err.problem_count, 0);
            exhausted++;
        }
        else
        {
            assert_string_equal(err.message, whole.message);
            assert_int_equal(err.problem_count, whole.problem_count);
            for (size_t i = 0; i < whole.problem_count; i++)
                assert_string_equal(err.problems[i].message, whole.problems[i].message);
        }
        pd_arena_free(small);
    }
    assert_true(exhausted > 0);
}

/* Parses text that must fail, as "m.pdm"; returns the error. */
static PdError
parse_error(const char *text)
{
    PdCatalog *catalog = NULL;
    PdError err;
    assert_false(pd_model_parse(arena, "m.pdm", text, &catalog, &err));
    assert_null(catalog);
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    return err;
}

static void
assert_problem(const PdError *err, size_t index, int line, int column, const char *message)
{
    assert_true(index < err->problem_count);
    const PdProblem *problem = &err->problems[index];
    assert_string_equal(problem->pos.file, "m.pdm");
    assert_int_equal(problem->pos.line, line);
    assert_int_equal(problem->pos.column, column);
    assert_string_equal(problem->message, message);
}

/* Every broken line is a problem of its own, in text order, each with its position. */
static void
test_every_problem_is_reported(void **state)
{
    (void)state;
    PdError err = parse_error("model Author {\n"
                              "  name strng(20) nul\n"         /* an unknown option */
                              "  age int check(3)\n"           /* a bad check */
                              "  email email\n"                /* fine */
                              "  bio text default=\"a\\qb\"\n" /* a lexical error */
                              "  born date = 5\n"              /* a stray token */
                              "}\n"
                              "Book {\n" /* no "model" */
                              "  title string(10)\n"
                              "}\n"
                              "model Tag {\n"
                              "  label slug @\n" /* a bad character */
                              "}\n");
    assert_int_equal(err.problem_count, 6);
    assert_int_equal(err.problems_omitted, 0);
    assert_string_equal(
        err.message,
        "m.pdm:2:18: unknown option \"nul\", expected a field option such as null, unique, index, default=, "
        "check(), auto_now or on_delete= (docs/models.md lists them all)");
    assert_int_equal(err.pos.line, 2);
    assert_int_equal(err.pos.column, 18);
    assert_problem(&err, 1, 3, 17, "unexpected number 3, expected a comparison: =, !=, <, <=, > or >=");
    assert_problem(&err, 2, 5, 22,
                   "unknown escape \"\\q\" in a string, expected \\\", \\\\, \\n, \\t, \\r or \\uXXXX");
    assert_problem(&err, 3, 6, 13,
                   "unexpected \"=\", expected an option such as null, unique, index or default=..., or the "
                   "end of the line");
    assert_problem(&err, 4, 8, 1, "unexpected \"Book\", expected \"model\" to start a model");
    assert_problem(
        &err, 5, 12, 14,
        "unexpected character \"@\", expected a name, a number, a string or one of { } ( ) [ ] , = "
        "- < > != |");
}

/* An unclosed "{" names the model and where it was opened, at the next model or the end of the file. */
static void
test_unclosed_model_is_named(void **state)
{
    (void)state;
    PdError err = parse_error("model Author {\n  name string(10)\n\nmodel Book {\n  title string(10)\n");
    assert_int_equal(err.problem_count, 2);
    assert_string_equal(err.message, "m.pdm:4:1: model Author opened at m.pdm:1:14 is not closed, expected "
                                     "\"}\" before the next model");
    assert_problem(
        &err, 1, 6, 1,
        "model Book opened at m.pdm:4:12 is not closed, expected \"}\" before the end of the file");

    /* An unclosed "(" ends at the "}" rather than swallowing the rest of the file. */
    err = parse_error("model A {\n  x string(10\n}\nmodel B {\n  y int nul\n}\n");
    assert_int_equal(err.problem_count, 2);
    assert_problem(&err, 0, 3, 1, "unexpected \"}\", expected \",\" or \")\" after the type's numbers");
    assert_problem(&err, 1, 5, 9,
                   "unknown option \"nul\", expected a field option such as null, unique, index, default=, "
                   "check(), auto_now or on_delete= (docs/models.md lists them all)");

    /* A model header without "{" skips to the next model; one with "{" after a bad name still reads its body.
     */
    err = parse_error("model Author\n  name string(10)\n}\nmodel 12 {\n  x int nul\n}\n");
    assert_int_equal(err.problem_count, 3);
    assert_problem(&err, 0, 1, 13, "unexpected end of line, expected \"{\" after the model name");
    assert_problem(&err, 1, 4, 7, "unexpected number 12, expected a model name such as Book");
    assert_problem(&err, 2, 5, 9,
                   "unknown option \"nul\", expected a field option such as null, unique, index, default=, "
                   "check(), auto_now or on_delete= (docs/models.md lists them all)");
}

/* Past the cap, problems are counted, not kept. */
static void
test_problems_are_capped(void **state)
{
    (void)state;
    PdArena *scratch = pd_arena_new(0);
    char *text = pd_arena_strdup(scratch, "model A {\n");
    for (int i = 0; i < PD_ERROR_MAX_PROBLEMS + 5; i++)
        text = pd_arena_sprintf(scratch, "%s  f%d int nul\n", text, i);
    text = pd_arena_sprintf(scratch, "%s}\n", text);
    PdError err = parse_error(text);
    assert_int_equal(err.problem_count, PD_ERROR_MAX_PROBLEMS);
    assert_int_equal(err.problems_omitted, 5);
    assert_int_equal(err.problems[PD_ERROR_MAX_PROBLEMS - 1].pos.line, PD_ERROR_MAX_PROBLEMS + 1);
    pd_arena_free(scratch);
}

static void
test_load_file(void **state)
{
    (void)state;
    PdCatalog *catalog = NULL;
    PdError err;
    assert_true(pd_model_load_file(arena, "examples/bookstore/models.pdm", &catalog, &err));
    assert_non_null(pd_model_find(catalog, "Book"));
    assert_false(pd_model_load_file(arena, "no/such/models.pdm", &catalog, &err));
    assert_int_equal(err.code, PD_ERR_IO);
}

/* Django's own names and kinds: fk_name, deferrable, operator classes in index(...), default=serial. */
static void
test_adopted_database_options(void **state)
{
    (void)state;
    PdCatalog *catalog =
        parse_ok("model Author {\n"
                 "  id int primary_key default=serial\n"
                 "  name string(100)\n"
                 "  rank smallint default=serial\n"
                 "}\n"
                 "model Book {\n"
                 "  table \"app_book\"\n"
                 "  title string(200)\n"
                 "  author Author fk_name=\"app_book_author_id_fk_app_author_id\" deferrable\n"
                 "  editor Author null on_delete=set_null related=edited\n"
                 "  twin Book one_to_one null deferrable related=twin_of\n"
                 "  index(title varchar_pattern_ops) name=\"app_book_title_like\"\n"
                 "  index(author, title text_pattern_ops)\n"
                 "  index(title, author)\n"
                 "  unique(title, author)\n"
                 "}\n");
    const PdModel *author = pd_model_find(catalog, "Author"), *book = pd_model_find(catalog, "Book");
    const PdField *id = field_of(catalog, "Author", "id");
    assert_int_equal(id->default_value.kind, PD_DEFAULT_SERIAL);
    assert_true(id->is_primary_key);
    assert_false(id->is_nullable);
    assert_true(pd_model_is_auto_key(id));
    assert_false(pd_model_is_auto_key(field_of(catalog, "Author", "rank"))); /* serial, but no key */
    assert_false(pd_model_is_auto_key(field_of(catalog, "Author", "name")));
    assert_true(pd_model_is_auto_key(pd_model_primary_key(book))); /* the implicit id */
    assert_int_equal(author->field_count, 3);                      /* no implicit id */
    assert_string_equal(pd_model_column_type(arena, field_of(catalog, "Book", "author")), "integer");

    const PdField *fk = field_of(catalog, "Book", "author");
    assert_string_equal(fk->fk_name, "app_book_author_id_fk_app_author_id");
    assert_true(fk->is_deferrable);
    assert_string_equal(pd_model_foreign_key_name(arena, book, fk), "app_book_author_id_fk_app_author_id");
    const PdField *editor = field_of(catalog, "Book", "editor");
    assert_null(editor->fk_name);
    assert_false(editor->is_deferrable);
    assert_string_equal(pd_model_foreign_key_name(arena, book, editor), "app_book_editor_id_fkey");
    assert_true(field_of(catalog, "Book", "twin")->is_deferrable);
    assert_null(pd_model_foreign_key_name(arena, book, field_of(catalog, "Book", "title")));

    assert_int_equal(book->index_count, 4);
    assert_string_equal(book->indexes[0].name, "app_book_title_like");
    assert_non_null(book->indexes[0].opclasses);
    assert_string_equal(book->indexes[0].opclasses[0], "varchar_pattern_ops");
    /* the derived name leaves operator classes out */
    assert_string_equal(book->indexes[1].name, "app_book_author_id_title_idx");
    assert_null(book->indexes[1].opclasses[0]);
    assert_string_equal(book->indexes[1].opclasses[1], "text_pattern_ops");
    assert_null(book->indexes[2].opclasses);
    assert_null(book->indexes[3].opclasses);
}

/* backfill=: a value for the rows already there, checked against the type as a default is, never a default;
 * and the same value read from a command line's text (makemigrations --backfill). */
static void
test_backfill(void **state)
{
    (void)state;
    PdArena *scratch = pd_arena_new(0);
    PdCatalog *catalog = parse_ok("model Author {\n  id string(10) primary_key\n}\n"
                                  "model Book {\n"
                                  "  isbn string(20) backfill=\"unknown\"\n"
                                  "  pages int null default=0 backfill=-1\n"
                                  "  done bool backfill=false\n"
                                  "  author Author backfill=\"anon\"\n"
                                  "  kind string(5) choices(a, b) backfill=\"b\"\n"
                                  "}\n");
    const PdField *isbn = field_of(catalog, "Book", "isbn");
    assert_non_null(isbn->backfill);
    assert_int_equal(isbn->backfill->kind, PD_LITERAL_STRING);
    assert_string_equal(isbn->backfill->text, "unknown");
    assert_int_equal(isbn->default_value.kind, PD_DEFAULT_NONE);
    const PdField *pages = field_of(catalog, "Book", "pages");
    assert_string_equal(pages->backfill->text, "-1");
    assert_string_equal(pages->default_value.literal.text, "0");
    assert_int_equal(field_of(catalog, "Book", "done")->backfill->kind, PD_LITERAL_BOOL);
    assert_string_equal(field_of(catalog, "Book", "kind")->backfill->text, "b");
    assert_string_equal(field_of(catalog, "Book", "author")->backfill->text, "anon");

    PdLiteral value;
    PdError err;
    assert_true(pd_model_literal_from_text(scratch, pages, "42", &value, &err));
    assert_int_equal(value.kind, PD_LITERAL_NUMBER);
    assert_false(pd_model_literal_from_text(scratch, pages, "4x", &value, &err));
    assert_string_equal(err.message, "string \"4x\" is not a valid int, expected a whole number from "
                                     "-2147483648 to 2147483647");
    assert_true(pd_model_literal_from_text(scratch, isbn, "true", &value, &err));
    assert_int_equal(value.kind, PD_LITERAL_STRING);
    assert_true(pd_model_literal_from_text(scratch, field_of(catalog, "Book", "done"), "true", &value, &err));
    assert_int_equal(value.kind, PD_LITERAL_BOOL);
    assert_false(pd_model_literal_from_text(scratch, field_of(catalog, "Book", "done"), "yes", &value, &err));
    assert_false(pd_model_literal_from_text(scratch, field_of(catalog, "Book", "kind"), "c", &value, &err));
    assert_true(pd_model_literal_from_text(scratch, field_of(catalog, "Book", "author"), "x", &value, &err));
    assert_false(pd_model_literal_from_text(scratch, isbn, "a string longer than twenty", &value, &err));
    pd_arena_free(scratch);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_backfill),
        cmocka_unit_test(test_implicit_id_and_model_names),
        cmocka_unit_test(test_explicit_primary_key_replaces_id),
        cmocka_unit_test(test_flags_and_values),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_adopted_database_options),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_lexical_details),
        cmocka_unit_test(test_names_and_hashes),
        cmocka_unit_test(test_long_derived_names_are_hashed),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_budget_exhaustion_is_an_error),
        cmocka_unit_test(test_budget_exhaustion_while_collecting),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_every_problem_is_reported),
        cmocka_unit_test(test_unclosed_model_is_named),
        cmocka_unit_test(test_problems_are_capped),
        cmocka_unit_test(test_auto_now_fields),
    };
    return cmocka_run_group_tests_name("model_parse", tests, setup, teardown);
}

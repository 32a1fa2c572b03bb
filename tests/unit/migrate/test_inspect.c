/*
 * test_inspect.c - inspectdb's reading of PostgreSQL's deparsed text
 * (inspect_sql.c, inspect_expr.c): column types, defaults, checks, keys,
 * foreign keys, indexes, conditions and prodata's auto_now trigger. The texts are what PostgreSQL 15 printed
 * for the planner's SQL (tests/integration/inspectdb.sh checks the whole round trip on a server); each case
 * either reads as the value the planner would write back, or is refused, never read as something close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/inspect.h"
#include "testing.h"

static PdField
field_of(PdFieldKind kind, int length, int precision, int scale)
{
    return (PdField){.name = "f",
                     .column = "f",
                     .kind = kind,
                     .max_length = length,
                     .precision = precision,
                     .scale = scale};
}

static void
test_column_types(void **state)
{
    (void)state;
    static const struct
    {
        const char *sql;
        PdFieldKind kind;
        int length, precision, scale;
    } known[] = {
        {"character varying(200)", PD_FIELD_STRING, 200, 0, 0},
        {"text", PD_FIELD_TEXT, 0, 0, 0},
        {"smallint", PD_FIELD_SMALLINT, 0, 0, 0},
        {"integer", PD_FIELD_INT, 0, 0, 0},
        {"bigint", PD_FIELD_BIGINT, 0, 0, 0},
        {"boolean", PD_FIELD_BOOL, 0, 0, 0},
        {"double precision", PD_FIELD_FLOAT, 0, 0, 0},
        {"numeric(8,2)", PD_FIELD_DECIMAL, 0, 8, 2},
        {"date", PD_FIELD_DATE, 0, 0, 0},
        {"time without time zone", PD_FIELD_TIME, 0, 0, 0},
        {"timestamp with time zone", PD_FIELD_TIMESTAMPTZ, 0, 0, 0},
        {"interval", PD_FIELD_DURATION, 0, 0, 0},
        {"uuid", PD_FIELD_UUID, 0, 0, 0},
        {"jsonb", PD_FIELD_JSON, 0, 0, 0},
        {"bytea", PD_FIELD_BINARY, 0, 0, 0},
        {"inet", PD_FIELD_INET, 0, 0, 0},
        {"cidr", PD_FIELD_CIDR, 0, 0, 0},
        {"integer[]", PD_FIELD_INT, 0, 0, 0},
        {"character varying(30)[]", PD_FIELD_STRING, 30, 0, 0},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    {
        PdColumnType type;
        assert_true(pd_inspect_column_type(known[i].sql, &type));
        assert_int_equal(type.kind, known[i].kind);
        assert_int_equal(type.length, known[i].length);
        assert_int_equal(type.precision, known[i].precision);
        assert_int_equal(type.scale, known[i].scale);
        assert_int_equal(type.is_array, strstr(known[i].sql, "[]") != NULL);
    }
    static const char *unknown[] = {"character varying",
                                    "character(3)",
                                    "numeric",
                                    "numeric(5,-2)",
                                    "integer[][]",
                                    "jsonb[]",
                                    "bytea[]",
                                    "real[]",
                                    "json",
                                    "real",
                                    "timestamp without time zone",
                                    "timestamp(3) with time zone",
                                    "interval day",
                                    "public.mood",
                                    "character varying(0)",
                                    "numeric(3,4)"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
    {
        PdColumnType type;
        if (pd_inspect_column_type(unknown[i], &type))
            fail_msg("type %s read as a model type", unknown[i]);
    }
}

/* Reads sql as a default of a field of kind; expects the literal text (NULL: refused). */
static void
reads_default(PdFieldKind kind, int length, int precision, int scale, const char *sql, PdDefaultKind expected,
              const char *text)
{
    PdArena *arena = pd_arena_new(0);
    PdField field = field_of(kind, length, precision, scale);
    PdDefault value;
    bool is_current_timestamp;
    bool is_read = pd_inspect_read_default(arena, &field, sql, &value, &is_current_timestamp);
    if (expected == PD_DEFAULT_NONE && is_read)
        fail_msg("default %s read, expected it refused", sql);
    if (expected != PD_DEFAULT_NONE && !is_read)
        fail_msg("default %s refused", sql);
    if (is_read)
    {
        assert_int_equal(value.kind, expected);
        if (text != NULL)
            assert_string_equal(value.literal.text, text);
    }
    pd_arena_free(arena);
}

static void
test_defaults(void **state)
{
    (void)state;
    /* What PostgreSQL printed for the planner's defaults (docs/models.md values) */
    reads_default(PD_FIELD_SMALLINT, 0, 0, 0, "0", PD_DEFAULT_LITERAL, "0");
    reads_default(PD_FIELD_INT, 0, 0, 0, "'-1'::integer", PD_DEFAULT_LITERAL, "-1");
    reads_default(PD_FIELD_BIGINT, 0, 0, 0, "'9999999999'::bigint", PD_DEFAULT_LITERAL, "9999999999");
    reads_default(PD_FIELD_BIGINT, 0, 0, 0, "'-5'::integer", PD_DEFAULT_LITERAL, "-5");
    reads_default(PD_FIELD_DECIMAL, 0, 8, 2, "1.50", PD_DEFAULT_LITERAL, "1.50");
    reads_default(PD_FIELD_DECIMAL, 0, 8, 2, "'-1.5'::numeric", PD_DEFAULT_LITERAL, "-1.5");
    reads_default(PD_FIELD_DECIMAL, 0, 30, 0, "'99999999999999999999'::numeric", PD_DEFAULT_LITERAL,
                  "99999999999999999999");
    reads_default(PD_FIELD_FLOAT, 0, 0, 0, "1.5", PD_DEFAULT_LITERAL, "1.5");
    reads_default(PD_FIELD_FLOAT, 0, 0, 0, "'-2'::integer", PD_DEFAULT_LITERAL, "-2");
    reads_default(PD_FIELD_STRING, 10, 0, 0, "'x''y'::character varying", PD_DEFAULT_LITERAL, "x'y");
    reads_default(PD_FIELD_STRING, 10, 0, 0, "''::character varying", PD_DEFAULT_LITERAL, "");
    reads_default(PD_FIELD_TEXT, 0, 0, 0, "'h\xc3\xa9\n'::text", PD_DEFAULT_LITERAL, "h\xc3\xa9\n");
    reads_default(PD_FIELD_BOOL, 0, 0, 0, "true", PD_DEFAULT_LITERAL, "true");
    reads_default(PD_FIELD_DATE, 0, 0, 0, "'2024-01-02'::date", PD_DEFAULT_LITERAL, "2024-01-02");
    reads_default(PD_FIELD_TIME, 0, 0, 0, "'10:30:00'::time without time zone", PD_DEFAULT_LITERAL,
                  "10:30:00");
    reads_default(PD_FIELD_TIMESTAMPTZ, 0, 0, 0, "'2024-01-02 10:00:00+00'::timestamp with time zone",
                  PD_DEFAULT_LITERAL, "2024-01-02 10:00:00+00");
    reads_default(PD_FIELD_DURATION, 0, 0, 0, "'P1Y2M3DT4H'::interval", PD_DEFAULT_LITERAL, "P1Y2M3DT4H");
    reads_default(PD_FIELD_UUID, 0, 0, 0, "'123e4567-e89b-12d3-a456-426614174000'::uuid", PD_DEFAULT_LITERAL,
                  "123e4567-e89b-12d3-a456-426614174000");
    reads_default(PD_FIELD_JSON, 0, 0, 0, "'{\"a\": 1}'::jsonb", PD_DEFAULT_LITERAL, "{\"a\": 1}");
    reads_default(PD_FIELD_BINARY, 0, 0, 0, "decode('AAEC'::text, 'base64'::text)", PD_DEFAULT_LITERAL,
                  "AAEC");
    reads_default(PD_FIELD_TIMESTAMPTZ, 0, 0, 0, "now()", PD_DEFAULT_NOW, NULL);
    reads_default(PD_FIELD_TIMESTAMPTZ, 0, 0, 0, "CURRENT_TIMESTAMP", PD_DEFAULT_NOW, NULL);
    reads_default(PD_FIELD_DATE, 0, 0, 0, "CURRENT_DATE", PD_DEFAULT_NOW, NULL);
    reads_default(PD_FIELD_TIME, 0, 0, 0, "LOCALTIME", PD_DEFAULT_NOW, NULL);
    reads_default(PD_FIELD_UUID, 0, 0, 0, "gen_random_uuid()", PD_DEFAULT_UUID, NULL);

    /* Texts the planner would not write back the same: refused */
    reads_default(PD_FIELD_BIGINT, 0, 0, 0, "'5'::bigint", PD_DEFAULT_NONE, NULL);    /* 5 is int4 */
    reads_default(PD_FIELD_FLOAT, 0, 0, 0, "'1000'::numeric", PD_DEFAULT_NONE, NULL); /* 1e3 */
    reads_default(PD_FIELD_STRING, 10, 0, 0, "'x'::text", PD_DEFAULT_NONE, NULL);     /* a text cast */
    reads_default(PD_FIELD_STRING, 2, 0, 0, "'abc'::character varying", PD_DEFAULT_NONE, NULL); /* > n */
    reads_default(PD_FIELD_INT, 0, 0, 0, "1.5", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_SMALLINT, 0, 0, 0, "40000", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_BINARY, 0, 0, 0, "'\\x0102'::bytea", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_DATE, 0, 0, 0, "now()", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_DATE, 0, 0, 0, "'infinity'::date", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_TIMESTAMPTZ, 0, 0, 0, "transaction_timestamp()", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_INT, 0, 0, 0, "nextval('t_a_seq'::regclass)", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_TEXT, 0, 0, 0, "('a'::text || 'b'::text)", PD_DEFAULT_NONE, NULL);
    reads_default(PD_FIELD_BOOL, 0, 0, 0, "(1 = 1)", PD_DEFAULT_NONE, NULL);

    assert_true(pd_inspect_is_nextval("nextval('shop_tag_id_seq'::regclass)", "shop_tag_id_seq"));
    assert_false(pd_inspect_is_nextval("nextval('shop_tag_id_seq'::regclass)", "shop_tag_id"));
    assert_false(pd_inspect_is_nextval("nextval('other.shop_tag_id_seq'::regclass)", "shop_tag_id_seq"));
}

/* Reads definition as a check of field `column` of kind; expects op and literal text (NULL text: refused). */
static void
reads_check(PdFieldKind kind, int length, const char *column, const char *definition, PdCheckOp op,
            const char *text)
{
    PdArena *arena = pd_arena_new(0);
    PdField field =
        field_of(kind, length, kind == PD_FIELD_DECIMAL ? 8 : 0, kind == PD_FIELD_DECIMAL ? 2 : 0);
    PdCheck check;
    bool is_read = pd_inspect_read_check(arena, &field, column, definition, &check);
    if (text == NULL && is_read)
        fail_msg("check %s read, expected it refused", definition);
    if (text != NULL && !is_read)
        fail_msg("check %s refused", definition);
    if (is_read)
    {
        assert_int_equal(check.op, op);
        assert_string_equal(check.value.text, text);
    }
    pd_arena_free(arena);
}

static void
test_checks(void **state)
{
    (void)state;
    reads_check(PD_FIELD_INT, 0, "rating", "CHECK ((rating >= 0))", PD_CHECK_GE, "0");
    reads_check(PD_FIELD_INT, 0, "u", "CHECK ((u < 100))", PD_CHECK_LT, "100");
    reads_check(PD_FIELD_BIGINT, 0, "b", "CHECK ((b > '-1'::integer))", PD_CHECK_GT, "-1");
    reads_check(PD_FIELD_BIGINT, 0, "b", "CHECK ((b < '99999999999'::bigint))", PD_CHECK_LT, "99999999999");
    reads_check(PD_FIELD_DECIMAL, 0, "n", "CHECK ((n > ('-5'::integer)::numeric))", PD_CHECK_GT, "-5");
    reads_check(PD_FIELD_DECIMAL, 0, "w", "CHECK ((w >= (0)::numeric))", PD_CHECK_GE, "0");
    reads_check(PD_FIELD_DECIMAL, 0, "n", "CHECK ((n > '-1.5'::numeric))", PD_CHECK_GT, "-1.5");
    reads_check(PD_FIELD_DECIMAL, 0, "n", "CHECK ((n <> 0.00))", PD_CHECK_NE, "0.00");
    reads_check(PD_FIELD_FLOAT, 0, "f", "CHECK ((f > (2)::double precision))", PD_CHECK_GT, "2");
    reads_check(PD_FIELD_FLOAT, 0, "f", "CHECK ((f > ('-1.5'::numeric)::double precision))", PD_CHECK_GT,
                "-1.5");
    reads_check(PD_FIELD_FLOAT, 0, "x", "CHECK ((x > (0.5)::double precision))", PD_CHECK_GT, "0.5");
    reads_check(PD_FIELD_STRING, 10, "v", "CHECK (((v)::text <> ''::text))", PD_CHECK_NE, "");
    reads_check(PD_FIELD_STRING, 10, "v", "CHECK ((v IS NULL))", PD_CHECK_EQ, "null");
    reads_check(PD_FIELD_STRING, 10, "v", "CHECK ((v IS NOT NULL))", PD_CHECK_NE, "null");
    reads_check(PD_FIELD_TEXT, 0, "t", "CHECK ((t <> 'a''b'::text))", PD_CHECK_NE, "a'b");
    reads_check(PD_FIELD_DATE, 0, "y", "CHECK ((y >= '2020-01-01'::date))", PD_CHECK_GE, "2020-01-01");
    reads_check(PD_FIELD_TIMESTAMPTZ, 0, "z",
                "CHECK ((z > '2020-01-01 00:00:00+00'::timestamp with time zone))", PD_CHECK_GT,
                "2020-01-01 00:00:00+00");
    reads_check(PD_FIELD_DURATION, 0, "i", "CHECK ((i > 'P1D'::interval))", PD_CHECK_GT, "P1D");
    reads_check(PD_FIELD_INT, 0, "order", "CHECK ((\"order\" >= 0))", PD_CHECK_GE, "0");

    reads_check(PD_FIELD_INT, 0, "rating", "CHECK ((rating >= 0)) NOT VALID", PD_CHECK_GE, NULL);
    reads_check(PD_FIELD_INT, 0, "rating", "CHECK ((other >= 0))", PD_CHECK_GE, NULL);
    reads_check(PD_FIELD_INT, 0, "a", "CHECK (((a > 0) AND (a < 9)))", PD_CHECK_GT, NULL);
    reads_check(PD_FIELD_SMALLINT, 0, "s", "CHECK (((s)::numeric > 1.5))", PD_CHECK_GT, NULL);
    reads_check(PD_FIELD_FLOAT, 0, "f", "CHECK ((f > ('1000'::numeric)::double precision))", PD_CHECK_GT,
                NULL);
    reads_check(PD_FIELD_DECIMAL, 0, "n", "CHECK ((n > (2.5)::numeric))", PD_CHECK_GT, NULL);
    reads_check(PD_FIELD_STRING, 10, "v", "CHECK ((length((v)::text) > 0))", PD_CHECK_GT, NULL);
    reads_check(PD_FIELD_STRING, 10, "v",
                "CHECK (((v)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))",
                PD_CHECK_EQ, NULL);
    reads_check(PD_FIELD_BOOL, 0, "b", "CHECK ((b = true))", PD_CHECK_EQ, NULL);
    reads_check(PD_FIELD_INT, 0, "rating", "CHECK ((rating >= 0)) NO INHERIT", PD_CHECK_GE, NULL);
}

static void
test_keys(void **state)
{
    (void)state;
    assert_true(pd_inspect_is_plain_key("PRIMARY KEY (id)", true));
    assert_true(pd_inspect_is_plain_key("UNIQUE (book_id, tag_id)", false));
    assert_true(pd_inspect_is_plain_key("UNIQUE (\"order\")", false));
    assert_false(pd_inspect_is_plain_key("UNIQUE (a)", true));
    assert_false(pd_inspect_is_plain_key("UNIQUE NULLS NOT DISTINCT (a)", false));
    assert_false(pd_inspect_is_plain_key("UNIQUE (a) INCLUDE (b)", false));
    assert_false(pd_inspect_is_plain_key("UNIQUE (a) WITH (fillfactor='70')", false));
    assert_false(pd_inspect_is_plain_key("UNIQUE (a) DEFERRABLE INITIALLY DEFERRED", false));
    assert_false(pd_inspect_is_plain_key("PRIMARY KEY (id) USING INDEX TABLESPACE t", true));
}

static void
reads_foreign_key(const char *definition, bool expected, PdOnDelete expected_on_delete,
                  bool expected_deferrable, const char *reason_part)
{
    PdOnDelete on_delete;
    bool is_deferrable = false;
    const char *reason = NULL;
    bool is_read = pd_inspect_read_foreign_key(definition, &on_delete, &is_deferrable, &reason);
    if (is_read != expected)
        fail_msg("foreign key %s %s", definition, is_read ? "read" : "refused");
    if (is_read)
    {
        assert_int_equal(on_delete, expected_on_delete);
        assert_int_equal(is_deferrable, expected_deferrable);
    }
    else if (reason_part != NULL)
        assert_contains(reason, reason_part);
}

static void
test_foreign_keys(void **state)
{
    (void)state;
    reads_foreign_key("FOREIGN KEY (author_id) REFERENCES shop_author(id) DEFERRABLE INITIALLY DEFERRED",
                      true, PD_ON_DELETE_PROTECT, true, NULL);
    reads_foreign_key("FOREIGN KEY (author_id) REFERENCES author(id) ON DELETE CASCADE", true,
                      PD_ON_DELETE_CASCADE, false, NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) ON DELETE SET NULL", true, PD_ON_DELETE_SET_NULL,
                      false, NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) ON DELETE SET DEFAULT", true,
                      PD_ON_DELETE_SET_DEFAULT, false, NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED",
                      true, PD_ON_DELETE_RESTRICT, true, NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES other.a(id)", true, PD_ON_DELETE_PROTECT, false, NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) ON UPDATE CASCADE", false, 0, false, "ON UPDATE");
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) MATCH FULL", false, 0, false, "MATCH FULL");
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) DEFERRABLE", false, 0, false, "IMMEDIATE");
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) NOT VALID", false, 0, false, "NOT VALID");
    reads_foreign_key("FOREIGN KEY (a_id, b) REFERENCES a(id, b)", false, 0, false, "several columns");
    reads_foreign_key("FOREIGN KEY (a_id, b) REFERENCES a(id, b) ON DELETE SET NULL (a_id)", false, 0, false,
                      NULL);
    reads_foreign_key("FOREIGN KEY (a_id) REFERENCES a(id) ON DELETE SET NULL (a_id)", false, 0, false,
                      "some columns");
}

static void
reads_index(const char *definition, bool expected, const char *reason_part)
{
    PdArena *arena = pd_arena_new(0);
    InspectIndexShape shape;
    const char *reason = NULL;
    bool is_read = pd_inspect_read_index(arena, definition, &shape, &reason);
    if (is_read != expected)
        fail_msg("index %s %s (%s)", definition, is_read ? "read" : "refused", reason != NULL ? reason : "");
    if (!is_read && reason_part != NULL)
        assert_contains(reason, reason_part);
    pd_arena_free(arena);
}

static void
test_indexes(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    InspectIndexShape shape;
    const char *reason;
    assert_true(pd_inspect_read_index(arena,
                                      "CREATE INDEX shop_book_title_7e2d9a41_like ON public.shop_book USING "
                                      "btree (title varchar_pattern_ops)",
                                      &shape, &reason));
    assert_false(shape.is_unique);
    assert_int_equal(shape.column_count, 1);
    assert_string_equal(shape.columns[0], "title");
    assert_string_equal(shape.opclasses[0], "varchar_pattern_ops");
    assert_true(pd_inspect_read_index(
        arena, "CREATE UNIQUE INDEX \"Odd\" ON public.t USING btree (\"Order\", b)", &shape, &reason));
    assert_true(shape.is_unique);
    assert_int_equal(shape.column_count, 2);
    assert_string_equal(shape.columns[0], "Order");
    assert_null(shape.opclasses[0]);
    assert_string_equal(shape.columns[1], "b");
    pd_arena_free(arena);

    reads_index("CREATE INDEX i ON public.t USING btree (a) WHERE (a > 0)", true, NULL);
    reads_index("CREATE INDEX i ON public.t USING btree (lower((a)::text))", true, NULL);
    reads_index("CREATE INDEX i ON public.t USING btree (upper(a) text_pattern_ops)", true, NULL);
    reads_index("CREATE INDEX i ON public.t USING btree (lower((a)::character varying))", false,
                "expression");
    reads_index("CREATE INDEX i ON public.t USING btree (length(a))", false, "expression");
    reads_index("CREATE INDEX i ON public.t USING btree (((a + b)))", false, "expression");
    reads_index("CREATE INDEX i ON public.t USING btree (a DESC)", false, "DESC");
    reads_index("CREATE INDEX i ON public.t USING btree (a NULLS FIRST)", false, "NULLS");
    reads_index("CREATE INDEX i ON public.t USING btree (a COLLATE \"C\")", false, "COLLATE");
    reads_index("CREATE INDEX i ON public.t USING btree (a) INCLUDE (b)", false, "INCLUDE");
    reads_index("CREATE INDEX i ON public.t USING btree (a) WITH (fillfactor='70')", false, "WITH");
    reads_index("CREATE UNIQUE INDEX i ON public.t USING btree (a) NULLS NOT DISTINCT", false, "NULLS NOT");
    reads_index("CREATE INDEX i ON public.t USING gin (a)", true, NULL); /* an array field's index */
    reads_index("CREATE UNIQUE INDEX i ON public.t USING gin (a)", false, "btree");
    reads_index("CREATE INDEX i ON public.t USING hash (a)", false, "btree");
    reads_index("CREATE INDEX i ON ONLY public.t USING btree (a)", false, "partitioned");
    reads_index("CREATE INDEX i ON public.t USING btree (a public.my_ops)", false, "operator class");
}

static void
test_index_functions(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    InspectIndexShape shape;
    const char *reason;
    assert_true(pd_inspect_read_index(arena,
                                      "CREATE UNIQUE INDEX i ON public.t USING btree (lower((email)::text) "
                                      "varchar_pattern_ops, b) WHERE ((active) AND (b IS NOT NULL))",
                                      &shape, &reason));
    assert_int_equal(shape.column_count, 2);
    assert_string_equal(shape.columns[0], "email");
    assert_string_equal(shape.functions[0], "lower");
    assert_string_equal(shape.opclasses[0], "varchar_pattern_ops");
    assert_null(shape.functions[1]);
    assert_string_equal(shape.where, "((active) AND (b IS NOT NULL))");
    pd_arena_free(arena);
}

static void
reads_condition(const char *sql, const char *expected)
{
    PdArena *arena = pd_arena_new(0);
    const char *text = NULL;
    bool is_read = pd_inspect_read_condition(arena, sql, &text);
    if (expected == NULL)
        assert_false(is_read);
    else
    {
        assert_true(is_read);
        assert_string_equal(text, expected);
    }
    pd_arena_free(arena);
}

static void
test_conditions(void **state)
{
    (void)state;
    reads_condition("((ends > starts) OR (ends IS NULL))", "ends > starts or ends is null");
    reads_condition("((score >= (0)::numeric) AND (score <= (10)::numeric))", "score >= 0 and score <= 10");
    reads_condition("((status)::text = 'draft'::text)", "status = \"draft\"");
    reads_condition("(price > '-1.5'::numeric)", "price > -1.5");
    reads_condition("(NOT ((slug)::text <> 'a \"b\" ''c'''::text))", "not slug != \"a \\\"b\\\" 'c'\"");
    reads_condition("((a OR b) AND (NOT c))", "(a or b) and not c");
    reads_condition("(starts < '2024-01-02 08:00:00+00'::timestamp with time zone)",
                    "starts < \"2024-01-02 08:00:00+00\"");
    reads_condition("active", "active");
    reads_condition("(x > (0)::numeric(10,2))", "x > 0");
    reads_condition("(\"order\" > 0)", "order > 0");
    reads_condition("(\"Order\" > 0)", NULL);
    reads_condition("(length((title)::text) > 2)", NULL);
    reads_condition("((a + b) > 2)", NULL);
    reads_condition("((a)::text ~~ 'x%'::text)", NULL);
    reads_condition("(a = ANY (ARRAY[1, 2]))", NULL);
}

static void
test_auto_now(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char **columns;
    size_t count;
    assert_true(pd_inspect_read_auto_now(arena,
                                         "CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.note FOR "
                                         "EACH ROW EXECUTE FUNCTION prodata_auto_now('updated', 'it''s')",
                                         &columns, &count));
    assert_int_equal(count, 2);
    assert_string_equal(columns[0], "updated");
    assert_string_equal(columns[1], "it's");
    assert_true(pd_inspect_read_auto_now(arena,
                                         "CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON app.note FOR EACH "
                                         "ROW EXECUTE FUNCTION public.prodata_auto_now('updated')",
                                         &columns, &count));
    assert_false(pd_inspect_read_auto_now(arena,
                                          "CREATE TRIGGER prodata_auto_now AFTER UPDATE ON public.note FOR "
                                          "EACH ROW EXECUTE FUNCTION prodata_auto_now('updated')",
                                          &columns, &count));
    assert_false(pd_inspect_read_auto_now(arena,
                                          "CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.note FOR "
                                          "EACH ROW EXECUTE FUNCTION prodata_auto_now()",
                                          &columns, &count));
    assert_false(pd_inspect_read_auto_now(arena,
                                          "CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.note FOR "
                                          "EACH ROW EXECUTE FUNCTION other('updated')",
                                          &columns, &count));
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_column_types),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_checks),          cmocka_unit_test(test_keys),
        cmocka_unit_test(test_foreign_keys),    cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_index_functions), cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_auto_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

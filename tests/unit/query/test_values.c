/*
 * test_values.c - reading a JSON body into PdValues and judging it, without a
 * database: per kind, what DRF's ModelSerializer field accepts (and the text
 * sent to PostgreSQL for it), and the exact message DRF gives for what it
 * refuses; required fields by mode; unknown names, malformed JSON and a body
 * that is not an object. Reals keep their shortest round-trip digits (Python's
 * repr), in a json field too. A NUL in a string is refused per field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query/values.h"
#include "testing.h"

static const char *models_text = "model Author {\n"
                                 "  name  string(50)\n"
                                 "}\n"
                                 "model Tag {\n"
                                 "  name  slug(40)  unique\n"
                                 "}\n"
                                 "model Sample {\n"
                                 "  small   smallint      null\n"
                                 "  whole   int           null\n"
                                 "  big     bigint        null\n"
                                 "  flag    bool          null\n"
                                 "  ratio   float         null\n"
                                 "  price   decimal(8,2)  null  check(>= 0)\n"
                                 "  rating  smallint      null  check(>= 1)  check(<= 5)\n"
                                 "  day     date          null\n"
                                 "  clock   time          null\n"
                                 "  stamp   timestamptz   null\n"
                                 "  span    duration      null\n"
                                 "  ident   uuid          null\n"
                                 "  doc     json          null\n"
                                 "  blob    binary        null\n"
                                 "  label   string(5)\n"
                                 "  body    text          default=\"\"\n"
                                 "  mail    email         null\n"
                                 "  site    url           null\n"
                                 "  handle  slug          null\n"
                                 "  status  string(16)    choices(draft, published)  default=\"draft\"\n"
                                 "  owner   Author        null\n"
                                 "  tags    Tag[]\n"
                                 "}\n"
                                 "model Host {\n"
                                 "  scores  int[]  null\n"
                                 "  prices  decimal(6,2)[]  null\n"
                                 "  names   string(3)[]  null\n"
                                 "  addr    inet  null\n"
                                 "  net     cidr  null\n"
                                 "}\n";

static PdArena *arena;
static const PdModel *sample;

static const PdModel *host;

static int
setup(void **state)
{
    (void)state;
    arena = pd_arena_new(0);
    PdCatalog *catalog = testing_parse(arena, models_text);
    sample = pd_model_find(catalog, "Sample");
    host = pd_model_find(catalog, "Host");
    return sample != NULL && host != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    return testing_free_arena(&arena);
}

/* {"<field>": <json>} read and judged as PATCH; messages joined with " | ", or "=<param text>" when valid. */
static const char *
judge(const char *field, const char *json)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"%s\": %s}", field, json);
    PdValues *values = pd_values_new(arena, sample);
    PdError err = {0};
    if (!pd_values_from_json(values, body, strlen(body), &err))
        return pd_arena_sprintf(arena, "read: %s", err.message);
    PdValueParam *params = NULL;
    if (pd_query_values_params(arena, values, PD_VALIDATE_PARTIAL, &params, &err))
    {
        const PdValueParam *param = &params[pd_query_field_index(sample, pd_model_find_field(sample, field))];
        return pd_arena_sprintf(arena, "=%s", param->text != NULL ? param->text : "NULL");
    }
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; i < err.problem_count; i++)
    {
        assert_string_equal(err.problems[i].field, field);
        pd_strbuf_appendf(&out, "%s%s", i > 0 ? " | " : "", err.problems[i].message);
    }
    return pd_strbuf_text(&out);
}

typedef struct Case
{
    const char *field;
    const char *json;
    const char *expected;
} Case;

static void
run_cases(const Case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
    {
        const char *got = judge(cases[i].field, cases[i].json);
        if (strcmp(got, cases[i].expected) != 0)
            fail_msg("%s = %s:\n  expected %s\n  got      %s", cases[i].field, cases[i].json,
                     cases[i].expected, got);
    }
}

static void
test_integers(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"small", "40000", "Ensure this value is less than or equal to 32767."},
        {"small", "-40000", "Ensure this value is greater than or equal to -32768."},
        {"small", "\" 12 \"", "=12"},
        {"whole", "\"12.0\"", "=12"},
        {"whole", "12.0", "=12"},
        {"whole", "1.5", "A valid integer is required."},
        {"whole", "true", "A valid integer is required."},
        {"whole", "\"abc\"", "A valid integer is required."},
        {"whole", "[1]", "A valid integer is required."},
        {"big", "9223372036854775807", "=9223372036854775807"},
        {"big", "\"99999999999999999999\"",
         "Ensure this value is less than or equal to 9223372036854775807."},
        {"rating", "0", "Ensure this value is greater than or equal to 1."},
        {"rating", "6", "Ensure this value is less than or equal to 5."},
        {"rating", "5", "=5"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_numbers(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"price", "\"123456.789\"", "Ensure that there are no more than 8 digits in total."},
        {"price", "\"12.345\"", "Ensure that there are no more than 2 decimal places."},
        {"price", "\"1234567.8\"", "Ensure that there are no more than 6 digits before the decimal point."},
        {"price", "0.1", "=0.1"},
        {"price", "12.5", "=12.5"},
        {"price", "\"0012.50\"", "=0012.50"},
        {"price", "\"1e3\"", "=1e3"},
        {"price", "\"abc\"", "A valid number is required."},
        {"price", "\"NaN\"", "A valid number is required."},
        {"price", "true", "A valid number is required."},
        {"price", "-1", "Ensure this value is greater than or equal to 0."},
        {"ratio", "\"2.5\"", "=2.5"},
        {"ratio", "\"1e400\"", "A valid number is required."},
        {"ratio", "\"ten\"", "A valid number is required."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_booleans_and_times(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"flag", "\"yes\"", "=true"},
        {"flag", "0", "=false"},
        {"flag", "\"maybe\"", "Must be a valid boolean."},
        {"flag", "2", "Must be a valid boolean."},
        {"day", "\"2024-02-29\"", "=2024-02-29"},
        {"day", "\"2023-02-29\"", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."},
        {"day", "20240101", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."},
        {"clock", "\"25:00\"",
         "Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]]."},
        {"clock", "\"10:30\"", "=10:30"},
        {"stamp", "\"2024-01-01\"",
         "Datetime has wrong format. Use one of these formats instead: "
         "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."},
        {"stamp", "\"2024-01-01T10:00\"", "=2024-01-01T10:00+00:00"},
        {"stamp", "\"2024-01-01T10:00:00-02:00\"", "=2024-01-01T10:00:00-02:00"},
        /* Python's years are 1 to 9999 once in UTC (DRF's enforce_timezone) */
        {"stamp", "\"9999-12-31T23:59:59.999999Z\"", "=9999-12-31T23:59:59.999999Z"},
        {"stamp", "\"9999-12-31T20:00:00-03:59\"", "=9999-12-31T20:00:00-03:59"},
        {"stamp", "\"9999-12-31T20:00:00-04:00\"", "Datetime value out of range."},
        {"stamp", "\"9999-12-31 23:00-01\"", "Datetime value out of range."},
        {"stamp", "\"9999-12-31T23:00:00+01:00\"", "=9999-12-31T23:00:00+01:00"},
        {"stamp", "\"0001-01-01T00:30:00+00:30\"", "=0001-01-01T00:30:00+00:30"},
        {"stamp", "\"0001-01-01T00:30:00+00:31\"", "Datetime value out of range."},
        {"stamp", "\"0001-01-01T00:00:00-01:00\"", "=0001-01-01T00:00:00-01:00"},
        {"span", "\"3 01:02:03\"", "=3 01:02:03"},
        {"span", "90", "=90 seconds"},
        {"span", "\"soon\"",
         "Duration has wrong format. Use one of these formats instead: "
         "[DD] [HH:[MM:]]ss[.uuuuuu]."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_text_kinds(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"label", "\"toolong\"", "Ensure this field has no more than 5 characters."},
        {"label", "\"  hi  \"", "=hi"},
        {"label", "\"ÅÅÅÅÅ\"", "=ÅÅÅÅÅ"},
        {"label", "\"\"", "This field may not be blank."},
        {"label", "\"   \"", "This field may not be blank."},
        {"label", "12", "=12"},
        {"label", "true", "Not a valid string."},
        {"label", "{\"a\": 1}", "Not a valid string."},
        {"label", "null", "This field may not be null."},
        {"body", "\"\"", "="},
        {"mail", "\"nope\"", "Enter a valid email address."},
        {"mail", "\"ann@example.com\"", "=ann@example.com"},
        {"site", "\"ftp:/x\"", "Enter a valid URL."},
        {"handle", "\"a b\"",
         "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."},
        {"status", "\"lost\"", "\"lost\" is not a valid choice."},
        {"status", "\"published\"", "=published"},
        {"ident", "\"not-a-uuid\"", "Must be a valid UUID."},
        {"ident", "\"123e4567-e89b-12d3-a456-426614174000\"", "=123e4567-e89b-12d3-a456-426614174000"},
        {"doc", "{\"a\": [1, \"x\"]}", "={\"a\":[1,\"x\"]}"},
        {"doc", "\"text\"", "=\"text\""},
        {"doc", "null", "=NULL"},
        {"blob", "\"aGk=\"", "=aGk="},
        {"blob", "\"!!\"", "Incorrect format. Expected a base64 string."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A Host body read as a PATCH: "=<param text>", or each problem as "<field>: <message>" joined with " | ". */
static const char *
judge_host(const char *body)
{
    PdValues *values = pd_values_new(arena, host);
    PdError err = {0};
    if (!pd_values_from_json(values, body, strlen(body), &err))
        return pd_arena_sprintf(arena, "read: %s", err.message);
    PdValueParam *params = NULL;
    if (pd_query_values_params(arena, values, PD_VALIDATE_PARTIAL, &params, &err))
    {
        for (size_t i = 0; i < host->field_count; i++)
            if (params[i].is_set)
                return pd_arena_sprintf(arena, "=%s", params[i].text != NULL ? params[i].text : "NULL");
        return "=";
    }
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; i < err.problem_count; i++)
        pd_strbuf_appendf(&out, "%s%s: %s", i > 0 ? " | " : "", err.problems[i].field,
                          err.problems[i].message);
    return pd_strbuf_text(&out);
}

/* Array fields as DRF's ListField: elements read by the element kind, each problem under its index; inet and
 * cidr as DRF's IPAddressField. */
static void
test_arrays_and_addresses(void **state)
{
    (void)state;
    static const struct
    {
        const char *body, *expected;
    } cases[] = {
        {"{\"scores\": [3, \"1\", 2]}", "={\"3\",\"1\",\"2\"}"},
        {"{\"scores\": []}", "={}"},
        {"{\"scores\": null}", "=NULL"},
        {"{\"scores\": 5}", "scores: Expected a list of items but got type \"int\"."},
        {"{\"scores\": [1, \"x\", null]}",
         "scores.1: A valid integer is required. | scores.2: This field may not be null."},
        {"{\"scores\": [[1]]}", "scores.0: A valid integer is required."},
        {"{\"prices\": [\"1.5\", 2]}", "={\"1.5\",\"2\"}"},
        {"{\"prices\": [\"1.555\"]}", "prices.0: Ensure that there are no more than 2 decimal places."},
        {"{\"names\": [\"a\\\"b\", \"c,d\"]}", "={\"a\\\"b\",\"c,d\"}"},
        {"{\"names\": [\"abcd\"]}", "names.0: Ensure this field has no more than 3 characters."},
        {"{\"addr\": \"192.168.1.5/24\"}", "=192.168.1.5/24"},
        {"{\"addr\": \"2001:db8::1\"}", "=2001:db8::1"},
        {"{\"addr\": \"1.2.3\"}", "addr: Enter a valid IPv4 or IPv6 address."},
        {"{\"addr\": \"1.2.3.4/33\"}", "addr: Enter a valid IPv4 or IPv6 address."},
        {"{\"net\": \"10.0.0.0/8\"}", "=10.0.0.0/8"},
        {"{\"net\": \"10.0.0.1/8\"}", "net: Enter a valid IPv4 or IPv6 network, such as 10.0.0.0/8, with no "
                                      "bits set right of the prefix."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        const char *got = judge_host(cases[i].body);
        if (strcmp(got, cases[i].expected) != 0)
            fail_msg("%s:\n  expected %s\n  got      %s", cases[i].body, cases[i].expected, got);
    }
}

static void
test_relations(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"owner", "7", "=7"},
        {"owner", "\"7\"", "=7"},
        {"owner", "\"abc\"", "Incorrect type. Expected pk value, received str."},
        {"owner", "1.5", "Incorrect type. Expected pk value, received float."},
        {"owner", "[1]", "Incorrect type. Expected pk value, received list."},
        {"owner", "true", "Incorrect type. Expected pk value, received bool."},
        {"owner", "\"99999999999999999999\"", "Invalid pk \"99999999999999999999\" - object does not exist."},
        {"owner", "null", "=NULL"},
        {"tags", "[1, \"2\"]", "={\"1\",\"2\"}"},
        {"tags", "[]", "={}"},
        {"tags", "\"1\"", "Expected a list of items but got type \"str\"."},
        {"tags", "{\"a\": 1}", "Expected a list of items but got type \"dict\"."},
        {"tags", "[true]", "Incorrect type. Expected pk value, received bool."},
        {"tags", "null", "This field may not be null."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* NaN and infinities are refused as DRF's FloatField and DecimalField refuse them; a float out of range
 * towards zero is 0, as Python's float() reads it (PostgreSQL would refuse the text). */
static void
test_non_finite(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"ratio", "\"nan\"", "A valid number is required."},
        {"ratio", "\"NaN\"", "A valid number is required."},
        {"ratio", "\" nan \"", "A valid number is required."},
        {"ratio", "\"inf\"", "A valid number is required."},
        {"ratio", "\"-inf\"", "A valid number is required."},
        {"ratio", "\"+Infinity\"", "A valid number is required."},
        {"ratio", "\"-1e400\"", "A valid number is required."},
        {"ratio", "\"1e-400\"", "=0.0"},
        {"ratio", "\"0.1\"", "=0.1"},
        {"ratio", "0.1", "=0.1"},
        {"ratio", "\" 1.50 \"", "=1.5"},
        {"ratio", "7", "=7.0"},
        {"price", "\"inf\"", "A valid number is required."},
        {"price", "\"-Infinity\"", "A valid number is required."},
        {"price", "\"sNaN\"", "A valid number is required."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A json field's text keeps every real as its shortest round-trip form and integers as integers. */
static void
test_json_reals(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"doc", "{\"a\": 0.1, \"c\": 3.14159, \"d\": 1e-7}", "={\"a\":0.1,\"c\":3.14159,\"d\":1e-07}"},
        {"doc", "[1, 5.0, -0.0, 1e300, 2.5e-324, 0.30000000000000004, 9223372036854775807]",
         "=[1,5.0,-0.0,1e+300,5e-324,0.30000000000000004,9223372036854775807]"},
        {"doc", "{\"s\": \"q\\\"b\\\\c\\n\\u0001\\u00e9/\", \"n\": {\"t\": true, \"f\": false, \"z\": null}}",
         "={\"s\":\"q\\\"b\\\\c\\n\\u0001\u00e9/\",\"n\":{\"t\":true,\"f\":false,\"z\":null}}"},
        {"doc", "{\"a\\u0001\": []}", "={\"a\\u0001\":[]}"},
        {"doc", "0.1", "=0.1"},
        {"doc", "\"0.1\"", "=\"0.1\""},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* What Python's uuid.UUID reads (DRF's UUIDField), written in PostgreSQL's canonical form. */
static void
test_uuids(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"ident", "\"22222222222222222222222222222222\"", "=22222222-2222-2222-2222-222222222222"},
        {"ident", "\"123E4567-E89B-12D3-A456-426614174000\"", "=123e4567-e89b-12d3-a456-426614174000"},
        {"ident", "\"{123e4567-e89b-12d3-a456-426614174000}\"", "=123e4567-e89b-12d3-a456-426614174000"},
        {"ident", "\"urn:uuid:123e4567-e89b-12d3-a456-426614174000\"",
         "=123e4567-e89b-12d3-a456-426614174000"},
        {"ident", "\"urn:uuid:{123E4567E89B12D3A456426614174000}\"", "=123e4567-e89b-12d3-a456-426614174000"},
        {"ident", "\"1234-5678-9abc-def0-1234-5678-9abc-def0\"", "=12345678-9abc-def0-1234-56789abcdef0"},
        {"ident", "5", "=00000000-0000-0000-0000-000000000005"},
        {"ident", "9223372036854775807", "=00000000-0000-0000-7fff-ffffffffffff"},
        {"ident", "\"2222222222222222222222222222222\"", "Must be a valid UUID."},
        {"ident", "\"222222222222222222222222222222222\"", "Must be a valid UUID."},
        {"ident", "\"g2222222222222222222222222222222\"", "Must be a valid UUID."},
        {"ident", "\"URN:UUID:22222222222222222222222222222222\"", "Must be a valid UUID."},
        {"ident", "\" 22222222222222222222222222222222\"", "Must be a valid UUID."},
        {"ident", "\"\"", "Must be a valid UUID."},
        {"ident", "-1", "Must be a valid UUID."},
        {"ident", "1.0", "Must be a valid UUID."},
        {"ident", "true", "Must be a valid UUID."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Seven to nine digits of a second's fraction are cut to microseconds, not rounded (Django's parse_time
 * and parse_datetime). */
static void
test_fractions(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"clock", "\"13:45:00.123456789\"", "=13:45:00.123456"},
        {"clock", "\"13:45:00.9999999\"", "=13:45:00.999999"},
        {"clock", "\"13:45:00.1234567890\"",
         "Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]]."},
        {"stamp", "\"2024-05-06T13:45:00.123456789Z\"", "=2024-05-06T13:45:00.123456Z"},
        {"stamp", "\"2024-05-06 13:45:00.999999999+02:00\"", "=2024-05-06 13:45:00.999999+02:00"},
        {"stamp", "\"2024-05-06T13:45:00.1234567\"", "=2024-05-06T13:45:00.123456+00:00"},
        {"stamp", "\"9999-12-31T23:59:59.999999999Z\"", "=9999-12-31T23:59:59.999999Z"},
        {"stamp", "\"2024-05-06T13:45:00.1234567890Z\"",
         "Datetime has wrong format. Use one of these formats instead: "
         "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A NUL in a string (JSON's \u0000) is read whole, never cut there: a text field refuses it in DRF's words
 * (after the length, before the form: its validators' order), any other field cannot read it and gives its
 * usual message, and a json field refuses it because PostgreSQL's jsonb cannot store it. */
static void
test_nuls(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"label", "\"a\\u0000b\"", "Null characters are not allowed."},
        {"label", "\"\\u0000\"", "Null characters are not allowed."}, /* not blank: str.strip() keeps it */
        {"label", "\" \\u0000 \"", "Null characters are not allowed."},
        {"label", "\"abcde\\u0000\"",
         "Ensure this field has no more than 5 characters. | Null characters are not allowed."},
        {"label", "\"ab\\u0000\"", "Null characters are not allowed."},
        {"body", "\"x\\u0000\"", "Null characters are not allowed."},
        {"mail", "\"ann@example.com\\u0000\"",
         "Null characters are not allowed. | Enter a valid email address."},
        {"site", "\"https://example.com/\\u0000\"", "Null characters are not allowed. | Enter a valid URL."},
        {"handle", "\"a\\u0000b\"",
         "Null characters are not allowed. | Enter a valid \"slug\" consisting of letters, numbers, "
         "underscores or hyphens."},
        {"status", "\"draft\\u0000\"", "\"draft\\u0000\" is not a valid choice."},
        {"whole", "\"12\\u0000\"", "A valid integer is required."},
        {"ratio", "\"1.5\\u0000\"", "A valid number is required."},
        {"price", "\"1.5\\u0000\"", "A valid number is required."},
        {"flag", "\"true\\u0000\"", "Must be a valid boolean."},
        {"day", "\"2024-01-01\\u0000\"",
         "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."},
        {"clock", "\"10:30\\u0000\"",
         "Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]]."},
        {"stamp", "\"2024-01-01T10:00Z\\u0000\"",
         "Datetime has wrong format. Use one of these formats instead: "
         "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."},
        {"span", "\"90\\u0000\"",
         "Duration has wrong format. Use one of these formats instead: [DD] [HH:[MM:]]ss[.uuuuuu]."},
        {"ident", "\"22222222222222222222222222222222\\u0000\"", "Must be a valid UUID."},
        {"blob", "\"aGk=\\u0000\"", "Incorrect format. Expected a base64 string."},
        {"owner", "\"7\\u0000\"", "Incorrect type. Expected pk value, received str."},
        {"owner", "\"99999999999999999999\\u0000\"", "Incorrect type. Expected pk value, received str."},
        {"tags", "[1, \"2\\u0000\"]", "Incorrect type. Expected pk value, received str."},
        {"doc", "{\"a\": [\"x\\u0000\"]}",
         "Null characters are not allowed: PostgreSQL's jsonb cannot store \\u0000."},
        {"doc", "\"\\u0000\"", "Null characters are not allowed: PostgreSQL's jsonb cannot store \\u0000."},
        /* a backslash followed by u0000 is six characters, no NUL */
        {"doc", "{\"a\": \"\\\\u0000\"}", "={\"a\":\"\\\\u0000\"}"},
        {"label", "\"\\\\u0000\"", "Ensure this field has no more than 5 characters."},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
    /* json text given from C is judged the same way */
    PdValues *values = pd_values_new(arena, sample);
    PdError err = {0};
    assert_true(pd_values_set_text(values, "doc", "{\"a\": \"x\\u0000\"}", &err));
    assert_false(pd_values_validate(values, PD_VALIDATE_PARTIAL, &err));
    assert_string_equal(err.problems[0].field, "doc");
    assert_string_equal(err.problems[0].message,
                        "Null characters are not allowed: PostgreSQL's jsonb cannot store \\u0000.");
    /* jansson reads no NUL in a name: a parse error, as before */
    PdError name = {0};
    assert_false(pd_values_from_json(values, "{\"a\\u0000\": 1}", 14, &name));
    assert_contains(name.problems[0].message, "JSON parse error - ");
}

static void
test_required_by_mode(void **state)
{
    (void)state;
    PdValues *values = pd_values_new(arena, sample);
    PdError err = {0};
    const char *with_id = "{\"id\": 5, \"small\": 1}"; /* id: read-only, ignored */
    assert_true(pd_values_from_json(values, with_id, strlen(with_id), &err));
    assert_false(pd_values_has(values, "id"));
    assert_true(pd_values_validate(values, PD_VALIDATE_PARTIAL, &err));
    assert_false(pd_values_validate(values, PD_VALIDATE_CREATE, &err));
    assert_int_equal(err.problem_count, 1);
    assert_string_equal(err.problems[0].field, "label");
    assert_string_equal(err.problems[0].message, "This field is required.");
    PdError replace = {0};
    assert_false(pd_values_validate(values, PD_VALIDATE_REPLACE, &replace));
    assert_string_equal(replace.problems[0].field, "label");
    /* every problem of the object, in field order */
    PdValues *bad = pd_values_new(arena, sample);
    PdError all = {0};
    const char *body = "{\"status\": \"x\", \"small\": \"a\", \"mail\": \"no\"}";
    assert_true(pd_values_from_json(bad, body, strlen(body), &all));
    assert_false(pd_values_validate(bad, PD_VALIDATE_CREATE, &all));
    assert_int_equal(all.problem_count, 4);
    assert_string_equal(all.problems[0].field, "small");
    assert_string_equal(all.problems[1].field, "label");
    assert_string_equal(all.problems[2].field, "mail");
    assert_string_equal(all.problems[3].field, "status");
}

static void
test_structure(void **state)
{
    (void)state;
    PdValues *values = pd_values_new(arena, sample);
    PdError err = {0};
    assert_false(pd_values_from_json(values, "{\"small\": 1,", 12, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.problems[0].field, "");
    assert_contains(err.problems[0].message, "JSON parse error - ");
    assert_contains(err.problems[0].message, "at line 1 column");
    PdError list = {0};
    assert_false(pd_values_from_json(values, "[1]", 3, &list));
    assert_string_equal(list.problems[0].field, "non_field_errors");
    assert_string_equal(list.problems[0].message, "Invalid data. Expected a dictionary, but got list.");
    PdError unknown = {0};
    assert_false(pd_values_from_json(values, "{\"smal\": 1}", 11, &unknown));
    assert_string_equal(unknown.problems[0].field, "smal");
    assert_contains(unknown.problems[0].message, "Unknown field \"smal\". Fields: small, whole, big,");
    PdError set = {0};
    assert_false(pd_values_set_text(values, "nope", "1", &set));
    assert_string_equal(set.field, "nope");
    PdError keys = {0};
    PdLiteral key = {PD_LITERAL_NUMBER, "1"};
    assert_false(pd_values_set_keys(values, "small", &key, 1, &keys));
    assert_true(pd_values_set_keys(values, "tags", &key, 1, &keys));
    assert_true(pd_values_has(values, "tags"));
}

/* Fields no program writes directly: a generated one, a many-to-many through a model; and literals a
 * program built wrong: each refused with an input error, not taken for an allocation failure. */
static void
test_fields_not_written(void **state)
{
    (void)state;
    PdArena *local = pd_arena_new(0);
    PdCatalog *catalog = testing_parse(local, "model Person {\n  name string(20)\n"
                                              "  shout text generated(upper(name))\n}\n"
                                              "model Club {\n  members Person[] through=Membership\n}\n"
                                              "model Membership {\n  person Person\n  club Club\n}\n");
    PdValues *person = pd_values_new(local, pd_model_find(catalog, "Person"));
    PdValues *club = pd_values_new(local, pd_model_find(catalog, "Club"));
    PdError err;
    pd_error_init(&err);
    assert_false(pd_values_set_text(person, "shout", "X", &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_non_null(strstr(err.message, "is generated"));
    PdLiteral one = {PD_LITERAL_NUMBER, "1"};
    pd_error_init(&err);
    assert_false(pd_values_set_keys(club, "members", &one, 1, &err));
    assert_non_null(strstr(err.message, "written through its model Membership"));
    PdLiteral broken = {PD_LITERAL_STRING, NULL};
    pd_error_init(&err);
    assert_false(pd_values_set(person, "name", broken, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    PdValues *host_values = pd_values_new(local, host);
    pd_error_init(&err);
    assert_false(pd_values_set_keys(host_values, "scores", &broken, 1, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    pd_arena_free(local);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_booleans_and_times),
        cmocka_unit_test(test_text_kinds),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_required_by_mode),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_json_reals),
        cmocka_unit_test(test_uuids),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_nuls),
        cmocka_unit_test(test_arrays_and_addresses),
        cmocka_unit_test(test_fields_not_written),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

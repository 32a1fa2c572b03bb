/*
 * test_metrics.c - the /metrics counters: every rendering is read back by a
 * strict parser of Prometheus' text format (0.0.4) written here (names,
 * label syntax and escapes, HELP/TYPE before a family's samples, no sample
 * twice, histogram buckets increasing and cumulative up to +Inf = _count),
 * then values are checked: counts per series, which bucket an observation
 * falls in at the edges, exact sums, escaping of label values, methods and
 * statuses normalised, the bound on series, pool gauges, and exact totals
 * from many threads observing while another renders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>

#include "http/metrics.h"
#include "testing.h"

/* ---- a strict reader of the exposition format ---------------------------------------------------------- */

typedef struct Family
{
    char name[128];
    char type[16];
    bool has_help;
} Family;

typedef struct Reader
{
    Family families[64];
    size_t family_count;
    char seen[4096][256]; /* every sample's name{labels}, to refuse duplicates */
    size_t seen_count;
    /* the histogram being read: its label set without le, last le and last cumulative count */
    char hist_key[256];
    double hist_le;
    double hist_cumulative;
    bool hist_open;
} Reader;

static bool
is_name_char(char c, bool first, bool allow_colon)
{
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (allow_colon && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Reads a metric or label name at *p; its length, 0 when none. */
static size_t
read_name(const char *p, bool allow_colon)
{
    size_t n = 0;
    while (p[n] != '\0' && is_name_char(p[n], n == 0, allow_colon))
        n++;
    return n;
}

static Family *
find_family(Reader *reader, const char *name, size_t length)
{
    for (size_t i = 0; i < reader->family_count; i++)
    {
        if (strlen(reader->families[i].name) == length &&
            strncmp(reader->families[i].name, name, length) == 0)
            return &reader->families[i];
    }
    return NULL;
}

static double
read_value(const char *text)
{
    if (strcmp(text, "+Inf") == 0)
        return INFINITY;
    if (strcmp(text, "-Inf") == 0)
        return -INFINITY;
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0')
        fail_msg("sample value \"%s\" is not a number", text);
    return value;
}

static void
read_comment(Reader *reader, const char *line)
{
    bool is_type = strncmp(line, "# TYPE ", 7) == 0;
    if (!is_type && strncmp(line, "# HELP ", 7) != 0)
        return; /* a plain comment */
    const char *name = line + 7;
    size_t length = read_name(name, true);
    if (length == 0 || name[length] != ' ')
        fail_msg("bad metric name in \"%s\"", line);
    Family *family = find_family(reader, name, length);
    if (family == NULL)
    {
        assert_true(reader->family_count < 64);
        family = &reader->families[reader->family_count++];
        memcpy(family->name, name, length);
        family->name[length] = '\0';
    }
    const char *rest = name + length + 1;
    if (is_type)
    {
        if (family->type[0] != '\0')
            fail_msg("second TYPE for %s", family->name);
        if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram"))
            fail_msg("unknown type in \"%s\"", line);
        snprintf(family->type, sizeof(family->type), "%s", rest);
        if (strcmp(rest, "counter") == 0 && strstr(family->name, "_total") == NULL)
            fail_msg("counter %s does not end in _total", family->name);
    }
    else
    {
        if (family->has_help)
            fail_msg("second HELP for %s", family->name);
        family->has_help = true;
        for (const char *p = rest; *p != '\0'; p++) /* in HELP only \\ and \n are escapes */
            if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                fail_msg("bad escape in HELP \"%s\"", line);
    }
}

/* Reads {name="value",...}; writes the label set without le to key (for histograms), le to *le. */
static const char *
read_labels(const char *p, char *key, size_t key_size, char *le, size_t le_size)
{
    size_t key_length = 0;
    le[0] = '\0';
    assert_int_equal(*p, '{');
    p++;
    while (*p != '}')
    {
        size_t length = read_name(p, false);
        if (length == 0 || p[length] != '=' || p[length + 1] != '"')
            fail_msg("bad label at \"%s\"", p);
        bool is_le = length == 2 && strncmp(p, "le", 2) == 0;
        const char *name = p;
        p += length + 2;
        char value[256];
        size_t n = 0;
        for (; *p != '"'; p++)
        {
            if (*p == '\0' || *p == '\n')
                fail_msg("unterminated label value");
            if (*p == '\\')
            {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    fail_msg("bad escape \\%c in a label value", *p);
            }
            assert_true(n < sizeof(value) - 1);
            value[n++] = *p;
        }
        value[n] = '\0';
        p++;
        if (is_le)
            assert_true((size_t)snprintf(le, le_size, "%s", value) < le_size);
        else
            key_length += (size_t)snprintf(key + key_length, key_size - key_length, "%.*s=%s;", (int)length,
                                           name, value);
        assert_true(key_length < key_size);
        if (*p == ',')
            p++;
        else if (*p != '}')
            fail_msg("expected , or } at \"%s\"", p);
    }
    return p + 1;
}

static void
check_histogram_sample(Reader *reader, const char *suffix, const char *key, const char *le, double value)
{
    if (strcmp(suffix, "_bucket") == 0)
    {
        if (le[0] == '\0')
            fail_msg("bucket without le");
        double bound = read_value(le);
        if (!reader->hist_open || strcmp(reader->hist_key, key) != 0)
        {
            assert_false(reader->hist_open); /* the previous one ended with its _count */
            snprintf(reader->hist_key, sizeof(reader->hist_key), "%s", key);
            reader->hist_open = true;
            reader->hist_le = -INFINITY;
            reader->hist_cumulative = 0;
        }
        if (!(bound > reader->hist_le) || value < reader->hist_cumulative)
            fail_msg("buckets of %s not increasing and cumulative at le=%s", key, le);
        reader->hist_le = bound;
        reader->hist_cumulative = value;
        return;
    }
    if (!reader->hist_open || strcmp(reader->hist_key, key) != 0 || !isinf(reader->hist_le))
        fail_msg("%s of %s without buckets up to +Inf", suffix, key);
    if (strcmp(suffix, "_count") == 0)
    {
        if (value != reader->hist_cumulative)
            fail_msg("_count %g of %s differs from the +Inf bucket %g", value, key, reader->hist_cumulative);
        reader->hist_open = false;
    }
}

static void
read_sample(Reader *reader, const char *line)
{
    size_t length = read_name(line, true);
    if (length == 0)
        fail_msg("bad sample line \"%s\"", line);
    Family *family = reader->family_count > 0 ? &reader->families[reader->family_count - 1] : NULL;
    if (family == NULL || family->type[0] == '\0' || !family->has_help)
        fail_msg("sample before its HELP and TYPE: \"%s\"", line);
    size_t family_length = strlen(family->name);
    const char *suffix = line + family_length;
    bool is_histogram = strcmp(family->type, "histogram") == 0;
    if (strncmp(line, family->name, family_length) != 0 ||
        (length != family_length &&
         !(is_histogram && (strncmp(suffix, "_bucket", 7) == 0 || strncmp(suffix, "_sum", 4) == 0 ||
                            strncmp(suffix, "_count", 6) == 0))))
        fail_msg("sample \"%s\" outside its family %s", line, family->name);
    char key[256] = "";
    char le[64] = "";
    const char *p = line + length;
    if (*p == '{')
        p = read_labels(p, key, sizeof(key), le, sizeof(le));
    if (*p != ' ')
        fail_msg("no space before the value in \"%s\"", line);
    double value = read_value(p + 1);
    assert_true(reader->seen_count < 4096);
    int written = snprintf(reader->seen[reader->seen_count], 256, "%.*s{%s%s}", (int)length, line, key, le);
    assert_true(written >= 0 && written < 256);
    for (size_t i = 0; i < reader->seen_count; i++)
        if (strcmp(reader->seen[i], reader->seen[reader->seen_count]) == 0)
            fail_msg("sample twice: %s", reader->seen[i]);
    reader->seen_count++;
    if (is_histogram)
    {
        char name_suffix[16];
        snprintf(name_suffix, sizeof(name_suffix), "%.*s", (int)(length - family_length), suffix);
        check_histogram_sample(reader, name_suffix, key, le, value);
    }
}

/* Fails the test unless text is a well-formed exposition; returns the number of samples. */
static size_t
check_exposition(const char *text, size_t length)
{
    assert_int_equal(strlen(text), length);
    assert_true(length > 0 && text[length - 1] == '\n');
    Reader *reader = calloc(1, sizeof(*reader));
    assert_non_null(reader);
    const char *start = text;
    while (*start != '\0')
    {
        const char *end = strchr(start, '\n');
        char line[1024];
        assert_true((size_t)(end - start) < sizeof(line));
        memcpy(line, start, (size_t)(end - start));
        line[end - start] = '\0';
        if (line[0] == '#')
            read_comment(reader, line);
        else
            read_sample(reader, line);
        start = end + 1;
    }
    assert_false(reader->hist_open);
    size_t samples = reader->seen_count;
    free(reader);
    return samples;
}

/* The value of the sample written exactly `series` (name and labels as rendered); fails when absent. */
static double
sample(const char *text, const char *series)
{
    size_t length = strlen(series);
    for (const char *p = strstr(text, series); p != NULL; p = strstr(p + 1, series))
    {
        if ((p == text || p[-1] == '\n') && p[length] == ' ')
        {
            char value[64];
            snprintf(value, sizeof(value), "%.*s", (int)strcspn(p + length + 1, "\n"), p + length + 1);
            return read_value(value);
        }
    }
    fail_msg("no sample %s in\n%s", series, text);
    return 0;
}

static char *
render(PdArena *arena, PdMetrics *metrics, const PdPoolStats *pool)
{
    char *text = NULL;
    size_t length = 0;
    PdError err;
    if (!pd_http_metrics_render(arena, metrics, pool, &text, &length, &err))
        fail_msg("render: %s", err.message);
    check_exposition(text, length);
    return text;
}

/* ---- tests ------------------------------------------------------------------------------------------------
 */

static void
test_metrics_empty_and_pool(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMetrics *metrics = pd_http_metrics_new();
    char *text = render(arena, metrics, NULL);
    assert_contains(text, "# TYPE prodata_http_requests_total counter\n");
    assert_contains(text, "# TYPE prodata_http_request_duration_seconds histogram\n");
    assert_lacks(text, "prodata_db_pool");
    PdPoolStats pool = {.size = 10,
                        .open = 4,
                        .in_use = 3,
                        .waiting = 2,
                        .acquired = 12345678901ULL,
                        .timeouts = 7,
                        .connects = 5,
                        .connect_failures = 1,
                        .waits = 9,
                        .wait_us = 2500042};
    text = render(arena, metrics, &pool);
    assert_int_equal(sample(text, "prodata_db_pool_size"), 10);
    assert_int_equal(sample(text, "prodata_db_pool_open"), 4);
    assert_int_equal(sample(text, "prodata_db_pool_in_use"), 3);
    assert_int_equal(sample(text, "prodata_db_pool_waiting"), 2);
    assert_contains(text, "\nprodata_db_pool_acquired_total 12345678901\n");
    assert_int_equal(sample(text, "prodata_db_pool_timeouts_total"), 7);
    assert_int_equal(sample(text, "prodata_db_pool_connects_total"), 5);
    assert_int_equal(sample(text, "prodata_db_pool_connect_failures_total"), 1);
    assert_int_equal(sample(text, "prodata_db_pool_waits_total"), 9);
    assert_contains(text, "\nprodata_db_pool_wait_seconds_total 2.500042\n");
    assert_contains(text, "# TYPE prodata_db_pool_wait_seconds_total counter\n");
    assert_contains(text, "# TYPE prodata_db_pool_in_use gauge\n");
    pd_http_metrics_free(metrics);
    pd_arena_free(arena);
}

static void
test_metrics_counts_and_buckets(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMetrics *metrics = pd_http_metrics_new();
    pd_http_metrics_observe(metrics, "books", "GET", 200, 0.0004);  /* le 0.0005 */
    pd_http_metrics_observe(metrics, "books", "GET", 200, 0.0005);  /* on the edge: le 0.0005 */
    pd_http_metrics_observe(metrics, "books", "GET", 200, 0.00051); /* le 0.001 */
    pd_http_metrics_observe(metrics, "books", "GET", 404, 0.003);   /* le 0.005 */
    pd_http_metrics_observe(metrics, "books", "GET", 404, 7.0);     /* above 5 s: +Inf only */
    pd_http_metrics_observe(metrics, "books", "POST", 201, 0.02);
    pd_http_metrics_observe(metrics, "authors", "GET", 200, 5.0);
    char *text = render(arena, metrics, NULL);
    const char *get = "{resource=\"books\",method=\"GET\"";
    char series[256];
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"books\",method=\"GET\",status=\"200\"}"), 3);
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"books\",method=\"GET\",status=\"404\"}"), 2);
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"books\",method=\"POST\",status=\"201\"}"), 1);
    const struct
    {
        const char *le;
        int count;
    } expected[] = {{"0.0005", 2}, {"0.001", 3}, {"0.0025", 3}, {"0.005", 4},
                    {"2.5", 4},    {"5", 4},     {"+Inf", 5}};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
    {
        snprintf(series, sizeof(series), "prodata_http_request_duration_seconds_bucket%s,le=\"%s\"}", get,
                 expected[i].le);
        assert_int_equal(sample(text, series), expected[i].count);
    }
    snprintf(series, sizeof(series), "prodata_http_request_duration_seconds_count%s}", get);
    assert_int_equal(sample(text, series), 5);
    /* 0.0004 + 0.0005 + 0.00051 + 0.003 + 7 written exactly, in microseconds */
    assert_contains(text, "prodata_http_request_duration_seconds_sum{resource=\"books\",method=\"GET\"} "
                          "7.004410\n");
    assert_int_equal(sample(text, "prodata_http_request_duration_seconds_bucket{resource=\"authors\","
                                  "method=\"GET\",le=\"5\"}"),
                     1);
    /* stable order: authors before books, GET before POST */
    assert_true(strstr(text, "resource=\"authors\"") < strstr(text, "resource=\"books\""));
    assert_true(strstr(text, "method=\"GET\",status=\"404\"") < strstr(text, "method=\"POST\""));
    pd_http_metrics_free(metrics);
    pd_arena_free(arena);
}

static void
test_metrics_escaping_and_normalising(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMetrics *metrics = pd_http_metrics_new();
    pd_http_metrics_observe(metrics, "a\"b\\c\nd", "GET", 200, 0.001);
    pd_http_metrics_observe(metrics, "books", "BREW", 200, 0.001);
    pd_http_metrics_observe(metrics, "books", NULL, 200, 0.001);
    pd_http_metrics_observe(metrics, "books", "get", 42, -1.0);
    pd_http_metrics_observe(metrics, NULL, "GET", 200, NAN);
    char long_name[200];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    pd_http_metrics_observe(metrics, long_name, "DELETE", 204, 0.001);
    char *text = render(arena, metrics, NULL);
    assert_int_equal(
        sample(text,
               "prodata_http_requests_total{resource=\"a\\\"b\\\\c\\nd\",method=\"GET\",status=\"200\"}"),
        1);
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"books\",method=\"other\",status=\"200\"}"), 2);
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"books\",method=\"other\",status=\"0\"}"), 1);
    assert_int_equal(sample(text, "prodata_http_requests_total{resource=\"\",method=\"GET\",status=\"200\"}"),
                     1);
    assert_contains(text,
                    "prodata_http_request_duration_seconds_sum{resource=\"\",method=\"GET\"} 0.000000\n");
    char series[300];
    snprintf(series, sizeof(series),
             "prodata_http_requests_total{resource=\"%.63s\",method=\"DELETE\",status=\"204\"}", long_name);
    assert_int_equal(sample(text, series), 1);
    assert_lacks(text, "BREW");
    pd_http_metrics_free(metrics);
    pd_arena_free(arena);
}

static void
test_metrics_series_bound(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMetrics *metrics = pd_http_metrics_new();
    int extra = 900;
    for (int i = 0; i < PD_HTTP_METRICS_MAX_SERIES + extra; i++)
    {
        char name[32];
        snprintf(name, sizeof(name), "r%05d", i);
        pd_http_metrics_observe(metrics, name, "GET", 200, 0.001);
    }
    char *text = NULL;
    size_t length = 0;
    PdError err;
    assert_true(pd_http_metrics_render(arena, metrics, NULL, &text, &length, &err));
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"_other\",method=\"GET\",status=\"200\"}"),
        extra);
    char last_kept[64];
    snprintf(last_kept, sizeof(last_kept), "resource=\"r%05d\"", PD_HTTP_METRICS_MAX_SERIES - 1);
    assert_contains(text, last_kept);
    snprintf(last_kept, sizeof(last_kept), "resource=\"r%05d\"", PD_HTTP_METRICS_MAX_SERIES);
    assert_lacks(text, last_kept);
    pd_http_metrics_free(metrics);
    pd_arena_free(arena);
}

enum
{
    THREADS = 6,
    PER_THREAD = 24000
};

static void *
observer(void *arg)
{
    PdMetrics *metrics = arg;
    static const char *const resources[] = {"books", "authors", "tags"};
    for (int i = 0; i < PER_THREAD; i++)
        pd_http_metrics_observe(metrics, resources[i % 3], i % 2 ? "GET" : "POST", 200 + (i % 4), 0.001);
    return NULL;
}

static void
test_metrics_threads(void **state)
{
    (void)state;
    PdMetrics *metrics = pd_http_metrics_new();
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, observer, metrics), 0);
    PdArena *arena = pd_arena_new(0);
    for (int round = 0; round < 20; round++) /* renders while the others observe */
    {
        render(arena, metrics, NULL);
        pd_arena_reset(arena);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    char *text = render(arena, metrics, NULL);
    double total = 0;
    const char *p = text;
    while ((p = strstr(p, "\nprodata_http_requests_total{")) != NULL)
    {
        p = strchr(p, '}') + 2;
        total += strtod(p, NULL);
    }
    assert_int_equal((long)total, (long)THREADS * PER_THREAD);
    /* i % 12 picks the series: each of 12 (resource, method, status) gets PER_THREAD / 12 per thread */
    assert_int_equal(
        sample(text, "prodata_http_requests_total{resource=\"tags\",method=\"GET\",status=\"201\"}"),
        THREADS * (PER_THREAD / 12));
    pd_http_metrics_free(metrics);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_empty_and_pool),
        cmocka_unit_test(test_metrics_counts_and_buckets),
        cmocka_unit_test(test_metrics_escaping_and_normalising),
        cmocka_unit_test(test_metrics_series_bound),
        cmocka_unit_test(test_metrics_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

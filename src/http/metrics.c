/*
 * metrics.c - request counters and latency histograms kept in memory for the
 * life of the server, and their Prometheus text rendering. A series is one
 * (resource, method, status) triple holding its count, its latency buckets and
 * its latency sum in microseconds (an integer: no float drift however many
 * requests are added). Series live in a hash table split into stripes, each
 * with its own mutex, so worker threads answering different resources rarely
 * wait on each other and an observe never allocates once its series exists.
 * Inputs are normalised (methods to a fixed set, statuses to 100..599, names
 * cut) and the series count is bounded, so no request can grow memory without
 * bound. Rendering copies each stripe under its lock, sorts the copies and
 * writes them out: the lock is never held while text is built.
 */
#include "http/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/strbuf.h"

#define METRICS_STRIPES 16
#define METRICS_NAME_MAX 64 /* bytes kept of a resource name, NUL included */
#define METRICS_METHOD_MAX 8
#define METRICS_OTHER_RESOURCE "_other"

/* Upper bounds of the finite buckets in microseconds, and as Prometheus' le labels; +Inf follows them. */
static const uint64_t bucket_edges_us[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                           100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const bucket_labels[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                            "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};
#define METRICS_BUCKETS (sizeof(bucket_edges_us) / sizeof(bucket_edges_us[0]))

typedef struct MetricsSeries
{
    struct MetricsSeries *next; /* in its stripe's chain */
    char resource[METRICS_NAME_MAX];
    char method[METRICS_METHOD_MAX];
    int status;
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[METRICS_BUCKETS + 1]; /* per bucket, not cumulative; the last is above 5 s */
} MetricsSeries;

typedef struct MetricsStripe
{
    pthread_mutex_t lock;
    MetricsSeries *head;
} MetricsStripe;

struct PdMetrics
{
    MetricsStripe stripes[METRICS_STRIPES];
    atomic_size_t series_count;
};

PdMetrics *
pd_http_metrics_new(void)
{
    PdMetrics *metrics = calloc(1, sizeof(*metrics));
    if (metrics == NULL)
        return NULL;
    for (int i = 0; i < METRICS_STRIPES; i++)
    {
        if (pthread_mutex_init(&metrics->stripes[i].lock, NULL) != 0)
        {
            while (i-- > 0)
                pthread_mutex_destroy(&metrics->stripes[i].lock);
            free(metrics);
            return NULL;
        }
    }
    atomic_init(&metrics->series_count, 0);
    return metrics;
}

void
pd_http_metrics_free(PdMetrics *metrics)
{
    if (metrics == NULL)
        return;
    for (int i = 0; i < METRICS_STRIPES; i++)
    {
        MetricsSeries *series = metrics->stripes[i].head;
        while (series != NULL)
        {
            MetricsSeries *next = series->next;
            free(series);
            series = next;
        }
        pthread_mutex_destroy(&metrics->stripes[i].lock);
    }
    free(metrics);
}

/* HTTP's methods as they are, anything else "other": a client cannot invent label values. */
static const char *
normal_method(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; method != NULL && i < sizeof(known) / sizeof(known[0]); i++)
    {
        if (strcmp(method, known[i]) == 0)
            return known[i];
    }
    return "other";
}

static uint64_t
series_hash(const char *resource, const char *method, int status)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char *p = resource; *p != '\0'; p++)
        hash = (hash ^ (unsigned char)*p) * 0x100000001b3ULL;
    hash = (hash ^ 0xff) * 0x100000001b3ULL;
    for (const char *p = method; *p != '\0'; p++)
        hash = (hash ^ (unsigned char)*p) * 0x100000001b3ULL;
    return (hash ^ (uint64_t)status) * 0x100000001b3ULL;
}

static MetricsSeries *
stripe_find(MetricsStripe *stripe, const char *resource, const char *method, int status)
{
    for (MetricsSeries *series = stripe->head; series != NULL; series = series->next)
    {
        if (series->status == status && strcmp(series->method, method) == 0 &&
            strcmp(series->resource, resource) == 0)
            return series;
    }
    return NULL;
}

/* The series in its stripe (locked by the caller), made when missing and the bound allows; else NULL. */
static MetricsSeries *
stripe_series(PdMetrics *metrics, MetricsStripe *stripe, const char *resource, const char *method, int status,
              bool may_exceed)
{
    MetricsSeries *series = stripe_find(stripe, resource, method, status);
    if (series != NULL)
        return series;
    if (!may_exceed && atomic_load(&metrics->series_count) >= PD_HTTP_METRICS_MAX_SERIES)
        return NULL;
    series = calloc(1, sizeof(*series));
    if (series == NULL)
        return NULL;
    memcpy(series->resource, resource, strlen(resource) + 1);
    memcpy(series->method, method, strlen(method) + 1);
    series->status = status;
    series->next = stripe->head;
    stripe->head = series;
    atomic_fetch_add(&metrics->series_count, 1);
    return series;
}

static size_t
bucket_of(uint64_t micros)
{
    size_t bucket = 0;
    while (bucket < METRICS_BUCKETS && micros > bucket_edges_us[bucket])
        bucket++;
    return bucket;
}

/* Adds one observation to the series of (resource, method, status); false when it could not be made. */
static bool
observe_into(PdMetrics *metrics, const char *resource, const char *method, int status, uint64_t micros,
             bool may_exceed)
{
    MetricsStripe *stripe = &metrics->stripes[series_hash(resource, method, status) % METRICS_STRIPES];
    pthread_mutex_lock(&stripe->lock);
    MetricsSeries *series = stripe_series(metrics, stripe, resource, method, status, may_exceed);
    if (series != NULL)
    {
        series->count++;
        series->sum_us += micros;
        series->buckets[bucket_of(micros)]++;
    }
    pthread_mutex_unlock(&stripe->lock);
    return series != NULL;
}

void
pd_http_metrics_observe(PdMetrics *metrics, const char *resource, const char *method, int status,
                        double seconds)
{
    if (metrics == NULL)
        return;
    char name[METRICS_NAME_MAX];
    size_t length = resource != NULL ? strnlen(resource, sizeof(name) - 1) : 0;
    memcpy(name, resource != NULL ? resource : "", length);
    name[length] = '\0';
    const char *normal = normal_method(method);
    if (status < 100 || status > 599)
        status = 0;
    uint64_t micros = 0;
    if (seconds > 0 && !isnan(seconds))
        micros = seconds >= 1e12 ? UINT64_C(1000000000000000000) : (uint64_t)(seconds * 1e6 + 0.5);
    /* Past the bound, a new resource folds into "_other": at most 10 methods x 501 statuses more series. */
    if (!observe_into(metrics, name, normal, status, micros, false))
        (void)observe_into(metrics, METRICS_OTHER_RESOURCE, normal, status, micros, true);
}

/* Every series, copied under its stripe's lock, into an arena array. */
static bool
snapshot(PdArena *arena, PdMetrics *metrics, MetricsSeries **copies, size_t *count)
{
    size_t capacity = atomic_load(&metrics->series_count);
    size_t used = 0;
    MetricsSeries *array = pd_arena_alloc(arena, (capacity + 1) * sizeof(*array));
    if (array == NULL)
        return false;
    for (int i = 0; i < METRICS_STRIPES; i++)
    {
        MetricsStripe *stripe = &metrics->stripes[i];
        pthread_mutex_lock(&stripe->lock);
        for (MetricsSeries *series = stripe->head; series != NULL; series = series->next)
        {
            if (used == capacity) /* made since the count was read: grow once more */
            {
                MetricsSeries *grown = pd_arena_grow(arena, array, used, capacity * 2 + 16, sizeof(*array));
                if (grown == NULL)
                {
                    pthread_mutex_unlock(&stripe->lock);
                    return false;
                }
                array = grown;
                capacity = capacity * 2 + 16;
            }
            array[used++] = *series;
        }
        pthread_mutex_unlock(&stripe->lock);
    }
    *copies = array;
    *count = used;
    return true;
}

static int
compare_series(const void *left, const void *right)
{
    const MetricsSeries *a = left;
    const MetricsSeries *b = right;
    int order = strcmp(a->resource, b->resource);
    if (order == 0)
        order = strcmp(a->method, b->method);
    if (order == 0)
        order = (a->status > b->status) - (a->status < b->status);
    return order;
}

/* A label value as the exposition format quotes it: backslash, double quote and line feed escaped. */
static void
append_label_value(PdStrbuf *out, const char *value)
{
    pd_strbuf_append_char(out, '"');
    for (const char *p = value; *p != '\0'; p++)
    {
        if (*p == '\\')
            pd_strbuf_append(out, "\\\\");
        else if (*p == '"')
            pd_strbuf_append(out, "\\\"");
        else if (*p == '\n')
            pd_strbuf_append(out, "\\n");
        else
            pd_strbuf_append_char(out, *p);
    }
    pd_strbuf_append_char(out, '"');
}

static void
append_family(PdStrbuf *out, const char *name, const char *type, const char *help)
{
    pd_strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
append_requests(PdStrbuf *out, const MetricsSeries *series, size_t count)
{
    append_family(out, "prodata_http_requests_total", "counter",
                  "Requests answered, by resource, method and status.");
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append(out, "prodata_http_requests_total{resource=");
        append_label_value(out, series[i].resource);
        pd_strbuf_appendf(out, ",method=\"%s\",status=\"%d\"} %" PRIu64 "\n", series[i].method,
                          series[i].status, series[i].count);
    }
}

/* One histogram: the series [first, end) share resource and method (sorted), their statuses are summed. */
static void
append_histogram(PdStrbuf *out, const MetricsSeries *first, const MetricsSeries *end)
{
    static const char name[] = "prodata_http_request_duration_seconds";
    uint64_t buckets[METRICS_BUCKETS + 1] = {0};
    uint64_t count = 0;
    uint64_t sum_us = 0;
    for (const MetricsSeries *series = first; series < end; series++)
    {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++)
            buckets[b] += series->buckets[b];
        count += series->count;
        sum_us += series->sum_us;
    }
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= METRICS_BUCKETS; b++)
    {
        cumulative += buckets[b];
        pd_strbuf_appendf(out, "%s_bucket{resource=", name);
        append_label_value(out, first->resource);
        pd_strbuf_appendf(out, ",method=\"%s\",le=\"%s\"} %" PRIu64 "\n", first->method,
                          b < METRICS_BUCKETS ? bucket_labels[b] : "+Inf", cumulative);
    }
    const char *kinds[] = {"sum", "count"};
    for (int k = 0; k < 2; k++)
    {
        pd_strbuf_appendf(out, "%s_%s{resource=", name, kinds[k]);
        append_label_value(out, first->resource);
        pd_strbuf_appendf(out, ",method=\"%s\"} ", first->method);
        if (k == 0)
            pd_strbuf_appendf(out, "%" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000, sum_us % 1000000);
        else
            pd_strbuf_appendf(out, "%" PRIu64 "\n", count);
    }
}

static void
append_latency(PdStrbuf *out, const MetricsSeries *series, size_t count)
{
    append_family(out, "prodata_http_request_duration_seconds", "histogram",
                  "Time from a request's arrival to its answer, by resource and method.");
    size_t start = 0;
    while (start < count)
    {
        size_t end = start + 1;
        while (end < count && strcmp(series[end].resource, series[start].resource) == 0 &&
               strcmp(series[end].method, series[start].method) == 0)
            end++;
        append_histogram(out, &series[start], &series[end]);
        start = end;
    }
}

static void
append_pool(PdStrbuf *out, const PdPoolStats *pool)
{
    struct
    {
        const char *name;
        const char *type;
        const char *help;
        uint64_t value;
    } rows[] = {
        {"prodata_db_pool_size", "gauge", "Most database connections the pool opens.", (uint64_t)pool->size},
        {"prodata_db_pool_open", "gauge", "Database connections open now.", (uint64_t)pool->open},
        {"prodata_db_pool_in_use", "gauge", "Database connections lent to requests now.",
         (uint64_t)pool->in_use},
        {"prodata_db_pool_waiting", "gauge", "Requests waiting for a free database connection now.",
         (uint64_t)pool->waiting},
        {"prodata_db_pool_acquired_total", "counter", "Connections lent to requests.", pool->acquired},
        {"prodata_db_pool_timeouts_total", "counter", "Waits for a connection that timed out.",
         pool->timeouts},
        {"prodata_db_pool_connects_total", "counter", "Connections opened.", pool->connects},
        {"prodata_db_pool_connect_failures_total", "counter", "Connection attempts that failed.",
         pool->connect_failures},
        {"prodata_db_pool_waits_total", "counter",
         "Requests that found every database connection lent and queued for one.", pool->waits},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    {
        append_family(out, rows[i].name, rows[i].type, rows[i].help);
        pd_strbuf_appendf(out, "%s %" PRIu64 "\n", rows[i].name, rows[i].value);
    }
    append_family(out, "prodata_db_pool_wait_seconds_total", "counter",
                  "Time requests spent queued for a database connection, in all.");
    pd_strbuf_appendf(out, "prodata_db_pool_wait_seconds_total %" PRIu64 ".%06" PRIu64 "\n",
                      pool->wait_us / 1000000, pool->wait_us % 1000000);
}

bool
pd_http_metrics_render(PdArena *arena, PdMetrics *metrics, const PdPoolStats *pool, char **text,
                       size_t *length, PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    MetricsSeries *series = NULL;
    size_t count = 0;
    if (!snapshot(scratch, metrics, &series, &count))
    {
        pd_arena_error(scratch, err);
        pd_arena_free(scratch);
        return false;
    }
    qsort(series, count, sizeof(*series), compare_series);
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    append_requests(&out, series, count);
    append_latency(&out, series, count);
    if (pool != NULL)
        append_pool(&out, pool);
    pd_arena_free(scratch);
    if (pd_strbuf_failed(&out))
        return pd_arena_error(arena, err);
    *text = out.data;
    *length = out.length;
    return true;
}

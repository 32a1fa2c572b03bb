/*
 * test_api.c - the keeper's HTTP API over real HTTP on loopback: the API
 * started on a free port with a view this test publishes snapshots into
 * (what the keeper loop does), and libcurl asking. Every endpoint in every
 * state a keeper can be in (nothing published yet, writable leader, leader
 * still in recovery, fenced, healthy standby, lagging, lag unknown, archive
 * recovery, sync standby, PostgreSQL down, loop stuck, paused), with GET,
 * HEAD and OPTIONS; Patroni's ?lag= sizes and the malformed ones (400),
 * unknown paths (404), other methods (405 with Allow), tag_ parameters;
 * the view itself (copies, bounds, threads publishing while requests read).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ha/api.h"
#include "ha/api_route.h"
#include "ha/view.h"
#include "testing.h"

#define MIB ((int64_t)1 << 20)

typedef struct Fixture
{
    PdKeeperView *view;
    PdHaApi *api;
    int port;
} Fixture;

typedef struct Reply
{
    long status;
    char body[65536];
    size_t body_length;
    char headers[8192];
    size_t headers_length;
} Reply;

static int64_t
mono_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static size_t
on_body(char *data, size_t size, size_t count, void *user)
{
    Reply *reply = user;
    size_t length = size * count;
    if (reply->body_length + length >= sizeof reply->body)
        return 0;
    memcpy(reply->body + reply->body_length, data, length);
    reply->body_length += length;
    reply->body[reply->body_length] = '\0';
    return length;
}

static size_t
on_header(char *data, size_t size, size_t count, void *user)
{
    Reply *reply = user;
    size_t length = size * count;
    if (reply->headers_length + length >= sizeof reply->headers)
        return 0;
    memcpy(reply->headers + reply->headers_length, data, length);
    reply->headers_length += length;
    reply->headers[reply->headers_length] = '\0';
    return length;
}

/* method path_and_query on the fixture's API; fails the test when the request itself fails. */
static void
request(const Fixture *fixture, const char *method, const char *target, const char *body, Reply *reply)
{
    memset(reply, 0, sizeof *reply);
    size_t size = strlen(target) + 64;
    char *url = malloc(size);
    assert_non_null(url);
    snprintf(url, size, "http://127.0.0.1:%d%s", fixture->port, target);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK)
        fail_msg("%s %s: %s", method, target, curl_easy_strerror(code));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_cleanup(curl);
    free(url);
}

static long
status_of(const Fixture *fixture, const char *method, const char *target)
{
    Reply reply;
    request(fixture, method, target, NULL, &reply);
    return reply.status;
}

static void
publish(const Fixture *fixture, const PdKeeperSnapshot *snapshot)
{
    PdError err = {0};
    if (!pd_keeper_view_publish(fixture->view, snapshot, &err))
        fail_msg("publish: %s", err.message);
}

static int
setup(void **state)
{
    Fixture *fixture = calloc(1, sizeof *fixture);
    PdError err = {0};
    if (!pd_keeper_view_new(&fixture->view, &err) ||
        !pd_ha_api_start("127.0.0.1", 0, fixture->view, &fixture->api, &err))
        fail_msg("start: %s", err.message);
    fixture->port = pd_ha_api_port(fixture->api);
    assert_true(fixture->port > 0);
    *state = fixture;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fixture = *state;
    pd_ha_api_stop(fixture->api);
    pd_keeper_view_free(fixture->view);
    free(fixture);
    return 0;
}

/* ---- the states a keeper publishes ---- */

static const char *const member_primary =
    "{\"version\":1,\"name\":\"n1\",\"role\":\"primary\",\"state\":\"running\",\"pg_host\":\"127.0.0.1\","
    "\"pg_port\":5432,\"api_url\":\"http://127.0.0.1:8008\",\"timeline\":3,\"write_lsn\":\"0/3000148\","
    "\"replay_lsn\":\"0/3000148\",\"is_streaming\":false,\"lag_bytes\":0,\"updated_ms\":1764489600123,"
    "\"waiting_for\":\"\"}";
static const char *const member_standby =
    "{\"version\":1,\"name\":\"n2\",\"role\":\"standby\",\"state\":\"running\",\"pg_host\":\"127.0.0.1\","
    "\"pg_port\":5433,\"api_url\":\"http://127.0.0.1:8009\",\"timeline\":3,\"write_lsn\":\"0/3000148\","
    "\"replay_lsn\":\"0/3000100\",\"is_streaming\":true,\"lag_bytes\":0,\"updated_ms\":1764489600123,"
    "\"waiting_for\":\"\"}";
static const char *const cluster_doc = "{\"members\":[{\"name\":\"n1\"},{\"name\":\"n2\"}],\"leader\":\"n1\","
                                       "\"paused\":false}";

static PdKeeperSnapshot
leader(void)
{
    return (PdKeeperSnapshot){.holds_leader = true,
                              .lease_id = 7,
                              .leader_until_mono_ms = mono_ms() + 60000,
                              .pg_running = true,
                              .timeline = 3,
                              .write_lsn = 0x3000148,
                              .replay_lsn = 0x3000148,
                              .lag_bytes = 0,
                              .maximum_lag_bytes = MIB,
                              .tick_mono_ms = mono_ms(),
                              .member_json = member_primary,
                              .cluster_json = cluster_doc,
                              .server_version = 150004,
                              .ttl_s = 3};
}

/* A streaming standby that replayed 0x48 bytes less than it flushed, flushed all the leader has. */
static PdKeeperSnapshot
standby(void)
{
    return (PdKeeperSnapshot){.pg_running = true,
                              .in_recovery = true,
                              .is_streaming = true,
                              .timeline = 3,
                              .write_lsn = 0x3000148,
                              .replay_lsn = 0x3000100,
                              .lag_bytes = 0,
                              .maximum_lag_bytes = MIB,
                              .tick_mono_ms = mono_ms(),
                              .member_json = member_standby,
                              .cluster_json = cluster_doc,
                              .server_version = 150004,
                              .ttl_s = 3};
}

/* ---- every endpoint in every state ---- */

static const char *const paths[] = {
    "/",         "/primary",   "/master",  "/read-write", "/leader",         "/standby-leader",
    "/replica",  "/read-only", "/sync",    "/async",      "/read-only-sync", "/health",
    "/liveness", "/readiness", "/patroni", "/cluster",
};
#define PATH_COUNT (sizeof paths / sizeof paths[0])

typedef struct Case
{
    const char *name;
    PdKeeperSnapshot snapshot;
    bool is_published;
    char expected[PATH_COUNT + 1]; /* per path: 'o' 200, 'x' 503 */
} Case;

/* Each state's expectations, one letter per path in the order of paths[]. */
static void
check_case(const Fixture *fixture, const Case *test)
{
    if (test->is_published)
        publish(fixture, &test->snapshot);
    for (size_t i = 0; i < PATH_COUNT; i++)
    {
        long expected = test->expected[i] == 'o' ? 200 : 503;
        for (int m = 0; m < 3; m++)
        {
            const char *method = (const char *[]){"GET", "HEAD", "OPTIONS"}[m];
            long status = status_of(fixture, method, paths[i]);
            if (status != expected)
                fail_msg("%s: %s %s gave %ld, expected %ld", test->name, method, paths[i], status, expected);
        }
    }
}

static void
test_states(void **state)
{
    Fixture *fixture = *state;
    /*                                  / p m rw l sl r ro s a ros h liv rdy pat cl */
    Case nothing = {"nothing published", {0}, false, "xxxxxxxxxxxxxxxx"};
    check_case(fixture, &nothing);

    Case cases[16];
    size_t count = 0;
    cases[count++] = (Case){"writable leader", leader(), true,
                            "ooooo"
                            "x"
                            "x"
                            "o"
                            "x"
                            "x"
                            "o"
                            "o"
                            "o"
                            "o"
                            "oo"};
    PdKeeperSnapshot promoting = leader();
    promoting.in_recovery = true; /* holds the key, still promoting */
    cases[count++] = (Case){"leader in recovery", promoting, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot fenced = leader();
    fenced.holds_leader = false;
    fenced.pg_running = false;
    cases[count++] = (Case){"fenced", fenced, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot lease_lost = leader();
    lease_lost.holds_leader = false; /* PostgreSQL still up, not in recovery: never 200 on /primary */
    cases[count++] = (Case){"lease lost, not yet fenced", lease_lost, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot past_deadline = leader();
    past_deadline.leader_until_mono_ms = mono_ms() - 1; /* no publish since its fence deadline passed */
    cases[count++] = (Case){"leader past its fence deadline", past_deadline, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    cases[count++] = (Case){"healthy standby", standby(), true,
                            "xxxxx"
                            "x"
                            "o"
                            "o"
                            "x"
                            "o"
                            "x"
                            "o"
                            "o"
                            "o"
                            "oo"};
    PdKeeperSnapshot sync = standby();
    sync.is_sync_standby = true;
    cases[count++] = (Case){"sync standby", sync, true,
                            "xxxxx"
                            "x"
                            "o"
                            "o"
                            "o"
                            "x"
                            "o"
                            "o"
                            "o"
                            "o"
                            "oo"};
    PdKeeperSnapshot lagging = standby();
    lagging.lag_bytes = 2 * MIB;
    cases[count++] = (Case){"lagging standby", lagging, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot edge = standby();
    edge.lag_bytes = MIB - 0x48; /* replay lag exactly the bound */
    cases[count++] = (Case){"standby at the bound", edge, true,
                            "xxxxx"
                            "x"
                            "o"
                            "o"
                            "x"
                            "o"
                            "x"
                            "o"
                            "o"
                            "o"
                            "oo"};
    PdKeeperSnapshot unknown = standby();
    unknown.lag_bytes = -1;
    cases[count++] = (Case){"standby, lag unknown", unknown, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot archive = standby();
    archive.is_streaming = false;
    cases[count++] = (Case){"archive recovery", archive, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot down = standby();
    down.pg_running = false;
    cases[count++] = (Case){"standby, PostgreSQL down", down, true,
                            "xxxxx"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "x"
                            "o"
                            "x"
                            "oo"};
    PdKeeperSnapshot stuck = leader();
    stuck.tick_mono_ms = mono_ms() - 9001; /* 3 x ttl 3 s passed */
    cases[count++] = (Case){"loop stuck", stuck, true,
                            "ooooo"
                            "x"
                            "x"
                            "o"
                            "x"
                            "x"
                            "o"
                            "o"
                            "x"
                            "o"
                            "oo"};
    PdKeeperSnapshot paused = stuck;
    paused.is_paused = true;
    cases[count++] = (Case){"paused, loop stuck", paused, true,
                            "ooooo"
                            "x"
                            "x"
                            "o"
                            "x"
                            "x"
                            "o"
                            "o"
                            "o"
                            "o"
                            "oo"};
    PdKeeperSnapshot no_cluster = standby();
    no_cluster.cluster_json = NULL;
    cases[count++] = (Case){"no cluster document", no_cluster, true,
                            "xxxxx"
                            "x"
                            "o"
                            "o"
                            "x"
                            "o"
                            "x"
                            "o"
                            "o"
                            "o"
                            "ox"};
    for (size_t i = 0; i < count; i++)
        check_case(fixture, &cases[i]);
}

/* ---- bodies, HEAD, OPTIONS, errors ---- */

static json_t *
body_json(const Reply *reply)
{
    json_error_t error;
    json_t *root = json_loads(reply->body, 0, &error);
    if (root == NULL)
        fail_msg("not JSON (%s): %s", error.text, reply->body);
    return root;
}

static void
test_bodies(void **state)
{
    Fixture *fixture = *state;
    Reply reply;
    request(fixture, "GET", "/primary", NULL, &reply);
    assert_int_equal(reply.status, 503);
    assert_contains(reply.body, "\"detail\":\"the keeper has not published its state yet\"");

    PdKeeperSnapshot snapshot = leader();
    publish(fixture, &snapshot);
    request(fixture, "GET", "/patroni", NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_contains(reply.headers, "Content-Type: application/json");
    json_t *root = body_json(&reply);
    assert_string_equal(json_string_value(json_object_get(root, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(root, "role")), "primary");
    assert_int_equal(json_integer_value(json_object_get(root, "server_version")), 150004);
    assert_int_equal(json_integer_value(json_object_get(root, "timeline")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "xlog"), "location")),
                     0x3000148);
    json_t *ours = json_object_get(root, "prodata");
    assert_true(json_is_true(json_object_get(ours, "holds_leader")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(ours, "member"), "name")), "n1");
    json_decref(root);

    request(fixture, "GET", "/replica", NULL, &reply); /* a failing check carries the same document */
    assert_int_equal(reply.status, 503);
    assert_contains(reply.body, "\"role\":\"primary\"");

    snapshot = standby();
    snapshot.is_sync_standby = true;
    snapshot.is_paused = true;
    publish(fixture, &snapshot);
    request(fixture, "GET", "/replica", NULL, &reply);
    root = body_json(&reply);
    assert_string_equal(json_string_value(json_object_get(root, "role")), "replica");
    json_t *xlog = json_object_get(root, "xlog");
    assert_int_equal(json_integer_value(json_object_get(xlog, "received_location")), 0x3000148);
    assert_int_equal(json_integer_value(json_object_get(xlog, "replayed_location")), 0x3000100);
    assert_string_equal(json_string_value(json_object_get(root, "replication_state")), "streaming");
    assert_true(json_is_true(json_object_get(root, "sync_standby")));
    assert_true(json_is_true(json_object_get(root, "pause")));
    json_decref(root);

    snapshot.pg_running =
        false; /* the member document still says running: Patroni's state follows PostgreSQL */
    publish(fixture, &snapshot);
    request(fixture, "GET", "/patroni", NULL, &reply);
    assert_contains(reply.body, "\"state\":\"stopped\"");

    request(fixture, "GET", "/cluster", NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, cluster_doc);

    request(fixture, "GET", "/liveness", NULL, &reply);
    assert_contains(reply.body, "\"live\":true");
    assert_contains(reply.body, "\"bound_ms\":9000");
}

static void
test_head_options(void **state)
{
    Fixture *fixture = *state;
    PdKeeperSnapshot snapshot = leader();
    snapshot.tick_mono_ms = 0; /* "tick_age_ms": null, so the GET's length stays the HEAD's */
    publish(fixture, &snapshot);
    Reply get, head, options;
    request(fixture, "GET", "/primary", NULL, &get);
    request(fixture, "HEAD", "/primary", NULL, &head);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.body_length, 0);
    char length[64];
    snprintf(length, sizeof length, "Content-Length: %zu", get.body_length);
    assert_contains(head.headers, length); /* the GET's headers, without the body */
    request(fixture, "OPTIONS", "/primary", NULL, &options);
    assert_int_equal(options.status, 200);
    assert_int_equal(options.body_length, 0);
    assert_contains(options.headers, "Allow: GET, HEAD, OPTIONS");
    request(fixture, "OPTIONS", "/replica", NULL, &options);
    assert_int_equal(options.status, 503);
    assert_int_equal(options.body_length, 0);
}

static void
test_errors(void **state)
{
    Fixture *fixture = *state;
    PdKeeperSnapshot snapshot = standby();
    publish(fixture, &snapshot);
    Reply reply;
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < 4; i++)
    {
        request(fixture, methods[i], "/primary", i == 0 ? "{\"a\":1}" : NULL, &reply);
        assert_int_equal(reply.status, 405);
        assert_contains(reply.headers, "Allow: GET, HEAD, OPTIONS");
        assert_contains(reply.body, "\"detail\":\"method");
        json_decref(body_json(&reply));
    }
    const char *unknown[] = {"/nope", "/primary/", "/PRIMARY", "/history", "//primary", "/replica/x"};
    for (size_t i = 0; i < 6; i++)
    {
        request(fixture, "GET", unknown[i], NULL, &reply);
        if (reply.status != 404)
            fail_msg("%s gave %ld", unknown[i], reply.status);
        json_decref(body_json(&reply));
        assert_int_equal(status_of(fixture, "OPTIONS", unknown[i]), 404);
    }
    request(fixture, "POST", "/nope", "x", &reply);
    assert_int_equal(reply.status, 404);
    /* a method and a path that are not UTF-8: still JSON answers (they are quoted with '?' for each byte) */
    request(fixture, "G\xfa\xfaT", "/primary", NULL, &reply);
    assert_int_equal(reply.status, 405);
    assert_contains(reply.body, "method \\\"G??T\\\" not allowed");
    request(fixture, "GET", "/pr%FAimary", NULL, &reply);
    assert_int_equal(reply.status, 404);
    json_decref(body_json(&reply));
    const char *bad[] = {"/replica?lag=",
                         "/replica?lag=abc",
                         "/replica?lag=-1",
                         "/replica?lag=1.5MB",
                         "/replica?lag=10mb",
                         "/replica?lag=10%20MB",
                         "/replica?lag=1PB",
                         "/replica?lag=99999999999999999999",
                         "/replica?lag=9000000TB",
                         "/replica?lag=1&lag=2",
                         "/readiness?mode=fast",
                         "/primary?lag=x",
                         "/readiness?mode=write&mode=apply"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
        request(fixture, "GET", bad[i], NULL, &reply);
        if (reply.status != 400)
            fail_msg("%s gave %ld: %s", bad[i], reply.status, reply.body);
        json_decref(body_json(&reply));
        assert_int_equal(status_of(fixture, "HEAD", bad[i]), 400);
    }
    char many[1024] = "/replica?";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
    request(fixture, "GET", many, NULL, &reply);
    assert_int_equal(reply.status, 400);
    /* a request line past the connection's memory: refused by libmicrohttpd, the API stays up */
    char *huge = malloc(40000);
    strcpy(huge, "/replica?x=");
    memset(huge + 11, 'a', 39000);
    huge[39011] = '\0';
    request(fixture, "GET", huge, NULL, &reply);
    if (reply.status != 414 && reply.status != 431)
        fail_msg("a request line past the memory limit gave %ld", reply.status);
    free(huge);
    assert_int_equal(status_of(fixture, "GET", "/replica"), 200);
}

/* ?lag= as Patroni's: bytes or units; the replay lag (0x48 behind what it flushed) against it. */
static void
test_lag(void **state)
{
    Fixture *fixture = *state;
    int64_t bytes;
    struct
    {
        const char *text;
        int64_t bytes;
    } good[] = {{"0", 0},
                {"1048576", MIB},
                {"1024kB", MIB},
                {"10MB", 10 * MIB},
                {"1GB", 1024 * MIB},
                {"2TB", (int64_t)2 << 40},
                {"16B", 16},
                {"9223372036854775807", INT64_MAX},
                {"8388607TB", (int64_t)8388607 << 40}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
        assert_true(pd_ha_api_parse_lag(good[i].text, &bytes));
        assert_int_equal(bytes, good[i].bytes);
    }
    const char *bad[] = {"",
                         "kB",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "1kb",
                         "1KB",
                         "1mb",
                         "1.5MB",
                         "0x10",
                         "1PB",
                         "9223372036854775808",
                         "8388608TB",
                         "1MBB",
                         "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pd_ha_api_parse_lag(bad[i], &bytes))
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)bytes);

    PdKeeperSnapshot snapshot = standby();
    snapshot.lag_bytes = 1000; /* replay lag 1000 + 0x48 = 1072 */
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/replica?lag=1072"), 200);
    assert_int_equal(status_of(fixture, "GET", "/replica?lag=1071"), 503);
    assert_int_equal(status_of(fixture, "GET", "/replica?lag=1kB"), 503);
    assert_int_equal(status_of(fixture, "GET", "/replica?lag=2kB"), 200);
    assert_int_equal(status_of(fixture, "GET", "/async?lag=1071"), 503);
    assert_int_equal(status_of(fixture, "GET", "/read-only?lag=0"), 503);
    assert_int_equal(status_of(fixture, "HEAD", "/replica?lag=1072"), 200);
    assert_int_equal(status_of(fixture, "OPTIONS", "/replica?lag=1071"), 503);
    /* /readiness: the replayed position by default, the received one with mode=write (lag_bytes 1000) */
    assert_int_equal(status_of(fixture, "GET", "/readiness?lag=1000"), 503);
    assert_int_equal(status_of(fixture, "GET", "/readiness?lag=1000&mode=write"), 200);
    assert_int_equal(status_of(fixture, "GET", "/readiness?lag=1000&mode=apply"), 503);
    /* the default bound is the cluster's maximum_lag_on_failover_bytes */
    snapshot.maximum_lag_bytes = 1071;
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/replica"), 503);
    assert_int_equal(status_of(fixture, "GET", "/replica?lag=10MB"), 200);
    /* the primary ignores lag (a valid one) */
    snapshot = leader();
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/primary?lag=0"), 200);
    assert_int_equal(status_of(fixture, "GET", "/read-only?lag=0"), 200);
}

/* Patroni's other parameters: tag_* (we have no tags: never a match, ignored on leader paths),
 * replication_state, and unknown ones ignored. */
static void
test_parameters(void **state)
{
    Fixture *fixture = *state;
    PdKeeperSnapshot snapshot = standby();
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/replica?tag_zone=a"), 503);
    assert_int_equal(status_of(fixture, "GET", "/health?tag_zone=a"), 503);
    assert_int_equal(status_of(fixture, "GET", "/replica?replication_state=streaming"), 200);
    assert_int_equal(status_of(fixture, "GET", "/replica?replication_state=in%20archive%20recovery"), 503);
    assert_int_equal(status_of(fixture, "GET", "/replica?whatever=1&x"), 200);
    snapshot = leader();
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/primary?tag_zone=a"), 200);
    assert_int_equal(status_of(fixture, "GET", "/leader?tag_zone=a"), 200);
}

/* The leader's deadline: /primary 200 only before it; a renewal of the snapshot's lease moves it, a renewal
 * of another lease does not, the lease's loss ends it at once. */
static void
test_leader_deadline(void **state)
{
    Fixture *fixture = *state;
    PdKeeperSnapshot snapshot = leader();
    snapshot.leader_until_mono_ms = mono_ms() - 1; /* the tick that published it outlasted the deadline */
    publish(fixture, &snapshot);
    assert_int_equal(status_of(fixture, "GET", "/primary"), 503);
    assert_int_equal(status_of(fixture, "GET", "/health"), 200);
    pd_keeper_view_renewed(fixture->view, 8, mono_ms() + 60000);
    assert_int_equal(status_of(fixture, "GET", "/primary"), 503);
    pd_keeper_view_renewed(fixture->view, 7, mono_ms() + 60000);
    assert_int_equal(status_of(fixture, "OPTIONS", "/primary"), 200);
    pd_keeper_view_renewed(fixture->view, 7, 0);
    assert_int_equal(status_of(fixture, "OPTIONS", "/primary"), 503);
    assert_int_equal(status_of(fixture, "GET", "/read-only"), 503);
}

/* ---- the view ---- */

static void
test_view(void **state)
{
    (void)state;
    PdKeeperView *view;
    PdError err = {0};
    assert_true(pd_keeper_view_new(&view, &err));
    PdArena *arena = pd_arena_new(0);
    PdKeeperSnapshot read;
    assert_false(pd_keeper_view_has_snapshot(view));
    assert_true(pd_keeper_view_read(arena, view, &read, &err));
    assert_false(read.holds_leader);
    assert_int_equal(read.lag_bytes, -1);
    assert_null(read.member_json);

    char member[64] = "{\"name\":\"n1\"}";
    PdKeeperSnapshot snapshot = leader();
    snapshot.member_json = member;
    assert_true(pd_keeper_view_publish(view, &snapshot, &err));
    strcpy(member, "{\"name\":\"changed\"}"); /* the view holds its own copy */
    assert_true(pd_keeper_view_read(arena, view, &read, &err));
    assert_string_equal(read.member_json, "{\"name\":\"n1\"}");
    assert_true(read.holds_leader);
    assert_int_equal(read.server_version, 150004);

    char *big = malloc(PD_KEEPER_VIEW_CLUSTER_MAX + 2);
    memset(big, 'x', PD_KEEPER_VIEW_CLUSTER_MAX + 1);
    big[PD_KEEPER_VIEW_CLUSTER_MAX + 1] = '\0';
    PdKeeperSnapshot too_big = standby();
    too_big.cluster_json = big;
    assert_false(pd_keeper_view_publish(view, &too_big, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_true(pd_keeper_view_read(arena, view, &read, &err));
    assert_true(read.holds_leader); /* the view kept what it had */
    big[PD_KEEPER_VIEW_CLUSTER_MAX] = '\0';
    assert_true(pd_keeper_view_publish(view, &too_big, &err)); /* exactly the bound */
    free(big);

    /* the cluster document a keeper publishes, from the members it read */
    PdMemberState members[2] = {{.name = "n1",
                                 .role = PD_MEMBER_ROLE_PRIMARY,
                                 .state = "running",
                                 .pg_host = "127.0.0.1",
                                 .pg_port = 5432,
                                 .api_url = "http://127.0.0.1:8008",
                                 .timeline = 3,
                                 .write_lsn = 0x3000148,
                                 .replay_lsn = 0x3000148,
                                 .updated_ms = 1,
                                 .waiting_for = ""},
                                {.name = "n2",
                                 .role = PD_MEMBER_ROLE_STANDBY,
                                 .state = "running",
                                 .pg_host = "127.0.0.1",
                                 .pg_port = 5433,
                                 .api_url = "http://127.0.0.1:8009",
                                 .timeline = 3,
                                 .lag_bytes = -1,
                                 .updated_ms = 1,
                                 .waiting_for = ""}};
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    config.is_paused = true;
    char *cluster = NULL;
    assert_true(pd_keeper_view_cluster_json(arena, "n1", members, 2, &config, &cluster, &err));
    assert_contains(cluster, "{\"leader\":\"n1\",\"paused\":true,\"synchronous_mode\":\"off\"");
    assert_contains(cluster, "\"members\":[{\"version\":1,\"name\":\"n1\"");
    assert_contains(cluster, "\"name\":\"n2\",\"role\":\"standby\"");
    assert_true(pd_keeper_view_cluster_json(arena, NULL, NULL, 0, &config, &cluster, &err));
    assert_contains(cluster, "{\"leader\":null,");
    assert_contains(cluster, "\"members\":[]}");
    members[1].name = "Bad-Name";
    assert_false(pd_keeper_view_cluster_json(arena, "n1", members, 2, &config, &cluster, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);

    PdArena *small = pd_arena_new(1024);
    assert_false(pd_keeper_view_read(small, view, &read, &err));
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    pd_arena_free(small);
    pd_arena_free(arena);
    pd_keeper_view_free(view);
    pd_keeper_view_free(NULL);
}

/* A keeper publishing as fast as it can while clients ask: every answer is one whole snapshot's. */
typedef struct Publisher
{
    const Fixture *fixture;
    volatile int is_done;
    long published;
} Publisher;

static void *
publish_loop(void *data)
{
    Publisher *publisher = data;
    PdKeeperSnapshot as_leader = leader(), as_standby = standby();
    while (!publisher->is_done)
    {
        PdKeeperSnapshot *next = publisher->published % 2 == 0 ? &as_leader : &as_standby;
        next->tick_mono_ms = mono_ms();
        publish(publisher->fixture, next);
        publisher->published++;
    }
    return NULL;
}

static void
test_concurrent(void **state)
{
    Fixture *fixture = *state;
    Publisher publisher = {.fixture = fixture};
    PdKeeperSnapshot first = leader();
    publish(fixture, &first);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, publish_loop, &publisher), 0);
    for (int i = 0; i < 200; i++)
    {
        Reply reply;
        request(fixture, "GET", "/primary", NULL, &reply);
        /* 200 goes with the primary's document, 503 with the standby's: never half of each */
        if (reply.status == 200)
            assert_contains(reply.body, "\"name\":\"n1\"");
        else if (reply.status == 503)
            assert_contains(reply.body, "\"name\":\"n2\"");
        else
            fail_msg("status %ld", reply.status);
    }
    publisher.is_done = 1;
    pthread_join(thread, NULL);
    assert_true(publisher.published > 2);
}

/* Connections beyond the bound wait, the API still answers; an idle one is closed after its timeout. */
static void
test_bounds(void **state)
{
    Fixture *fixture = *state;
    PdKeeperSnapshot snapshot = leader();
    publish(fixture, &snapshot);
    PdError err = {0};
    PdHaApi *second;
    assert_false(pd_ha_api_start("127.0.0.1", fixture->port, fixture->view, &second, &err));
    assert_int_equal(err.code, PD_ERR_IO);
    assert_false(pd_ha_api_start("no-such-host.invalid", 0, fixture->view, &second, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_false(pd_ha_api_start("127.0.0.1", 70000, fixture->view, &second, &err));
    assert_int_equal(status_of(fixture, "GET", "/primary"), 200);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_deadline, setup, teardown),
        cmocka_unit_test(test_view),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}

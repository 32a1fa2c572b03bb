/*
 * test_failsafe.c - the failsafe grants (failsafe.h, docs/ha.md "The etcd
 * outage: failsafe grants"): the grant table's rules one by one on a clock
 * the test moves (one holder at a time, extension never shortening, expiry,
 * a leader refusing every other member, off refusing all, a taker's grant
 * given back); the request read strictly (each bad field named) and the
 * answers; the interleavings the safety argument rests on: threads asking
 * one table at once never get overlapping grants for two holders, and on
 * n = 2..5 tables a primary's majority and a taker's ceil(n/2) never hold at
 * the same instant, whatever members each reaches and in whatever order;
 * then over real HTTP on loopback: POST /failsafe's 200, 409, 400, 413 and
 * 405 (the other paths' 405 unchanged), and pd_failsafe_ask against two real
 * APIs and a silent peer, returning as soon as enough grants are in.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "ha/api.h"
#include "ha/failsafe.h"
#include "ha/fence.h"
#include "testing.h"

#define SECRET "so-s3cret-Pa55"

static PdFailsafe *
table(const char *self)
{
    PdFailsafe *made = NULL;
    PdError err = {0};
    if (!pd_failsafe_new(self, "main", SECRET, &made, &err))
        fail_msg("pd_failsafe_new: %s", err.message);
    pd_failsafe_set_counted(made, true); /* as a member that streamed from the leader */
    return made;
}

static void
test_table(void **state)
{
    (void)state;
    PdFailsafe *fs = table("n2");
    PdFailsafeGrant grant = pd_failsafe_current(fs, 1000);
    assert_false(grant.is_granted);
    assert_string_equal(grant.holder, "");
    grant = pd_failsafe_grant(fs, "n1", 3000, 1000); /* empty: given */
    assert_true(grant.is_granted);
    assert_int_equal(grant.remaining_ms, 3000);
    grant = pd_failsafe_grant(fs, "n3", 3000, 2000); /* another's live grant: refused, named */
    assert_false(grant.is_granted);
    assert_string_equal(grant.holder, "n1");
    assert_int_equal(grant.remaining_ms, 2000);
    assert_string_equal(grant.reason, "another member holds a live grant");
    grant = pd_failsafe_grant(fs, "n1", 3000, 2500); /* the holder's again: extended to 5500 */
    assert_true(grant.is_granted);
    assert_int_equal(grant.remaining_ms, 3000);
    grant = pd_failsafe_grant(fs, "n1", 1000, 2600); /* a shorter one never shortens it */
    assert_true(grant.is_granted);
    assert_int_equal(grant.remaining_ms, 2900);
    assert_false(pd_failsafe_grant(fs, "n3", 3000, 5499).is_granted); /* live to its last ms */
    grant = pd_failsafe_grant(fs, "n3", 3000, 5500);                  /* expired: n3 gets it */
    assert_true(grant.is_granted);
    assert_string_equal(pd_failsafe_current(fs, 5600).holder, "n3");
    pd_failsafe_release(fs); /* not its own: kept */
    assert_string_equal(pd_failsafe_current(fs, 5600).holder, "n3");
    pd_failsafe_free(fs);
}

/* A restarted keeper's table: no grant during its quiet period (itself included), none longer than recorded.
 */
static void
test_quiet(void **state)
{
    (void)state;
    PdFailsafe *fs = table("n2");
    pd_failsafe_set_quiet(fs, 4000, 3000);
    PdFailsafeGrant grant = pd_failsafe_grant(fs, "n1", 3000, 1000);
    assert_false(grant.is_granted);
    assert_int_equal(grant.remaining_ms, 3000);
    assert_contains(grant.reason, "restarted");
    assert_false(pd_failsafe_grant(fs, "n2", 3000, 3999).is_granted);
    assert_false(pd_failsafe_grant(fs, "n1", 3001, 4000).is_granted); /* longer than recorded */
    assert_true(pd_failsafe_grant(fs, "n1", 3000, 4000).is_granted);
    pd_failsafe_free(fs);
}

/* A member not yet in a leader's roster count gives no grant, to a taker or to itself; once counted it does.
 */
static void
test_counted(void **state)
{
    (void)state;
    PdFailsafe *fs = table("n4");
    pd_failsafe_set_counted(fs, false);
    PdFailsafeGrant grant = pd_failsafe_grant(fs, "n2", 3000, 1000);
    assert_false(grant.is_granted);
    assert_contains(grant.reason, "has not streamed from a leader");
    assert_false(pd_failsafe_grant(fs, "n4", 3000, 1000).is_granted); /* itself included */
    assert_string_equal(pd_failsafe_current(fs, 1000).holder, "");
    pd_failsafe_set_counted(fs, true);
    assert_true(pd_failsafe_grant(fs, "n2", 3000, 1000).is_granted);
    pd_failsafe_free(fs);
}

static void
test_leading_and_off(void **state)
{
    (void)state;
    PdFailsafe *fs = table("n1");
    pd_failsafe_set_leading(fs, true);
    PdFailsafeGrant grant = pd_failsafe_grant(fs, "n2", 3000, 1000);
    assert_false(grant.is_granted); /* a leader refuses every other member, table empty or not */
    assert_string_equal(grant.holder, "n1");
    assert_int_equal(grant.remaining_ms, -1);
    assert_true(pd_failsafe_grant(fs, "n1", 3000, 1000).is_granted); /* itself: yes */
    pd_failsafe_release(fs);                                         /* leading: its grant kept */
    assert_string_equal(pd_failsafe_current(fs, 1500).holder, "n1");
    pd_failsafe_set_leading(fs, false);
    assert_false(pd_failsafe_grant(fs, "n2", 3000, 1500).is_granted); /* its own grant still live */
    pd_failsafe_release(fs);                                          /* a take that did not happen */
    assert_true(pd_failsafe_grant(fs, "n2", 3000, 1500).is_granted);
    pd_failsafe_set_enabled(fs, false);
    grant = pd_failsafe_grant(fs, "n2", 3000, 1600); /* off: even the holder is refused */
    assert_false(grant.is_granted);
    assert_string_equal(grant.reason, "failsafe_mode is off on this member");
    assert_false(pd_failsafe_is_enabled(fs));
    pd_failsafe_free(fs);
}

static void
expect_bad(PdArena *arena, const char *text, const char *field, const char *message)
{
    PdFailsafeRequest request;
    const char *named = NULL;
    PdError err = {0};
    assert_false(pd_failsafe_request_parse(arena, text, strlen(text), &request, &named, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(named, field);
    assert_contains(err.message, message);
}

/* What a requester that asked n2 for 3000 ms reads of an answer. */
static void
expect_answer(bool is_granted, int status, const char *text)
{
    if (pd_failsafe_answer_granted(status, text, strlen(text), "n2", 3000) != is_granted)
        fail_msg("%d %s: read as %s", status, text, is_granted ? "not granted" : "granted");
}

static void
test_request(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdFailsafeRequest request;
    const char *field = NULL;
    PdError err = {0};
    const char *good = "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\","
                       "\"sent_ms\":1764500000000}";
    assert_true(pd_failsafe_request_parse(arena, good, strlen(good), &request, &field, &err));
    assert_string_equal(request.holder, "n1");
    assert_string_equal(request.granter, "n2");
    assert_int_equal(request.duration_ms, 3000);
    assert_string_equal(request.cluster, "main");
    assert_int_equal(request.sent_ms, 1764500000000);
    assert_string_equal(pd_failsafe_request_json(arena, &request), good); /* round trip, same order */
    expect_bad(arena, "[1]", "", "not a JSON object");
    expect_bad(arena, "{\"holder\":\"n1\",", "", "not a JSON object");
    expect_bad(arena, "{\"duration_ms\":3000,\"cluster\":\"main\"}", "holder", "member name");
    expect_bad(arena, "{\"holder\":\"n1\",\"duration_ms\":3000,\"cluster\":\"main\"}", "granter",
               "member asked");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":7,\"duration_ms\":3000,\"cluster\":\"main\"}",
               "granter", "member asked");
    expect_bad(arena, "{\"holder\":\"N1!\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\"}",
               "holder", "member name");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":0,\"cluster\":\"main\"}",
               "duration_ms", "1 to 600000");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":600001,\"cluster\":\"main\"}",
               "duration_ms", "1 to 600000");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":\"3000\",\"cluster\":\"main\"}",
               "duration_ms", "an integer");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000.5,\"cluster\":\"main\"}",
               "duration_ms", "an integer");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000}", "cluster",
               "cluster's name");
    expect_bad(arena, "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\"}",
               "sent_ms", "send time");
    expect_bad(
        arena,
        "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\",\"sent_ms\":\"1\"}",
        "sent_ms", "send time");
    expect_bad(arena,
               "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\",\"x\":1}", "",
               "unknown field");
    expect_bad(arena, "{\"holder\":\"n1\",\"holder\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\"}", "",
               "not a JSON object"); /* a duplicate key */
    expect_answer(true, 200, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":3000}");
    expect_answer(false, 200, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":2999}");
    expect_answer(false, 409, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":3000}");
    expect_answer(false, 200, "{\"granted\":false,\"granter\":\"n2\",\"duration_ms\":3000}");
    expect_answer(false, 200, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":3000,\"x\":1}");
    /* a grant by another member than the one asked (an api_url that reaches the wrong keeper): none */
    expect_answer(false, 200, "{\"granted\":true,\"granter\":\"n1\",\"duration_ms\":3000}");
    expect_answer(false, 200, "{\"granted\":true,\"duration_ms\":3000}");
    expect_answer(false, 200, "garbage");
    pd_arena_free(arena);
}

enum
{
    WALL = 1764500000000, /* the granter's wall clock in test_serve */
};

/* A request's body at sent_ms, and its signature under secret into hex. */
static const char *
signed_to(PdArena *arena, const char *holder, const char *granter, const char *cluster, int64_t sent_ms,
          const char *secret, char *hex)
{
    PdFailsafe *signer = NULL;
    PdError err = {0};
    assert_true(pd_failsafe_new("n9", "main", secret, &signer, &err));
    PdFailsafeRequest request = {
        .holder = holder, .granter = granter, .duration_ms = 3000, .cluster = cluster, .sent_ms = sent_ms};
    assert_true(pd_failsafe_sign(signer, &request, hex));
    pd_failsafe_free(signer);
    return pd_failsafe_request_json(arena, &request);
}

/* The same, asking n2 (the granter of test_serve's and test_stranger's table). */
static const char *
signed_body(PdArena *arena, const char *holder, const char *cluster, int64_t sent_ms, const char *secret,
            char *hex)
{
    return signed_to(arena, holder, "n2", cluster, sent_ms, secret, hex);
}

static void
serve_signed(PdArena *arena, PdFailsafe *fs, const char *body, const char *signature, bool is_too_large,
             int64_t now, int expected, const char *part)
{
    int status = 0;
    const char *json = NULL;
    PdError err = {0};
    PdFailsafeIncoming incoming = {.body = body,
                                   .length = strlen(body),
                                   .is_too_large = is_too_large,
                                   .signature = signature,
                                   .now_ms = now,
                                   .wall_ms = WALL};
    assert_true(pd_failsafe_serve(arena, fs, &incoming, &status, &json, &err));
    if (status != expected)
        fail_msg("%s: status %d, not %d: %s", body, status, expected, json);
    assert_contains(json, part);
}

/* A request for holder (duration 3000) sent now by the granter's clock, signed with the cluster's secret. */
static void
serve(PdArena *arena, PdFailsafe *fs, const char *holder, const char *cluster, int64_t now, int expected,
      const char *part)
{
    char hex[PD_FAILSAFE_HMAC_HEX + 1];
    const char *body = signed_body(arena, holder, cluster, WALL - 40, SECRET, hex);
    serve_signed(arena, fs, body, hex, false, now, expected, part);
}

static void
test_serve(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdFailsafe *fs = table("n2");
    const char *roster[] = {"n1", "n2", "n3"};
    pd_failsafe_set_roster(fs, roster, 3);
    serve(arena, fs, "n1", "main", 100, 200, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":3000}");
    serve(arena, fs, "n3", "main", 1100, 409,
          "{\"granted\":false,\"granter\":\"n2\",\"holder\":\"n1\",\"remaining_ms\":2000,\"reason\":");
    serve(arena, fs, "n3", "other", 1100, 400, "\"field\":\"cluster\"");
    serve_signed(
        arena, fs,
        "{\"holder\":\"n3\",\"granter\":\"n2\",\"duration_ms\":-1,\"cluster\":\"main\",\"sent_ms\":1}", "00",
        false, 1100, 400,
        "{\"detail\":\"duration_ms must be an integer from 1 to 600000\",\"field\":\"duration_ms\"}");
    serve_signed(arena, fs,
                 "{\"holder\":\"n3\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\"}", "00",
                 false, 1100, 400, "\"field\":\"sent_ms\"");
    serve_signed(arena, fs, "{", "00", false, 1100, 400, "not a JSON object");
    serve_signed(arena, fs, "{\"holder\":\"n3\"}", "00", true, 1100, 413, "at most 1024 bytes");
    pd_failsafe_set_leading(fs, true);
    serve(arena, fs, "n3", "main", 9000, 409, "\"holder\":\"n2\",\"remaining_ms\":null");
    pd_failsafe_free(fs);
    pd_arena_free(arena);
}

/* A stranger's requests: no signature (401), a wrong one or another password's (403), a replay outside the
 * window (403), a holder not in the roster (409). None of them leaves a grant that would block a taker. */
static void
test_stranger(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdFailsafe *fs = table("n2");
    const char *roster[] = {"n1", "n2", "n3"};
    pd_failsafe_set_roster(fs, roster, 3);
    char hex[PD_FAILSAFE_HMAC_HEX + 1], other[PD_FAILSAFE_HMAC_HEX + 1];
    const char *body = signed_body(arena, "n1", "main", WALL, SECRET, hex);
    serve_signed(arena, fs, body, NULL, false, 100, 401, PD_FAILSAFE_HEADER);
    serve_signed(arena, fs, body, "", false, 100, 403, "not this request's signature");
    serve_signed(arena, fs, body, "zz", false, 100, 403, "not this request's signature");
    signed_body(arena, "n1", "main", WALL, "another-password", other);
    serve_signed(arena, fs, body, other, false, 100, 403, "not this request's signature");
    char flipped[PD_FAILSAFE_HMAC_HEX + 1];
    snprintf(flipped, sizeof flipped, "%s", hex);
    flipped[10] = flipped[10] == '0' ? '1' : '0';
    serve_signed(arena, fs, body, flipped, false, 100, 403, "not this request's signature");
    /* a signature of n1's request does not sign n3's, nor another duration, nor one to another granter */
    const char *n3 = signed_body(arena, "n3", "main", WALL, SECRET, other);
    serve_signed(arena, fs, n3, hex, false, 100, 403, "not this request's signature");
    const char *to_n3 = signed_to(arena, "n1", "n3", "main", WALL, SECRET, other);
    serve_signed(arena, fs, to_n3, hex, false, 100, 403, "not this request's signature");
    /* signed, but asking n3: the api_url it was sent to reaches n2; refused, named, nothing held */
    serve_signed(arena, fs, to_n3, other, false, 100, 409, "\"granter\":\"n2\"");
    serve_signed(arena, fs, to_n3, other, false, 100, 409, "the request asks another member");
    assert_string_equal(pd_failsafe_current(fs, 100).holder, "");
    /* sent further than the window (3000 by default, then failsafe_grant_ms) from the granter's clock */
    body = signed_body(arena, "n1", "main", WALL - 3001, SECRET, hex);
    serve_signed(arena, fs, body, hex, false, 100, 403, "\"field\":\"sent_ms\"");
    body = signed_body(arena, "n1", "main", WALL + 3001, SECRET, hex);
    serve_signed(arena, fs, body, hex, false, 100, 403, "-3001 ms from this member's clock");
    pd_failsafe_set_window(fs, 5000);
    serve_signed(arena, fs, body, hex, false, 100, 200, "\"granted\":true");
    pd_failsafe_release(fs); /* not its own: kept */
    assert_string_equal(pd_failsafe_current(fs, 200).holder, "n1");
    /* signed, but for a member not in the roster last read: refused, named, nothing held */
    PdFailsafe *empty = table("n2");
    body = signed_body(arena, "x9", "main", WALL, SECRET, hex);
    serve_signed(arena, empty, body, hex, false, 100, 409, "not a member of the roster");
    pd_failsafe_set_roster(empty, roster, 3);
    serve_signed(arena, empty, body, hex, false, 100, 409, "not a member of the roster");
    assert_string_equal(pd_failsafe_current(empty, 100).holder, "");
    assert_true(pd_failsafe_grant(empty, "n2", 3000, 150).is_granted); /* a taker's own grant: not blocked */
    pd_failsafe_free(empty);
    pd_failsafe_free(fs);
    pd_arena_free(arena);
}

static void
test_peers(void **state)
{
    (void)state;
    PdFailsafe *fs = table("n2");
    PdFailsafePeer peers[PD_FAILSAFE_PEERS_MAX];
    size_t n = 9;
    bool is_member = true;
    assert_int_equal(pd_failsafe_peers(fs, peers, &n, &is_member), 0); /* nothing read yet */
    assert_int_equal(n, 0);
    assert_false(is_member);
    const char *names[] = {"n1", "n2", "n3"};
    pd_failsafe_set_roster(fs, names, 3);
    pd_failsafe_set_url(fs, "n1", "http://10.0.0.1:8008");
    pd_failsafe_set_url(fs, "n4", "http://10.0.0.4:8008"); /* not in the roster: never asked */
    pd_failsafe_set_url(fs, "n1", "http://10.0.0.9:8008"); /* the last published wins */
    assert_int_equal(pd_failsafe_peers(fs, peers, &n, &is_member), 2);
    assert_int_equal(n, 3);
    assert_true(is_member);
    assert_string_equal(peers[0].name, "n1");
    assert_string_equal(peers[0].url, "http://10.0.0.9:8008");
    assert_string_equal(peers[1].name, "n3");
    assert_string_equal(peers[1].url, ""); /* its state never read: not asked */
    char by[64];
    int64_t left = 0;
    assert_false(pd_failsafe_writable(fs, 100, by, sizeof by, &left));
    pd_failsafe_set_writable(fs, "n1, n3", 2000);
    assert_true(pd_failsafe_writable(fs, 500, by, sizeof by, &left));
    assert_string_equal(by, "n1, n3");
    assert_int_equal(left, 1500);
    assert_false(pd_failsafe_writable(fs, 2000, by, sizeof by, &left));
    pd_failsafe_free(fs);
}

/* ---- interleavings ------------------------------------------------------------------------------------ */

enum
{
    RACERS = 4,
    RACE_ROUNDS = 20000,
    RACE_GRANTS_MAX = RACERS * RACE_ROUNDS,
};

typedef struct Given
{
    int holder;
    int64_t from, until; /* on the shared virtual clock */
} Given;

typedef struct Race
{
    PdFailsafe *fs;
    pthread_mutex_t lock; /* the clock and the log of grants given */
    int64_t clock;
    Given given[RACE_GRANTS_MAX];
    size_t count;
} Race;

typedef struct Racer
{
    Race *race;
    int index;
} Racer;

/* Each thread asks for itself at the shared clock's time; each grant given is logged with its interval. The
   clock moves only under the race's lock, and a grant is logged with the time it was asked at. */
static void *
race_main(void *arg)
{
    Racer *racer = arg;
    Race *race = racer->race;
    char name[24];
    snprintf(name, sizeof name, "n%d", racer->index + 1);
    for (int i = 0; i < RACE_ROUNDS; i++)
    {
        pthread_mutex_lock(&race->lock);
        int64_t now = race->clock++;
        pthread_mutex_unlock(&race->lock);
        PdFailsafeGrant grant = pd_failsafe_grant(race->fs, name, 7, now);
        if (!grant.is_granted)
            continue;
        pthread_mutex_lock(&race->lock);
        race->given[race->count++] = (Given){racer->index, now, now + grant.remaining_ms};
        pthread_mutex_unlock(&race->lock);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    Race *race = calloc(1, sizeof *race);
    assert_non_null(race);
    race->fs = table("n9");
    pthread_mutex_init(&race->lock, NULL);
    pthread_t threads[RACERS];
    Racer racers[RACERS];
    for (int i = 0; i < RACERS; i++)
    {
        racers[i] = (Racer){race, i};
        assert_int_equal(pthread_create(&threads[i], NULL, race_main, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    /* Grants to different holders never overlap. Sorting is not needed: compare every grant with the
       latest-ending grant of every other holder seen so far, in the order given. */
    size_t switches = 0;
    for (size_t i = 1; i < race->count; i++)
        if (race->given[i].holder != race->given[i - 1].holder)
            switches++;
    for (size_t i = 0; i < race->count; i++)
        for (size_t j = i + 1; j < race->count && j < i + 64; j++)
        {
            const Given *a = &race->given[i], *b = &race->given[j];
            if (a->holder != b->holder && a->from < b->until && b->from < a->until)
                fail_msg("n%d [%lld, %lld) and n%d [%lld, %lld) overlap", a->holder + 1, (long long)a->from,
                         (long long)a->until, b->holder + 1, (long long)b->from, (long long)b->until);
        }
    assert_true(race->count > 0);
    assert_true(switches > 0); /* the holder did change: the test exercised handovers */
    pd_failsafe_free(race->fs);
    pthread_mutex_destroy(&race->lock);
    free(race);
}

/* A deterministic pseudo-random sequence (xorshift), so a failure can be replayed. */
static uint64_t
next_random(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

/*
 * n tables, member 0 the primary P, member 1 the taker Q. Each step, at a
 * virtual time that moves by 0 to 400 ms: P runs a round (itself and the
 * members it reaches this step, by the rule of keeper_lease.c: only while its
 * deadline has not passed, deadline = send + D - margin with a majority), or
 * Q tries a take (its own table, then those it reaches; ceil(n/2) needed; a
 * failed try gives its own grant back), and once Q is covered it leads:
 * its table refuses every other member. Claim checked at every step: never is
 * P before its deadline while Q is covered.
 */
static void
run_interleaving(size_t n, uint64_t seed)
{
    enum
    {
        D = 3000,
        MARGIN = 500,
    };
    PdFailsafe *fs[5];
    for (size_t i = 0; i < n; i++)
    {
        char name[24];
        snprintf(name, sizeof name, "n%zu", i + 1);
        fs[i] = table(name);
    }
    pd_failsafe_set_leading(fs[0], true); /* P led under its lease, until it lapses at 2500 */
    int64_t now = 0, deadline = 2500;
    bool is_covered = false;
    for (int step = 0; step < 400 && !is_covered; step++)
    {
        now += (int64_t)(next_random(&seed) % 400);
        uint64_t reach = next_random(&seed);
        if (next_random(&seed) % 2 == 0 && now < deadline) /* P's round */
        {
            size_t granted = 0;
            for (size_t i = 0; i < n; i++)
                if ((i == 0 || (reach >> i) & 1) && pd_failsafe_grant(fs[i], "n1", D, now).is_granted)
                    granted++;
            int64_t answered = now + (int64_t)(next_random(&seed) % 300);
            if (granted >= n / 2 + 1 && answered < deadline && now + D - MARGIN > deadline)
                deadline = now + D - MARGIN;
            now = answered;
        }
        else if (now >= 2500) /* Q, once P's lease could have lapsed in etcd */
        {
            size_t granted = 0;
            for (size_t i = 1; i < n; i++)
                if ((i == 1 || (reach >> i) & 1) && pd_failsafe_grant(fs[i], "n2", D, now).is_granted)
                    granted++;
            if (granted >= (n + 1) / 2)
            {
                is_covered = true;
                pd_failsafe_set_leading(fs[1], true);
            }
            else
                pd_failsafe_release(fs[1]);
        }
        if (is_covered && now < deadline)
            fail_msg("n = %zu, seed %llu, step %d: P writable until %lld while Q covered at %lld", n,
                     (unsigned long long)seed, step, (long long)deadline, (long long)now);
    }
    for (size_t i = 0; i < n; i++)
        pd_failsafe_free(fs[i]);
}

static void
test_majorities(void **state)
{
    (void)state;
    for (size_t n = 2; n <= 5; n++)
        for (uint64_t seed = 1; seed <= 400; seed++)
            run_interleaving(n, seed * 2654435761u);
}

/* ---- over HTTP ---------------------------------------------------------------------------------------- */

typedef struct Server
{
    PdKeeperView *view;
    PdFailsafe *fs;
    PdHaApi *api;
    char url[64];
} Server;

static void
server_start(Server *server, const char *self)
{
    PdError err = {0};
    server->fs = table(self);
    const char *roster[] = {"n1", "n2", "n3", "n4", "n5"};
    pd_failsafe_set_roster(server->fs, roster, 5);
    if (!pd_keeper_view_new(&server->view, &err) ||
        !pd_ha_api_start_failsafe("127.0.0.1", 0, server->view, server->fs, &server->api, &err))
        fail_msg("the API: %s", err.message);
    snprintf(server->url, sizeof server->url, "http://127.0.0.1:%d", pd_ha_api_port(server->api));
}

static void
server_stop(Server *server)
{
    pd_ha_api_stop(server->api);
    pd_failsafe_free(server->fs);
    pd_keeper_view_free(server->view);
}

typedef struct Reply
{
    long status;
    char body[4096];
    size_t length;
    char allow[128];
} Reply;

static size_t
on_body(char *data, size_t size, size_t count, void *user)
{
    Reply *reply = user;
    size_t length = size * count;
    if (reply->length + length >= sizeof reply->body)
        return 0;
    memcpy(reply->body + reply->length, data, length);
    reply->length += length;
    reply->body[reply->length] = '\0';
    return length;
}

static size_t
on_header(char *data, size_t size, size_t count, void *user)
{
    Reply *reply = user;
    size_t length = size * count;
    if (length > 7 && strncasecmp(data, "Allow: ", 7) == 0)
        snprintf(reply->allow, sizeof reply->allow, "%.*s", (int)(length - 9), data + 7);
    return length;
}

static void
send_request_with(const Server *server, const char *method, const char *path, const char *body,
                  const char *signature, Reply *reply)
{
    memset(reply, 0, sizeof *reply);
    char url[128];
    snprintf(url, sizeof url, "%s%s", server->url, path);
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
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    char header[PD_FAILSAFE_HMAC_HEX + 64];
    snprintf(header, sizeof header, "%s: %s", PD_FAILSAFE_HEADER, signature != NULL ? signature : "");
    struct curl_slist *headers = signature != NULL ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (code != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(code));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_easy_cleanup(curl);
}

static void
send_request(const Server *server, const char *method, const char *path, const char *body, Reply *reply)
{
    send_request_with(server, method, path, body, NULL, reply);
}

/* POST /failsafe for holder, sent now, signed with secret. */
static void
send_signed(const Server *server, PdArena *arena, const char *holder, const char *secret, Reply *reply)
{
    char hex[PD_FAILSAFE_HMAC_HEX + 1];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *body =
        signed_body(arena, holder, "main", (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, secret, hex);
    send_request_with(server, "POST", "/failsafe", body, hex, reply);
}

static void
test_http(void **state)
{
    (void)state;
    Server server;
    server_start(&server, "n2");
    PdArena *arena = pd_arena_new(0);
    Reply reply;
    const char *body =
        "{\"holder\":\"n1\",\"granter\":\"n2\",\"duration_ms\":3000,\"cluster\":\"main\",\"sent_ms\":1}";
    send_request(&server, "POST", "/failsafe", body, &reply); /* a stranger: no signature */
    assert_int_equal(reply.status, 401);
    assert_contains(reply.body, PD_FAILSAFE_HEADER);
    send_signed(&server, arena, "n1", "a-stranger's-guess", &reply);
    assert_int_equal(reply.status, 403);
    assert_contains(reply.body, "not this request's signature");
    send_signed(&server, arena, "x9", SECRET, &reply); /* signed, but not a member */
    assert_int_equal(reply.status, 409);
    send_signed(&server, arena, "n1", SECRET, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"granted\":true,\"granter\":\"n2\",\"duration_ms\":3000}");
    send_signed(&server, arena, "n3", SECRET, &reply);
    assert_int_equal(reply.status, 409);
    assert_contains(reply.body, "\"granted\":false,\"granter\":\"n2\",\"holder\":\"n1\",\"remaining_ms\":");
    send_request_with(
        &server, "POST", "/failsafe",
        "{\"holder\":\"n3\",\"granter\":\"n2\",\"duration_ms\":\"x\",\"cluster\":\"main\",\"sent_ms\":1}",
        "00", &reply);
    assert_int_equal(reply.status, 400);
    assert_contains(reply.body, "\"field\":\"duration_ms\"");
    char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "{\"holder\":\"n3\"", 14);
    send_request(&server, "POST", "/failsafe", big, &reply);
    assert_int_equal(reply.status, 413);
    send_request_with(&server, "POST", "/failsafe", "", "00", &reply); /* no body at all */
    assert_int_equal(reply.status, 400);
    send_request(&server, "GET", "/failsafe", NULL, &reply);
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply.allow, "POST");
    send_request(&server, "POST", "/primary", "{}", &reply); /* the other paths' 405 unchanged */
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply.allow, "GET, HEAD, OPTIONS");
    send_request(&server, "POST", "/nope", NULL, &reply);
    assert_int_equal(reply.status, 404);
    pd_arena_free(arena);
    server_stop(&server);
}

/* A listener that accepts nothing: a request to it is sent into the backlog and never answered. */
static int
silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0)
        fail_msg("a silent listener could not be made");
    *port = ntohs(address.sin_port);
    return fd;
}

static void
test_ask(void **state)
{
    (void)state;
    Server a, b;
    server_start(&a, "n2");
    server_start(&b, "n3");
    int silent_port = 0;
    int silent = silent_listener(&silent_port);
    PdFailsafePeer peers[4] = {{.name = "n4"}, {.name = "n2"}, {.name = "n3"}, {.name = "n5"}};
    snprintf(peers[0].url, sizeof peers[0].url, "http://127.0.0.1:%d", silent_port);
    snprintf(peers[1].url, sizeof peers[1].url, "%s", a.url);
    snprintf(peers[2].url, sizeof peers[2].url, "%s", b.url);
    /* peers[3]: no address known, never asked */
    PdFailsafe *signer = table("n1");
    PdFailsafeRound round = {.signer = signer,
                             .holder = "n1",
                             .cluster = "main",
                             .duration_ms = 3000,
                             .timeout_ms = 1500,
                             .needed = 2,
                             .peers = peers,
                             .peer_count = 4};
    PdError err = {0};
    int64_t started = pd_fence_now_ms();
    assert_true(pd_failsafe_ask(&round, &err));
    int64_t spent = pd_fence_now_ms() - started;
    assert_int_equal(round.granted_count, 2);
    assert_false(round.granted[0]);
    assert_true(round.granted[1] && round.granted[2]);
    assert_false(round.granted[3]);
    assert_true(round.sent_ms >= started);
    if (spent >= 1500) /* back with the two grants it needed, not after the silent peer's timeout */
        fail_msg("the round took %lld ms", (long long)spent);
    print_message("# two grants of four peers (one silent, one unknown) in %lld ms\n", (long long)spent);
    /* both tables now hold n1: a taker n4 gets nothing, and waits the whole bound for every answer */
    round = (PdFailsafeRound){.signer = signer,
                              .holder = "n4",
                              .cluster = "main",
                              .duration_ms = 3000,
                              .timeout_ms = 300,
                              .needed = 0,
                              .peers = peers,
                              .peer_count = 4};
    started = pd_fence_now_ms();
    assert_true(pd_failsafe_ask(&round, &err));
    spent = pd_fence_now_ms() - started;
    assert_int_equal(round.granted_count, 0);
    assert_true(spent >= 290 && spent < 1500);
    /* every member's address reaching n2's keeper (a loopback api_url published by all, say): n2's own
       grant counts once, the one asked of n3 is refused by n2 and would not be counted anyway */
    PdFailsafePeer same[2] = {{.name = "n2"}, {.name = "n3"}};
    snprintf(same[0].url, sizeof same[0].url, "%s", a.url);
    snprintf(same[1].url, sizeof same[1].url, "%s", a.url);
    round = (PdFailsafeRound){.signer = signer,
                              .holder = "n1",
                              .cluster = "main",
                              .duration_ms = 3000,
                              .timeout_ms = 1000,
                              .needed = 2,
                              .peers = same,
                              .peer_count = 2};
    assert_true(pd_failsafe_ask(&round, &err));
    assert_int_equal(round.granted_count, 1);
    assert_true(round.granted[0]);
    assert_false(round.granted[1]);
    /* a cluster's name that is not theirs: refused (400), no grant */
    round = (PdFailsafeRound){.signer = signer,
                              .holder = "n1",
                              .cluster = "other",
                              .duration_ms = 3000,
                              .timeout_ms = 1000,
                              .peers = peers + 1,
                              .peer_count = 2};
    assert_true(pd_failsafe_ask(&round, &err));
    assert_int_equal(round.granted_count, 0);
    /* signed with another password: no grant (403 at both), even for the holder they hold */
    PdFailsafe *stranger = NULL;
    assert_true(pd_failsafe_new("n1", "main", "another-password", &stranger, &err));
    round = (PdFailsafeRound){.signer = stranger,
                              .holder = "n1",
                              .cluster = "main",
                              .duration_ms = 3000,
                              .timeout_ms = 1000,
                              .peers = peers + 1,
                              .peer_count = 2};
    assert_true(pd_failsafe_ask(&round, &err));
    assert_int_equal(round.granted_count, 0);
    pd_failsafe_free(stranger);
    pd_failsafe_free(signer);
    close(silent);
    server_stop(&a);
    server_stop(&b);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),    cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_counted),  cmocka_unit_test(test_leading_and_off),
        cmocka_unit_test(test_request),  cmocka_unit_test(test_serve),
        cmocka_unit_test(test_stranger), cmocka_unit_test(test_peers),
        cmocka_unit_test(test_threads),  cmocka_unit_test(test_majorities),
        cmocka_unit_test(test_http),     cmocka_unit_test(test_ask),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}

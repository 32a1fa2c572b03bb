/*
 * test_auth.c - the server's seam: a request's identity from its Authorization header (a token, the
 * anonymous role, none), the 401 details and WWW-Authenticate codes, the address limit taken before the
 * token is read, per-role rates and overrides keyed per subject, and the access directive's verdicts
 * (anyone, authenticated, roles, none) for anonymous and token requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/auth.h"
#include "testing.h"

#define SECRET "a-test-secret-of-at-least-thirty-two-bytes!"
#define NOW_MS INT64_C(1800000000000)

static char *
token(PdArena *arena, const char *claims)
{
    PdJwtKeys *keys = NULL;
    PdError err;
    assert_true(pd_http_jwt_load(&(PdJwtOptions){.secret = SECRET}, &keys, &err));
    char *text = NULL;
    assert_true(pd_http_jwt_sign_hs256(arena, keys, claims, &text, &err));
    pd_http_jwt_free(keys);
    return pd_arena_sprintf(arena, "Bearer %s", text);
}

static PdHttpAuth *
auth_new(const PdHttpAuthOptions *options)
{
    PdHttpAuth *auth = NULL;
    PdError err;
    if (!pd_http_auth_new(options, &auth, &err))
        fail_msg("auth refused: %s", err.message);
    return auth;
}

static void
expect_401(PdHttpAuth *auth, PdArena *arena, const char *header, const char *message, const char *code)
{
    PdHttpIdentity identity = {.role = "untouched"};
    PdError err;
    assert_false(pd_http_auth_identify(auth, arena, header, "127.0.0.1", NOW_MS, &identity, &err));
    assert_int_equal(err.code, PD_ERR_UNAUTHORIZED);
    assert_string_equal(err.message, message);
    assert_string_equal(err.detail, code);
    assert_string_equal(identity.role, "untouched");
}

static void
test_identify(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdHttpAuth *strict = auth_new(&(PdHttpAuthOptions){.jwt = {.secret = SECRET}});
    PdHttpAuth *open =
        auth_new(&(PdHttpAuthOptions){.jwt = {.secret = SECRET}, .anonymous_role = "web_anon"});
    PdHttpIdentity identity;
    PdError err;
    const char *editor = token(arena, "{\"role\":\"editor\",\"sub\":\"alice\",\"exp\":1900000000}");
    assert_true(pd_http_auth_identify(strict, arena, editor, "127.0.0.1", NOW_MS, &identity, &err));
    assert_false(identity.is_anonymous);
    assert_string_equal(identity.role, "editor");
    assert_string_equal(identity.subject, "alice");
    assert_contains(identity.claims_json, "\"sub\":\"alice\"");
    /* lower-case scheme, extra spaces */
    const char *lower = pd_arena_sprintf(arena, "bearer   %s ", editor + 7);
    assert_true(pd_http_auth_identify(strict, arena, lower, NULL, NOW_MS, &identity, &err));
    /* no credentials */
    expect_401(strict, arena, NULL, PD_AUTH_NOT_PROVIDED, "");
    expect_401(strict, arena, "", PD_AUTH_NOT_PROVIDED, "");
    assert_true(pd_http_auth_identify(open, arena, NULL, "127.0.0.1", NOW_MS, &identity, &err));
    assert_true(identity.is_anonymous);
    assert_string_equal(identity.role, "web_anon");
    assert_null(identity.claims_json);
    /* a bad token is refused even where anonymous access exists */
    expect_401(open, arena, token(arena, "{\"role\":\"editor\",\"exp\":1700000000}"), "token expired",
               "invalid_token");
    expect_401(open, arena, "Basic dXNlcjpwYXNz",
               "Invalid Authorization header, expected \"Bearer <token>\".", "invalid_request");
    expect_401(open, arena, "Bearer", "Invalid Authorization header, expected \"Bearer <token>\".",
               "invalid_request");
    expect_401(open, arena, "Bearer a b", "Invalid Authorization header, expected \"Bearer <token>\".",
               "invalid_request");
    /* a token without a role: the anonymous role when there is one, else refused */
    const char *roleless = token(arena, "{\"sub\":\"bob\"}");
    assert_true(pd_http_auth_identify(open, arena, roleless, NULL, NOW_MS, &identity, &err));
    assert_false(identity.is_anonymous);
    assert_string_equal(identity.role, "web_anon");
    assert_string_equal(identity.subject, "bob");
    expect_401(strict, arena, roleless, "token has no role claim", "invalid_token");
    /* no key configured: tokens refused, anonymous still served */
    PdHttpAuth *keyless = auth_new(&(PdHttpAuthOptions){.anonymous_role = "web_anon"});
    expect_401(keyless, arena, editor, "token not accepted: no key configured", "invalid_token");
    assert_true(pd_http_auth_identify(keyless, arena, NULL, NULL, NOW_MS, &identity, &err));
    pd_http_auth_free(keyless);
    pd_http_auth_free(strict);
    pd_http_auth_free(open);
    pd_arena_free(arena);
}

static void
expect_429(PdHttpAuth *auth, PdArena *arena, const char *header, const char *address, int64_t now_ms,
           const char *seconds)
{
    PdHttpIdentity identity;
    PdError err;
    assert_false(pd_http_auth_identify(auth, arena, header, address, now_ms, &identity, &err));
    assert_int_equal(err.code, PD_ERR_RATE_LIMITED);
    assert_string_equal(err.detail, seconds);
    char message[100];
    snprintf(message, sizeof(message), "Request was throttled. Expected available in %s seconds.", seconds);
    assert_string_equal(err.message, message);
}

static void
test_rates(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdHttpAuth *auth = auth_new(&(PdHttpAuthOptions){.jwt = {.secret = SECRET},
                                                     .anonymous_role = "web_anon",
                                                     .rate_per_address = "5/min",
                                                     .rate_per_role = "2/min, editor=3/min, admin="});
    PdHttpIdentity identity;
    PdError err;
    /* anonymous: the role rate (2/min) per address */
    for (int i = 0; i < 2; i++)
        assert_true(pd_http_auth_identify(auth, arena, NULL, "10.0.0.1", NOW_MS, &identity, &err));
    expect_429(auth, arena, NULL, "10.0.0.1", NOW_MS, "60");
    assert_true(pd_http_auth_identify(auth, arena, NULL, "10.0.0.2", NOW_MS, &identity, &err));
    /* editors: 3/min per subject; admin unlimited, but still under the address limit */
    const char *alice = token(arena, "{\"role\":\"editor\",\"sub\":\"alice\"}");
    const char *bob = token(arena, "{\"role\":\"editor\",\"sub\":\"bob\"}");
    const char *root = token(arena, "{\"role\":\"admin\",\"sub\":\"root\"}");
    for (int i = 0; i < 3; i++)
        assert_true(pd_http_auth_identify(auth, arena, alice, "10.0.1.1", NOW_MS, &identity, &err));
    expect_429(auth, arena, alice, "10.0.1.2", NOW_MS, "60");
    assert_true(pd_http_auth_identify(auth, arena, bob, "10.0.1.3", NOW_MS, &identity, &err));
    for (int i = 0; i < 5; i++)
        assert_true(pd_http_auth_identify(auth, arena, root, "10.0.2.1", NOW_MS, &identity, &err));
    expect_429(auth, arena, root, "10.0.2.1", NOW_MS, "60");
    /* the address limit comes first: a forged token from a throttled address gets 429, not 401 */
    expect_429(auth, arena, "Bearer forged.token.here", "10.0.2.1", NOW_MS, "60");
    /* two seconds short of a minute, still refused (DRF's window: not a token back after 20 s) */
    expect_429(auth, arena, alice, "10.0.1.1", NOW_MS + 58000, "2");
    /* a minute later it is all back */
    assert_true(pd_http_auth_identify(auth, arena, alice, "10.0.1.1", NOW_MS + 60000, &identity, &err));
    pd_http_auth_free(auth);
    /* bad rates name their setting */
    PdHttpAuth *bad = NULL;
    assert_false(pd_http_auth_new(&(PdHttpAuthOptions){.rate_per_address = "5/fortnight"}, &bad, &err));
    assert_string_equal(err.field, "rate_per_address");
    assert_false(pd_http_auth_new(&(PdHttpAuthOptions){.rate_per_role = "editor=lots"}, &bad, &err));
    assert_string_equal(err.field, "rate_per_role");
    assert_false(pd_http_auth_new(&(PdHttpAuthOptions){.rate_per_role = "=5/s"}, &bad, &err));
    assert_false(pd_http_auth_new(&(PdHttpAuthOptions){.jwt = {.secret = "short"}}, &bad, &err));
    pd_arena_free(arena);
}

static void
test_allows(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = testing_parse(
        arena, "model Open {\n  title string(20)\n}\n"
               "model Members {\n  title string(20)\n  access read=authenticated write=editor|admin\n}\n"
               "model Archive {\n  title string(20)\n  access write=none read=web_anon|editor\n}\n");
    const PdModel *open = &catalog->models[0], *members = &catalog->models[1], *archive = &catalog->models[2];
    PdHttpIdentity anonymous = {.is_anonymous = true, .role = "web_anon"};
    PdHttpIdentity editor = {.role = "editor"};
    PdHttpIdentity viewer = {.role = "viewer"};
    PdError err;
    assert_true(pd_http_auth_allows(open, &anonymous, false, &err));
    assert_true(pd_http_auth_allows(open, &anonymous, true, &err));
    assert_false(pd_http_auth_allows(members, &anonymous, false, &err));
    assert_int_equal(err.code, PD_ERR_UNAUTHORIZED);
    assert_string_equal(err.message, PD_AUTH_NOT_PROVIDED);
    assert_true(pd_http_auth_allows(members, &viewer, false, &err));
    assert_false(pd_http_auth_allows(members, &viewer, true, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_string_equal(err.message, PD_AUTH_DENIED);
    assert_true(pd_http_auth_allows(members, &editor, true, &err));
    assert_false(pd_http_auth_allows(members, &anonymous, true, &err));
    assert_int_equal(err.code, PD_ERR_UNAUTHORIZED);
    /* a listed anonymous role reads; nobody writes */
    assert_true(pd_http_auth_allows(archive, &anonymous, false, &err));
    assert_false(pd_http_auth_allows(archive, &viewer, false, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    assert_false(pd_http_auth_allows(archive, &editor, true, &err));
    assert_int_equal(err.code, PD_ERR_FORBIDDEN);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_allows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_jwt.c - bearer token verification against tokens made here with OpenSSL: HS256 with a secret,
 * RS256 with a fresh RSA key, ES256 with a fresh P-256 key (its DER signature turned into raw r || s as
 * JOSE writes it). Each refusal is checked by code and message: expired, not yet valid (and the leeway on
 * both), wrong issuer, wrong audience (string and array), a forged signature, alg "none", an HS256 token
 * signed with the public key's PEM as the secret (algorithm confusion), malformed base64url, huge input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "http/base64url.h"
#include "http/jwt.h"
#include "testing.h"

#define SECRET "a-test-secret-of-at-least-thirty-two-bytes!"
#define NOW 1800000000

typedef struct Fixture
{
    PdArena *arena;
    EVP_PKEY *rsa;
    EVP_PKEY *ec;
    char rsa_file[64];
    char ec_file[64];
    char *rsa_pem; /* the RSA public key's PEM text */
} Fixture;

static char *
b64(PdArena *arena, const void *data, size_t length)
{
    char *text = pd_http_base64url_encode(arena, data, length);
    assert_non_null(text);
    return text;
}

static char *
signing_input(PdArena *arena, const char *header, const char *claims)
{
    return pd_arena_sprintf(arena, "%s.%s", b64(arena, header, strlen(header)),
                            b64(arena, claims, strlen(claims)));
}

static char *
sign_hmac(PdArena *arena, const char *secret, size_t secret_length, const char *header, const char *claims)
{
    char *input = signing_input(arena, header, claims);
    unsigned char mac[32];
    unsigned int length = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)secret_length, (const unsigned char *)input,
                         strlen(input), mac, &length));
    return pd_arena_sprintf(arena, "%s.%s", input, b64(arena, mac, length));
}

static char *
hs256(PdArena *arena, const char *claims)
{
    return sign_hmac(arena, SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
}

static unsigned char *
sign_pkey(EVP_PKEY *key, const char *input, size_t *length)
{
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(context, NULL, length, (const unsigned char *)input, strlen(input)), 1);
    unsigned char *signature = malloc(*length);
    assert_int_equal(EVP_DigestSign(context, signature, length, (const unsigned char *)input, strlen(input)),
                     1);
    EVP_MD_CTX_free(context);
    return signature;
}

static char *
rs256(Fixture *fx, const char *claims)
{
    char *input = signing_input(fx->arena, "{\"alg\":\"RS256\"}", claims);
    size_t length;
    unsigned char *signature = sign_pkey(fx->rsa, input, &length);
    char *token = pd_arena_sprintf(fx->arena, "%s.%s", input, b64(fx->arena, signature, length));
    free(signature);
    return token;
}

static char *
es256(Fixture *fx, const char *claims)
{
    char *input = signing_input(fx->arena, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims);
    size_t length;
    unsigned char *der = sign_pkey(fx->ec, input, &length);
    const unsigned char *at = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &at, (long)length);
    assert_non_null(sig);
    unsigned char raw[64];
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
    free(der);
    return pd_arena_sprintf(fx->arena, "%s.%s", input, b64(fx->arena, raw, 64));
}

static void
write_public(EVP_PKEY *key, char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    assert_int_equal(PEM_write_PUBKEY(file, key), 1);
    fclose(file);
}

static int
setup(void **state)
{
    Fixture *fx = calloc(1, sizeof(*fx));
    fx->arena = pd_arena_new(0);
    fx->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(fx->rsa);
    assert_non_null(fx->ec);
    strcpy(fx->rsa_file, "/tmp/prodata-jwt-rsa-XXXXXX");
    strcpy(fx->ec_file, "/tmp/prodata-jwt-ec-XXXXXX");
    write_public(fx->rsa, fx->rsa_file);
    write_public(fx->ec, fx->ec_file);
    fx->rsa_pem = testing_read_text(fx->arena, fx->rsa_file);
    assert_non_null(fx->rsa_pem);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    Fixture *fx = *state;
    unlink(fx->rsa_file);
    unlink(fx->ec_file);
    EVP_PKEY_free(fx->rsa);
    EVP_PKEY_free(fx->ec);
    pd_arena_free(fx->arena);
    free(fx);
    return 0;
}

static PdJwtKeys *
load(const PdJwtOptions *options)
{
    PdJwtKeys *keys = NULL;
    PdError err;
    if (!pd_http_jwt_load(options, &keys, &err))
        fail_msg("keys do not load: %s", err.message);
    return keys;
}

static void
expect_refused(PdArena *arena, const PdJwtKeys *keys, const char *token, int64_t now, const char *message)
{
    PdJwtClaims claims = {.role = "untouched"};
    PdError err;
    assert_false(pd_http_jwt_verify(arena, keys, token, now, &claims, &err));
    assert_int_equal(err.code, PD_ERR_UNAUTHORIZED);
    assert_string_equal(err.message, message);
    assert_string_equal(claims.role, "untouched");
}

static void
test_hs256_valid(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    const char *payload = "{\"role\":\"editor\",\"sub\":\"alice\",\"exp\":1800000100}";
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, keys, hs256(fx->arena, payload), NOW, &claims, &err));
    assert_string_equal(claims.role, "editor");
    assert_string_equal(claims.subject, "alice");
    assert_string_equal(claims.claims_json, payload);
    assert_int_equal(claims.expires, 1800000100);
    /* no role claim: role NULL; a number as sub: no subject */
    assert_true(pd_http_jwt_verify(fx->arena, keys, hs256(fx->arena, "{\"sub\":42}"), NOW, &claims, &err));
    assert_null(claims.role);
    assert_null(claims.subject);
    assert_int_equal(claims.expires, 0);
    pd_http_jwt_free(keys);
}

static void
test_sign_roundtrip(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    char *token = NULL;
    PdError err;
    assert_true(
        pd_http_jwt_sign_hs256(fx->arena, keys, "{\"role\":\"web\",\"exp\":1800000001}", &token, &err));
    PdJwtClaims claims;
    assert_true(pd_http_jwt_verify(fx->arena, keys, token, NOW, &claims, &err));
    assert_string_equal(claims.role, "web");
    assert_false(pd_http_jwt_sign_hs256(fx->arena, keys, "[1]", &token, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    pd_http_jwt_free(keys);
}

static void
test_rs256_and_es256(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *rsa = load(&(PdJwtOptions){.public_key_file = fx->rsa_file});
    PdJwtKeys *ec = load(&(PdJwtOptions){.public_key_file = fx->ec_file});
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, rsa, rs256(fx, "{\"role\":\"r\"}"), NOW, &claims, &err));
    assert_string_equal(claims.role, "r");
    assert_true(pd_http_jwt_verify(fx->arena, ec, es256(fx, "{\"role\":\"e\"}"), NOW, &claims, &err));
    assert_string_equal(claims.role, "e");
    /* each key accepts only its own algorithm */
    expect_refused(fx->arena, rsa, es256(fx, "{\"role\":\"e\"}"), NOW, "unsupported token algorithm");
    expect_refused(fx->arena, ec, rs256(fx, "{\"role\":\"r\"}"), NOW, "unsupported token algorithm");
    expect_refused(fx->arena, rsa, hs256(fx->arena, "{\"role\":\"h\"}"), NOW, "unsupported token algorithm");
    /* a signature by another key of the same kind */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *mine = fx->ec;
    fx->ec = other;
    char *forged = es256(fx, "{\"role\":\"e\"}");
    fx->ec = mine;
    EVP_PKEY_free(other);
    expect_refused(fx->arena, ec, forged, NOW, "signature does not verify");
    pd_http_jwt_free(rsa);
    pd_http_jwt_free(ec);
}

static void
test_times(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    PdJwtKeys *lenient = load(&(PdJwtOptions){.secret = SECRET, .leeway_s = 30});
    char *expired = hs256(fx->arena, "{\"role\":\"a\",\"exp\":1799999990}");
    expect_refused(fx->arena, keys, expired, NOW, "token expired");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"exp\":1800000000}"), NOW, "token expired");
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, lenient, expired, NOW, &claims, &err));
    char *early = hs256(fx->arena, "{\"role\":\"a\",\"nbf\":1800000020}");
    expect_refused(fx->arena, keys, early, NOW, "token not yet valid");
    assert_true(pd_http_jwt_verify(fx->arena, lenient, early, NOW, &claims, &err));
    assert_true(pd_http_jwt_verify(fx->arena, keys, early, NOW + 20, &claims, &err));
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"exp\":\"tomorrow\"}"), NOW, "malformed token");
    pd_http_jwt_free(keys);
    pd_http_jwt_free(lenient);
}

static void
test_issuer_and_audience(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys =
        load(&(PdJwtOptions){.secret = SECRET, .issuer = "https://id.example", .audience = "api"});
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, keys,
                                   hs256(fx->arena, "{\"iss\":\"https://id.example\",\"aud\":\"api\"}"), NOW,
                                   &claims, &err));
    assert_true(pd_http_jwt_verify(
        fx->arena, keys, hs256(fx->arena, "{\"iss\":\"https://id.example\",\"aud\":[\"web\",\"api\"]}"), NOW,
        &claims, &err));
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"iss\":\"https://evil.example\",\"aud\":\"api\"}"),
                   NOW, "wrong token issuer");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"aud\":\"api\"}"), NOW, "wrong token issuer");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"iss\":\"https://id.example\",\"aud\":\"web\"}"), NOW,
                   "wrong token audience");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"iss\":\"https://id.example\",\"aud\":[\"web\",7]}"),
                   NOW, "wrong token audience");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"iss\":\"https://id.example\"}"), NOW,
                   "wrong token audience");
    pd_http_jwt_free(keys);
}

static void
test_role_claim_path(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET, .role_claim = "app.meta.role"});
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(
        fx->arena, keys, hs256(fx->arena, "{\"role\":\"top\",\"app\":{\"meta\":{\"role\":\"deep\"}}}"), NOW,
        &claims, &err));
    assert_string_equal(claims.role, "deep");
    assert_true(pd_http_jwt_verify(fx->arena, keys, hs256(fx->arena, "{\"app\":\"x\"}"), NOW, &claims, &err));
    assert_null(claims.role);
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"app\":{\"meta\":{\"role\":5}}}"), NOW,
                   "malformed role claim");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"app\":{\"meta\":{\"role\":\"\"}}}"), NOW,
                   "malformed role claim");
    pd_http_jwt_free(keys);
    PdJwtKeys *bad = NULL;
    assert_false(pd_http_jwt_load(&(PdJwtOptions){.secret = SECRET, .role_claim = "app..role"}, &bad, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
}

static void
test_forged_and_none(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    char *token = hs256(fx->arena, "{\"role\":\"editor\"}");
    /* the payload swapped for another role, signature kept */
    char *dot = strchr(token, '.');
    char *forged = pd_arena_sprintf(fx->arena, "%.*s.%s.%s", (int)(dot - token), token,
                                    b64(fx->arena, "{\"role\":\"admin\"}", 16), strrchr(token, '.') + 1);
    expect_refused(fx->arena, keys, forged, NOW, "signature does not verify");
    /* signed with another secret */
    const char *other = "another-secret-of-at-least-thirty-two-bytes";
    expect_refused(fx->arena, keys,
                   sign_hmac(fx->arena, other, strlen(other), "{\"alg\":\"HS256\"}", "{\"role\":\"admin\"}"),
                   NOW, "signature does not verify");
    /* one letter of the signature changed */
    char *flipped = pd_arena_strdup(fx->arena, token);
    char *last = flipped + strlen(flipped) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    expect_refused(fx->arena, keys, flipped, NOW, "signature does not verify");
    /* alg none, with and without a signature; alg missing; other algorithms */
    char *none = signing_input(fx->arena, "{\"alg\":\"none\"}", "{\"role\":\"admin\"}");
    expect_refused(fx->arena, keys, pd_arena_sprintf(fx->arena, "%s.", none), NOW,
                   "unsupported token algorithm");
    expect_refused(fx->arena, keys, pd_arena_sprintf(fx->arena, "%s.%s", none, strrchr(token, '.') + 1), NOW,
                   "unsupported token algorithm");
    expect_refused(fx->arena, keys, sign_hmac(fx->arena, SECRET, strlen(SECRET), "{\"typ\":\"JWT\"}", "{}"),
                   NOW, "malformed token");
    expect_refused(fx->arena, keys, sign_hmac(fx->arena, SECRET, strlen(SECRET), "{\"alg\":\"HS512\"}", "{}"),
                   NOW, "unsupported token algorithm");
    expect_refused(fx->arena, keys,
                   sign_hmac(fx->arena, SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", "{}"),
                   NOW, "unsupported token extension");
    pd_http_jwt_free(keys);
}

/* The classic confusion: an HS256 token whose "secret" is the server's public key PEM. */
static void
test_algorithm_confusion(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.public_key_file = fx->rsa_file});
    char *token =
        sign_hmac(fx->arena, fx->rsa_pem, strlen(fx->rsa_pem), "{\"alg\":\"HS256\"}", "{\"role\":\"admin\"}");
    expect_refused(fx->arena, keys, token, NOW, "unsupported token algorithm");
    /* the same with the PEM as the configured secret would verify: only a configured secret enables HS256 */
    PdJwtKeys *pem_secret = load(&(PdJwtOptions){.secret = fx->rsa_pem});
    PdJwtClaims claims;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, pem_secret, token, NOW, &claims, &err));
    pd_http_jwt_free(pem_secret);
    pd_http_jwt_free(keys);
}

static void
test_malformed(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    char *token = hs256(fx->arena, "{\"role\":\"editor\"}");
    const char *bad[] = {"", ".", "..", "a.b", "a.b.c.d", "abc", "e30.e30.", "!!.e30.e30", "e30.e30.e30="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    {
        PdJwtClaims claims;
        PdError err;
        assert_false(pd_http_jwt_verify(fx->arena, keys, bad[i], NOW, &claims, &err));
        assert_int_equal(err.code, PD_ERR_UNAUTHORIZED);
    }
    /* padding, standard alphabet, white space, non-canonical trailing bits */
    expect_refused(fx->arena, keys, pd_arena_sprintf(fx->arena, "%s=", token), NOW, "malformed token");
    expect_refused(fx->arena, keys, pd_arena_sprintf(fx->arena, " %s", token), NOW, "malformed token");
    char *plus = pd_arena_strdup(fx->arena, token);
    plus[3] = '+';
    expect_refused(fx->arena, keys, plus, NOW, "malformed token");
    /* "e30" is "{}"; "e31" is the same bytes with an unused low bit set: signed correctly, still refused */
    const char *header = "{\"alg\":\"HS256\"}";
    char *input = pd_arena_sprintf(fx->arena, "%s.e31", b64(fx->arena, header, strlen(header)));
    unsigned char mac[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)input, strlen(input), mac,
         &length);
    expect_refused(fx->arena, keys, pd_arena_sprintf(fx->arena, "%s.%s", input, b64(fx->arena, mac, length)),
                   NOW, "malformed token");
    /* a payload that is JSON but not an object, or has a key twice */
    expect_refused(fx->arena, keys, hs256(fx->arena, "[\"role\"]"), NOW, "malformed token");
    expect_refused(fx->arena, keys, hs256(fx->arena, "{\"role\":\"a\",\"role\":\"admin\"}"), NOW,
                   "malformed token");
    pd_http_jwt_free(keys);
}

static void
test_huge(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = load(&(PdJwtOptions){.secret = SECRET});
    char *huge = pd_arena_alloc(fx->arena, 1 << 20);
    memset(huge, 'a', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    expect_refused(fx->arena, keys, huge, NOW, "token too large");
    /* just under the limit: accepted (white space pads the claims) */
    size_t claim_length = PD_JWT_MAX_TOKEN_BYTES / 4 * 3 - 200;
    char *claims = pd_arena_alloc(fx->arena, claim_length + 1);
    memset(claims, ' ', claim_length);
    memcpy(claims, "{\"role\":\"a\"", 11);
    claims[claim_length - 1] = '}';
    claims[claim_length] = '\0';
    char *token = hs256(fx->arena, claims);
    assert_true(strlen(token) <= PD_JWT_MAX_TOKEN_BYTES);
    PdJwtClaims out;
    PdError err;
    assert_true(pd_http_jwt_verify(fx->arena, keys, token, NOW, &out, &err));
    pd_http_jwt_free(keys);
}

static void
test_load_refusals(void **state)
{
    Fixture *fx = *state;
    PdJwtKeys *keys = NULL;
    PdError err;
    assert_false(pd_http_jwt_load(&(PdJwtOptions){0}, &keys, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_false(pd_http_jwt_load(&(PdJwtOptions){.secret = "short"}, &keys, &err));
    assert_contains(err.message, "shorter than 32 bytes");
    assert_false(pd_http_jwt_load(&(PdJwtOptions){.public_key_file = "/nonexistent/key.pem"}, &keys, &err));
    assert_int_equal(err.code, PD_ERR_IO);
    char path[] = "/tmp/prodata-jwt-bad-XXXXXX";
    int fd = mkstemp(path);
    assert_true(write(fd, "not a key\n", 10) == 10);
    close(fd);
    assert_false(pd_http_jwt_load(&(PdJwtOptions){.public_key_file = path}, &keys, &err));
    assert_contains(err.message, "holds no PEM public key");
    unlink(path);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char small_path[] = "/tmp/prodata-jwt-small-XXXXXX";
    write_public(small, small_path);
    assert_false(pd_http_jwt_load(&(PdJwtOptions){.public_key_file = small_path}, &keys, &err));
    assert_contains(err.message, "neither RSA of 2048 bits");
    unlink(small_path);
    EVP_PKEY_free(small);
    (void)fx;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_valid),         cmocka_unit_test(test_sign_roundtrip),
        cmocka_unit_test(test_rs256_and_es256),     cmocka_unit_test(test_times),
        cmocka_unit_test(test_issuer_and_audience), cmocka_unit_test(test_role_claim_path),
        cmocka_unit_test(test_forged_and_none),     cmocka_unit_test(test_algorithm_confusion),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_huge),
        cmocka_unit_test(test_load_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * fuzz_jwt.c - bearer token verification (pd_http_jwt_verify, what the server runs on every Authorization
 * header) on any text, with an HS256 secret and an ES256 key both configured. A token is accepted or a 401,
 * never a crash; an accepted token's claims are a JSON object's text, its role a non-empty string of at most
 * 63 bytes. The base64url decoder under it is canonical: whatever it accepts encodes back to the same text.
 */
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "http/base64url.h"
#include "http/jwt.h"

static PdJwtKeys *keys;

static void
load_keys(void)
{
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char path[] = "/tmp/prodata-fuzz-jwt-XXXXXX";
    int fd = mkstemp(path);
    FILE *file = fd >= 0 ? fdopen(fd, "w") : NULL;
    FUZZ_ASSERT(ec != NULL && file != NULL && PEM_write_PUBKEY(file, ec) == 1, "cannot write the test key");
    fclose(file);
    PdError err;
    PdJwtOptions options = {.secret = "fuzz-secret-of-at-least-thirty-two-bytes",
                            .public_key_file = path,
                            .audience = "api",
                            .role_claim = "app.role",
                            .leeway_s = 5};
    FUZZ_ASSERT(pd_http_jwt_load(&options, &keys, &err), "%s", err.message);
    unlink(path);
    EVP_PKEY_free(ec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (keys == NULL)
        load_keys();
    PdArena *arena = pd_arena_new(0);
    char *text = fuzz_text(arena, data, size);
    PdJwtClaims claims;
    PdError err;
    if (pd_http_jwt_verify(arena, keys, text, 1800000000, &claims, &err))
    {
        FUZZ_ASSERT(claims.claims_json != NULL && claims.claims_json[0] == '{', "claims not an object");
        FUZZ_ASSERT(claims.role == NULL || (claims.role[0] != '\0' && strlen(claims.role) <= 63), "bad role");
    }
    else
        FUZZ_ASSERT(err.code == PD_ERR_UNAUTHORIZED, "verify failed with code %d: %s", err.code, err.message);
    unsigned char *bytes;
    size_t length;
    if (pd_http_base64url_decode(arena, text, strlen(text), &bytes, &length))
    {
        char *again = pd_http_base64url_encode(arena, bytes, length);
        FUZZ_ASSERT(again != NULL && strcmp(again, text) == 0, "base64url \"%s\" is not canonical", text);
    }
    pd_arena_free(arena);
    return 0;
}

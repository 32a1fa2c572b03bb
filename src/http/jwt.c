/*
 * jwt.c - bearer token verification for the REST server. A token is read in a fixed order that never lets
 * the token choose how it is checked: size, form (three strict base64url parts), the header's algorithm
 * against the keys configured (HS256 only with a secret, RS256 only with an RSA key, ES256 only with a P-256
 * key; "none" and everything else refused), the signature, and only then the claims (exp and nbf with a
 * leeway, iss, aud, the role at a configured dotted path, sub). Messages are short and say nothing about the
 * keys. The keys are loaded once and only read afterwards, so verification runs on any thread. JSON is read
 * with jansson and freed before returning; everything handed back lives in the caller's arena.
 */
#include <math.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "base64url.h"
#include "jwt.h"

typedef enum JwtAlgorithm
{
    JWT_HS256,
    JWT_RS256,
    JWT_ES256,
} JwtAlgorithm;

struct PdJwtKeys
{
    unsigned char *secret; /* NULL: no HS256 */
    size_t secret_length;
    EVP_PKEY *public_key; /* NULL: neither RS256 nor ES256 */
    JwtAlgorithm public_algorithm;
    char *issuer;     /* NULL: not checked */
    char *audience;   /* NULL: not checked */
    char *role_claim; /* "role", or a dotted path */
    int leeway_s;
};

static char *
copy_setting(const char *text)
{
    return text != NULL && text[0] != '\0' ? strdup(text) : NULL;
}

void
pd_http_jwt_free(PdJwtKeys *keys)
{
    if (keys == NULL)
        return;
    if (keys->secret != NULL)
        OPENSSL_cleanse(keys->secret, keys->secret_length);
    free(keys->secret);
    EVP_PKEY_free(keys->public_key);
    free(keys->issuer);
    free(keys->audience);
    free(keys->role_claim);
    free(keys);
}

/* The key's algorithm: RS256 for RSA of 2048 bits or more, ES256 for EC on P-256. */
static bool
load_public_key(PdJwtKeys *keys, const char *path, PdError *err)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return pd_error_set(err, PD_ERR_IO, "cannot read the JWT public key file \"%s\"", path);
    keys->public_key = PEM_read_PUBKEY(file, NULL, NULL, NULL);
    fclose(file);
    if (keys->public_key == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%s\" holds no PEM public key", path),
               pd_error_hint(err, "expected a \"-----BEGIN PUBLIC KEY-----\" block (openssl pkey -pubout)");
    int type = EVP_PKEY_get_base_id(keys->public_key);
    if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(keys->public_key) >= 2048)
    {
        keys->public_algorithm = JWT_RS256;
        return true;
    }
    char group[64] = "";
    size_t group_length = 0;
    if (type == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(keys->public_key, group, sizeof(group), &group_length) == 1 &&
        strcmp(group, "prime256v1") == 0)
    {
        keys->public_algorithm = JWT_ES256;
        return true;
    }
    return pd_error_set(err, PD_ERR_INVALID_INPUT,
                        "the JWT public key in \"%s\" is neither RSA of 2048 bits or more (RS256) nor EC on "
                        "P-256 (ES256)",
                        path);
}

static bool
check_role_claim(const char *path, PdError *err)
{
    size_t length = strlen(path);
    if (length > 200 || path[0] == '.' || path[length - 1] == '.' || strstr(path, "..") != NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "JWT role claim \"%s\" is not a claim name or a dotted path (\"app.role\")",
                            path);
    return true;
}

static bool
load_keys(PdJwtKeys *keys, const PdJwtOptions *options, PdError *err)
{
    bool has_secret = options->secret != NULL && options->secret[0] != '\0';
    bool has_key = options->public_key_file != NULL && options->public_key_file[0] != '\0';
    if (!has_secret && !has_key)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no JWT key: set jwt_secret or jwt_public_key");
    if (options->leeway_s < 0 || options->leeway_s > 3600)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "JWT leeway %d s is outside 0..3600",
                            options->leeway_s);
    if (has_secret && strlen(options->secret) < PD_JWT_MIN_SECRET_BYTES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the JWT secret is shorter than %d bytes",
                            PD_JWT_MIN_SECRET_BYTES),
               pd_error_hint(err, "make one with: openssl rand -base64 48");
    const char *role_claim =
        options->role_claim != NULL && options->role_claim[0] != '\0' ? options->role_claim : "role";
    if (!check_role_claim(role_claim, err))
        return false;
    if (has_key && !load_public_key(keys, options->public_key_file, err))
        return false;
    keys->leeway_s = options->leeway_s;
    keys->role_claim = strdup(role_claim);
    keys->issuer = copy_setting(options->issuer);
    keys->audience = copy_setting(options->audience);
    if (has_secret)
    {
        keys->secret_length = strlen(options->secret);
        keys->secret = (unsigned char *)strdup(options->secret);
    }
    if (keys->role_claim == NULL || (has_secret && keys->secret == NULL) ||
        (options->issuer != NULL && options->issuer[0] != '\0' && keys->issuer == NULL) ||
        (options->audience != NULL && options->audience[0] != '\0' && keys->audience == NULL))
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while loading the JWT keys");
    return true;
}

bool
pd_http_jwt_load(const PdJwtOptions *options, PdJwtKeys **keys, PdError *err)
{
    PdJwtKeys *loaded = calloc(1, sizeof(*loaded));
    if (loaded == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory while loading the JWT keys");
    if (!load_keys(loaded, options, err))
    {
        pd_http_jwt_free(loaded);
        return false;
    }
    *keys = loaded;
    return true;
}

static bool
unauthorized(PdError *err, const char *message)
{
    return pd_error_set(err, PD_ERR_UNAUTHORIZED, "%s", message);
}

/* One part of the token decoded; false (with err) when it is not strict base64url. */
static bool
decode_part(PdArena *arena, const char *text, size_t length, unsigned char **bytes, size_t *size,
            PdError *err)
{
    if (pd_http_base64url_decode(arena, text, length, bytes, size))
        return true;
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    return unauthorized(err, "malformed token");
}

/* A JSON object from decoded bytes; NULL (err set) when it is not one. Free with json_decref. */
static json_t *
parse_object(const unsigned char *bytes, size_t size, PdError *err)
{
    json_error_t error;
    json_t *value = json_loadb((const char *)bytes, size, JSON_REJECT_DUPLICATES, &error);
    if (value == NULL || !json_is_object(value))
    {
        json_decref(value);
        unauthorized(err, "malformed token");
        return NULL;
    }
    return value;
}

/* The algorithm the header names, if the configured keys allow it. */
static bool
header_algorithm(const PdJwtKeys *keys, const json_t *header, JwtAlgorithm *algorithm, PdError *err)
{
    const char *name = json_string_value(json_object_get(header, "alg"));
    if (name == NULL)
        return unauthorized(err, "malformed token");
    if (json_object_get(header, "crit") != NULL)
        return unauthorized(err, "unsupported token extension");
    if (strcmp(name, "HS256") == 0 && keys->secret != NULL)
        *algorithm = JWT_HS256;
    else if (strcmp(name, "RS256") == 0 && keys->public_key != NULL && keys->public_algorithm == JWT_RS256)
        *algorithm = JWT_RS256;
    else if (strcmp(name, "ES256") == 0 && keys->public_key != NULL && keys->public_algorithm == JWT_ES256)
        *algorithm = JWT_ES256;
    else
        return unauthorized(err, "unsupported token algorithm");
    return true;
}

static bool
verify_hs256(const PdJwtKeys *keys, const char *input, size_t input_length, const unsigned char *signature,
             size_t signature_length)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    if (HMAC(EVP_sha256(), keys->secret, (int)keys->secret_length, (const unsigned char *)input, input_length,
             mac, &mac_length) == NULL)
        return false;
    return signature_length == mac_length && CRYPTO_memcmp(mac, signature, mac_length) == 0;
}

/* ES256 signs as raw r || s (32 bytes each, RFC 7518 section 3.4); OpenSSL verifies DER. */
static unsigned char *
es256_to_der(PdArena *arena, const unsigned char *raw, size_t raw_length, size_t *der_length)
{
    if (raw_length != 64)
        return NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL);
    BIGNUM *s = BN_bin2bn(raw + 32, 32, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return NULL;
    }
    unsigned char *der = NULL;
    int length = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    unsigned char *copy = length > 0 ? pd_arena_alloc(arena, (size_t)length) : NULL;
    if (copy != NULL)
        memcpy(copy, der, (size_t)length);
    OPENSSL_free(der);
    *der_length = length > 0 ? (size_t)length : 0;
    return copy;
}

static bool
verify_public(PdArena *arena, const PdJwtKeys *keys, JwtAlgorithm algorithm, const char *input,
              size_t input_length, const unsigned char *signature, size_t signature_length)
{
    size_t length = signature_length;
    const unsigned char *checked = signature;
    if (algorithm == JWT_ES256 &&
        (checked = es256_to_der(arena, signature, signature_length, &length)) == NULL)
        return false;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    bool is_valid =
        context != NULL && EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, keys->public_key) == 1 &&
        EVP_DigestVerify(context, checked, length, (const unsigned char *)input, input_length) == 1;
    EVP_MD_CTX_free(context);
    return is_valid;
}

/* A NumericDate claim: absent (true, *has false), a number (true), anything else false. */
static bool
numeric_date(const json_t *claims, const char *name, bool *has, double *value)
{
    const json_t *claim = json_object_get(claims, name);
    *has = claim != NULL;
    if (claim == NULL)
        return true;
    if (!json_is_number(claim) || !isfinite(json_number_value(claim)))
        return false;
    *value = json_number_value(claim);
    return true;
}

static bool
check_times(const PdJwtKeys *keys, const json_t *claims, int64_t now_s, PdJwtClaims *out, PdError *err)
{
    bool has_exp, has_nbf;
    double exp = 0, nbf = 0;
    if (!numeric_date(claims, "exp", &has_exp, &exp) || !numeric_date(claims, "nbf", &has_nbf, &nbf))
        return unauthorized(err, "malformed token");
    double now = (double)now_s;
    if (has_exp && now >= exp + keys->leeway_s)
        return unauthorized(err, "token expired");
    if (has_nbf && now + keys->leeway_s < nbf)
        return unauthorized(err, "token not yet valid");
    out->expires = has_exp ? (exp > 9e15 ? INT64_C(9000000000000000) : (int64_t)exp) : 0;
    return true;
}

static bool
check_audience(const PdJwtKeys *keys, const json_t *claims, PdError *err)
{
    if (keys->audience == NULL)
        return true;
    const json_t *aud = json_object_get(claims, "aud");
    if (json_is_string(aud) && strcmp(json_string_value(aud), keys->audience) == 0)
        return true;
    size_t index;
    const json_t *entry;
    json_array_foreach(aud, index, entry)
    {
        if (json_is_string(entry) && strcmp(json_string_value(entry), keys->audience) == 0)
            return true;
    }
    return unauthorized(err, "wrong token audience");
}

/* The claim at a dotted path ("app.role"): each segment an object member. NULL when absent. */
static const json_t *
claim_at(const json_t *claims, const char *path)
{
    char segment[201];
    const json_t *value = claims;
    while (value != NULL)
    {
        const char *dot = strchr(path, '.');
        size_t length = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (length >= sizeof(segment))
            return NULL;
        memcpy(segment, path, length);
        segment[length] = '\0';
        value = json_object_get(value, segment);
        if (dot == NULL)
            return value;
        path = dot + 1;
    }
    return NULL;
}

static bool
read_identity(PdArena *arena, const PdJwtKeys *keys, const json_t *claims, PdJwtClaims *out, PdError *err)
{
    const char *issuer = json_string_value(json_object_get(claims, "iss"));
    if (keys->issuer != NULL && (issuer == NULL || strcmp(issuer, keys->issuer) != 0))
        return unauthorized(err, "wrong token issuer");
    if (!check_audience(keys, claims, err))
        return false;
    const json_t *role = claim_at(claims, keys->role_claim);
    if (role != NULL &&
        (!json_is_string(role) || json_string_length(role) == 0 || json_string_length(role) > 63 ||
         strlen(json_string_value(role)) != json_string_length(role)))
        return unauthorized(err, "malformed role claim");
    const char *subject = json_string_value(json_object_get(claims, "sub"));
    out->role = role != NULL ? pd_arena_strdup(arena, json_string_value(role)) : NULL;
    out->subject = subject != NULL ? pd_arena_strdup(arena, subject) : NULL;
    if ((role != NULL && out->role == NULL) || (subject != NULL && out->subject == NULL))
        return pd_arena_error(arena, err);
    return true;
}

/* The three parts' bounds: header [0, first), payload (first, second), signature (second, end). */
static bool
split_token(const char *token, size_t length, size_t *first, size_t *second, PdError *err)
{
    const char *dot1 = memchr(token, '.', length);
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', length - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', length - (size_t)(dot2 + 1 - token)) != NULL)
        return unauthorized(err, "malformed token");
    *first = (size_t)(dot1 - token);
    *second = (size_t)(dot2 - token);
    return true;
}

static bool
check_signature(PdArena *arena, const PdJwtKeys *keys, const char *token, size_t first, size_t second,
                size_t length, PdError *err)
{
    unsigned char *bytes = NULL, *signature = NULL;
    size_t size = 0, signature_length = 0;
    if (!decode_part(arena, token, first, &bytes, &size, err))
        return false;
    json_t *header = parse_object(bytes, size, err);
    if (header == NULL)
        return false;
    JwtAlgorithm algorithm = JWT_HS256;
    bool is_known = header_algorithm(keys, header, &algorithm, err);
    json_decref(header);
    if (!is_known ||
        !decode_part(arena, token + second + 1, length - second - 1, &signature, &signature_length, err))
        return false;
    bool is_valid = algorithm == JWT_HS256
                        ? verify_hs256(keys, token, second, signature, signature_length)
                        : verify_public(arena, keys, algorithm, token, second, signature, signature_length);
    if (!is_valid)
        return pd_arena_failed(arena) ? pd_arena_error(arena, err)
                                      : unauthorized(err, "signature does not verify");
    return true;
}

bool
pd_http_jwt_verify(PdArena *arena, const PdJwtKeys *keys, const char *token, int64_t now_s,
                   PdJwtClaims *claims, PdError *err)
{
    size_t length = strnlen(token, PD_JWT_MAX_TOKEN_BYTES + 1);
    if (length > PD_JWT_MAX_TOKEN_BYTES)
        return unauthorized(err, "token too large");
    size_t first = 0, second = 0;
    if (!split_token(token, length, &first, &second, err) ||
        !check_signature(arena, keys, token, first, second, length, err))
        return false;
    unsigned char *bytes = NULL;
    size_t size = 0;
    if (!decode_part(arena, token + first + 1, second - first - 1, &bytes, &size, err))
        return false;
    json_t *payload = parse_object(bytes, size, err);
    if (payload == NULL)
        return false;
    PdJwtClaims out = {.claims_json = (const char *)bytes};
    bool is_valid =
        check_times(keys, payload, now_s, &out, err) && read_identity(arena, keys, payload, &out, err);
    json_decref(payload);
    if (is_valid)
        *claims = out;
    return is_valid;
}

bool
pd_http_jwt_sign_hs256(PdArena *arena, const PdJwtKeys *keys, const char *claims_json, char **token,
                       PdError *err)
{
    if (keys->secret == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "no JWT secret to sign with"),
               pd_error_hint(err, "set jwt_secret (prodata.conf or PRODATA_JWT_SECRET) or jwt_secret_file");
    json_error_t error;
    json_t *claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, &error);
    bool is_object = json_is_object(claims);
    json_decref(claims);
    if (!is_object)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "token claims are not a JSON object");
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *head = pd_http_base64url_encode(arena, (const unsigned char *)header, strlen(header));
    char *body = pd_http_base64url_encode(arena, (const unsigned char *)claims_json, strlen(claims_json));
    char *input = head != NULL && body != NULL ? pd_arena_sprintf(arena, "%s.%s", head, body) : NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    if (input == NULL)
        return pd_arena_error(arena, err);
    if (HMAC(EVP_sha256(), keys->secret, (int)keys->secret_length, (const unsigned char *)input,
             strlen(input), mac, &mac_length) == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "HMAC-SHA256 failed");
    char *signature = pd_http_base64url_encode(arena, mac, mac_length);
    char *signed_token = signature != NULL ? pd_arena_sprintf(arena, "%s.%s", input, signature) : NULL;
    if (signed_token == NULL)
        return pd_arena_error(arena, err);
    *token = signed_token;
    return true;
}

/*
 * etcd_wire.c - the JSON of etcd's gateway, read strictly. Keys and values are
 * base64 (standard alphabet, padded: anything else is refused, so one text
 * means one key); int64 fields come as decimal strings, absent when zero (the
 * protobuf JSON mapping), so absent reads as 0 and anything but digits is
 * malformed. An error body carries the gRPC code: only the codes that say the
 * request was refused before it was applied become refusals; every other code,
 * status or shape is UNKNOWN. This file never decides what an answer means for
 * a call: etcd_answer.c does, on what this file reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ha/etcd_wire.h"

/* gRPC status codes (google.golang.org/grpc/codes) the gateway puts in "code". */
enum
{
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNAUTHENTICATED = 16,
};

static const char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

PdEtcdStatus
pd_etcd_wire_unknown(PdError *err, const char *what)
{
    pd_error_set(err, PD_ERR_DCS_UNKNOWN, "%s", what);
    return PD_ETCD_UNKNOWN;
}

PdEtcdStatus
pd_etcd_wire_error(long http_status, int64_t grpc_code, const char *message, PdError *err)
{
    bool is_client_error = http_status >= 400 && http_status < 500;
    if (is_client_error && grpc_code == GRPC_NOT_FOUND && strstr(message, "lease not found") != NULL)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "etcd: %s", message);
        return PD_ETCD_LEASE_NOT_FOUND;
    }
    if (is_client_error && (grpc_code == GRPC_INVALID_ARGUMENT || grpc_code == GRPC_OUT_OF_RANGE ||
                            grpc_code == GRPC_ALREADY_EXISTS || grpc_code == GRPC_PERMISSION_DENIED ||
                            grpc_code == GRPC_UNAUTHENTICATED))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "etcd refused the request: %s", message);
        return PD_ETCD_REJECTED;
    }
    pd_error_set(err, PD_ERR_DCS_UNKNOWN, "etcd answered HTTP %ld, gRPC code %lld: %s", http_status,
                 (long long)grpc_code, message);
    return PD_ETCD_UNKNOWN;
}

PdEtcdStatus
pd_etcd_wire_read(long http_status, const char *body, size_t length, json_t **answer, PdError *err)
{
    *answer = NULL;
    json_error_t json_error;
    json_t *root = json_loadb(body, length, 0, &json_error);
    if (root == NULL || !json_is_object(root))
    {
        json_decref(root);
        pd_error_set(err, PD_ERR_DCS_UNKNOWN, "etcd answered HTTP %ld with no JSON object", http_status);
        return PD_ETCD_UNKNOWN;
    }
    if (http_status == 200)
    {
        *answer = root;
        return PD_ETCD_DONE;
    }
    int64_t code = 0;
    const char *message = json_string_value(json_object_get(root, "message"));
    if (message == NULL)
        message = json_string_value(json_object_get(root, "error"));
    bool has_code = json_is_integer(json_object_get(root, "code"));
    if (has_code)
        code = json_integer_value(json_object_get(root, "code"));
    char text[200];
    snprintf(text, sizeof text, "%s", message != NULL ? message : "(no message)");
    json_decref(root);
    if (!has_code)
    {
        pd_error_set(err, PD_ERR_DCS_UNKNOWN, "etcd answered HTTP %ld without a gRPC code: %s", http_status,
                     text);
        return PD_ETCD_UNKNOWN;
    }
    return pd_etcd_wire_error(http_status, code, text, err);
}

/* Digits only (after an optional '-' when allowed), at most 20 of them. */
static bool
is_decimal(const char *text, bool is_signed)
{
    if (is_signed && *text == '-')
        text++;
    size_t digits = strspn(text, "0123456789");
    return digits > 0 && digits <= 20 && text[digits] == '\0';
}

bool
pd_etcd_wire_int64(const json_t *object, const char *name, int64_t *value)
{
    const json_t *field = json_object_get(object, name);
    if (field == NULL)
        return *value = 0, true;
    if (json_is_integer(field))
        return *value = json_integer_value(field), true;
    const char *text = json_string_value(field);
    if (text == NULL || !is_decimal(text, true))
        return false;
    errno = 0;
    long long parsed = strtoll(text, NULL, 10);
    if (errno != 0)
        return false;
    *value = parsed;
    return true;
}

bool
pd_etcd_wire_uint64(const json_t *object, const char *name, uint64_t *value)
{
    const json_t *field = json_object_get(object, name);
    if (field == NULL)
        return *value = 0, true;
    if (json_is_integer(field) && json_integer_value(field) >= 0)
        return *value = (uint64_t)json_integer_value(field), true;
    const char *text = json_string_value(field);
    if (text == NULL || !is_decimal(text, false))
        return false;
    errno = 0;
    unsigned long long parsed = strtoull(text, NULL, 10);
    if (errno != 0)
        return false;
    *value = parsed;
    return true;
}

uint64_t
pd_etcd_wire_cluster(const json_t *answer)
{
    const json_t *header = json_object_get(answer, "header");
    if (header == NULL)
        header = json_object_get(json_object_get(answer, "result"), "header");
    uint64_t cluster_id = 0;
    if (!json_is_object(header) || !pd_etcd_wire_uint64(header, "cluster_id", &cluster_id))
        return 0;
    return cluster_id;
}

bool
pd_etcd_wire_header(const json_t *answer, int64_t *revision)
{
    const json_t *header = json_object_get(answer, "header");
    uint64_t member_id;
    return json_is_object(header) && pd_etcd_wire_int64(header, "revision", revision) && *revision >= 0 &&
           pd_etcd_wire_uint64(header, "member_id", &member_id);
}

json_t *
pd_etcd_wire_bytes(PdEtcdBytes bytes)
{
    const unsigned char *data = (const unsigned char *)bytes.data;
    size_t size = (bytes.length + 2) / 3 * 4;
    char *text = malloc(size + 1);
    if (text == NULL)
        return NULL;
    size_t out = 0;
    for (size_t i = 0; i < bytes.length; i += 3)
    {
        uint32_t group = (uint32_t)data[i] << 16;
        if (i + 1 < bytes.length)
            group |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < bytes.length)
            group |= data[i + 2];
        text[out++] = base64_alphabet[(group >> 18) & 63];
        text[out++] = base64_alphabet[(group >> 12) & 63];
        text[out++] = i + 1 < bytes.length ? base64_alphabet[(group >> 6) & 63] : '=';
        text[out++] = i + 2 < bytes.length ? base64_alphabet[group & 63] : '=';
    }
    json_t *string = json_stringn_nocheck(text, out);
    free(text);
    return string;
}

/* The letter's value, or -1 (padding included). */
static int
base64_value(char letter)
{
    const char *at = letter != '\0' ? strchr(base64_alphabet, letter) : NULL;
    return at != NULL ? (int)(at - base64_alphabet) : -1;
}

/* Decodes padded base64 into out (room for length / 4 * 3 bytes); false on any other text. */
static bool
decode_base64(const char *text, size_t length, unsigned char *out, size_t *out_length)
{
    if (length % 4 != 0)
        return false;
    size_t padding =
        length >= 1 && text[length - 1] == '=' ? (length >= 2 && text[length - 2] == '=' ? 2 : 1) : 0;
    size_t n = 0;
    for (size_t i = 0; i < length; i += 4)
    {
        uint32_t group = 0;
        for (size_t j = 0; j < 4; j++)
        {
            bool is_pad = i + j >= length - padding;
            int value = is_pad ? 0 : base64_value(text[i + j]);
            if (value < 0)
                return false;
            group = group << 6 | (uint32_t)value;
        }
        out[n++] = (unsigned char)(group >> 16);
        out[n++] = (unsigned char)(group >> 8);
        out[n++] = (unsigned char)group;
    }
    /* The bits under the padding are zero in the one canonical text. */
    if (padding > 0 && out[n - padding] != 0)
        return false;
    *out_length = n - padding;
    return true;
}

bool
pd_etcd_wire_decode(PdArena *arena, const json_t *string, PdEtcdBytes *bytes)
{
    if (string == NULL)
    {
        *bytes = (PdEtcdBytes){.data = "", .length = 0};
        return true;
    }
    const char *text = json_string_value(string);
    if (text == NULL)
        return false;
    size_t length = json_string_length(string);
    unsigned char *data = pd_arena_alloc(arena, length / 4 * 3 + 1);
    size_t decoded = 0;
    if (data == NULL || !decode_base64(text, length, data, &decoded))
        return false;
    data[decoded] = '\0';
    *bytes = (PdEtcdBytes){.data = (const char *)data, .length = decoded};
    return true;
}

/*
 * cursor.c - cursors as signed bytes. The payload is compact and unambiguous: a version byte, a flags byte
 * (bit 0: before), the ordering text, the value count, then each value; texts are a 2-byte big-endian
 * length and their bytes (0xFFFF: SQL null). The HMAC-SHA256 of the payload under the server key follows
 * it, and the whole is base64url. Decoding checks the tag (constant-time compare) before reading a single
 * field, then refuses any byte left over, so every accepted cursor is exactly one we made.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64url.h"
#include "cursor.h"
#include "prodata/strbuf.h"

#define CURSOR_VERSION 1
#define CURSOR_NULL 0xFFFFu
#define TAG_BYTES 32

static const char cursor_label[] = "prodata cursor key v1";

bool
pd_http_cursor_key(const char *secret, unsigned char key[PD_CURSOR_KEY_BYTES], PdError *err)
{
    if (secret == NULL || secret[0] == '\0')
    {
        if (RAND_bytes(key, PD_CURSOR_KEY_BYTES) != 1)
            return pd_error_set(err, PD_ERR_INTERNAL, "no random bytes for the cursor key");
        return true;
    }
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)cursor_label,
             sizeof(cursor_label) - 1, key, &length) == NULL ||
        length != PD_CURSOR_KEY_BYTES)
        return pd_error_set(err, PD_ERR_INTERNAL, "HMAC-SHA256 failed while deriving the cursor key");
    return true;
}

static bool
invalid(PdError *err)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "Invalid cursor");
    return pd_error_field(err, "cursor");
}

static void
append_text(PdStrbuf *buf, const char *text)
{
    size_t length = text != NULL ? strlen(text) : CURSOR_NULL;
    char prefix[2] = {(char)(length >> 8), (char)(length & 0xFF)};
    pd_strbuf_append_length(buf, prefix, 2);
    if (text != NULL)
        pd_strbuf_append_length(buf, text, length);
}

static bool
check_sizes(const PdCursor *cursor, PdError *err)
{
    if (cursor->value_count == 0 || cursor->value_count > PD_CURSOR_MAX_VALUES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a cursor holds 1 to %d values, not %zu",
                            PD_CURSOR_MAX_VALUES, cursor->value_count);
    if (cursor->ordering != NULL && strlen(cursor->ordering) > PD_CURSOR_MAX_VALUE_BYTES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "ordering too long for a cursor");
    for (size_t i = 0; i < cursor->value_count; i++)
        if (cursor->values[i] != NULL && strlen(cursor->values[i]) > PD_CURSOR_MAX_VALUE_BYTES)
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "a value too long for a cursor (%zu bytes)",
                                strlen(cursor->values[i]));
    return true;
}

bool
pd_http_cursor_encode(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES], const PdCursor *cursor,
                      char **text, PdError *err)
{
    if (!check_sizes(cursor, err))
        return false;
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    char head[2] = {CURSOR_VERSION, cursor->is_before ? 1 : 0};
    pd_strbuf_append_length(&buf, head, 2);
    append_text(&buf, cursor->ordering != NULL ? cursor->ordering : "");
    char count = (char)cursor->value_count;
    pd_strbuf_append_length(&buf, &count, 1);
    for (size_t i = 0; i < cursor->value_count; i++)
        append_text(&buf, cursor->values[i]);
    unsigned char tag[TAG_BYTES];
    unsigned int tag_length = 0;
    if (pd_strbuf_failed(&buf))
        return pd_arena_error(arena, err);
    if (HMAC(EVP_sha256(), key, PD_CURSOR_KEY_BYTES, (const unsigned char *)buf.data, buf.length, tag,
             &tag_length) == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "HMAC-SHA256 failed while signing a cursor");
    pd_strbuf_append_length(&buf, (const char *)tag, tag_length);
    char *encoded = pd_strbuf_failed(&buf)
                        ? NULL
                        : pd_http_base64url_encode(arena, (const unsigned char *)buf.data, buf.length);
    if (encoded == NULL)
        return pd_arena_error(arena, err);
    *text = encoded;
    return true;
}

typedef struct Reader
{
    PdArena *arena;
    const unsigned char *at;
    const unsigned char *end;
} Reader;

/* A text at the reader, copied NUL-terminated into the arena; false when the bytes run out. */
static bool
read_text(Reader *reader, const char **text, bool *is_exhausted)
{
    if (reader->end - reader->at < 2)
        return false;
    unsigned length = (unsigned)reader->at[0] << 8 | reader->at[1];
    reader->at += 2;
    if (length == CURSOR_NULL)
    {
        *text = NULL;
        return true;
    }
    if (length > PD_CURSOR_MAX_VALUE_BYTES || (size_t)(reader->end - reader->at) < length ||
        memchr(reader->at, '\0', length) != NULL)
        return false;
    char *copy = pd_arena_strndup(reader->arena, (const char *)reader->at, length);
    *is_exhausted = copy == NULL;
    reader->at += length;
    *text = copy;
    return copy != NULL;
}

static bool
read_payload(Reader *reader, PdCursor *cursor, PdError *err)
{
    bool is_exhausted = false;
    if (reader->end - reader->at < 3 || reader->at[0] != CURSOR_VERSION || reader->at[1] > 1)
        return invalid(err);
    cursor->is_before = reader->at[1] == 1;
    reader->at += 2;
    if (!read_text(reader, &cursor->ordering, &is_exhausted) || cursor->ordering == NULL ||
        reader->at >= reader->end)
        return is_exhausted ? pd_arena_error(reader->arena, err) : invalid(err);
    size_t count = *reader->at++;
    if (count == 0 || count > PD_CURSOR_MAX_VALUES)
        return invalid(err);
    const char **values = pd_arena_calloc(reader->arena, count, sizeof(*values));
    if (values == NULL)
        return pd_arena_error(reader->arena, err);
    for (size_t i = 0; i < count; i++)
        if (!read_text(reader, &values[i], &is_exhausted))
            return is_exhausted ? pd_arena_error(reader->arena, err) : invalid(err);
    if (reader->at != reader->end)
        return invalid(err);
    cursor->values = values;
    cursor->value_count = count;
    return true;
}

bool
pd_http_cursor_decode(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES], const char *text,
                      PdCursor *cursor, PdError *err)
{
    size_t text_length = strnlen(text, 4 * (PD_CURSOR_MAX_VALUES + 1) * (PD_CURSOR_MAX_VALUE_BYTES + 2));
    unsigned char *bytes = NULL;
    size_t length = 0;
    if (!pd_http_base64url_decode(arena, text, text_length, &bytes, &length))
        return pd_arena_failed(arena) ? pd_arena_error(arena, err) : invalid(err);
    if (length < TAG_BYTES + 3)
        return invalid(err);
    size_t payload_length = length - TAG_BYTES;
    unsigned char tag[TAG_BYTES];
    unsigned int tag_length = 0;
    if (HMAC(EVP_sha256(), key, PD_CURSOR_KEY_BYTES, bytes, payload_length, tag, &tag_length) == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "HMAC-SHA256 failed while checking a cursor");
    if (tag_length != TAG_BYTES || CRYPTO_memcmp(tag, bytes + payload_length, TAG_BYTES) != 0)
        return invalid(err);
    Reader reader = {arena, bytes, bytes + payload_length};
    PdCursor decoded = {0};
    if (!read_payload(&reader, &decoded, err))
        return false;
    *cursor = decoded;
    return true;
}

bool
pd_http_cursor_decode_for(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES], const char *text,
                          const char *ordering, PdCursor *cursor, PdError *err)
{
    PdCursor decoded;
    if (!pd_http_cursor_decode(arena, key, text, &decoded, err))
        return false;
    if (strcmp(decoded.ordering, ordering != NULL ? ordering : "") != 0)
        return invalid(err);
    *cursor = decoded;
    return true;
}

/*
 * cursor.h - CursorPagination's ?cursor= values: opaque, URL-safe and tamper-evident. A cursor carries the
 * direction, the ordering it was made for and the ordering values of the row it continues from (the key
 * last), signed with HMAC-SHA256 under a server key, so a client can neither read a meaning into it that
 * we must keep, nor alter it, nor reuse it under another ordering. Private to src/http.
 */
#ifndef PRODATA_HTTP_CURSOR_H
#define PRODATA_HTTP_CURSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"

#define PD_CURSOR_KEY_BYTES 32
#define PD_CURSOR_MAX_VALUES 32        /* ordering terms plus the key */
#define PD_CURSOR_MAX_VALUE_BYTES 4096 /* one value's text; the ordering's text too */

typedef struct PdCursor
{
    bool is_before;            /* a "previous" cursor: rows before the one named */
    const char *ordering;      /* the ?ordering= text it was made for ("-published,title"), or "" */
    const char *const *values; /* the row's ordering values as text, the key last; an entry may be NULL */
    size_t value_count;        /* 1 .. PD_CURSOR_MAX_VALUES */
} PdCursor;

/*
 * The server key: derived from secret (HMAC-SHA256 of a fixed label under it, so cursors stay valid across
 * restarts and between the servers sharing it) when secret is not empty, else random (cursors then last as
 * long as the process). Errors: PD_ERR_INTERNAL when no random bytes can be had.
 */
bool pd_http_cursor_key(const char *secret, unsigned char key[PD_CURSOR_KEY_BYTES], PdError *err);

/* The cursor's text (base64url, no padding) in arena. Errors: PD_ERR_INVALID_INPUT (too many values, a
 * value too long), arena exhaustion. */
bool pd_http_cursor_encode(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES],
                           const PdCursor *cursor, char **text, PdError *err);

/*
 * Reads a cursor made by pd_http_cursor_encode under the same key; the texts live in arena. Anything else
 * (altered, truncated, extended, another key, not base64url) is PD_ERR_INVALID_INPUT "Invalid cursor" (DRF's
 * words) with err->field "cursor".
 */
bool pd_http_cursor_decode(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES], const char *text,
                           PdCursor *cursor, PdError *err);

/* pd_http_cursor_decode, and "Invalid cursor" too when the cursor was made for another ordering text. */
bool pd_http_cursor_decode_for(PdArena *arena, const unsigned char key[PD_CURSOR_KEY_BYTES], const char *text,
                               const char *ordering, PdCursor *cursor, PdError *err);

#endif

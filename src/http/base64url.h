/*
 * base64url.h - the URL-safe base64 alphabet without padding (RFC 4648 section 5), as JWTs and our cursors
 * write it. Decoding is strict: only the 64 letters, no padding, no white space, no length that cannot be
 * an encoding (n % 4 == 1), and the unused low bits of the last letter zero, so one value has exactly one
 * text and an altered letter never decodes to the same bytes. Private to src/http.
 */
#ifndef PRODATA_HTTP_BASE64URL_H
#define PRODATA_HTTP_BASE64URL_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"

/* The text of length bytes of data, NUL-terminated, in arena; NULL on exhaustion. */
char *pd_http_base64url_encode(PdArena *arena, const unsigned char *data, size_t length);

/* The bytes of text[0 .. text_length) (plus a NUL after them, so JSON text decodes to a C string) in arena.
 * False when the text is not a canonical encoding or the arena is exhausted (*out NULL then). */
bool pd_http_base64url_decode(PdArena *arena, const char *text, size_t text_length, unsigned char **out,
                              size_t *length);

#endif

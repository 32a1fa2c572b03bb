/*
 * fuzz_cursor.c - cursors, both ways. Any text given as ?cursor= decodes to a cursor or is "Invalid cursor"
 * (never a crash), and a text that decodes re-encodes to itself (only what we signed is accepted). Then the
 * input, split at NUL bytes, becomes a cursor's ordering and values: it must encode, decode to the same
 * values, and be refused under another key and after any one letter is changed.
 */
#include "fuzz.h"
#include "http/cursor.h"

static const unsigned char key[PD_CURSOR_KEY_BYTES] = "fuzz-cursor-key-of-thirty-two-b";

static void
check_text(PdArena *arena, const char *text)
{
    PdCursor cursor;
    PdError err;
    if (!pd_http_cursor_decode(arena, key, text, &cursor, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT || err.code == PD_ERR_TOO_LARGE, "code %d", err.code);
        return;
    }
    char *again = NULL;
    FUZZ_ASSERT(pd_http_cursor_encode(arena, key, &cursor, &again, &err), "%s", err.message);
    FUZZ_ASSERT(strcmp(again, text) == 0, "cursor \"%s\" decoded but encodes as \"%s\"", text, again);
}

/* Values from the input's NUL-separated parts (the first byte: direction and which are null). */
static void
check_roundtrip(PdArena *arena, const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    const char *parts[PD_CURSOR_MAX_VALUES + 1];
    size_t count = 0;
    char *text = pd_arena_alloc(arena, size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    for (char *at = text; at <= text + size - 2 && count <= PD_CURSOR_MAX_VALUES; at += strlen(at) + 1)
    {
        bool is_null = count > 0 && ((data[0] >> (count % 7)) & 1);
        parts[count++] = is_null ? NULL : at;
    }
    if (count < 2)
        return;
    PdCursor cursor = {.is_before = data[0] & 0x80,
                       .ordering = parts[0] != NULL ? parts[0] : "",
                       .values = parts + 1,
                       .value_count = count - 1};
    char *encoded = NULL;
    PdError err;
    if (!pd_http_cursor_encode(arena, key, &cursor, &encoded, &err))
        return; /* too long: refused on the way out, never sent */
    PdCursor decoded;
    FUZZ_ASSERT(pd_http_cursor_decode_for(arena, key, encoded, cursor.ordering, &decoded, &err), "%s",
                err.message);
    FUZZ_ASSERT(decoded.is_before == cursor.is_before && decoded.value_count == cursor.value_count, "shape");
    for (size_t i = 0; i < decoded.value_count; i++)
        FUZZ_ASSERT((decoded.values[i] == NULL) == (cursor.values[i] == NULL) &&
                        (decoded.values[i] == NULL || strcmp(decoded.values[i], cursor.values[i]) == 0),
                    "value %zu differs", i);
    size_t at = size % strlen(encoded);
    encoded[at] = encoded[at] == 'A' ? 'B' : 'A';
    FUZZ_ASSERT(!pd_http_cursor_decode(arena, key, encoded, &decoded, &err),
                "an altered cursor was accepted");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    check_text(arena, fuzz_text(arena, data, size));
    check_roundtrip(arena, data, size);
    pd_arena_free(arena);
    return 0;
}

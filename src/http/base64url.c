/*
 * base64url.c - URL-safe base64 without padding, for tokens and cursors. The decoder refuses every text
 * that is not the one canonical encoding of some bytes (see base64url.h): a token or cursor is compared by
 * its decoded bytes, and two texts for one value would let an altered text pass as the original.
 */
#include <stdint.h>

#include "base64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
pd_http_base64url_encode(PdArena *arena, const unsigned char *data, size_t length)
{
    if (length > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    char *text = pd_arena_alloc(arena, (length + 2) / 3 * 4 + 1);
    if (text == NULL)
        return NULL;
    size_t out = 0;
    for (size_t i = 0; i < length; i += 3)
    {
        uint32_t group = (uint32_t)data[i] << 16;
        if (i + 1 < length)
            group |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < length)
            group |= data[i + 2];
        text[out++] = alphabet[(group >> 18) & 63];
        text[out++] = alphabet[(group >> 12) & 63];
        if (i + 1 < length)
            text[out++] = alphabet[(group >> 6) & 63];
        if (i + 2 < length)
            text[out++] = alphabet[group & 63];
    }
    text[out] = '\0';
    return text;
}

/* The letter's value, or -1. */
static int
letter_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

bool
pd_http_base64url_decode(PdArena *arena, const char *text, size_t text_length, unsigned char **out,
                         size_t *length)
{
    *out = NULL;
    if (text_length % 4 == 1)
        return false;
    size_t size = text_length / 4 * 3 + (text_length % 4 == 0 ? 0 : text_length % 4 - 1);
    unsigned char *bytes = pd_arena_alloc(arena, size + 1);
    if (bytes == NULL)
        return false;
    uint32_t group = 0;
    size_t written = 0;
    for (size_t i = 0; i < text_length; i++)
    {
        int value = letter_value((unsigned char)text[i]);
        if (value < 0)
            return false;
        group = (group << 6) | (uint32_t)value;
        if (i % 4 == 3)
        {
            bytes[written++] = (unsigned char)(group >> 16);
            bytes[written++] = (unsigned char)(group >> 8);
            bytes[written++] = (unsigned char)group;
            group = 0;
        }
    }
    size_t rest = text_length % 4;
    if (rest == 2)
    {
        if ((group & 0xF) != 0) /* 12 bits for one byte: the low 4 must be zero */
            return false;
        bytes[written++] = (unsigned char)(group >> 4);
    }
    else if (rest == 3)
    {
        if ((group & 0x3) != 0) /* 18 bits for two bytes: the low 2 must be zero */
            return false;
        bytes[written++] = (unsigned char)(group >> 10);
        bytes[written++] = (unsigned char)(group >> 2);
    }
    bytes[written] = '\0';
    *out = bytes;
    *length = written;
    return true;
}

/*
 * strbuf.c - growable strings in an arena. Growth doubles the capacity; the
 * old block stays in the arena until it is freed, which costs at most as much
 * again as the final string and saves every caller a free. Sizes are checked
 * before they are computed, so a huge append fails the buffer instead of
 * wrapping around. Quoting of SQL identifiers and literals lives here and
 * nowhere else.
 */
#include "prodata/strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void
pd_strbuf_init(PdStrbuf *buf, PdArena *arena)
{
    buf->arena = arena;
    buf->data = NULL;
    buf->length = 0;
    buf->capacity = 0;
    buf->failed = false;
}

static bool
reserve(PdStrbuf *buf, size_t extra)
{
    if (buf->failed)
        return false;
    if (extra > SIZE_MAX - 1 - buf->length) /* length + extra + 1 would wrap */
    {
        pd_arena_alloc(buf->arena, SIZE_MAX); /* records the refusal for pd_arena_error */
        buf->failed = true;
        return false;
    }
    size_t needed = buf->length + extra + 1;
    if (needed <= buf->capacity)
        return true;
    size_t capacity = buf->capacity ? buf->capacity : 256;
    while (capacity < needed)
        capacity = capacity <= SIZE_MAX / 2 ? capacity * 2 : needed; /* doubling must not wrap to 0 */
    char *data = pd_arena_alloc(buf->arena, capacity);
    if (data == NULL)
    {
        buf->failed = true;
        return false;
    }
    if (buf->length > 0)
        memcpy(data, buf->data, buf->length);
    data[buf->length] = '\0';
    buf->data = data;
    buf->capacity = capacity;
    return true;
}

void
pd_strbuf_append_length(PdStrbuf *buf, const char *text, size_t length)
{
    if (!reserve(buf, length))
        return;
    memcpy(buf->data + buf->length, text, length);
    buf->length += length;
    buf->data[buf->length] = '\0';
}

void
pd_strbuf_append(PdStrbuf *buf, const char *text)
{
    pd_strbuf_append_length(buf, text, strlen(text));
}

void
pd_strbuf_append_char(PdStrbuf *buf, char c)
{
    pd_strbuf_append_length(buf, &c, 1);
}

void
pd_strbuf_appendf(PdStrbuf *buf, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    va_list measure;
    va_copy(measure, args);
    int length = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (length >= 0 && reserve(buf, (size_t)length))
    {
        vsnprintf(buf->data + buf->length, (size_t)length + 1, fmt, args);
        buf->length += (size_t)length;
    }
    else if (length < 0)
        buf->failed = true;
    va_end(args);
}

static void
append_quoted(PdStrbuf *buf, const char *text, char quote)
{
    pd_strbuf_append_char(buf, quote);
    for (const char *c = text; *c != '\0'; c++)
    {
        if (*c == quote)
            pd_strbuf_append_char(buf, quote);
        pd_strbuf_append_char(buf, *c);
    }
    pd_strbuf_append_char(buf, quote);
}

void
pd_strbuf_append_identifier(PdStrbuf *buf, const char *name)
{
    append_quoted(buf, name, '"');
}

/* Whether text needs the escape form: a backslash, or a control character that must not break a line. */
static bool
needs_escape_form(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        if (*c == '\\' || *c < 0x20 || *c == 0x7f)
            return true;
    return false;
}

void
pd_strbuf_append_literal(PdStrbuf *buf, const char *text)
{
    /*
     * A plain '...' means the same whatever standard_conforming_strings says
     * only while it holds no backslash; and a raw newline inside it would
     * split a migration file's line (a following "-- +down" would read as a
     * section marker). Such text takes the E'...' form, which is
     * unambiguous, with backslashes, quotes and control characters escaped.
     */
    if (!needs_escape_form(text))
    {
        append_quoted(buf, text, '\'');
        return;
    }
    pd_strbuf_append(buf, "E'");
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
    {
        if (*c == '\\')
            pd_strbuf_append(buf, "\\\\");
        else if (*c == '\'')
            pd_strbuf_append(buf, "''");
        else if (*c == '\n')
            pd_strbuf_append(buf, "\\n");
        else if (*c == '\r')
            pd_strbuf_append(buf, "\\r");
        else if (*c == '\t')
            pd_strbuf_append(buf, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            pd_strbuf_appendf(buf, "\\x%02x", *c);
        else
            pd_strbuf_append_char(buf, (char)*c);
    }
    pd_strbuf_append_char(buf, '\'');
}

const char *
pd_strbuf_text(PdStrbuf *buf)
{
    if (buf->failed)
        return NULL;
    if (buf->data == NULL)
        return "";
    return buf->data;
}

bool
pd_strbuf_failed(const PdStrbuf *buf)
{
    return buf->failed;
}

bool
pd_strbuf_append_file(PdStrbuf *buf, const char *path, PdError *err)
{
    FILE *stream = fopen(path, "rb");
    if (stream == NULL)
        return pd_error_set(err, PD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char chunk[16384];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), stream)) > 0)
        pd_strbuf_append_length(buf, chunk, got);
    bool has_failed = ferror(stream) != 0;
    int saved = errno;
    fclose(stream);
    if (has_failed)
        return pd_error_set(err, PD_ERR_IO, "cannot read %s: %s", path, strerror(saved));
    return !buf->failed || pd_arena_error(buf->arena, err);
}

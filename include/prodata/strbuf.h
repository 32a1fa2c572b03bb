/*
 * strbuf.h - a growable string that lives in an arena, for building SQL,
 * migration files and messages. Appends never fail loudly: the first failed
 * allocation marks the buffer failed and later appends do nothing, so a
 * builder checks once, at the end, with pd_strbuf_failed. Identifiers and
 * literals have their own appenders so quoting is never done by hand.
 */
#ifndef PRODATA_STRBUF_H
#define PRODATA_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdStrbuf
{
    PdArena *arena;
    char *data; /* always NUL-terminated once anything was appended */
    size_t length;
    size_t capacity;
    bool failed;
} PdStrbuf;

void pd_strbuf_init(PdStrbuf *buf, PdArena *arena);
void pd_strbuf_append(PdStrbuf *buf, const char *text);
void pd_strbuf_append_length(PdStrbuf *buf, const char *text, size_t length);
void pd_strbuf_append_char(PdStrbuf *buf, char c);
void pd_strbuf_appendf(PdStrbuf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends "name" with embedded double quotes doubled: a PostgreSQL quoted identifier. */
void pd_strbuf_append_identifier(PdStrbuf *buf, const char *name);

/*
 * Appends text as an SQL string literal: 'text' with quotes doubled, or,
 * when it holds a backslash or a control character, E'text' with those
 * escaped, so it means the same under any standard_conforming_strings and
 * never spans lines.
 */
void pd_strbuf_append_literal(PdStrbuf *buf, const char *text);

/* The text so far ("" when empty); NULL only if the buffer failed. */
const char *pd_strbuf_text(PdStrbuf *buf);

bool pd_strbuf_failed(const PdStrbuf *buf);

/* Appends the whole file at path. False with PD_ERR_IO ("cannot read PATH: reason") when it cannot be
 * opened or read, or with the arena's error (pd_arena_error) when the buffer ran out. */
bool pd_strbuf_append_file(PdStrbuf *buf, const char *path, PdError *err);

PD_API_END

#endif

/*
 * utf8.h - private to core: where a text may be cut without splitting a
 * UTF-8 character. error.c, log.c and settings.c cut texts to fixed sizes
 * that end up in JSON and terminals, which want whole characters.
 */
#ifndef PRODATA_CORE_UTF8_H
#define PRODATA_CORE_UTF8_H

#include <stddef.h>

/*
 * The length of text[0 .. length) once a character cut off at its end is
 * dropped: length itself when the last character is whole (or the bytes are
 * not UTF-8 at all: then nothing is judged). text needs no NUL.
 */
size_t pd_core_utf8_whole(const char *text, size_t length);

/* The longest prefix of the string text of at most max bytes that ends between characters. */
size_t pd_core_utf8_prefix(const char *text, size_t max);

#endif

/*
 * split.h - what split.c shares inside src/migrate beyond the public
 * statement splitter: the normal form of a section's statements, which the
 * checksum of an applied file is taken over (checksum.c).
 */
#ifndef PRODATA_MIGRATE_SPLIT_H
#define PRODATA_MIGRATE_SPLIT_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/strbuf.h"

/*
 * Appends to out each statement of sql in normal form, followed by ";\n":
 * comments dropped, blanks between tokens cut (one space kept between two
 * words), quoted text byte for byte. Errors: an unterminated quote.
 */
bool pd_split_normalize_section(PdArena *arena, const char *sql, PdStrbuf *out, PdError *err);

#endif

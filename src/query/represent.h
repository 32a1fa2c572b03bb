/*
 * represent.h - private to src/query: the one JSON representation of a model
 * object, shared by reads (query.c) and writes (object.c). PostgreSQL builds
 * it; nothing in C re-encodes it.
 */
#ifndef PRODATA_QUERY_REPRESENT_H
#define PRODATA_QUERY_REPRESENT_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/strbuf.h"

/*
 * Appends to sql an expression of type json giving one object from row alias
 * `alias` (a table alias or a CTE/RETURNING row) as DRF's ModelSerializer
 * would: keys in field order, decimals as text ("12.50"), timestamptz ISO 8601
 * as DRF writes it ("2026-01-02T03:04:05.500000Z" for a zero offset; other
 * offsets in PostgreSQL's own JSON form, "2026-01-02T05:04:05.5+02:00"),
 * dates ISO, times "HH:MM:SS[.ffffff]" (six digits, as Python), durations in Django's "[DD
 * ]HH:MM:SS[.uuuuuu]", uuid text, json as JSON, binary base64 (one line), a foreign key as the target's key
 * under its field name ("author", not author_id), many-to-many as an array of
 * keys (correlated subquery on the join table, ordered by key). fields: NULL
 * for every field, else the subset (names, in the order given). Built with
 * row_to_json over a sub-select, so there is no 100-argument limit. Errors:
 * PD_ERR_INVALID_INPUT (a name that is no field, err->field set), and the
 * strbuf's failure is left for the caller to check.
 */
bool pd_query_represent(PdStrbuf *sql, const PdModel *model, const char *alias, const char *const *fields,
                        size_t field_count, PdError *err);

/*
 * Appends the JSON value of one field of the row `alias` (what
 * pd_query_represent puts under the field's name): the column passed as is
 * where PostgreSQL's JSON form is DRF's, else converted (decimal, duration,
 * binary, keys of another encoding); many-to-many as the array of keys.
 */
void pd_query_represent_field(PdStrbuf *sql, const PdModel *model, const PdField *field, const char *alias);

/* Appends an expression giving column `column` of row `alias` (a value of kind `key`'s type) in its JSON
 * encoding; used for keys (foreign keys and many-to-many entries are encoded as the target's key). */
void pd_query_represent_value(PdStrbuf *sql, const PdField *key, const char *alias, const char *column);

#endif

/*
 * strmap.h - a string -> pointer map in an arena, for lookups by name (models,
 * fields, migrations, settings) that must stay fast on large inputs. Keys are
 * byte strings compared by length and content (they need not be
 * NUL-terminated with the _length calls; a NULL key of length 0 is the empty
 * key) and are not copied: they must live
 * as long as the map, which is true of anything already in the same arena.
 * Putting an existing key replaces its value. Memory comes from the arena and
 * is freed with it; growing leaves the old table there until then (at most as
 * much again as the final table). No removal. Not thread-safe for writes;
 * concurrent reads of a map no one writes are safe.
 */
#ifndef PRODATA_STRMAP_H
#define PRODATA_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdStrmap PdStrmap;

/* A map sized for `expected` keys without growing (0 is fine). NULL on exhaustion (see pd_arena_error). */
PdStrmap *pd_strmap_new(PdArena *arena, size_t expected);

/* Maps key to value (value may be NULL: see pd_strmap_contains). False on exhaustion, the map unchanged. */
bool pd_strmap_put(PdStrmap *map, const char *key, void *value);
bool pd_strmap_put_length(PdStrmap *map, const char *key, size_t key_length, void *value);

/* The value of key, NULL when absent. */
void *pd_strmap_get(const PdStrmap *map, const char *key);
void *pd_strmap_get_length(const PdStrmap *map, const char *key, size_t key_length);

/* Whether key is present (also when its value is NULL). */
bool pd_strmap_contains(const PdStrmap *map, const char *key);
bool pd_strmap_contains_length(const PdStrmap *map, const char *key, size_t key_length);

/* Number of distinct keys. */
size_t pd_strmap_count(const PdStrmap *map);

/*
 * Walks every entry in no particular order: start with *cursor = 0; each call
 * that returns true fills the out-parameters (any may be NULL) and advances
 * the cursor. A put during the walk may reorder it.
 */
bool pd_strmap_next(const PdStrmap *map, size_t *cursor, const char **key, size_t *key_length, void **value);

PD_API_END

#endif

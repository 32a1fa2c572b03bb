/*
 * arena.h - bump allocation with a named lifetime. Everything allocated in an
 * arena is freed at once by pd_arena_free; nothing is freed one by one. The
 * CLI makes one arena per command, the server one per request. An arena may
 * have a byte budget: past it, allocation returns NULL and the arena remembers
 * why, so callers turn it into PD_ERR_TOO_LARGE or PD_ERR_NO_MEMORY with
 * pd_arena_error. Non-memory resources (PGresult, FILE *) can be tied to an
 * arena with pd_arena_on_free. An arena is not thread-safe: one per thread.
 */
#ifndef PRODATA_ARENA_H
#define PRODATA_ARENA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "prodata/error.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef struct PdArena PdArena;

/* New arena; budget_bytes 0 means no budget. NULL when memory is exhausted. */
PdArena *pd_arena_new(size_t budget_bytes);

/* Runs the registered free callbacks (last registered first), then frees all memory. NULL is a no-op. */
void pd_arena_free(PdArena *arena);

/* size bytes aligned for any type, uninitialised; NULL on exhaustion (see pd_arena_error). */
void *pd_arena_alloc(PdArena *arena, size_t size);

/* Like pd_arena_alloc, zero-filled. */
void *pd_arena_calloc(PdArena *arena, size_t count, size_t size);

/* Copies of strings, living in the arena. NULL input gives NULL. */
char *pd_arena_strdup(PdArena *arena, const char *text);
char *pd_arena_strndup(PdArena *arena, const char *text, size_t length);

/* printf into the arena. NULL on exhaustion. */
char *pd_arena_sprintf(PdArena *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *pd_arena_vsprintf(PdArena *arena, const char *fmt, va_list args);

/*
 * Grows an array kept in the arena: returns an array of new_count elements
 * whose first old_count are copied from old (which stays allocated until the
 * arena is freed). For arrays that grow by doubling, the waste is bounded.
 */
void *pd_arena_grow(PdArena *arena, void *old, size_t old_count, size_t new_count, size_t element_size);

/*
 * For appending to an array of `count` elements kept in the arena: returns
 * an array with room for one more (index count), copying only when the
 * implicit capacity (8, 16, 32, ...) is full, so appending n elements costs
 * O(n). Callers keep just the array and its count. NULL on exhaustion.
 */
void *pd_arena_reserve_next(PdArena *arena, void *array, size_t count, size_t element_size);

/* Registers free_fn(resource), called when the arena is freed. False on exhaustion. */
bool pd_arena_on_free(PdArena *arena, void (*free_fn)(void *), void *resource);

/* Bytes handed out so far (for budgets and tests). */
size_t pd_arena_used(const PdArena *arena);

/* True once an allocation failed; the arena stays usable for smaller requests. */
bool pd_arena_failed(const PdArena *arena);

/* Fills err with PD_ERR_TOO_LARGE (budget) or PD_ERR_NO_MEMORY (malloc). Returns false. */
bool pd_arena_error(const PdArena *arena, PdError *err);

PD_API_END

#endif

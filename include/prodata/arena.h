/*
 * arena.h - bump allocation with a named lifetime. Everything allocated in an
 * arena is freed at once by pd_arena_free (or pd_arena_reset); nothing is
 * freed one by one. The CLI makes one arena per command, the server one per
 * request, the keeper one per loop tick. An arena may have a byte budget: past
 * it, allocation returns NULL and the arena remembers why, so callers turn it
 * into PD_ERR_TOO_LARGE or PD_ERR_NO_MEMORY with pd_arena_error. Every size is
 * overflow-checked: an impossible request (pd_arena_alloc(a, SIZE_MAX - 20))
 * fails like any other. Non-memory resources (PGresult, FILE *) can be tied to
 * an arena with pd_arena_on_free, and memory held elsewhere can be counted
 * against the budget with pd_arena_charge.
 *
 * Arenas form a tree, as PostgreSQL's memory contexts: a child arena is freed
 * with its parent if not before, and what it uses counts in the parent's used
 * bytes, peak and budget while it lives. Scratch work is built in a temporary
 * child; what survives is copied out to the longer-lived arena; the child is
 * dropped, so peak memory follows one unit of work, not the whole run:
 *
 *     PdArena *scratch = pd_arena_new_child(arena, 0);
 *     if (scratch == NULL)
 *         return pd_arena_error(arena, err);
 *     PdSchema *live;                                      // large, temporary
 *     bool ok = pd_schema_read(scratch, db, &live, err) &&
 *               copy_summary(arena, live, &summary, err);  // small, survives
 *     if (!ok && pd_arena_failed(scratch))
 *         pd_arena_error(scratch, err);                    // names the budget that refused
 *     pd_arena_free(scratch);
 *     return ok;
 *
 * A loop that runs forever resets one arena per tick instead (pd_arena_reset).
 * An arena and its children are not thread-safe: they belong to one thread.
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

/*
 * New child of parent, freed with it if not freed before. Its own budget
 * (0: none) is also bounded by what is left of every ancestor's budget; its
 * used bytes count in the parent's while it lives. NULL on exhaustion (the
 * parent's budget spent, or malloc failed): pd_arena_error(parent, err) says
 * which. Not thread-safe: a child belongs to its parent's thread.
 */
PdArena *pd_arena_new_child(PdArena *parent, size_t budget_bytes);

/*
 * Frees the children (newest first), runs the registered free callbacks
 * (last registered first), then frees all memory; a child is also taken out
 * of its parent's count. NULL is a no-op.
 */
void pd_arena_free(PdArena *arena);

/*
 * Empties the arena for reuse (a loop's tick, a request on a kept thread):
 * frees the children, runs the callbacks, keeps the first chunk and frees the
 * others, sets used bytes back to 0 and clears the failure flags. The budget
 * and the peak stay. Everything allocated before is invalid after.
 */
void pd_arena_reset(PdArena *arena);

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

/*
 * Counts bytes held elsewhere (a libpq result: PQresultMemorySize) against the
 * budget of arena and its ancestors, until the arena is freed or reset. False,
 * counting nothing and marking the arena failed (PD_ERR_TOO_LARGE), when they
 * do not fit.
 */
bool pd_arena_charge(PdArena *arena, size_t bytes);

/*
 * Gives back bytes charged before, when what they stood for is released early
 * (PQclear): at most what is charged to this arena and not yet given back
 * (a reset forgets every charge).
 */
void pd_arena_uncharge(PdArena *arena, size_t bytes);

/* Bytes handed out or charged so far, live children included (for budgets and tests). */
size_t pd_arena_used(const PdArena *arena);

/* High-water mark of pd_arena_used over the arena's life (a reset does not lower it). */
size_t pd_arena_peak(const PdArena *arena);

/* Bytes obtained from malloc for the arena and its live children, headers included (for tests and benches).
 */
size_t pd_arena_footprint(const PdArena *arena);

/* True once an allocation failed (until a reset); the arena stays usable for smaller requests. */
bool pd_arena_failed(const PdArena *arena);

/*
 * Fills err with PD_ERR_TOO_LARGE (a budget, naming the one that refused: the
 * arena's or an ancestor's) or PD_ERR_NO_MEMORY (malloc failed, or the request
 * could never be met). Returns false.
 */
bool pd_arena_error(const PdArena *arena, PdError *err);

PD_API_END

#endif

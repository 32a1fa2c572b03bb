/*
 * arena.c - the bump allocator behind PdArena. Memory comes in chunks that
 * double in size up to a cap; a request larger than a chunk gets a chunk of
 * its own. Nothing is freed one by one: an arena is freed or reset whole.
 * Arenas form a tree (pd_arena_new_child): a child has its own chunks, so it
 * can be dropped early, while the bytes it uses count in every ancestor's
 * used bytes, peak and budget, so a per-tick or per-request child can never
 * take more than its parent has left. The budget counts what is handed out
 * (plus bytes charged for memory held elsewhere, such as libpq results), so a
 * limit is independent of chunk sizes. Every size is checked before it is
 * computed: a request that would overflow a size_t fails like any other
 * allocation. Free callbacks run newest first, so a resource registered after
 * another can still use it while it is released; children go before them.
 */
#include "prodata/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK (1024 * 1024)

typedef struct ArenaChunk
{
    struct ArenaChunk *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} ArenaChunk;

/* Larger requests are refused before any size arithmetic: malloc cannot serve them anyway. */
#define ARENA_MAX_REQUEST ((size_t)PTRDIFF_MAX - sizeof(ArenaChunk) - ARENA_ALIGN)

typedef struct ArenaCleanup
{
    struct ArenaCleanup *next;
    void (*free_fn)(void *);
    void *resource;
} ArenaCleanup;

struct PdArena
{
    ArenaChunk *chunks;      /* the current one first */
    ArenaChunk *first_chunk; /* the first one made, kept by a reset */
    ArenaCleanup *cleanups;
    PdArena *parent;
    PdArena *children; /* newest first, linked through prev_sibling/next_sibling */
    PdArena *prev_sibling;
    PdArena *next_sibling;
    size_t next_chunk_size;
    size_t budget_bytes;
    size_t used_bytes;    /* handed out and charged, children included */
    size_t charged_bytes; /* charged to this arena itself and not given back (part of used_bytes) */
    size_t peak_bytes;
    size_t chunk_bytes;    /* obtained from malloc for this arena's own chunks */
    size_t failed_budget;  /* the budget that refused a request (this arena's or an ancestor's) */
    size_t failed_request; /* the request malloc could not serve */
    bool over_budget;
    bool out_of_memory;
};

static PdArena *
arena_make(size_t budget_bytes)
{
    PdArena *arena = calloc(1, sizeof(*arena));
    if (arena == NULL)
        return NULL;
    arena->next_chunk_size = ARENA_FIRST_CHUNK;
    arena->budget_bytes = budget_bytes;
    return arena;
}

PdArena *
pd_arena_new(size_t budget_bytes)
{
    return arena_make(budget_bytes);
}

/* Records a request that cannot be served (too large, or malloc failed). NULL, for one-line returns. */
static void *
refuse(PdArena *arena, size_t size)
{
    arena->out_of_memory = true;
    arena->failed_request = size;
    return NULL;
}

/* Whether bytes more fit this arena's budget and every ancestor's; records the refusal when not. */
static bool
fits_budgets(PdArena *arena, size_t bytes)
{
    for (PdArena *level = arena; level != NULL; level = level->parent)
    {
        if (bytes > SIZE_MAX - level->used_bytes)
        {
            refuse(arena, bytes);
            return false;
        }
        if (level->budget_bytes != 0 && bytes > level->budget_bytes - level->used_bytes)
        {
            arena->over_budget = true;
            arena->failed_budget = level->budget_bytes;
            return false;
        }
    }
    return true;
}

/* Counts bytes as used by arena and each ancestor (checked by fits_budgets first). */
static void
count_used(PdArena *arena, size_t bytes)
{
    for (PdArena *level = arena; level != NULL; level = level->parent)
    {
        level->used_bytes += bytes;
        if (level->used_bytes > level->peak_bytes)
            level->peak_bytes = level->used_bytes;
    }
}

static void
uncount_used(PdArena *arena, size_t bytes)
{
    for (PdArena *level = arena; level != NULL; level = level->parent)
        level->used_bytes -= bytes;
}

PdArena *
pd_arena_new_child(PdArena *parent, size_t budget_bytes)
{
    /* A parent with less than the smallest allocation left cannot give a child anything. */
    if (!fits_budgets(parent, ARENA_ALIGN))
        return NULL;
    PdArena *child = arena_make(budget_bytes);
    if (child == NULL)
        return refuse(parent, sizeof(PdArena));
    child->parent = parent;
    child->next_sibling = parent->children;
    if (parent->children != NULL)
        parent->children->prev_sibling = child;
    parent->children = child;
    return child;
}

static void
free_chunks(ArenaChunk *chunk)
{
    while (chunk != NULL)
    {
        ArenaChunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
}

static void
unlink_child(PdArena *child)
{
    PdArena *parent = child->parent;
    if (child->prev_sibling != NULL)
        child->prev_sibling->next_sibling = child->next_sibling;
    else
        parent->children = child->next_sibling;
    if (child->next_sibling != NULL)
        child->next_sibling->prev_sibling = child->prev_sibling;
    uncount_used(parent, child->used_bytes);
}

/* Frees the children (newest first), then runs the callbacks (newest first). Chunks stay. */
static void
release_contents(PdArena *arena)
{
    while (arena->children != NULL)
        pd_arena_free(arena->children);
    for (ArenaCleanup *cleanup = arena->cleanups; cleanup != NULL; cleanup = cleanup->next)
        cleanup->free_fn(cleanup->resource);
    arena->cleanups = NULL;
}

void
pd_arena_free(PdArena *arena)
{
    if (arena == NULL)
        return;
    release_contents(arena);
    if (arena->parent != NULL)
        unlink_child(arena);
    free_chunks(arena->chunks);
    free(arena);
}

void
pd_arena_reset(PdArena *arena)
{
    release_contents(arena);
    /* Keep the first chunk made, unless it was a one-off giant, and forget the others. */
    ArenaChunk *keep = arena->first_chunk;
    if (keep != NULL && keep->size > ARENA_MAX_CHUNK)
        keep = NULL;
    for (ArenaChunk **link = &arena->chunks; keep != NULL && *link != NULL; link = &(*link)->next)
    {
        if (*link == keep)
        {
            *link = keep->next;
            break;
        }
    }
    free_chunks(arena->chunks);
    arena->chunks = keep;
    arena->first_chunk = keep;
    arena->chunk_bytes = 0;
    arena->next_chunk_size = ARENA_FIRST_CHUNK;
    if (keep != NULL)
    {
        keep->next = NULL;
        keep->used = 0;
        arena->chunk_bytes = sizeof(ArenaChunk) + keep->size;
        arena->next_chunk_size = ARENA_FIRST_CHUNK * 2;
    }
    if (arena->parent != NULL)
        uncount_used(arena->parent, arena->used_bytes);
    arena->used_bytes = 0;
    arena->charged_bytes = 0;
    arena->over_budget = false;
    arena->out_of_memory = false;
}

static ArenaChunk *
add_chunk(PdArena *arena, size_t min_size)
{
    size_t size = arena->next_chunk_size;
    if (size < min_size)
        size = min_size; /* at most ARENA_MAX_REQUEST: the header cannot overflow the sum */
    ArenaChunk *chunk = malloc(sizeof(ArenaChunk) + size);
    if (chunk == NULL)
        return NULL;
    chunk->size = size;
    chunk->used = 0;
    arena->chunk_bytes += sizeof(ArenaChunk) + size;
    if (arena->first_chunk == NULL)
        arena->first_chunk = chunk;
    /* A chunk made for one big request goes behind the current one, which may still have room. */
    if (size > arena->next_chunk_size && arena->chunks != NULL)
    {
        chunk->next = arena->chunks->next;
        arena->chunks->next = chunk;
    }
    else
    {
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        if (arena->next_chunk_size < ARENA_MAX_CHUNK)
            arena->next_chunk_size *= 2;
    }
    return chunk;
}

void *
pd_arena_alloc(PdArena *arena, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ARENA_MAX_REQUEST)
        return refuse(arena, size);
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!fits_budgets(arena, rounded))
        return NULL;
    ArenaChunk *chunk = arena->chunks;
    if (chunk == NULL || chunk->size - chunk->used < rounded)
    {
        chunk = add_chunk(arena, rounded);
        if (chunk == NULL)
            return refuse(arena, size);
    }
    void *result = chunk->data + chunk->used;
    chunk->used += rounded;
    count_used(arena, rounded);
    return result;
}

void *
pd_arena_calloc(PdArena *arena, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return refuse(arena, SIZE_MAX);
    void *result = pd_arena_alloc(arena, count * size);
    if (result != NULL)
        memset(result, 0, count * size);
    return result;
}

char *
pd_arena_strndup(PdArena *arena, const char *text, size_t length)
{
    if (text == NULL)
        return NULL;
    if (length == SIZE_MAX) /* length + 1 would wrap to 0 */
        return refuse(arena, length);
    char *copy = pd_arena_alloc(arena, length + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

char *
pd_arena_strdup(PdArena *arena, const char *text)
{
    if (text == NULL)
        return NULL;
    return pd_arena_strndup(arena, text, strlen(text));
}

char *
pd_arena_vsprintf(PdArena *arena, const char *fmt, va_list args)
{
    va_list measure;
    va_copy(measure, args);
    int length = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (length < 0) /* more than INT_MAX characters, or a bad format */
        return refuse(arena, SIZE_MAX);
    char *result = pd_arena_alloc(arena, (size_t)length + 1); /* int + 1 always fits a size_t */
    if (result == NULL)
        return NULL;
    vsnprintf(result, (size_t)length + 1, fmt, args);
    return result;
}

char *
pd_arena_sprintf(PdArena *arena, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *result = pd_arena_vsprintf(arena, fmt, args);
    va_end(args);
    return result;
}

void *
pd_arena_grow(PdArena *arena, void *old, size_t old_count, size_t new_count, size_t element_size)
{
    /* calloc checks new_count * element_size; the copied count is at most new_count. */
    void *grown = pd_arena_calloc(arena, new_count, element_size);
    if (grown != NULL && old != NULL && old_count > 0)
        memcpy(grown, old, (old_count < new_count ? old_count : new_count) * element_size);
    return grown;
}

void *
pd_arena_reserve_next(PdArena *arena, void *array, size_t count, size_t element_size)
{
    if (array == NULL || count == 0)
        return pd_arena_calloc(arena, 8, element_size);
    bool is_full = count >= 8 && (count & (count - 1)) == 0;
    if (!is_full)
        return array;
    if (count > SIZE_MAX / 2)
        return refuse(arena, SIZE_MAX);
    return pd_arena_grow(arena, array, count, count * 2, element_size);
}

bool
pd_arena_on_free(PdArena *arena, void (*free_fn)(void *), void *resource)
{
    ArenaCleanup *cleanup = pd_arena_alloc(arena, sizeof(*cleanup));
    if (cleanup == NULL)
        return false;
    cleanup->free_fn = free_fn;
    cleanup->resource = resource;
    cleanup->next = arena->cleanups;
    arena->cleanups = cleanup;
    return true;
}

bool
pd_arena_charge(PdArena *arena, size_t bytes)
{
    if (!fits_budgets(arena, bytes))
        return false;
    count_used(arena, bytes);
    arena->charged_bytes += bytes;
    return true;
}

void
pd_arena_uncharge(PdArena *arena, size_t bytes)
{
    /* Only charges come back: bytes handed out or counted for children stay counted until they go. */
    size_t given_back = bytes < arena->charged_bytes ? bytes : arena->charged_bytes;
    arena->charged_bytes -= given_back;
    uncount_used(arena, given_back);
}

size_t
pd_arena_used(const PdArena *arena)
{
    return arena->used_bytes;
}

size_t
pd_arena_peak(const PdArena *arena)
{
    return arena->peak_bytes;
}

size_t
pd_arena_footprint(const PdArena *arena)
{
    size_t bytes = sizeof(*arena) + arena->chunk_bytes;
    for (const PdArena *child = arena->children; child != NULL; child = child->next_sibling)
        bytes += pd_arena_footprint(child);
    return bytes;
}

bool
pd_arena_failed(const PdArena *arena)
{
    return arena->over_budget || arena->out_of_memory;
}

bool
pd_arena_error(const PdArena *arena, PdError *err)
{
    if (arena->over_budget)
    {
        pd_error_set(err, PD_ERR_TOO_LARGE, "memory budget of %zu bytes exhausted", arena->failed_budget);
        return pd_error_hint(err, "Make the input smaller.");
    }
    pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (arena->failed_request == SIZE_MAX)
        return pd_error_detail(err, "A size computation overflowed.");
    return pd_error_detail(err, "A request for %zu bytes could not be met.", arena->failed_request);
}

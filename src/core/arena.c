/*
 * arena.c - the bump allocator behind PdArena. Memory comes in chunks that
 * double in size up to a cap; a request larger than a chunk gets a chunk of
 * its own. Nothing is freed before the arena is. The byte budget counts what
 * is handed out, so a request arena's limit is independent of chunk sizes.
 * Free callbacks run newest first, so a resource registered after another can
 * still use it while it is released.
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

typedef struct ArenaCleanup
{
    struct ArenaCleanup *next;
    void (*free_fn)(void *);
    void *resource;
} ArenaCleanup;

struct PdArena
{
    ArenaChunk *chunks;
    ArenaCleanup *cleanups;
    size_t next_chunk_size;
    size_t budget_bytes;
    size_t used_bytes;
    bool over_budget;
    bool out_of_memory;
};

PdArena *
pd_arena_new(size_t budget_bytes)
{
    PdArena *arena = calloc(1, sizeof(*arena));
    if (arena == NULL)
        return NULL;
    arena->next_chunk_size = ARENA_FIRST_CHUNK;
    arena->budget_bytes = budget_bytes;
    return arena;
}

void
pd_arena_free(PdArena *arena)
{
    if (arena == NULL)
        return;
    for (ArenaCleanup *cleanup = arena->cleanups; cleanup != NULL; cleanup = cleanup->next)
        cleanup->free_fn(cleanup->resource);
    ArenaChunk *chunk = arena->chunks;
    while (chunk != NULL)
    {
        ArenaChunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(arena);
}

static ArenaChunk *
add_chunk(PdArena *arena, size_t min_size)
{
    size_t size = arena->next_chunk_size;
    if (size < min_size)
        size = min_size;
    ArenaChunk *chunk = malloc(sizeof(ArenaChunk) + size);
    if (chunk == NULL)
        return NULL;
    chunk->size = size;
    chunk->used = 0;
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
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (rounded < size)
    {
        arena->out_of_memory = true;
        return NULL;
    }
    if (arena->budget_bytes != 0 && rounded > arena->budget_bytes - arena->used_bytes)
    {
        arena->over_budget = true;
        return NULL;
    }
    ArenaChunk *chunk = arena->chunks;
    if (chunk == NULL || chunk->size - chunk->used < rounded)
    {
        chunk = add_chunk(arena, rounded);
        if (chunk == NULL)
        {
            arena->out_of_memory = true;
            return NULL;
        }
    }
    void *result = chunk->data + chunk->used;
    chunk->used += rounded;
    arena->used_bytes += rounded;
    return result;
}

void *
pd_arena_calloc(PdArena *arena, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
    {
        arena->out_of_memory = true;
        return NULL;
    }
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
    if (length < 0)
        return NULL;
    char *result = pd_arena_alloc(arena, (size_t)length + 1);
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
    return is_full ? pd_arena_grow(arena, array, count, count * 2, element_size) : array;
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

size_t
pd_arena_used(const PdArena *arena)
{
    return arena->used_bytes;
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
        pd_error_set(err, PD_ERR_TOO_LARGE, "memory budget of %zu bytes exhausted", arena->budget_bytes);
        return pd_error_hint(err, "Make the input smaller.");
    }
    return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
}

/*
 * strmap.c - open addressing with linear probing over a power-of-two table,
 * hashed with 64-bit FNV-1a. The table grows (doubles) before it is 70% full,
 * which keeps probe sequences short; each slot keeps the key's hash so most
 * mismatches cost one integer comparison, never a memcmp. An empty slot has a
 * NULL key. Old tables stay in the arena after a grow: the arena frees all at
 * once, and doubling bounds the waste to the size of the final table.
 */
#include "prodata/strmap.h"

#include <stdint.h>
#include <string.h>

#define STRMAP_MIN_CAPACITY 8

typedef struct StrmapSlot
{
    const char *key; /* NULL: empty */
    size_t key_length;
    uint64_t hash;
    void *value;
} StrmapSlot;

struct PdStrmap
{
    PdArena *arena;
    StrmapSlot *slots;
    size_t capacity; /* a power of two */
    size_t count;
};

static uint64_t
hash_key(const char *key, size_t length)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < length; i++)
    {
        hash ^= (unsigned char)key[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* Whether count entries fit a table of capacity under the 70% load bound. */
static bool
fits_load(size_t count, size_t capacity)
{
    return count <= capacity / 10 * 7 + capacity % 10 * 7 / 10;
}

/* The smallest power-of-two capacity that holds count entries under the load bound; 0 when none. */
static size_t
capacity_for(size_t count)
{
    size_t capacity = STRMAP_MIN_CAPACITY;
    while (!fits_load(count, capacity))
    {
        if (capacity > SIZE_MAX / 2)
            return 0;
        capacity *= 2;
    }
    return capacity;
}

static StrmapSlot *
find_slot(StrmapSlot *slots, size_t capacity, const char *key, size_t length, uint64_t hash)
{
    size_t mask = capacity - 1;
    for (size_t index = (size_t)hash & mask;; index = (index + 1) & mask)
    {
        StrmapSlot *slot = &slots[index];
        if (slot->key == NULL ||
            (slot->hash == hash && slot->key_length == length && memcmp(slot->key, key, length) == 0))
            return slot; /* the load bound guarantees an empty slot, so the loop ends */
    }
}

static bool
resize(PdStrmap *map, size_t capacity)
{
    StrmapSlot *slots = pd_arena_calloc(map->arena, capacity, sizeof(StrmapSlot));
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < map->capacity; i++)
    {
        const StrmapSlot *old = &map->slots[i];
        if (old->key != NULL)
            *find_slot(slots, capacity, old->key, old->key_length, old->hash) = *old;
    }
    map->slots = slots;
    map->capacity = capacity;
    return true;
}

PdStrmap *
pd_strmap_new(PdArena *arena, size_t expected)
{
    size_t capacity = capacity_for(expected);
    if (capacity == 0)
    {
        pd_arena_alloc(arena, SIZE_MAX); /* records the refusal for pd_arena_error */
        return NULL;
    }
    PdStrmap *map = pd_arena_calloc(arena, 1, sizeof(*map));
    if (map == NULL)
        return NULL;
    map->arena = arena;
    if (!resize(map, capacity))
        return NULL;
    return map;
}

bool
pd_strmap_put_length(PdStrmap *map, const char *key, size_t key_length, void *value)
{
    if (key_length == 0)
        key = ""; /* (NULL, 0) is the empty key too; a NULL key would read as an empty slot */
    uint64_t hash = hash_key(key, key_length);
    StrmapSlot *slot = find_slot(map->slots, map->capacity, key, key_length, hash);
    if (slot->key != NULL)
    {
        slot->value = value;
        return true;
    }
    if (!fits_load(map->count + 1, map->capacity))
    {
        if (map->capacity > SIZE_MAX / 2 || !resize(map, map->capacity * 2))
            return false;
        slot = find_slot(map->slots, map->capacity, key, key_length, hash);
    }
    slot->key = key;
    slot->key_length = key_length;
    slot->hash = hash;
    slot->value = value;
    map->count++;
    return true;
}

bool
pd_strmap_put(PdStrmap *map, const char *key, void *value)
{
    return pd_strmap_put_length(map, key, strlen(key), value);
}

/* The slot holding key, or NULL when absent. */
static const StrmapSlot *
lookup(const PdStrmap *map, const char *key, size_t key_length)
{
    if (key_length == 0)
        key = "";
    const StrmapSlot *slot = find_slot(map->slots, map->capacity, key, key_length, hash_key(key, key_length));
    return slot->key != NULL ? slot : NULL;
}

void *
pd_strmap_get_length(const PdStrmap *map, const char *key, size_t key_length)
{
    const StrmapSlot *slot = lookup(map, key, key_length);
    return slot != NULL ? slot->value : NULL;
}

void *
pd_strmap_get(const PdStrmap *map, const char *key)
{
    return pd_strmap_get_length(map, key, strlen(key));
}

bool
pd_strmap_contains_length(const PdStrmap *map, const char *key, size_t key_length)
{
    return lookup(map, key, key_length) != NULL;
}

bool
pd_strmap_contains(const PdStrmap *map, const char *key)
{
    return pd_strmap_contains_length(map, key, strlen(key));
}

size_t
pd_strmap_count(const PdStrmap *map)
{
    return map->count;
}

bool
pd_strmap_next(const PdStrmap *map, size_t *cursor, const char **key, size_t *key_length, void **value)
{
    for (; *cursor < map->capacity; (*cursor)++)
    {
        const StrmapSlot *slot = &map->slots[*cursor];
        if (slot->key == NULL)
            continue;
        if (key != NULL)
            *key = slot->key;
        if (key_length != NULL)
            *key_length = slot->key_length;
        if (value != NULL)
            *value = slot->value;
        (*cursor)++;
        return true;
    }
    return false;
}

/*
 * throttle.c - DRF's SimpleRateThrottle behind striped locks. A request is allowed when fewer than
 * `requests` requests of its key were allowed in the last `period_s` (refused ones do not count), so no
 * window of period_s ever holds more than `requests`; a refusal waits until enough of those leave the window
 * (a full window: until its oldest leaves, DRF's wait()). A key's history is a ring of groups, oldest first,
 * each the number of requests allowed and the time of the latest of them. Up to EXACT_REQUESTS per period a
 * group holds the requests of one millisecond: the ring is DRF's history, exactly. Past that a group holds
 * the requests of one slice (1/SLICES) of the period and leaves the window with its latest request: an
 * earlier request of the slice counts up to one slice longer than in DRF, never shorter, so the limit still
 * holds, a client may be let back at most period/SLICES late, and the ring needs at most SLICES + 1 groups
 * whatever the rate (a window touches at most SLICES slices before the current one). A ring grows with its
 * key's use, to at most that, 8 bytes a group.
 *
 * A key hashes (FNV-1a) to one of STRIPES stripes, each with its own mutex, hash chains and
 * least-recently-used list, so requests for different keys rarely wait on each other; a request's work is
 * O(1) amortised (each group is added once and dropped once; a refusal's wait reads at most the ring). Each
 * stripe holds at most its share of max_keys; a new key in a full stripe takes the place (and the ring's
 * memory) of the least recently used key, whose history is forgotten.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"

#define STRIPES 16
#define KEY_BYTES 224         /* 200 bytes of key, "#", 16 hex digits of hash, NUL, and room */
#define EXACT_REQUESTS 64     /* rates up to this many requests per period are kept exactly */
#define SLICES 64             /* larger rates: the requests of one 1/SLICES of the period form one group */
#define REBASE_MS (1LL << 31) /* group times are uint32 ms past base_ms: moved long before a wrap */

/* Requests allowed for a key: count of them, the latest at the history's base_ms + last_ms. */
typedef struct Group
{
    uint32_t last_ms;
    uint32_t count;
} Group;

typedef struct History
{
    char key[KEY_BYTES];
    uint64_t hash;
    int64_t base_ms;
    Group *groups; /* a ring of capacity groups, used of them from first on, oldest first */
    uint32_t capacity;
    uint32_t first;
    uint32_t used;
    uint64_t total;                /* requests in the groups */
    struct History *chain;         /* next in the hash chain */
    struct History *newer, *older; /* the stripe's use list */
} History;

typedef struct Stripe
{
    pthread_mutex_t lock;
    History **chains;
    size_t chain_count;
    History *newest, *oldest;
    size_t size;
    size_t max_size;
} Stripe;

struct PdThrottle
{
    Stripe stripes[STRIPES];
};

static const struct
{
    const char *name;
    int seconds;
} units[] = {
    {"s", 1},       {"sec", 1},  {"second", 1},  {"m", 60},    {"min", 60},
    {"minute", 60}, {"h", 3600}, {"hour", 3600}, {"d", 86400}, {"day", 86400},
};

bool
pd_http_rate_parse(const char *text, PdRate *rate, PdError *err)
{
    const char *slash = strchr(text, '/');
    char *end = NULL;
    errno = 0;
    long requests = slash != NULL && isdigit((unsigned char)text[0]) ? strtol(text, &end, 10) : 0;
    if (slash == NULL || end != slash || errno != 0 || requests < 1 || requests > 1000000000)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "rate \"%s\" is not <requests>/<period>, expected e.g. \"100/min\"", text);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(slash + 1, units[i].name) == 0)
        {
            rate->requests = (int)requests;
            rate->period_s = units[i].seconds;
            return true;
        }
    return pd_error_set(err, PD_ERR_INVALID_INPUT,
                        "rate \"%s\" has an unknown period, expected s, min, hour or day", text);
}

PdThrottle *
pd_http_throttle_new(size_t max_keys)
{
    PdThrottle *throttle = calloc(1, sizeof(*throttle));
    if (throttle == NULL)
        return NULL;
    size_t share = max_keys / STRIPES > 0 ? max_keys / STRIPES : 1;
    for (size_t i = 0; i < STRIPES; i++)
    {
        Stripe *stripe = &throttle->stripes[i];
        pthread_mutex_init(&stripe->lock, NULL);
        stripe->max_size = share;
        stripe->chain_count = share < 4 ? 4 : share;
        stripe->chains = calloc(stripe->chain_count, sizeof(*stripe->chains));
        if (stripe->chains == NULL)
        {
            for (size_t j = 0; j <= i; j++)
                pthread_mutex_destroy(&throttle->stripes[j].lock);
            for (size_t j = 0; j < i; j++)
                free(throttle->stripes[j].chains);
            free(throttle);
            return NULL;
        }
    }
    return throttle;
}

void
pd_http_throttle_free(PdThrottle *throttle)
{
    if (throttle == NULL)
        return;
    for (size_t i = 0; i < STRIPES; i++)
    {
        Stripe *stripe = &throttle->stripes[i];
        for (History *history = stripe->newest, *older; history != NULL; history = older)
        {
            older = history->older;
            free(history->groups);
            free(history);
        }
        free(stripe->chains);
        pthread_mutex_destroy(&stripe->lock);
    }
    free(throttle);
}

static uint64_t
fnv1a(const char *text)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    return hash;
}

/* The key as stored: itself, or its first 200 bytes, "#" and its hash. */
static void
history_key(const char *key, uint64_t hash, char out[KEY_BYTES])
{
    size_t length = strlen(key);
    if (length <= 200)
        memcpy(out, key, length + 1);
    else
        snprintf(out, KEY_BYTES, "%.200s#%016llx", key, (unsigned long long)hash);
}

static void
unlink_use(Stripe *stripe, History *history)
{
    if (history->newer != NULL)
        history->newer->older = history->older;
    else
        stripe->newest = history->older;
    if (history->older != NULL)
        history->older->newer = history->newer;
    else
        stripe->oldest = history->newer;
    history->newer = history->older = NULL;
}

static void
link_newest(Stripe *stripe, History *history)
{
    history->older = stripe->newest;
    history->newer = NULL;
    if (stripe->newest != NULL)
        stripe->newest->newer = history;
    stripe->newest = history;
    if (stripe->oldest == NULL)
        stripe->oldest = history;
}

static void
unlink_chain(Stripe *stripe, History *history)
{
    History **link = &stripe->chains[history->hash % stripe->chain_count];
    while (*link != history)
        link = &(*link)->chain;
    *link = history->chain;
}

static History *
find(Stripe *stripe, const char *key, uint64_t hash)
{
    for (History *history = stripe->chains[hash % stripe->chain_count]; history != NULL;
         history = history->chain)
        if (history->hash == hash && strcmp(history->key, key) == 0)
            return history;
    return NULL;
}

/* An empty history for key: a fresh one, or the least recently used one (its ring kept) when the stripe is
 * full. */
static History *
add(Stripe *stripe, const char *key, uint64_t hash, int64_t now_ms)
{
    History *history;
    if (stripe->size >= stripe->max_size)
    {
        history = stripe->oldest;
        unlink_use(stripe, history);
        unlink_chain(stripe, history);
    }
    else if ((history = calloc(1, sizeof(*history))) != NULL)
        stripe->size++;
    else
        return NULL;
    memcpy(history->key, key, strlen(key) + 1);
    history->hash = hash;
    history->base_ms = now_ms;
    history->first = history->used = 0;
    history->total = 0;
    History **chain = &stripe->chains[hash % stripe->chain_count];
    history->chain = *chain;
    *chain = history;
    link_newest(stripe, history);
    return history;
}

static Group *
group_at(const History *history, uint32_t index)
{
    return &history->groups[(history->first + index) % history->capacity];
}

static int64_t
last_of(const History *history, uint32_t index)
{
    return history->base_ms + group_at(history, index)->last_ms;
}

/* The groups a history of rate needs at most: a request each, or a slice each (see the top). */
static uint32_t
groups_needed(PdRate rate)
{
    return rate.requests <= EXACT_REQUESTS ? (uint32_t)rate.requests : SLICES + 1;
}

/*
 * Drops the groups whose latest request has left the window (DRF drops a time once it is <= now - period).
 * A clock that stepped back (now before the newest request) moves the history back with it, as if no time
 * had passed, rather than hold the key until the clock is back where it was.
 */
static void
forget_expired(History *history, int64_t period_ms, int64_t now_ms)
{
    if (history->used > 0 && last_of(history, history->used - 1) > now_ms)
        history->base_ms -= last_of(history, history->used - 1) - now_ms;
    while (history->used > 0 && last_of(history, 0) <= now_ms - period_ms)
    {
        history->total -= group_at(history, 0)->count;
        history->first = (history->first + 1) % history->capacity;
        history->used--;
    }
    if (history->used == 0)
    {
        history->first = 0;
        history->base_ms = now_ms;
    }
}

/* A rate lowered by a reload needs fewer groups: the oldest join the next one (leaving later: never early).
 */
static void
fit(History *history, uint32_t needed)
{
    while (history->used > needed)
    {
        group_at(history, 1)->count += group_at(history, 0)->count;
        history->first = (history->first + 1) % history->capacity;
        history->used--;
    }
}

/* Whether the ring has room for one more group, grown (doubling, up to needed) when it is full. */
static bool
has_room(History *history, uint32_t needed)
{
    if (history->used < history->capacity)
        return true;
    if (history->capacity >= needed)
        return false;
    uint32_t capacity = history->capacity < 2 ? 4 : history->capacity * 2;
    capacity = capacity > needed ? needed : capacity;
    Group *groups = malloc(capacity * sizeof(*groups));
    if (groups == NULL)
        return false;
    for (uint32_t i = 0; i < history->used; i++)
        groups[i] = *group_at(history, i);
    free(history->groups);
    history->groups = groups;
    history->capacity = capacity;
    history->first = 0;
    return true;
}

/* Keeps group times within uint32: a base at the window's start leaves every live group past it. */
static void
rebase(History *history, int64_t period_ms, int64_t now_ms)
{
    if (now_ms - history->base_ms < REBASE_MS)
        return;
    int64_t base_ms = now_ms - period_ms;
    for (uint32_t i = 0; i < history->used; i++)
        group_at(history, i)->last_ms -= (uint32_t)(base_ms - history->base_ms);
    history->base_ms = base_ms;
}

/* Adds an allowed request at now_ms: to the newest group when it is of the same slice (or there is no room
 * for another: it then leaves later, never early), else as a new group. */
static void
record(History *history, PdRate rate, int64_t now_ms)
{
    int64_t slice_ms = 1;
    if (rate.requests > EXACT_REQUESTS)
        slice_ms = ((int64_t)rate.period_s * 1000 + SLICES - 1) / SLICES;
    uint32_t needed = groups_needed(rate);
    Group *newest = history->used > 0 ? group_at(history, history->used - 1) : NULL;
    bool is_same_slice =
        newest != NULL && last_of(history, history->used - 1) / slice_ms == now_ms / slice_ms;
    if (newest == NULL || (!is_same_slice && has_room(history, needed)))
    {
        if (newest == NULL && !has_room(history, needed))
            return; /* no memory for the first group: the request is let through unrecorded */
        newest = group_at(history, history->used++);
        newest->count = 0;
    }
    newest->count++;
    newest->last_ms = (uint32_t)(now_ms - history->base_ms);
    history->total++;
}

/* Seconds until a request would be allowed: until enough groups leave that fewer than requests remain. */
static int
retry_after(const History *history, PdRate rate, int64_t now_ms)
{
    uint64_t remaining = history->total;
    int64_t wait_ms = (int64_t)rate.period_s * 1000;
    for (uint32_t i = 0; i < history->used; i++)
    {
        remaining -= group_at(history, i)->count;
        if (remaining < (uint64_t)rate.requests)
        {
            wait_ms = last_of(history, i) + (int64_t)rate.period_s * 1000 - now_ms;
            break;
        }
    }
    int seconds = (int)((wait_ms + 999) / 1000);
    return seconds < 1 ? 1 : seconds;
}

static bool
allow(History *history, PdRate rate, int64_t now_ms, int *retry_after_s)
{
    int64_t period_ms = (int64_t)rate.period_s * 1000;
    forget_expired(history, period_ms, now_ms);
    fit(history, groups_needed(rate));
    if (history->total >= (uint64_t)rate.requests)
    {
        *retry_after_s = retry_after(history, rate, now_ms);
        return false;
    }
    rebase(history, period_ms, now_ms);
    record(history, rate, now_ms);
    return true;
}

bool
pd_http_throttle_take(PdThrottle *throttle, const char *key, PdRate rate, int64_t now_ms, int *retry_after_s)
{
    if (rate.requests <= 0 || rate.period_s <= 0)
        return true;
    uint64_t hash = fnv1a(key);
    char stored[KEY_BYTES];
    history_key(key, hash, stored);
    Stripe *stripe = &throttle->stripes[(hash >> 32) % STRIPES];
    pthread_mutex_lock(&stripe->lock);
    History *history = find(stripe, stored, hash);
    if (history == NULL)
        history = add(stripe, stored, hash, now_ms);
    else
    {
        unlink_use(stripe, history);
        link_newest(stripe, history);
    }
    /* out of memory for a new key: let it through */
    bool is_allowed = history == NULL || allow(history, rate, now_ms, retry_after_s);
    pthread_mutex_unlock(&stripe->lock);
    return is_allowed;
}

size_t
pd_http_throttle_size(PdThrottle *throttle)
{
    size_t total = 0;
    for (size_t i = 0; i < STRIPES; i++)
    {
        pthread_mutex_lock(&throttle->stripes[i].lock);
        total += throttle->stripes[i].size;
        pthread_mutex_unlock(&throttle->stripes[i].lock);
    }
    return total;
}

/*
 * throttle.c - token buckets behind striped locks. A key hashes (FNV-1a) to one of STRIPES stripes, each
 * with its own mutex, hash chains and least-recently-used list, so requests for different keys rarely
 * wait on each other and one stripe's work is O(1). Each stripe holds at most its share of max_keys; a new
 * key in a full stripe reuses the least recently used bucket. Tokens are counted in millitokens so that
 * refill over milliseconds stays exact with integers: a bucket of R requests per P seconds gains R tokens
 * per P * 1000 ms, i.e. R millitokens per P ms.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"

#define STRIPES 16
#define KEY_BYTES 224 /* 200 bytes of key, "#", 16 hex digits of hash, NUL, and room */

typedef struct Bucket
{
    char key[KEY_BYTES];
    uint64_t hash;
    int64_t millitokens;
    int64_t updated_ms;
    struct Bucket *chain;         /* next in the hash chain */
    struct Bucket *newer, *older; /* the stripe's use list */
} Bucket;

typedef struct Stripe
{
    pthread_mutex_t lock;
    Bucket **chains;
    size_t chain_count;
    Bucket *newest, *oldest;
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
        for (Bucket *bucket = stripe->newest, *older; bucket != NULL; bucket = older)
        {
            older = bucket->older;
            free(bucket);
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
bucket_key(const char *key, uint64_t hash, char out[KEY_BYTES])
{
    size_t length = strlen(key);
    if (length <= 200)
        memcpy(out, key, length + 1);
    else
        snprintf(out, KEY_BYTES, "%.200s#%016llx", key, (unsigned long long)hash);
}

static void
unlink_use(Stripe *stripe, Bucket *bucket)
{
    if (bucket->newer != NULL)
        bucket->newer->older = bucket->older;
    else
        stripe->newest = bucket->older;
    if (bucket->older != NULL)
        bucket->older->newer = bucket->newer;
    else
        stripe->oldest = bucket->newer;
    bucket->newer = bucket->older = NULL;
}

static void
link_newest(Stripe *stripe, Bucket *bucket)
{
    bucket->older = stripe->newest;
    bucket->newer = NULL;
    if (stripe->newest != NULL)
        stripe->newest->newer = bucket;
    stripe->newest = bucket;
    if (stripe->oldest == NULL)
        stripe->oldest = bucket;
}

static void
unlink_chain(Stripe *stripe, Bucket *bucket)
{
    Bucket **link = &stripe->chains[bucket->hash % stripe->chain_count];
    while (*link != bucket)
        link = &(*link)->chain;
    *link = bucket->chain;
}

static Bucket *
find(Stripe *stripe, const char *key, uint64_t hash)
{
    for (Bucket *bucket = stripe->chains[hash % stripe->chain_count]; bucket != NULL; bucket = bucket->chain)
        if (bucket->hash == hash && strcmp(bucket->key, key) == 0)
            return bucket;
    return NULL;
}

/* A new full bucket for key: a fresh one, or the least recently used one when the stripe is full. */
static Bucket *
add(Stripe *stripe, const char *key, uint64_t hash, int64_t millitokens, int64_t now_ms)
{
    Bucket *bucket;
    if (stripe->size >= stripe->max_size)
    {
        bucket = stripe->oldest;
        unlink_use(stripe, bucket);
        unlink_chain(stripe, bucket);
    }
    else if ((bucket = calloc(1, sizeof(*bucket))) != NULL)
        stripe->size++;
    else
        return NULL;
    memcpy(bucket->key, key, strlen(key) + 1);
    bucket->hash = hash;
    bucket->millitokens = millitokens;
    bucket->updated_ms = now_ms;
    Bucket **chain = &stripe->chains[hash % stripe->chain_count];
    bucket->chain = *chain;
    *chain = bucket;
    link_newest(stripe, bucket);
    return bucket;
}

/*
 * Refill for the time since the last take, capped at the bucket's size. Only the time turned into whole
 * millitokens is consumed, so frequent takes on a slow rate still refill.
 */
static void
refill(Bucket *bucket, PdRate rate, int64_t now_ms)
{
    int64_t capacity = (int64_t)rate.requests * 1000;
    int64_t period_ms = (int64_t)rate.period_s * 1000;
    int64_t elapsed_ms = now_ms - bucket->updated_ms;
    if (bucket->millitokens >= capacity || elapsed_ms >= period_ms || elapsed_ms < 0)
    {
        bucket->millitokens = elapsed_ms >= period_ms ? capacity : bucket->millitokens;
        bucket->millitokens = bucket->millitokens > capacity ? capacity : bucket->millitokens;
        bucket->updated_ms = now_ms;
        return;
    }
    int64_t gained = (int64_t)((double)capacity * (double)elapsed_ms / (double)period_ms);
    bucket->millitokens = bucket->millitokens + gained > capacity ? capacity : bucket->millitokens + gained;
    bucket->updated_ms += (int64_t)((double)gained * (double)period_ms / (double)capacity);
}

bool
pd_http_throttle_take(PdThrottle *throttle, const char *key, PdRate rate, int64_t now_ms, int *retry_after_s)
{
    if (rate.requests <= 0 || rate.period_s <= 0)
        return true;
    uint64_t hash = fnv1a(key);
    char stored[KEY_BYTES];
    bucket_key(key, hash, stored);
    Stripe *stripe = &throttle->stripes[(hash >> 32) % STRIPES];
    pthread_mutex_lock(&stripe->lock);
    Bucket *bucket = find(stripe, stored, hash);
    if (bucket == NULL)
        bucket = add(stripe, stored, hash, (int64_t)rate.requests * 1000, now_ms);
    else
    {
        unlink_use(stripe, bucket);
        link_newest(stripe, bucket);
        refill(bucket, rate, now_ms);
    }
    bool is_allowed = bucket == NULL || bucket->millitokens >= 1000; /* out of memory: let it through */
    if (bucket != NULL && is_allowed)
        bucket->millitokens -= 1000;
    else if (bucket != NULL)
    {
        /* ms until 1000 millitokens: the missing ones at requests millitokens per period_s ms */
        int64_t missing = 1000 - bucket->millitokens;
        int64_t wait_ms = (missing * rate.period_s + rate.requests - 1) / rate.requests;
        *retry_after_s = (int)((wait_ms + 999) / 1000);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
    }
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

/*
 * failsafe.c - the grant table of failsafe.h and its documents. One mutex
 * guards everything a PdFailsafe holds; the rule it keeps is the one the
 * safety argument rests on (docs/ha.md): at any instant at most one member
 * holds a live grant here, and while this member leads, no other member
 * gets one. A grant's expiry is this keeper's CLOCK_MONOTONIC (the caller's
 * now_ms); only durations are read from or written to the network. The
 * request is read strictly with jansson (each problem named by its field),
 * the answers written in a fixed order. A request is served only when it
 * carries an HMAC-SHA256 of its fields under the cluster's replication
 * password (a secret every keeper of the cluster has, and a stranger on the
 * network does not), sent within the replay window of this keeper's wall
 * clock, for a holder in the roster this keeper last read: a stranger can
 * neither hold a grant that blocks a takeover nor make one. Asking the others is
 * failsafe_ask.c's; the keeper's use of both is keeper_failsafe.c's.
 */
#include "ha/failsafe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct PdFailsafe
{
    pthread_mutex_t lock;
    char self[PD_KEYS_MEMBER_MAX + 1];
    char cluster[PD_FAILSAFE_CLUSTER_MAX + 1];
    char secret[128];  /* the replication password: set once at pd_failsafe_new, read without the lock */
    int64_t window_ms; /* a request's sent_ms at most this far from the wall clock */
    bool is_enabled;
    bool is_counted; /* in a leader's roster count (pd_failsafe_set_counted) */
    bool is_leading;
    int64_t quiet_until_ms; /* a restart's quiet period: no grant before */
    int64_t durable_max_ms; /* the longest grant recorded on disk; -1: no bound (a table without a keeper) */
    char holder[PD_KEYS_MEMBER_MAX + 1]; /* "" none */
    int64_t expires_ms;                  /* the holder's grant ends then (CLOCK_MONOTONIC) */
    size_t roster_count;
    char roster[PD_FAILSAFE_PEERS_MAX][PD_KEYS_MEMBER_MAX + 1];
    size_t url_count;
    PdFailsafePeer urls[PD_FAILSAFE_PEERS_MAX]; /* every member's last known api_url */
    char granted_by[PD_FAILSAFE_PEERS_MAX * (PD_KEYS_MEMBER_MAX + 2) + 1];
    int64_t writable_until_ms;
};

bool
pd_failsafe_new(const char *self, const char *cluster, const char *secret, PdFailsafe **failsafe,
                PdError *err)
{
    if (!pd_keys_check_member(self, err))
        return false;
    if (cluster == NULL || strlen(cluster) > PD_FAILSAFE_CLUSTER_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the cluster's name is longer than %d bytes",
                            PD_FAILSAFE_CLUSTER_MAX);
    if (secret == NULL || secret[0] == '\0' || strlen(secret) >= sizeof((PdFailsafe *)NULL)->secret)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "the failsafe grants need the replication password (1 to 127 bytes)");
    PdFailsafe *made = calloc(1, sizeof *made);
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the failsafe grant table");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    {
        free(made);
        return pd_error_set(err, PD_ERR_INTERNAL, "libcurl could not be initialised");
    }
    pthread_mutex_init(&made->lock, NULL);
    snprintf(made->self, sizeof made->self, "%s", self);
    snprintf(made->cluster, sizeof made->cluster, "%s", cluster);
    snprintf(made->secret, sizeof made->secret, "%s", secret);
    made->window_ms = PD_FAILSAFE_WINDOW_MS_DEFAULT;
    made->is_enabled = true;
    made->durable_max_ms = -1;
    *failsafe = made;
    return true;
}

void
pd_failsafe_free(PdFailsafe *failsafe)
{
    if (failsafe == NULL)
        return;
    pthread_mutex_destroy(&failsafe->lock);
    OPENSSL_cleanse(failsafe->secret, sizeof failsafe->secret);
    free(failsafe);
    curl_global_cleanup(); /* libcurl counts its initialisations */
}

void
pd_failsafe_set_enabled(PdFailsafe *failsafe, bool is_enabled)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->is_enabled = is_enabled;
    pthread_mutex_unlock(&failsafe->lock);
}

bool
pd_failsafe_is_enabled(PdFailsafe *failsafe)
{
    pthread_mutex_lock(&failsafe->lock);
    bool is_enabled = failsafe->is_enabled;
    pthread_mutex_unlock(&failsafe->lock);
    return is_enabled;
}

void
pd_failsafe_set_window(PdFailsafe *failsafe, int64_t window_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->window_ms = window_ms;
    pthread_mutex_unlock(&failsafe->lock);
}

void
pd_failsafe_set_counted(PdFailsafe *failsafe, bool is_counted)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->is_counted = is_counted;
    pthread_mutex_unlock(&failsafe->lock);
}

void
pd_failsafe_set_leading(PdFailsafe *failsafe, bool is_leading)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->is_leading = is_leading;
    pthread_mutex_unlock(&failsafe->lock);
}

/* The live grant as an answer (is_granted false), under the lock. */
static PdFailsafeGrant
current_locked(const PdFailsafe *failsafe, int64_t now_ms)
{
    PdFailsafeGrant grant = {.remaining_ms = -1, .reason = ""};
    if (failsafe->holder[0] != '\0' && failsafe->expires_ms > now_ms)
    {
        snprintf(grant.holder, sizeof grant.holder, "%s", failsafe->holder);
        grant.remaining_ms = failsafe->expires_ms - now_ms;
    }
    return grant;
}

void
pd_failsafe_set_quiet(PdFailsafe *failsafe, int64_t until_ms, int64_t durable_max_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->quiet_until_ms = until_ms;
    failsafe->durable_max_ms = durable_max_ms;
    pthread_mutex_unlock(&failsafe->lock);
}

PdFailsafeGrant
pd_failsafe_grant(PdFailsafe *failsafe, const char *holder, int64_t duration_ms, int64_t now_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    PdFailsafeGrant grant = current_locked(failsafe, now_ms);
    bool is_other_live = grant.holder[0] != '\0' && strcmp(grant.holder, holder) != 0;
    if (!failsafe->is_enabled)
        grant.reason = "failsafe_mode is off on this member";
    else if (now_ms < failsafe->quiet_until_ms)
    {
        grant.remaining_ms = failsafe->quiet_until_ms - now_ms;
        grant.reason = "this member restarted less than a grant's duration ago: it gives no grant yet";
    }
    else if (!failsafe->is_counted)
        grant.reason = "this member has not streamed from a leader since it was last added to the roster, "
                       "nor taken the leader key: a leader's roster count may not include it yet";
    else if (failsafe->durable_max_ms >= 0 && duration_ms > failsafe->durable_max_ms)
        grant.reason = "a grant longer than this member has recorded (failsafe_grant_ms not read yet)";
    else if (failsafe->is_leading && strcmp(holder, failsafe->self) != 0)
    {
        snprintf(grant.holder, sizeof grant.holder, "%s", failsafe->self);
        grant.remaining_ms = -1;
        grant.reason = "this member holds the leader key, or is taking it";
    }
    else if (is_other_live)
        grant.reason = "another member holds a live grant";
    else
    {
        int64_t until = now_ms + duration_ms;
        if (grant.holder[0] == '\0' || until > failsafe->expires_ms)
            failsafe->expires_ms = until; /* never shortened */
        snprintf(failsafe->holder, sizeof failsafe->holder, "%s", holder);
        snprintf(grant.holder, sizeof grant.holder, "%s", holder);
        grant.remaining_ms = failsafe->expires_ms - now_ms;
        grant.is_granted = true;
    }
    pthread_mutex_unlock(&failsafe->lock);
    return grant;
}

PdFailsafeGrant
pd_failsafe_current(PdFailsafe *failsafe, int64_t now_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    PdFailsafeGrant grant = current_locked(failsafe, now_ms);
    pthread_mutex_unlock(&failsafe->lock);
    return grant;
}

void
pd_failsafe_release(PdFailsafe *failsafe)
{
    pthread_mutex_lock(&failsafe->lock);
    if (!failsafe->is_leading && strcmp(failsafe->holder, failsafe->self) == 0)
    {
        failsafe->holder[0] = '\0';
        failsafe->expires_ms = 0;
    }
    pthread_mutex_unlock(&failsafe->lock);
}

/* ---- the documents ------------------------------------------------------------------------------------ */

static bool
refuse_field(const char **field, const char *name, PdError *err, const char *message)
{
    *field = name;
    return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s", message);
}

/* The five fields of a request from root, each checked; false with *field at the first bad one. */
static bool
read_request(PdArena *arena, json_t *root, PdFailsafeRequest *request, const char **field, PdError *err)
{
    const char *name;
    json_t *value;
    json_object_foreach(root, name, value)
    {
        if (strcmp(name, "holder") != 0 && strcmp(name, "granter") != 0 && strcmp(name, "duration_ms") != 0 &&
            strcmp(name, "cluster") != 0 && strcmp(name, "sent_ms") != 0)
            return refuse_field(
                field, "", err,
                "unknown field: the fields are holder, granter, duration_ms, cluster, sent_ms");
    }
    json_t *holder = json_object_get(root, "holder");
    if (!json_is_string(holder) || !pd_keys_check_member(json_string_value(holder), &(PdError){0}))
        return refuse_field(field, "holder", err, "holder must be a member name");
    json_t *granter = json_object_get(root, "granter");
    if (!json_is_string(granter) || !pd_keys_check_member(json_string_value(granter), &(PdError){0}))
        return refuse_field(field, "granter", err, "granter must be the name of the member asked");
    json_t *duration = json_object_get(root, "duration_ms");
    if (!json_is_integer(duration) || json_integer_value(duration) < 1 ||
        json_integer_value(duration) > PD_FAILSAFE_DURATION_MAX_MS)
        return refuse_field(field, "duration_ms", err, "duration_ms must be an integer from 1 to 600000");
    json_t *cluster = json_object_get(root, "cluster");
    if (!json_is_string(cluster) || strlen(json_string_value(cluster)) > PD_FAILSAFE_CLUSTER_MAX)
        return refuse_field(field, "cluster", err, "cluster must be the cluster's name");
    json_t *sent = json_object_get(root, "sent_ms");
    if (!json_is_integer(sent) || json_integer_value(sent) < 0)
        return refuse_field(field, "sent_ms", err,
                            "sent_ms must be the request's send time, in ms since the epoch");
    request->sent_ms = (int64_t)json_integer_value(sent);
    request->holder = pd_arena_strdup(arena, json_string_value(holder));
    request->granter = pd_arena_strdup(arena, json_string_value(granter));
    request->cluster = pd_arena_strdup(arena, json_string_value(cluster));
    request->duration_ms = (int64_t)json_integer_value(duration);
    if (request->holder == NULL || request->granter == NULL || request->cluster == NULL)
        return pd_arena_error(arena, err);
    return true;
}

bool
pd_failsafe_request_parse(PdArena *arena, const char *text, size_t length, PdFailsafeRequest *request,
                          const char **field, PdError *err)
{
    *field = "";
    if (length > PD_FAILSAFE_BODY_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "a failsafe request is at most %d bytes",
                            PD_FAILSAFE_BODY_MAX);
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (!json_is_object(root))
    {
        json_decref(root);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the body is not a JSON object");
    }
    PdFailsafeRequest read = {0};
    bool ok = read_request(arena, root, &read, field, err);
    json_decref(root);
    if (ok)
        *request = read;
    return ok;
}

/* root (stolen) dumped into arena; NULL out of memory. */
static char *
dumped(PdArena *arena, json_t *root)
{
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *copy = text != NULL ? pd_arena_strdup(arena, text) : NULL;
    free(text);
    return copy;
}

char *
pd_failsafe_request_json(PdArena *arena, const PdFailsafeRequest *request)
{
    return dumped(arena, json_pack("{s:s, s:s, s:I, s:s, s:I}", "holder", request->holder, "granter",
                                   request->granter, "duration_ms", (json_int_t)request->duration_ms,
                                   "cluster", request->cluster, "sent_ms", (json_int_t)request->sent_ms));
}

static json_t *
answer_document(const PdFailsafeGrant *grant, const char *self, int64_t duration_ms)
{
    if (grant->is_granted)
        return json_pack("{s:b, s:s, s:I}", "granted", 1, "granter", self, "duration_ms",
                         (json_int_t)duration_ms);
    return json_pack("{s:b, s:s, s:o, s:o, s:s}", "granted", 0, "granter", self, "holder",
                     grant->holder[0] != '\0' ? json_string(grant->holder) : json_null(), "remaining_ms",
                     grant->remaining_ms >= 0 ? json_integer(grant->remaining_ms) : json_null(), "reason",
                     grant->reason);
}

bool
pd_failsafe_answer_granted(int status, const char *text, size_t length, const char *granter,
                           int64_t duration_ms)
{
    if (status != 200 || length > PD_FAILSAFE_BODY_MAX)
        return false;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, NULL);
    json_t *granted = json_object_get(root, "granted");
    json_t *by = json_object_get(root, "granter");
    json_t *duration = json_object_get(root, "duration_ms");
    bool is_granted = json_is_object(root) && json_object_size(root) == 3 && json_is_true(granted) &&
                      json_is_string(by) && strcmp(json_string_value(by), granter) == 0 &&
                      json_is_integer(duration) && json_integer_value(duration) == duration_ms;
    json_decref(root);
    return is_granted;
}

/* A 400 or 413 body: {"detail": message, "field": field} (no field for the document itself). */
static bool
refusal(PdArena *arena, int code, const char *field, const char *message, int *status, const char **json,
        PdError *err)
{
    *status = code;
    json_t *root = json_pack("{s:s}", "detail", message);
    if (root != NULL && field != NULL && field[0] != '\0')
        json_object_set_new(root, "field", json_string(field));
    *json = dumped(arena, root);
    return *json != NULL || pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a failsafe answer");
}

/* The HMAC-SHA256 of the request's fields under the secret into mac (32 bytes). */
static bool
hmac_of(const PdFailsafe *failsafe, const PdFailsafeRequest *request, unsigned char mac[32])
{
    char message[PD_FAILSAFE_BODY_MAX];
    int length = snprintf(message, sizeof message, "prodata-failsafe\n%s\n%s\n%s\n%lld\n%lld",
                          request->cluster, request->granter, request->holder,
                          (long long)request->duration_ms, (long long)request->sent_ms);
    unsigned int used = 0;
    return length > 0 && (size_t)length < sizeof message &&
           HMAC(EVP_sha256(), failsafe->secret, (int)strlen(failsafe->secret), (const unsigned char *)message,
                (size_t)length, mac, &used) != NULL &&
           used == 32;
}

bool
pd_failsafe_sign(PdFailsafe *failsafe, const PdFailsafeRequest *request, char hex[PD_FAILSAFE_HMAC_HEX + 1])
{
    unsigned char mac[32];
    if (!hmac_of(failsafe, request, mac))
        return false;
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return true;
}

static int
hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The signature is the request's under this table's secret (the bytes compared in constant time). */
static bool
is_signed(const PdFailsafe *failsafe, const PdFailsafeRequest *request, const char *signature)
{
    unsigned char given[32], expected[32];
    if (strlen(signature) != PD_FAILSAFE_HMAC_HEX)
        return false;
    for (size_t i = 0; i < sizeof given; i++)
    {
        int high = hex_digit(signature[2 * i]), low = hex_digit(signature[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        given[i] = (unsigned char)(high * 16 + low);
    }
    return hmac_of(failsafe, request, expected) && CRYPTO_memcmp(given, expected, sizeof given) == 0;
}

/* holder is in the roster as last read. */
static bool
is_roster_member(PdFailsafe *failsafe, const char *holder)
{
    pthread_mutex_lock(&failsafe->lock);
    bool is_member = false;
    for (size_t i = 0; i < failsafe->roster_count && !is_member; i++)
        is_member = strcmp(failsafe->roster[i], holder) == 0;
    pthread_mutex_unlock(&failsafe->lock);
    return is_member;
}

/* Why the request is refused with a 403 (into message, *field set), or NULL: signed with this cluster's
   secret and sent within the window of wall_ms. */
static const char *
unauthentic(PdFailsafe *failsafe, const PdFailsafeRequest *request, const PdFailsafeIncoming *incoming,
            char *message, size_t size, const char **field)
{
    *field = "";
    if (!is_signed(failsafe, request, incoming->signature))
        return "the " PD_FAILSAFE_HEADER " header is not this request's signature under the cluster's "
               "replication password";
    pthread_mutex_lock(&failsafe->lock);
    int64_t window = failsafe->window_ms;
    pthread_mutex_unlock(&failsafe->lock);
    int64_t skew = incoming->wall_ms - request->sent_ms;
    if (skew <= window && -skew <= window)
        return NULL;
    *field = "sent_ms";
    snprintf(message, size, "sent_ms is %lld ms from this member's clock: at most failsafe_grant_ms (%lld)",
             (long long)skew, (long long)window);
    return message;
}

bool
pd_failsafe_serve(PdArena *arena, PdFailsafe *failsafe, const PdFailsafeIncoming *incoming, int *status,
                  const char **json, PdError *err)
{
    if (incoming->is_too_large || incoming->length > PD_FAILSAFE_BODY_MAX)
        return refusal(arena, 413, NULL, "a failsafe request is at most 1024 bytes", status, json, err);
    if (incoming->signature == NULL)
        return refusal(arena, 401, NULL,
                       "a failsafe request carries the " PD_FAILSAFE_HEADER " header (docs/ha.md)", status,
                       json, err);
    PdFailsafeRequest request;
    const char *field = "";
    PdError bad = {0};
    if (!pd_failsafe_request_parse(arena, incoming->body, incoming->length, &request, &field, &bad))
    {
        if (bad.code == PD_ERR_NO_MEMORY)
            return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a failsafe answer");
        return refusal(arena, 400, field, bad.message, status, json, err);
    }
    if (strcmp(request.cluster, failsafe->cluster) != 0) /* set once at pd_failsafe_new: no lock needed */
        return refusal(arena, 400, "cluster", "cluster is not this keeper's cluster", status, json, err);
    char message[160];
    const char *why = unauthentic(failsafe, &request, incoming, message, sizeof message, &field);
    if (why != NULL)
        return refusal(arena, 403, field, why, status, json, err);
    PdFailsafeGrant grant = {.remaining_ms = -1,
                             .reason = "the holder is not a member of the roster this member last read"};
    if (strcmp(request.granter, failsafe->self) != 0) /* self set once at pd_failsafe_new */
        grant.reason = "the request asks another member: the api_url it was sent to reaches this one "
                       "(set each keeper's api_listen_address to an address the others reach)";
    else if (is_roster_member(failsafe, request.holder))
        grant = pd_failsafe_grant(failsafe, request.holder, request.duration_ms, incoming->now_ms);
    *status = grant.is_granted ? 200 : 409;
    *json = dumped(arena, answer_document(&grant, failsafe->self, request.duration_ms));
    return *json != NULL || pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for a failsafe answer");
}

/* ---- the others, and this member's own grants ------------------------------------------------------- */

void
pd_failsafe_set_roster(PdFailsafe *failsafe, const char *const *names, size_t count)
{
    pthread_mutex_lock(&failsafe->lock);
    failsafe->roster_count = 0;
    for (size_t i = 0; i < count && failsafe->roster_count < PD_FAILSAFE_PEERS_MAX; i++)
        snprintf(failsafe->roster[failsafe->roster_count++], sizeof failsafe->roster[0], "%s", names[i]);
    pthread_mutex_unlock(&failsafe->lock);
}

void
pd_failsafe_set_url(PdFailsafe *failsafe, const char *name, const char *url)
{
    if (strlen(name) > PD_KEYS_MEMBER_MAX || strlen(url) > PD_FAILSAFE_URL_MAX)
        return;
    pthread_mutex_lock(&failsafe->lock);
    size_t i = 0;
    while (i < failsafe->url_count && strcmp(failsafe->urls[i].name, name) != 0)
        i++;
    if (i == failsafe->url_count && i < PD_FAILSAFE_PEERS_MAX)
        snprintf(failsafe->urls[failsafe->url_count++].name, sizeof failsafe->urls[0].name, "%s", name);
    if (i < failsafe->url_count)
        snprintf(failsafe->urls[i].url, sizeof failsafe->urls[i].url, "%s", url);
    pthread_mutex_unlock(&failsafe->lock);
}

size_t
pd_failsafe_peers(PdFailsafe *failsafe, PdFailsafePeer *peers, size_t *roster_count, bool *is_member)
{
    pthread_mutex_lock(&failsafe->lock);
    size_t used = 0;
    *is_member = false;
    for (size_t i = 0; i < failsafe->roster_count; i++)
    {
        if (strcmp(failsafe->roster[i], failsafe->self) == 0)
        {
            *is_member = true;
            continue;
        }
        PdFailsafePeer *peer = &peers[used++];
        snprintf(peer->name, sizeof peer->name, "%s", failsafe->roster[i]);
        peer->url[0] = '\0';
        for (size_t j = 0; j < failsafe->url_count; j++)
            if (strcmp(failsafe->urls[j].name, peer->name) == 0)
                snprintf(peer->url, sizeof peer->url, "%s", failsafe->urls[j].url);
    }
    *roster_count = failsafe->roster_count;
    pthread_mutex_unlock(&failsafe->lock);
    return used;
}

void
pd_failsafe_set_writable(PdFailsafe *failsafe, const char *granted_by, int64_t until_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    snprintf(failsafe->granted_by, sizeof failsafe->granted_by, "%s", granted_by);
    failsafe->writable_until_ms = until_ms;
    pthread_mutex_unlock(&failsafe->lock);
}

bool
pd_failsafe_writable(PdFailsafe *failsafe, int64_t now_ms, char *granted_by, size_t size,
                     int64_t *remaining_ms)
{
    pthread_mutex_lock(&failsafe->lock);
    bool is_writable = failsafe->writable_until_ms > now_ms;
    snprintf(granted_by, size, "%s", is_writable ? failsafe->granted_by : "");
    *remaining_ms = is_writable ? failsafe->writable_until_ms - now_ms : 0;
    pthread_mutex_unlock(&failsafe->lock);
    return is_writable;
}

/*
 * failsafe_ask.c - one round of failsafe grant requests (failsafe.h): every
 * peer with a known address asked at once with libcurl's multi interface,
 * the round bounded by its timeout as a whole, over as soon as enough
 * grants are in (a failover does not wait for the timeout of an old primary
 * that is gone). The send time is read before the first request leaves: the
 * requester counts each grant from then, which is earlier than any granter's
 * receipt. Anything but a clear grant (a refusal, a timeout, a connection
 * refused, a document not expected) counts as no grant. Each request is
 * signed (pd_failsafe_sign, the header PD_FAILSAFE_HEADER) with this
 * keeper's table's secret and carries its wall-clock send time. libcurl never
 * signals and never uses the proxy variables; its handles live only for the
 * round, so the caller's thread owns nothing after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ha/failsafe.h"
#include "ha/fence.h"

typedef struct Exchange
{
    CURL *easy;
    size_t peer; /* index in the round's peers */
    char body[PD_FAILSAFE_BODY_MAX + 1];
    struct curl_slist *headers;
    char answer[PD_FAILSAFE_BODY_MAX + 1];
    size_t used;
    bool is_overflow;
} Exchange;

static size_t
on_answer(char *data, size_t size, size_t count, void *user)
{
    Exchange *exchange = user;
    size_t bytes = size * count;
    if (exchange->used + bytes > PD_FAILSAFE_BODY_MAX)
    {
        exchange->is_overflow = true;
        return bytes; /* read and dropped: the answer is not one we expect */
    }
    memcpy(exchange->answer + exchange->used, data, bytes);
    exchange->used += bytes;
    return bytes;
}

static bool
add_exchange(CURLM *multi, Exchange *exchange, const PdFailsafePeer *peer, int timeout_ms)
{
    const char *body = exchange->body;
    struct curl_slist *headers = exchange->headers;
    char url[PD_FAILSAFE_URL_MAX + 16];
    snprintf(url, sizeof url, "%s/failsafe", peer->url);
    exchange->easy = curl_easy_init();
    if (exchange->easy == NULL)
        return false;
    CURL *easy = exchange->easy;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, exchange);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, exchange);
    return curl_multi_add_handle(multi, easy) == CURLM_OK;
}

/* The answers finished since the last call, each counted. */
static void
read_done(CURLM *multi, PdFailsafeRound *round)
{
    int left = 0;
    for (CURLMsg *message = curl_multi_info_read(multi, &left); message != NULL;
         message = curl_multi_info_read(multi, &left))
    {
        if (message->msg != CURLMSG_DONE)
            continue;
        char *private = NULL;
        long status = 0;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &private);
        Exchange *exchange = (Exchange *)(void *)private;
        curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (exchange == NULL || message->data.result != CURLE_OK || exchange->is_overflow)
            continue;
        if (pd_failsafe_answer_granted((int)status, exchange->answer, exchange->used,
                                       round->peers[exchange->peer].name, round->duration_ms) &&
            !round->granted[exchange->peer])
        {
            round->granted[exchange->peer] = true;
            round->granted_count++;
        }
    }
}

static void
run(CURLM *multi, PdFailsafeRound *round)
{
    int64_t until = round->sent_ms + round->timeout_ms;
    int running = 1;
    while (running > 0)
    {
        curl_multi_perform(multi, &running);
        read_done(multi, round);
        int64_t now = pd_fence_now_ms();
        if ((round->needed > 0 && round->granted_count >= round->needed) || now >= until)
            return;
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, (int)(until - now < 20 ? until - now : 20), NULL);
    }
}

static void
end_exchanges(CURLM *multi, Exchange *exchanges, size_t count)
{
    for (size_t i = 0; i < count; i++)
    {
        if (exchanges[i].easy != NULL)
        {
            curl_multi_remove_handle(multi, exchanges[i].easy);
            curl_easy_cleanup(exchanges[i].easy);
        }
        curl_slist_free_all(exchanges[i].headers);
    }
}

/* The wall clock in ms since the epoch (the request's sent_ms: a replay's bound at the granter). */
static int64_t
wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The request to granter, its body and its headers (the signature's among them) into exchange; false when
   it cannot be made. */
static bool
make_request(const PdFailsafeRound *round, const char *granter, int64_t sent_ms, Exchange *exchange)
{
    PdFailsafeRequest request = {.holder = round->holder,
                                 .granter = granter,
                                 .duration_ms = round->duration_ms,
                                 .cluster = round->cluster,
                                 .sent_ms = sent_ms};
    char hex[PD_FAILSAFE_HMAC_HEX + 1], header[PD_FAILSAFE_HMAC_HEX + 64];
    int length = snprintf(exchange->body, sizeof exchange->body,
                          "{\"holder\":\"%s\",\"granter\":\"%s\",\"duration_ms\":%lld,\"cluster\":\"%s\","
                          "\"sent_ms\":%lld}",
                          request.holder, request.granter, (long long)request.duration_ms, request.cluster,
                          (long long)request.sent_ms); /* names are [a-z0-9_-]: nothing to escape */
    if (length < 0 || (size_t)length >= sizeof exchange->body ||
        !pd_failsafe_sign(round->signer, &request, hex))
        return false;
    snprintf(header, sizeof header, "%s: %s", PD_FAILSAFE_HEADER, hex);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    exchange->headers = headers != NULL ? curl_slist_append(headers, header) : NULL;
    if (exchange->headers == NULL)
        curl_slist_free_all(headers);
    return exchange->headers != NULL;
}

bool
pd_failsafe_ask(PdFailsafeRound *round, PdError *err)
{
    round->granted_count = 0;
    memset(round->granted, 0, sizeof round->granted);
    round->sent_ms = pd_fence_now_ms();
    int64_t sent_wall_ms = wall_ms();
    Exchange *exchanges = calloc(round->peer_count > 0 ? round->peer_count : 1, sizeof *exchanges);
    CURLM *multi = curl_multi_init();
    bool ok = exchanges != NULL && multi != NULL;
    bool is_made = true;
    size_t added = 0;
    for (size_t i = 0; ok && i < round->peer_count && i < PD_FAILSAFE_PEERS_MAX; i++)
    {
        if (round->peers[i].url[0] == '\0')
            continue;
        exchanges[added].peer = i;
        is_made = make_request(round, round->peers[i].name, sent_wall_ms, &exchanges[added]);
        ok = is_made && add_exchange(multi, &exchanges[added], &round->peers[i], round->timeout_ms);
        added++;
    }
    if (ok && added > 0)
        run(multi, round);
    if (multi != NULL && exchanges != NULL)
        end_exchanges(multi, exchanges, added);
    curl_multi_cleanup(multi);
    free(exchanges);
    if (!ok)
    {
        round->granted_count = 0;
        memset(round->granted, 0, sizeof round->granted);
        if (!is_made)
            return pd_error_set(err, PD_ERR_INTERNAL,
                                "a failsafe request could not be made (longer than %d bytes, or not signed)",
                                PD_FAILSAFE_BODY_MAX);
        return pd_error_set(err, PD_ERR_INTERNAL, "libcurl could not set up a failsafe round");
    }
    return true;
}

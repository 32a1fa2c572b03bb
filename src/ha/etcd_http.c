/*
 * etcd_http.c - one call to etcd's JSON gateway: the body POSTed to one
 * endpoint after another until one answers, within the call's deadline. The
 * invariant is that a write is sent again only when it surely never left:
 * the connection failed, or libcurl counts no byte of the request sent. After
 * a write may have reached an endpoint and its answer did not come back
 * whole, the outcome is UNKNOWN, and the next call starts at the next
 * endpoint. Reads and keepalives move on also after a timeout, a 5xx or a
 * broken answer. Each endpoint has one libcurl easy handle, kept, so its
 * connection is reused by reads; a write opens a fresh one. On a kept
 * connection, a member that died since the last call takes the request into
 * a socket already closing and answers with a reset: a write lost in flight,
 * which could not be sent again safely. A fresh connection to a dead member
 * fails at connect instead, which can (a handshake per write is the price).
 * The answer is received into the client's buffer. Every endpoint is asked
 * its cluster id once (maintenance status) before its first call, and every
 * answer's header must name that cluster: endpoints of two etcd clusters
 * mixed in one list give UNKNOWN, never another cluster's "lease not found".
 * libcurl never reads the proxy variables here, and never signals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ha/etcd_wire.h"

/* How an attempt on one endpoint ended. */
typedef enum AttemptEnd
{
    ATTEMPT_ANSWERED, /* an HTTP answer came back whole (any status) */
    ATTEMPT_NOT_SENT, /* nothing of the request left: another endpoint may be tried for any call */
    ATTEMPT_BROKEN,   /* the request may have arrived, the answer did not (timeout, reset, too long) */
} AttemptEnd;

static int64_t
now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static size_t
receive(char *data, size_t size, size_t count, void *user)
{
    PdEtcd *etcd = user;
    size_t length = size * count;
    if (length > etcd->max_answer_bytes - etcd->answer_length)
    {
        etcd->is_answer_too_long = true;
        return 0; /* libcurl stops the transfer */
    }
    if (etcd->answer_length + length + 1 > etcd->answer_capacity)
    {
        size_t capacity = etcd->answer_capacity ? etcd->answer_capacity : 4096;
        while (capacity < etcd->answer_length + length + 1)
            capacity *= 2;
        char *grown = realloc(etcd->answer, capacity);
        if (grown == NULL)
            return 0;
        etcd->answer = grown;
        etcd->answer_capacity = capacity;
    }
    memcpy(etcd->answer + etcd->answer_length, data, length);
    etcd->answer_length += length;
    return length;
}

/* The endpoint's handle with the options every call shares; NULL when libcurl cannot make one. */
static CURL *
endpoint_handle(PdEtcd *etcd, PdEtcdEndpoint *endpoint)
{
    if (endpoint->curl != NULL)
        return endpoint->curl;
    if (etcd->headers == NULL)
    {
        struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
        struct curl_slist *more = headers != NULL ? curl_slist_append(headers, "Expect:") : NULL;
        if (more == NULL)
        {
            curl_slist_free_all(headers);
            return NULL;
        }
        etcd->headers = more;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never through http_proxy: etcd is reached directly */
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, etcd->headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, receive);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, etcd);
    if (etcd->ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, etcd->ca_file);
    if (etcd->cert_file != NULL)
        curl_easy_setopt(curl, CURLOPT_SSLCERT, etcd->cert_file);
    if (etcd->key_file != NULL)
        curl_easy_setopt(curl, CURLOPT_SSLKEY, etcd->key_file);
    endpoint->curl = curl;
    return curl;
}

/* Whether a failed transfer surely sent nothing: then any call may go to another endpoint. */
static bool
is_unsent(CURL *curl, CURLcode code)
{
    if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
        return true;
    long request_bytes = 0;
    return curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_bytes) == CURLE_OK && request_bytes == 0;
}

/* POSTs body to one endpoint within timeout_ms; on ATTEMPT_ANSWERED the answer is in etcd->answer. */
static AttemptEnd
attempt(PdEtcd *etcd, PdEtcdEndpoint *endpoint, const char *path, const char *body, PdEtcdRepeat repeat,
        int64_t timeout_ms, long *http_status, char *why, size_t why_size)
{
    CURL *curl = endpoint_handle(etcd, endpoint);
    if (curl == NULL)
    {
        snprintf(why, why_size, "libcurl could not make a handle");
        return ATTEMPT_NOT_SENT;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s%s", endpoint->url, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, repeat == PD_ETCD_ONCE ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(etcd->connect_timeout_ms < timeout_ms ? etcd->connect_timeout_ms : timeout_ms));
    if (etcd->answer == NULL && (etcd->answer = malloc(etcd->answer_capacity = 4096)) == NULL)
    {
        etcd->answer_capacity = 0;
        snprintf(why, why_size, "out of memory for the answer");
        return ATTEMPT_NOT_SENT;
    }
    etcd->answer_length = 0;
    etcd->is_answer_too_long = false;
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK && curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status) == CURLE_OK)
    {
        etcd->answer[etcd->answer_length] = '\0';
        return ATTEMPT_ANSWERED;
    }
    if (etcd->is_answer_too_long)
        snprintf(why, why_size, "answer longer than %zu bytes", etcd->max_answer_bytes);
    else if (code == CURLE_OPERATION_TIMEDOUT)
        snprintf(why, why_size, "no answer within %lld ms", (long long)timeout_ms);
    else
        snprintf(why, why_size, "%s", curl_easy_strerror(code));
    return is_unsent(curl, code) ? ATTEMPT_NOT_SENT : ATTEMPT_BROKEN;
}

/* Appends "url: why" to the list of failed attempts. */
static void
note_failure(char *tried, size_t size, const PdEtcdEndpoint *endpoint, const char *why)
{
    size_t used = strlen(tried);
    if (used < size)
        snprintf(tried + used, size - used, "%s%s: %s", used ? "; " : "", endpoint->url, why);
}

/* The time an attempt may take: the attempt timeout, cut to what is left before the deadline (<= 0: none). */
static int64_t
attempt_time(const PdEtcd *etcd, int64_t deadline)
{
    int64_t remaining = deadline - now_ms();
    return remaining < etcd->attempt_timeout_ms ? remaining : etcd->attempt_timeout_ms;
}

/* DONE when the endpoint's cluster is the client's (the first one seen becomes the client's). */
static PdEtcdStatus
check_cluster(PdEtcd *etcd, const PdEtcdEndpoint *endpoint, PdError *err)
{
    if (etcd->cluster_id == 0)
        etcd->cluster_id = endpoint->cluster_id;
    if (endpoint->cluster_id == etcd->cluster_id)
        return PD_ETCD_DONE;
    pd_error_set(err, PD_ERR_DCS_UNKNOWN, "it belongs to another etcd cluster (id %llu, not %llu)",
                 (unsigned long long)endpoint->cluster_id, (unsigned long long)etcd->cluster_id);
    return PD_ETCD_UNKNOWN;
}

/*
 * Learns the endpoint's cluster from its status, the first time the client
 * uses it: a refusal carries no header, so "lease not found" from a member of
 * another cluster could not be told from our own etcd's otherwise.
 */
static PdEtcdStatus
verify_endpoint(PdEtcd *etcd, PdEtcdEndpoint *endpoint, int64_t deadline, PdError *err)
{
    char why[256] = "";
    long http_status = 0;
    int64_t timeout_ms = attempt_time(etcd, deadline);
    if (timeout_ms <= 0)
        return pd_etcd_wire_unknown(err, "the request timeout was spent");
    if (attempt(etcd, endpoint, "/v3/maintenance/status", "{}", PD_ETCD_REPEATABLE, timeout_ms, &http_status,
                why, sizeof why) != ATTEMPT_ANSWERED)
        return pd_etcd_wire_unknown(err, why);
    json_t *answer;
    if (pd_etcd_wire_read(http_status, etcd->answer, etcd->answer_length, &answer, err) != PD_ETCD_DONE)
        return pd_etcd_wire_unknown(err, "its status could not be read to learn its cluster");
    endpoint->cluster_id = pd_etcd_wire_cluster(answer);
    json_decref(answer);
    if (endpoint->cluster_id == 0)
        return pd_etcd_wire_unknown(err, "its status names no cluster");
    return check_cluster(etcd, endpoint, err);
}

/* One attempt read into a status: UNKNOWN when it got no answer to trust (err's message says why). */
static PdEtcdStatus
try_endpoint(PdEtcd *etcd, PdEtcdEndpoint *endpoint, const char *path, const char *text, PdEtcdRepeat repeat,
             int64_t deadline, AttemptEnd *end, json_t **answer, PdError *err)
{
    *end = ATTEMPT_NOT_SENT; /* until the call itself goes out, another endpoint may be tried for any call */
    PdEtcdStatus known = endpoint->cluster_id == 0 ? verify_endpoint(etcd, endpoint, deadline, err)
                                                   : check_cluster(etcd, endpoint, err);
    if (known != PD_ETCD_DONE)
        return known;
    char why[256] = "";
    long http_status = 0;
    int64_t timeout_ms = attempt_time(etcd, deadline);
    if (timeout_ms <= 0)
        return pd_etcd_wire_unknown(err, "the request timeout was spent");
    *end = attempt(etcd, endpoint, path, text, repeat, timeout_ms, &http_status, why, sizeof why);
    if (*end != ATTEMPT_ANSWERED)
        return pd_etcd_wire_unknown(err, why);
    PdEtcdStatus status = pd_etcd_wire_read(http_status, etcd->answer, etcd->answer_length, answer, err);
    /* An answer without a header (an error in the keepalive stream) is judged as a refusal is: by the
     * endpoint's verified cluster; the readers want a header in every other answer. */
    uint64_t cluster_id = status == PD_ETCD_DONE ? pd_etcd_wire_cluster(*answer) : 0;
    if (cluster_id != 0 && cluster_id != endpoint->cluster_id)
    {
        endpoint->cluster_id = cluster_id; /* moved to another cluster: checked before its next call */
        json_decref(*answer);
        *answer = NULL;
        return pd_etcd_wire_unknown(err, "it answered for another etcd cluster than before");
    }
    return status;
}

PdEtcdStatus
pd_etcd_call(PdEtcd *etcd, const char *path, json_t *body, PdEtcdRepeat repeat, json_t **answer, PdError *err)
{
    *answer = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL)
        return pd_etcd_wire_unknown(err, "out of memory for the request");
    int limit_ms = etcd->next_call_limit_ms > 0 && etcd->next_call_limit_ms < etcd->request_timeout_ms
                       ? etcd->next_call_limit_ms
                       : etcd->request_timeout_ms;
    etcd->next_call_limit_ms = 0;
    int64_t deadline = now_ms() + limit_ms;
    char tried[768] = "";
    PdError attempt_err = {0}; /* an attempt's failure reaches err only when the whole call fails */
    PdEtcdStatus status = PD_ETCD_UNKNOWN;
    size_t start = etcd->current;
    for (size_t n = 0; n < etcd->endpoint_count; n++)
    {
        size_t index = (start + n) % etcd->endpoint_count;
        if (deadline - now_ms() <= 0)
            break;
        AttemptEnd end;
        status = try_endpoint(etcd, &etcd->endpoints[index], path, text, repeat, deadline, &end, answer,
                              &attempt_err);
        if (status != PD_ETCD_UNKNOWN)
        {
            etcd->current = index; /* it answered: start there next time */
            break;
        }
        note_failure(tried, sizeof tried, &etcd->endpoints[index], attempt_err.message);
        etcd->current = (index + 1) % etcd->endpoint_count;
        if (end != ATTEMPT_NOT_SENT && repeat == PD_ETCD_ONCE)
            break; /* a write that may have arrived: sending it again could apply it twice */
    }
    free(text);
    if (status != PD_ETCD_UNKNOWN)
    {
        if (status != PD_ETCD_DONE)
            *err = attempt_err; /* the refusal's own error */
        return status;
    }
    pd_error_set(err, PD_ERR_DCS_UNKNOWN, "etcd gave no answer to trust for %s", path);
    pd_error_detail(err, "Tried %s.", tried[0] ? tried : "no endpoint: the request timeout was spent");
    return PD_ETCD_UNKNOWN;
}

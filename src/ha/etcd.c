/*
 * etcd.c - the etcd client's life: checking its configuration, making and
 * freeing it, and the names of its outcomes. The client owns one libcurl
 * handle per endpoint (made on first use, kept for keep-alive) and the buffer
 * answers are received into; etcd_http.c sends the calls, etcd_kv.c and
 * etcd_lease.c are the calls. Opening makes no connection: a down etcd is
 * found by the first call, as an UNKNOWN outcome, never at open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ha/etcd_wire.h"

enum
{
    DEFAULT_CONNECT_TIMEOUT_MS = 500,
    DEFAULT_ATTEMPT_TIMEOUT_MS = 1000,
    DEFAULT_REQUEST_TIMEOUT_MS = 2000,
};
#define DEFAULT_MAX_ANSWER_BYTES ((size_t)64 << 20)

PdEtcdBytes
pd_etcd_text(const char *text)
{
    return (PdEtcdBytes){.data = text != NULL ? text : "", .length = text != NULL ? strlen(text) : 0};
}

const char *
pd_etcd_status_name(PdEtcdStatus status)
{
    switch (status)
    {
        case PD_ETCD_UNKNOWN:
            return "unknown";
        case PD_ETCD_DONE:
            return "done";
        case PD_ETCD_COMPARE_FAILED:
            return "compare failed";
        case PD_ETCD_LEASE_NOT_FOUND:
            return "lease not found";
        case PD_ETCD_REJECTED:
            return "rejected";
    }
    return "unknown";
}

/* "http://h:p" from "http://h:p/", "https://h:p" or a bare "h:p"; NULL when it is no URL of ours
 * (another scheme, a path, credentials, spaces) or memory is exhausted. */
static char *
endpoint_url(const char *text)
{
    size_t length = strlen(text);
    while (length > 0 && text[length - 1] == '/')
        length--;
    const char *separator = strstr(text, "://");
    bool has_scheme = strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
    if (separator != NULL && !has_scheme)
        return NULL;
    size_t host = has_scheme ? (size_t)(separator + 3 - text) : 0;
    if (host >= length)
        return NULL;
    for (size_t i = host; i < length; i++)
        if (strchr(" \t\r\n/?#@", text[i]) != NULL)
            return NULL;
    char *url = malloc(length + 8);
    if (url != NULL)
        snprintf(url, length + 8, "%s%.*s", has_scheme ? "" : "http://", (int)length, text);
    return url;
}

/* A TLS file given must be readable now: a typo found at open, not as an UNKNOWN on every call. */
static bool
check_tls_file(const char *path, const char *field, PdError *err)
{
    if (path == NULL || access(path, R_OK) == 0)
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "cannot read the etcd TLS file \"%s\": %s", path,
                 strerror(errno));
    return pd_error_field(err, "%s", field);
}

static bool
check_config(const PdEtcdConfig *config, PdError *err)
{
    if (config->endpoint_count == 0 || config->endpoints == NULL)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "no etcd endpoint given");
        pd_error_field(err, "endpoints");
        return pd_error_hint(err, "give at least one, as http://127.0.0.1:2379");
    }
    if (config->connect_timeout_ms < 0 || config->attempt_timeout_ms < 0 || config->request_timeout_ms < 0)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "an etcd timeout is negative");
        return pd_error_field(err, "timeouts");
    }
    if (!check_tls_file(config->ca_file, "ca_file", err) ||
        !check_tls_file(config->cert_file, "cert_file", err) ||
        !check_tls_file(config->key_file, "key_file", err))
        return false;
    if (config->key_file != NULL && config->cert_file == NULL)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "an etcd TLS key file without its certificate");
        return pd_error_field(err, "cert_file");
    }
    int attempt = config->attempt_timeout_ms ? config->attempt_timeout_ms : DEFAULT_ATTEMPT_TIMEOUT_MS;
    int request = config->request_timeout_ms ? config->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    if (attempt > request)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "etcd attempt timeout %d ms is longer than the request timeout %d ms", attempt, request);
        pd_error_field(err, "attempt_timeout_ms");
        return pd_error_detail(err, "One call tries endpoints within the request timeout; an attempt on one "
                                    "endpoint cannot take longer than the whole call.");
    }
    return true;
}

static void
set_timeouts(PdEtcd *etcd, const PdEtcdConfig *config)
{
    etcd->connect_timeout_ms =
        config->connect_timeout_ms ? config->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    etcd->attempt_timeout_ms =
        config->attempt_timeout_ms ? config->attempt_timeout_ms : DEFAULT_ATTEMPT_TIMEOUT_MS;
    etcd->request_timeout_ms =
        config->request_timeout_ms ? config->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    if (etcd->connect_timeout_ms > etcd->attempt_timeout_ms)
        etcd->connect_timeout_ms = etcd->attempt_timeout_ms;
    etcd->max_answer_bytes = config->max_answer_bytes ? config->max_answer_bytes : DEFAULT_MAX_ANSWER_BYTES;
}

/* Copies of the TLS file names (the config may not outlive the client); false when memory is exhausted. */
static bool
copy_tls_files(PdEtcd *etcd, const PdEtcdConfig *config)
{
    etcd->ca_file = config->ca_file != NULL ? strdup(config->ca_file) : NULL;
    etcd->cert_file = config->cert_file != NULL ? strdup(config->cert_file) : NULL;
    etcd->key_file = config->key_file != NULL ? strdup(config->key_file) : NULL;
    return (etcd->ca_file != NULL) == (config->ca_file != NULL) &&
           (etcd->cert_file != NULL) == (config->cert_file != NULL) &&
           (etcd->key_file != NULL) == (config->key_file != NULL);
}

bool
pd_etcd_open(const PdEtcdConfig *config, PdEtcd **etcd, PdError *err)
{
    if (!check_config(config, err))
        return false;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return pd_error_set(err, PD_ERR_INTERNAL, "libcurl could not be initialised");
    PdEtcd *client = calloc(1, sizeof *client);
    if (client == NULL ||
        (client->endpoints = calloc(config->endpoint_count, sizeof *client->endpoints)) == NULL)
    {
        free(client);
        curl_global_cleanup();
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the etcd client");
    }
    set_timeouts(client, config);
    if (!copy_tls_files(client, config))
    {
        pd_etcd_close(client);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the etcd client");
    }
    for (size_t i = 0; i < config->endpoint_count; i++)
    {
        const char *text = config->endpoints[i] != NULL ? config->endpoints[i] : "";
        client->endpoints[i].url = endpoint_url(text);
        client->endpoint_count = i + 1;
        if (client->endpoints[i].url == NULL)
        {
            pd_etcd_close(client);
            pd_error_set(err, PD_ERR_INVALID_INPUT, "bad etcd endpoint \"%s\"", text);
            pd_error_field(err, "endpoints");
            return pd_error_hint(err, "write it as http://host:port or https://host:port");
        }
    }
    *etcd = client;
    return true;
}

void
pd_etcd_close(PdEtcd *etcd)
{
    if (etcd == NULL)
        return;
    for (size_t i = 0; i < etcd->endpoint_count; i++)
    {
        if (etcd->endpoints[i].curl != NULL)
            curl_easy_cleanup(etcd->endpoints[i].curl);
        free(etcd->endpoints[i].url);
    }
    free(etcd->endpoints);
    free(etcd->ca_file);
    free(etcd->cert_file);
    free(etcd->key_file);
    curl_slist_free_all(etcd->headers);
    free(etcd->answer);
    free(etcd);
    curl_global_cleanup(); /* one for the curl_global_init of pd_etcd_open: libcurl counts them */
}

const char *
pd_etcd_endpoint(const PdEtcd *etcd)
{
    return etcd->endpoints[etcd->current].url;
}

void
pd_etcd_limit_next_call(PdEtcd *etcd, int timeout_ms)
{
    etcd->next_call_limit_ms = timeout_ms > 0 ? timeout_ms : 0;
}

/*
 * api.h - the keeper's HTTP API: Patroni's health-check endpoints (/primary,
 * /replica, /read-only, /sync, /async, /health, /liveness, /readiness, ...),
 * /patroni (this member's state) and /cluster, answered from the keeper's
 * view (view.h) on a libmicrohttpd daemon with one thread of its own. An
 * existing HAProxy configuration written for Patroni works unchanged
 * (docs/ha.md, "The keeper's HTTP API"). The API never touches PostgreSQL or
 * etcd: each request reads one snapshot and answers from it, so a hung
 * database or etcd never hangs a health check.
 */
#ifndef PRODATA_HA_API_H
#define PRODATA_HA_API_H

#include <stdbool.h>

#include "ha/failsafe.h"
#include "ha/view.h"
#include "prodata/error.h"

typedef struct PdHaApi PdHaApi;

enum
{
    PD_HA_API_CONNECTIONS_MAX = 64,        /* connections at once; more wait in the listen backlog */
    PD_HA_API_CONNECTIONS_PER_IP_MAX = 32, /* from one client address */
    PD_HA_API_IDLE_TIMEOUT_S = 5,          /* a connection silent this long is closed */
};

/*
 * Listens on listen_address (a host name or address; "*" or "": every
 * address) and port (0: a free one, see pd_ha_api_port) and answers from
 * view, which must outlive the API. *api is stopped and freed with
 * pd_ha_api_stop. Errors: PD_ERR_INVALID_INPUT (the address does not
 * resolve), PD_ERR_IO (the port cannot be bound), PD_ERR_INTERNAL
 * (libmicrohttpd did not start), PD_ERR_NO_MEMORY.
 */
bool pd_ha_api_start(const char *listen_address, int port, PdKeeperView *view, PdHaApi **api, PdError *err);

/*
 * The same, also answering POST /failsafe from failsafe's grant table
 * (failsafe.h; it must outlive the API); pd_ha_api_start serves no
 * /failsafe (404).
 */
bool pd_ha_api_start_failsafe(const char *listen_address, int port, PdKeeperView *view, PdFailsafe *failsafe,
                              PdHaApi **api, PdError *err);

/* The port the API listens on (the one chosen when started with port 0). */
int pd_ha_api_port(const PdHaApi *api);

/* Stops answering (requests under way finish first), closes the socket, frees. NULL is a no-op. */
void pd_ha_api_stop(PdHaApi *api);

#endif

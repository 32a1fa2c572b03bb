/*
 * http.h - `prodata serve`'s server as the command sees it: start it from the
 * serve settings, reload the models, stop it gracefully. Everything else of
 * src/http is private to the module (server.h). The command owns signals:
 * it blocks them in every thread before the start and calls reload and stop
 * from its own loop, so no signal handler runs inside the server.
 */
#ifndef PRODATA_HTTP_H
#define PRODATA_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/settings.h"

/* The OpenAPI document (`prodata openapi` prints what GET /openapi.json answers). */
#include "http/openapi.h"

typedef struct PdHttpServer PdHttpServer;

/*
 * Loads the models, opens the pool (lazily connected), binds the listening
 * socket and starts the worker threads; the server answers until
 * pd_http_server_stop. settings must outlive the server. Errors:
 * PD_ERR_INVALID_INPUT (models, keys, settings), PD_ERR_IO (bind, TLS files),
 * PD_ERR_NO_MEMORY, PD_ERR_INTERNAL (libmicrohttpd refused to start).
 */
bool pd_http_server_start(const PdServeSettings *settings, PdHttpServer **server, PdError *err);

/* The TCP port the server listens on (the one chosen when the setting is 0). */
int pd_http_server_port(const PdHttpServer *server);

/*
 * Re-reads the model file into a new catalog generation; requests under way
 * finish on the one they started with, which is freed after the last of
 * them. On failure the running catalog stays and err says why. Thread-safe.
 */
bool pd_http_server_reload(PdHttpServer *server, PdError *err);

/*
 * Stops accepting connections, lets the requests under way finish for at most
 * timeout_ms (answering each with Connection: close), then closes every
 * connection and frees the server, and returns 0. When requests are still
 * under way at the deadline it returns how many, leaving the server as it
 * is: the caller is to end the process, which cuts them.
 */
int pd_http_server_stop(PdHttpServer *server, int timeout_ms);

/* What `prodata token` asks for. */
typedef struct PdHttpTokenRequest
{
    const char *role;     /* required, 1..63 bytes */
    const char *subject;  /* "sub", or NULL */
    int64_t lifetime_s;   /* exp = now_s + lifetime_s */
    const char *audience; /* NULL: jwt_audience (none when empty) */
    const char *issuer;   /* NULL: jwt_issuer (none when empty) */
} PdHttpTokenRequest;

/*
 * An HS256 bearer token the server configured by settings accepts: signed with its secret (jwt_secret_file
 * or jwt_secret), the role under jwt_role_claim. *token in arena. Errors: PD_ERR_INVALID_INPUT (no secret,
 * one shorter than 32 bytes, no role), PD_ERR_IO (jwt_secret_file unreadable), arena exhaustion.
 */
bool pd_http_token(PdArena *arena, const PdServeSettings *settings, const PdHttpTokenRequest *request,
                   int64_t now_s, char **token, PdError *err);

#endif

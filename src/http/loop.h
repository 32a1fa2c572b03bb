/*
 * loop.h - the event loops of `prodata serve` (loop.c): a few threads, one
 * per core by default, each with its own libmicrohttpd daemon in external
 * epoll mode and its own epoll set; each request runs as a fiber on its
 * loop's thread, switching out whenever it waits for the database, so one
 * thread keeps many statements in flight without a thread per connection.
 */
#ifndef PRODATA_HTTP_LOOP_H
#define PRODATA_HTTP_LOOP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/pool.h"

struct PdHttpServer;
struct MHD_Connection;
typedef struct PdHttpLoop PdHttpLoop;
typedef struct PdHttpTask PdHttpTask;
typedef void (*PdHttpTaskFn)(void *argument);

/* Starts count loops for server, each with a daemon made by its start callback; arena_budget bounds each
 * request's arena. Each loop keeps two of the pool's pool_size connections, its multiplexed connection
 * (pd_http_loop_mux) and its group-commit connection (pd_http_loop_group), when the pool has at least 4
 * per loop. */
typedef struct MHD_Daemon *(*PdHttpDaemonStart)(struct PdHttpServer *server, unsigned int connection_limit);
bool pd_http_loops_start(struct PdHttpServer *server, int count, int pool_size, size_t arena_budget,
                         PdHttpDaemonStart start, PdError *err);
/* Hands an accepted connection to the next loop (round robin). Any thread. */
void pd_http_loops_add(struct PdHttpServer *server, int fd, const struct sockaddr *address, socklen_t length);
/* Ends the loops' threads: no request is read or answered from then on (their daemons stay). */
void pd_http_loops_halt(struct PdHttpServer *server);
/* Ends the loops and stops their daemons: every request must have finished (libmicrohttpd refuses to stop
 * with a connection suspended). */
void pd_http_loops_stop(struct PdHttpServer *server);

/*
 * Runs fn(argument) in a fiber of the calling loop. PD_HTTP_TASK_DONE: it finished already.
 * PD_HTTP_TASK_WAITING: connection is suspended; when fn has finished the loop resumes it, libmicrohttpd
 * calls the access handler again, and the handler queues the response and releases *task.
 * PD_HTTP_TASK_NO_MEMORY: no fiber could be made (its stack could not be mapped): fn did not run (never on
 * the loop's own stack, which would block every request of the loop); answer without it (503). Off a loop
 * thread, fn runs at once (DONE).
 */
typedef enum PdHttpTaskStart
{
    PD_HTTP_TASK_DONE,
    PD_HTTP_TASK_WAITING,
    PD_HTTP_TASK_NO_MEMORY,
} PdHttpTaskStart;
PdHttpTaskStart pd_http_task_run(struct MHD_Connection *connection, PdHttpTaskFn fn, void *argument,
                                 PdHttpTask **task);
bool pd_http_task_is_done(const PdHttpTask *task);
void pd_http_task_release(PdHttpTask *task);
/* The running task's arena (reset when it started), or NULL outside a task. */
PdArena *pd_http_task_arena(void);

/* A PdDbWaitFn (context unused). From a task: the fiber switches out until socket is ready for what (or,
 * with PD_DB_WAIT_WAKE, until pd_http_task_wake), or timeout_ms passed (false); the loop serves others
 * meanwhile. Elsewhere: poll(). */
bool pd_http_task_wait(void *context, int socket, PdDbWaitFor what, int timeout_ms);
/*
 * From a task: parks it until the loop's current pass is over, so that the requests libmicrohttpd hands the
 * loop in this pass start first (each runs until it waits); it then runs before the next pass reads its
 * sockets. For gathering work of many requests to send as one. Off a task: returns at once.
 */
void pd_http_task_defer(void);
/* From a task: the running task (a context for pd_http_task_wait/wake); NULL elsewhere. */
void *pd_http_task_self(void);
/* A PdDbWakeFn: ends the PD_DB_WAIT_WAKE wait of task context, or cuts its wait for a socket short, on its
 * loop's next turn. From any thread: from another one only a PD_DB_WAIT_WAKE wait is ended, and only the
 * one under way when it was called (a task that timed out and waits again meanwhile is left alone). */
void pd_http_task_wake(void *context);
/* A pooled connection for the running task, its statements, connect and wait for a free connection
 * (first come, first served, at most the pool's timeout; may_wait false: not at all) all through
 * pd_http_task_wait, so only the task waits; off a task, pd_pool_acquire (or _try_acquire). Errors: the
 * pool's (PD_ERR_LOCK_TIMEOUT, PD_ERR_DB_GONE). */
bool pd_http_task_acquire(PdPool *pool, bool may_wait, PdDb **db, PdError *err);
/* The calling loop's multiplexed connection for single reads (one pooled connection, made on first use and
 * replaced after it broke), or NULL off a loop or when none can be had now. */
PdDbMux *pd_http_loop_mux(void);
/* The calling loop's group-commit connection for single creates (pd_db_mux_new_group), the same way, its
 * transactions begun with begin_sql (not NULL, catalog.c). One made with another begin_sql (an older
 * catalog's) is retired: no one joins it, it goes once idle. */
PdDbMux *pd_http_loop_group(const char *begin_sql);
/* Whether the caller runs in a task (and so must never block its thread). */
bool pd_http_in_task(void);

#endif

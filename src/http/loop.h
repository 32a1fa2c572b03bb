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
 * Runs fn(argument) in a fiber of the calling loop: true when it finished already. Otherwise connection is
 * suspended; when fn has finished the loop resumes it, libmicrohttpd calls the access handler again, and
 * the handler queues the response and releases *task. Off a loop thread, fn runs at once (true).
 */
bool pd_http_task_run(struct MHD_Connection *connection, PdHttpTaskFn fn, void *argument, PdHttpTask **task);
bool pd_http_task_is_done(const PdHttpTask *task);
void pd_http_task_release(PdHttpTask *task);
/* The running task's arena (reset when it started), or NULL outside a task. */
PdArena *pd_http_task_arena(void);

/* From a task: wait until socket is readable (a PdDbWaitFn: context unused), or with socket -1 until
 * pd_http_task_wake. Elsewhere: poll(). */
void pd_http_task_wait(void *context, int socket);
/* From a task: true after about ms milliseconds, the thread serving others meanwhile; false elsewhere. */
bool pd_http_task_sleep(int ms);
/* From a task: the running task (a context for pd_http_task_wait/wake); NULL elsewhere. */
void *pd_http_task_self(void);
/* Resumes a task parked in pd_http_task_wait(task, -1), or cuts its wait for a socket short, on its loop's
 * next turn (a PdDbWakeFn; nothing for a task that waits for neither). */
void pd_http_task_wake(void *context);
/* The calling loop's multiplexed connection for single reads (one pooled connection, made on first use and
 * replaced after it broke), or NULL off a loop or when none can be had now. */
PdDbMux *pd_http_loop_mux(void);
/* The calling loop's group-commit connection for single creates (pd_db_mux_new_group), the same way. */
PdDbMux *pd_http_loop_group(void);
/* Whether the caller runs in a task (and so must never block its thread). */
bool pd_http_in_task(void);

#endif

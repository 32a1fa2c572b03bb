/*
 * loop.c - the event loops of `prodata serve`. Why: a thread per connection
 * that blocks on its statement pays two context switches per request on top
 * of PostgreSQL's own, and with more threads than cores those switches, not
 * the statements, set the rate. Here a few loop threads (one per core by
 * default) each own a libmicrohttpd daemon in external epoll mode and an
 * epoll set holding the daemon's descriptor, an eventfd (new connections,
 * wakes from other threads, stop) and the sockets of the database
 * connections its requests wait on. The access handler runs each request as
 * a task: a fiber with its own arena. A task that must wait (a database
 * socket to become readable or writable, a pool connection, its turn on the
 * multiplexed connection) says what for and yields (the connection to the
 * client is suspended); when that comes, or the wait's deadline passes, the
 * loop switches back into it, and once the task has finished the client's
 * connection is resumed and the handler, called again, queues the response.
 * Tasks and their stacks are kept for reuse; a request for which no task can
 * be made is refused (request.c answers 503), never run on the loop's stack.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"
#include "loop.h"
#include "server.h"

/* Each task's stack: as a thread's (jansson recurses per nesting level of a body, up to 2,048 levels). The
 * mapping is MAP_NORESERVE: address space, with memory only for the pages a request touched. */
#define TASK_STACK_SIZE ((size_t)8 * 1024 * 1024)
#define LOOP_EVENTS 64

/* What an epoll event's data.ptr points at: the first member of each registered thing. */
typedef enum Tag
{
    TAG_DAEMON,
    TAG_WAKE,
    TAG_TASK,
} Tag;

/* What a task waits for; any wait may also end at a deadline (has_deadline: in the loop's sleeping list). */
typedef enum TaskWait
{
    TASK_RUNNING,   /* waits for nothing: running, ready to run, or finished */
    TASK_ON_SOCKET, /* wait_fd is armed in the loop's epoll set */
    TASK_PARKED,    /* until pd_http_task_wake (or the deadline alone: a sleep) */
} TaskWait;

struct PdHttpTask
{
    Tag tag; /* TAG_TASK; first */
    PdHttpLoop *loop;
    PdFiber *fiber;
    PdArena *arena;
    struct MHD_Connection *connection;
    bool is_done;
    bool is_suspended; /* its client connection is suspended until it finishes */
    TaskWait waiting;
    int wait_fd; /* with TASK_ON_SOCKET */
    bool has_deadline;
    bool is_timed_out; /* the last wait ended at its deadline */
    long long wake_at_ms;
    atomic_uint_fast64_t wait_count; /* waits begun: a wake from another thread names the one it ends */
    PdHttpTask *next;                /* free list */
    PdHttpTask *next_sleeping;
    PdHttpTask *next_ready;
    PdHttpTask *next_deferred;
    uint_fast64_t deferred_wait; /* the wait_count of its park until the pass ends */
    /* a wake from another thread, under the loop's lock until the loop takes it */
    PdHttpTask *next_posted;
    bool is_posted;
    uint_fast64_t posted_wait; /* the wait_count of the wait it ends */
};

/* A connection accepted by the accept thread, waiting for its loop to take it. */
typedef struct Incoming
{
    int fd;
    struct sockaddr_storage address;
    socklen_t length;
} Incoming;

struct PdHttpLoop
{
    struct PdHttpServer *server;
    pthread_t thread;
    bool has_thread;
    int epoll_fd;
    int wake_fd;
    Tag wake_tag;
    Tag daemon_tag;
    struct MHD_Daemon *daemon;
    atomic_bool is_stopping;
    pthread_mutex_t lock; /* incoming */
    Incoming *incoming;
    size_t incoming_count;
    size_t incoming_capacity;
    PdHttpTask *posted; /* woken from other threads (under lock), newest first */
    PdHttpTask *free_tasks;
    PdHttpTask *sleeping;   /* tasks with a deadline */
    PdHttpTask *ready_head; /* woken, to be resumed in order */
    PdHttpTask *ready_tail;
    PdHttpTask *deferred_head; /* parked until this pass of the loop ends (pd_http_task_defer) */
    PdHttpTask *deferred_tail;
    PdDbMux *mux;       /* the multiplexed connection for single reads, made on first use */
    PdDbMux *group;     /* the group-commit connection for single creates, made on first use */
    PdDbMux *retiring;  /* a group connection of another catalog's, freed once its last caller left */
    bool may_multiplex; /* the pool is large enough to lend each loop two connections for good */
    size_t arena_budget;
    bool must_run_daemon;
};

static _Thread_local PdHttpLoop *current_loop;
static _Thread_local PdHttpTask *current_task;

static long long
now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- tasks ---- */

static PdHttpTask *
task_get(PdHttpLoop *loop)
{
    PdHttpTask *task = loop->free_tasks;
    if (task != NULL)
    {
        loop->free_tasks = task->next;
        return task;
    }
    task = calloc(1, sizeof(*task));
    if (task == NULL)
        return NULL;
    task->tag = TAG_TASK;
    task->loop = loop;
    task->fiber = pd_fiber_new(TASK_STACK_SIZE);
    task->arena = pd_arena_new(loop->arena_budget);
    if (task->fiber == NULL || task->arena == NULL)
    {
        pd_fiber_free(task->fiber);
        pd_arena_free(task->arena);
        free(task);
        return NULL;
    }
    return task;
}

static void
task_free(PdHttpTask *task)
{
    pd_fiber_free(task->fiber);
    pd_arena_free(task->arena);
    free(task);
}

/* Switches into task (started anew with fn, or resumed when fn is NULL) until it yields or finishes. */
static bool
task_switch(PdHttpTask *task, PdHttpTaskFn fn, void *argument)
{
    current_task = task;
    bool is_done = fn != NULL ? pd_fiber_start(task->fiber, fn, argument) : pd_fiber_resume(task->fiber);
    current_task = NULL;
    task->is_done = is_done;
    return is_done;
}

PdHttpTaskStart
pd_http_task_run(struct MHD_Connection *connection, PdHttpTaskFn fn, void *argument, PdHttpTask **task)
{
    *task = NULL;
    PdHttpLoop *loop = current_loop;
    if (loop == NULL || current_task != NULL)
    {
        fn(argument); /* off a loop (a test, a tool): now, blocking its thread as any caller there may */
        return PD_HTTP_TASK_DONE;
    }
    PdHttpTask *made = task_get(loop);
    if (made == NULL)
        return PD_HTTP_TASK_NO_MEMORY; /* never fn on the loop's own stack: it would block every request */
    pd_arena_reset(made->arena);
    made->connection = connection;
    made->is_suspended = false;
    *task = made;
    if (task_switch(made, fn, argument))
        return PD_HTTP_TASK_DONE;
    MHD_suspend_connection(connection);
    made->is_suspended = true;
    return PD_HTTP_TASK_WAITING;
}

bool
pd_http_task_is_done(const PdHttpTask *task)
{
    return task == NULL || task->is_done;
}

void
pd_http_task_release(PdHttpTask *task)
{
    if (task == NULL)
        return;
    task->connection = NULL;
    task->next = task->loop->free_tasks;
    task->loop->free_tasks = task;
}

PdArena *
pd_http_task_arena(void)
{
    return current_task != NULL ? current_task->arena : NULL;
}

bool
pd_http_in_task(void)
{
    return current_task != NULL;
}

/* ---- waiting, from inside a task ---- */

/*
 * Watches socket for one event on behalf of task (EPOLLONESHOT: delivered once, then disarmed). A socket
 * stays in the set, disarmed, after its event, so the next wait costs one EPOLL_CTL_MOD; a connection that
 * moved to another loop is added there, and the kernel drops it from every set when it is closed.
 */
static bool
arm(int epoll_fd, int socket, PdDbWaitFor what, PdHttpTask *task)
{
    uint32_t events = EPOLLONESHOT;
    events |= (what & PD_DB_WAIT_READ) ? EPOLLIN : 0;
    events |= (what & PD_DB_WAIT_WRITE) ? EPOLLOUT : 0;
    struct epoll_event event = {.events = events, .data.ptr = task};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, socket, &event) == 0)
        return true;
    return errno == ENOENT && epoll_ctl(epoll_fd, EPOLL_CTL_ADD, socket, &event) == 0;
}

static void
unlink_sleeping(PdHttpLoop *loop, PdHttpTask *task)
{
    for (PdHttpTask **link = &loop->sleeping; *link != NULL; link = &(*link)->next_sleeping)
        if (*link == task)
        {
            *link = task->next_sleeping;
            return;
        }
}

/* The task's wait is over (its event came, a wake, or with is_timeout its deadline): whatever else it
 * waited on is let go. The caller resumes it, or queues it to be. */
static void
end_wait(PdHttpLoop *loop, PdHttpTask *task, bool is_timeout, bool is_socket_event)
{
    if (task->waiting == TASK_ON_SOCKET && !is_socket_event)
        epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, task->wait_fd, NULL); /* libpq may have closed it: fine */
    if (task->has_deadline && !is_timeout)
        unlink_sleeping(loop, task);
    task->has_deadline = false;
    task->waiting = TASK_RUNNING;
    task->is_timed_out = is_timeout;
}

/* Off a task (a thread that may block): poll() for the socket; no wake-up can come, so a wake wait is a
 * short sleep (callers look again). */
static bool
wait_blocking(int socket, PdDbWaitFor what, int timeout_ms)
{
    if (what == PD_DB_WAIT_WAKE)
        return poll(NULL, 0, timeout_ms >= 0 && timeout_ms < 1 ? timeout_ms : 1) == 0;
    short events =
        (short)(((what & PD_DB_WAIT_READ) ? POLLIN : 0) | ((what & PD_DB_WAIT_WRITE) ? POLLOUT : 0));
    struct pollfd wait = {socket, events, 0};
    int ready;
    while ((ready = poll(&wait, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    return ready != 0;
}

bool
pd_http_task_wait(void *context, int socket, PdDbWaitFor what, int timeout_ms)
{
    (void)context;
    PdHttpTask *task = current_task;
    if (task == NULL)
        return wait_blocking(socket, what, timeout_ms);
    if (what == PD_DB_WAIT_WAKE)
        task->waiting = TASK_PARKED;
    else if (arm(task->loop->epoll_fd, socket, what, task))
    {
        task->waiting = TASK_ON_SOCKET;
        task->wait_fd = socket;
    }
    else
        return wait_blocking(socket, what, timeout_ms); /* not a socket epoll takes: should not happen */
    atomic_fetch_add(&task->wait_count, 1);
    task->is_timed_out = false;
    task->has_deadline = timeout_ms >= 0;
    if (task->has_deadline)
    {
        task->wake_at_ms = now_ms() + timeout_ms;
        task->next_sleeping = task->loop->sleeping;
        task->loop->sleeping = task;
    }
    pd_fiber_yield();
    return !task->is_timed_out;
}

void
pd_http_task_defer(void)
{
    PdHttpTask *task = current_task;
    if (task == NULL)
        return;
    PdHttpLoop *loop = task->loop;
    task->waiting = TASK_PARKED;
    task->deferred_wait = atomic_fetch_add(&task->wait_count, 1) + 1;
    task->is_timed_out = false;
    task->has_deadline = false;
    task->next_deferred = NULL;
    if (loop->deferred_tail != NULL)
        loop->deferred_tail->next_deferred = task;
    else
        loop->deferred_head = task;
    loop->deferred_tail = task;
    pd_fiber_yield();
}

/* Puts the task at the end of the loop's ready queue (run on this turn, in order). */
static void
queue_ready(PdHttpLoop *loop, PdHttpTask *task)
{
    task->next_ready = NULL;
    if (loop->ready_tail != NULL)
        loop->ready_tail->next_ready = task;
    else
        loop->ready_head = task;
    loop->ready_tail = task;
}

/* On the task's loop: ends its wait and queues it to run on this turn. */
static void
wake_here(PdHttpLoop *loop, PdHttpTask *task)
{
    if (task->waiting == TASK_RUNNING)
        return;
    end_wait(loop, task, false, false);
    queue_ready(loop, task);
}

/* From another thread: the wake is posted to the task's loop with the wait it ends, which the loop checks
 * (the task may have timed out and moved on to another wait meanwhile: that one is not cut short). */
static void
wake_from_afar(PdHttpTask *task)
{
    PdHttpLoop *loop = task->loop;
    uint_fast64_t wait = atomic_load(&task->wait_count);
    pthread_mutex_lock(&loop->lock);
    task->posted_wait = wait;
    if (!task->is_posted)
    {
        task->is_posted = true;
        task->next_posted = loop->posted;
        loop->posted = task;
    }
    pthread_mutex_unlock(&loop->lock);
    uint64_t one = 1;
    while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void
pd_http_task_wake(void *context)
{
    PdHttpTask *task = context;
    if (task == NULL)
        return;
    if (current_loop == task->loop)
        wake_here(task->loop, task);
    else
        wake_from_afar(task);
}

/* The wakes other threads posted: each ends the park it was meant for, if the task is still in it. */
static void
take_posted(PdHttpLoop *loop)
{
    pthread_mutex_lock(&loop->lock);
    PdHttpTask *posted = loop->posted;
    loop->posted = NULL;
    PdHttpTask *oldest_first = NULL;
    while (posted != NULL)
    {
        PdHttpTask *task = posted;
        posted = task->next_posted;
        task->is_posted = false;
        task->next_posted = oldest_first;
        oldest_first = task;
    }
    pthread_mutex_unlock(&loop->lock);
    while (oldest_first != NULL)
    {
        PdHttpTask *task = oldest_first;
        oldest_first = task->next_posted;
        if (task->waiting == TASK_PARKED && atomic_load(&task->wait_count) == task->posted_wait)
            wake_here(loop, task);
    }
}

void *
pd_http_task_self(void)
{
    return current_task;
}

bool
pd_http_task_acquire(PdPool *pool, bool may_wait, PdDb **db, PdError *err)
{
    if (current_task == NULL)
        return may_wait ? pd_pool_acquire(pool, db, err) : pd_pool_try_acquire(pool, db, err);
    PdPoolWaiter waiter = {pd_http_task_wait, pd_http_task_wake, current_task};
    return pd_pool_acquire_with(pool, &waiter, may_wait, db, err);
}

static PdDbMux *
new_mux(PdDb *db, const char *group_begin, PdDbMux **slot, PdError *err)
{
    if (group_begin == NULL)
        return pd_db_mux_new(db, slot, err) ? *slot : NULL;
    return pd_db_mux_new_group(db, group_begin, slot, err) ? *slot : NULL;
}

/* A group connection of another begin (an older catalog's): no one joins it any more; it goes once its
 * callers left. */
static bool
retire(PdHttpLoop *loop, PdDbMux **slot)
{
    if (loop->retiring != NULL && pd_db_mux_in_flight(loop->retiring) == 0)
    {
        PdDbMux *retired = loop->retiring;
        loop->retiring = NULL; /* first: giving the connection back may park this task */
        pd_pool_release(loop->server->pool, pd_db_mux_free(retired));
    }
    if (slot == NULL || loop->retiring != NULL)
        return slot == NULL;
    loop->retiring = *slot;
    *slot = NULL;
    return true;
}

/* The loop's multiplexed connection in *slot (a group one when group_begin is not NULL): replaced once it
 * broke and its callers found out, or (a group) retired when group_begin changed; NULL meanwhile. */
static PdDbMux *
loop_mux(PdDbMux **slot, const char *group_begin)
{
    PdHttpLoop *loop = current_loop;
    if (loop == NULL || !loop->may_multiplex)
        return NULL;
    bool is_other =
        group_begin != NULL && *slot != NULL && strcmp(pd_db_mux_begin_sql(*slot), group_begin) != 0;
    if (group_begin != NULL && !retire(loop, is_other ? slot : NULL))
        return NULL; /* the one retired before is still busy */
    if (*slot != NULL && !pd_db_mux_is_usable(*slot))
    {
        if (pd_db_mux_in_flight(*slot) > 0)
            return NULL; /* the callers still in its queue are finding out */
        PdDbMux *broken = *slot;
        *slot = NULL; /* first: giving the connection back may park this task */
        pd_pool_release(loop->server->pool, pd_db_mux_free(broken));
    }
    if (*slot == NULL)
    {
        PdDb *db = NULL;
        PdError err;
        pd_error_init(&err);
        if (!pd_http_task_acquire(loop->server->pool, false, &db, &err))
            return NULL;
        if (*slot != NULL) /* another task of the loop made one while this one connected (a parked wait) */
        {
            pd_pool_release(loop->server->pool, db);
            return *slot;
        }
        PdDbMux *made = NULL;
        if (new_mux(db, group_begin, &made, &err) == NULL)
        {
            pd_pool_release(loop->server->pool, db);
            return NULL;
        }
        *slot = made;
    }
    return *slot;
}

PdDbMux *
pd_http_loop_mux(void)
{
    return current_loop == NULL ? NULL : loop_mux(&current_loop->mux, NULL);
}

PdDbMux *
pd_http_loop_group(const char *begin_sql)
{
    return current_loop == NULL ? NULL : loop_mux(&current_loop->group, begin_sql);
}

/* Goes on with a task whose wait ended; one that finished gets its client connection resumed. */
static void
resume(PdHttpLoop *loop, PdHttpTask *task)
{
    if (task_switch(task, NULL, NULL) && task->is_suspended)
    {
        task->is_suspended = false;
        MHD_resume_connection(task->connection);
        loop->must_run_daemon = true;
    }
}

static void
run_ready(PdHttpLoop *loop)
{
    while (loop->ready_head != NULL)
    {
        PdHttpTask *task = loop->ready_head;
        loop->ready_head = task->next_ready;
        if (loop->ready_head == NULL)
            loop->ready_tail = NULL;
        resume(loop, task);
    }
}

/* Tasks whose deadline passed: their waits end (timed out) and they run on this turn. */
static void
wake_sleepers(PdHttpLoop *loop)
{
    long long now = now_ms();
    PdHttpTask **link = &loop->sleeping;
    while (*link != NULL)
    {
        PdHttpTask *task = *link;
        if (task->wake_at_ms > now)
        {
            link = &task->next_sleeping;
            continue;
        }
        *link = task->next_sleeping;
        end_wait(loop, task, true, false);
        queue_ready(loop, task);
    }
}

/* ---- the loop ---- */

/* The pass is over: tasks deferred in it are queued to run on the next (epoll then waits for nothing), after
 * the tasks whose sockets answered and before libmicrohttpd reads new requests. One woken meanwhile and
 * parked again on something else is left to that wait. */
static void
end_pass(PdHttpLoop *loop)
{
    PdHttpTask *task = loop->deferred_head;
    loop->deferred_head = loop->deferred_tail = NULL;
    while (task != NULL)
    {
        PdHttpTask *next = task->next_deferred;
        if (task->waiting == TASK_PARKED && atomic_load(&task->wait_count) == task->deferred_wait)
            wake_here(loop, task);
        task = next;
    }
}

/* Milliseconds epoll may wait: libmicrohttpd's next timeout, the first sleeper's, at most a second. */
static int
next_timeout(PdHttpLoop *loop)
{
    if (loop->ready_head != NULL)
        return 0;
    long long timeout = 1000;
    MHD_UNSIGNED_LONG_LONG daemon_ms;
    if (MHD_get_timeout(loop->daemon, &daemon_ms) == MHD_YES && (long long)daemon_ms < timeout)
        timeout = (long long)daemon_ms;
    if (loop->sleeping != NULL)
    {
        long long now = now_ms();
        for (PdHttpTask *task = loop->sleeping; task != NULL; task = task->next_sleeping)
            if (task->wake_at_ms - now < timeout)
                timeout = task->wake_at_ms > now ? task->wake_at_ms - now : 0;
    }
    return (int)timeout;
}

/* New connections from the accept thread, handed to this loop's daemon. */
static void
take_incoming(PdHttpLoop *loop)
{
    uint64_t count;
    while (read(loop->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&loop->lock);
    Incoming *taken = loop->incoming;
    size_t taken_count = loop->incoming_count;
    loop->incoming = NULL;
    loop->incoming_count = 0;
    loop->incoming_capacity = 0;
    pthread_mutex_unlock(&loop->lock);
    for (size_t i = 0; i < taken_count; i++)
        /* Refused (at the connection limit): libmicrohttpd has closed the descriptor already. */
        MHD_add_connection(loop->daemon, taken[i].fd, (struct sockaddr *)&taken[i].address, taken[i].length);
    free(taken);
    loop->must_run_daemon = taken_count > 0 || loop->must_run_daemon;
}

static void
handle_event(PdHttpLoop *loop, const struct epoll_event *event)
{
    Tag *tag = event->data.ptr;
    if (*tag == TAG_DAEMON)
        loop->must_run_daemon = true;
    else if (*tag == TAG_WAKE)
    {
        take_incoming(loop);
        take_posted(loop);
    }
    else
    {
        PdHttpTask *task = (PdHttpTask *)tag;
        if (task->waiting != TASK_ON_SOCKET)
            return; /* its wait ended otherwise in this same turn (a wake, its deadline) */
        end_wait(loop, task, false, true); /* the socket is disarmed by EPOLLONESHOT */
        resume(loop, task);
    }
}

static void *
loop_main(void *data)
{
    PdHttpLoop *loop = data;
    current_loop = loop;
    struct epoll_event events[LOOP_EVENTS];
    while (!atomic_load(&loop->is_stopping))
    {
        int count = epoll_wait(loop->epoll_fd, events, LOOP_EVENTS, next_timeout(loop));
        loop->must_run_daemon = count == 0;
        for (int i = 0; i < count; i++)
            handle_event(loop, &events[i]);
        if (loop->sleeping != NULL)
            wake_sleepers(loop);
        run_ready(loop);
        if (loop->must_run_daemon)
            MHD_run(loop->daemon);
        if (loop->deferred_head != NULL)
            end_pass(loop);
    }
    current_loop = NULL;
    return NULL;
}

/* ---- start and stop ---- */

static bool
watch(PdHttpLoop *loop, int fd, Tag *tag)
{
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = tag};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0;
}

static bool
loop_open(PdHttpLoop *loop, struct PdHttpServer *server, size_t arena_budget, PdHttpDaemonStart start,
          unsigned int connection_limit, int pool_size, int count, PdError *err)
{
    loop->server = server;
    loop->arena_budget = arena_budget;
    loop->may_multiplex = pool_size >= 4 * count;
    loop->wake_tag = TAG_WAKE;
    loop->daemon_tag = TAG_DAEMON;
    pthread_mutex_init(&loop->lock, NULL);
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epoll_fd < 0 || loop->wake_fd < 0 || !watch(loop, loop->wake_fd, &loop->wake_tag))
        return pd_error_set(err, PD_ERR_INTERNAL, "could not make an event loop: %s", strerror(errno));
    loop->daemon = start(server, connection_limit);
    if (loop->daemon == NULL)
        return false; /* start said why, in the server's start error */
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(loop->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || !watch(loop, info->epoll_fd, &loop->daemon_tag))
        return pd_error_set(err, PD_ERR_INTERNAL, "libmicrohttpd gave no epoll descriptor");
    if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "could not start an event loop thread");
    loop->has_thread = true;
    return true;
}

bool
pd_http_loops_start(struct PdHttpServer *server, int count, int pool_size, size_t arena_budget,
                    PdHttpDaemonStart start, PdError *err)
{
    server->loops = calloc((size_t)count, sizeof(*server->loops));
    if (server->loops == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && count > cores)
        pd_logf(
            PD_LOG_WARNING,
            "worker_threads=%d event loops on %ld cores: a loop never blocks, so loops beyond one per core "
            "only take turns on the cores (worker_threads=0 gives half the cores)",
            count, cores);
    unsigned int limit = (unsigned int)server->settings->max_connections;
    unsigned int per_loop = (limit + (unsigned int)count - 1) / (unsigned int)count;
    for (int i = 0; i < count; i++)
    {
        PdHttpLoop *loop = calloc(1, sizeof(*loop));
        if (loop == NULL)
            return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
        loop->epoll_fd = loop->wake_fd = -1;
        server->loops[server->loop_count++] = loop;
        if (!loop_open(loop, server, arena_budget, start, per_loop > 0 ? per_loop : 1, pool_size, count, err))
            return false;
    }
    return true;
}

void
pd_http_loops_add(struct PdHttpServer *server, int fd, const struct sockaddr *address, socklen_t length)
{
    unsigned int next = atomic_fetch_add(&server->next_loop, 1);
    PdHttpLoop *loop = server->loops[next % (unsigned int)server->loop_count];
    pthread_mutex_lock(&loop->lock);
    if (loop->incoming_count == loop->incoming_capacity)
    {
        size_t capacity = loop->incoming_capacity ? loop->incoming_capacity * 2 : 16;
        Incoming *grown = realloc(loop->incoming, capacity * sizeof(*grown));
        if (grown == NULL)
        {
            pthread_mutex_unlock(&loop->lock);
            close(fd);
            return;
        }
        loop->incoming = grown;
        loop->incoming_capacity = capacity;
    }
    Incoming *slot = &loop->incoming[loop->incoming_count++];
    slot->fd = fd;
    slot->length = length <= sizeof(slot->address) ? length : sizeof(slot->address);
    memcpy(&slot->address, address, slot->length);
    pthread_mutex_unlock(&loop->lock);
    uint64_t one = 1;
    while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void
loop_halt(PdHttpLoop *loop)
{
    if (!loop->has_thread)
        return;
    atomic_store(&loop->is_stopping, true);
    uint64_t one = 1;
    while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(loop->thread, NULL);
    loop->has_thread = false;
}

void
pd_http_loops_halt(struct PdHttpServer *server)
{
    for (int i = 0; i < server->loop_count; i++)
        loop_halt(server->loops[i]);
}

static void
loop_let_go(PdHttpLoop *loop)
{
    loop_halt(loop);
    if (loop->daemon != NULL)
        MHD_stop_daemon(loop->daemon);
    loop->daemon = NULL;
    if (loop->mux != NULL)
        pd_pool_release(loop->server->pool, pd_db_mux_free(loop->mux));
    if (loop->group != NULL)
        pd_pool_release(loop->server->pool, pd_db_mux_free(loop->group));
    if (loop->retiring != NULL)
        pd_pool_release(loop->server->pool, pd_db_mux_free(loop->retiring));
    loop->mux = loop->group = loop->retiring = NULL;
}

static void
loop_close(PdHttpLoop *loop)
{
    for (size_t i = 0; i < loop->incoming_count; i++)
        close(loop->incoming[i].fd);
    free(loop->incoming);
    while (loop->free_tasks != NULL)
    {
        PdHttpTask *task = loop->free_tasks;
        loop->free_tasks = task->next;
        task_free(task);
    }
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

void
pd_http_loops_stop(struct PdHttpServer *server)
{
    /* Every loop halted and its connections given back before any loop is freed: a release may wake a
     * task of another loop still queued in the pool (a drain cut short), which must find its loop there. */
    for (int i = 0; i < server->loop_count; i++)
        loop_let_go(server->loops[i]);
    for (int i = 0; i < server->loop_count; i++)
        loop_close(server->loops[i]);
    free(server->loops);
    server->loops = NULL;
    server->loop_count = 0;
}

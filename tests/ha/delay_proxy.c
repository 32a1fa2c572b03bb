/*
 * delay_proxy.c - latency for fault tests, where the kernel has no netem: a TCP proxy that forwards every
 * connection it accepts to one target and holds each chunk of bytes, in each direction, for a fixed delay
 * before passing it on, so that a round trip through it costs twice the delay. It listens on ADDR:PORT
 * (inside a test's namespace when started with netns_spawn), connects to the target for each client, and
 * keeps order and content: a chunk is released only after every earlier one of its direction, never before
 * its time. The handshake itself is not delayed; data is. An end of stream is passed on once the bytes
 * before it have been; an error on either side closes both. One thread, one poll loop; SIGTERM or SIGINT
 * ends it. It judges nothing: the tests measure what goes through it.
 *
 *   delay_proxy --listen ADDR:PORT --to ADDR:PORT --delay-ms MS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 64
#define CHUNK_BYTES 16384
#define QUEUE_LIMIT (1024 * 1024) /* bytes held per direction before the proxy stops reading */

typedef struct Chunk
{
    struct Chunk *next;
    int64_t due_ms;
    size_t length;
    size_t sent;
    char data[CHUNK_BYTES];
} Chunk;

/* One direction of a link: bytes read from `from`, held, written to `to`. */
typedef struct Direction
{
    int from;
    int to;
    Chunk *head;
    Chunk *tail;
    size_t held;
    bool is_ended; /* `from` gave its end of stream */
    bool is_shut;  /* that end was passed on to `to` */
} Direction;

typedef struct Link
{
    bool is_used;
    bool is_connecting;
    Direction up;   /* client to target */
    Direction down; /* target to client */
} Link;

typedef struct Proxy
{
    int listener;
    struct sockaddr_in target;
    int64_t delay_ms;
    Link links[MAX_LINKS];
} Proxy;

static volatile sig_atomic_t stop_requested = 0;

static void
on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static int64_t
monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* "ADDR:PORT" (IPv4) into *out. */
static bool
address_parse(const char *text, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof host)
        return false;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    *out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    return *end == '\0' && port > 0 && port < 65536 && inet_pton(AF_INET, host, &out->sin_addr) == 1;
}

static void
direction_clear(Direction *direction)
{
    while (direction->head != NULL)
    {
        Chunk *next = direction->head->next;
        free(direction->head);
        direction->head = next;
    }
    *direction = (Direction){.from = -1, .to = -1};
}

static void
link_close(Link *link)
{
    if (link->up.from >= 0)
        close(link->up.from);
    if (link->up.to >= 0)
        close(link->up.to);
    direction_clear(&link->up);
    direction_clear(&link->down);
    link->is_used = false;
}

/* A new client: a non-blocking connect to the target, the link waiting for it. */
static void
proxy_accept(Proxy *proxy)
{
    int client = accept(proxy->listener, NULL, NULL);
    if (client < 0)
        return;
    Link *link = NULL;
    for (int i = 0; i < MAX_LINKS && link == NULL; i++)
        if (!proxy->links[i].is_used)
            link = &proxy->links[i];
    int server = link != NULL ? socket(AF_INET, SOCK_STREAM, 0) : -1;
    if (server < 0)
    {
        close(client);
        return;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(client, F_SETFL, O_NONBLOCK);
    fcntl(server, F_SETFL, O_NONBLOCK);
    *link = (Link){.is_used = true, .is_connecting = true};
    link->up = (Direction){.from = client, .to = server};
    link->down = (Direction){.from = server, .to = client};
    if (connect(server, (struct sockaddr *)&proxy->target, sizeof proxy->target) < 0 && errno != EINPROGRESS)
        link_close(link);
}

static void
link_connected(Link *link)
{
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(link->up.to, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0)
        link_close(link);
    else
        link->is_connecting = false;
}

/* Reads what `from` has into a new chunk due delay_ms from now. False when the link must close. */
static bool
direction_read(Direction *direction, int64_t delay_ms)
{
    Chunk *chunk = malloc(sizeof *chunk);
    if (chunk == NULL)
        return false;
    ssize_t got = read(direction->from, chunk->data, sizeof chunk->data);
    if (got <= 0)
    {
        int error = errno;
        free(chunk);
        if (got == 0)
            direction->is_ended = true;
        return got == 0 || error == EAGAIN || error == EINTR;
    }
    chunk->next = NULL;
    chunk->due_ms = monotonic_ms() + delay_ms;
    chunk->length = (size_t)got;
    chunk->sent = 0;
    if (direction->tail != NULL)
        direction->tail->next = chunk;
    else
        direction->head = chunk;
    direction->tail = chunk;
    direction->held += (size_t)got;
    return true;
}

/* Writes the chunks whose time has come, in order; passes the end of stream on once nothing is held. */
static bool
direction_write(Direction *direction, int64_t now_ms)
{
    while (direction->head != NULL && direction->head->due_ms <= now_ms)
    {
        Chunk *chunk = direction->head;
        ssize_t put = write(direction->to, chunk->data + chunk->sent, chunk->length - chunk->sent);
        if (put < 0)
            return errno == EAGAIN || errno == EINTR;
        chunk->sent += (size_t)put;
        direction->held -= (size_t)put;
        if (chunk->sent < chunk->length)
            return true;
        direction->head = chunk->next;
        if (direction->head == NULL)
            direction->tail = NULL;
        free(chunk);
    }
    if (direction->is_ended && direction->head == NULL && !direction->is_shut)
    {
        shutdown(direction->to, SHUT_WR);
        direction->is_shut = true;
    }
    return true;
}

/* What to poll a direction's two sockets for; the time its next chunk is due (or INT64_MAX). */
static int64_t
direction_events(const Direction *direction, int64_t now_ms, short *from_events, short *to_events)
{
    if (!direction->is_ended && direction->held < QUEUE_LIMIT)
        *from_events |= POLLIN;
    if (direction->head == NULL)
        return INT64_MAX;
    if (direction->head->due_ms <= now_ms)
        *to_events |= POLLOUT;
    return direction->head->due_ms;
}

/* Fills the poll set (listener first, then client and target of each link); returns the poll timeout. */
static int
proxy_poll_set(Proxy *proxy, struct pollfd *fds, int64_t now_ms)
{
    int64_t next_due = INT64_MAX;
    fds[0] = (struct pollfd){.fd = proxy->listener, .events = POLLIN};
    for (int i = 0; i < MAX_LINKS; i++)
    {
        Link *link = &proxy->links[i];
        short client = 0, server = 0;
        if (link->is_used && link->is_connecting)
            server = POLLOUT;
        else if (link->is_used)
        {
            int64_t up = direction_events(&link->up, now_ms, &client, &server);
            int64_t down = direction_events(&link->down, now_ms, &server, &client);
            next_due = up < next_due ? up : next_due;
            next_due = down < next_due ? down : next_due;
        }
        /* A socket wanted for nothing is left out: a peer's hang-up would wake poll at once, again and again.
         */
        fds[1 + 2 * i] = (struct pollfd){.fd = client != 0 ? link->up.from : -1, .events = client};
        fds[2 + 2 * i] = (struct pollfd){.fd = server != 0 ? link->up.to : -1, .events = server};
    }
    if (next_due == INT64_MAX)
        return 1000;
    return next_due <= now_ms ? 0 : (int)(next_due - now_ms);
}

/* One link after poll: connect done, reads, due writes; closed on an error or when both ways have ended. */
static void
link_step(Proxy *proxy, Link *link, const struct pollfd *client, const struct pollfd *server)
{
    if (link->is_connecting)
    {
        if (server->revents != 0)
            link_connected(link);
        return;
    }
    bool is_fine = true;
    if (!link->up.is_ended && (client->revents & (POLLIN | POLLHUP | POLLERR)))
        is_fine &= direction_read(&link->up, proxy->delay_ms);
    if (!link->down.is_ended && (server->revents & (POLLIN | POLLHUP | POLLERR)))
        is_fine &= direction_read(&link->down, proxy->delay_ms);
    int64_t now_ms = monotonic_ms();
    is_fine = is_fine && direction_write(&link->up, now_ms) && direction_write(&link->down, now_ms);
    if (!is_fine || (link->up.is_shut && link->down.is_shut))
        link_close(link);
}

static void
proxy_run(Proxy *proxy)
{
    struct pollfd fds[1 + 2 * MAX_LINKS];
    while (!stop_requested)
    {
        int timeout = proxy_poll_set(proxy, fds, monotonic_ms());
        if (poll(fds, 1 + 2 * MAX_LINKS, timeout) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN)
            proxy_accept(proxy);
        for (int i = 0; i < MAX_LINKS; i++)
            if (proxy->links[i].is_used)
                link_step(proxy, &proxy->links[i], &fds[1 + 2 * i], &fds[2 + 2 * i]);
    }
}

static int
listener_open(const struct sockaddr_in *address)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (listener < 0)
        return -1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (const struct sockaddr *)address, sizeof *address) != 0 || listen(listener, 64) != 0)
    {
        close(listener);
        return -1;
    }
    fcntl(listener, F_SETFL, O_NONBLOCK);
    return listener;
}

static const char usage[] = "usage: delay_proxy --listen ADDR:PORT --to ADDR:PORT --delay-ms MS\n";

int
main(int argc, char **argv)
{
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"to", required_argument, NULL, 't'},
                                          {"delay-ms", required_argument, NULL, 'd'},
                                          {NULL, 0, NULL, 0}};
    static Proxy proxy;
    struct sockaddr_in listen_address;
    bool has_listen = false, has_target = false;
    char *end = NULL;
    int opt;
    proxy.delay_ms = -1;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1)
    {
        if (opt == 'l')
            has_listen = address_parse(optarg, &listen_address);
        else if (opt == 't')
            has_target = address_parse(optarg, &proxy.target);
        else if (opt == 'd')
            proxy.delay_ms = strtol(optarg, &end, 10);
        if (opt == '?' || (opt == 'd' && (*end != '\0' || proxy.delay_ms < 0)))
            proxy.delay_ms = -1;
    }
    if (!has_listen || !has_target || proxy.delay_ms < 0 || optind != argc)
    {
        fputs(usage, stderr);
        return 2;
    }
    if ((proxy.listener = listener_open(&listen_address)) < 0)
    {
        fprintf(stderr, "delay_proxy: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_LINKS; i++)
        proxy.links[i] = (Link){.up = {.from = -1, .to = -1}, .down = {.from = -1, .to = -1}};
    proxy_run(&proxy);
    for (int i = 0; i < MAX_LINKS; i++)
        if (proxy.links[i].is_used)
            link_close(&proxy.links[i]);
    close(proxy.listener);
    return 0;
}

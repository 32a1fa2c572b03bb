/*
 * etcdtest.h - what the etcd client's tests share: real etcd clusters started
 * by tests/lib/etcd.sh in a temporary directory (free loopback ports, stopped
 * at the end, and by a watcher if the test dies), and two fake endpoints for
 * the failures a real etcd will not show on demand: a server answering one
 * canned HTTP reply to every request but the status (garbage, 5xx, a broken
 * body, or none at all), and a blackhole that accepts connections (the
 * kernel's backlog) and never answers.
 * When etcd cannot start, etcdtest_start says why on one "# " line and the
 * tests needing it skip.
 */
#ifndef PRODATA_TESTS_ETCDTEST_H
#define PRODATA_TESTS_ETCDTEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum
{
    ETCDTEST_MAX_MEMBERS = 3
};

typedef struct EtcdTestCluster
{
    char dir[256];
    int members;
    char urls[ETCDTEST_MAX_MEMBERS][64];
    pid_t pids[ETCDTEST_MAX_MEMBERS];
    const char *endpoints[ETCDTEST_MAX_MEMBERS]; /* urls, for PdEtcdConfig */
    bool is_running;
} EtcdTestCluster;

static inline bool
etcdtest_read_line(const char *path, char *line, size_t size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return false;
    bool is_read = fgets(line, (int)size, file) != NULL;
    fclose(file);
    line[strcspn(line, "\n")] = '\0';
    return is_read && line[0] != '\0';
}

/* Starts a cluster of `members` members (https with client certificates when is_tls, in dir/c/tls); false
 * (and one "# " line saying why) when etcd cannot start. */
static inline bool
etcdtest_start_mode(EtcdTestCluster *cluster, int members, bool is_tls)
{
    memset(cluster, 0, sizeof *cluster);
    const char *script = getenv("PRODATA_ETCD_SH") != NULL ? getenv("PRODATA_ETCD_SH") : "tests/lib/etcd.sh";
    snprintf(cluster->dir, sizeof cluster->dir, "%s/prodata-etcd.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(cluster->dir) == NULL)
        return printf("# etcd: cannot make a temporary directory\n"), false;
    char command[1024];
    snprintf(command, sizeof command, "%s start '%s/c' %d %d %s >'%s/start.log' 2>&1", script, cluster->dir,
             members, (int)getpid(), is_tls ? "tls" : "", cluster->dir);
    if (system(command) != 0)
    {
        char reason[256] = "see the log";
        char log[512];
        snprintf(log, sizeof log, "%s/start.log", cluster->dir);
        etcdtest_read_line(log, reason, sizeof reason);
        printf("# etcd could not start, the tests that need it are skipped: %s\n", reason);
        return false;
    }
    cluster->members = members;
    for (int i = 0; i < members; i++)
    {
        char path[512], pid[32];
        snprintf(path, sizeof path, "%s/c/m%d/url", cluster->dir, i + 1);
        etcdtest_read_line(path, cluster->urls[i], sizeof cluster->urls[i]);
        snprintf(path, sizeof path, "%s/c/m%d/pid", cluster->dir, i + 1);
        cluster->pids[i] = etcdtest_read_line(path, pid, sizeof pid) ? (pid_t)atoi(pid) : 0;
        cluster->endpoints[i] = cluster->urls[i];
    }
    cluster->is_running = true;
    return true;
}

/* Kills a member with SIGKILL and waits (at most 5 s) until it is gone: a member dying while it serves a
 * request is another case (the request's outcome is unknown). */
static inline bool
etcdtest_start(EtcdTestCluster *cluster, int members)
{
    return etcdtest_start_mode(cluster, members, false);
}

static inline void
etcdtest_kill_member(EtcdTestCluster *cluster, int member)
{
    pid_t pid = cluster->pids[member];
    cluster->pids[member] = 0;
    if (pid <= 0 || kill(pid, SIGKILL) != 0)
        return;
    for (int waited_ms = 0; waited_ms < 5000 && kill(pid, 0) == 0; waited_ms += 10)
        usleep(10 * 1000);
}

static inline void
etcdtest_stop(EtcdTestCluster *cluster)
{
    if (cluster->dir[0] == '\0')
        return;
    const char *script = getenv("PRODATA_ETCD_SH") != NULL ? getenv("PRODATA_ETCD_SH") : "tests/lib/etcd.sh";
    char command[1024];
    snprintf(command, sizeof command, "%s stop '%s/c'; rm -rf '%s'", script, cluster->dir, cluster->dir);
    if (system(command) != 0)
        printf("# etcd: stopping %s failed\n", cluster->dir);
    cluster->is_running = false;
    cluster->dir[0] = '\0';
}

/* One member for a whole test program, as cmocka's group setup and teardown: etcdtest_single. */
static EtcdTestCluster etcdtest_single;

static inline int
etcdtest_start_single(void **state)
{
    (void)state;
    etcdtest_start(&etcdtest_single, 1);
    return 0;
}

static inline int
etcdtest_stop_single(void **state)
{
    (void)state;
    etcdtest_stop(&etcdtest_single);
    return 0;
}

/* A listening loopback socket on a free port; its port in *port. */
static inline int
etcdtest_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0)
    {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

/* A port where nothing listens (bound once, then closed: connections are refused). */
static inline int
etcdtest_refusing_port(void)
{
    int port = 0;
    int fd = etcdtest_listen(&port);
    if (fd >= 0)
        close(fd);
    return port;
}

/*
 * A server answering every request with one canned reply, then closing the
 * connection (reply NULL: never answering, holding the connection until the
 * client gives up). The client asks an endpoint's status before its first
 * call, to learn its cluster: that request gets a status naming cluster_id
 * (0: no answer either). connections counts the connections accepted.
 */
typedef struct EtcdTestFake
{
    int fd;
    int port;
    char url[64];
    const char *reply;
    char status_reply[512];
    volatile int connections;
    volatile bool is_stopping;
    pthread_t thread;
} EtcdTestFake;

/* Reads a request's head and body (by Content-Length) into buffer, so the reply comes after the whole
 * request. */
static inline void
etcdtest_read_request(int client, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    while (used < size - 1)
    {
        struct pollfd ready = {.fd = client, .events = POLLIN};
        ssize_t n = poll(&ready, 1, 2000) == 1 ? read(client, buffer + used, size - 1 - used) : -1;
        if (n <= 0)
            return;
        used += (size_t)n;
        buffer[used] = '\0';
        char *end = strstr(buffer, "\r\n\r\n");
        const char *length = strstr(buffer, "Content-Length: ");
        if (end != NULL && (length == NULL || used >= (size_t)(end + 4 - buffer) + (size_t)atoi(length + 16)))
            return;
    }
}

/* Holds a connection without answering until the client closes it or the fake stops. */
static inline void
etcdtest_hold(EtcdTestFake *fake, int client)
{
    char byte;
    while (!fake->is_stopping)
    {
        struct pollfd ready = {.fd = client, .events = POLLIN};
        if (poll(&ready, 1, 50) == 1 && read(client, &byte, 1) <= 0)
            return;
    }
}

static inline void *
etcdtest_fake_serve(void *data)
{
    EtcdTestFake *fake = data;
    char request[8192];
    while (!fake->is_stopping)
    {
        struct pollfd ready = {.fd = fake->fd, .events = POLLIN};
        if (poll(&ready, 1, 50) != 1)
            continue;
        int client = accept(fake->fd, NULL, NULL);
        if (client < 0)
            continue;
        fake->connections++;
        etcdtest_read_request(client, request, sizeof request);
        bool is_status = strstr(request, "POST /v3/maintenance/status ") == request;
        const char *reply =
            is_status ? (fake->status_reply[0] != '\0' ? fake->status_reply : NULL) : fake->reply;
        if (reply == NULL)
            etcdtest_hold(fake, client);
        else if (write(client, reply, strlen(reply)) < 0)
            perror("fake etcd: write");
        close(client);
    }
    return NULL;
}

static inline bool
etcdtest_fake_start(EtcdTestFake *fake, const char *reply, uint64_t cluster_id)
{
    memset(fake, 0, sizeof *fake);
    fake->reply = reply;
    if (cluster_id != 0) /* else the status is never answered either */
        snprintf(fake->status_reply, sizeof fake->status_reply,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                 "{\"header\":{\"cluster_id\":\"%llu\",\"member_id\":\"2\",\"revision\":\"5\",\"raft_term\":"
                 "\"2\"},"
                 "\"version\":\"3.4.0\",\"leader\":\"2\",\"raftTerm\":\"2\"}",
                 (unsigned long long)cluster_id);
    fake->fd = etcdtest_listen(&fake->port);
    snprintf(fake->url, sizeof fake->url, "http://127.0.0.1:%d", fake->port);
    return fake->fd >= 0 && pthread_create(&fake->thread, NULL, etcdtest_fake_serve, fake) == 0;
}

static inline void
etcdtest_fake_stop(EtcdTestFake *fake)
{
    fake->is_stopping = true;
    pthread_join(fake->thread, NULL);
    close(fake->fd);
}

static inline int64_t
etcdtest_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

#endif

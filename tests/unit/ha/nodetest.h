/*
 * nodetest.h - what the node module's tests share: a temporary directory for
 * the nodes (given to the postgres account when root, as PostgreSQL refuses
 * root), free loopback ports, a node made from a member name and port, SQL
 * run on a node over its socket, and bounded polls. Each node lives under
 * DIR/<member>/{data,state}; the archive is DIR/archive.
 */
#ifndef PRODATA_TESTS_NODETEST_H
#define PRODATA_TESTS_NODETEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ha/node.h"
#include "prodata/db.h"

static char nodetest_dir[256];
static char nodetest_wal[512]; /* absolute path of prodata-wal, "" when not built */

static inline long long
nodetest_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A directory the server's account owns. */
static inline void
nodetest_mkdir(const char *path)
{
    mkdir(path, 0700);
    struct passwd *account = getpwnam("postgres");
    if (geteuid() == 0 && account != NULL && chown(path, account->pw_uid, account->pw_gid) != 0)
        fail_msg("cannot chown %s", path);
}

/* A port nobody listens on: the kernel's choice for a socket bound to port 0. */
static inline int
nodetest_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0)
        fail_msg("no free port");
    close(fd);
    return ntohs(address.sin_port);
}

static inline bool
nodetest_setup(void)
{
    snprintf(nodetest_dir, sizeof nodetest_dir, "%s/prodata-node.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(nodetest_dir) == NULL)
        return false;
    nodetest_mkdir(nodetest_dir);
    char path[400];
    snprintf(path, sizeof path, "%s/archive", nodetest_dir);
    nodetest_mkdir(path);
    const char *build = getenv("PRODATA_BUILD") != NULL ? getenv("PRODATA_BUILD") : "build";
    snprintf(path, sizeof path, "%s/prodata-wal", build);
    if (realpath(path, nodetest_wal) == NULL || access(nodetest_wal, X_OK) != 0)
        nodetest_wal[0] = '\0';
    return true;
}

/* A node's configuration: member under nodetest_dir, loopback, fsync off for speed, the archive when
 * prodata-wal is built. Strings live in static buffers per member slot. */
typedef struct NodeTestPaths
{
    char data[400], state[400], archive[400];
} NodeTestPaths;

static inline PdNodeConfig
nodetest_config(NodeTestPaths *paths, const char *member, int port)
{
    static const char *const peers[] = {"127.0.0.1"};
    static const PdNodeSetting settings[] = {{"fsync", "off"},
                                             {"shared_buffers", "16MB"},
                                             {"max_connections", "20"},
                                             {"log_min_messages", "warning"}};
    char dir[300];
    snprintf(dir, sizeof dir, "%.200s/%.40s", nodetest_dir, member);
    nodetest_mkdir(dir);
    snprintf(paths->data, sizeof paths->data, "%s/data", dir);
    snprintf(paths->state, sizeof paths->state, "%s/state", dir);
    snprintf(paths->archive, sizeof paths->archive, "%s/archive", nodetest_dir);
    return (PdNodeConfig){.member_name = member,
                          .data_dir = paths->data,
                          .state_dir = paths->state,
                          .listen_address = "127.0.0.1",
                          .port = port,
                          .replication_password = "s3cret-Pa55:word",
                          .peer_addresses = peers,
                          .peer_count = 1,
                          .archive_dir = nodetest_wal[0] != '\0' ? paths->archive : NULL,
                          .wal_command = nodetest_wal[0] != '\0' ? nodetest_wal : NULL,
                          .settings = settings,
                          .setting_count = sizeof settings / sizeof settings[0]};
}

static inline PdNode *
nodetest_node(NodeTestPaths *paths, const char *member, int port)
{
    PdNodeConfig config = nodetest_config(paths, member, port);
    PdNode *node = NULL;
    PdError err = {0};
    if (!pd_node_new(&config, &node, &err))
        fail_msg("pd_node_new(%s): %s (%s)", member, err.message, err.detail);
    return node;
}

/* The first value of the first row of sql on node, copied into value; false (and the error) on failure. */
static inline bool
nodetest_sql(PdNode *node, const char *sql, char *value, size_t size, PdError *err)
{
    PdDb *db = NULL;
    PdArena *arena = pd_arena_new(0);
    PdDbResult *result = NULL;
    bool ok = pd_db_connect(pd_node_local_conninfo(node), &db, err) &&
              pd_db_query(arena, db, sql, 0, NULL, &result, err);
    if (ok && value != NULL)
        snprintf(value, size, "%s",
                 pd_db_result_row_count(result) > 0 && pd_db_result_column_count(result) > 0
                     ? pd_db_result_value(result, 0, 0)
                     : "");
    pd_db_close(db);
    pd_arena_free(arena);
    return ok;
}

/* Runs statements, failing the test on an error. */
static inline void
nodetest_exec(PdNode *node, const char *sql)
{
    PdError err = {0};
    PdDb *db = NULL;
    bool ok = pd_db_connect(pd_node_local_conninfo(node), &db, &err) && pd_db_exec(db, sql, &err);
    pd_db_close(db);
    if (!ok)
        fail_msg("%s: %s", sql, err.message);
}

/* Polls sql on node until it answers expected, within seconds; the last answer in last. */
static inline bool
nodetest_poll(PdNode *node, const char *sql, const char *expected, int seconds, char *last, size_t size)
{
    long long deadline = nodetest_now_ms() + seconds * 1000LL;
    do
    {
        PdError err = {0};
        if (nodetest_sql(node, sql, last, size, &err) && strcmp(last, expected) == 0)
            return true;
        usleep(100 * 1000);
    } while (nodetest_now_ms() < deadline);
    return false;
}

/* The status of node, failing the test on an error. */
static inline PdNodeStatus
nodetest_status(PdArena *arena, PdNode *node)
{
    PdNodeStatus status;
    PdError err = {0};
    if (!pd_node_status(arena, node, &status, &err))
        fail_msg("status: %s (%s)", err.message, err.context);
    return status;
}

static inline bool
nodetest_file_has(const char *path, const char *part)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return false;
    static char text[1 << 20];
    size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[length] = '\0';
    return strstr(text, part) != NULL;
}

#endif

/*
 * keeper_settings.c - the keeper settings turned into what the ha module
 * runs on: the etcd client's configuration and the key layout, the checks
 * the settings table cannot express (names, paths against each other, bounds
 * against each other), and the replication password from its file or
 * variable. The password is never a setting, so `prodata config` and a log
 * line cannot show it, and no command line carries it.
 */
#include "ha/keeper_settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ha/node.h"

/* Splits the comma-separated endpoints (spaces around each trimmed) into config, or adds a problem. */
static void
split_endpoints(PdArena *arena, const char *text, PdEtcdConfig *config, PdError *problems)
{
    const char **endpoints = pd_arena_calloc(arena, PD_KEEPER_ENDPOINTS_MAX, sizeof *endpoints);
    size_t count = 0;
    const char *at = text;
    while (endpoints != NULL && *at != '\0')
    {
        size_t length = strcspn(at, ",");
        const char *start = at;
        size_t size = length;
        while (size > 0 && *start == ' ')
            start++, size--;
        while (size > 0 && start[size - 1] == ' ')
            size--;
        if (size > 0 && count < PD_KEEPER_ENDPOINTS_MAX)
            endpoints[count] = pd_arena_strndup(arena, start, size);
        count += size > 0 ? 1 : 0;
        at += length + (at[length] == ',' ? 1 : 0);
    }
    if (count == 0)
        pd_error_add_problem(problems, NULL, 0, 0, "etcd_endpoints",
                             "etcd_endpoints is empty: give every etcd member's client URL, comma-separated");
    else if (count > PD_KEEPER_ENDPOINTS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "etcd_endpoints",
                             "etcd_endpoints names %zu URLs, at most %d", count, PD_KEEPER_ENDPOINTS_MAX);
    config->endpoints = endpoints;
    config->endpoint_count = count > PD_KEEPER_ENDPOINTS_MAX ? PD_KEEPER_ENDPOINTS_MAX : count;
}

static const char *
file_or_null(const char *path)
{
    return path != NULL && path[0] != '\0' ? path : NULL;
}

static void
check_timeouts(const PdKeeperSettings *settings, PdError *problems)
{
    if (settings->etcd_attempt_timeout_ms > settings->etcd_request_timeout_ms)
        pd_error_add_problem(problems, NULL, 0, 0, "etcd_attempt_timeout_ms",
                             "etcd_attempt_timeout_ms (%d) is more than etcd_request_timeout_ms (%d)",
                             settings->etcd_attempt_timeout_ms, settings->etcd_request_timeout_ms);
    if (settings->etcd_connect_timeout_ms > settings->etcd_attempt_timeout_ms)
        pd_error_add_problem(problems, NULL, 0, 0, "etcd_connect_timeout_ms",
                             "etcd_connect_timeout_ms (%d) is more than etcd_attempt_timeout_ms (%d)",
                             settings->etcd_connect_timeout_ms, settings->etcd_attempt_timeout_ms);
    if ((file_or_null(settings->etcd_cert_file) == NULL) != (file_or_null(settings->etcd_key_file) == NULL))
        pd_error_add_problem(problems, NULL, 0, 0, "etcd_cert_file",
                             "etcd_cert_file and etcd_key_file go together: set both or neither");
}

/* A problem of pd_keys_* (a PdError of its own) added to the list. */
static void
add_error(PdError *problems, const PdError *one)
{
    pd_error_add_problem(problems, NULL, 0, 0, one->field[0] != '\0' ? one->field : NULL, "%s", one->message);
}

static bool
report(PdArena *arena, PdError *problems, PdError *err)
{
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (problems->code == PD_OK)
        return true;
    *err = *problems;
    return false;
}

bool
pd_keeper_settings_etcd(PdArena *arena, const PdKeeperSettings *settings, PdEtcdConfig *etcd_config,
                        PdKeys *keys, PdError *err)
{
    PdError problems, one;
    pd_error_clear(&problems);
    pd_error_clear(&one);
    PdEtcdConfig config = {.connect_timeout_ms = settings->etcd_connect_timeout_ms,
                           .attempt_timeout_ms = settings->etcd_attempt_timeout_ms,
                           .request_timeout_ms = settings->etcd_request_timeout_ms,
                           .ca_file = file_or_null(settings->etcd_ca_file),
                           .cert_file = file_or_null(settings->etcd_cert_file),
                           .key_file = file_or_null(settings->etcd_key_file)};
    split_endpoints(arena, settings->etcd_endpoints, &config, &problems);
    check_timeouts(settings, &problems);
    if (!pd_keys_init(keys, settings->etcd_prefix, settings->cluster_name, &one))
        add_error(&problems, &one);
    if (!report(arena, &problems, err))
        return false;
    *etcd_config = config;
    return true;
}

/* A required absolute directory: a problem naming the setting otherwise. */
static void
check_dir(const char *name, const char *path, PdError *problems)
{
    if (path == NULL || path[0] == '\0')
        pd_error_add_problem(problems, NULL, 0, 0, name, "%s is not set; the keeper needs it", name);
    else if (path[0] != '/')
        pd_error_add_problem(problems, NULL, 0, 0, name, "%s \"%.200s\" is not an absolute path", name, path);
}

/* True when inner is outer or a path below it. */
static bool
is_within(const char *inner, const char *outer)
{
    size_t length = strlen(outer);
    while (length > 1 && outer[length - 1] == '/')
        length--;
    return strncmp(inner, outer, length) == 0 && (inner[length] == '\0' || inner[length] == '/');
}

static void
check_paths(const PdKeeperSettings *settings, PdError *problems)
{
    check_dir("data_dir", settings->data_dir, problems);
    check_dir("state_dir", settings->state_dir, problems);
    if (settings->data_dir[0] == '/' && settings->state_dir[0] == '/' &&
        (is_within(settings->state_dir, settings->data_dir) ||
         is_within(settings->data_dir, settings->state_dir)))
        pd_error_add_problem(
            problems, NULL, 0, 0, "state_dir",
            "state_dir and data_dir must not be inside each other (pg_basebackup and pg_rewind "
            "copy the data directory whole)");
    if (settings->archive_dir[0] != '\0' && settings->archive_dir[0] != '/')
        pd_error_add_problem(problems, NULL, 0, 0, "archive_dir",
                             "archive_dir \"%.200s\" is not an absolute path", settings->archive_dir);
}

/* An address of the loopback interface: 127.0.0.0/8, ::1, an IPv4-mapped 127.x. */
static bool
is_loopback_sockaddr(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)address)->sin_addr.s_addr) >> 24) == 127;
    if (address->sa_family != AF_INET6)
        return false;
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)(const void *)address)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

/* Whether every address a listen address names is a loopback one (a literal, or a name such as localhost
   or a host name /etc/hosts maps to 127.0.1.1); "*" and names that do not resolve are not. */
static bool
is_loopback(const char *address)
{
    if (address[0] == '\0' || strcmp(address, "*") == 0)
        return false;
    if (strcasecmp(address, "localhost") == 0)
        return true;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    if (getaddrinfo(address, NULL, &hints, &found) != 0 || found == NULL)
        return false;
    bool is_all_loopback = true;
    for (const struct addrinfo *one = found; one != NULL && is_all_loopback; one = one->ai_next)
        is_all_loopback = is_loopback_sockaddr(one->ai_addr);
    freeaddrinfo(found);
    return is_all_loopback;
}

/* The API is how the other keepers reach this one (failsafe grants) and HAProxy checks it: published as
   http://api_listen_address:api_port, it must not be a loopback address when PostgreSQL is not on one. */
static void
check_api_address(const PdKeeperSettings *settings, PdError *problems)
{
    if (is_loopback(settings->api_listen_address) && !is_loopback(settings->pg_listen_address))
        pd_error_add_problem(problems, NULL, 0, 0, "api_listen_address",
                             "api_listen_address %.100s is a loopback address while pg_listen_address "
                             "%.100s is not: the other members could not reach this keeper's API (failsafe "
                             "grants, health checks); set it to this node's address, or * for every address",
                             settings->api_listen_address, settings->pg_listen_address);
}

bool
pd_keeper_settings_check(PdArena *arena, const PdKeeperSettings *settings, PdError *err)
{
    PdError problems, one;
    pd_error_clear(&problems);
    pd_error_clear(&one);
    PdEtcdConfig config;
    PdKeys keys;
    if (!pd_keeper_settings_etcd(arena, settings, &config, &keys, &one))
        problems = one;
    pd_error_clear(&one);
    if (!pd_keys_check_member(settings->member_name, &one))
        add_error(&problems, &one);
    check_paths(settings, &problems);
    check_api_address(settings, &problems);
    if (settings->pg_port == settings->api_port &&
        strcmp(settings->pg_listen_address, settings->api_listen_address) == 0)
        pd_error_add_problem(&problems, NULL, 0, 0, "api_port",
                             "api_port %d is PostgreSQL's port (pg_port) on the same address",
                             settings->api_port);
    if (settings->replication_password_file[0] == '\0' && settings->replication_password_env[0] == '\0')
        pd_error_add_problem(&problems, NULL, 0, 0, "replication_password_file",
                             "no replication password: set replication_password_file or "
                             "replication_password_env");
    return report(arena, &problems, err);
}

/* The file's bytes (at most 99 and a newline) into buffer; PD_ERR_IO naming the file otherwise. */
static bool
read_password_file(const char *path, char *buffer, size_t size, PdError *err)
{
    FILE *file = fopen(path, "rb");
    struct stat info;
    if (file == NULL || fstat(fileno(file), &info) != 0)
    {
        int saved = errno;
        if (file != NULL)
            fclose(file);
        pd_error_set(err, PD_ERR_IO, "could not read replication_password_file %s: %s", path,
                     strerror(saved));
        return pd_error_field(err, "replication_password_file");
    }
    if (!S_ISREG(info.st_mode) || (info.st_mode & 077) != 0)
    {
        fclose(file);
        pd_error_set(err, PD_ERR_IO, "replication_password_file %s is %s", path,
                     S_ISREG(info.st_mode) ? "readable by group or others" : "not a regular file");
        pd_error_field(err, "replication_password_file");
        return pd_error_hint(err, "chmod 600 %s (a password file is as private as ~/.pgpass).", path);
    }
    size_t length = fread(buffer, 1, size - 1, file);
    bool is_whole = feof(file) && !ferror(file);
    fclose(file);
    if (!is_whole)
    {
        pd_error_set(err, PD_ERR_IO, "replication_password_file %s is longer than a password", path);
        return pd_error_field(err, "replication_password_file");
    }
    buffer[length] = '\0';
    while (length > 0 && (buffer[length - 1] == '\n' || buffer[length - 1] == '\r'))
        buffer[--length] = '\0';
    return true;
}

bool
pd_keeper_settings_password(PdArena *arena, const PdKeeperSettings *settings, const char *env_value,
                            char **password, PdError *err)
{
    char buffer[128];
    const char *source;
    if (settings->replication_password_file[0] != '\0')
    {
        if (!read_password_file(settings->replication_password_file, buffer, sizeof buffer, err))
            return false;
        source = settings->replication_password_file;
    }
    else if (env_value != NULL && settings->replication_password_env[0] != '\0')
    {
        snprintf(buffer, sizeof buffer, "%s", env_value);
        source = settings->replication_password_env;
        if (strlen(env_value) >= sizeof buffer)
            buffer[0] = '\0'; /* too long: refused below */
    }
    else
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "no replication password: replication_password_file is not set "
                     "and the variable %s is not set",
                     settings->replication_password_env[0] != '\0' ? settings->replication_password_env
                                                                   : "(replication_password_env empty)");
        return pd_error_field(err, "replication_password_file");
    }
    bool is_valid = pd_node_password_is_valid(buffer);
    if (is_valid)
        *password = pd_arena_strdup(arena, buffer);
    memset(buffer, 0, sizeof buffer);
    if (!is_valid)
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT,
                     "the replication password in %s is not 8 to 99 printable ASCII "
                     "characters",
                     source);
        return pd_error_field(err, "replication_password_file");
    }
    return *password != NULL || pd_arena_error(arena, err);
}

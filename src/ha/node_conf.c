/*
 * node_conf.c - the files prodata manages in a data directory: postgresql.prodata.conf
 * (every parameter the keeper owns, included from the end of postgresql.conf
 * so it wins over initdb's defaults; ALTER SYSTEM still wins over it),
 * pg_hba.conf and pg_ident.conf (whole: the superuser by peer over the local
 * socket, the replication role by SCRAM from the peers, then the cluster's
 * client rules, which therefore cannot shadow them), standby.signal, and
 * the passfile in state_dir that pg_basebackup, pg_rewind and the WAL
 * receiver read the password from. pg_basebackup and pg_rewind copy these
 * files from the other node, so each clone and rewind writes them again.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ha/node_run.h"
#include "prodata/strbuf.h"

#define INCLUDE_LINE "include 'postgresql.prodata.conf'\n"

/* Appends name = 'value' with quotes doubled (values hold no control characters: checked at pd_node_new). */
static void
append_setting(PdStrbuf *buf, const char *name, const char *value)
{
    pd_strbuf_appendf(buf, "%s = '", name);
    for (const char *c = value; *c != '\0'; c++)
        pd_strbuf_append(buf, *c == '\'' ? "''" : (char[]){*c, '\0'});
    pd_strbuf_append(buf, "'\n");
}

/* What the append_ functions below write, and the files of the layout: keep in step. */
static const char *const owned_parameters[] = {
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "hot_standby",
    "hot_standby_feedback",
    "wal_log_hints",
    "cluster_name",
    "archive_mode",
    "archive_command",
    "restore_command",
    "primary_conninfo",
    "primary_slot_name",
    "recovery_target_timeline",
    "synchronous_standby_names",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "include",
    "include_dir",
    "include_if_exists",
};

bool
pd_node_owns_parameter(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof owned_parameters / sizeof owned_parameters[0]; i++)
        if (strcasecmp(owned_parameters[i], name) == 0)
            return true;
    return false;
}

static void
append_primary_settings(PdStrbuf *buf, const PdNode *node)
{
    const PdNodeConfig *config = &node->config;
    append_setting(buf, "listen_addresses", config->listen_address);
    pd_strbuf_appendf(buf, "port = %d\n", config->port);
    append_setting(buf, "unix_socket_directories", config->state_dir);
    pd_strbuf_appendf(buf, "wal_level = replica\nmax_wal_senders = %d\nmax_replication_slots = %d\n",
                      config->max_wal_senders, config->max_replication_slots);
    pd_strbuf_append(buf, "hot_standby = on\nhot_standby_feedback = on\nwal_log_hints = on\n");
    /* A standby whose WAL receiver failed (its slot still held by the walsender of the connection it just
       closed, when it joins under its own name; a primary not up yet) tries again after 1 s, not 5: a
       default the cluster's postgresql_parameters may override, written after it. */
    pd_strbuf_append(buf, "wal_retrieve_retry_interval = '1s'\n");
    append_setting(buf, "cluster_name", node->member);
    if (config->archive_dir != NULL)
    {
        pd_strbuf_append(buf, "archive_mode = on\n");
        pd_strbuf_appendf(buf, "archive_command = '%s wal-push --archive-dir %s%s%s %%p'\n",
                          config->wal_command, config->archive_dir,
                          config->archive_key_file != NULL ? " --archive-key-file " : "",
                          config->archive_key_file != NULL ? config->archive_key_file : "");
    }
    else
        pd_strbuf_append(buf, "archive_mode = off\n");
}

static void
append_standby_settings(PdStrbuf *buf, const PdNode *node, const char *host, int port)
{
    char slot[64];
    pd_node_slot_name(node->member, slot, sizeof slot, NULL);
    /* Inside a conninfo value quoted with '...', itself inside a postgresql.conf string: host is checked
     * to be an address, the passfile path holds no quote or backslash. */
    pd_strbuf_appendf(buf,
                      "primary_conninfo = 'host=%s port=%d user=%s passfile=%s application_name=%s%s "
                      "connect_timeout=2 keepalives_idle=5 keepalives_interval=2 keepalives_count=3'\n",
                      host, port, node->config.replication_user, node->passfile, node->member,
                      node->is_joining ? "-joining" : "");
    append_setting(buf, "primary_slot_name", slot);
    pd_strbuf_append(buf, "recovery_target_timeline = 'latest'\n");
    if (node->config.archive_dir != NULL)
        pd_strbuf_appendf(buf, "restore_command = '%s wal-fetch --archive-dir %s%s%s %%f %%p'\n",
                          node->config.wal_command, node->config.archive_dir,
                          node->config.archive_key_file != NULL ? " --archive-key-file " : "",
                          node->config.archive_key_file != NULL ? node->config.archive_key_file : "");
}

static bool
is_host(const char *host)
{
    if (host == NULL || host[0] == '\0' || strlen(host) > 255)
        return false;
    for (const char *c = host; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr(".:-_", *c) != NULL))
            return false;
    return true;
}

bool
pd_node_check_host(const char *host, int port, PdError *err)
{
    if (!is_host(host) || port < 1 || port > 65535)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%s:%d\" is not a host and port", host ? host : "",
                            port);
    return true;
}

static bool
write_conf(PdArena *arena, PdNode *node, const char *dir, const char *host, int port, const char *sync_names,
           PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "# Written by prodata's keeper: edits are lost. Included from postgresql.conf.\n");
    append_primary_settings(&buf, node);
    if (host != NULL)
        append_standby_settings(&buf, node, host, port);
    if (sync_names != NULL)
        append_setting(&buf, "synchronous_standby_names", sync_names);
    for (size_t i = 0; i < node->config.setting_count; i++)
        append_setting(&buf, node->config.settings[i].name, node->config.settings[i].value);
    if (pd_strbuf_failed(&buf))
        return pd_arena_error(arena, err);
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postgresql.prodata.conf", dir);
    return pd_node_write_file(node, path, pd_strbuf_text(&buf), err);
}

static bool
write_hba(PdArena *arena, PdNode *node, const char *dir, PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    const char *user = node->config.replication_user;
    pd_strbuf_append(&buf, "# Written by prodata's keeper: edits are lost.\n"
                           "local all         postgres peer map=prodata\n"
                           "local replication postgres peer map=prodata\n");
    for (size_t i = 0; i < node->config.peer_count; i++)
    {
        const char *peer = node->config.peer_addresses[i];
        const char *mask = strchr(peer, '/') != NULL ? "" : strchr(peer, ':') != NULL ? "/128" : "/32";
        pd_strbuf_appendf(&buf, "host  replication %s %s%s scram-sha-256\n", user, peer, mask);
        pd_strbuf_appendf(&buf, "host  postgres    %s %s%s scram-sha-256\n", user, peer, mask);
    }
    if (node->config.hba_line_count > 0) /* after prodata's own: the first line that matches decides */
        pd_strbuf_append(&buf, "# The cluster configuration's pg_hba:\n");
    for (size_t i = 0; i < node->config.hba_line_count; i++)
        pd_strbuf_appendf(&buf, "%s\n", node->config.hba_lines[i]);
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/pg_hba.conf", dir);
    if (pd_strbuf_failed(&buf))
        return pd_arena_error(arena, err);
    if (!pd_node_write_file(node, path, pd_strbuf_text(&buf), err))
        return false;
    /* The keeper connects over the socket as whoever runs it (root, the server's account, a test's user). */
    struct passwd *self = getpwuid(geteuid());
    char ident[512];
    snprintf(ident, sizeof ident, "# Written by prodata's keeper: edits are lost.\nprodata %s postgres\n",
             node->config.os_user);
    if (self != NULL && strcmp(self->pw_name, node->config.os_user) != 0)
        snprintf(ident + strlen(ident), sizeof ident - strlen(ident), "prodata %s postgres\n", self->pw_name);
    snprintf(path, sizeof path, "%s/pg_ident.conf", dir);
    return pd_node_write_file(node, path, ident, err);
}

bool
pd_node_write_passfile(PdNode *node, PdError *err)
{
    char line[256];
    snprintf(line, sizeof line, "*:*:*:%s:", node->config.replication_user);
    size_t length = strlen(line);
    for (const char *c = node->config.replication_password; *c != '\0' && length + 3 < sizeof line; c++)
    {
        if (*c == ':' || *c == '\\')
            line[length++] = '\\';
        line[length++] = *c;
    }
    line[length++] = '\n';
    line[length] = '\0';
    return pd_node_write_file(node, node->passfile, line, err);
}

/* postgresql.conf ends with the include of postgresql.prodata.conf (initdb's file has none; a clone's has
 * it). */
static bool
ensure_include(PdArena *arena, PdNode *node, const char *dir, PdError *err)
{
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postgresql.conf", dir);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    if (!pd_strbuf_append_file(&buf, path, err))
        return false;
    if (strstr(pd_strbuf_text(&buf), "\n" INCLUDE_LINE) != NULL)
        return true;
    pd_strbuf_append(&buf, "\n# prodata's keeper writes the parameters it manages there\n" INCLUDE_LINE);
    if (pd_strbuf_failed(&buf))
        return pd_arena_error(arena, err);
    return pd_node_write_file(node, path, pd_strbuf_text(&buf), err);
}

static bool
set_standby_signal(PdNode *node, const char *dir, bool is_standby, PdError *err)
{
    char path[PD_NODE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/standby.signal", dir);
    if (is_standby)
        return pd_node_write_file(node, path, "", err);
    if (unlink(path) != 0 && errno != ENOENT)
        return pd_error_set(err, PD_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return true;
}

bool
pd_node_configure_at(PdNode *node, const char *dir, const char *host, int port, const char *sync_names,
                     bool has_signal, PdError *err)
{
    if (host != NULL && !pd_node_check_host(host, port, err))
        return false;
    if (sync_names != NULL && strpbrk(sync_names, "\n\r") != NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "synchronous_standby_names holds a line break");
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    pd_node_remember_configure(node, host, port, sync_names, has_signal);
    bool ok = pd_node_make_dir(node, node->config.state_dir, err) && ensure_include(arena, node, dir, err) &&
              write_conf(arena, node, dir, host, port, sync_names, err) && write_hba(arena, node, dir, err) &&
              pd_node_write_passfile(node, err) && set_standby_signal(node, dir, has_signal, err);
    pd_arena_free(arena);
    return ok;
}

bool
pd_node_configure(PdNode *node, const char *host, int port, const char *sync_names, PdError *err)
{
    return pd_node_configure_at(node, node->config.data_dir, host, port, sync_names, host != NULL, err) ||
           pd_error_context(err, "while configuring %s", node->member);
}

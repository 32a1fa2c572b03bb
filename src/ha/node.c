/*
 * node.c - a node's configuration checked and copied, and the small pure
 * parts of the node module: member and slot names, LSNs, names of states.
 * Everything a PdNode holds is copied into its own arena, so the keeper may
 * free its configuration strings. Checks collect every problem at once; paths
 * are refused when they could break out of a quoted string in postgresql.conf
 * or a shell command, so later files can be written without escaping.
 */
#include <ctype.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ha/node_run.h"

static const char *const required_programs[] = {"initdb",    "pg_ctl",   "pg_basebackup",
                                                "pg_rewind", "postgres", "pg_controldata"};

static bool
is_member_name(const char *name)
{
    size_t length = name != NULL ? strlen(name) : 0;
    if (length == 0 || length > 40 || !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
        return false;
    for (size_t i = 0; i < length; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_' &&
            name[i] != '-')
            return false;
    return true;
}

/* An absolute path safe inside '...' in postgresql.conf, in a conninfo and in a shell command. */
static bool
is_safe_path(const char *path)
{
    if (path == NULL || path[0] != '/' || strlen(path) >= PD_NODE_PATH_MAX - 32)
        return false;
    for (const char *c = path; *c != '\0'; c++)
        if (*c == '\'' || *c == '\\' || *c == '%' || *c == '"' || *c == ' ' || iscntrl((unsigned char)*c))
            return false;
    return true;
}

/* An address or CIDR range for pg_hba.conf: hex digits, '.', ':', one '/'. */
static bool
is_peer_address(const char *text)
{
    if (text == NULL || text[0] == '\0' || strlen(text) > 64)
        return false;
    for (const char *c = text; *c != '\0'; c++)
        if (!isxdigit((unsigned char)*c) && *c != '.' && *c != ':' && *c != '/')
            return false;
    return strchr(text, '/') == strrchr(text, '/');
}

bool
pd_node_password_is_valid(const char *password)
{
    size_t length = password != NULL ? strlen(password) : 0;
    if (length < 8 || length > 99)
        return false;
    for (size_t i = 0; i < length; i++)
        if (password[i] < 0x20 || password[i] > 0x7e)
            return false;
    return true;
}

static void
check_paths(const PdNodeConfig *config, PdError *err)
{
    const char *const names[] = {"data_dir",    "state_dir",   "bin_dir",
                                 "archive_dir", "wal_command", "archive_key_file"};
    const char *const paths[] = {config->data_dir,    config->state_dir,   config->bin_dir,
                                 config->archive_dir, config->wal_command, config->archive_key_file};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
        if ((i < 2 || paths[i] != NULL) && !is_safe_path(paths[i]))
            pd_error_add_problem(err, NULL, 0, 0, names[i],
                                 "%s must be an absolute path without quotes, backslashes, '%%' or spaces",
                                 names[i]);
    }
    size_t data_length = config->data_dir != NULL ? strlen(config->data_dir) : 0;
    if (config->state_dir != NULL && data_length > 0 &&
        strncmp(config->state_dir, config->data_dir, data_length) == 0 &&
        (config->state_dir[data_length] == '/' || config->state_dir[data_length] == '\0'))
        pd_error_add_problem(err, NULL, 0, 0, "state_dir", "state_dir must not be inside data_dir");
}

static bool
check_config(const PdNodeConfig *config, PdError *err)
{
    if (!is_member_name(config->member_name))
        pd_error_add_problem(err, NULL, 0, 0, "member_name",
                             "member name \"%s\" must be 1-40 lower-case letters, digits, '_' or '-', "
                             "starting with a letter or digit",
                             config->member_name != NULL ? config->member_name : "");
    check_paths(config, err);
    if (config->listen_address == NULL || config->listen_address[0] == '\0' ||
        strpbrk(config->listen_address, "'\\ \n") != NULL)
        pd_error_add_problem(err, NULL, 0, 0, "listen_address", "listen_address must be an address");
    if (config->port < 1 || config->port > 65535)
        pd_error_add_problem(err, NULL, 0, 0, "port", "port must be 1-65535, not %d", config->port);
    if (config->replication_user != NULL && !is_member_name(config->replication_user))
        pd_error_add_problem(err, NULL, 0, 0, "replication_user", "replication_user must be a simple name");
    if (!pd_node_password_is_valid(config->replication_password))
        pd_error_add_problem(err, NULL, 0, 0, "replication_password",
                             "the replication password must be 8-99 printable ASCII characters");
    for (size_t i = 0; i < config->peer_count; i++)
        if (!is_peer_address(config->peer_addresses[i]))
            pd_error_add_problem(err, NULL, 0, 0, "peer_addresses", "peer address \"%s\" is not an address",
                                 config->peer_addresses[i] != NULL ? config->peer_addresses[i] : "");
    pd_node_check_managed(config->settings, config->setting_count, config->hba_lines, config->hba_line_count,
                          err);
    return err->code == PD_OK;
}

static bool
find_programs(PdNode *node, PdError *err)
{
    for (size_t i = 0; i < sizeof required_programs / sizeof required_programs[0]; i++)
    {
        char path[PD_NODE_PATH_MAX];
        pd_node_program(node, required_programs[i], path, sizeof path);
        if (access(path, X_OK) != 0)
        {
            pd_error_set(err, PD_ERR_NOT_FOUND, "PostgreSQL program %s not found", path);
            return pd_error_hint(err, "Install postgresql-15, or set bin_dir to the folder of its programs.");
        }
    }
    return true;
}

static bool
find_os_user(PdNode *node, PdError *err)
{
    node->is_root = geteuid() == 0;
    if (!node->is_root)
        return true;
    struct passwd *account = getpwnam(node->config.os_user);
    if (account == NULL)
    {
        pd_error_set(err, PD_ERR_NOT_FOUND, "account \"%s\" does not exist", node->config.os_user);
        return pd_error_hint(err, "PostgreSQL refuses to run as root: create the account, or set os_user.");
    }
    node->os_uid = account->pw_uid;
    node->os_gid = account->pw_gid;
    return true;
}

static const char *
copy_text(PdArena *arena, const char *text, const char *fallback)
{
    return text != NULL ? pd_arena_strdup(arena, text) : fallback;
}

static bool
copy_config(PdNode *node, const PdNodeConfig *config)
{
    PdArena *arena = node->arena;
    PdNodeConfig *copy = &node->config;
    *copy = *config;
    copy->member_name = copy_text(arena, config->member_name, NULL);
    copy->data_dir = copy_text(arena, config->data_dir, NULL);
    copy->state_dir = copy_text(arena, config->state_dir, NULL);
    copy->bin_dir = copy_text(arena, config->bin_dir, "/usr/lib/postgresql/15/bin");
    copy->os_user = copy_text(arena, config->os_user, "postgres");
    copy->listen_address = copy_text(arena, config->listen_address, NULL);
    copy->replication_user = copy_text(arena, config->replication_user, "replicator");
    copy->replication_password = copy_text(arena, config->replication_password, NULL);
    copy->archive_dir = copy_text(arena, config->archive_dir, NULL);
    copy->archive_key_file = copy_text(arena, config->archive_key_file, NULL);
    copy->wal_command = copy_text(arena, config->wal_command, "prodata-wal");
    copy->restore_program = copy_text(arena, config->restore_program, NULL);
    copy->clone_backup_max_age_s = config->clone_backup_max_age_s;
    copy->max_wal_senders = config->max_wal_senders > 0 ? config->max_wal_senders : 10;
    copy->max_replication_slots = config->max_replication_slots > 0 ? config->max_replication_slots : 10;
    const char **peers = pd_arena_calloc(arena, config->peer_count + 1, sizeof *peers);
    if (peers == NULL)
        return false;
    for (size_t i = 0; i < config->peer_count; i++)
        peers[i] = pd_arena_strdup(arena, config->peer_addresses[i]);
    copy->peer_addresses = peers;
    return pd_node_copy_managed(arena, copy, config->settings, config->setting_count, config->hba_lines,
                                config->hba_line_count) &&
           !pd_arena_failed(arena);
}

static void
derive_paths(PdNode *node)
{
    const char *state = node->config.state_dir;
    snprintf(node->member, sizeof node->member, "%s", node->config.member_name);
    snprintf(node->bin_dir, sizeof node->bin_dir, "%s", node->config.bin_dir);
    snprintf(node->passfile, sizeof node->passfile, "%s/pgpass", state);
    snprintf(node->log_path, sizeof node->log_path, "%s/postgres.log", state);
    snprintf(node->rewind_marker, sizeof node->rewind_marker, "%s/rewind-in-progress", state);
    snprintf(
        node->local_conninfo, sizeof node->local_conninfo,
        "host=%s port=%d user=postgres dbname=postgres connect_timeout=2 application_name=prodata-keeper",
        state, node->config.port);
}

bool
pd_node_new(const PdNodeConfig *config, PdNode **out, PdError *err)
{
    PdError problems = {0}; /* collected here: the caller's err may hold an earlier error, or be NULL */
    if (!check_config(config, &problems))
    {
        if (err != NULL)
            *err = problems;
        return pd_error_context(err, "while checking the node's configuration");
    }
    PdNode *node = calloc(1, sizeof *node);
    if (node == NULL || (node->arena = pd_arena_new(0)) == NULL)
    {
        free(node);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    }
    if (!copy_config(node, config))
    {
        pd_node_free(node);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    }
    derive_paths(node);
    node->is_joining = true;
    if (!find_programs(node, err) || !find_os_user(node, err))
    {
        pd_node_free(node);
        return false;
    }
    *out = node;
    return true;
}

void
pd_node_free(PdNode *node)
{
    if (node == NULL)
        return;
    pd_node_status_close(node);
    pd_arena_free(node->managed);
    pd_arena_free(node->arena);
    free(node);
}

bool
pd_node_slot_name(const char *member_name, char *slot, size_t size, PdError *err)
{
    if (!is_member_name(member_name))
    {
        pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%s\" is not a member name",
                     member_name ? member_name : "");
        pd_error_field(err, "member_name");
        return pd_error_detail(err, "A member name is 1-40 lower-case letters, digits, '_' or '-', starting "
                                    "with a letter or digit.");
    }
    int length = snprintf(slot, size, "prodata_%s", member_name);
    if (length < 0 || (size_t)length >= size)
        return pd_error_set(err, PD_ERR_INTERNAL, "slot name buffer too small");
    for (char *c = slot; *c != '\0'; c++)
        if (*c == '-')
            *c = '_';
    return true;
}

bool
pd_node_lsn_parse(const char *text, uint64_t *lsn)
{
    unsigned int high, low;
    int consumed = 0;
    if (text == NULL || sscanf(text, "%X/%X%n", &high, &low, &consumed) != 2 || text[consumed] != '\0')
        return false;
    *lsn = ((uint64_t)high << 32) | low;
    return true;
}

void
pd_node_set_joining(PdNode *node, bool is_joining)
{
    node->is_joining = is_joining;
}

bool
pd_node_is_joining(const PdNode *node)
{
    return node->is_joining;
}

const char *
pd_node_data_dir(const PdNode *node)
{
    return node->config.data_dir;
}

const char *
pd_node_log_path(const PdNode *node)
{
    return node->log_path;
}

const char *
pd_node_passfile(const PdNode *node)
{
    return node->passfile;
}

const char *
pd_node_local_conninfo(const PdNode *node)
{
    return node->local_conninfo;
}

const char *
pd_node_run_name(PdNodeRun run)
{
    switch (run)
    {
        case PD_NODE_STOPPED:
            return "stopped";
        case PD_NODE_STARTING:
            return "starting";
        case PD_NODE_READY:
            return "ready";
        case PD_NODE_STOPPING:
            return "stopping";
        case PD_NODE_CRASHED:
            return "crashed";
    }
    return "unknown";
}

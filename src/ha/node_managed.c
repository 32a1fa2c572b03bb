/*
 * node_managed.c - the part of a node's configuration that changes while it
 * runs: the cluster-wide settings and client rules (pg_hba.conf lines) the
 * keeper takes from the cluster configuration. pd_node_update replaces them
 * in memory of their own (one arena, freed at the next replacement, so a
 * keeper that applies a thousand changes holds only the last) and writes
 * the managed files again with what the last configuration was written
 * with (role, primary, synchronous_standby_names), remembered by
 * pd_node_configure_at. The reload that makes them effective is the
 * caller's (pd_node_reload).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ha/node_run.h"

static bool
is_setting(const PdNodeSetting *setting)
{
    if (setting->name == NULL || setting->name[0] == '\0' || setting->value == NULL)
        return false;
    for (const char *c = setting->name; *c != '\0'; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_' && *c != '.')
            return false;
    for (const char *c = setting->value; *c != '\0'; c++)
        if (iscntrl((unsigned char)*c))
            return false;
    return true;
}

/* One pg_hba.conf line: not empty, no control character (a line break would start a rule of its own). */
static bool
is_hba_line(const char *line)
{
    if (line == NULL || line[0] == '\0' || strlen(line) > PD_NODE_HBA_LINE_MAX)
        return false;
    for (const unsigned char *c = (const unsigned char *)line; *c != '\0'; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

void
pd_node_check_managed(const PdNodeSetting *settings, size_t setting_count, const char *const *hba_lines,
                      size_t hba_line_count, PdError *problems)
{
    if (setting_count > PD_NODE_SETTINGS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "settings", "%zu settings, at most %d", setting_count,
                             PD_NODE_SETTINGS_MAX);
    for (size_t i = 0; i < setting_count && i < PD_NODE_SETTINGS_MAX; i++)
        if (!is_setting(&settings[i]))
            pd_error_add_problem(problems, NULL, 0, 0, "settings", "setting %zu is not name = value", i + 1);
    if (hba_line_count > PD_NODE_HBA_LINES_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "hba_lines", "%zu client rules, at most %d",
                             hba_line_count, PD_NODE_HBA_LINES_MAX);
    for (size_t i = 0; i < hba_line_count && i < PD_NODE_HBA_LINES_MAX; i++)
        if (!is_hba_line(hba_lines[i]))
            pd_error_add_problem(
                problems, NULL, 0, 0, "hba_lines",
                "client rule %zu is empty, longer than %d bytes or holds a control character", i + 1,
                PD_NODE_HBA_LINE_MAX);
}

bool
pd_node_copy_managed(PdArena *arena, PdNodeConfig *config, const PdNodeSetting *settings,
                     size_t setting_count, const char *const *hba_lines, size_t hba_line_count)
{
    PdNodeSetting *copied = pd_arena_calloc(arena, setting_count + 1, sizeof *copied);
    const char **lines = pd_arena_calloc(arena, hba_line_count + 1, sizeof *lines);
    if (copied == NULL || lines == NULL)
        return false;
    for (size_t i = 0; i < setting_count; i++)
        copied[i] = (PdNodeSetting){pd_arena_strdup(arena, settings[i].name),
                                    pd_arena_strdup(arena, settings[i].value)};
    for (size_t i = 0; i < hba_line_count; i++)
        lines[i] = pd_arena_strdup(arena, hba_lines[i]);
    if (pd_arena_failed(arena))
        return false;
    config->settings = copied;
    config->setting_count = setting_count;
    config->hba_lines = lines;
    config->hba_line_count = hba_line_count;
    return true;
}

void
pd_node_remember_configure(PdNode *node, const char *host, int port, const char *sync_names, bool has_signal)
{
    node->last.is_known = (host == NULL || strlen(host) < sizeof node->last.host) &&
                          (sync_names == NULL || strlen(sync_names) < sizeof node->last.sync_names);
    snprintf(node->last.host, sizeof node->last.host, "%s", host != NULL ? host : "");
    node->last.port = port;
    node->last.has_sync = sync_names != NULL;
    snprintf(node->last.sync_names, sizeof node->last.sync_names, "%s", sync_names != NULL ? sync_names : "");
    node->last.has_signal = has_signal;
}

bool
pd_node_update(PdNode *node, const PdNodeSetting *settings, size_t setting_count,
               const char *const *hba_lines, size_t hba_line_count, bool *is_written, PdError *err)
{
    if (is_written != NULL)
        *is_written = false;
    PdError problems = {0};
    pd_node_check_managed(settings, setting_count, hba_lines, hba_line_count, &problems);
    if (problems.code != PD_OK)
    {
        *err = problems;
        return pd_error_context(err, "while replacing the settings of %s", node->member);
    }
    PdArena *arena = pd_arena_new(0);
    PdNodeConfig config = node->config;
    if (arena == NULL ||
        !pd_node_copy_managed(arena, &config, settings, setting_count, hba_lines, hba_line_count))
    {
        pd_arena_free(arena);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the settings of %s", node->member);
    }
    node->config = config;
    pd_arena_free(node->managed); /* the previous replacement's; the first ones live in node->arena */
    node->managed = arena;
    if (!node->last.is_known)
        return true;
    const char *host = node->last.host[0] != '\0' ? node->last.host : NULL;
    if (!pd_node_configure_at(node, node->config.data_dir, host, node->last.port,
                              node->last.has_sync ? node->last.sync_names : NULL, node->last.has_signal, err))
        return pd_error_context(err, "while writing the new settings of %s", node->member);
    if (is_written != NULL)
        *is_written = true;
    return true;
}

bool
pd_node_holds(const PdNode *node, const PdNodeSetting *settings, size_t setting_count,
              const char *const *hba_lines, size_t hba_line_count)
{
    const PdNodeConfig *config = &node->config;
    if (config->setting_count != setting_count || config->hba_line_count != hba_line_count)
        return false;
    for (size_t i = 0; i < setting_count; i++)
        if (strcmp(config->settings[i].name, settings[i].name) != 0 ||
            strcmp(config->settings[i].value, settings[i].value) != 0)
            return false;
    for (size_t i = 0; i < hba_line_count; i++)
        if (strcmp(config->hba_lines[i], hba_lines[i]) != 0)
            return false;
    return true;
}

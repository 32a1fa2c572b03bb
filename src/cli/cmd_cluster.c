/*
 * cmd_cluster.c - `prodata cluster`'s dispatcher, and its commands on the
 * cluster-wide configuration in etcd (src/ha/cluster_config.h), found through
 * the keeper settings' etcd rows: `config` (show, as a table or --json),
 * `config set FIELD=VALUE ...`, and `pause` / `resume` (its "paused" field).
 * A change is a compare-and-swap, started over from a newer document when
 * another change came between (or refused with --if-revision); an etcd that
 * gives no answer to trust exits 4, saying the change may or may not have
 * been applied. status, history and remove are cmd_cluster_status.c's,
 * switchover and failover cmd_cluster_switchover.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cluster.h"
#include "ha/ha.h"

bool
pd_cli_cluster_open(PdArena *arena, const CliArgs *args, PdEtcd **etcd, PdKeys *keys, PdError *err)
{
    PdKeeperSettings settings;
    PdSettings loaded;
    PdEtcdConfig config;
    if (!cli_load_settings(arena, args, &pd_settings_keeper, &settings, &loaded, err))
        return false;
    cli_log_to_stderr((PdLogLevel)settings.log_level);
    return pd_keeper_settings_etcd(arena, &settings, &config, keys, err) && pd_etcd_open(&config, etcd, err);
}

static void
print_row(const char *field, const char *value, const char *fallback)
{
    printf("%-40s %-12s %s\n", field, value, fallback);
}

static void
print_table(const PdKeys *keys, const PdClusterConfig *config, int64_t revision)
{
    if (revision == 0)
        printf("%s: not in etcd; the defaults are in effect\n\n", pd_keys_config(keys).data);
    else
        printf("%s: revision %" PRId64 "\n\n", pd_keys_config(keys).data, revision);
    PdClusterConfig defaults;
    pd_cluster_config_defaults(&defaults);
    const PdClusterConfig *column[2] = {config, &defaults};
    char text[2][11][32];
    for (int i = 0; i < 2; i++)
    {
        snprintf(text[i][0], sizeof text[i][0], "%d", column[i]->synchronous_quorum);
        snprintf(text[i][1], sizeof text[i][1], "%d", column[i]->ttl_s);
        snprintf(text[i][2], sizeof text[i][2], "%d", column[i]->loop_interval_ms);
        snprintf(text[i][3], sizeof text[i][3], "%" PRId64, column[i]->maximum_lag_on_failover_bytes);
        snprintf(text[i][4], sizeof text[i][4], "%d", column[i]->failsafe_grant_ms);
        snprintf(text[i][5], sizeof text[i][5], "%d", column[i]->failsafe_timeout_ms);
        snprintf(text[i][6], sizeof text[i][6], "%d", column[i]->backup_full_every_s);
        snprintf(text[i][7], sizeof text[i][7], "%d", column[i]->backup_incr_every_s);
        snprintf(text[i][8], sizeof text[i][8], "%d", column[i]->backup_verify_every_s);
        snprintf(text[i][9], sizeof text[i][9], "%d", column[i]->backup_retain_full);
        snprintf(text[i][10], sizeof text[i][10], "%d", column[i]->backup_retain_days);
    }
    print_row("field", "value", "default");
    print_row("synchronous_mode", config->is_synchronous ? "on" : "off",
              defaults.is_synchronous ? "on" : "off");
    print_row("synchronous_quorum", text[0][0], text[1][0]);
    print_row("ttl_s", text[0][1], text[1][1]);
    print_row("loop_interval_ms", text[0][2], text[1][2]);
    print_row("maximum_lag_on_failover_bytes", text[0][3], text[1][3]);
    print_row("paused", config->is_paused ? "true" : "false", defaults.is_paused ? "true" : "false");
    print_row("failsafe_mode", config->is_failsafe ? "true" : "false",
              defaults.is_failsafe ? "true" : "false");
    print_row("failsafe_grant_ms", text[0][4], "0 (ttl_s x 1000)");
    print_row("failsafe_timeout_ms", text[0][5], text[1][5]);
    print_row("backup_full_every_s", text[0][6], "0 (off)");
    print_row("backup_incr_every_s", text[0][7], "0 (off)");
    print_row("backup_verify_every_s", text[0][8], "0 (off)");
    print_row("backup_on", config->is_backup_on_primary ? "primary" : "standby",
              defaults.is_backup_on_primary ? "primary" : "standby");
    print_row("backup_retain_full", text[0][9], "0 (off)");
    print_row("backup_retain_days", text[0][10], "-1 (off)");
    for (size_t i = 0; i < config->parameter_count; i++)
    {
        char field[128];
        snprintf(field, sizeof field, "postgresql_parameters.%s", config->parameters[i].name);
        print_row(field, config->parameters[i].value, "");
    }
    if (config->parameter_count == 0)
        print_row("postgresql_parameters", "(none)", "(none)");
    for (size_t i = 0; i < config->pg_hba_count; i++)
    {
        char field[32];
        snprintf(field, sizeof field, "pg_hba[%zu]", i);
        printf("%-40s %s\n", field, config->pg_hba[i]);
    }
    if (config->pg_hba_count == 0)
        print_row("pg_hba", "(none)", "(none)");
}

/* {"key": ..., "mod_revision": N, "is_default": bool, "config": {...}} */
static bool
print_json(PdArena *arena, const PdKeys *keys, const PdClusterConfig *config, int64_t revision, PdError *err)
{
    char *document = pd_cluster_config_json(arena, config, false, err);
    if (document == NULL)
        return false;
    json_t *config_json = json_loads(document, 0, NULL);
    json_t *root = json_pack("{s:s, s:I, s:b, s:o}", "key", pd_keys_config(keys).data, "mod_revision",
                             (json_int_t)revision, "is_default", revision == 0, "config", config_json);
    char *text = root != NULL ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON output");
    printf("%s\n", text);
    free(text);
    return true;
}

void
pd_cli_cluster_unreachable_hint(PdError *err)
{
    pd_error_hint(err, "Nothing was written. Check etcd_endpoints (prodata config --surface keeper) and that "
                       "etcd runs.");
}

static bool
show(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, PdError *err)
{
    PdClusterConfig config;
    int64_t revision;
    PdClusterConfigOutcome outcome = pd_cluster_config_load(arena, etcd, keys, &config, &revision, err);
    if (outcome.status == PD_CLUSTER_CONFIG_UNKNOWN && err->code == PD_ERR_DCS_UNKNOWN)
        pd_cli_cluster_unreachable_hint(err);
    if (outcome.status != PD_CLUSTER_CONFIG_DONE)
        return false;
    if (cli_has_flag(args, "--json", NULL))
        return print_json(arena, keys, &config, revision, err);
    print_table(keys, &config, revision);
    return true;
}

/* --if-revision N: N >= 0 (0: only while the key is absent); -1 when not given. */
static bool
if_revision(const CliArgs *args, int64_t *revision, PdError *err)
{
    const char *text;
    *revision = -1;
    if (!cli_has_flag(args, "--if-revision", &text))
        return true;
    char *end;
    errno = 0;
    long long number = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || number < 0)
        return pd_error_set(err, PD_ERR_USAGE, "cluster config set: --if-revision \"%s\" is not a revision",
                            text);
    *revision = number;
    return true;
}

static bool
set(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, PdError *err)
{
    int64_t expected;
    if (args->positional_count < 3)
        return pd_error_set(err, PD_ERR_USAGE, "cluster config set: give at least one FIELD=VALUE");
    if (!if_revision(args, &expected, err))
        return false;
    PdClusterConfig config;
    int64_t revision;
    int attempts;
    PdClusterConfigOutcome outcome =
        pd_cluster_config_change(arena, etcd, keys, args->positional + 2, (size_t)args->positional_count - 2,
                                 expected, 0, &config, &revision, &attempts, err);
    switch (outcome.status)
    {
        case PD_CLUSTER_CONFIG_DONE:
            break;
        case PD_CLUSTER_CONFIG_UNKNOWN:
            if (err->code == PD_ERR_DCS_UNKNOWN && attempts > 0)
                pd_error_hint(err, "The outcome is unknown: run `prodata cluster config` to see whether the "
                                   "change is there, then set it again if not.");
            else if (err->code == PD_ERR_DCS_UNKNOWN)
                pd_cli_cluster_unreachable_hint(err);
            return false;
        case PD_CLUSTER_CONFIG_CONFLICT:
        case PD_CLUSTER_CONFIG_INVALID:
        case PD_CLUSTER_CONFIG_REFUSED:
            return false;
    }
    if (cli_has_flag(args, "--json", NULL))
        return print_json(arena, keys, &config, revision, err);
    char *document = pd_cluster_config_json(arena, &config, true, err);
    if (document == NULL)
        return false;
    printf("%s: revision %" PRId64 "%s\n%s", pd_keys_config(keys).data, revision,
           attempts == 0  ? " (unchanged: nothing written)"
           : attempts > 1 ? " (written after another change)"
                          : "",
           document);
    return true;
}

/* pause (is_paused) or resume: "paused=true|false" by compare-and-swap, started over on a newer document. */
static bool
pause_or_resume(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, bool is_paused,
                PdError *err)
{
    const char *assignment[] = {is_paused ? "paused=true" : "paused=false"};
    PdClusterConfig config;
    int64_t revision;
    int attempts;
    PdClusterConfigOutcome outcome =
        pd_cluster_config_change(arena, etcd, keys, assignment, 1, -1, 0, &config, &revision, &attempts, err);
    switch (outcome.status)
    {
        case PD_CLUSTER_CONFIG_DONE:
            break;
        case PD_CLUSTER_CONFIG_UNKNOWN:
            if (err->code == PD_ERR_DCS_UNKNOWN && attempts > 0)
                pd_error_hint(err,
                              "The outcome is unknown: run `prodata cluster status` to see whether the "
                              "cluster is paused, then run `prodata cluster %s` again if not.",
                              is_paused ? "pause" : "resume");
            else if (err->code == PD_ERR_DCS_UNKNOWN)
                pd_cli_cluster_unreachable_hint(err);
            return false;
        case PD_CLUSTER_CONFIG_CONFLICT:
        case PD_CLUSTER_CONFIG_INVALID:
        case PD_CLUSTER_CONFIG_REFUSED:
            return false;
    }
    if (cli_has_flag(args, "--json", NULL))
        return print_json(arena, keys, &config, revision, err);
    if (is_paused)
        printf("%s: %s (revision %" PRId64 "): the keepers take no automatic action (no failover, no "
               "restart, no rejoin) until `prodata cluster resume`\n",
               pd_keys_config(keys).data, attempts == 0 ? "already paused" : "paused", revision);
    else
        printf("%s: %s (revision %" PRId64 "): the keepers act on their own again\n",
               pd_keys_config(keys).data, attempts == 0 ? "not paused" : "resumed", revision);
    return true;
}

/* The subcommands, each with the positional arguments it takes (after its name). */
static const struct
{
    const char *name;
    int min_arguments, max_arguments;
} subcommands[] = {{"config", 0, CLI_MAX_ARGS}, {"pause", 0, 0},  {"resume", 0, 0},     {"status", 0, 0},
                   {"history", 0, 0},           {"remove", 1, 1}, {"switchover", 0, 0}, {"failover", 0, 0}};

/* --to, --timeout and --allow-data-loss go with switchover and failover only. */
static bool
check_switchover_flags(const CliArgs *args, const char *name, PdError *err)
{
    static const char *const flags[] = {"--to", "--timeout", "--allow-data-loss"};
    bool is_handover = strcmp(name, "switchover") == 0 || strcmp(name, "failover") == 0;
    for (size_t i = 0; i < 3 && !is_handover; i++)
        if (cli_has_flag(args, flags[i], NULL))
            return pd_error_set(err, PD_ERR_USAGE, "cluster %s: %s goes with switchover and failover", name,
                                flags[i]);
    return true;
}

static bool
check_usage(const CliArgs *args, PdError *err)
{
    const char *names = "config, status, history, pause, resume, remove, switchover, failover";
    if (args->positional_count < 1)
        return pd_error_set(err, PD_ERR_USAGE, "cluster: give a subcommand (%s)", names);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
    {
        if (strcmp(args->positional[0], subcommands[i].name) != 0)
            continue;
        int count = args->positional_count - 1;
        if (count < subcommands[i].min_arguments || count > subcommands[i].max_arguments)
            return pd_error_set(err, PD_ERR_USAGE, "cluster %s: %s", subcommands[i].name,
                                subcommands[i].min_arguments == 1 ? "give one member name"
                                                                  : "takes no argument");
        if (strcmp(subcommands[i].name, "config") != 0 && cli_has_flag(args, "--if-revision", NULL))
            return pd_error_set(err, PD_ERR_USAGE, "cluster %s: --if-revision goes with config set",
                                subcommands[i].name);
        return check_switchover_flags(args, subcommands[i].name, err);
    }
    return pd_error_set(err, PD_ERR_USAGE, "cluster: unknown subcommand \"%s\" (%s)", args->positional[0],
                        names);
}

static bool
run_config(PdArena *arena, const CliArgs *args, PdError *err)
{
    bool is_set = args->positional_count >= 2 && strcmp(args->positional[1], "set") == 0;
    if (args->positional_count >= 2 && !is_set)
        return pd_error_set(err, PD_ERR_USAGE,
                            "cluster config: unknown subcommand \"%s\" (show: no word; set)",
                            args->positional[1]);
    if (!is_set && cli_has_flag(args, "--if-revision", NULL))
        return pd_error_set(err, PD_ERR_USAGE, "cluster config: --if-revision goes with set");
    PdEtcd *etcd = NULL;
    PdKeys keys;
    if (!pd_cli_cluster_open(arena, args, &etcd, &keys, err))
        return false;
    bool is_done = is_set ? set(arena, args, etcd, &keys, err) : show(arena, args, etcd, &keys, err);
    pd_etcd_close(etcd);
    return is_done;
}

bool
cmd_cluster(PdArena *arena, const CliArgs *args, PdError *err)
{
    if (!check_usage(args, err))
        return false;
    const char *name = args->positional[0];
    if (strcmp(name, "config") == 0)
        return run_config(arena, args, err);
    PdEtcd *etcd = NULL;
    PdKeys keys;
    if (!pd_cli_cluster_open(arena, args, &etcd, &keys, err))
        return false;
    bool is_done;
    if (strcmp(name, "pause") == 0 || strcmp(name, "resume") == 0)
        is_done = pause_or_resume(arena, args, etcd, &keys, strcmp(name, "pause") == 0, err);
    else if (strcmp(name, "status") == 0)
        is_done = pd_cli_cluster_status(arena, args, etcd, &keys, err);
    else if (strcmp(name, "switchover") == 0 || strcmp(name, "failover") == 0)
        is_done = pd_cli_cluster_switchover(arena, args, etcd, &keys, strcmp(name, "failover") == 0, err);
    else if (strcmp(name, "history") == 0)
        is_done = pd_cli_cluster_history(arena, args, etcd, &keys, err);
    else
        is_done = pd_cli_cluster_remove(arena, args, etcd, &keys, err);
    pd_etcd_close(etcd);
    return is_done;
}

/*
 * cluster.h - what the files of `prodata cluster` share (cmd_cluster.c,
 * cmd_cluster_status.c, cmd_cluster_switchover.c): etcd and the key layout from the keeper settings,
 * the hint for an etcd that did not answer, and the subcommands the
 * dispatcher in cmd_cluster.c calls.
 */
#ifndef PRODATA_CLI_CLUSTER_H
#define PRODATA_CLI_CLUSTER_H

#include "cli.h"
#include "ha/ha.h"

/* The keeper settings (and the log handler at their log_level), their etcd client and the key layout.
 * *etcd is closed by the caller (pd_etcd_close). Errors: the settings', pd_keeper_settings_etcd's. */
bool pd_cli_cluster_open(PdArena *arena, const CliArgs *args, PdEtcd **etcd, PdKeys *keys, PdError *err);

/* The hint for PD_ERR_DCS_UNKNOWN on a read: nothing was written; check the endpoints. */
void pd_cli_cluster_unreachable_hint(PdError *err);

/* `cluster status [--json]`, `cluster history [--json]`, `cluster remove NODE` (cmd_cluster_status.c). */
bool pd_cli_cluster_status(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys,
                           PdError *err);
bool pd_cli_cluster_history(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys,
                            PdError *err);
bool pd_cli_cluster_remove(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys,
                           PdError *err);

/* `cluster switchover [--to NODE]` and `cluster failover --to NODE [--allow-data-loss]`, with --timeout
 * SECONDS and --json (cmd_cluster_switchover.c). Errors: PD_ERR_REFUSED (a check failed, or the leader
 * refused), PD_ERR_USAGE, PD_ERR_DCS_UNKNOWN (etcd silent, or not done in time: the outcome is unknown). */
bool pd_cli_cluster_switchover(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys,
                               bool is_failover, PdError *err);

#endif

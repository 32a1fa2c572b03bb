/*
 * keeper_settings.h - what the keeper and `prodata cluster` make of the
 * keeper settings (PdKeeperSettings, loaded by the settings module from
 * prodata.conf, PRODATA_* and options): the whole set checked for the keeper,
 * the etcd client's configuration, and the replication password read from
 * its file or from the value of its environment variable (the caller reads
 * the environment: this module never does).
 */
#ifndef PRODATA_HA_KEEPER_SETTINGS_H
#define PRODATA_HA_KEEPER_SETTINGS_H

#include <stdbool.h>

#include "ha/etcd.h"
#include "ha/keys.h"
#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/settings.h"

enum
{
    PD_KEEPER_ENDPOINTS_MAX = 16,
};

/*
 * Checks what `prodata cluster` needs: the etcd rows (endpoints, bounds in
 * order: connect <= attempt <= request, cert and key together), etcd_prefix
 * and cluster_name, and fills *keys and *etcd_config (endpoint strings in
 * arena). Every problem at once, each naming its setting. Errors:
 * PD_ERR_INVALID_INPUT, PD_ERR_NO_MEMORY.
 */
bool pd_keeper_settings_etcd(PdArena *arena, const PdKeeperSettings *settings, PdEtcdConfig *etcd_config,
                             PdKeys *keys, PdError *err);

/*
 * Checks everything the keeper needs beyond pd_keeper_settings_etcd's:
 * member_name (pd_keys_check_member), data_dir and state_dir set, absolute,
 * and neither inside the other, pg_port and api_port not the same port on
 * the same address, a replication password source named. Every problem at
 * once. Errors: PD_ERR_INVALID_INPUT, PD_ERR_NO_MEMORY.
 */
bool pd_keeper_settings_check(PdArena *arena, const PdKeeperSettings *settings, PdError *err);

/*
 * The replication password: replication_password_file's contents (its final
 * newline dropped) when that is set, else env_value, the value of the
 * variable replication_password_env names (NULL when unset). The file must
 * be a regular file that group and others cannot read (as ~/.pgpass). The
 * password must be 8 to 99 printable ASCII characters (what the node
 * module accepts). *password in arena. Errors name the file or the variable,
 * never the password: PD_ERR_IO, PD_ERR_INVALID_INPUT.
 */
bool pd_keeper_settings_password(PdArena *arena, const PdKeeperSettings *settings, const char *env_value,
                                 char **password, PdError *err);

#endif

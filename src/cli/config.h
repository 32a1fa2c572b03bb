/*
 * config.h - prodata's settings: one table (config.c) gives each setting's
 * name, type, default, bounds, whether it may hold a secret, and a one-line
 * description; parsing, `prodata config`, --help and docs/configuration.md
 * follow it. Precedence: default < prodata.conf < PRODATA_* environment <
 * command line. Connection settings stay libpq's (conninfo, PG*, .pgpass).
 */
#ifndef PRODATA_CLI_CONFIG_H
#define PRODATA_CLI_CONFIG_H

#include <stdbool.h>

#include "prodata/arena.h"
#include "prodata/error.h"

typedef struct PdConfig
{
    const char *models;     /* model file */
    const char *migrations; /* migrations directory */
    const char *database;   /* libpq conninfo or URI; "" uses PG* variables */
    int lock_timeout_ms;
    int lock_retries;
    int lock_wait_ms;
    const char *config_file; /* the file read, or NULL */
} PdConfig;

/* One --name=value given on the command line. */
typedef struct PdConfigOverride
{
    const char *name;
    const char *value;
} PdConfigOverride;

/*
 * Fills config: defaults, then the file (config_path, else $PRODATA_CONFIG,
 * else ./prodata.conf when it exists), then PRODATA_<NAME> variables, then
 * overrides. Relative paths in a file are relative to the file's folder.
 * Every problem is reported at once: message names the first, detail lists
 * all with file:line. A password on the command line is refused.
 */
bool pd_config_load(PdArena *arena, const char *config_path, const PdConfigOverride *overrides,
                    int override_count, PdConfig *config, PdError *err);

/* True when name is a setting (for the command-line parser). */
bool pd_config_is_setting(const char *name);

/* Writes "name = value  # description" lines for every setting, secrets masked. Arena-allocated. */
char *pd_config_describe(PdArena *arena, const PdConfig *config);

#endif

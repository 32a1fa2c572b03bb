/*
 * settings.h - settings as data. Each command surface (migrate today; serve
 * and keeper later) has one table of PdSetting rows: name, type, default,
 * unit, bounds, when a change takes effect, whether the value may hold a
 * secret, a one-line description, and where its value lives in the surface's
 * struct. One loader fills that struct in the order default < settings file
 * < PRODATA_<NAME> environment < command line and records where each value
 * came from; `prodata config`, --help and docs/configuration.md are printed
 * from the same table. The library never reads the environment by itself:
 * the caller passes it in (PdSettingsInput.environ).
 *
 * Adding a surface: a struct of its values below, one table in settings.c
 * (the shared rows, database and log_level, are one line each there), and
 * its command passes that table to pd_settings_load.
 */
#ifndef PRODATA_SETTINGS_H
#define PRODATA_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/export.h"

PD_API_BEGIN

typedef enum PdSettingType
{
    PD_SETTING_STRING,      /* const char *, as given */
    PD_SETTING_PATH,        /* const char *; relative in a file: against the file's folder */
    PD_SETTING_INT,         /* int within [min_value, max_value] */
    PD_SETTING_BOOL,        /* bool: on/off, true/false, yes/no, 1/0 */
    PD_SETTING_DURATION_MS, /* int milliseconds within bounds; "250", "250ms", "5s", "2min", "1h" */
    PD_SETTING_ENUM,        /* int: the index of the value in choices */
} PdSettingType;

/* When a changed value takes effect in a long-running process (a one-shot command reads it each run). */
typedef enum PdSettingApply
{
    PD_SETTING_RESTART, /* only at start */
    PD_SETTING_RELOAD,  /* also on reload (SIGHUP) */
} PdSettingApply;

typedef struct PdSetting
{
    const char *name; /* lower_case; option --name or --na-me, variable PRODATA_NAME */
    PdSettingType type;
    size_t offset;             /* of the value in the surface's struct */
    const char *default_value; /* as text, parsed like any other value */
    const char *unit;          /* "ms" for durations, else NULL */
    int64_t min_value;         /* INT and DURATION_MS bounds (within int) */
    int64_t max_value;
    const char *const *choices; /* ENUM: the names, NULL-terminated */
    PdSettingApply apply;
    bool may_hold_secret;    /* masked when shown, refused on the command line (see PdSecretHooks) */
    const char *placeholder; /* for --help ("FILE", "CONNINFO"); NULL: from the type */
    const char *description; /* one line, lower case, no final period */
} PdSetting;

typedef struct PdSettingTable
{
    const char *surface; /* "migrate" */
    const PdSetting *settings;
    size_t count;
} PdSettingTable;

/* Where a value came from. */
typedef enum PdSettingOrigin
{
    PD_SETTING_FROM_DEFAULT,
    PD_SETTING_FROM_FILE,
    PD_SETTING_FROM_ENVIRONMENT,
    PD_SETTING_FROM_COMMAND_LINE,
} PdSettingOrigin;

typedef struct PdSettingSource
{
    PdSettingOrigin origin;
    const char *where; /* the file's path, the variable's name or the option as typed; NULL for default */
    int line;          /* FILE: its line, else 0 */
} PdSettingSource;

/* The migrate surface: makemigrations, migrate, showmigrations, sqlmigrate, check, config. */
typedef struct PdMigrateSettings
{
    const char *models;     /* model file */
    const char *migrations; /* migrations folder */
    const char *database;   /* libpq conninfo or URI; "" uses the PG* variables */
    int lock_timeout_ms;
    int lock_retries;
    int lock_wait_ms;
    bool count_rows; /* row counters on model tables (see pd_migrate_options count_rows) */
    bool check_data; /* count rows that would fail the concurrent part before committing (check_data) */
    int log_level;   /* a PdLogLevel: debug, info, notice, warning, error */
} PdMigrateSettings;

extern const PdSettingTable pd_settings_migrate;

/* The serve surface: `prodata serve`, the REST server (docs/serve.md). */
typedef struct PdServeSettings
{
    const char *listen_address; /* host name or address to bind */
    int port;
    const char *tls_cert; /* PEM files; both or neither */
    const char *tls_key;
    int worker_threads;  /* event-loop threads answering requests; 0: one per core */
    int pool_size;       /* database connections; 0: 32, or 8 per worker thread when that is more */
    int pool_timeout_ms; /* how long a request waits for a free connection */
    int connect_timeout_ms;
    int statement_timeout_ms;
    int default_page_size;
    int max_page_size;
    int body_limit; /* bytes */
    int max_connections;
    int idle_timeout_ms; /* an idle client connection is closed after it */
    const char *jwt_secret;
    const char *jwt_secret_file; /* holds the secret (trailing newline dropped); wins over jwt_secret */
    const char *jwt_public_key;  /* PEM file */
    const char *jwt_issuer;
    const char *jwt_audience;
    const char *jwt_role_claim;
    const char *anonymous_role;
    const char *cursor_secret;
    const char *cors_origins;
    const char *rate_per_role;
    const char *rate_per_address;
    bool trust_proxy;
    const char *models;
    const char *database;
    int log_level;
    int shutdown_timeout_ms;
} PdServeSettings;

extern const PdSettingTable pd_settings_serve;

/* The archive surface: `prodata wal-push`, `wal-fetch` and `archive check` (docs/archive.md). */
typedef struct PdArchiveSettings
{
    const char *archive_dir; /* the archive directory; "" until set */
    int archive_compress;    /* 0 none, 1 zstd */
    int archive_compress_level;
    int wal_fetch_prefetch;       /* segments read ahead for recovery; 0: none */
    int backup_retain_full;       /* 0: no rule */
    int backup_retain_days;       /* -1: no rule */
    const char *archive_key_file; /* the repository's key in a file; "": none */
    const char *archive_key;      /* the key itself (a secret: never on the command line); "": none */
    const char *database;         /* for archive check's backlog; "" uses the PG* variables */
    int log_level;
} PdArchiveSettings;

extern const PdSettingTable pd_settings_archive;

/*
 * The keeper surface: `prodata keeper` (one per node) and `prodata cluster`,
 * which reads only the etcd rows to find the cluster (docs/ha.md). The
 * cluster-wide settings (TTL, loop, synchronous mode, parameters) are not
 * here: they live in etcd, one document for every node.
 */
typedef struct PdKeeperSettings
{
    const char *member_name;     /* this node's name in the cluster: [a-z0-9_], checked by the keeper */
    const char *etcd_endpoints;  /* comma-separated client URLs */
    int etcd_connect_timeout_ms; /* PdEtcdConfig's three bounds */
    int etcd_attempt_timeout_ms;
    int etcd_request_timeout_ms;
    const char *etcd_ca_file; /* PEM files for https endpoints; "" for none */
    const char *etcd_cert_file;
    const char *etcd_key_file;
    const char *etcd_prefix;       /* root of prodata's keys in etcd */
    const char *cluster_name;      /* the cluster's keys are <etcd_prefix>/<cluster_name>/... */
    const char *data_dir;          /* PGDATA */
    const char *state_dir;         /* the keeper's own files, outside data_dir */
    const char *bin_dir;           /* PostgreSQL's programs */
    const char *pg_listen_address; /* PostgreSQL's listen_addresses */
    int pg_port;
    const char *api_listen_address; /* the keeper's HTTP API (health checks, peers) */
    int api_port;
    const char *replication_user;
    const char
        *replication_password_file; /* a file (mode 0600) holding the password; wins over the variable */
    const char *replication_password_env; /* the environment variable holding it */
    const char *archive_dir;              /* "" for no WAL archive */
    const char *archive_key_file;         /* "" for a plain repository */
    int clone_backup_max_age_ms; /* clone from the repository's newest backup when this young; 0: never */
    const char *peer_addresses;  /* addresses or CIDR ranges allowed to replicate and rewind, comma-separated;
                                    "": pg_listen_address's /24 (IPv4) or itself (IPv6) */
    int fence_margin_ms;         /* the fence deadline's margin before the lease's end (docs/ha.md) */
    int primary_start_timeout_ms; /* a crashed primary's restart in place, then the leader key given up */
    int log_level;
} PdKeeperSettings;

extern const PdSettingTable pd_settings_keeper;

/*
 * How secrets are recognised: the settings module knows no connection string
 * syntax (that is libpq's, in db), so the caller lends these. Either may be
 * NULL: then a secret setting is shown as "********" when not empty and any
 * command-line value for it is refused.
 */
typedef struct PdSecretHooks
{
    /* value with its secrets replaced, for display; arena-allocated */
    char *(*mask)(PdArena *arena, const char *value);
    /* NULL when value may be given on the command line, else why not (a static string) */
    const char *(*refuse_on_command_line)(const char *value);
} PdSecretHooks;

/* One --name=value from the command line. */
typedef struct PdSettingOverride
{
    const char *name;   /* the setting's name, '-' already turned into '_' */
    const char *option; /* as typed ("--lock-timeout-ms"), for messages and sources; NULL: "--name" */
    const char *value;
} PdSettingOverride;

typedef struct PdSettingsInput
{
    const char *file;           /* --config, or NULL: then PRODATA_CONFIG, then default_file when it exists */
    const char *default_file;   /* "prodata.conf", or NULL */
    const char *const *environ; /* "NAME=value" strings, NULL-terminated, or NULL for none */
    const PdSettingOverride *overrides;
    size_t override_count;
    const PdSecretHooks *secrets; /* or NULL */
} PdSettingsInput;

/* A loaded surface: its values and where each came from. */
typedef struct PdSettings
{
    const PdSettingTable *table;
    void *values;             /* the caller's struct, filled */
    PdSettingSource *sources; /* one per row of the table, in its order */
    const char *file;         /* the settings file read, as named, or NULL */
} PdSettings;

/*
 * Fills values (the table's struct) and settings: defaults, then the
 * settings file, then PRODATA_<NAME> variables of input->environ, then the
 * overrides. Relative paths in the file resolve against the file's folder
 * (made absolute); other relative paths stay relative to the working folder.
 * Every problem is collected, not stopped at, as err->problems
 * (pd_error_add_problem): a file's with its position and the setting as
 * field, a variable's or an option's named at the start of its text
 * ("PRODATA_X: ...", "--x: ..."); the message is the first. A
 * secret setting on the command line is refused. Values and sources live in
 * arena. Errors: PD_ERR_INVALID_INPUT (bad values or names), PD_ERR_IO (the
 * file cannot be read), PD_ERR_NO_MEMORY.
 */
bool pd_settings_load(PdArena *arena, const PdSettingTable *table, const PdSettingsInput *input, void *values,
                      PdSettings *settings, PdError *err);

/*
 * Defaults, then the text of one settings file (length bytes; NUL bytes are
 * refused). path names it in messages and base_dir resolves its relative
 * paths (NULL: as given). For tests and fuzzing; pd_settings_load reads files.
 */
bool pd_settings_parse(PdArena *arena, const PdSettingTable *table, const char *path, const char *base_dir,
                       const char *text, size_t length, void *values, PdSettings *settings, PdError *err);

/* The row named name ('-' and '_' alike), or NULL. */
const PdSetting *pd_settings_find(const PdSettingTable *table, const char *name);

/* The closest setting name to a misspelt one, or NULL when none is close. */
const char *pd_settings_suggest(const PdSettingTable *table, const char *name);

/* The closest of candidates (NULL-terminated; one of them, not a copy) to a misspelt name, by the same rule:
 * at most two edits (a swap of neighbours is one), fewer than a third of the name; '-' reads as '_' and the
 * name's case is ignored. NULL when none is close. For names that are not settings (libpq's keywords). */
const char *pd_settings_suggest_among(const char *name, const char *const *candidates);

/* An ENUM setting's choices joined by separator ("debug, info, ..."). Arena-allocated. */
char *pd_settings_choices(PdArena *arena, const PdSetting *setting, const char *separator);

/* "PRODATA_LOCK_TIMEOUT_MS" for a setting; arena-allocated. */
char *pd_settings_variable(PdArena *arena, const PdSetting *setting);

/* "--lock-timeout-ms" for lock_timeout_ms; arena-allocated. */
char *pd_settings_option(PdArena *arena, const PdSetting *setting);

/* A value as text ("5000", "\"models.pdm\"", "info"), masked when secret. Arena-allocated. */
char *pd_settings_format_value(PdArena *arena, const PdSettings *settings, size_t index,
                               const PdSecretHooks *secrets);

/* "default", "prodata.conf:3", "PRODATA_MODELS" or "--models". Arena-allocated. */
char *pd_settings_format_source(PdArena *arena, const PdSettingSource *source);

/* "name = value  # source" per setting, secrets masked: what `prodata config` prints. Arena-allocated. */
char *pd_settings_describe(PdArena *arena, const PdSettings *settings, const PdSecretHooks *secrets);

/* "  --name VALUE  description (default ...)" per setting, for --help. Arena-allocated. */
char *pd_settings_help(PdArena *arena, const PdSettingTable *table);

/* The markdown reference table (docs/configuration.md holds it verbatim). Arena-allocated. */
char *pd_settings_docs(PdArena *arena, const PdSettingTable *table);

/* The value of variable in environ_list ("NAME=value" strings, NULL-terminated; NULL: none), or NULL. */
const char *pd_settings_environ_value(const char *const *environ_list, const char *variable);

PD_API_END

#endif

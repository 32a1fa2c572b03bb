/*
 * settings.c - the settings tables of every command surface and the one
 * loader that fills a surface's struct from defaults, a settings file,
 * PRODATA_* variables and the command line, in that order, remembering where
 * each value came from. The file format is "name = value" lines with #
 * comments; values may be double-quoted. Unknown names and bad values are
 * collected, not stopped at, so one run shows every mistake with its place.
 * The environment comes from the caller (the library never calls getenv);
 * what a secret looks like inside a value (a conninfo password) is the
 * caller's too, through PdSecretHooks: core knows no libpq. A secret may
 * live in the file or the environment, never on the command line, where any
 * user of the machine can read it in the process list.
 */
#include "prodata/settings.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prodata/strbuf.h"
#include "utf8.h"

/* ---- the tables ------------------------------------------------------------------------------------ */

/* In PdLogLevel's order (log.h). */
static const char *const log_levels[] = {"debug", "info", "notice", "warning", "error", NULL};

/*
 * The rows every surface shares; its struct names the members database and
 * log_level. Unset fields are zero: no unit, no bounds, PD_SETTING_RESTART.
 */
#define DATABASE_ROW(Struct)                                                                                 \
    {                                                                                                        \
        .name = "database", .type = PD_SETTING_STRING, .offset = offsetof(Struct, database),                 \
        .default_value = "", .may_hold_secret = true, .placeholder = "CONNINFO",                             \
        .description = "libpq conninfo or URI; empty uses PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, "  \
                       "PGSERVICE and ~/.pgpass"                                                             \
    }
#define LOG_LEVEL_ROW(Struct) LOG_LEVEL_ROW_DEFAULT(Struct, "warning")
/* serve's default is info: its access log (one line per request) is written at info. */
#define LOG_LEVEL_ROW_DEFAULT(Struct, level)                                                                 \
    {                                                                                                        \
        .name = "log_level", .type = PD_SETTING_ENUM, .offset = offsetof(Struct, log_level),                 \
        .default_value = level, .choices = log_levels, .apply = PD_SETTING_RELOAD,                           \
        .description = "the least severe messages written to stderr"                                         \
    }

static const PdSetting migrate_rows[] = {
    {.name = "models",
     .type = PD_SETTING_PATH,
     .offset = offsetof(PdMigrateSettings, models),
     .default_value = "models.pdm",
     .placeholder = "PATH",
     .description = "the model file, or a folder of them (its *.pdm files in name order, read as one)"},
    {.name = "migrations",
     .type = PD_SETTING_PATH,
     .offset = offsetof(PdMigrateSettings, migrations),
     .default_value = "migrations",
     .placeholder = "DIR",
     .description = "the folder of migration files"},
    DATABASE_ROW(PdMigrateSettings),
    {.name = "lock_timeout_ms",
     .type = PD_SETTING_DURATION_MS,
     .offset = offsetof(PdMigrateSettings, lock_timeout_ms),
     .default_value = "5000",
     .unit = "ms",
     .min_value = 1,
     .max_value = 600000,
     .description =
         "how long one migration step may wait for a table lock before it is rolled back and retried"},
    {.name = "lock_retries",
     .type = PD_SETTING_INT,
     .offset = offsetof(PdMigrateSettings, lock_retries),
     .default_value = "3",
     .min_value = 0,
     .max_value = 100,
     .description =
         "how often a step that hit the lock timeout is retried, with jittered exponential backoff"},
    {.name = "lock_wait_ms",
     .type = PD_SETTING_DURATION_MS,
     .offset = offsetof(PdMigrateSettings, lock_wait_ms),
     .default_value = "60000",
     .unit = "ms",
     .min_value = 1,
     .max_value = 3600000,
     .description = "how long migrate waits for another migrate on the same database to finish"},
    {.name = "count_rows",
     .type = PD_SETTING_BOOL,
     .offset = offsetof(PdMigrateSettings, count_rows),
     .default_value = "on",
     .description = "keep an exact row count of every model table (prodata_row_counts, kept by triggers in "
                    "each writing transaction) so list pages count for free; off removes the triggers and "
                    "the table"},
    {.name = "check_data",
     .type = PD_SETTING_BOOL,
     .offset = offsetof(PdMigrateSettings, check_data),
     .default_value = "on",
     .description = "before committing a migration whose concurrent part validates a constraint or builds a "
                    "unique index, count the rows that would fail it (one scan) and refuse with them; off "
                    "leaves that to the concurrent part (data-breaking statements in the transaction are "
                    "explained either way)"},
    LOG_LEVEL_ROW(PdMigrateSettings),
};

const PdSettingTable pd_settings_migrate = {"migrate", migrate_rows,
                                            sizeof(migrate_rows) / sizeof(migrate_rows[0])};

#define SERVE_INT(field, def, low, high, text)                                                               \
    {                                                                                                        \
        .name = #field, .type = PD_SETTING_INT, .offset = offsetof(PdServeSettings, field),                  \
        .default_value = def, .min_value = low, .max_value = high, .description = text                       \
    }
#define SERVE_MS(field, def, low, high, when, text)                                                          \
    {                                                                                                        \
        .name = #field, .type = PD_SETTING_DURATION_MS, .offset = offsetof(PdServeSettings, field),          \
        .default_value = def, .unit = "ms", .min_value = low, .max_value = high, .apply = when,              \
        .description = text                                                                                  \
    }
#define SERVE_TEXT(field, kind, def, secret, holder, text)                                                   \
    {                                                                                                        \
        .name = #field, .type = kind, .offset = offsetof(PdServeSettings, field), .default_value = def,      \
        .may_hold_secret = secret, .placeholder = holder, .description = text                                \
    }

static const PdSetting serve_rows[] = {
    SERVE_TEXT(listen_address, PD_SETTING_STRING, "127.0.0.1", false, "ADDRESS",
               "the address to listen on (0.0.0.0 or :: for every interface)"),
    SERVE_INT(port, "8000", 0, 65535, "the TCP port to listen on (0: any free port, named in the log)"),
    SERVE_TEXT(tls_cert, PD_SETTING_PATH, "", false, "FILE",
               "PEM certificate (chain) for HTTPS; empty serves plain HTTP; needs tls_key"),
    SERVE_TEXT(tls_key, PD_SETTING_PATH, "", false, "FILE", "PEM private key of tls_cert"),
    SERVE_INT(worker_threads, "0", 0, 1024,
              "event loops (one thread each) answering requests, each keeping many statements in flight; "
              "0: half the cores (at least one), the rest left to PostgreSQL's backends; more loops than "
              "cores only add contention (a warning at start)"),
    SERVE_INT(pool_size, "0", 0, 1024,
              "database connections at most (statements in flight at once); 0: 32, or 8 per worker "
              "thread when that is more"),
    SERVE_MS(pool_timeout_ms, "5000", 1, 600000, PD_SETTING_RESTART,
             "how long a request waits for a free database connection before 503"),
    SERVE_MS(connect_timeout_ms, "2000", 100, 600000, PD_SETTING_RESTART,
             "bound on one attempt to connect to PostgreSQL"),
    SERVE_MS(statement_timeout_ms, "30000", 0, 3600000, PD_SETTING_RESTART,
             "statement_timeout of the server's connections; 0: none"),
    SERVE_INT(default_page_size, "50", 1, 100000,
              "objects per list page when the request names no page_size"),
    SERVE_INT(max_page_size, "1000", 1, 100000, "the cap on ?page_size= and ?limit= (larger values are cut)"),
    SERVE_INT(body_limit, "1048576", 1, 1073741824, "the largest request body in bytes (larger: 413)"),
    SERVE_INT(max_connections, "512", 1, 100000, "client connections open at once"),
    SERVE_MS(idle_timeout_ms, "60000", 1000, 3600000, PD_SETTING_RESTART,
             "an idle client connection is closed after this"),
    SERVE_TEXT(jwt_secret, PD_SETTING_STRING, "", true, "SECRET",
               "HS256 key of bearer tokens; empty: no HS256"),
    SERVE_TEXT(jwt_secret_file, PD_SETTING_PATH, "", false, "FILE",
               "a file holding the HS256 key (its final newline dropped); when set, it wins over jwt_secret"),
    SERVE_TEXT(jwt_public_key, PD_SETTING_PATH, "", false, "FILE",
               "PEM public key of RS256/ES256 bearer tokens; empty: none"),
    SERVE_TEXT(jwt_issuer, PD_SETTING_STRING, "", false, "ISSUER", "required iss claim; empty: not checked"),
    SERVE_TEXT(jwt_audience, PD_SETTING_STRING, "", false, "AUDIENCE",
               "required aud claim; empty: not checked"),
    SERVE_TEXT(jwt_role_claim, PD_SETTING_STRING, "role", false, "NAME",
               "the claim naming the PostgreSQL role of the request"),
    SERVE_TEXT(anonymous_role, PD_SETTING_STRING, "", false, "ROLE",
               "the PostgreSQL role of requests without a token; empty: 401 without a token"),
    SERVE_TEXT(cursor_secret, PD_SETTING_STRING, "", true, "SECRET",
               "key that signs pagination cursors; empty: a random key per start"),
    SERVE_TEXT(cors_origins, PD_SETTING_STRING, "", false, "ORIGINS",
               "origins allowed by CORS, comma-separated, or *; empty: no CORS headers"),
    SERVE_TEXT(rate_per_role, PD_SETTING_STRING, "", false, "RATES",
               "requests per role, \"100/min\", with overrides \"editor=1000/min,admin=\"; empty: unlimited"),
    SERVE_TEXT(rate_per_address, PD_SETTING_STRING, "", false, "RATE",
               "requests per client address, \"100/min\"; empty: unlimited"),
    {.name = "trust_proxy",
     .type = PD_SETTING_BOOL,
     .offset = offsetof(PdServeSettings, trust_proxy),
     .default_value = "off",
     .description = "honour X-Forwarded-For/-Proto/-Host (only behind a proxy that sets them)"},
    SERVE_TEXT(models, PD_SETTING_PATH, "models.pdm", false, "PATH",
               "the model file or folder of model files; re-read on SIGHUP and after prodata migrate"),
    DATABASE_ROW(PdServeSettings),
    LOG_LEVEL_ROW_DEFAULT(PdServeSettings, "info"),
    SERVE_MS(shutdown_timeout_ms, "10000", 0, 600000, PD_SETTING_RESTART,
             "on SIGTERM, how long requests under way may take to finish"),
};

const PdSettingTable pd_settings_serve = {"serve", serve_rows, sizeof(serve_rows) / sizeof(serve_rows[0])};

static const char *const archive_compressions[] = {"none", "zstd", NULL};

static const PdSetting archive_rows[] = {
    {.name = "archive_dir",
     .type = PD_SETTING_PATH,
     .offset = offsetof(PdArchiveSettings, archive_dir),
     .default_value = "",
     .placeholder = "DIR",
     .description = "the WAL archive directory (wal-push, wal-fetch, archive check); it must exist and be "
                    "writable by the account PostgreSQL runs as"},
    {.name = "archive_compress",
     .type = PD_SETTING_ENUM,
     .offset = offsetof(PdArchiveSettings, archive_compress),
     .default_value = "zstd",
     .choices = archive_compressions,
     .description = "how wal-push stores a file: zstd or none (wal-fetch reads either)"},
    {.name = "archive_compress_level",
     .type = PD_SETTING_INT,
     .offset = offsetof(PdArchiveSettings, archive_compress_level),
     .default_value = "1",
     .min_value = 1,
     .max_value = 19,
     .description = "zstd level of wal-push: 1 is fastest; higher levels cost CPU the archiver may lack"},
    {.name = "wal_fetch_prefetch",
     .type = PD_SETTING_INT,
     .offset = offsetof(PdArchiveSettings, wal_fetch_prefetch),
     .default_value = "8",
     .min_value = 0,
     .max_value = 64,
     .description = "wal-fetch: segments restored ahead of recovery into pg_wal/prodata-prefetch while it "
                    "replays, by a process of their own (0: none)"},
    {.name = "backup_retain_full",
     .type = PD_SETTING_INT,
     .offset = offsetof(PdArchiveSettings, backup_retain_full),
     .default_value = "0",
     .min_value = 0,
     .max_value = 1000,
     .description = "retention: keep the newest N full backups and what builds on them (0: no such rule); "
                    "backup expire's default, applied after every backup when set"},
    {.name = "backup_retain_days",
     .type = PD_SETTING_INT,
     .offset = offsetof(PdArchiveSettings, backup_retain_days),
     .default_value = "-1",
     .min_value = -1,
     .max_value = 36500,
     .description = "retention: keep what restores to any moment of the last D days (-1: no such rule); "
                    "backup expire's default, applied after every backup when set"},
    {.name = "archive_key_file",
     .type = PD_SETTING_PATH,
     .offset = offsetof(PdArchiveSettings, archive_key_file),
     .default_value = "",
     .placeholder = "FILE",
     .description =
         "encryption: a file holding the repository's key (at least 32 bytes; its final newline "
         "dropped), readable by the account PostgreSQL runs as; a repository made with a key needs "
         "it for everything, one made without refuses it"},
    {.name = "archive_key",
     .type = PD_SETTING_STRING,
     .offset = offsetof(PdArchiveSettings, archive_key),
     .default_value = "",
     .may_hold_secret = true,
     .placeholder = "KEY",
     .description = "encryption: the repository's key itself, from prodata.conf or PRODATA_ARCHIVE_KEY only "
                    "(never the command line); archive_key_file wins when both are set"},
    DATABASE_ROW(PdArchiveSettings),
    LOG_LEVEL_ROW(PdArchiveSettings),
};

const PdSettingTable pd_settings_archive = {"archive", archive_rows,
                                            sizeof(archive_rows) / sizeof(archive_rows[0])};

#define KEEPER_MS(field, def, low, high, text)                                                               \
    {                                                                                                        \
        .name = #field, .type = PD_SETTING_DURATION_MS, .offset = offsetof(PdKeeperSettings, field),         \
        .default_value = def, .unit = "ms", .min_value = low, .max_value = high, .description = text         \
    }
#define KEEPER_TEXT(field, kind, def, holder, text)                                                          \
    {                                                                                                        \
        .name = #field, .type = kind, .offset = offsetof(PdKeeperSettings, field), .default_value = def,     \
        .placeholder = holder, .description = text                                                           \
    }
#define KEEPER_PORT(field, def, text)                                                                        \
    {                                                                                                        \
        .name = #field, .type = PD_SETTING_INT, .offset = offsetof(PdKeeperSettings, field),                 \
        .default_value = def, .min_value = 1, .max_value = 65535, .description = text                        \
    }

static const PdSetting keeper_rows[] = {
    KEEPER_TEXT(member_name, PD_SETTING_STRING, "", "NAME",
                "this node's name in the cluster: 1 to 40 of a-z, 0-9 and '_' (a replication slot's "
                "characters, so no two members share a slot); required by the keeper"),
    KEEPER_TEXT(etcd_endpoints, PD_SETTING_STRING, "http://127.0.0.1:2379", "URLS",
                "etcd client URLs, comma-separated (every member's; http:// or https://)"),
    KEEPER_MS(etcd_connect_timeout_ms, "500", 1, 60000, "bound on one TCP connect to one etcd member"),
    KEEPER_MS(etcd_attempt_timeout_ms, "1000", 1, 60000,
              "bound on one etcd member's whole exchange; at most etcd_request_timeout_ms"),
    KEEPER_MS(etcd_request_timeout_ms, "2000", 1, 60000,
              "bound on one etcd call, every member it tries; past it the outcome is unknown"),
    KEEPER_TEXT(etcd_ca_file, PD_SETTING_PATH, "", "FILE",
                "PEM CA certificates etcd's certificate is checked against; empty: the system's"),
    KEEPER_TEXT(etcd_cert_file, PD_SETTING_PATH, "", "FILE",
                "PEM client certificate for etcd's --client-cert-auth; needs etcd_key_file"),
    KEEPER_TEXT(etcd_key_file, PD_SETTING_PATH, "", "FILE", "PEM private key of etcd_cert_file"),
    KEEPER_TEXT(etcd_prefix, PD_SETTING_STRING, "/prodata", "PREFIX",
                "the root of prodata's keys in etcd: '/' then segments of a-z, 0-9, '_', '-', '.'"),
    KEEPER_TEXT(cluster_name, PD_SETTING_STRING, "main", "NAME",
                "the cluster's name: its keys are <etcd_prefix>/<cluster_name>/...; a-z, 0-9, '_', '-'"),
    KEEPER_TEXT(data_dir, PD_SETTING_PATH, "", "DIR",
                "PostgreSQL's data directory (PGDATA); required by the keeper"),
    KEEPER_TEXT(state_dir, PD_SETTING_PATH, "", "DIR",
                "the keeper's own files (passfile, server log, socket, markers), outside data_dir; required "
                "by the keeper"),
    KEEPER_TEXT(bin_dir, PD_SETTING_PATH, "/usr/lib/postgresql/15/bin", "DIR", "PostgreSQL 15's programs"),
    KEEPER_TEXT(pg_listen_address, PD_SETTING_STRING, "127.0.0.1", "ADDRESS",
                "PostgreSQL's listen_addresses: the address the other nodes and clients reach it at"),
    KEEPER_PORT(pg_port, "5432", "PostgreSQL's port"),
    KEEPER_TEXT(api_listen_address, PD_SETTING_STRING, "127.0.0.1", "ADDRESS",
                "the keeper's HTTP API address (health checks: /primary, /replica; the other keepers): an "
                "address the other nodes reach, or *; loopback only while pg_listen_address is loopback too "
                "(checked at start)"),
    KEEPER_PORT(api_port, "8008", "the keeper's HTTP API port"),
    KEEPER_TEXT(replication_user, PD_SETTING_STRING, "replicator", "ROLE",
                "the role standbys replicate and rewind as"),
    KEEPER_TEXT(replication_password_file, PD_SETTING_PATH, "", "FILE",
                "a file holding the replication password (its final newline dropped; group and others may "
                "not read it); wins over replication_password_env"),
    KEEPER_TEXT(replication_password_env, PD_SETTING_STRING, "PRODATA_REPLICATION_PASSWORD", "VARIABLE",
                "the environment variable holding the replication password when no file is set (the "
                "password itself is never a setting)"),
    KEEPER_TEXT(archive_dir, PD_SETTING_PATH, "", "DIR",
                "the WAL archive directory (docs/archive.md); empty: no archiving, no restore from it"),
    KEEPER_MS(
        clone_backup_max_age_ms, "24h", 0, 604800000,
        "a new or re-cloned standby restores the repository's newest backup when it ended at most this "
        "long ago, then replays the archived WAL and streams (no full copy from the primary); else, and "
        "when the restore fails, pg_basebackup; 0: always pg_basebackup"),
    KEEPER_TEXT(archive_key_file, PD_SETTING_PATH, "", "FILE",
                "the encrypted repository's key file, given to wal-push and wal-fetch (docs/backup.md); "
                "empty: a plain repository"),
    KEEPER_TEXT(peer_addresses, PD_SETTING_STRING, "", "ADDRESSES",
                "the other nodes' addresses or CIDR ranges, comma-separated, allowed to replicate from and "
                "rewind against this node (pg_hba.conf); empty: pg_listen_address's /24 (IPv4) or the "
                "address itself (IPv6)"),
    KEEPER_MS(fence_margin_ms, "500", 50, 10000,
              "a primary stops taking writes this long before its lease can end (its last renewal's send "
              "time + TTL); covers the fence guard's wake-up and clock rate drift (docs/ha.md)"),
    KEEPER_MS(primary_start_timeout_ms, "30000", 1000, 3600000,
              "how long the leader may take to start its crashed PostgreSQL again in place (crash recovery "
              "included) before it gives up the leader key so a standby takes over (docs/ha.md)"),
    LOG_LEVEL_ROW_DEFAULT(PdKeeperSettings, "info"),
};

const PdSettingTable pd_settings_keeper = {"keeper", keeper_rows,
                                           sizeof(keeper_rows) / sizeof(keeper_rows[0])};

/* The arguments of "%.*s" for at most max bytes of text, cut between UTF-8 characters. */
#define QUOTED(text, max) (int)pd_core_utf8_prefix((text), (max)), (text)

/* ---- problems: collected, then reported at once ------------------------------------------------------ */

/* Problems go into a PdError of their own, so a run of the loader can still fail on I/O after some. */
typedef struct Problems
{
    PdError err;
} Problems;

static void problem(Problems *problems, const char *where, int line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * One problem at where: a file with line > 0 (its position), else a variable
 * or an option (named at the start of the text). field is the setting at
 * fault, or NULL.
 */
static void
problem(Problems *problems, const char *where, int line, const char *field, const char *fmt, ...)
{
    char text[sizeof(problems->err.problems[0].message)];
    va_list args;
    va_start(args, fmt);
    int needed = vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    if (needed >= (int)sizeof(text))
        text[pd_core_utf8_whole(text, sizeof(text) - 1)] = '\0'; /* cut between characters */
    if (line > 0)
        pd_error_add_problem(&problems->err, where, line, 0, field, "%s", text);
    else
        pd_error_add_problem(&problems->err, NULL, 0, 0, field, "%s: %s", where, text);
}

static bool
report_problems(PdArena *arena, Problems *problems, PdError *err)
{
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (problems->err.code == PD_OK)
        return true;
    *err = problems->err;
    return false;
}

/* ---- finding settings ------------------------------------------------------------------------------- */

/* Names compare with '-' and '_' alike. */
static bool
is_same_name(const char *name, const char *candidate, size_t length)
{
    if (strlen(name) != length)
        return false;
    for (size_t i = 0; i < length; i++)
    {
        char c = candidate[i] == '-' ? '_' : candidate[i];
        if (name[i] != c)
            return false;
    }
    return true;
}

static const PdSetting *
find_length(const PdSettingTable *table, const char *name, size_t length)
{
    for (size_t i = 0; i < table->count; i++)
        if (is_same_name(table->settings[i].name, name, length))
            return &table->settings[i];
    return NULL;
}

const PdSetting *
pd_settings_find(const PdSettingTable *table, const char *name)
{
    return find_length(table, name, strlen(name));
}

static char
name_char(const char *name, size_t i)
{
    return name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
}

/*
 * Edit distance counting an insertion, deletion, substitution or swap of two
 * neighbours as one (optimal string alignment); '-' reads as '_'. Both names
 * at most 63 characters.
 */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t a_length = strlen(a), b_length = strlen(b);
    size_t rows[3][64]; /* i - 2, i - 1, i */
    for (size_t j = 0; j <= b_length; j++)
        rows[1][j] = j;
    for (size_t i = 1; i <= a_length; i++)
    {
        size_t *row = rows[(i + 1) % 3], *above = rows[i % 3], *above2 = rows[(i + 2) % 3];
        row[0] = i;
        for (size_t j = 1; j <= b_length; j++)
        {
            size_t best = above[j - 1] + (name_char(a, i - 1) == b[j - 1] ? 0 : 1);
            if (above[j] + 1 < best)
                best = above[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (i > 1 && j > 1 && name_char(a, i - 1) == b[j - 2] && name_char(a, i - 2) == b[j - 1] &&
                above2[j - 2] + 1 < best)
                best = above2[j - 2] + 1;
            row[j] = best;
        }
    }
    return rows[(a_length + 1) % 3][b_length];
}

/* The closest of count names (name_at(list, i)) to a misspelt one, or NULL when none is close. */
static const char *
closest(const char *name, const void *list, size_t count, const char *(*name_at)(const void *, size_t))
{
    size_t length = strlen(name);
    if (length == 0 || length > 63)
        return NULL;
    const char *best = NULL;
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < count; i++)
    {
        const char *candidate = name_at(list, i);
        if (strlen(candidate) > 63)
            continue;
        size_t distance = edit_distance(name, candidate);
        if (distance < best_distance)
        {
            best = candidate;
            best_distance = distance;
        }
    }
    /* Close enough to be a typo: at most two edits, and fewer than a third of the name. */
    return best_distance <= 2 && best_distance * 3 < length ? best : NULL;
}

static const char *
row_name(const void *list, size_t i)
{
    return ((const PdSettingTable *)list)->settings[i].name;
}

static const char *
string_at(const void *list, size_t i)
{
    return ((const char *const *)list)[i];
}

const char *
pd_settings_suggest(const PdSettingTable *table, const char *name)
{
    return closest(name, table, table->count, row_name);
}

const char *
pd_settings_suggest_among(const char *name, const char *const *candidates)
{
    size_t count = 0;
    while (candidates != NULL && candidates[count] != NULL)
        count++;
    return closest(name, candidates, count, string_at);
}

char *
pd_settings_variable(PdArena *arena, const PdSetting *setting)
{
    char *variable = pd_arena_sprintf(arena, "PRODATA_%s", setting->name);
    for (char *c = variable; c != NULL && *c != '\0'; c++)
        *c = (char)toupper((unsigned char)*c);
    return variable;
}

/* ---- values ----------------------------------------------------------------------------------------- */

/* A whole number, all of text. */
static bool
parse_number(const char *text, int64_t *number, const char **rest)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || isspace((unsigned char)text[0]))
        return false;
    *number = value;
    *rest = end;
    return true;
}

/* "250", "250ms", "5s", "2min", "1h" (spaces allowed before the unit) to milliseconds. */
static bool
parse_duration_ms(const char *text, int64_t *ms)
{
    static const struct
    {
        const char *unit;
        int64_t factor;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}};
    int64_t number;
    const char *rest;
    if (!parse_number(text, &number, &rest))
        return false;
    while (*rest == ' ')
        rest++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    {
        if (strcmp(rest, units[i].unit) != 0)
            continue;
        if (number > INT64_MAX / units[i].factor || number < INT64_MIN / units[i].factor)
            return false;
        *ms = number * units[i].factor;
        return true;
    }
    return false;
}

static bool
parse_bool(const char *text, bool *value)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < 4; i++)
    {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0)
        {
            *value = strcasecmp(text, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

char *
pd_settings_choices(PdArena *arena, const PdSetting *setting, const char *separator)
{
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    for (size_t i = 0; setting->choices != NULL && setting->choices[i] != NULL; i++)
        pd_strbuf_appendf(&out, "%s%s", i ? separator : "", setting->choices[i]);
    return (char *)pd_strbuf_text(&out);
}

/* A number-like value within bounds into *field; else a problem. */
static bool
parse_bounded(const PdSetting *setting, const char *value, int *field, Problems *problems, const char *where,
              int line)
{
    int64_t number = 0;
    const char *rest = "";
    bool is_parsed = setting->type == PD_SETTING_DURATION_MS ? parse_duration_ms(value, &number)
                                                             : parse_number(value, &number, &rest) && !*rest;
    if (is_parsed && number >= setting->min_value && number <= setting->max_value)
    {
        *field = (int)number;
        return true;
    }
    if (setting->type == PD_SETTING_DURATION_MS)
        problem(problems, where, line, setting->name,
                "%s must be a duration from %" PRId64 " to %" PRId64 " ms, not \"%.*s\"", setting->name,
                setting->min_value, setting->max_value, QUOTED(value, 80));
    else
        problem(problems, where, line, setting->name,
                "%s must be a whole number from %" PRId64 " to %" PRId64 ", not \"%.*s\"", setting->name,
                setting->min_value, setting->max_value, QUOTED(value, 80));
    return false;
}

/* Parses value for setting into values; base_dir resolves a relative path (NULL: as given). */
static bool
assign(PdArena *arena, const PdSetting *setting, void *values, const char *value, const char *base_dir,
       Problems *problems, const char *where, int line)
{
    char *field = (char *)values + setting->offset;
    switch (setting->type)
    {
        case PD_SETTING_INT:
        case PD_SETTING_DURATION_MS:
            return parse_bounded(setting, value, (int *)field, problems, where, line);
        case PD_SETTING_BOOL:
            if (parse_bool(value, (bool *)field))
                return true;
            problem(problems, where, line, setting->name,
                    "%s must be on or off (true/false, yes/no, 1/0), not \"%.*s\"", setting->name,
                    QUOTED(value, 80));
            return false;
        case PD_SETTING_ENUM:
            for (int i = 0; setting->choices[i] != NULL; i++)
            {
                if (strcasecmp(value, setting->choices[i]) == 0)
                {
                    *(int *)field = i;
                    return true;
                }
            }
            problem(problems, where, line, setting->name, "%s must be one of %s, not \"%.*s\"", setting->name,
                    pd_settings_choices(arena, setting, ", "), QUOTED(value, 80));
            return false;
        case PD_SETTING_PATH:
        case PD_SETTING_STRING:
            break;
    }
    bool is_relative = setting->type == PD_SETTING_PATH && value[0] != '/' && value[0] != '\0';
    if (base_dir != NULL && is_relative)
        *(const char **)field = pd_arena_sprintf(arena, "%s/%s", base_dir, value);
    else
        *(const char **)field = pd_arena_strdup(arena, value);
    return true;
}

/* Assigns and, when the value is taken, records where it came from. */
static void
assign_from(PdArena *arena, PdSettings *settings, size_t index, const char *value, const char *base_dir,
            PdSettingSource source, Problems *problems)
{
    const PdSetting *setting = &settings->table->settings[index];
    if (assign(arena, setting, settings->values, value, base_dir, problems, source.where, source.line))
        settings->sources[index] = source;
}

static bool
start(PdArena *arena, const PdSettingTable *table, void *values, PdSettings *settings, Problems *problems)
{
    pd_error_clear(&problems->err);
    *settings = (PdSettings){.table = table, .values = values};
    settings->sources = pd_arena_calloc(arena, table->count ? table->count : 1, sizeof(PdSettingSource));
    if (settings->sources == NULL)
        return false;
    for (size_t i = 0; i < table->count; i++)
        assign_from(arena, settings, i, table->settings[i].default_value, NULL,
                    (PdSettingSource){PD_SETTING_FROM_DEFAULT, "default", 0}, problems);
    return true;
}

/* ---- the settings file ------------------------------------------------------------------------------ */

static char *
trim(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        text[--length] = '\0';
    return text;
}

/* The value part of a line: unquoted up to a #, or double-quoted; NULL after a problem. */
static char *
line_value(char *value, const char *name, const char *path, int line_number, Problems *problems)
{
    if (value[0] != '"')
    {
        char *comment = strchr(value, '#');
        if (comment != NULL)
            *comment = '\0';
        return trim(value);
    }
    char *closing = strchr(value + 1, '"');
    char *rest = closing != NULL ? trim(closing + 1) : NULL;
    if (closing == NULL || (*rest != '\0' && *rest != '#'))
    {
        problem(problems, path, line_number, name,
                closing == NULL ? "%s: unterminated quoted value"
                                : "%s: unexpected text after the quoted value",
                name);
        return NULL;
    }
    *closing = '\0';
    return value + 1;
}

/* Whether name is a setting of a surface other than table's (a settings file is shared by the commands). */
static bool
is_other_surface_setting(const PdSettingTable *table, const char *name)
{
    static const PdSettingTable *const surfaces[] = {&pd_settings_migrate, &pd_settings_serve,
                                                     &pd_settings_archive, &pd_settings_keeper};
    for (size_t i = 0; i < sizeof(surfaces) / sizeof(surfaces[0]); i++)
        if (surfaces[i] != table && find_length(surfaces[i], name, strlen(name)) != NULL)
            return true;
    return false;
}

/* One "name = value" line. */
static void
read_line(PdArena *arena, PdSettings *settings, char *line, const char *path, int line_number,
          const char *base_dir, Problems *problems)
{
    char *content = trim(line);
    if (*content == '\0' || *content == '#')
        return;
    char *equals = strchr(content, '=');
    if (equals == NULL)
    {
        /* The line is not echoed: a mistyped line may be a connection string with a password. */
        problem(problems, path, line_number, NULL, "expected \"name = value\"");
        return;
    }
    *equals = '\0';
    char *name = trim(content);
    const PdSetting *setting = find_length(settings->table, name, strlen(name));
    if (setting == NULL && is_other_surface_setting(settings->table, name))
        return; /* one prodata.conf serves every command: another command's setting is not a mistake */
    if (setting == NULL)
    {
        const char *suggestion = pd_settings_suggest(settings->table, name);
        if (suggestion != NULL)
            problem(problems, path, line_number, name, "unknown setting \"%.*s\"; did you mean \"%s\"?",
                    QUOTED(name, 64), suggestion);
        else
            problem(problems, path, line_number, name, "unknown setting \"%.*s\"", QUOTED(name, 64));
        return;
    }
    char *value = line_value(trim(equals + 1), setting->name, path, line_number, problems);
    if (value != NULL)
        assign_from(arena, settings, (size_t)(setting - settings->table->settings), value, base_dir,
                    (PdSettingSource){PD_SETTING_FROM_FILE, path, line_number}, problems);
}

static void
read_text(PdArena *arena, PdSettings *settings, const char *path, const char *base_dir, const char *text,
          size_t length, Problems *problems)
{
    int line_number = 0;
    for (size_t at = 0; at < length;)
    {
        const char *end = memchr(text + at, '\n', length - at);
        size_t line_length = end != NULL ? (size_t)(end - (text + at)) : length - at;
        line_number++;
        if (memchr(text + at, '\0', line_length) != NULL)
            problem(problems, path, line_number, NULL, "a NUL byte in the line");
        else
        {
            char *line = pd_arena_strndup(arena, text + at, line_length);
            if (line == NULL)
                return;
            read_line(arena, settings, line, path, line_number, base_dir, problems);
        }
        at += line_length + 1;
    }
}

bool
pd_settings_parse(PdArena *arena, const PdSettingTable *table, const char *path, const char *base_dir,
                  const char *text, size_t length, void *values, PdSettings *settings, PdError *err)
{
    Problems problems;
    if (!start(arena, table, values, settings, &problems))
        return pd_arena_error(arena, err);
    read_text(arena, settings, path, base_dir, text, length, &problems);
    settings->file = pd_arena_strdup(arena, path);
    return report_problems(arena, &problems, err);
}

/* The whole file into the arena; refuses what is not a regular file. */
static bool
slurp(PdArena *arena, const char *path, char **text, size_t *length, PdError *err)
{
    FILE *file = fopen(path, "rb");
    struct stat info;
    if (file != NULL && (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)))
    {
        fclose(file);
        file = NULL;
        errno = EISDIR;
    }
    if (file == NULL)
    {
        pd_error_set(err, PD_ERR_IO, "could not read settings file %s", path);
        return pd_error_detail(err, "%s.", errno == EISDIR ? "It is not a regular file" : strerror(errno));
    }
    *text = pd_arena_alloc(arena, (size_t)info.st_size + 1);
    *length = *text != NULL ? fread(*text, 1, (size_t)info.st_size, file) : 0;
    bool is_read = *text != NULL && !ferror(file);
    fclose(file);
    if (*text == NULL)
        return pd_arena_error(arena, err);
    if (!is_read)
        return pd_error_set(err, PD_ERR_IO, "could not read settings file %s", path);
    (*text)[*length] = '\0';
    return true;
}

/* The absolute folder of path, for resolving the relative paths it holds. */
static char *
absolute_folder(PdArena *arena, const char *path)
{
    char *folder = pd_arena_strdup(arena, path);
    char *slash = folder != NULL ? strrchr(folder, '/') : NULL;
    if (slash == folder && folder != NULL)
        return pd_arena_strdup(arena, "/");
    if (slash != NULL)
        *slash = '\0';
    char *resolved = realpath(slash != NULL ? folder : ".", NULL);
    if (resolved == NULL)
        return slash != NULL ? folder : NULL;
    char *copy = pd_arena_strdup(arena, resolved);
    free(resolved);
    return copy;
}

/* ---- the environment and the command line ----------------------------------------------------------- */

const char *
pd_settings_environ_value(const char *const *environ_list, const char *variable)
{
    size_t length = strlen(variable);
    for (size_t i = 0; environ_list != NULL && environ_list[i] != NULL; i++)
        if (strncmp(environ_list[i], variable, length) == 0 && environ_list[i][length] == '=')
            return environ_list[i] + length + 1;
    return NULL;
}

static void
read_environment(PdArena *arena, PdSettings *settings, const char *const *environ_list, Problems *problems)
{
    for (size_t i = 0; i < settings->table->count; i++)
    {
        char *variable = pd_settings_variable(arena, &settings->table->settings[i]);
        const char *value = variable != NULL ? pd_settings_environ_value(environ_list, variable) : NULL;
        if (value != NULL)
            assign_from(arena, settings, i, value, NULL,
                        (PdSettingSource){PD_SETTING_FROM_ENVIRONMENT, variable, 0}, problems);
    }
}

static void
read_overrides(PdArena *arena, PdSettings *settings, const PdSettingsInput *input, Problems *problems)
{
    for (size_t i = 0; i < input->override_count; i++)
    {
        const PdSettingOverride *override = &input->overrides[i];
        const char *option = override->option;
        if (option == NULL)
            option = pd_arena_sprintf(arena, "--%s", override->name);
        if (option == NULL)
            return;
        const PdSetting *setting = pd_settings_find(settings->table, override->name);
        if (setting == NULL)
        {
            problem(problems, option, 0, override->name, "unknown setting");
            continue;
        }
        if (setting->may_hold_secret)
        {
            const PdSecretHooks *hooks = input->secrets;
            const char *why = hooks != NULL && hooks->refuse_on_command_line != NULL
                                  ? hooks->refuse_on_command_line(override->value)
                                  : "it may hold a secret, which every user of the machine can read on the "
                                    "command line";
            if (why != NULL)
            {
                problem(problems, option, 0, setting->name, "%s", why);
                continue;
            }
        }
        assign_from(arena, settings, (size_t)(setting - settings->table->settings), override->value, NULL,
                    (PdSettingSource){PD_SETTING_FROM_COMMAND_LINE, option, 0}, problems);
    }
}

static bool
read_file(PdArena *arena, PdSettings *settings, const char *path, Problems *problems, PdError *err)
{
    char *text = NULL;
    size_t length = 0;
    if (!slurp(arena, path, &text, &length, err))
        return false;
    char *base_dir = absolute_folder(arena, path);
    settings->file = pd_arena_strdup(arena, path);
    read_text(arena, settings, settings->file, base_dir, text, length, problems);
    return true;
}

bool
pd_settings_load(PdArena *arena, const PdSettingTable *table, const PdSettingsInput *input, void *values,
                 PdSettings *settings, PdError *err)
{
    Problems problems;
    if (!start(arena, table, values, settings, &problems))
        return pd_arena_error(arena, err);
    const char *path = input->file;
    if (path == NULL)
        path = pd_settings_environ_value(input->environ, "PRODATA_CONFIG");
    if (path == NULL && input->default_file != NULL && access(input->default_file, F_OK) == 0)
        path = input->default_file;
    if (path != NULL && !read_file(arena, settings, path, &problems, err))
        return false;
    read_environment(arena, settings, input->environ, &problems);
    read_overrides(arena, settings, input, &problems);
    return report_problems(arena, &problems, err);
}

/*
 * backup_trial.c - `prodata backup verify --restore`: a backup proven by
 * restoring it. The newest backup (or the one named) is restored, with its
 * chain, into a scratch directory, set to recover to its consistency point
 * and promote; PostgreSQL starts on it listening on a socket in that
 * directory only (mode 0700: no other account and no network peer can reach
 * a copy of the data); then in every database that accepts connections
 * amcheck checks each B-tree index against its table (bt_index_check with
 * heapallindexed) and each table's heap (verify_heapam), and every table's
 * rows are counted. The server is stopped and the scratch directory removed
 * whatever happened, and the outcome is recorded beside the backup's
 * manifest (verify.json), which `backup info` shows. Table and index names
 * reach SQL only as regclass parameters, never as text.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backup.h"
#include "prodata/db.h"
#include "store.h"

/* The socket's port number: only a name in the private socket directory, so any number serves. */
#define TRIAL_PORT "5432"
/* How long the copy may take to become consistent and promote. */
#define TRIAL_START_S 600

/* Settings appended after the backup's own for the trial server (the last value of a name wins). */
static const char trial_settings[] = "\n# prodata backup verify --restore: a throwaway copy\n"
                                     "listen_addresses = ''\n"
                                     "port = " TRIAL_PORT "\n"
                                     "shared_preload_libraries = ''\n"
                                     "fsync = off\n"
                                     "synchronous_commit = off\n"
                                     "logging_collector = off\n"
                                     "ssl = off\n"
                                     "hot_standby = off\n";

static double
now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void
add_problem(PdArena *arena, PdBackupTrialReport *report, const char *text)
{
    const char **grown = pd_arena_grow(arena, (void *)report->problems, report->problem_count,
                                       report->problem_count + 1, sizeof(*grown));
    char *copy = grown != NULL ? pd_arena_strdup(arena, text) : NULL;
    if (copy == NULL)
        return; /* pd_arena_failed tells the caller */
    grown[report->problem_count++] = copy;
    report->problems = grown;
}

/* The files a data directory kept elsewhere (Debian's /etc/postgresql) lacks, and the trial's own access
 * rules: any role, over the private socket only. */
static bool
write_trial_files(PdArena *arena, const char *scratch, const char *data, PdError *err)
{
    char *conf = pd_archive_join(arena, data, "postgresql.conf");
    char *hba = pd_archive_join(arena, scratch, "trial_hba.conf");
    char *ident = pd_archive_join(arena, scratch, "trial_ident.conf");
    char *auto_conf = pd_archive_join(arena, data, "postgresql.auto.conf");
    char *settings =
        pd_arena_sprintf(arena, "%sunix_socket_directories = '%s'\nhba_file = '%s'\nident_file = '%s'\n",
                         trial_settings, scratch, hba, ident);
    if (conf == NULL || hba == NULL || ident == NULL || auto_conf == NULL || settings == NULL)
        return pd_arena_error(arena, err);
    if (access(conf, F_OK) != 0 && !pd_archive_write_durably(arena, data, "postgresql.conf", "", 0, err))
        return false;
    static const char rules[] = "local all all trust\n";
    if (!pd_archive_write_durably(arena, scratch, "trial_hba.conf", rules, sizeof(rules) - 1, err) ||
        !pd_archive_write_durably(arena, scratch, "trial_ident.conf", "", 0, err))
        return false;
    FILE *out = fopen(auto_conf, "a");
    if (out == NULL)
        return pd_archive_io_error(err, "open", auto_conf);
    bool ok = fputs(settings, out) >= 0;
    if (fclose(out) != 0 || !ok)
        return pd_archive_io_error(err, "write", auto_conf);
    return true;
}

static bool
pg_ctl(PdArena *arena, const PdBackupTrialOptions *options, const char *data, const char *log, bool is_start,
       PdError *err)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", TRIAL_START_S);
    const char *start[] = {"start", "-D", data, "-l", log, "-w", "-t", timeout, NULL};
    const char *stop[] = {"stop", "-D", data, "-m", "immediate", "-w", "-t", "60", NULL};
    return pd_archive_pg_ctl(arena, options->pg_bin, is_start ? start : stop, log, err);
}

/* Waits until the copy has reached its consistency point and promoted; a server that stopped meanwhile (its
 * recovery failed: postmaster.pid gone) fails at once. */
static bool
wait_promoted(PdArena *arena, const char *conninfo, const char *data, const char *log, PdError *err)
{
    char *pid_file = pd_archive_join(arena, data, "postmaster.pid");
    if (pid_file == NULL)
        return pd_arena_error(arena, err);
    for (int waited_ms = 0; waited_ms < TRIAL_START_S * 1000; waited_ms += 100)
    {
        if (access(pid_file, F_OK) != 0)
        {
            pd_error_set(err, PD_ERR_REFUSED, "the restored copy's server stopped before it was consistent");
            return pd_error_hint(err, "Its log: %s.", log);
        }
        PdDb *db = NULL;
        PdDbResult *result;
        bool is_up = pd_db_connect(conninfo, &db, err) &&
                     pd_db_query(arena, db, "SELECT pg_is_in_recovery()::text", 0, NULL, &result, err);
        bool is_promoted = is_up && strcmp(pd_db_result_value(result, 0, 0), "false") == 0;
        pd_db_close(db);
        if (is_promoted)
            return true;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    pd_error_set(err, PD_ERR_REFUSED, "the restored copy did not become consistent within %d s",
                 TRIAL_START_S);
    return pd_error_hint(err, "Its log: %s.", log);
}

/* The last lines of the trial server's log (at most 1,500 bytes), or "". */
static const char *
log_tail(PdArena *arena, const char *log)
{
    FILE *in = fopen(log, "r");
    if (in == NULL)
        return "";
    char buffer[1501];
    long size = fseek(in, 0, SEEK_END) == 0 ? ftell(in) : 0;
    (void)fseek(in, size > 1500 ? size - 1500 : 0, SEEK_SET);
    size_t got = fread(buffer, 1, sizeof(buffer) - 1, in);
    fclose(in);
    buffer[got] = '\0';
    const char *text = pd_arena_strdup(arena, buffer);
    return text != NULL ? text : "";
}

static const char indexes_sql[] =
    "SELECT c.oid::text, c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid "
    "AND i.indisready ORDER BY 2";
static const char tables_sql[] =
    "SELECT c.oid::text, c.oid::regclass::text, n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND c.relkind = 'r' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't' ORDER BY 2";
/* A table's rows, its name formatted from its regclass parameter by the server (quoted as needed). */
static const char count_sql[] =
    "SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', $1::oid::regclass), "
    "false, true, '')))[1]::text";

/* One problem of database db: "DB: WHAT: the error". */
static void
note_failure(PdArena *arena, PdBackupTrialReport *report, const char *db, const char *what, const char *why)
{
    char text[1024];
    snprintf(text, sizeof(text), "%s: %s: %s", db, what, why);
    add_problem(arena, report, text);
}

static bool
check_indexes(PdArena *arena, PdDb *db, const char *name, PdBackupTrialReport *report, PdError *err)
{
    PdDbResult *indexes, *ignored;
    if (!pd_db_query(arena, db, indexes_sql, 0, NULL, &indexes, err))
        return false;
    for (size_t i = 0; i < pd_db_result_row_count(indexes); i++)
    {
        const char *params[] = {pd_db_result_value(indexes, i, 0)};
        PdError failed;
        pd_error_init(&failed);
        if (!pd_db_query(arena, db, "SELECT bt_index_check($1::oid::regclass, true)", 1, params, &ignored,
                         &failed))
            note_failure(arena, report, name, pd_db_result_value(indexes, i, 1), failed.message);
        report->index_count++;
    }
    return true;
}

static bool
check_tables(PdArena *arena, PdDb *db, const char *name, PdBackupTrialReport *report, PdError *err)
{
    PdDbResult *tables, *result;
    if (!pd_db_query(arena, db, tables_sql, 0, NULL, &tables, err))
        return false;
    for (size_t i = 0; i < pd_db_result_row_count(tables); i++)
    {
        const char *params[] = {pd_db_result_value(tables, i, 0)};
        const char *table = pd_db_result_value(tables, i, 1);
        PdError failed;
        pd_error_init(&failed);
        if (!pd_db_query(arena, db,
                         "SELECT coalesce(string_agg(format('block %s: %s', blkno, msg), '; '), '') "
                         "FROM (SELECT * FROM verify_heapam($1::oid::regclass) LIMIT 3) v",
                         1, params, &result, &failed))
            note_failure(arena, report, name, table, failed.message);
        else if (pd_db_result_value(result, 0, 0)[0] != '\0')
            note_failure(arena, report, name, table, pd_db_result_value(result, 0, 0));
        report->table_count++;
        if (strcmp(pd_db_result_value(tables, i, 2), "t") != 0)
            continue;
        pd_error_init(&failed);
        if (!pd_db_query(arena, db, count_sql, 1, params, &result, &failed))
            note_failure(arena, report, name, table, failed.message);
        else
            report->rows += strtoll(pd_db_result_value(result, 0, 0), NULL, 10);
    }
    return true;
}

/* value as a conninfo value: single-quoted, its quotes and backslashes escaped ("''" when out of memory). */
static const char *
quoted(PdArena *arena, const char *value)
{
    char *out = pd_arena_alloc(arena, 2 * strlen(value) + 3);
    if (out == NULL)
        return "''";
    char *at = out;
    *at++ = '\'';
    for (const char *c = value; *c != '\0'; c++)
    {
        if (*c == '\'' || *c == '\\')
            *at++ = '\\';
        *at++ = *c;
    }
    *at++ = '\'';
    *at = '\0';
    return out;
}

/* The copy's server, database db, over its private socket (NULL when out of memory). */
static char *
trial_conninfo(PdArena *arena, const char *socket_dir, const char *user, const char *db)
{
    return pd_arena_sprintf(arena, "host=%s port=%s user=%s dbname=%s", quoted(arena, socket_dir), TRIAL_PORT,
                            quoted(arena, user), quoted(arena, db));
}

/* amcheck in one database of the copy: the extension created there (the copy is thrown away), then the
 * checks. */
static bool
check_database(PdArena *arena, const char *socket_dir, const char *user, const char *name,
               PdBackupTrialReport *report, PdError *err)
{
    char *conninfo = trial_conninfo(arena, socket_dir, user, name);
    if (conninfo == NULL)
        return pd_arena_error(arena, err);
    PdDb *db = NULL;
    PdDbResult *ignored;
    bool ok = pd_db_connect(conninfo, &db, err);
    if (ok && !pd_db_query(arena, db, "CREATE EXTENSION IF NOT EXISTS amcheck", 0, NULL, &ignored, err))
    {
        pd_error_hint(err,
                      "amcheck comes with PostgreSQL (contrib): is it installed for the copy's version?");
        ok = false;
    }
    ok = ok && check_indexes(arena, db, name, report, err) && check_tables(arena, db, name, report, err);
    pd_db_close(db);
    report->database_count += ok;
    return ok;
}

/* A SIGINT, SIGTERM or SIGHUP held (pd_backup_trial holds them): the trial stops before its next step, and
 * its copy is stopped and removed. */
static bool
is_stopped(PdError *err)
{
    sigset_t pending;
    if (sigpending(&pending) != 0 ||
        (sigismember(&pending, SIGINT) != 1 && sigismember(&pending, SIGTERM) != 1 &&
         sigismember(&pending, SIGHUP) != 1))
        return false;
    pd_error_set(err, PD_ERR_REFUSED, "interrupted by a signal: the copy is stopped and removed");
    return true;
}

static bool
check_all(PdArena *arena, const char *socket_dir, const char *user, PdBackupTrialReport *report, PdError *err)
{
    char *conninfo = trial_conninfo(arena, socket_dir, user, "postgres");
    PdDb *db = NULL;
    PdDbResult *names;
    if (conninfo == NULL)
        return pd_arena_error(arena, err);
    bool ok = pd_db_connect(conninfo, &db, err) &&
              pd_db_query(arena, db, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname", 0,
                          NULL, &names, err);
    pd_db_close(db);
    for (size_t i = 0; ok && i < pd_db_result_row_count(names); i++)
        ok = !is_stopped(err) &&
             check_database(arena, socket_dir, user, pd_db_result_value(names, i, 0), report, err);
    return ok && (!pd_arena_failed(arena) || pd_arena_error(arena, err));
}

/* The backup to try: the one named, or the newest. */
static bool
choose(PdArena *arena, const PdBackupTrialOptions *options, PdBackupManifest *chosen, PdError *err)
{
    if (options->label != NULL)
        return pd_backup_read(arena, options->repo, options->key, options->label, chosen, err);
    PdBackupList list;
    if (!pd_backup_list(arena, options->repo, options->key, &list, err))
        return false;
    if (list.count == 0)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "the repository %s holds no complete backup",
                            options->repo);
    *chosen = list.backups[list.count - 1];
    return true;
}

/* Restores, starts and checks the copy in scratch; *started says whether a server runs there now. */
static bool
try_copy(PdArena *arena, const PdBackupTrialOptions *options, const char *scratch,
         PdBackupTrialReport *report, bool *started, PdError *err)
{
    char *data = pd_archive_join(arena, scratch, "data");
    char *log = pd_archive_join(arena, scratch, "postgres.log");
    char *conninfo = trial_conninfo(arena, scratch, options->user, "postgres");
    if (data == NULL || log == NULL || conninfo == NULL)
        return pd_arena_error(arena, err);
    PdRestoreOptions restore = {.repo = options->repo,
                                .key = options->key,
                                .key_file = options->key_file,
                                .data_dir = data,
                                .tablespace_root = pd_archive_join(arena, scratch, "tablespaces"),
                                .label = report->label,
                                .target_kind = PD_RESTORE_IMMEDIATE,
                                .target_action = "promote",
                                .wal_fetch = options->wal_fetch,
                                .jobs = options->jobs};
    PdBackupManifest restored;
    double started_at = now_seconds();
    if (!pd_backup_restore(arena, &restore, &restored, err) ||
        !write_trial_files(arena, scratch, data, err) || is_stopped(err))
        return false;
    report->restore_seconds = now_seconds() - started_at;
    started_at = now_seconds();
    *started = pg_ctl(arena, options, data, log, true, err);
    if (!*started || !wait_promoted(arena, conninfo, data, log, err))
        return pd_error_detail(err, "%s", log_tail(arena, log)), false;
    report->start_seconds = now_seconds() - started_at;
    if (is_stopped(err))
        return false;
    started_at = now_seconds();
    bool ok = check_all(arena, scratch, options->user, report, err);
    report->check_seconds = now_seconds() - started_at;
    return ok;
}

/*
 * The outcome, as backup/LABEL/verify.json: a trial that failed (failure: why; the copy did not restore,
 * start or answer) is recorded too, so that `backup info` never shows an older success as the last word.
 */
static bool
record(PdArena *arena, const PdBackupTrialOptions *options, const PdBackupTrialReport *report,
       const PdError *failure, PdError *err)
{
    json_t *problems = json_array();
    for (size_t i = 0; problems != NULL && i < report->problem_count; i++)
        json_array_append_new(problems, json_string(report->problems[i]));
    json_t *root = json_pack(
        "{s:I, s:b, s:s?, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:o}", "time", (json_int_t)time(NULL), "ok",
        failure == NULL && report->problem_count == 0, "error", failure != NULL ? failure->message : NULL,
        "databases", (json_int_t)report->database_count, "indexes", (json_int_t)report->index_count, "tables",
        (json_int_t)report->table_count, "rows", (json_int_t)report->rows, "restore_seconds",
        report->restore_seconds, "start_seconds", report->start_seconds, "check_seconds",
        report->check_seconds, "problems", problems);
    char *text = root != NULL ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *copy = text != NULL ? pd_arena_strdup(arena, text) : NULL;
    free(text);
    char *dir = pd_backup_dir(arena, options->repo, report->label);
    if (copy == NULL || dir == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the verify record");
    return pd_backup_write_text(arena, options->key, dir, PD_BACKUP_TRIAL_NAME, copy, err);
}

bool
pd_backup_trial(PdArena *arena, const PdBackupTrialOptions *options, PdBackupTrialReport *report,
                PdError *err)
{
    *report = (PdBackupTrialReport){0};
    PdBackupManifest chosen;
    if (!choose(arena, options, &chosen, err))
        return false;
    report->label = chosen.label;
    PdBackupTrialOptions own = *options;
    if (own.pg_bin == NULL) /* Debian's place for the backup's major version */
        own.pg_bin = pd_arena_sprintf(arena, "/usr/lib/postgresql/%d/bin", chosen.pg_version / 10000);
    if (own.pg_bin == NULL)
        return pd_arena_error(arena, err);
    options = &own;
    char *pg_ctl_path = pd_archive_join(arena, options->pg_bin, "pg_ctl");
    if (pg_ctl_path == NULL)
        return pd_arena_error(arena, err);
    if (access(pg_ctl_path, X_OK) != 0) /* before a restore that could not be started */
        return pd_archive_io_error(err, "find", pg_ctl_path);
    char *scratch = pd_arena_sprintf(arena, "%s/prodata-verify-XXXXXX", options->scratch_parent);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    if (mkdtemp(scratch) == NULL)
        return pd_archive_io_error(err, "create a scratch directory in", options->scratch_parent);
    report->scratch = scratch;
    bool started = false;
    /* Ctrl-C or a TERM waits until the copy is stopped and removed: a copy of the data is never left behind
     */
    sigset_t held, before;
    sigemptyset(&held);
    sigaddset(&held, SIGINT), sigaddset(&held, SIGTERM), sigaddset(&held, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &held, &before);
    bool ok = try_copy(arena, options, scratch, report, &started, err);
    char *data = pd_archive_join(arena, scratch, "data");
    char *log = pd_archive_join(arena, scratch, "postgres.log");
    PdError ignored;
    pd_error_init(&ignored);
    if (started && data != NULL && log != NULL)
        (void)pg_ctl(arena, options, data, log, false, &ignored);
    (void)pd_backup_remove_tree(scratch, false, &ignored);
    if (ok)
        ok = record(arena, options, report, NULL, err);
    else if (err->code !=
             PD_ERR_NO_MEMORY) /* the failure is the outcome to keep; the error stays the command's */
        (void)record(arena, options, report, err, &ignored);
    pthread_sigmask(SIG_SETMASK, &before, NULL); /* a signal that came meanwhile acts now */
    return ok;
}

bool
pd_backup_trial_read(PdArena *arena, const char *repo, const PdArchiveKey *key, const char *label,
                     char **json, PdError *err)
{
    *json = NULL;
    char *dir = pd_backup_dir(arena, repo, label);
    char *path = dir != NULL ? pd_archive_join(arena, dir, PD_BACKUP_TRIAL_NAME) : NULL;
    size_t length;
    if (path == NULL)
        return pd_arena_error(arena, err);
    PdError why;
    pd_error_init(&why);
    if (pd_backup_read_text(arena, key, path, json, &length, &why))
        return true;
    *json = NULL;
    return why.code == PD_ERR_NOT_FOUND || (*err = why, false);
}

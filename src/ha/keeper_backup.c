/*
 * keeper_backup.c - backups scheduled by the keepers (docs/ha.md, "Scheduled
 * backups"). The leader alone decides: each tick, not paused, with
 * archive_dir set and no job in etcd (or only a stale one), it writes the kind
 * that is due (schedule.h) as the job key, naming the member to run it, in one
 * transaction that also compares its own leader key, so a deposed leader
 * writes none. Every keeper runs the job that names it as a child of its own
 * (`prodata backup`, or `prodata backup verify --restore`) and never waits for
 * it: the tick keeps its pace while a backup runs for hours. A later tick
 * reaps the child and records its outcome at <root>/backup/last/<kind>,
 * deleting the job in the same transaction while it is still the one it ran.
 * A child outlives a change of leader; the keeper's stop ends it and records
 * nothing (the repository's lock and its next backup clean up the interrupted
 * one). While a standby takes a backup, the leader switches WAL segments now
 * and then: the backup is over only once the segment holding its end is
 * archived, and a quiet primary would not fill it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

enum
{
    OUTPUT_TAIL_BYTES = 16384,            /* of the run's output read for its outcome */
    OUTPUT_KEEP_BYTES = 16 * 1024 * 1024, /* backup.log past this at a run's start becomes backup.log.1 */
    PATH_BYTES = 1024,
};

static void
log_path(const PdKeeper *keeper, char *path, size_t size)
{
    snprintf(path, size, "%s/backup.log", keeper->settings->state_dir);
}

/* The child's command line: its words, and the text some of them point into. */
typedef struct Command
{
    const char *argv[24];
    size_t argc;
    char database[PATH_BYTES]; /* the keeper's own local connection */
    char retain_full[16];
    char retain_days[16];
} Command;

static void
add_words(Command *command, const char *const *words, size_t count)
{
    for (size_t i = 0; i < count; i++)
        command->argv[command->argc++] = words[i];
}

/* The cluster's retention (backup_retain_full, backup_retain_days) as flags, where set; else the node's
 * own settings, which the child reads, decide. */
static void
add_retention(const PdClusterConfig *config, Command *command)
{
    if (config->backup_retain_full > 0)
    {
        snprintf(command->retain_full, sizeof command->retain_full, "%d", config->backup_retain_full);
        add_words(command, (const char *[]){"--retain-full", command->retain_full}, 2);
    }
    if (config->backup_retain_days >= 0)
    {
        snprintf(command->retain_days, sizeof command->retain_days, "%d", config->backup_retain_days);
        add_words(command, (const char *[]){"--retain-days", command->retain_days}, 2);
    }
}

static void
command_of(const PdKeeper *keeper, PdScheduleKind kind, bool is_from_standby, Command *command)
{
    const PdKeeperSettings *settings = keeper->settings;
    add_words(command, (const char *[]){keeper->backup_program, "backup"}, 2);
    if (kind == PD_SCHEDULE_VERIFY)
        add_words(command, (const char *[]){"verify", "--restore", "--pg-bin", settings->bin_dir}, 4);
    else
    {
        /* the keeper's own local connection: the server's socket in state_dir, its superuser */
        snprintf(command->database, sizeof command->database,
                 "host=%s port=%d user=postgres dbname=postgres application_name=prodata-backup",
                 settings->state_dir, settings->pg_port);
        add_words(command,
                  (const char *[]){"--type", kind == PD_SCHEDULE_FULL ? "full" : "incr", "--pgdata",
                                   settings->data_dir, "--database", command->database},
                  6);
        if (is_from_standby)
            add_words(command, (const char *[]){"--from-standby"}, 1);
        add_retention(&keeper->config, command);
    }
    add_words(command, (const char *[]){"--archive-dir", settings->archive_dir}, 2);
    if (settings->archive_key_file[0] != '\0')
        add_words(command, (const char *[]){"--archive-key-file", settings->archive_key_file}, 2);
    add_words(command, (const char *[]){"--json"}, 1);
    command->argv[command->argc] = NULL;
}

/* The run is over (or could not start): its outcome waits to be recorded. */
static void
set_result(PdKeeperBackup *backup, int exit_code, const char *message)
{
    backup->pid = 0;
    backup->has_result = true;
    backup->exit_code = exit_code;
    snprintf(backup->message, sizeof backup->message, "%s", message);
}

/* One line of the output, for a record: printable ASCII only, at most the record's bytes. */
static void
copy_line(char *to, size_t size, const char *line, size_t length)
{
    size_t used = 0;
    for (size_t i = 0; i < length && used + 1 < size; i++)
        to[used++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
    to[used] = '\0';
}

/* The label in a line of `prodata backup --json`'s outcome ({"backup": {"label": ...}}) into backup. */
static void
read_label(PdKeeperBackup *backup, const char *line, size_t length)
{
    json_t *root = json_loadb(line, length, 0, NULL);
    json_t *label = json_object_get(json_object_get(root, "backup"), "label");
    if (json_is_string(label))
        snprintf(backup->label, sizeof backup->label, "%s", json_string_value(label));
    json_decref(root);
}

/* What the run wrote to the log (from log_offset on): its backup's label, and as the message of a failure
 * its last error line ("prodata: error: ..."), or its last line. */
static void
read_output(const PdKeeper *keeper, PdKeeperBackup *backup, int64_t log_offset)
{
    char path[PATH_BYTES], text[OUTPUT_TAIL_BYTES + 1];
    log_path(keeper, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat info;
    ssize_t got = -1;
    if (fd >= 0 && fstat(fd, &info) == 0 && S_ISREG(info.st_mode))
    {
        off_t from = info.st_size - OUTPUT_TAIL_BYTES > log_offset ? info.st_size - OUTPUT_TAIL_BYTES
                                                                   : (off_t)log_offset;
        got = pread(fd, text, OUTPUT_TAIL_BYTES, from);
    }
    if (fd >= 0)
        close(fd);
    text[got > 0 ? got : 0] = '\0';
    const char *last = NULL;
    size_t last_length = 0;
    for (const char *line = text; *line != '\0';)
    {
        size_t length = strcspn(line, "\n");
        if (length > 0 && strncmp(line, "{\"backup\":", 10) == 0)
            read_label(backup, line, length);
        /* prodata's own error line, else the last line (of a JSON outcome, "}") */
        if (strspn(line, " \r\t") < length && (last == NULL || strncmp(last, "prodata: error", 14) != 0 ||
                                               strncmp(line, "prodata: error", 14) == 0))
            last = line, last_length = length;
        line += length + (line[length] == '\n');
    }
    if (backup->exit_code != 0 && last != NULL)
        copy_line(backup->message, sizeof backup->message, last, last_length);
    else if (backup->exit_code != 0)
        snprintf(backup->message, sizeof backup->message, "exit code %d, no output", backup->exit_code);
}

/* Appends a line that opens the run in the log; *offset: where the run's own output starts. */
static void
open_log(const PdKeeper *keeper, const PdScheduleJob *job, int64_t *offset)
{
    char path[PATH_BYTES];
    log_path(keeper, path, sizeof path);
    struct stat before;
    if (lstat(path, &before) == 0 && S_ISREG(before.st_mode) && before.st_size > OUTPUT_KEEP_BYTES)
    {
        char older[PATH_BYTES + 2];
        snprintf(older, sizeof older, "%s.1", path); /* one older log kept, the rest dropped */
        (void)rename(path, older);
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
    struct stat info;
    FILE *file = fd >= 0 && fstat(fd, &info) == 0 && S_ISREG(info.st_mode) ? fdopen(fd, "a") : NULL;
    if (file == NULL)
    {
        if (fd >= 0)
            close(fd);
        return; /* pd_node_spawn says why */
    }
    fprintf(file, "---- %s backup, job %s, keeper %s, wall clock %" PRId64 " ms\n",
            pd_schedule_kind_name(job->kind), job->id, keeper->name, pd_keeper_wall_ms());
    *offset = ftell(file);
    fclose(file);
}

static void
start_job(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    const PdScheduleJob *job = &read->backup_job;
    PdKeeperBackup *backup = &keeper->backup;
    *backup = (PdKeeperBackup){.kind = job->kind,
                               .job_revision = read->backup_job_revision,
                               .started_ms = pd_keeper_now_ms(),
                               .switched_ms = backup->switched_ms};
    snprintf(backup->job_id, sizeof backup->job_id, "%s", job->id);
    const char *refusal = keeper->settings->archive_dir[0] == '\0' || keeper->backup_program == NULL
                              ? "this member has no archive_dir (or prodata's own path is unknown)"
                          : job->kind != PD_SCHEDULE_VERIFY && !status->is_connected
                              ? "PostgreSQL does not run on this member"
                              : NULL;
    if (refusal != NULL)
    {
        set_result(backup, -1, refusal);
        return;
    }
    bool is_from_standby = job->kind != PD_SCHEDULE_VERIFY && status->is_in_recovery;
    Command command = {0};
    char path[PATH_BYTES];
    command_of(keeper, job->kind, is_from_standby, &command);
    log_path(keeper, path, sizeof path);
    open_log(keeper, job, &backup->log_offset);
    PdError err = {0};
    if (!pd_node_spawn(keeper->node, command.argv, path, &backup->pid, &err))
    {
        set_result(backup, -1, err.message);
        return;
    }
    pd_logf(PD_LOG_INFO, "keeper %s: scheduled %s backup started (job %s%s), pid %d, output in %s",
            keeper->name, pd_schedule_kind_name(job->kind), job->id,
            is_from_standby ? ", from this standby" : "", backup->pid, path);
}

static void
reap_job(PdKeeper *keeper)
{
    PdKeeperBackup *backup = &keeper->backup;
    int exit_code = 0;
    if (backup->pid == 0 || !pd_node_reap(backup->pid, &exit_code))
        return;
    set_result(backup, exit_code, "");
    read_output(keeper, backup, backup->log_offset);
}

/* The outcome recorded (the job deleted with it while it is still the one run); kept for the next tick when
 * etcd gives no answer. */
static void
record_result(PdKeeper *keeper, const PdKeeperRead *read)
{
    PdKeeperBackup *backup = &keeper->backup;
    int64_t now = pd_keeper_wall_ms();
    bool is_ok = backup->exit_code == 0;
    PdScheduleLast last = {.exists = true,
                           .time_ms = now,
                           .member = keeper->name,
                           .is_ok = is_ok,
                           .exit_code = backup->exit_code,
                           .message = is_ok ? "" : backup->message,
                           .last_ok_ms = is_ok ? now : read->backup_last[backup->kind].last_ok_ms,
                           .label = backup->label};
    PdError err = {0};
    char *value = pd_schedule_last_json(keeper->tick, &last, &err);
    PdEtcdBytes key = pd_keys_backup_last(&keeper->keys, (int)backup->kind);
    PdEtcdCas cas = {.key = pd_keys_backup_job(&keeper->keys),
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = backup->job_revision,
                     .action = PD_ETCD_DELETE,
                     .also_key = key,
                     .also_value = pd_etcd_text(value)};
    PdEtcdKv current;
    PdEtcdOutcome outcome = {PD_ETCD_UNKNOWN};
    if (value != NULL)
        outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    if (outcome.status ==
        PD_ETCD_COMPARE_FAILED) /* the job was replaced or is gone: what ran is still told */
        outcome = pd_etcd_put(keeper->etcd, key, pd_etcd_text(value), 0, NULL, &err);
    if (outcome.status != PD_ETCD_DONE)
    {
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the outcome of scheduled %s backup job %s could not be recorded (%s): %s",
                keeper->name, pd_schedule_kind_name(backup->kind), backup->job_id,
                pd_etcd_status_name(outcome.status), err.message);
        return;
    }
    backup->has_result = false;
    double seconds = (double)(pd_keeper_now_ms() - backup->started_ms) / 1000.0;
    if (is_ok)
        pd_logf(PD_LOG_INFO, "keeper %s: scheduled %s backup ended: ok%s%s%s in %.1f s (job %s)",
                keeper->name, pd_schedule_kind_name(backup->kind), backup->label[0] ? " (" : "",
                backup->label, backup->label[0] ? ")" : "", seconds, backup->job_id);
    else
        pd_logf(PD_LOG_WARNING, "keeper %s: scheduled %s backup failed (exit code %d) in %.1f s (job %s): %s",
                keeper->name, pd_schedule_kind_name(backup->kind), backup->exit_code, seconds, backup->job_id,
                backup->message);
}

/* The leader, while a standby takes a backup: a WAL segment switch every PD_KEEPER_BACKUP_SWITCH_MS. */
static void
help_standby(PdKeeper *keeper, const PdScheduleJob *job, const PdNodeStatus *status)
{
    int64_t now = pd_keeper_now_ms();
    if (!job->is_from_standby || job->kind == PD_SCHEDULE_VERIFY || strcmp(job->member, keeper->name) == 0 ||
        !status->is_connected || status->is_in_recovery ||
        pd_keeper_wall_ms() - job->created_ms < PD_KEEPER_BACKUP_SWITCH_MS ||
        now - keeper->backup.switched_ms < PD_KEEPER_BACKUP_SWITCH_MS)
        return;
    keeper->backup.switched_ms = now;
    PdError err = {0};
    if (!pd_node_switch_wal(keeper->node, &err))
        pd_logf(PD_LOG_DEBUG, "keeper %s: %s", keeper->name, err.message);
}

/* The job key written: absent (or still the stale one read), and only while the leader key is this one's. */
static void
write_job(PdKeeper *keeper, const PdKeeperRead *read, const PdScheduleJob *job, bool is_stale)
{
    PdError err = {0};
    char *value = pd_schedule_job_json(keeper->tick, job, &err);
    PdEtcdCas cas = {.key = pd_keys_backup_job(&keeper->keys),
                     .compare = is_stale ? PD_ETCD_IF_MOD_REVISION : PD_ETCD_IF_ABSENT,
                     .mod_revision = read->backup_job_revision,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(value),
                     .also_key = pd_keys_leader(&keeper->keys),
                     .also_mod_revision = keeper->leader_revision,
                     .also_compare_only = true};
    PdEtcdKv current;
    PdEtcdOutcome outcome = {PD_ETCD_UNKNOWN};
    if (value != NULL)
        outcome = pd_etcd_cas(keeper->tick, keeper->etcd, &cas, &current, &err);
    if (outcome.status == PD_ETCD_DONE)
        pd_logf(PD_LOG_INFO, "keeper %s: scheduled a %s backup on %s%s (job %s%s)", keeper->name,
                pd_schedule_kind_name(job->kind), job->member, job->is_from_standby ? ", a standby" : "",
                job->id, is_stale ? ", replacing a stale job" : "");
    else
        pd_logf(outcome.status == PD_ETCD_COMPARE_FAILED ? PD_LOG_INFO : PD_LOG_WARNING,
                "keeper %s: the %s backup job was not written (%s): %s", keeper->name,
                pd_schedule_kind_name(job->kind), pd_etcd_status_name(outcome.status), err.message);
}

static void
lead(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    if (!keeper->is_leader || keeper->leader_revision <= 0 || keeper->settings->archive_dir[0] == '\0')
        return;
    int64_t now = pd_keeper_wall_ms();
    bool is_stale = read->has_backup_job &&
                    pd_schedule_job_is_stale(&read->backup_job, read->members, read->member_count, now);
    if (read->has_backup_job && !is_stale)
    {
        help_standby(keeper, &read->backup_job, status); /* paused too: a backup running runs to its end */
        return;
    }
    if (keeper->config.is_paused)
        return;
    PdScheduleKind kind = pd_schedule_due(&keeper->config, read->backup_last, now);
    if (kind == PD_SCHEDULE_NONE)
        return;
    bool is_from_standby = false;
    const char *member = pd_schedule_choose(&keeper->config, read->members, read->member_count, keeper->name,
                                            now, &is_from_standby);
    char id[128];
    snprintf(id, sizeof id, "%s-%" PRId64, keeper->name, now);
    PdScheduleJob job = {.id = id,
                         .kind = kind,
                         .member = member,
                         .is_from_standby = is_from_standby,
                         .created_ms = now,
                         .leader = keeper->name};
    write_job(keeper, read, &job, read->backup_job_revision > 0); /* stale, or one that does not parse */
}

/* Whether read holds a job for this member that it has not run yet and may start now. */
static bool
is_mine_to_start(const PdKeeper *keeper, const PdKeeperRead *read)
{
    return keeper->backup.pid == 0 && !keeper->backup.has_result && read->has_backup_job &&
           !keeper->config.is_paused && strcmp(read->backup_job.member, keeper->name) == 0 &&
           strcmp(read->backup_job.id, keeper->backup.job_id) != 0 &&
           pd_schedule_job_may_start(&read->backup_job, pd_keeper_wall_ms());
}

void
pd_keeper_backup(PdKeeper *keeper, const PdKeeperRead *read, const PdNodeStatus *status)
{
    reap_job(keeper);
    if (!read->is_known)
        return;
    if (keeper->backup.has_result)
        record_result(keeper, read);
    lead(keeper, read, status);
    if (is_mine_to_start(keeper, read))
        start_job(keeper, read, status);
}

void
pd_keeper_backup_stop(PdKeeper *keeper)
{
    PdKeeperBackup *backup = &keeper->backup;
    if (backup->pid == 0)
        return;
    pd_logf(PD_LOG_INFO,
            "keeper %s: scheduled %s backup (job %s, pid %d) ended by the keeper's stop; not recorded",
            keeper->name, pd_schedule_kind_name(backup->kind), backup->job_id, backup->pid);
    pd_node_end(backup->pid,
                backup->kind == PD_SCHEDULE_VERIFY ? PD_KEEPER_VERIFY_END_MS : PD_KEEPER_BACKUP_END_MS);
    backup->pid = 0;
}

/*
 * restore_waldump.c - PostgreSQL's pg_waldump run over segments restored into
 * a scratch directory, its lines read back as records. PostgreSQL's own
 * reader decodes the WAL, so its binary format is never ours to follow; what
 * is ours is the text PostgreSQL 15 prints (rmgrdesc): "COMMIT <time>",
 * "ABORT <time>", "COMMIT_PREPARED <xid>: <time>", "RESTORE_POINT <name>",
 * after "tx: <xid>, lsn: <X/Y>". The program runs without a shell, with
 * TZ=UTC so its times are UTC, and up to the end of the segments staged, so
 * that reaching it is a clean exit (status 0): any other end is WAL it could
 * not read, reported with its last error line.
 */
#define _GNU_SOURCE /* getline, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "restore_wal.h"
#include "store.h"

/* The number after "key" in line, up to the next comma; false when absent. */
static bool
field_after(const char *line, const char *key, char *out, size_t size)
{
    const char *at = strstr(line, key);
    if (at == NULL)
        return false;
    at += strlen(key);
    at += strspn(at, " ");
    size_t length = strcspn(at, ",");
    if (length == 0 || length >= size)
        return false;
    memcpy(out, at, length);
    out[length] = '\0';
    return true;
}

/* "2026-12-01 10:50:52.202931 UTC" into microseconds since the epoch. */
static bool
parse_utc_time(const char *text, int64_t *time_us)
{
    int year, month, day, hour, minute, second, fraction, used = 0;
    if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d.%6d UTC%n", &year, &month, &day, &hour, &minute, &second,
               &fraction, &used) != 7 ||
        used == 0 || (text[used] != '\0' && text[used] != ';'))
        return false;
    struct tm utc = {.tm_year = year - 1900,
                     .tm_mon = month - 1,
                     .tm_mday = day,
                     .tm_hour = hour,
                     .tm_min = minute,
                     .tm_sec = second};
    *time_us = (int64_t)timegm(&utc) * 1000000 + fraction;
    return true;
}

/* A Transaction record's description: which end, whose, when. */
static bool
parse_xact(const char *desc, PdWalRecord *record)
{
    static const struct
    {
        const char *word;
        PdWalRecordKind kind;
        bool is_prepared;
    } ends[] = {{"COMMIT ", PD_WAL_RECORD_COMMIT, false},
                {"ABORT ", PD_WAL_RECORD_ABORT, false},
                {"COMMIT_PREPARED ", PD_WAL_RECORD_COMMIT, true},
                {"ABORT_PREPARED ", PD_WAL_RECORD_ABORT, true}};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
    {
        size_t length = strlen(ends[i].word);
        if (strncmp(desc, ends[i].word, length) != 0)
            continue;
        const char *rest = desc + length;
        if (ends[i].is_prepared) /* the prepared transaction's own xid: the record's is the committer's */
        {
            char *end;
            record->xid = strtoull(rest, &end, 10);
            if (end == rest || end[0] != ':' || end[1] != ' ')
                return false;
            rest = end + 2;
        }
        record->kind = ends[i].kind;
        return parse_utc_time(rest, &record->time_us);
    }
    return true; /* PREPARE, ASSIGNMENT, INVALIDATION: no target stops there */
}

bool
pd_restore_waldump_parse(const char *line, PdWalRecord *record)
{
    char xid[24], lsn[24];
    const char *desc = strstr(line, ", desc: ");
    *record = (PdWalRecord){.kind = PD_WAL_RECORD_OTHER};
    if (strncmp(line, "rmgr: ", 6) != 0 || desc == NULL || !field_after(line, ", tx:", xid, sizeof(xid)) ||
        !field_after(line, ", lsn:", lsn, sizeof(lsn)) || !pd_backup_parse_lsn(lsn, &record->lsn))
        return false;
    record->xid = strtoull(xid, NULL, 10);
    desc += strlen(", desc: ");
    if (strncmp(line + 6, "Transaction ", 12) == 0)
        return parse_xact(desc, record);
    if (strncmp(line + 6, "XLOG ", 5) == 0 && strncmp(desc, "RESTORE_POINT ", 14) == 0)
        record->kind = PD_WAL_RECORD_RESTORE_POINT, record->name = desc + 14,
        record->name_length = strlen(desc + 14);
    if (strncmp(line + 6, "Tablespace ", 11) == 0 && strncmp(desc, "CREATE ", 7) == 0) /* CREATE OID "PATH" */
    {
        char *end;
        record->xid = strtoull(desc + 7, &end, 10);
        size_t length = strlen(end);
        if (end == desc + 7 || strncmp(end, " \"", 2) != 0 || length < 3 || end[length - 1] != '"')
            return false;
        record->kind = PD_WAL_RECORD_TABLESPACE, record->name = end + 2, record->name_length = length - 3;
    }
    return true;
}

/* In the child: stdout to the pipe, stderr to err_path, no signal held, then pg_waldump or exit 127. */
static void
exec_waldump(char *const argv[], int out_fd, const char *err_path)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in_fd = open("/dev/null", O_RDONLY);
    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in_fd < 0 || err_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    char *const env[] = {"TZ=UTC", "LC_ALL=C", NULL};
    execve(argv[0], argv, env);
    _exit(127);
}

/* Every line of in to dump->each (a line that is no record is skipped: pg_waldump prints only records). */
static bool
read_records(FILE *in, const PdWalDump *dump, PdError *err)
{
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &capacity, in)) > 0)
    {
        PdWalRecord record;
        if (line[length - 1] == '\n')
            line[length - 1] = '\0';
        if (pd_restore_waldump_parse(line, &record))
            dump->each(dump->context, &record);
    }
    bool is_read = !ferror(in) || pd_error_set(err, PD_ERR_IO, "could not read pg_waldump's output");
    free(line);
    return is_read;
}

/* The last line pg_waldump wrote to its stderr, in out ("" when none). */
static void
last_error_line(const char *err_path, char *out, size_t size)
{
    char line[512];
    out[0] = '\0';
    FILE *in = fopen(err_path, "r");
    if (in == NULL)
        return;
    while (fgets(line, sizeof(line), in) != NULL)
        if (line[0] != '\n')
            snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), line);
    fclose(in);
}

static bool
judge_exit(const PdWalDump *dump, int status, const char *err_path, PdError *err)
{
    char said[400];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) >= 126)
        return pd_error_set(err, PD_ERR_IO, "could not run %s", dump->program);
    if (WIFSIGNALED(status))
        return pd_error_set(err, PD_ERR_IO, "%s was stopped by signal %d", dump->program, WTERMSIG(status));
    last_error_line(err_path, said, sizeof(said));
    char start[20];
    pd_backup_format_lsn(dump->start_lsn, start);
    pd_error_set(err, PD_ERR_REFUSED, "pg_waldump could not read the archived WAL from %s: %s", start,
                 said[0] != '\0' ? said : "(no message)");
    return pd_error_hint(err,
                         "prodata archive check --verify checks the archived segments; --no-target-check "
                         "skips this check. Nothing was written.");
}

/* The argument list: the program, --path, --timeline, --start, --end and the filter. */
static char **
waldump_argv(PdArena *arena, const PdWalDump *dump)
{
    char start[20], end[20];
    pd_backup_format_lsn(dump->start_lsn, start);
    pd_backup_format_lsn(dump->end_lsn, end);
    char **argv = pd_arena_calloc(arena, 10, sizeof(char *));
    if (argv == NULL)
        return NULL;
    argv[0] = (char *)dump->program;
    argv[1] = pd_arena_sprintf(arena, "--path=%s", dump->dir);
    argv[2] = pd_arena_sprintf(arena, "--timeline=%u", dump->timeline);
    argv[3] = pd_arena_sprintf(arena, "--start=%s", start);
    argv[4] = pd_arena_sprintf(arena, "--end=%s", end);
    argv[5] = dump->is_filtered ? "--rmgr=Transaction" : NULL;
    argv[6] = dump->is_filtered ? "--rmgr=XLOG" : NULL;
    argv[7] = dump->is_filtered ? "--rmgr=Tablespace" : NULL;
    for (int i = 1; i <= 4; i++)
        if (argv[i] == NULL)
            return NULL;
    return argv;
}

bool
pd_restore_waldump(PdArena *arena, const PdWalDump *dump, PdError *err)
{
    char **argv = waldump_argv(arena, dump);
    char *err_path = pd_archive_join(arena, dump->dir, "pg_waldump.stderr");
    int fds[2];
    if (argv == NULL || err_path == NULL)
        return pd_arena_error(arena, err);
    if (pipe2(fds, O_CLOEXEC) != 0)
        return pd_error_set(err, PD_ERR_IO, "could not make a pipe for %s: %s", dump->program,
                            strerror(errno));
    pid_t pid = fork();
    if (pid == 0)
        exec_waldump(argv, fds[1], err_path);
    close(fds[1]);
    if (pid < 0)
    {
        close(fds[0]);
        return pd_error_set(err, PD_ERR_IO, "could not start %s: %s", dump->program, strerror(errno));
    }
    FILE *in = fdopen(fds[0], "r");
    bool is_read = in != NULL ? read_records(in, dump, err)
                              : pd_error_set(err, PD_ERR_IO, "could not read pg_waldump's output");
    if (in != NULL)
        fclose(in); /* a child still writing gets SIGPIPE and ends */
    else
        close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return pd_error_set(err, PD_ERR_IO, "could not wait for %s: %s", dump->program, strerror(errno));
    return is_read && judge_exit(dump, status, err_path, err);
}

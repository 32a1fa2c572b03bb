/*
 * writer.c - the client of the fault tests and of bench/failover: it plays an application that inserts one
 * numbered row at a time through libpq, while a test breaks the cluster under it, and writes down what it
 * was told, one CSV line per attempt, so that check_writes can count acknowledged rows, lost rows, the
 * write unavailability and split brain afterwards. It uses none of prodata's code (a test must not judge
 * prodata with prodata) and speaks libpq directly, as an application does.
 *
 * Each attempt is bounded: the connection by libpq's connect_timeout (per host; the writer sets 2 s, libpq's
 * minimum, unless the conninfo says otherwise), each statement by statement_timeout on the server and by a
 * client deadline half a second later (non-blocking libpq and poll): past it the connection is closed, never
 * waited on, as a peer behind a partition never answers (PQcancel would need a new connection to that peer).
 * After any error the connection is dropped and the next attempt connects again. Row n is attempted once:
 * an attempt that failed is not retried under the same n, so a row present but not acknowledged is an
 * ambiguous commit, not a duplicate. The result is ok (the server answered the INSERT's commit), error, or
 * unsure: the server answered the commit but warned that its wait for synchronous replication was cancelled
 * (a cancel request reached the backend while the commit waited for the standbys: committed locally, perhaps
 * on no standby; the case of patroni PR #1414), which a synchronous cluster does not promise to keep.
 * statement_timeout never causes it: PostgreSQL disables the timeout before it commits, so a commit that
 * waits for absent standbys ends at the client deadline, an error (an ambiguous commit). Times are
 * CLOCK_REALTIME milliseconds, the same clock for every writer of a test on one machine.
 *
 * CSV columns: n,label,send_ms,done_ms,result,via,server,recovery,timeline,sqlstate,error. via is libpq's
 * PQhost:PQport; server, recovery and timeline are read once per connection (inet_server_addr:port, or via
 * for a socket; pg_is_in_recovery(); the timeline of pg_current_wal_lsn() on a primary): the server and
 * timeline name the term check_writes judges split brain by. Error texts lose their commas and newlines.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/prctl.h>
#include <unistd.h>

#include <libpq-fe.h>

#define DEADLINE_MARGIN_MS 500

typedef struct WriterOptions
{
    const char *conninfo;
    const char *table;
    const char *out_path;
    const char *label;
    long duration_ms;
    long interval_ms;
    long timeout_ms;
    bool is_bound_to_parent; /* --exit-with-parent: SIGTERM when the parent (the test) is gone */
} WriterOptions;

/* One connection and what was read about its server when it was made. */
typedef struct Session
{
    PGconn *conn;
    char via[160];
    char server[160];
    char recovery[2];
    char timeline[16];
    bool is_sync_wait_cancelled; /* set by the notice receiver during a statement */
} Session;

typedef struct Attempt
{
    long long n;
    int64_t send_ms;
    int64_t done_ms;
    const char *result;
    char sqlstate[6];
    char error[300];
} Attempt;

static volatile sig_atomic_t stop_requested = 0;

static void
on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static int64_t
clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Copies text into dst with commas, quotes, tabs and line breaks made single spaces: one CSV field. */
static void
copy_field(char *dst, size_t size, const char *text)
{
    size_t i = 0;
    for (; text != NULL && *text != '\0' && i + 1 < size; text++)
    {
        bool is_space = strchr(",\"\n\r\t", *text) != NULL || *text == ' ';
        if (!is_space || (i > 0 && dst[i - 1] != ' '))
            dst[i++] = is_space ? ' ' : *text;
    }
    while (i > 0 && dst[i - 1] == ' ')
        i--;
    dst[i] = '\0';
}

static void
attempt_fail(Attempt *attempt, const char *sqlstate, const char *message)
{
    attempt->result = "error";
    copy_field(attempt->sqlstate, sizeof attempt->sqlstate, sqlstate != NULL ? sqlstate : "");
    copy_field(attempt->error, sizeof attempt->error, message);
}

static void
session_close(Session *session)
{
    if (session->conn != NULL)
        PQfinish(session->conn);
    memset(session, 0, sizeof *session);
}

static void
on_notice(void *arg, const PGresult *res)
{
    Session *session = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (severity != NULL && strcmp(severity, "WARNING") == 0 && message != NULL &&
        strstr(message, "wait for synchronous replication") != NULL)
        session->is_sync_wait_cancelled = true;
}

/* Waits until the connection's socket is ready for events or the deadline (monotonic ms) passes. */
static bool
wait_socket(PGconn *conn, short events, int64_t deadline_ms)
{
    for (;;)
    {
        int64_t left = deadline_ms - clock_ms(CLOCK_MONOTONIC);
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = PQsocket(conn), .events = events};
        int ready = poll(&pfd, 1, (int)left);
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return false;
    }
}

/* Sends what libpq holds, within the deadline. */
static bool
flush_bounded(PGconn *conn, int64_t deadline_ms, Attempt *attempt)
{
    int pending;
    while ((pending = PQflush(conn)) == 1)
    {
        if (!wait_socket(conn, POLLOUT | POLLIN, deadline_ms))
        {
            attempt_fail(attempt, NULL, "client deadline passed while sending; connection closed");
            return false;
        }
        if (!PQconsumeInput(conn))
            break;
    }
    if (pending == 0)
        return true;
    attempt_fail(attempt, NULL, PQerrorMessage(conn));
    return false;
}

/* Reads every result of the statement sent, within the deadline; keeps the first failed one, or the last. */
static bool
read_bounded(PGconn *conn, int64_t deadline_ms, PGresult **out, Attempt *attempt)
{
    PGresult *kept = NULL, *res;
    for (;;)
    {
        while (PQisBusy(conn))
        {
            if (!wait_socket(conn, POLLIN, deadline_ms))
            {
                PQclear(kept);
                attempt_fail(attempt, NULL,
                             "client deadline passed waiting for the answer; connection closed");
                return false;
            }
            if (!PQconsumeInput(conn))
            {
                PQclear(kept);
                attempt_fail(attempt, NULL, PQerrorMessage(conn));
                return false;
            }
        }
        if ((res = PQgetResult(conn)) == NULL)
            break;
        bool is_kept_failed = kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR;
        if (is_kept_failed)
            PQclear(res);
        else
        {
            PQclear(kept);
            kept = res;
        }
    }
    *out = kept;
    return true;
}

/* Runs one statement within the deadline; true and *out (the caller clears it) when the server answered
 * it without an error. */
static bool
exec_bounded(Session *session, const char *sql, int nparams, const char *const *params, int64_t deadline_ms,
             PGresult **out, Attempt *attempt)
{
    PGresult *res = NULL;
    if (!PQsendQueryParams(session->conn, sql, nparams, NULL, params, NULL, NULL, 0))
    {
        attempt_fail(attempt, NULL, PQerrorMessage(session->conn));
        return false;
    }
    if (!flush_bounded(session->conn, deadline_ms, attempt) ||
        !read_bounded(session->conn, deadline_ms, &res, attempt))
        return false;
    ExecStatusType status = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    {
        *out = res;
        return true;
    }
    if (res != NULL && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL)
        attempt_fail(attempt, PQresultErrorField(res, PG_DIAG_SQLSTATE),
                     PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    else
        attempt_fail(attempt, NULL, PQerrorMessage(session->conn));
    PQclear(res);
    return false;
}

static int64_t
statement_deadline(const WriterOptions *options)
{
    return clock_ms(CLOCK_MONOTONIC) + options->timeout_ms + DEADLINE_MARGIN_MS;
}

/* Reads, once per connection, which server it reached and, on a primary, its timeline. */
static bool
session_describe(Session *session, const WriterOptions *options, Attempt *attempt)
{
    static const char sql[] =
        "select coalesce(host(inet_server_addr()) || ':' || inet_server_port(), ''), "
        "case when pg_is_in_recovery() then 't' else 'f' end, "
        "case when pg_is_in_recovery() then '' else "
        "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::text end";
    PGresult *res = NULL;
    if (!exec_bounded(session, sql, 0, NULL, statement_deadline(options), &res, attempt))
        return false;
    const char *server = PQgetvalue(res, 0, 0);
    copy_field(session->server, sizeof session->server, server[0] != '\0' ? server : session->via);
    copy_field(session->recovery, sizeof session->recovery, PQgetvalue(res, 0, 1));
    copy_field(session->timeline, sizeof session->timeline, PQgetvalue(res, 0, 2));
    PQclear(res);
    return true;
}

/* Connects (libpq's connect_timeout bounds each host), makes the connection non-blocking, describes it. */
static bool
session_open(Session *session, const WriterOptions *options, Attempt *attempt)
{
    char statement_timeout[64];
    snprintf(statement_timeout, sizeof statement_timeout, "-c statement_timeout=%ld", options->timeout_ms);
    /* Keywords before dbname are defaults the conninfo (expanded from dbname) may override. */
    const char *const keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *const values[] = {"2", "prodata-test-writer", statement_timeout, options->conninfo, NULL};
    session->conn = PQconnectdbParams(keys, values, 1);
    if (session->conn == NULL || PQstatus(session->conn) != CONNECTION_OK)
    {
        attempt_fail(attempt, NULL, session->conn != NULL ? PQerrorMessage(session->conn) : "out of memory");
        return false;
    }
    snprintf(session->via, sizeof session->via, "%s:%s", PQhost(session->conn), PQport(session->conn));
    copy_field(session->via, sizeof session->via, session->via);
    PQsetNoticeReceiver(session->conn, on_notice, session);
    if (PQsetnonblocking(session->conn, 1) != 0)
    {
        attempt_fail(attempt, NULL, PQerrorMessage(session->conn));
        return false;
    }
    return session_describe(session, options, attempt);
}

/* CREATE TABLE IF NOT EXISTS, until it succeeded once. (label, n) is the key: writers share a table. */
static bool
table_create(Session *session, const WriterOptions *options, Attempt *attempt)
{
    char *ident = PQescapeIdentifier(session->conn, options->table, strlen(options->table));
    if (ident == NULL)
    {
        attempt_fail(attempt, NULL, PQerrorMessage(session->conn));
        return false;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "create table if not exists %s (n bigint not null, label text not null, "
             "at timestamptz not null default clock_timestamp(), primary key (label, n))",
             ident);
    PQfreemem(ident);
    PGresult *res = NULL;
    if (!exec_bounded(session, sql, 0, NULL, statement_deadline(options), &res, attempt))
        return false;
    PQclear(res);
    return true;
}

static bool
row_insert(Session *session, const WriterOptions *options, Attempt *attempt)
{
    char *ident = PQescapeIdentifier(session->conn, options->table, strlen(options->table));
    if (ident == NULL)
    {
        attempt_fail(attempt, NULL, PQerrorMessage(session->conn));
        return false;
    }
    char sql[400], n_text[32];
    snprintf(sql, sizeof sql, "insert into %s (n, label) values ($1, $2)", ident);
    PQfreemem(ident);
    snprintf(n_text, sizeof n_text, "%lld", attempt->n);
    const char *const params[] = {n_text, options->label};
    PGresult *res = NULL;
    session->is_sync_wait_cancelled = false;
    if (!exec_bounded(session, sql, 2, params, statement_deadline(options), &res, attempt))
        return false;
    PQclear(res);
    attempt->result = session->is_sync_wait_cancelled ? "unsure" : "ok";
    if (session->is_sync_wait_cancelled)
        copy_field(attempt->error, sizeof attempt->error,
                   "committed locally but the wait for synchronous replication was cancelled");
    return true;
}

/* One attempt at row n: connect if needed, make the table once, insert; any error drops the connection. */
static void
attempt_run(Session *session, const WriterOptions *options, bool *is_table_made, Attempt *attempt)
{
    if ((session->conn != NULL || session_open(session, options, attempt)) &&
        (*is_table_made || table_create(session, options, attempt)))
    {
        *is_table_made = true;
        row_insert(session, options, attempt);
    }
    attempt->done_ms = clock_ms(CLOCK_REALTIME);
}

static void
attempt_write(FILE *out, const WriterOptions *options, const Session *session, const Attempt *attempt)
{
    fprintf(out, "%lld,%s,%lld,%lld,%s,%s,%s,%s,%s,%s,%s\n", attempt->n, options->label,
            (long long)attempt->send_ms, (long long)attempt->done_ms, attempt->result, session->via,
            session->server, session->recovery, session->timeline, attempt->sqlstate, attempt->error);
    fflush(out);
}

/* Sleeps until the monotonic time until_ms, or a stop signal. */
static void
sleep_until(int64_t until_ms)
{
    int64_t left;
    while (!stop_requested && (left = until_ms - clock_ms(CLOCK_MONOTONIC)) > 0)
    {
        struct timespec pause = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        nanosleep(&pause, NULL);
    }
}

static void
writer_run(const WriterOptions *options, FILE *out)
{
    Session session = {0};
    bool is_table_made = false;
    int64_t start = clock_ms(CLOCK_MONOTONIC);
    fprintf(out, "n,label,send_ms,done_ms,result,via,server,recovery,timeline,sqlstate,error\n");
    fflush(out);
    for (long long n = 1; !stop_requested && clock_ms(CLOCK_MONOTONIC) - start < options->duration_ms; n++)
    {
        int64_t began = clock_ms(CLOCK_MONOTONIC);
        Attempt attempt = {.n = n, .send_ms = clock_ms(CLOCK_REALTIME), .result = "error"};
        attempt_run(&session, options, &is_table_made, &attempt);
        attempt_write(out, options, &session, &attempt);
        if (strcmp(attempt.result, "error") == 0)
            session_close(&session);
        sleep_until(began + options->interval_ms);
    }
    session_close(&session);
}

static const char usage[] = "usage: writer --conninfo CONNINFO --table TABLE --duration-ms MS --out FILE\n"
                            "              [--interval-ms MS (50)] [--timeout-ms MS (2000)] [--label LABEL "
                            "(w)] [--exit-with-parent]\n";

static bool
parse_long(const char *text, long min, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min)
        return false;
    *out = value;
    return true;
}

static bool
label_is_valid(const char *label)
{
    if (label[0] == '\0' || strlen(label) > 64)
        return false;
    return strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
           strlen(label);
}

static bool
options_parse(int argc, char **argv, WriterOptions *options)
{
    static const struct option longs[] = {{"conninfo", required_argument, NULL, 'c'},
                                          {"table", required_argument, NULL, 't'},
                                          {"duration-ms", required_argument, NULL, 'd'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"interval-ms", required_argument, NULL, 'i'},
                                          {"timeout-ms", required_argument, NULL, 'T'},
                                          {"label", required_argument, NULL, 'l'},
                                          {"exit-with-parent", no_argument, NULL, 'P'},
                                          {NULL, 0, NULL, 0}};
    *options = (WriterOptions){.label = "w", .interval_ms = 50, .timeout_ms = 2000, .duration_ms = -1};
    int opt;
    bool is_valid = true;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1)
    {
        switch (opt)
        {
            case 'c':
                options->conninfo = optarg;
                break;
            case 't':
                options->table = optarg;
                break;
            case 'o':
                options->out_path = optarg;
                break;
            case 'l':
                options->label = optarg;
                break;
            case 'P':
                options->is_bound_to_parent = true;
                break;
            case 'd':
                is_valid &= parse_long(optarg, 0, &options->duration_ms);
                break;
            case 'i':
                is_valid &= parse_long(optarg, 0, &options->interval_ms);
                break;
            case 'T':
                is_valid &= parse_long(optarg, 1, &options->timeout_ms);
                break;
            default:
                is_valid = false;
        }
    }
    return is_valid && optind == argc && options->conninfo != NULL && options->table != NULL &&
           options->out_path != NULL && options->duration_ms >= 0 && label_is_valid(options->label) &&
           options->table[0] != '\0' && strlen(options->table) < 64;
}

int
main(int argc, char **argv)
{
    WriterOptions options;
    if (!options_parse(argc, argv, &options))
    {
        fputs(usage, stderr);
        return 2;
    }
    FILE *out = fopen(options.out_path, "w");
    if (out == NULL)
    {
        fprintf(stderr, "writer: cannot write %s: %s\n", options.out_path, strerror(errno));
        return 2;
    }
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A test that dies leaves no writer behind: the kernel sends SIGTERM when the parent exits (Linux). */
    if (options.is_bound_to_parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1))
        return 1;
    writer_run(&options, out);
    return fclose(out) == 0 ? 0 : 1;
}

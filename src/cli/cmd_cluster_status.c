/*
 * cmd_cluster_status.c - `prodata cluster status` and `cluster history`, the
 * read-only views of a cluster in etcd, and `cluster remove NODE`. status
 * reads the whole cluster with one range read under its root (so every key
 * comes from one etcd revision): the configuration, the leader key, each
 * member's published state, the roster; a roster name without a live member
 * key shows as down. With no leader it says so and what will happen: which
 * members the keepers may promote, or, when none is within
 * maximum_lag_on_failover_bytes, that no automatic failover will come and
 * the explicit way out; a switchover request in one line (where it stands). A key that does not parse is
 * named with its problem (exit 2) while the rest is still shown. remove takes a member out of the roster for
 * good, refusing while its keeper runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cluster.h"

enum
{
    PROBLEMS_MAX = 16,
};

/* One row of the status: a member with a live key, or a roster name without one (is_live false). */
typedef struct Row
{
    const char *name;
    bool is_live;
    bool is_readable; /* the key parsed (a live key that does not parse is listed, unreadable) */
    bool in_roster;
    PdMemberState state;
} Row;

typedef struct Problem
{
    const char *key;
    const char *message;
} Problem;

/* The cluster as one range read found it. */
typedef struct Cluster
{
    PdClusterConfig config;
    bool has_config;
    const char *leader; /* NULL: no leader key */
    PdRoster roster;
    Row *rows;
    size_t row_count;
    Problem problems[PROBLEMS_MAX];
    size_t problem_count;
    bool has_request; /* the switchover key holds a request that parsed */
    PdSwitchover request;
    bool has_backup_job; /* a scheduled backup's job that parsed (schedule.h) */
    PdScheduleJob backup_job;
    PdScheduleLast backup_last[PD_SCHEDULE_KINDS]; /* exists false: none recorded */
} Cluster;

static void
add_problem(PdArena *arena, Cluster *cluster, PdEtcdBytes key, const PdError *err)
{
    if (cluster->problem_count == PROBLEMS_MAX)
        return;
    cluster->problems[cluster->problem_count++] =
        (Problem){pd_arena_strndup(arena, key.data, key.length),
                  pd_arena_sprintf(arena, "%s%s%s", err->message, err->field[0] ? " (field " : "",
                                   err->field[0] ? pd_arena_sprintf(arena, "%s)", err->field) : "")};
}

static bool
is_key(PdEtcdBytes key, PdEtcdBytes wanted)
{
    return key.length == wanted.length && memcmp(key.data, wanted.data, key.length) == 0;
}

static Row *
find_row(Cluster *cluster, const char *name)
{
    for (size_t i = 0; i < cluster->row_count; i++)
        if (strcmp(cluster->rows[i].name, name) == 0)
            return &cluster->rows[i];
    return NULL;
}

/* A kind's last scheduled backup into *cluster when kv is one (a record that does not parse: a problem). */
static bool
read_backup_last(PdArena *arena, const PdKeys *keys, const PdEtcdKv *kv, Cluster *cluster)
{
    PdError err = {0};
    for (int kind = 0; kind < PD_SCHEDULE_KINDS; kind++)
    {
        if (!is_key(kv->key, pd_keys_backup_last(keys, kind)))
            continue;
        if (!pd_schedule_last_parse(arena, kv->value.data, kv->value.length, &cluster->backup_last[kind],
                                    &err))
            add_problem(arena, cluster, kv->key, &err);
        return true;
    }
    return false;
}

/* One key of the range into *cluster; a value that does not parse becomes a problem naming the key. */
static void
read_key(PdArena *arena, const PdKeys *keys, const PdEtcdKv *kv, Cluster *cluster)
{
    PdError err = {0};
    char *name;
    if (is_key(kv->key, pd_keys_config(keys)))
    {
        cluster->has_config =
            pd_cluster_config_parse(arena, kv->value.data, kv->value.length, &cluster->config, &err);
        if (!cluster->has_config)
            add_problem(arena, cluster, kv->key, &err);
    }
    else if (is_key(kv->key, pd_keys_leader(keys)))
    {
        cluster->leader = kv->value.data; /* NUL-terminated too */
        if (!pd_keys_check_member(cluster->leader, &err))
            add_problem(arena, cluster, kv->key, &err);
    }
    else if (is_key(kv->key, pd_keys_switchover(keys)))
    {
        cluster->has_request =
            pd_switchover_parse(arena, kv->value.data, kv->value.length, &cluster->request, &err);
        if (!cluster->has_request)
            add_problem(arena, cluster, kv->key, &err);
    }
    else if (is_key(kv->key, pd_keys_roster(keys)))
    {
        if (!pd_roster_parse(arena, kv->value.data, kv->value.length, &cluster->roster, &err))
            add_problem(arena, cluster, kv->key, &err);
    }
    else if (is_key(kv->key, pd_keys_backup_job(keys)))
    {
        cluster->has_backup_job =
            pd_schedule_job_parse(arena, kv->value.data, kv->value.length, &cluster->backup_job, &err);
        if (!cluster->has_backup_job)
            add_problem(arena, cluster, kv->key, &err);
    }
    else if (read_backup_last(arena, keys, kv, cluster))
        return;
    else if (pd_keys_member_of(arena, keys, kv->key, &name))
    {
        Row *row = &cluster->rows[cluster->row_count++];
        *row = (Row){.name = name, .is_live = true};
        row->is_readable = pd_member_parse(arena, kv->value.data, kv->value.length, &row->state, &err);
        if (!row->is_readable)
            add_problem(arena, cluster, kv->key, &err);
        else if (strcmp(row->state.name, name) != 0)
        {
            row->is_readable = false;
            pd_error_set(&err, PD_ERR_INVALID_INPUT, "the document names member \"%s\", not \"%s\"",
                         row->state.name, name);
            add_problem(arena, cluster, kv->key, &err);
        }
    }
}

/* Sorted by name: the table reads the same every time. */
static int
compare_rows(const void *a, const void *b)
{
    return strcmp(((const Row *)a)->name, ((const Row *)b)->name);
}

/* Every key under the cluster's root in one range read (one revision). UNKNOWN: PD_ERR_DCS_UNKNOWN. */
static bool
load_cluster(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, Cluster *cluster, PdError *err)
{
    *cluster = (Cluster){0};
    pd_cluster_config_defaults(&cluster->config);
    char *prefix = pd_arena_sprintf(arena, "%s/", keys->root);
    if (prefix == NULL)
        return pd_arena_error(arena, err);
    PdEtcdKv *kvs;
    size_t count;
    PdEtcdOutcome outcome = pd_etcd_range(arena, etcd, pd_etcd_text(prefix), &kvs, &count, err);
    if (outcome.status != PD_ETCD_DONE)
    {
        if (err->code == PD_ERR_DCS_UNKNOWN)
            pd_cli_cluster_unreachable_hint(err);
        return false;
    }
    cluster->rows = pd_arena_calloc(arena, count + PD_ROSTER_MAX + 1, sizeof *cluster->rows);
    if (cluster->rows == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
        read_key(arena, keys, &kvs[i], cluster);
    for (size_t i = 0; i < cluster->roster.count; i++)
    {
        Row *row = find_row(cluster, cluster->roster.names[i]);
        if (row == NULL)
        {
            row = &cluster->rows[cluster->row_count++];
            *row = (Row){.name = cluster->roster.names[i]};
        }
        row->in_roster = true;
    }
    qsort(cluster->rows, cluster->row_count, sizeof *cluster->rows, compare_rows);
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

/* ---- what the table and the JSON say of a row ---- */

static bool
is_leader(const Cluster *cluster, const Row *row)
{
    return cluster->leader != NULL && strcmp(cluster->leader, row->name) == 0;
}

static const char *
role_of(const Cluster *cluster, const Row *row)
{
    if (is_leader(cluster, row))
        return "leader";
    if (!row->is_live || !row->is_readable)
        return "-";
    return pd_member_role_name(row->state.role);
}

static const char *
state_of(const Row *row)
{
    return !row->is_live ? "down" : !row->is_readable ? "unreadable" : row->state.state;
}

/* "quorum" for a running standby when synchronous_mode is on (each is one of ANY k), "async" when off. */
static const char *
sync_of(const Cluster *cluster, const Row *row)
{
    if (!row->is_live || !row->is_readable || is_leader(cluster, row) ||
        row->state.role != PD_MEMBER_ROLE_STANDBY)
        return "-";
    return cluster->config.is_synchronous ? "quorum" : "async";
}

/* May the keepers promote this member on their own: a live, running standby whose lag is known and within
 * maximum_lag_on_failover_bytes. */
static bool
is_candidate(const Cluster *cluster, const Row *row)
{
    return row->is_live && row->is_readable && row->state.role == PD_MEMBER_ROLE_STANDBY &&
           strcmp(row->state.state, "running") == 0 && row->state.lag_bytes >= 0 &&
           row->state.lag_bytes <= cluster->config.maximum_lag_on_failover_bytes;
}

/* The live, readable standby with the least lag known, or NULL. */
static const Row *
most_advanced(const Cluster *cluster)
{
    const Row *best = NULL;
    for (size_t i = 0; i < cluster->row_count; i++)
    {
        const Row *row = &cluster->rows[i];
        if (row->is_live && row->is_readable && row->state.role == PD_MEMBER_ROLE_STANDBY &&
            row->state.lag_bytes >= 0 && (best == NULL || row->state.lag_bytes < best->state.lag_bytes))
            best = row;
    }
    return best;
}

/* What to say when no member holds the leader key. In arena. */
static const char *
no_leader_message(PdArena *arena, const Cluster *cluster)
{
    if (cluster->leader != NULL)
        return NULL;
    size_t candidates = 0;
    for (size_t i = 0; i < cluster->row_count; i++)
        candidates += is_candidate(cluster, &cluster->rows[i]);
    if (cluster->config.is_paused)
        return "no leader, and the cluster is paused: no automatic failover; `prodata cluster resume` lets "
               "the "
               "keepers elect one";
    if (candidates > 0)
        return pd_arena_sprintf(arena,
                                "no leader: the keepers will promote the most advanced of the %zu member(s) "
                                "within maximum_lag_on_failover_bytes (%" PRId64 ")",
                                candidates, cluster->config.maximum_lag_on_failover_bytes);
    const Row *best = most_advanced(cluster);
    return pd_arena_sprintf(
        arena,
        "no leader, and no member is within maximum_lag_on_failover_bytes (%" PRId64 ") of the last known "
        "primary position: no automatic failover will happen. To promote one anyway, accepting the loss of "
        "the "
        "writes it lacks: prodata cluster failover --to NODE --allow-data-loss%s%s%s",
        cluster->config.maximum_lag_on_failover_bytes, best != NULL ? " (the most advanced is " : "",
        best != NULL
            ? pd_arena_sprintf(arena, "%s, %" PRId64 " bytes behind", best->name, best->state.lag_bytes)
            : "",
        best != NULL ? ")" : "");
}

/* The wall clock, ms since the epoch. */
static int64_t
wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The switchover request in one line ("" when none), in arena. */
static const char *
request_text(PdArena *arena, const Cluster *cluster)
{
    if (!cluster->has_request)
        return "";
    const PdSwitchover *request = &cluster->request;
    int64_t now_ms = wall_ms();
    char lsn[24];
    const char *where =
        request->aborted != NULL ? pd_arena_sprintf(arena, "aborted: %s", request->aborted)
        : request->released_ms != 0
            ? pd_arena_sprintf(arena, "released at %s, %.1f s ago: waiting for %s to take over",
                               pd_member_lsn_text(request->lsn, lsn, sizeof lsn),
                               (double)(now_ms - request->released_ms) / 1000.0, request->to)
        : pd_switchover_is_live(request, now_ms) ? "pending: the leader has not taken it up yet"
                                                 : "expired (its timeout passed)";
    return pd_arena_sprintf(arena, "%s from %s to %s, asked %.1f s ago%s: %s",
                            pd_switchover_kind_name(request->kind),
                            request->from != NULL ? request->from : "(no leader)",
                            request->to != NULL ? request->to : "(the leader's choice)",
                            (double)(now_ms - request->requested_ms) / 1000.0,
                            request->allow_data_loss ? " (data loss allowed)" : "", where);
}

/* ---- status: the table ---- */

/* A member whose PostgreSQL waits for a restart to apply parameters: one line naming them. */
static void
print_pending(const Row *row)
{
    if (!row->is_live || !row->is_readable || row->state.pending_restart_count == 0)
        return;
    printf("%s: pending restart: ", row->name);
    for (size_t i = 0; i < row->state.pending_restart_count; i++)
        printf("%s%s", i > 0 ? ", " : "", row->state.pending_restart[i]);
    printf(" (restart it to apply: prodata does not restart PostgreSQL for a parameter)\n");
}

/* Seconds from at_ms (wall clock) to now, as "3 s" or "2 min". */
static const char *
age_text(int64_t at_ms, char *buffer, size_t size)
{
    int64_t seconds = (wall_ms() - at_ms) / 1000;
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120)
        snprintf(buffer, size, "%" PRId64 " s", seconds);
    else if (seconds < 7200)
        snprintf(buffer, size, "%" PRId64 " min", seconds / 60);
    else
        snprintf(buffer, size, "%" PRId64 " h", seconds / 3600);
    return buffer;
}

/* Whether the archiver's last attempt failed: a failure newer than the last success. */
static bool
is_archive_failing(const PdMemberArchive *archive)
{
    return archive->last_failed_ms > 0 && archive->last_failed_ms >= archive->last_archived_ms;
}

/* A member that archives (the primary): one line on its archiver, saying so loudly when it fails. */
static void
print_archive(const Row *row)
{
    const PdMemberArchive *archive = &row->state.archive;
    if (!row->is_live || !row->is_readable || !archive->is_known)
        return;
    char age[32], failed_age[32];
    if (is_archive_failing(archive))
    {
        printf("%s: archive FAILING: %s failed %s ago (%" PRId64 " failures", row->name,
               archive->last_failed_wal, age_text(archive->last_failed_ms, failed_age, sizeof failed_age),
               archive->failed_count);
        if (archive->last_archived_ms > 0)
            printf("; last success %s %s ago", archive->last_archived_wal,
                   age_text(archive->last_archived_ms, age, sizeof age));
        printf("), %" PRId64 " segments waiting: see %s's PostgreSQL log\n", archive->ready_count, row->name);
    }
    else if (archive->last_archived_ms > 0)
        printf("%s: archive: %s archived %s ago (%" PRId64 " archived, %" PRId64 " failed), %" PRId64
               " segments waiting\n",
               row->name, archive->last_archived_wal, age_text(archive->last_archived_ms, age, sizeof age),
               archive->archived_count, archive->failed_count, archive->ready_count);
    else
        printf("%s: archive: nothing archived yet, %" PRId64 " segments waiting\n", row->name,
               archive->ready_count);
}

/* A member writing without etcd under failsafe grants, or granting one: one line each (docs/ha.md). */
static void
print_failsafe(const Row *row)
{
    if (!row->is_live || !row->is_readable)
        return;
    const PdMemberState *state = &row->state;
    if (state->is_failsafe_writable)
        printf("failsafe: %s writable without etcd, granted by %s (%" PRId64 " ms left)\n", row->name,
               state->failsafe_granted_by[0] != '\0' ? state->failsafe_granted_by : "itself alone",
               state->failsafe_writable_ms);
    if (state->failsafe_holder != NULL)
        printf("failsafe: %s grants %s (%" PRId64 " ms left)\n", row->name, state->failsafe_holder,
               state->failsafe_holder_ms);
}

static void
print_rows(const Cluster *cluster)
{
    printf("%-12s %-8s %-12s %-22s %-8s %-12s %-8s %-7s %s\n", "member", "role", "state", "pg", "timeline",
           "lag_bytes", "lag_s", "sync", "waiting_for");
    for (size_t i = 0; i < cluster->row_count; i++)
    {
        const Row *row = &cluster->rows[i];
        char pg[300] = "-", timeline[16] = "-", lag[24] = "-", lag_s[32] = "-";
        bool has_state = row->is_live && row->is_readable;
        if (has_state && row->state.pg_port > 0)
            snprintf(pg, sizeof pg, "%s:%d", row->state.pg_host, row->state.pg_port);
        if (has_state && row->state.timeline > 0)
            snprintf(timeline, sizeof timeline, "%d", row->state.timeline);
        if (has_state && row->state.lag_bytes >= 0)
            snprintf(lag, sizeof lag, "%" PRId64, row->state.lag_bytes);
        if (has_state && row->state.replay_lag_ms >= 0)
            snprintf(lag_s, sizeof lag_s, "%.3f", (double)row->state.replay_lag_ms / 1000.0);
        printf("%-12s %-8s %-12s %-22s %-8s %-12s %-8s %-7s %s\n", row->name, role_of(cluster, row),
               state_of(row), pg, timeline, lag, lag_s, sync_of(cluster, row),
               has_state ? row->state.waiting_for : "");
    }
    for (size_t i = 0; i < cluster->row_count; i++)
    {
        print_archive(&cluster->rows[i]);
        print_pending(&cluster->rows[i]);
    }
    for (size_t i = 0; i < cluster->row_count; i++)
        print_failsafe(&cluster->rows[i]);
}

/* The scheduled backups: the job running, the last run of each kind (docs/ha.md, "Scheduled backups"). */
static void
print_backups(const Cluster *cluster)
{
    char age[32];
    bool is_first = true;
    if (cluster->has_backup_job)
    {
        age_text(cluster->backup_job.created_ms, age, sizeof age);
        printf("\nbackup job: %s on %s%s, asked %s ago (job %s)\n",
               pd_schedule_kind_name(cluster->backup_job.kind), cluster->backup_job.member,
               cluster->backup_job.is_from_standby ? " (a standby)" : "", age, cluster->backup_job.id);
        is_first = false;
    }
    for (int kind = 0; kind < PD_SCHEDULE_KINDS; kind++)
    {
        const PdScheduleLast *last = &cluster->backup_last[kind];
        if (!last->exists)
            continue;
        age_text(last->time_ms, age, sizeof age);
        printf("%slast %s backup: %s on %s %s ago%s%s%s%s%s\n", is_first ? "\n" : "",
               pd_schedule_kind_name((PdScheduleKind)kind), last->is_ok ? "ok" : "FAILED", last->member, age,
               last->label[0] ? " (" : "", last->label, last->label[0] ? ")" : "", last->is_ok ? "" : ": ",
               last->is_ok ? "" : last->message);
        is_first = false;
    }
}

static void
print_status(PdArena *arena, const PdKeys *keys, const Cluster *cluster)
{
    printf("cluster %s: leader %s, synchronous_mode %s", keys->root,
           cluster->leader != NULL ? cluster->leader : "(none)",
           cluster->config.is_synchronous ? "on" : "off");
    if (cluster->config.is_synchronous)
        printf(" (ANY %d)", cluster->config.synchronous_quorum);
    printf(", maximum_lag_on_failover_bytes %" PRId64 "%s\n\n", cluster->config.maximum_lag_on_failover_bytes,
           cluster->config.is_paused ? ", PAUSED (no automatic action)" : "");
    if (cluster->row_count == 0)
        printf("no members: no keeper has published its state, and the roster is empty\n");
    else
        print_rows(cluster);
    const char *message = no_leader_message(arena, cluster);
    if (message != NULL)
        printf("\n%s\n", message);
    if (cluster->has_request)
        printf("\n%s\n", request_text(arena, cluster));
    print_backups(cluster);
    for (size_t i = 0; i < cluster->problem_count; i++)
        printf("%sproblem: %s: %s\n", i == 0 ? "\n" : "", cluster->problems[i].key,
               cluster->problems[i].message);
}

/* ---- status: the JSON ---- */

static json_t *
pending_json(const PdMemberState *state)
{
    json_t *names = json_array();
    for (size_t i = 0; names != NULL && i < state->pending_restart_count; i++)
        json_array_append_new(names, json_string(state->pending_restart[i]));
    return names;
}

/* The member's archive object with is_failing, or null. */
static json_t *
archive_json(const PdMemberArchive *archive)
{
    json_t *object = pd_member_archive_json(archive);
    if (json_is_object(object))
        json_object_set_new(object, "is_failing", json_boolean(is_archive_failing(archive)));
    return object;
}

static json_t *
row_json(const Cluster *cluster, const Row *row)
{
    json_t *object =
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:s}", "name", row->name, "role", role_of(cluster, row),
                  "state", state_of(row), "is_leader", is_leader(cluster, row), "is_live", row->is_live,
                  "in_roster", row->in_roster, "sync", sync_of(cluster, row));
    if (object == NULL || !row->is_live || !row->is_readable)
        return object;
    const PdMemberState *state = &row->state;
    char write_lsn[24], replay_lsn[24];
    json_t *published = json_pack(
        "{s:s, s:i, s:s, s:i, s:s, s:s, s:b, s:I, s:o, s:I, s:s, s:b, s:o}", "pg_host", state->pg_host,
        "pg_port", state->pg_port, "api_url", state->api_url, "timeline", state->timeline, "write_lsn",
        pd_member_lsn_text(state->write_lsn, write_lsn, sizeof write_lsn), "replay_lsn",
        pd_member_lsn_text(state->replay_lsn, replay_lsn, sizeof replay_lsn), "is_streaming",
        state->is_streaming, "lag_bytes", (json_int_t)state->lag_bytes, "lag_s",
        state->replay_lag_ms >= 0 ? json_real((double)state->replay_lag_ms / 1000.0) : json_null(),
        "updated_ms", (json_int_t)state->updated_ms, "waiting_for", state->waiting_for,
        "is_failover_candidate", is_candidate(cluster, row), "pending_restart", pending_json(state));
    json_object_set_new(published, "archive", archive_json(&state->archive));
    json_object_update(object, published); /* copies: published is still ours */
    json_decref(published);
    json_object_set_new(object, "failsafe_grant",
                        state->failsafe_holder != NULL
                            ? json_pack("{s:s, s:I}", "holder", state->failsafe_holder, "remaining_ms",
                                        (json_int_t)state->failsafe_holder_ms)
                            : json_null());
    json_object_set_new(object, "failsafe_writable",
                        state->is_failsafe_writable
                            ? json_pack("{s:s, s:I}", "granted_by", state->failsafe_granted_by,
                                        "remaining_ms", (json_int_t)state->failsafe_writable_ms)
                            : json_null());
    return object;
}

/* {"job": {...} or null, "last": {"full": {...} or null, "incr": ..., "verify": ...}} */
static json_t *
backups_json(PdArena *arena, const Cluster *cluster)
{
    PdError ignored = {0};
    char *text = cluster->has_backup_job ? pd_schedule_job_json(arena, &cluster->backup_job, &ignored) : NULL;
    json_t *last = json_object();
    for (int kind = 0; last != NULL && kind < PD_SCHEDULE_KINDS; kind++)
    {
        char *record = cluster->backup_last[kind].exists
                           ? pd_schedule_last_json(arena, &cluster->backup_last[kind], &ignored)
                           : NULL;
        json_t *value = record != NULL ? json_loads(record, 0, NULL) : NULL;
        json_object_set_new(last, pd_schedule_kind_name((PdScheduleKind)kind),
                            value != NULL ? value : json_null());
    }
    json_t *job = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return json_pack("{s:o, s:o}", "job", job != NULL ? job : json_null(), "last", last);
}

static bool
print_status_json(PdArena *arena, const PdKeys *keys, const Cluster *cluster, PdError *err)
{
    json_t *members = json_array(), *problems = json_array();
    for (size_t i = 0; i < cluster->row_count; i++)
        json_array_append_new(members, row_json(cluster, &cluster->rows[i]));
    for (size_t i = 0; i < cluster->problem_count; i++)
        json_array_append_new(problems, json_pack("{s:s, s:s}", "key", cluster->problems[i].key, "message",
                                                  cluster->problems[i].message));
    const char *message = no_leader_message(arena, cluster);
    char *request = NULL;
    PdError ignored = {0};
    json_t *switchover =
        cluster->has_request && pd_switchover_json(arena, &cluster->request, &request, &ignored)
            ? json_loads(request, 0, NULL)
            : json_null();
    if (json_is_object(switchover))
        json_object_set_new(switchover, "summary", json_string(request_text(arena, cluster)));
    json_t *root =
        json_pack("{s:s, s:o, s:b, s:b, s:i, s:I, s:o, s:o, s:o, s:o, s:o}", "root", keys->root, "leader",
                  cluster->leader != NULL ? json_string(cluster->leader) : json_null(), "paused",
                  cluster->config.is_paused, "synchronous_mode", cluster->config.is_synchronous,
                  "synchronous_quorum", cluster->config.synchronous_quorum, "maximum_lag_on_failover_bytes",
                  (json_int_t)cluster->config.maximum_lag_on_failover_bytes, "members", members, "message",
                  message != NULL ? json_string(message) : json_null(), "switchover",
                  switchover != NULL ? switchover : json_null(), "backups", backups_json(arena, cluster),
                  "problems", problems);
    char *text = root != NULL
                     ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_REAL_PRECISION(15))
                     : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON output");
    printf("%s\n", text);
    free(text);
    return true;
}

/* A status that met keys it could not read: shown, then exit 2 naming them. */
static bool
problems_error(const Cluster *cluster, PdError *err)
{
    if (cluster->problem_count == 0)
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "%zu key(s) in etcd do not parse; the first: %s: %s",
                 cluster->problem_count, cluster->problems[0].key, cluster->problems[0].message);
    return pd_error_hint(err, "A keeper rewrites its own member key every loop; a configuration, roster or "
                              "leader key written by hand must be repaired by hand (docs/ha.md).");
}

bool
pd_cli_cluster_status(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, PdError *err)
{
    Cluster cluster;
    if (!load_cluster(arena, etcd, keys, &cluster, err))
        return false;
    if (cli_has_flag(args, "--json", NULL))
    {
        if (!print_status_json(arena, keys, &cluster, err))
            return false;
    }
    else
        print_status(arena, keys, &cluster);
    fflush(stdout);
    return problems_error(&cluster, err);
}

/* ---- history ---- */

/* "2026-11-30 07:48:06.123 UTC" into buffer. */
static const char *
time_text(int64_t at_ms, char *buffer, size_t size)
{
    time_t seconds = (time_t)(at_ms / 1000);
    struct tm utc;
    if (gmtime_r(&seconds, &utc) == NULL)
        snprintf(buffer, size, "%" PRId64 " ms", at_ms);
    else
    {
        size_t length = strftime(buffer, size, "%Y-%m-%d %H:%M:%S", &utc);
        snprintf(buffer + length, size - length, ".%03d UTC", (int)(at_ms % 1000));
    }
    return buffer;
}

static bool
print_history_json(const PdKeys *keys, const PdHistoryEntry *entries, size_t count, PdError *err)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
    {
        char lsn[24], at[48];
        json_array_append_new(
            array, json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s}", "at_ms", (json_int_t)entries[i].at_ms,
                             "at", time_text(entries[i].at_ms, at, sizeof at), "from", entries[i].from, "to",
                             entries[i].to, "reason", entries[i].reason, "timeline", entries[i].timeline,
                             "lsn", pd_member_lsn_text(entries[i].lsn, lsn, sizeof lsn)));
    }
    json_t *root = json_pack("{s:s, s:o}", "key", pd_keys_history(keys).data, "history", array);
    char *text = root != NULL ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON output");
    printf("%s\n", text);
    free(text);
    return true;
}

bool
pd_cli_cluster_history(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, PdError *err)
{
    PdEtcdKv kv;
    PdEtcdOutcome outcome = pd_etcd_get(arena, etcd, pd_keys_history(keys), &kv, err);
    if (outcome.status != PD_ETCD_DONE)
    {
        if (err->code == PD_ERR_DCS_UNKNOWN)
            pd_cli_cluster_unreachable_hint(err);
        return false;
    }
    PdHistoryEntry *entries = NULL;
    size_t count = 0;
    if (kv.exists && !pd_history_parse(arena, kv.value.data, kv.value.length, &entries, &count, err))
        return pd_error_context(err, "while reading %s", pd_keys_history(keys).data);
    if (cli_has_flag(args, "--json", NULL))
        return print_history_json(keys, entries, count, err);
    if (count == 0)
    {
        printf("%s: no failover or switchover yet\n", pd_keys_history(keys).data);
        return true;
    }
    printf("%-27s %-12s %-12s %-10s %-8s %s\n", "at", "from", "to", "reason", "timeline", "lsn");
    for (size_t i = 0; i < count; i++)
    {
        char lsn[24], at[48];
        printf("%-27s %-12s %-12s %-10s %-8d %s\n", time_text(entries[i].at_ms, at, sizeof at),
               entries[i].from[0] != '\0' ? entries[i].from : "-", entries[i].to, entries[i].reason,
               entries[i].timeline, pd_member_lsn_text(entries[i].lsn, lsn, sizeof lsn));
    }
    return true;
}

/* ---- remove ---- */

/* Refuses while no member holds the leader key, while name's keeper is live (its member key under a lease) or
 * it holds the leader key; deletes a member key left without a lease (written by hand: no keeper will ever
 * remove it). */
static bool
check_not_live(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *name, PdError *err)
{
    PdEtcdBytes key;
    PdEtcdKv member, leader;
    if (!pd_keys_member(arena, keys, name, &key, err))
        return false;
    if (pd_etcd_get(arena, etcd, key, &member, err).status != PD_ETCD_DONE ||
        pd_etcd_get(arena, etcd, pd_keys_leader(keys), &leader, err).status != PD_ETCD_DONE)
        return false;
    if (!leader.exists)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "cluster remove: no member holds the leader key: the roster changes only while a leader "
                     "renews its lease");
        return pd_error_hint(err,
                             "A primary cut off from etcd counts the roster it last read: a member removed "
                             "meanwhile would let a taker's majority and its own miss each other "
                             "(docs/ha.md, \"The etcd outage: failsafe grants\"). Remove it once a leader is "
                             "back.");
    }
    if (leader.exists && leader.value.length == strlen(name) &&
        memcmp(leader.value.data, name, leader.value.length) == 0)
        return pd_error_set(err, PD_ERR_REFUSED,
                            "cluster remove: %s holds the leader key: stop its keeper first", name);
    if (member.exists && member.lease_id != 0)
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "cluster remove: the keeper of %s is running (%s is live): stop its "
                     "keeper first",
                     name, key.data);
        return pd_error_hint(err,
                             "Its key lives while its lease does (ttl_s after the keeper stops); a running "
                             "keeper would add itself back to the roster.");
    }
    if (!member.exists)
        return true;
    PdEtcdCas cas = {.key = key,
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = member.mod_revision,
                     .action = PD_ETCD_DELETE};
    PdEtcdKv current;
    PdEtcdOutcome outcome = pd_etcd_cas(arena, etcd, &cas, &current, err);
    if (outcome.status == PD_ETCD_COMPARE_FAILED)
        return pd_error_set(err, PD_ERR_REFUSED,
                            "cluster remove: %s changed while it was being removed: run "
                            "`prodata cluster status` and try again",
                            key.data);
    return outcome.status == PD_ETCD_DONE;
}

bool
pd_cli_cluster_remove(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys, PdError *err)
{
    const char *name = args->positional[1];
    if (!pd_keys_check_member(name, err))
        return pd_error_context(err, "cluster remove: \"%s\" is not a member name", name);
    if (!check_not_live(arena, etcd, keys, name, err))
    {
        if (err->code == PD_ERR_DCS_UNKNOWN)
            pd_error_hint(err,
                          "The outcome is unknown: run `prodata cluster status` to see whether %s is still "
                          "there, then run `prodata cluster remove %s` again.",
                          name, name);
        return false;
    }
    bool is_changed = false;
    PdEtcdOutcome outcome = pd_roster_change(arena, etcd, keys, name, false, &is_changed, err);
    switch (outcome.status)
    {
        case PD_ETCD_DONE:
            break;
        case PD_ETCD_UNKNOWN:
            if (err->code == PD_ERR_DCS_UNKNOWN)
                pd_error_hint(err,
                              "The outcome is unknown: run `prodata cluster status` to see whether %s is "
                              "still in the roster, then run `prodata cluster remove %s` again.",
                              name, name);
            return false;
        case PD_ETCD_COMPARE_FAILED:
            return pd_error_context(err, "while removing %s from %s", name, pd_keys_roster(keys).data);
        case PD_ETCD_LEASE_NOT_FOUND:
        case PD_ETCD_REJECTED:
            return pd_error_context(err, "while removing %s from %s", name, pd_keys_roster(keys).data);
    }
    if (is_changed)
        printf("%s: removed %s for good; the leader's keeper drops its replication slot prodata_%s\n",
               pd_keys_roster(keys).data, name, name);
    else
        printf("%s: %s is not in the roster: nothing to remove\n", pd_keys_roster(keys).data, name);
    return true;
}

/*
 * api_route.c - what the keeper's API answers, decided from one snapshot of
 * the keeper's view: Patroni 3's health-check rules, endpoint by endpoint
 * (docs/ha.md has the table beside Patroni's), this member's state document
 * (/patroni, and the body of every health check) and the cluster's
 * (/cluster). Pure: no HTTP, no clock, no lock here (api.c brings the request
 * and the snapshot), so every rule is tested without a server too.
 *
 * The rules, on the snapshot's flags:
 *   writable leader   holds_leader && pg_running && !in_recovery, before leader_until (the fence deadline)
 *   healthy replica   pg_running && in_recovery && is_streaming && !holds_leader,
 *                     its replay lag known and within ?lag= (default: the
 *                     cluster's maximum_lag_on_failover_bytes)
 * Anything the client sent wrongly is a 4xx with a JSON body; only running
 * out of memory fails, and api.c makes that a 503, never a 500.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/api_route.h"
#include "ha/cluster_config.h"

typedef enum Check
{
    CHECK_PRIMARY,
    CHECK_STANDBY_LEADER,
    CHECK_REPLICA,
    CHECK_READ_ONLY,
    CHECK_SYNC,
    CHECK_ASYNC,
    CHECK_READ_ONLY_SYNC,
    CHECK_HEALTH,
    CHECK_LIVENESS,
    CHECK_READINESS,
    CHECK_PATRONI,
    CHECK_CLUSTER,
} Check;

/* Patroni's paths, its aliases included. Ours is synchronous replication by quorum (ANY k): every listed
 * standby is both a "sync" and a "quorum" one. */
static const struct
{
    const char *path;
    Check check;
} endpoints[] = {
    {"/", CHECK_PRIMARY},
    {"/primary", CHECK_PRIMARY},
    {"/master", CHECK_PRIMARY},
    {"/read-write", CHECK_PRIMARY},
    {"/leader", CHECK_PRIMARY},
    {"/standby-leader", CHECK_STANDBY_LEADER},
    {"/standby_leader", CHECK_STANDBY_LEADER},
    {"/replica", CHECK_REPLICA},
    {"/read-only", CHECK_READ_ONLY},
    {"/sync", CHECK_SYNC},
    {"/synchronous", CHECK_SYNC},
    {"/quorum", CHECK_SYNC},
    {"/async", CHECK_ASYNC},
    {"/asynchronous", CHECK_ASYNC},
    {"/read-only-sync", CHECK_READ_ONLY_SYNC},
    {"/read-only-synchronous", CHECK_READ_ONLY_SYNC},
    {"/read-only-quorum", CHECK_READ_ONLY_SYNC},
    {"/health", CHECK_HEALTH},
    {"/liveness", CHECK_LIVENESS},
    {"/readiness", CHECK_READINESS},
    {"/patroni", CHECK_PATRONI},
    {"/cluster", CHECK_CLUSTER},
};

/* The query, read once. */
typedef struct Query
{
    bool has_lag;
    int64_t lag_bytes;
    const char *replication_state; /* NULL: not asked */
    bool is_mode_write;            /* /readiness?mode=write: the received, not the replayed, position */
    bool has_tag;                  /* a tag_* parameter: we have no tags, so it never matches (Patroni) */
} Query;

bool
pd_ha_api_parse_lag(const char *text, int64_t *bytes)
{
    static const struct
    {
        const char *unit;
        int shift;
    } units[] = {{"", 0}, {"B", 0}, {"kB", 10}, {"MB", 20}, {"GB", 30}, {"TB", 40}};
    const char *at = text;
    int64_t number = 0;
    if (*at < '0' || *at > '9')
        return false;
    for (; *at >= '0' && *at <= '9'; at++)
    {
        if (number > (INT64_MAX - (*at - '0')) / 10)
            return false;
        number = number * 10 + (*at - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    {
        if (strcmp(at, units[i].unit) != 0)
            continue;
        if (number > (INT64_MAX >> units[i].shift))
            return false;
        *bytes = number << units[i].shift;
        return true;
    }
    return false;
}

/* {"detail": text} in arena. text may quote what the client sent: any byte outside printable ASCII becomes
 * '?', so the body is always valid JSON (jansson refuses invalid UTF-8). */
static bool
detail_body(PdArena *arena, const char *text, const char **body, PdError *err)
{
    char *printable = pd_arena_strdup(arena, text);
    if (printable == NULL)
        return pd_arena_error(arena, err);
    for (char *at = printable; *at != '\0'; at++)
        if ((unsigned char)*at < 0x20 || (unsigned char)*at > 0x7e)
            *at = '?';
    json_t *root = json_pack("{s:s}", "detail", printable);
    char *dumped = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    *body = dumped != NULL ? pd_arena_strdup(arena, dumped) : NULL;
    free(dumped);
    if (*body == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the API's answer");
    return true;
}

static bool
answer_detail(PdArena *arena, PdHaApiAnswer *answer, int status, const char *text, PdError *err)
{
    answer->status = status;
    return detail_body(arena, text, &answer->body, err);
}

/* Reads the query; a value we cannot use sets *is_bad and makes *answer the 400. False: out of memory. */
static bool
read_query(PdArena *arena, const PdHaApiRequest *request, Query *query, PdHaApiAnswer *answer, bool *is_bad,
           PdError *err)
{
    *query = (Query){0};
    *is_bad = false;
    char text[512];
    bool has_mode = false;
    for (size_t i = 0; i < request->arg_count && !*is_bad; i++)
    {
        const PdHaApiArg *arg = &request->args[i];
        if (strcmp(arg->name, "lag") == 0 && query->has_lag)
            *is_bad = snprintf(text, sizeof text, "lag is given twice") > 0;
        else if (strcmp(arg->name, "lag") == 0 && !pd_ha_api_parse_lag(arg->value, &query->lag_bytes))
            *is_bad =
                snprintf(text, sizeof text,
                         "lag \"%.64s\" is not a size: give bytes (1048576) or a whole number with a unit "
                         "(B, kB, MB, GB, TB: 1024kB, 10MB)",
                         arg->value) > 0;
        else if (strcmp(arg->name, "lag") == 0)
            query->has_lag = true;
        else if (strcmp(arg->name, "mode") == 0 &&
                 (has_mode || (strcmp(arg->value, "apply") != 0 && strcmp(arg->value, "write") != 0)))
            *is_bad =
                snprintf(text, sizeof text, "mode \"%.64s\" is not apply or write (once)", arg->value) > 0;
        else if (strcmp(arg->name, "mode") == 0)
        {
            has_mode = true;
            query->is_mode_write = strcmp(arg->value, "write") == 0;
        }
        else if (strcmp(arg->name, "replication_state") == 0)
            query->replication_state = arg->value;
        else if (strncmp(arg->name, "tag_", 4) == 0)
            query->has_tag = true;
        /* any other parameter is ignored, as Patroni does */
    }
    if (*is_bad)
        return answer_detail(arena, answer, 400, text, err);
    return true;
}

/* The replay lag (the leader's last known position less what this standby replayed); -1 unknown. */
static int64_t
lag_of(const PdKeeperSnapshot *snapshot, bool is_mode_write)
{
    if (snapshot->lag_bytes < 0)
        return -1;
    if (is_mode_write || snapshot->replay_lsn >= snapshot->write_lsn)
        return snapshot->lag_bytes;
    uint64_t unreplayed = snapshot->write_lsn - snapshot->replay_lsn;
    if (unreplayed > (uint64_t)(INT64_MAX - snapshot->lag_bytes))
        return INT64_MAX;
    return snapshot->lag_bytes + (int64_t)unreplayed;
}

/* The snapshot is the last tick's: a leader whose keeper has not published since its fence deadline passed
 * (a tick slowed by etcd timeouts) may be fenced already, and another node may lead by now. */
static bool
is_writable_leader(const PdHaApiRequest *request)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    return snapshot->holds_leader && request->now_mono_ms < snapshot->leader_until_mono_ms &&
           snapshot->pg_running && !snapshot->in_recovery;
}

/* A running standby, streaming, within the lag bound; the replayed position counts, as in Patroni. */
static bool
is_healthy_replica(const PdKeeperSnapshot *snapshot, const Query *query, bool is_mode_write)
{
    if (!snapshot->pg_running || !snapshot->in_recovery || !snapshot->is_streaming || snapshot->holds_leader)
        return false;
    if (query->replication_state != NULL && strcmp(query->replication_state, "streaming") != 0)
        return false;
    int64_t bound = query->has_lag ? query->lag_bytes : snapshot->maximum_lag_bytes;
    int64_t lag = lag_of(snapshot, is_mode_write);
    return lag >= 0 && lag <= bound;
}

/* 3 x ttl_s, as ms: the loop ticks at least twice per ttl, so three ttls without a tick is a stuck loop. */
static int64_t
liveness_bound_ms(const PdKeeperSnapshot *snapshot)
{
    int ttl_s = snapshot->ttl_s > 0 ? snapshot->ttl_s : PD_CLUSTER_TTL_S_DEFAULT;
    return 3 * (int64_t)ttl_s * 1000;
}

static bool
is_live(const PdHaApiRequest *request)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    if (snapshot->is_paused)
        return true; /* Patroni: in maintenance a stuck loop is no reason to restart the keeper */
    return snapshot->tick_mono_ms > 0 &&
           request->now_mono_ms - snapshot->tick_mono_ms <= liveness_bound_ms(snapshot);
}

/* The status of a health check (the checks with a status rule); tags as Patroni: never on leader paths. */
static int
check_status(const PdHaApiRequest *request, Check check, const Query *query)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    if (!request->has_snapshot)
        return 503;
    bool is_ok = false;
    bool has_tags = true;
    switch (check)
    {
        case CHECK_PRIMARY:
            is_ok = is_writable_leader(request);
            has_tags = false;
            break;
        case CHECK_STANDBY_LEADER: /* no standby clusters here */
            has_tags = false;
            break;
        case CHECK_REPLICA:
            is_ok = is_healthy_replica(snapshot, query, false);
            break;
        case CHECK_READ_ONLY:
            is_ok = is_writable_leader(request) || is_healthy_replica(snapshot, query, false);
            break;
        case CHECK_SYNC:
            is_ok = snapshot->is_sync_standby && is_healthy_replica(snapshot, query, false);
            break;
        case CHECK_ASYNC:
            is_ok = !snapshot->is_sync_standby && is_healthy_replica(snapshot, query, false);
            break;
        case CHECK_READ_ONLY_SYNC:
            is_ok = is_writable_leader(request) ||
                    (snapshot->is_sync_standby && is_healthy_replica(snapshot, query, false));
            break;
        case CHECK_HEALTH:
            is_ok = snapshot->pg_running;
            break;
        case CHECK_LIVENESS:
            is_ok = is_live(request);
            has_tags = false;
            break;
        case CHECK_READINESS:
            is_ok = is_writable_leader(request) || is_healthy_replica(snapshot, query, query->is_mode_write);
            has_tags = false;
            break;
        case CHECK_PATRONI:
        case CHECK_CLUSTER:
            is_ok = true;
            has_tags = false;
            break;
    }
    return is_ok && !(has_tags && query->has_tag) ? 200 : 503;
}

/* The state Patroni reports: "running" only while PostgreSQL runs, whatever the member document says. */
static const char *
patroni_state(const PdKeeperSnapshot *snapshot, const char *member_state)
{
    if (snapshot->pg_running)
        return "running";
    if (member_state != NULL && strcmp(member_state, "running") != 0)
        return member_state;
    return "stopped";
}

static const char *
patroni_role(const PdKeeperSnapshot *snapshot, const char *member_role)
{
    if (snapshot->pg_running)
        return snapshot->in_recovery ? "replica" : "primary";
    if (member_role != NULL && strcmp(member_role, "primary") == 0)
        return "primary";
    if (member_role != NULL && strcmp(member_role, "standby") == 0)
        return "replica";
    return "uninitialized";
}

static const char *
string_of(json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

/* Our own fields, beside Patroni's: the flags the checks decide on, and the member document as published. */
static json_t *
prodata_fields(const PdHaApiRequest *request, json_t *member)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    json_t *ours = json_object();
    json_object_set_new(ours, "version", json_string(PD_VERSION));
    json_object_set_new(ours, "holds_leader", json_boolean(snapshot->holds_leader));
    json_object_set_new(ours, "pg_running", json_boolean(snapshot->pg_running));
    json_object_set_new(ours, "in_recovery", json_boolean(snapshot->in_recovery));
    json_object_set_new(ours, "is_streaming", json_boolean(snapshot->is_streaming));
    json_object_set_new(ours, "is_sync_standby", json_boolean(snapshot->is_sync_standby));
    json_object_set_new(ours, "is_paused", json_boolean(snapshot->is_paused));
    json_object_set_new(ours, "lag_bytes", json_integer(snapshot->lag_bytes));
    json_object_set_new(ours, "maximum_lag_bytes", json_integer(snapshot->maximum_lag_bytes));
    json_object_set_new(ours, "tick_age_ms",
                        snapshot->tick_mono_ms > 0
                            ? json_integer(request->now_mono_ms - snapshot->tick_mono_ms)
                            : json_null());
    json_object_set(ours, "member", member != NULL ? member : json_null());
    return ours;
}

/* This member's state: Patroni's fields (state, role, server_version, timeline, xlog, replication_state,
 * sync_standby, pause) and ours under "prodata". NULL when out of memory. */
static json_t *
member_status(const PdHaApiRequest *request)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    json_t *member = snapshot->member_json != NULL ? json_loads(snapshot->member_json, 0, NULL) : NULL;
    if (member != NULL && !json_is_object(member))
    {
        json_decref(member);
        member = NULL;
    }
    json_t *root = json_object();
    const char *role = patroni_role(snapshot, string_of(member, "role"));
    json_object_set_new(root, "state", json_string(patroni_state(snapshot, string_of(member, "state"))));
    json_object_set_new(root, "role", json_string(role));
    if (snapshot->server_version > 0)
        json_object_set_new(root, "server_version", json_integer(snapshot->server_version));
    if (snapshot->timeline > 0)
        json_object_set_new(root, "timeline", json_integer(snapshot->timeline));
    if (strcmp(role, "replica") == 0)
    {
        json_object_set_new(root, "xlog",
                            json_pack("{s:I, s:I}", "received_location", (json_int_t)snapshot->write_lsn,
                                      "replayed_location", (json_int_t)snapshot->replay_lsn));
        json_object_set_new(root, "replication_state",
                            json_string(snapshot->is_streaming ? "streaming" : "in archive recovery"));
        if (snapshot->is_sync_standby)
            json_object_set_new(root, "sync_standby", json_true());
    }
    else if (strcmp(role, "primary") == 0)
        json_object_set_new(root, "xlog", json_pack("{s:I}", "location", (json_int_t)snapshot->write_lsn));
    if (snapshot->is_paused)
        json_object_set_new(root, "pause", json_true());
    if (string_of(member, "name") != NULL)
        json_object_set_new(root, "name", json_string(string_of(member, "name")));
    json_object_set_new(root, "prodata", prodata_fields(request, member));
    json_decref(member);
    return root;
}

/* Dumps root (stolen) into arena. */
static bool
dump_body(PdArena *arena, json_t *root, const char **body, PdError *err)
{
    char *dumped = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    *body = dumped != NULL ? pd_arena_strdup(arena, dumped) : NULL;
    free(dumped);
    if (*body == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the API's answer");
    return true;
}

static json_t *
liveness_body(const PdHaApiRequest *request, int status)
{
    const PdKeeperSnapshot *snapshot = &request->snapshot;
    json_t *age = snapshot->tick_mono_ms > 0 ? json_integer(request->now_mono_ms - snapshot->tick_mono_ms)
                                             : json_null();
    return json_pack("{s:b, s:o, s:I, s:b}", "live", status == 200, "tick_age_ms", age, "bound_ms",
                     (json_int_t)liveness_bound_ms(snapshot), "paused", snapshot->is_paused);
}

/* The body of a GET (HEAD sends the same headers without it). */
static bool
check_body(PdArena *arena, const PdHaApiRequest *request, Check check, int status, const char **body,
           PdError *err)
{
    if (!request->has_snapshot)
        return detail_body(arena, "the keeper has not published its state yet", body, err);
    if (check == CHECK_CLUSTER && request->snapshot.cluster_json == NULL)
        return detail_body(arena, "the keeper has not published the cluster's state yet", body, err);
    if (check == CHECK_CLUSTER)
    {
        *body = request->snapshot.cluster_json;
        return true;
    }
    if (check == CHECK_LIVENESS)
        return dump_body(arena, liveness_body(request, status), body, err);
    if (check == CHECK_READINESS)
        return dump_body(arena, json_pack("{s:b}", "ready", status == 200), body, err);
    return dump_body(arena, member_status(request), body, err);
}

bool
pd_ha_api_route(PdArena *arena, const PdHaApiRequest *request, PdHaApiAnswer *answer, PdError *err)
{
    *answer = (PdHaApiAnswer){.status = 503, .body = ""};
    size_t i = 0;
    while (i < sizeof endpoints / sizeof endpoints[0] && strcmp(endpoints[i].path, request->path) != 0)
        i++;
    char text[160];
    if (i == sizeof endpoints / sizeof endpoints[0])
    {
        snprintf(text, sizeof text, "no endpoint \"%.100s\" (docs/ha.md lists them)", request->path);
        return answer_detail(arena, answer, 404, text, err);
    }
    bool is_options = strcmp(request->method, "OPTIONS") == 0;
    if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0 && !is_options)
    {
        answer->allow = PD_HA_API_ALLOW;
        snprintf(text, sizeof text, "method \"%.40s\" not allowed: %s", request->method, PD_HA_API_ALLOW);
        return answer_detail(arena, answer, 405, text, err);
    }
    Query query;
    bool is_bad;
    if (!read_query(arena, request, &query, answer, &is_bad, err))
        return false;
    if (is_bad)
        return true; /* the 400 */
    Check check = endpoints[i].check;
    answer->status = check_status(request, check, &query);
    if (!request->has_snapshot || (check == CHECK_CLUSTER && request->snapshot.cluster_json == NULL))
        answer->status = 503;
    if (is_options)
    {
        answer->allow = PD_HA_API_ALLOW; /* the status alone, as Patroni's OPTIONS (what HAProxy reads) */
        return true;
    }
    return check_body(arena, request, check, answer->status, &answer->body, err);
}

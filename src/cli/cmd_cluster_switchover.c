/*
 * cmd_cluster_switchover.c - `prodata cluster switchover [--to NODE]` and
 * `cluster failover --to NODE [--allow-data-loss]`: a request written to the
 * switchover key (src/ha/switchover.h) for the keepers to carry out, then
 * watched until it is done. Every check is made on one range read of the
 * cluster, with the rules the leader's keeper applies again on its own read
 * (switchover.h), so a refusal here names what the keeper would refuse. The
 * request is written by compare-and-swap (only while absent, or over the
 * aborted or expired one that was read); the wait polls etcd every 100 ms
 * within --timeout: done when another member leads and runs as a primary,
 * refused (exit 1) when the leader marked the request aborted, unknown
 * (exit 4) when the time is up, saying what it last saw. A failover with a
 * running leader is a switchover to NODE.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cluster.h"

/* What the command was asked. */
typedef struct Ask
{
    bool is_failover;
    const char *to; /* NULL: the leader chooses (switchover only) */
    int64_t timeout_ms;
    bool allow_data_loss;
    bool is_json;
} Ask;

/* The cluster as one range read found it. */
typedef struct View
{
    PdClusterConfig config;
    const char *leader; /* NULL: no leader key */
    PdMemberState *members;
    size_t member_count;
    PdRoster roster;
    PdRoster sync_set;
    int sync_quorum;
    bool has_request; /* the switchover key exists */
    bool is_request_valid;
    PdSwitchover request;
    int64_t request_revision;
} View;

static int64_t
wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool
is_key(PdEtcdBytes key, PdEtcdBytes wanted)
{
    return key.length == wanted.length && memcmp(key.data, wanted.data, key.length) == 0;
}

/* One key of the range into *view; a key that does not parse is left out (the keepers ignore it too). */
static void
read_key(PdArena *arena, const PdKeys *keys, const PdEtcdKv *kv, View *view)
{
    PdError ignored = {0};
    char *name = NULL;
    if (is_key(kv->key, pd_keys_config(keys)))
    {
        if (!pd_cluster_config_parse(arena, kv->value.data, kv->value.length, &view->config, &ignored))
            pd_cluster_config_defaults(&view->config); /* the keepers keep theirs; the defaults judge here */
    }
    else if (is_key(kv->key, pd_keys_leader(keys)))
        view->leader = kv->value.data;
    else if (is_key(kv->key, pd_keys_roster(keys)))
        pd_roster_parse(arena, kv->value.data, kv->value.length, &view->roster, &ignored);
    else if (is_key(kv->key, pd_keys_sync(keys)))
        pd_switchover_sync_parse(arena, kv->value.data, kv->value.length, &view->sync_set, &view->sync_quorum,
                                 &ignored);
    else if (is_key(kv->key, pd_keys_switchover(keys)))
    {
        view->has_request = true;
        view->request_revision = kv->mod_revision;
        view->is_request_valid =
            pd_switchover_parse(arena, kv->value.data, kv->value.length, &view->request, &ignored);
    }
    else if (pd_keys_member_of(arena, keys, kv->key, &name) &&
             pd_member_parse(arena, kv->value.data, kv->value.length, &view->members[view->member_count],
                             &ignored) &&
             strcmp(view->members[view->member_count].name, name) == 0)
        view->member_count++;
}

static bool
load_view(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, View *view, PdError *err)
{
    *view = (View){0};
    pd_cluster_config_defaults(&view->config);
    char *prefix = pd_arena_sprintf(arena, "%s/", keys->root);
    PdEtcdKv *kvs;
    size_t count;
    if (prefix == NULL)
        return pd_arena_error(arena, err);
    PdEtcdOutcome outcome = pd_etcd_range(arena, etcd, pd_etcd_text(prefix), &kvs, &count, err);
    if (outcome.status != PD_ETCD_DONE)
        return false;
    view->members = pd_arena_calloc(arena, count + 1, sizeof *view->members);
    if (view->members == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
        read_key(arena, keys, &kvs[i], view);
    return !pd_arena_failed(arena) || pd_arena_error(arena, err);
}

static PdSwitchoverCluster
cluster_of(const View *view)
{
    return (PdSwitchoverCluster){.leader = view->leader,
                                 .members = view->members,
                                 .member_count = view->member_count,
                                 .config = &view->config,
                                 .sync_set = &view->sync_set,
                                 .sync_quorum = view->sync_quorum,
                                 .now_ms = wall_ms()};
}

static const char *
command_name(const Ask *ask)
{
    return ask->is_failover ? "cluster failover" : "cluster switchover";
}

static bool
refuse(PdError *err, const Ask *ask, const char *what)
{
    return pd_error_set(err, PD_ERR_REFUSED, "%s: %s", command_name(ask),
                        what != NULL ? what : "out of memory");
}

/* ---- the options -------------------------------------------------------------------------------------- */

static bool
read_ask(const CliArgs *args, bool is_failover, Ask *ask, PdError *err)
{
    *ask =
        (Ask){.is_failover = is_failover, .timeout_ms = 60000, .is_json = cli_has_flag(args, "--json", NULL)};
    const char *text = NULL;
    cli_has_flag(args, "--to", &ask->to);
    ask->allow_data_loss = cli_has_flag(args, "--allow-data-loss", NULL);
    if (is_failover && ask->to == NULL)
        return pd_error_set(err, PD_ERR_USAGE, "cluster failover: give --to NODE, the member to promote");
    if (!is_failover && ask->allow_data_loss)
        return pd_error_set(
            err, PD_ERR_USAGE,
            "cluster switchover: --allow-data-loss goes with failover (a switchover loses nothing)");
    if (ask->to != NULL && !pd_keys_check_member(ask->to, err))
        return pd_error_context(err, "%s: --to \"%s\"", command_name(ask), ask->to);
    if (cli_has_flag(args, "--timeout", &text))
    {
        char *end;
        errno = 0;
        long seconds = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || seconds < 1 || seconds > 86400)
            return pd_error_set(err, PD_ERR_USAGE, "%s: --timeout \"%s\" is not 1 to 86400 seconds",
                                command_name(ask), text);
        ask->timeout_ms = seconds * 1000;
    }
    return true;
}

/* ---- the checks --------------------------------------------------------------------------------------- */

static bool
is_known_member(const View *view, const char *name)
{
    PdSwitchoverCluster cluster = cluster_of(view);
    return pd_roster_contains(&view->roster, name) || pd_switchover_member(&cluster, name) != NULL;
}

/* A request still pending: refused, naming it. */
static bool
check_no_pending(PdArena *arena, const View *view, const Ask *ask, PdError *err)
{
    if (!view->has_request || !view->is_request_valid || view->request.aborted != NULL)
        return true;
    const PdSwitchover *request = &view->request;
    int64_t now = wall_ms();
    /* released: pending while no one leads, within the keepers' wait for the candidate (and its catch-up) */
    int64_t window = (int64_t)view->config.ttl_s * 2000 + 20000;
    bool is_pending = request->released_ms != 0 ? view->leader == NULL && now - request->released_ms < window
                                                : pd_switchover_is_live(request, now);
    if (!is_pending)
        return true;
    refuse(err, ask,
           pd_arena_sprintf(arena, "a %s from %s to %s asked %.1f s ago is pending",
                            pd_switchover_kind_name(request->kind),
                            request->from != NULL ? request->from : "(no leader)",
                            request->to != NULL ? request->to : "(the leader's choice)",
                            (double)(now - request->requested_ms) / 1000.0));
    return pd_error_hint(err,
                         "Wait for it (prodata cluster status shows it), or until its timeout of %" PRId64
                         " s has passed.",
                         request->timeout_ms / 1000);
}

/* A switchover (or a failover with a leader): the member that will take over, checked. */
static bool
check_switchover(PdArena *arena, const View *view, const Ask *ask, const char **to, PdError *err)
{
    PdSwitchoverCluster cluster = cluster_of(view);
    const char *why = NULL;
    if (ask->to == NULL)
    {
        *to = pd_switchover_choose(arena, &cluster, &why);
        return *to != NULL || refuse(err, ask, pd_arena_sprintf(arena, "no member can take over: %s", why));
    }
    if (!is_known_member(view, ask->to))
        return refuse(err, ask, pd_arena_sprintf(arena, "%s is not a member of the cluster", ask->to));
    if (!pd_switchover_qualifies(arena, &cluster, ask->to, &why))
        return refuse(err, ask, pd_arena_sprintf(arena, "%s cannot take over: %s", ask->to, why));
    *to = ask->to;
    return true;
}

/* A failover with no leader: NODE fresh and running; any loss only with --allow-data-loss. */
static bool
check_failover(PdArena *arena, const View *view, const Ask *ask, uint64_t *lost_bytes, PdError *err)
{
    PdSwitchoverCluster cluster = cluster_of(view);
    const char *why = NULL;
    bool is_safe = false;
    if (!is_known_member(view, ask->to))
        return refuse(err, ask, pd_arena_sprintf(arena, "%s is not a member of the cluster", ask->to));
    if (!pd_switchover_failover_loss(arena, &cluster, ask->to, lost_bytes, &is_safe, &why))
        return refuse(err, ask, pd_arena_sprintf(arena, "%s cannot take over: %s", ask->to, why));
    if (is_safe || ask->allow_data_loss)
        return true;
    refuse(err, ask,
           pd_arena_sprintf(arena, "promoting %s may lose up to %" PRIu64 " bytes of acknowledged writes: %s",
                            ask->to, *lost_bytes, why));
    return pd_error_hint(err,
                         "To promote it anyway, accepting that loss: prodata cluster failover --to %s "
                         "--allow-data-loss",
                         ask->to);
}

/* ---- the request written ------------------------------------------------------------------------------ */

static bool
write_request(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const View *view, const PdSwitchover *request,
              PdError *err)
{
    char *json = NULL;
    if (!pd_switchover_json(arena, request, &json, err))
        return false;
    PdEtcdKv current;
    PdEtcdCas cas = {.key = pd_keys_switchover(keys),
                     .compare = view->has_request ? PD_ETCD_IF_MOD_REVISION : PD_ETCD_IF_ABSENT,
                     .mod_revision = view->request_revision,
                     .action = PD_ETCD_PUT,
                     .value = pd_etcd_text(json)};
    PdEtcdOutcome outcome = pd_etcd_cas(arena, etcd, &cas, &current, err);
    switch (outcome.status)
    {
        case PD_ETCD_DONE:
            return true;
        case PD_ETCD_COMPARE_FAILED:
            pd_error_set(err, PD_ERR_REFUSED, "%s was written by another command meanwhile: nothing written",
                         pd_keys_switchover(keys).data);
            return pd_error_hint(err, "Run `prodata cluster status` to see it.");
        case PD_ETCD_UNKNOWN:
            if (err->code == PD_ERR_DCS_UNKNOWN)
                pd_error_hint(err,
                              "The request may or may not have been written: run `prodata cluster status` "
                              "to see whether it is pending.");
            return false;
        case PD_ETCD_LEASE_NOT_FOUND:
        case PD_ETCD_REJECTED:
            break;
    }
    return false;
}

/* ---- the wait ----------------------------------------------------------------------------------------- */

typedef struct Seen
{
    bool is_read;
    const char *leader;
    const PdMemberState *state; /* the leader's */
    bool has_request;
    PdSwitchover request;
    int64_t request_revision;
} Seen;

/* One read into *seen (in arena); false when etcd was silent: *seen, in another arena, stands. */
static bool
look(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, Seen *seen)
{
    View view;
    PdError err = {0};
    if (!load_view(arena, etcd, keys, &view, &err))
        return false;
    PdSwitchoverCluster cluster = cluster_of(&view);
    *seen = (Seen){.is_read = true,
                   .leader = view.leader,
                   .state = pd_switchover_member(&cluster, view.leader),
                   .has_request = view.has_request && view.is_request_valid,
                   .request = view.request,
                   .request_revision = view.request_revision};
    return true;
}

static const char *
seen_text(PdArena *arena, const Seen *seen)
{
    if (!seen->is_read)
        return "etcd did not answer";
    char lsn[24];
    const PdSwitchover *request = &seen->request;
    return pd_arena_sprintf(
        arena, "leader %s%s; the request %s", seen->leader != NULL ? seen->leader : "(none)",
        seen->state != NULL
            ? pd_arena_sprintf(arena, " (%s, %s)", pd_member_role_name(seen->state->role), seen->state->state)
            : "",
        !seen->has_request          ? "is gone"
        : request->released_ms != 0 ? pd_arena_sprintf(arena, "released to %s at %s", request->to,
                                                       pd_member_lsn_text(request->lsn, lsn, sizeof lsn))
                                    : "not yet taken up by the leader");
}

static bool
print_done(const Ask *ask, const char *from, const Seen *seen, double seconds, PdError *err)
{
    if (!ask->is_json)
    {
        printf("%s: %s -> %s in %.2f s, timeline %d\n", ask->is_failover ? "failover" : "switchover",
               from != NULL ? from : "(no leader)", seen->leader, seconds, seen->state->timeline);
        return true;
    }
    json_t *root =
        json_pack("{s:s, s:o, s:s, s:f, s:i}", "kind", ask->is_failover ? "failover" : "switchover", "from",
                  from != NULL ? json_string(from) : json_null(), "to", seen->leader, "seconds", seconds,
                  "timeline", seen->state->timeline);
    char *text = root != NULL ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON output");
    printf("%s\n", text);
    free(text);
    return true;
}

static void
delete_aborted(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, int64_t revision)
{
    PdEtcdKv current;
    PdError ignored = {0};
    PdEtcdCas cas = {.key = pd_keys_switchover(keys),
                     .compare = PD_ETCD_IF_MOD_REVISION,
                     .mod_revision = revision,
                     .action = PD_ETCD_DELETE};
    pd_etcd_cas(arena, etcd, &cas, &current, &ignored);
}

/* Polls every 100 ms until another member leads as a running primary, the request is aborted, or the time
 * is up. started_ms: the command's start (monotonic, for the time printed). Each read goes into one of two
 * arenas in turn (the other holds what was seen last), so a long wait does not grow the command's memory. */
static bool
wait_done(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const Ask *ask, const char *from,
          int64_t started_ms, int64_t deadline_ms, PdError *err)
{
    Seen seen = {0};
    PdArena *reads[2] = {pd_arena_new(0), pd_arena_new(0)};
    int current = 0;
    bool is_done = false, is_refused = false;
    while (!is_done && !is_refused && reads[0] != NULL && reads[1] != NULL)
    {
        pd_arena_reset(reads[1 - current]);
        if (look(reads[1 - current], etcd, keys, &seen))
            current = 1 - current;
        is_done = seen.leader != NULL && (from == NULL || strcmp(seen.leader, from) != 0) &&
                  seen.state != NULL && seen.state->role == PD_MEMBER_ROLE_PRIMARY &&
                  strcmp(seen.state->state, "running") == 0;
        is_refused = !is_done && seen.has_request && seen.request.aborted != NULL;
        if (is_done || is_refused || pd_fence_now_ms() >= deadline_ms)
            break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    bool is_printed =
        is_done && print_done(ask, from, &seen, (double)(pd_fence_now_ms() - started_ms) / 1000.0, err);
    if (is_refused)
    {
        delete_aborted(arena, etcd, keys, seen.request_revision);
        pd_error_set(err, PD_ERR_REFUSED, "%s: the leader refused: %s", command_name(ask),
                     seen.request.aborted);
        pd_error_hint(err, "Nothing changed: the leader still leads. prodata cluster status shows why.");
    }
    else if (!is_done)
    {
        pd_error_set(err, PD_ERR_DCS_UNKNOWN, "%s: not done within %" PRId64 " s: the outcome is unknown",
                     command_name(ask), ask->timeout_ms / 1000);
        pd_error_detail(err, "Last seen: %s.", seen_text(arena, &seen));
        pd_error_hint(err,
                      "Run `prodata cluster status` and `prodata cluster history` to see what happened.");
    }
    pd_arena_free(reads[0]);
    pd_arena_free(reads[1]);
    return is_printed;
}

/* ---- the command -------------------------------------------------------------------------------------- */

bool
pd_cli_cluster_switchover(PdArena *arena, const CliArgs *args, PdEtcd *etcd, const PdKeys *keys,
                          bool is_failover, PdError *err)
{
    int64_t started = pd_fence_now_ms();
    Ask ask;
    View view;
    if (!read_ask(args, is_failover, &ask, err))
        return false;
    if (!load_view(arena, etcd, keys, &view, err))
    {
        if (err->code == PD_ERR_DCS_UNKNOWN)
            pd_cli_cluster_unreachable_hint(err);
        return false;
    }
    if (view.config.is_paused)
        return refuse(err, &ask,
                      "the cluster is paused (no automatic action): `prodata cluster resume` first");
    if (!check_no_pending(arena, &view, &ask, err))
        return false;
    PdSwitchover request = {.requested_ms = wall_ms(), .timeout_ms = ask.timeout_ms};
    uint64_t lost_bytes = 0;
    if (view.leader != NULL)
    {
        request.kind = PD_SWITCHOVER_KIND_SWITCHOVER;
        request.from = view.leader;
        if (!check_switchover(arena, &view, &ask, &request.to, err))
            return false;
        request.to = ask.to; /* without --to the leader chooses again on its own read */
    }
    else if (!is_failover)
        return refuse(err, &ask, "no member holds the leader key: use `prodata cluster failover --to NODE`");
    else
    {
        request = (PdSwitchover){.kind = PD_SWITCHOVER_KIND_FAILOVER,
                                 .to = ask.to,
                                 .requested_ms = wall_ms(),
                                 .timeout_ms = ask.timeout_ms,
                                 .allow_data_loss = ask.allow_data_loss};
        if (!check_failover(arena, &view, &ask, &lost_bytes, err))
            return false;
        if (lost_bytes > 0)
            fprintf(stderr,
                    "prodata: warning: promoting %s may lose up to %" PRIu64
                    " bytes of acknowledged writes\n",
                    ask.to, lost_bytes);
    }
    if (!write_request(arena, etcd, keys, &view, &request, err))
        return false;
    return wait_done(arena, etcd, keys, &ask, view.leader, started, started + ask.timeout_ms, err);
}

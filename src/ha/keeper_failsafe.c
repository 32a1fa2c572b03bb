/*
 * keeper_failsafe.c - the keeper's side of the failsafe grants (failsafe.h,
 * docs/ha.md "The etcd outage: failsafe grants"). The loop tells the grant
 * table what it read (the roster, each member's API address, failsafe_mode);
 * the lease thread, as the primary, asks the roster for grants when etcd
 * gives no answer (pd_keeper_failsafe_hold: the deadline itself is moved by
 * keeper_lease.c, under its lock); a member about to take the leader key
 * first needs ceil(n/2) grants to itself, its own among them, and is
 * "covered" only if the key's transaction answered while they were live;
 * a primary whose lease was found gone while it wrote under grants takes
 * the key back under a new lease, or is killed when another holds it. The
 * member state publishes both sides. Counting: n is the roster's size; this
 * member's own grant counts only when it is in the roster. A restarted
 * keeper has forgotten the grants it gave: the longest grant it may give is
 * recorded in state_dir/failsafe_grant_ms (written, synced, renamed) before
 * the table gives one, and after a start the table gives none for that long;
 * with no record (a state_dir lost) and no configuration read from etcd, for
 * the longest grant any configuration allows, until the configuration is read.
 * A member gives no grant until it is in a leader's roster count (it streamed
 * from a leader while its roster read named it, or took the key), a mark kept
 * in state_dir/failsafe_counted and dropped at a read whose roster does not
 * name it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

/* api_url as published, or, for an API listening on every address ("*", 0.0.0.0, ::), the member's
   PostgreSQL host with that port. */
static void
learn_url(PdFailsafe *failsafe, const PdMemberState *member)
{
    const char *url = member->api_url;
    const char *port = strrchr(url, ':');
    static const char *const any[] = {
        "http://*:", "http://:", "http://0.0.0.0:", "http://:::", "http://[::]:"};
    for (size_t i = 0; port != NULL && i < sizeof any / sizeof any[0]; i++)
        if (strncmp(url, any[i], strlen(any[i])) == 0 && (size_t)(port + 1 - url) == strlen(any[i]))
        {
            char made[PD_FAILSAFE_URL_MAX + 1];
            bool is_v6 = strchr(member->pg_host, ':') != NULL;
            snprintf(made, sizeof made, "http://%s%s%s:%s", is_v6 ? "[" : "", member->pg_host,
                     is_v6 ? "]" : "", port + 1);
            pd_failsafe_set_url(failsafe, member->name, made);
            return;
        }
    pd_failsafe_set_url(failsafe, member->name, url);
}

static void
recorded_path(const PdKeeper *keeper, char *path, size_t size, const char *suffix)
{
    snprintf(path, size, "%s/failsafe_grant_ms%s", keeper->settings->state_dir, suffix);
}

/* The longest grant recorded; -1 when there is no record (a new member, or a state_dir lost). */
static int64_t
read_recorded(const PdKeeper *keeper)
{
    char path[1100], text[32] = "";
    recorded_path(keeper, path, sizeof path, "");
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return -1;
    bool ok = fgets(text, sizeof text, file) != NULL;
    fclose(file);
    long long value = ok ? strtoll(text, NULL, 10) : 0;
    return value > 0 && value <= PD_FAILSAFE_DURATION_MAX_MS ? value : PD_FAILSAFE_DURATION_MAX_MS;
}

/* The file written whole and synced, then renamed over the old one, the directory synced. */
static bool
write_recorded(const PdKeeper *keeper, int64_t grant_ms)
{
    char path[1100], temporary[1100], text[32];
    recorded_path(keeper, path, sizeof path, "");
    recorded_path(keeper, temporary, sizeof temporary, ".tmp");
    int length = snprintf(text, sizeof text, "%" PRId64 "\n", grant_ms);
    mkdir(keeper->settings->state_dir, 0700);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, (size_t)length) == length && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(temporary, path) == 0;
    int dir = ok ? open(keeper->settings->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    ok = ok && dir >= 0 && fsync(dir) == 0;
    if (dir >= 0)
        close(dir);
    if (!ok)
        pd_logf(PD_LOG_WARNING, "keeper %s: %s not written (%s): no grant longer than the last one recorded",
                keeper->name, path, strerror(errno));
    return ok;
}

/* The grant duration in effect recorded when it is longer than the one on disk; the table's bound follows. */
static void
record_grant_ms(PdKeeper *keeper, int64_t quiet_until)
{
    int64_t grant_ms = pd_cluster_config_grant_ms(&keeper->config);
    if (grant_ms > keeper->failsafe_recorded_ms && write_recorded(keeper, grant_ms))
        keeper->failsafe_recorded_ms = grant_ms;
    pd_failsafe_set_quiet(keeper->failsafe, quiet_until, keeper->failsafe_recorded_ms);
}

/* state_dir/failsafe_counted: this member is in a leader's roster count (failsafe.h,
   pd_failsafe_set_counted), kept across restarts: a cluster started again whole (no leader, no standby
   streaming) must still be able to elect one. Written and synced, or removed and the directory synced. */
static bool
write_counted(const PdKeeper *keeper, bool is_counted)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/failsafe_counted", keeper->settings->state_dir);
    bool ok;
    if (is_counted)
    {
        mkdir(keeper->settings->state_dir, 0700);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ok = fd >= 0 && write(fd, "1\n", 2) == 2 && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
    }
    else
        ok = unlink(path) == 0 || errno == ENOENT;
    int dir = open(keeper->settings->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok = ok && dir >= 0 && fsync(dir) == 0;
    if (dir >= 0)
        close(dir);
    return ok;
}

void
pd_keeper_failsafe_counted(PdKeeper *keeper, const char *why)
{
    if (keeper->failsafe == NULL || keeper->is_failsafe_counted)
        return;
    keeper->is_failsafe_counted = true;
    pd_failsafe_set_counted(keeper->failsafe, true);
    bool is_written = write_counted(keeper, true);
    pd_logf(PD_LOG_INFO, "keeper %s: in the leader's roster count (%s): it may give failsafe grants%s",
            keeper->name, why, is_written ? "" : " (not recorded in the state directory)");
}

/* A known read whose roster does not name this member: it counts for no leader until it streams again. */
static void
check_counted(PdKeeper *keeper, const PdKeeperRead *read)
{
    if (!keeper->is_failsafe_counted || (read->has_roster && pd_roster_contains(&read->roster, keeper->name)))
        return;
    keeper->is_failsafe_counted = false;
    pd_failsafe_set_counted(keeper->failsafe, false);
    if (!write_counted(keeper, false))
        pd_logf(PD_LOG_WARNING, "keeper %s: %s/failsafe_counted not removed (%s)", keeper->name,
                keeper->settings->state_dir, strerror(errno));
    pd_logf(PD_LOG_WARNING,
            "keeper %s: not in the roster: no failsafe grant until it streams from a leader again",
            keeper->name);
}

/* The mark left by a former process (it streamed, and was in every roster it read since). */
static void
read_counted(PdKeeper *keeper)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/failsafe_counted", keeper->settings->state_dir);
    keeper->is_failsafe_counted = access(path, F_OK) == 0;
    pd_failsafe_set_counted(keeper->failsafe, keeper->is_failsafe_counted);
}

void
pd_keeper_failsafe_start(PdKeeper *keeper)
{
    if (keeper->failsafe == NULL)
        return;
    pd_failsafe_set_window(keeper->failsafe, pd_cluster_config_grant_ms(&keeper->config));
    read_counted(keeper);
    int64_t recorded = read_recorded(keeper);
    keeper->failsafe_recorded_ms = recorded > 0 ? recorded : 0;
    keeper->failsafe_started_ms = pd_keeper_now_ms();
    keeper->is_failsafe_record_lost = recorded < 0 && !keeper->is_config_read;
    int64_t longest = keeper->failsafe_recorded_ms > pd_cluster_config_grant_ms(&keeper->config)
                          ? keeper->failsafe_recorded_ms
                          : pd_cluster_config_grant_ms(&keeper->config);
    if (keeper->is_failsafe_record_lost) /* it may have given any grant a configuration allows */
        longest = PD_CLUSTER_FAILSAFE_GRANT_MS_MAX;
    keeper->failsafe_quiet_until = keeper->failsafe_started_ms + longest;
    if (keeper->is_failsafe_record_lost)
        pd_failsafe_set_quiet(keeper->failsafe, keeper->failsafe_quiet_until, 0); /* nothing recorded yet */
    else
        record_grant_ms(keeper, keeper->failsafe_quiet_until);
    pd_logf(PD_LOG_INFO,
            "keeper %s: no failsafe grant given for %" PRId64 " ms (grants given before a restart "
            "are forgotten%s)",
            keeper->name, longest,
            keeper->is_failsafe_record_lost
                ? "; no record of the longest in the state directory and no cluster configuration read: "
                  "the longest failsafe_grant_ms allows, until the configuration is read"
                : "");
}

/* No record at the start, and the configuration now read from etcd: the configured duration applies from
   the start (the record written before any grant that long). */
static void
end_record_lost(PdKeeper *keeper)
{
    if (!keeper->is_failsafe_record_lost || !keeper->is_config_read)
        return;
    keeper->is_failsafe_record_lost = false;
    keeper->failsafe_quiet_until = keeper->failsafe_started_ms + pd_cluster_config_grant_ms(&keeper->config);
    record_grant_ms(keeper, keeper->failsafe_quiet_until);
    pd_logf(PD_LOG_INFO,
            "keeper %s: the cluster configuration read: no failsafe grant given for %d ms from the start",
            keeper->name, pd_cluster_config_grant_ms(&keeper->config));
}

void
pd_keeper_failsafe_learn(PdKeeper *keeper, const PdKeeperRead *read)
{
    if (keeper->failsafe == NULL || !read->is_known)
        return;
    end_record_lost(keeper); /* while still lost (a configuration that does not parse), nothing recorded */
    check_counted(keeper, read);
    if (!keeper->is_failsafe_record_lost &&
        pd_cluster_config_grant_ms(&keeper->config) > keeper->failsafe_recorded_ms)
        record_grant_ms(keeper, keeper->failsafe_quiet_until);
    pd_failsafe_set_enabled(keeper->failsafe, keeper->config.is_failsafe);
    pd_failsafe_set_window(keeper->failsafe, pd_cluster_config_grant_ms(&keeper->config));
    if (read->has_roster)
        pd_failsafe_set_roster(keeper->failsafe, read->roster.names, read->roster.count);
    for (size_t i = 0; i < read->member_count; i++)
        learn_url(keeper->failsafe, &read->members[i]);
}

/* One round for a grant to this member: its own table first, then the others, until needed(n) in all.
 *granted and *needed count this member's own grant when it is in the roster. */
static void
round_for_self(PdKeeper *keeper, int64_t grant_ms, int timeout_ms, bool is_taker, int64_t *sent_ms,
               size_t *granted, size_t *needed, char *granted_by, size_t size)
{
    PdFailsafePeer peers[PD_FAILSAFE_PEERS_MAX];
    size_t n = 0;
    bool is_member = false;
    size_t count = pd_failsafe_peers(keeper->failsafe, peers, &n, &is_member);
    if (is_taker && n == 0)
        n = 1; /* no roster read: this member alone, as without failsafe */
    *needed = is_taker ? (n + 1) / 2 : n / 2 + 1;
    *sent_ms = pd_keeper_now_ms();
    PdFailsafeGrant own = pd_failsafe_grant(keeper->failsafe, keeper->name, grant_ms, *sent_ms);
    *granted = own.is_granted && is_member ? 1 : 0;
    granted_by[0] = '\0';
    if (is_taker && !own.is_granted)
        return; /* it holds a live grant to another: it must not take the key */
    PdFailsafeRound round = {.signer = keeper->failsafe,
                             .holder = keeper->name,
                             .cluster = keeper->settings->cluster_name,
                             .duration_ms = grant_ms,
                             .timeout_ms = timeout_ms,
                             .needed = *needed > *granted ? *needed - *granted : 0,
                             .peers = peers,
                             .peer_count = count};
    PdError err = {0};
    if (round.needed > 0 && !pd_failsafe_ask(&round, &err))
        pd_logf(PD_LOG_WARNING, "keeper %s: %s", keeper->name, err.message);
    if (round.needed > 0)
        *sent_ms = round.sent_ms < *sent_ms ? round.sent_ms : *sent_ms;
    size_t used = 0;
    for (size_t i = 0; i < count && round.needed > 0; i++)
        if (round.granted[i])
        {
            used +=
                (size_t)snprintf(granted_by + used, size - used, "%s%s", used > 0 ? ", " : "", peers[i].name);
            if (used >= size)
                used = size - 1;
        }
    *granted += round.needed > 0 ? round.granted_count : 0;
}

bool
pd_keeper_failsafe_hold(PdKeeper *keeper, int64_t grant_ms, int timeout_ms, int64_t *sent_ms,
                        char *granted_by, size_t size)
{
    size_t granted = 0, needed = 0;
    round_for_self(keeper, grant_ms, timeout_ms, false, sent_ms, &granted, &needed, granted_by, size);
    if (granted < needed)
        pd_logf(PD_LOG_WARNING, "keeper %s: failsafe granted by %zu of the %zu members needed%s%s",
                keeper->name, granted, needed, granted_by[0] != '\0' ? ": " : "", granted_by);
    return granted >= needed;
}

static int64_t
grant_margin(const PdKeeper *keeper, int64_t grant_ms)
{
    int64_t margin = keeper->lease.fence_margin_ms; /* set once at start */
    return margin < grant_ms / 2 ? margin : grant_ms / 2;
}

/* With failsafe_mode off: asks no one, but a live grant given before it was set off is still honoured. */
static bool
may_take_without(PdKeeper *keeper)
{
    PdFailsafeGrant live = pd_failsafe_current(keeper->failsafe, pd_keeper_now_ms());
    if (live.holder[0] == '\0' || strcmp(live.holder, keeper->name) == 0)
        return true;
    pd_keeper_wait(keeper, "the failsafe grant to %s to end (%" PRId64 " ms left)", live.holder,
                   live.remaining_ms);
    return false;
}

bool
pd_keeper_failsafe_may_take(PdKeeper *keeper)
{
    if (keeper->failsafe == NULL)
        return true;
    if (!keeper->config.is_failsafe)
        return may_take_without(keeper);
    int64_t grant_ms = pd_cluster_config_grant_ms(&keeper->config), sent_ms = 0;
    size_t granted = 0, needed = 0;
    char granted_by[PD_FAILSAFE_PEERS_MAX * (PD_KEYS_MEMBER_MAX + 2) + 1];
    round_for_self(keeper, grant_ms, keeper->config.failsafe_timeout_ms, true, &sent_ms, &granted, &needed,
                   granted_by, sizeof granted_by);
    if (granted >= needed)
    {
        keeper->failsafe_take_until = sent_ms + grant_ms - grant_margin(keeper, grant_ms);
        pd_logf(PD_LOG_INFO,
                "keeper %s: failsafe grants to take the leader key: %zu of the %zu needed (its own%s%s) in "
                "%" PRId64 " ms",
                keeper->name, granted, needed, granted_by[0] != '\0' ? ", " : "", granted_by,
                pd_keeper_now_ms() - sent_ms);
        return true;
    }
    PdFailsafeGrant live = pd_failsafe_current(keeper->failsafe, pd_keeper_now_ms());
    pd_failsafe_release(keeper->failsafe);
    if (live.holder[0] != '\0' && strcmp(live.holder, keeper->name) != 0)
        pd_keeper_wait(keeper, "the failsafe grant to %s to end (%" PRId64 " ms left)", live.holder,
                       live.remaining_ms);
    else
        pd_keeper_wait(keeper, "failsafe grants from %zu members of the roster (%zu granted%s%s)", needed,
                       granted, granted_by[0] != '\0' ? ": " : "", granted_by);
    return false;
}

void
pd_keeper_failsafe_taken(PdKeeper *keeper)
{
    keeper->is_failsafe_covered = pd_keeper_now_ms() < keeper->failsafe_take_until;
    keeper->failsafe_take_until = 0;
}

bool
pd_keeper_failsafe_covered(PdKeeper *keeper)
{
    if (keeper->failsafe == NULL || !keeper->config.is_failsafe || keeper->is_failsafe_covered)
        return true;
    pd_logf(PD_LOG_INFO,
            "keeper %s: the leader key was not taken while failsafe grants were live: asking again "
            "before promoting",
            keeper->name);
    if (!pd_keeper_failsafe_may_take(keeper))
        return false;
    keeper->is_failsafe_covered = true; /* it holds the key (it leads) and the round's grants are live */
    keeper->failsafe_take_until = 0;
    return true;
}

bool
pd_keeper_failsafe_is_reclaiming(PdKeeper *keeper)
{
    pthread_mutex_lock(&keeper->lease.lock);
    bool is_reclaiming = keeper->lease.is_reclaiming;
    pthread_mutex_unlock(&keeper->lease.lock);
    return is_reclaiming;
}

/* Reclaiming over: the key taken back (the grants' deadline stays until the lease's is later), or held by
   another (the grants count no more: the guard fences at once, and the follower's path kills). */
static void
end_reclaim(PdKeeper *keeper, bool is_taken)
{
    pthread_mutex_lock(&keeper->lease.lock);
    keeper->lease.is_reclaiming = false;
    if (!is_taken)
        keeper->lease.failsafe_until = 0;
    pthread_mutex_unlock(&keeper->lease.lock);
    pd_keeper_guard(keeper, true); /* fence_at recomputed and sent */
}

/* A leader writing under grants that reads its key gone (etcd answers again, before the lease thread has
   found the lease gone): reclaiming from now, only the grants' deadline holds. True when reclaiming. */
static bool
start_reclaim(PdKeeper *keeper, const PdKeeperRead *read)
{
    PdKeeperLease *lease = &keeper->lease;
    bool is_key_gone = read->leader == NULL || strcmp(read->leader, keeper->name) != 0;
    pthread_mutex_lock(&lease->lock);
    if (!lease->is_reclaiming && keeper->is_leader && is_key_gone &&
        lease->failsafe_until > pd_keeper_now_ms())
    {
        lease->is_reclaiming = true;
        lease->fence_at = lease->failsafe_until; /* as update_fence_locked does while reclaiming */
        pd_logf(
            PD_LOG_WARNING,
            "keeper %s: etcd answers again and the leader key is %s: writable under failsafe grants until "
            "it is taken back",
            keeper->name, read->leader == NULL ? "gone" : "another's");
    }
    bool is_reclaiming = lease->is_reclaiming;
    pthread_mutex_unlock(&lease->lock);
    if (is_reclaiming)
        pd_keeper_guard(keeper, true); /* the guard told the grants' deadline */
    return is_reclaiming;
}

bool
pd_keeper_failsafe_reclaim(PdKeeper *keeper, const PdKeeperRead *read)
{
    if (!start_reclaim(keeper, read))
        return false;
    pd_keeper_lease_refresh(keeper);
    if (read->leader != NULL && strcmp(read->leader, keeper->name) == 0 &&
        read->leader_lease == pd_keeper_lease_id(keeper) && read->leader_lease != 0)
    {
        end_reclaim(keeper, true); /* a take whose answer was lost did happen: the usual leader's path */
        return false;
    }
    if (read->leader != NULL)
    {
        pd_logf(PD_LOG_WARNING,
                "keeper %s: etcd answers again and %s holds the leader key: killing this "
                "primary at once",
                keeper->name, read->leader);
        int pid = 0;
        PdError err = {0};
        if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
            pd_logf(PD_LOG_ERROR, "keeper %s: %s", keeper->name, err.message);
        keeper->was_primary = true;
        keeper->is_leader = false;
        end_reclaim(keeper, false);
        return false; /* then the usual paths: a follower rejoins */
    }
    pd_keeper_renew(keeper); /* the new lease the lease thread takes */
    pd_keeper_lease_refresh(keeper);
    if (pd_keeper_take_leader(keeper))
    {
        end_reclaim(keeper, true);
        pd_logf(PD_LOG_WARNING, "keeper %s: took the leader key back after writing under failsafe grants",
                keeper->name);
        return true;
    }
    pd_keeper_wait(keeper, "the leader key taken back (writable under failsafe grants meanwhile)");
    return true;
}

void
pd_keeper_failsafe_fill(PdKeeper *keeper, PdMemberState *state)
{
    if (keeper->failsafe == NULL)
        return;
    int64_t now = pd_keeper_now_ms();
    PdFailsafeGrant live = pd_failsafe_current(keeper->failsafe, now);
    if (live.holder[0] != '\0' && strcmp(live.holder, keeper->name) != 0)
    {
        state->failsafe_holder = pd_arena_strdup(keeper->tick, live.holder);
        state->failsafe_holder_ms = live.remaining_ms;
    }
    char granted_by[PD_FAILSAFE_PEERS_MAX * (PD_KEYS_MEMBER_MAX + 2) + 1];
    int64_t remaining = 0;
    if (!keeper->is_leader && !pd_keeper_failsafe_is_reclaiming(keeper))
        return;
    if (!pd_failsafe_writable(keeper->failsafe, now, granted_by, sizeof granted_by, &remaining) ||
        pd_keeper_fence_at(keeper) <= now)
        return;
    state->is_failsafe_writable = true;
    state->failsafe_writable_ms = remaining;
    state->failsafe_granted_by = pd_arena_strdup(keeper->tick, granted_by);
}

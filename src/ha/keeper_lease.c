/*
 * keeper_lease.c - the keeper's lease, kept by a thread of its own so that
 * a long PostgreSQL step of the loop (a promotion, a start with WAL to
 * replay, a slow reload on a loaded machine) never starves its renewal. The
 * thread has its own etcd client (a PdEtcd belongs to one thread); it grants
 * the lease, renews it every loop_interval_ms (or twice within the time
 * from a renewal to its fence deadline, when that is shorter), and after each renewal etcd
 * confirmed moves the fence guard's deadline (fence_at: the renewal's send
 * time + the TTL granted - the margin) when the loop wants the guard armed.
 * A hung keeper must still lose its lease: before each step the loop
 * declares the time by which that step ends (its program's timeout, or the
 * bound of an ordinary step), and the thread renews only before that time;
 * a step that overruns its bound stops the renewals, the lease lapses and the
 * guard fences. SIGSTOP stops both threads; the guard, a process, still
 * fences. Everything shared is under one lock; the guard's socket is written
 * under it, so the deadline the guard holds is the last one recorded.
 * With failsafe_mode, a keepalive answered "unknown" while this keeper leads
 * is followed by a round of grant requests (keeper_failsafe.c): a majority
 * moves the deadline to the round's send time + the grant - the margin, but
 * only while the current deadline has not passed; a lease found gone while
 * writing under grants leaves the grants' deadline in force, renewed by a
 * round at each renewal, until the loop has taken the leader key back under
 * a new lease (docs/ha.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "ha/keeper_run.h"
#include "prodata/log.h"

/* ---- the guard, under the lock ----------------------------------------------------------------------- */

static void update_fence_locked(PdKeeperLease *lease);

static void
send_guard_locked(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    int64_t at = 0, now = pd_keeper_now_ms();
    if (keeper->view != NULL && lease->lease_id != 0) /* the API's leader answers last until the deadline */
        pd_keeper_view_renewed(keeper->view, lease->lease_id, lease->fence_at);
    if (lease->is_guard_wanted) /* no lease: no writes, fence at once */
        at = lease->fence_at != 0 ? lease->fence_at : now;
    /* a deadline already past is sent again: the guard may have fenced on it and disarmed itself since */
    if (at == lease->guard_at && (at == 0 || at > now))
        return;
    PdError err = {0};
    if (!pd_fence_arm(keeper->fence, at, &err))
        pd_logf(PD_LOG_ERROR, "keeper %s: %s", keeper->name, err.message);
    lease->guard_at = at;
}

void
pd_keeper_guard(PdKeeper *keeper, bool may_write)
{
    PdKeeperLease *lease = &keeper->lease;
    pthread_mutex_lock(&lease->lock);
    lease->is_guard_wanted = may_write || keeper->is_leader;
    lease->is_leading = keeper->is_leader || lease->is_reclaiming;
    if (!lease->is_leading && lease->failsafe_until != 0) /* grants count only while it leads */
    {
        lease->failsafe_until = 0;
        update_fence_locked(lease);
    }
    if (keeper->failsafe != NULL)
        pd_failsafe_set_leading(keeper->failsafe, lease->is_leading);
    send_guard_locked(keeper);
    pthread_mutex_unlock(&lease->lock);
}

void
pd_keeper_guard_fenced(PdKeeper *keeper)
{
    pthread_mutex_lock(&keeper->lease.lock);
    keeper->lease.guard_at = -1; /* disarmed by the guard, or re-armed since by a renewal: send again */
    pthread_mutex_unlock(&keeper->lease.lock);
}

/* ---- the lease thread -------------------------------------------------------------------------------- */

/* fence_at from the lease's deadline and the grants': a new lease backs no deadline while the key is being
   taken back, so only the grants' holds then. */
static void
update_fence_locked(PdKeeperLease *lease)
{
    if (lease->is_reclaiming)
        lease->fence_at = lease->failsafe_until;
    else
        lease->fence_at =
            lease->lease_fence_at > lease->failsafe_until ? lease->lease_fence_at : lease->failsafe_until;
}

static void
lease_granted_locked(PdKeeperLease *lease, int64_t sent_at, int64_t ttl_s)
{
    lease->granted_ttl_s = (int)ttl_s;
    lease->lease_valid_until = sent_at + ttl_s * 1000;
    int64_t margin = lease->fence_margin_ms;
    if (margin > ttl_s * 500) /* never more than half the TTL */
        margin = ttl_s * 500;
    lease->lease_fence_at = lease->lease_valid_until - margin;
    update_fence_locked(lease);
}

/* The margin of a grant's deadline: fence_margin_ms, at most half the grant. */
static int64_t
grant_margin(const PdKeeperLease *lease)
{
    return lease->fence_margin_ms < lease->failsafe_grant_ms / 2 ? lease->fence_margin_ms
                                                                 : lease->failsafe_grant_ms / 2;
}

static bool
is_failsafe_holder_locked(const PdKeeperLease *lease)
{
    return lease->is_failsafe && lease->is_leading;
}

/* After a keepalive answered unknown: a round of grant requests. A majority moves the deadline, only if it
   has not passed meanwhile (a deadline passed is never moved by grants: the guard may have fenced). */
static void
failsafe_round_locked(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    int64_t now = pd_keeper_now_ms();
    if (!is_failsafe_holder_locked(lease) || lease->fence_at <= now)
        return;
    int64_t grant_ms = lease->failsafe_grant_ms, margin = grant_margin(lease);
    int timeout_ms = lease->failsafe_timeout_ms;
    pthread_mutex_unlock(&lease->lock);
    int64_t sent_ms = 0;
    char granted_by[PD_FAILSAFE_PEERS_MAX * (PD_KEYS_MEMBER_MAX + 2) + 1];
    bool has_majority =
        pd_keeper_failsafe_hold(keeper, grant_ms, timeout_ms, &sent_ms, granted_by, sizeof granted_by);
    pthread_mutex_lock(&lease->lock);
    now = pd_keeper_now_ms();
    if (!has_majority || lease->fence_at <= now || !is_failsafe_holder_locked(lease))
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: etcd gives no answer and %s: fence in %" PRId64 " ms",
                keeper->name, has_majority ? "the deadline passed meanwhile" : "no majority granted failsafe",
                lease->fence_at - now);
        return;
    }
    int64_t until = sent_ms + grant_ms - margin;
    if (until > lease->failsafe_until)
        lease->failsafe_until = until;
    update_fence_locked(lease);
    send_guard_locked(keeper);
    pd_failsafe_set_writable(keeper->failsafe, granted_by, lease->failsafe_until);
    pd_logf(
        PD_LOG_WARNING,
        "keeper %s: etcd gives no answer: writable without etcd, failsafe granted by %s; fence in %" PRId64
        " ms",
        keeper->name, granted_by[0] != '\0' ? granted_by : "this member alone", lease->fence_at - now);
}

static void
grant_locked(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    int ttl_asked = lease->ttl_s;
    pthread_mutex_unlock(&lease->lock);
    PdError err = {0};
    int64_t lease_id = 0, ttl_s = 0;
    int64_t sent_at = pd_keeper_now_ms();
    PdEtcdOutcome outcome = pd_etcd_lease_grant(lease->etcd, ttl_asked, &lease_id, &ttl_s, &err);
    pthread_mutex_lock(&lease->lock);
    if (outcome.status != PD_ETCD_DONE)
    {
        pd_logf(PD_LOG_WARNING, "keeper %s: no lease granted (%s): %s", keeper->name,
                pd_etcd_status_name(outcome.status), err.message);
        return;
    }
    lease->lease_id = lease_id;
    lease_granted_locked(lease, sent_at, ttl_s);
    send_guard_locked(keeper);
    pd_logf(PD_LOG_INFO, "keeper %s: lease %" PRIx64 " granted, TTL %" PRId64 " s", keeper->name,
            (uint64_t)lease_id, ttl_s);
}

/* One keepalive, bounded by the time left before fence_at (a renewal past it comes too late to matter). */
static void
renew_locked(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    if (lease->lease_id == 0)
    {
        if (lease->lost == lease->lost_seen) /* the loop has left the leadership of a lost one */
            grant_locked(keeper);
        if (lease->is_reclaiming) /* the grants hold until the key is taken back */
            failsafe_round_locked(keeper);
        return;
    }
    int64_t lease_id = lease->lease_id, fence_at = lease->fence_at;
    /* a keepalive answered unknown is followed by a grant round, which must start before fence_at */
    int64_t reserve = is_failsafe_holder_locked(lease) ? lease->failsafe_timeout_ms + 100 : 0;
    pthread_mutex_unlock(&lease->lock);
    PdError err = {0};
    int64_t ttl_s = 0;
    int64_t sent_at = pd_keeper_now_ms(); /* before the send: etcd counts from its receipt, later */
    int64_t left = fence_at - sent_at - reserve;
    if (fence_at > sent_at)
        pd_etcd_limit_next_call(lease->etcd, (int)(left < 200 ? 200 : left));
    PdEtcdOutcome outcome = pd_etcd_lease_keepalive(lease->etcd, lease_id, &ttl_s, &err);
    pthread_mutex_lock(&lease->lock);
    if (outcome.status == PD_ETCD_DONE)
    {
        lease_granted_locked(lease, sent_at, ttl_s);
        send_guard_locked(keeper);
        if (keeper->failsafe != NULL && !lease->is_reclaiming)
            pd_failsafe_set_writable(keeper->failsafe, "", 0); /* etcd answers: no longer by grants */
        if (lease->is_reclaiming) /* a new lease backs nothing until the key is taken back */
            failsafe_round_locked(keeper);
        return;
    }
    if (outcome.status == PD_ETCD_LEASE_NOT_FOUND)
    {
        lease->lease_id = 0;
        lease->lease_valid_until = 0;
        lease->lease_fence_at = 0;
        lease->is_reclaiming = lease->is_leading && lease->failsafe_until > pd_keeper_now_ms();
        pd_logf(PD_LOG_WARNING, "keeper %s: lease %" PRIx64 " is gone: etcd no longer has it%s", keeper->name,
                (uint64_t)lease_id,
                lease->is_reclaiming ? "; writable under failsafe grants until the leader key is taken back"
                                     : "");
        update_fence_locked(lease);
        lease->lost++;
        send_guard_locked(keeper); /* armed: fences at once (or at the grants' deadline); a new lease once
                                      the loop has seen this */
        if (keeper->view != NULL)
            pd_keeper_view_renewed(keeper->view, lease_id, 0); /* the API: not the leader under this lease */
        return;
    }
    pd_logf(PD_LOG_WARNING, "keeper %s: the lease was not renewed (%s): %s; fence in %" PRId64 " ms",
            keeper->name, pd_etcd_status_name(outcome.status), err.message,
            lease->fence_at - pd_keeper_now_ms());
    if (outcome.status == PD_ETCD_UNKNOWN)
        failsafe_round_locked(keeper);
}

static void
wait_until_locked(PdKeeperLease *lease, int64_t until_ms)
{
    struct timespec at = {.tv_sec = (time_t)(until_ms / 1000), .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&lease->wake, &lease->lock, &at);
}

/* Whether the loop is past the bound of its step: then no renewal (logged once per overrun). */
static bool
is_overrun_locked(PdKeeper *keeper, int64_t now)
{
    PdKeeperLease *lease = &keeper->lease;
    if (now < lease->alive_until)
    {
        lease->is_overrun_logged = false;
        return false;
    }
    if (!lease->is_overrun_logged)
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the loop is %" PRId64 " ms past the bound of its step (%s): the lease is no "
                "longer renewed",
                keeper->name, now - lease->alive_until, lease->step);
    lease->is_overrun_logged = true;
    return true;
}

/* loop_interval_ms, but at least two renewals within the time from a renewal to its fence deadline, for
 * the lease in force (a keepalive renews it to the TTL it was granted: a ttl_s changed since applies only to
 * the next grant, while a new loop_interval_ms applies at once) and for the configuration's TTL */
static int64_t
renew_every(const PdKeeperLease *lease)
{
    int64_t ttl_s = lease->ttl_s;
    if (lease->lease_id != 0 && lease->granted_ttl_s > 0 && lease->granted_ttl_s < ttl_s)
        ttl_s = lease->granted_ttl_s;
    int64_t margin = lease->fence_margin_ms < ttl_s * 500 ? lease->fence_margin_ms : ttl_s * 500;
    int64_t window = ttl_s * 1000 - margin;
    int64_t every = lease->interval_ms < window / 2 ? lease->interval_ms : window / 2;
    return every > 100 ? every : 100;
}

static void *
lease_main(void *arg)
{
    PdKeeper *keeper = arg;
    PdKeeperLease *lease = &keeper->lease;
    int64_t next = 0;
    pthread_mutex_lock(&lease->lock);
    while (!lease->is_stopping)
    {
        int64_t now = pd_keeper_now_ms();
        if (is_overrun_locked(keeper, now))
        {
            wait_until_locked(lease, now + 50); /* a new step declared wakes it */
            continue;
        }
        if (lease->requested == lease->done && now < next)
        {
            wait_until_locked(lease, next < lease->alive_until ? next : lease->alive_until);
            continue;
        }
        uint64_t asked = lease->requested;
        renew_locked(keeper);
        lease->done = asked;
        next = now + renew_every(lease);
        pthread_cond_broadcast(&lease->wake);
    }
    pthread_mutex_unlock(&lease->lock);
    return NULL;
}

/* ---- the loop's side --------------------------------------------------------------------------------- */

void
pd_keeper_step(PdKeeper *keeper, const char *step, int64_t bound_ms)
{
    pthread_mutex_lock(&keeper->lease.lock);
    keeper->lease.alive_until = pd_keeper_now_ms() + bound_ms;
    keeper->lease.step = step;
    pthread_cond_broadcast(&keeper->lease.wake);
    pthread_mutex_unlock(&keeper->lease.lock);
}

void
pd_keeper_renew(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    pthread_mutex_lock(&lease->lock);
    uint64_t asked = ++lease->requested;
    pthread_cond_broadcast(&lease->wake);
    int64_t until = pd_keeper_now_ms() + keeper->settings->etcd_request_timeout_ms * 2 + 500;
    while (lease->is_running && lease->done < asked && pd_keeper_now_ms() < until)
        wait_until_locked(lease, until);
    pthread_mutex_unlock(&lease->lock);
}

int64_t
pd_keeper_lease_id(PdKeeper *keeper)
{
    return keeper->tick_lease_id;
}

void
pd_keeper_lease_refresh(PdKeeper *keeper)
{
    pthread_mutex_lock(&keeper->lease.lock);
    keeper->tick_lease_id = keeper->lease.lease_id;
    pthread_mutex_unlock(&keeper->lease.lock);
}

int64_t
pd_keeper_fence_at(PdKeeper *keeper)
{
    pthread_mutex_lock(&keeper->lease.lock);
    int64_t at = keeper->lease.fence_at;
    pthread_mutex_unlock(&keeper->lease.lock);
    return at;
}

/* The lease gone while this node led: the guard was told to fence at once; should it have failed, a
   primary that may take writes is killed here (another node may lead by now). */
static void
lease_lost(PdKeeper *keeper)
{
    if (!keeper->is_leader)
        return;
    if (pd_keeper_failsafe_is_reclaiming(keeper))
    {
        keeper->is_leader = false;
        pd_logf(PD_LOG_WARNING,
                "keeper %s: the lease is gone while writing under failsafe grants: taking the "
                "leader key back under a new lease",
                keeper->name);
        return;
    }
    pd_keeper_leadership_lost(keeper, "the lease is gone");
}

void
pd_keeper_leadership_lost(PdKeeper *keeper, const char *why)
{
    keeper->is_leader = false;
    pd_logf(PD_LOG_WARNING, "keeper %s: %s: no longer the leader", keeper->name, why);
    int pid = 0;
    PdNodeRun run = pd_node_run_state(keeper->node, &pid);
    if (run == PD_NODE_STOPPED || run == PD_NODE_CRASHED || pd_keeper_is_standby_dir(keeper))
        return;
    pd_logf(PD_LOG_WARNING, "keeper %s: %s while PostgreSQL (postmaster %d) may take writes: killing it now",
            keeper->name, why, pid);
    PdError err;
    pd_error_init(&err);
    if (!pd_fence_kill(pd_node_data_dir(keeper->node), &pid, &err))
        pd_logf(PD_LOG_ERROR, "keeper %s: %s", keeper->name, err.message);
    keeper->was_primary = true;
}

void
pd_keeper_lease_poll(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    pthread_mutex_lock(&lease->lock);
    lease->ttl_s = keeper->config.ttl_s;
    lease->interval_ms = keeper->config.loop_interval_ms;
    lease->is_failsafe = keeper->config.is_failsafe && keeper->failsafe != NULL;
    lease->failsafe_grant_ms = pd_cluster_config_grant_ms(&keeper->config);
    lease->failsafe_timeout_ms = keeper->config.failsafe_timeout_ms;
    bool is_lost = lease->lost != lease->lost_seen;
    keeper->tick_lease_id = lease->lease_id;
    pthread_mutex_unlock(&lease->lock);
    if (!is_lost)
        return;
    lease_lost(keeper);
    pthread_mutex_lock(&lease->lock);
    lease->lost_seen = lease->lost; /* the lease thread may take a new lease now */
    lease->requested++;
    pthread_cond_broadcast(&lease->wake);
    pthread_mutex_unlock(&lease->lock);
}

/* ---- made, started, ended ---------------------------------------------------------------------------- */

bool
pd_keeper_lease_init(PdKeeper *keeper, const PdEtcdConfig *etcd_config, PdError *err)
{
    PdKeeperLease *lease = &keeper->lease;
    pthread_condattr_t attributes;
    if (pthread_condattr_init(&attributes) != 0 ||
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&lease->wake, &attributes) != 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "cannot make the lease thread's condition");
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&lease->lock, NULL);
    lease->ttl_s = keeper->config.ttl_s;
    lease->interval_ms = keeper->config.loop_interval_ms;
    lease->is_failsafe = keeper->config.is_failsafe && keeper->failsafe != NULL;
    lease->failsafe_grant_ms = pd_cluster_config_grant_ms(&keeper->config);
    lease->failsafe_timeout_ms = keeper->config.failsafe_timeout_ms;
    lease->step = "starting";
    return pd_etcd_open(etcd_config, &lease->etcd, err);
}

bool
pd_keeper_lease_start(PdKeeper *keeper, PdError *err)
{
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved); /* signals are the loop's */
    int failed = pthread_create(&keeper->lease.thread, NULL, lease_main, keeper);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (failed != 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "cannot start the lease thread: %s", strerror(failed));
    pthread_mutex_lock(&keeper->lease.lock);
    keeper->lease.is_running = true;
    pthread_mutex_unlock(&keeper->lease.lock);
    return true;
}

void
pd_keeper_lease_end(PdKeeper *keeper)
{
    PdKeeperLease *lease = &keeper->lease;
    pthread_mutex_lock(&lease->lock);
    bool was_running = lease->is_running;
    lease->is_stopping = true;
    lease->is_running = false;
    pthread_cond_broadcast(&lease->wake);
    pthread_mutex_unlock(&lease->lock);
    if (was_running)
        pthread_join(lease->thread, NULL);
    PdError err = {0};
    pd_fence_arm(keeper->fence, 0, &err);
    lease->guard_at = 0;
    if (lease->lease_id == 0)
        return;
    PdEtcdOutcome outcome = pd_etcd_lease_revoke(lease->etcd, lease->lease_id, &err);
    pd_logf(PD_LOG_INFO, "keeper %s: lease revoked: %s", keeper->name, pd_etcd_status_name(outcome.status));
    lease->lease_id = 0;
    lease->lease_fence_at = 0;
    lease->fence_at = 0;
}

void
pd_keeper_lease_free(PdKeeper *keeper)
{
    if (keeper->lease.etcd == NULL)
        return;
    pd_etcd_close(keeper->lease.etcd);
    pthread_cond_destroy(&keeper->lease.wake);
    pthread_mutex_destroy(&keeper->lease.lock);
}

/*
 * keeper.h - `prodata keeper`'s loop, one per node (docs/ha.md, "The
 * keeper"): it keeps one lease in etcd that carries its member key and, when
 * it leads, the leader key; every loop_interval_ms it renews the lease, reads
 * the whole cluster in one range, reads its PostgreSQL's status, acts
 * (bootstrap, follow, fail over, restart in place, rejoin) and publishes its
 * member state. Safety does not rest on the loop: the fence guard (fence.h),
 * forked before any thread, kills a primary at its lease's fence deadline
 * when no renewal came, even when this loop hangs or dies.
 */
#ifndef PRODATA_HA_KEEPER_H
#define PRODATA_HA_KEEPER_H

#include <signal.h>
#include <stdbool.h>

#include "ha/failsafe.h"
#include "ha/fence.h"
#include "ha/view.h"
#include "prodata/error.h"
#include "prodata/settings.h"

enum
{
    PD_KEEPER_FENCE_MARGIN_MS_DEFAULT = 500, /* fence_at = renewal send time + TTL - this (docs/ha.md) */
};

typedef struct PdKeeper PdKeeper;

/* What a keeper is made of; strings are borrowed for the keeper's life. */
typedef struct PdKeeperOptions
{
    const PdKeeperSettings *settings; /* checked by pd_keeper_settings_check */
    const char *replication_password; /* pd_keeper_settings_password's */
    const char *wal_command;          /* prodata-wal's path for archive_command; NULL: found in PATH */
    const char *restore_program;      /* prodata's own path, for a clone from the repository; NULL: none */
    int fence_margin_ms;              /* 0: PD_KEEPER_FENCE_MARGIN_MS_DEFAULT */
    PdFence *fence;       /* started on settings->data_dir before any thread; the keeper owns it */
    PdKeeperView *view;   /* the HTTP API's view, published at every tick; NULL: none */
    PdFailsafe *failsafe; /* the grant table the API serves (failsafe.h), outliving the keeper; NULL: none */
} PdKeeperOptions;

/*
 * Makes the keeper: the etcd client, the key layout, the cluster
 * configuration read once (its postgresql_parameters go to the node; bounded
 * by the etcd request timeout, defaults when etcd does not answer), and the
 * node. Takes options->fence even on failure (stopped then). Errors:
 * PD_ERR_INVALID_INPUT, PD_ERR_NOT_FOUND (PostgreSQL's programs),
 * PD_ERR_NO_MEMORY.
 */
bool pd_keeper_new(const PdKeeperOptions *options, PdKeeper **keeper, PdError *err);

/*
 * Runs the loop until *is_stopping becomes non-zero (a signal handler sets
 * it), then shuts down: a primary's PostgreSQL is stopped (fast, bounded)
 * and only then its leader key deleted (if still its own) so a standby takes
 * over at once; a standby's PostgreSQL is stopped; the lease is revoked.
 * Returns false only when the keeper cannot go on (its fence guard died):
 * PostgreSQL is stopped then too. One thread.
 */
bool pd_keeper_run(PdKeeper *keeper, volatile sig_atomic_t *is_stopping, PdError *err);

void pd_keeper_free(PdKeeper *keeper);

#endif

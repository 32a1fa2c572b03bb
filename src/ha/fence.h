/*
 * fence.h - the fence guard: a small process the keeper forks at start,
 * before any thread, that ends a primary's PostgreSQL when the keeper's
 * lease may be about to end, even if the keeper itself hangs (SIGSTOP, a
 * stuck call) or dies (kill -9).
 *
 * The keeper tells the guard, after each renewal of its lease, the
 * CLOCK_MONOTONIC millisecond at which PostgreSQL must stop accepting writes
 * (fence_at: the renewal's send time + the TTL granted - a margin; docs/ha.md
 * gives the timing argument), or 0 to disarm it (a standby, a stopped node).
 * Once armed and past fence_at without a newer message, the guard fences:
 * it reads the postmaster's pid from data_dir/postmaster.pid, checks that
 * this pid is a postgres whose working directory is data_dir (so a reused
 * pid is never killed), stops it with SIGSTOP so it forks no one more, kills
 * every child of it (each a process group of its own: PostgreSQL's children
 * call setsid) with SIGKILL, then the postmaster's group (pg_ctl setsid()s
 * the postmaster). No backend survives to acknowledge a commit. It then
 * disarms itself and tells the keeper. When the keeper's end of the socket
 * closes (the keeper exited or was killed), a disarmed guard exits; an
 * armed one waits for fence_at, fences, and exits.
 */
#ifndef PRODATA_HA_FENCE_H
#define PRODATA_HA_FENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "prodata/error.h"

typedef struct PdFence PdFence;

/*
 * Forks the guard for the PostgreSQL of data_dir (an absolute path). Call
 * before any thread exists (fork copies only the calling thread). The guard
 * ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C to the keeper's terminal must
 * not end the guard first) and closes every file descriptor but its socket and
 * stderr. *fence is freed by pd_fence_stop. Errors: PD_ERR_IO (socket,
 * fork), PD_ERR_NO_MEMORY.
 */
bool pd_fence_start(const char *data_dir, PdFence **fence, PdError *err);

/*
 * Arms the guard with fence_at_ms (CLOCK_MONOTONIC ms; a time already past
 * fences at once), or disarms it with 0. Errors: PD_ERR_IO when the guard is
 * gone (then nothing guards the primary: the keeper must stop it itself).
 */
bool pd_fence_arm(PdFence *fence, int64_t fence_at_ms, PdError *err);

/*
 * Reads, without waiting, what the guard reported since the last call:
 * *fenced_pid is the postmaster it killed (0: none). *is_gone is true when
 * the guard has exited (its socket closed). Never fails.
 */
void pd_fence_poll(PdFence *fence, int *fenced_pid, bool *is_gone);

/* Disarms the guard, closes the socket (the guard exits) and waits for it (at most 2 s, then SIGKILL). */
void pd_fence_stop(PdFence *fence);

/* The guard's pid (for logs and tests). */
int pd_fence_pid(const PdFence *fence);

/* CLOCK_MONOTONIC in ms: the clock of fence_at. */
int64_t pd_fence_now_ms(void);

/*
 * Kills the PostgreSQL of data_dir at once, as the guard does at fence_at:
 * *killed_pid is its postmaster's pid, 0 when none was running (or the pid
 * in postmaster.pid is not a postgres working in data_dir: never killed).
 * False (PD_ERR_IO) only when a live postmaster could not be killed.
 */
bool pd_fence_kill(const char *data_dir, int *killed_pid, PdError *err);

/* pid's /proc command line (NUL-separated arguments; its process title for a PostgreSQL child) into
 * command, cut to size; false (command "") when the process is gone or cannot be read. */
bool pd_fence_cmdline(int pid, char *command, size_t size);

/* Whether pid runs postgres in data_dir (the postmaster chdir()s to its own): 1 yes, 0 no (another program,
 * or postgres in another directory), -1 postgres whose working directory cannot be read. */
int pd_fence_postgres_of(int pid, const char *data_dir);

#endif

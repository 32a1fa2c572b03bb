/*
 * fence.c - the fence guard (fence.h): a process forked from the keeper
 * before any thread, holding one end of a SOCK_SEQPACKET socket pair. It
 * owns one deadline, fence_at, and nothing else: no etcd client, no
 * connection, no lock a hung keeper could hold, so it keeps its promise while
 * the keeper is stopped, stuck or dead. Its only action is pd_fence_kill,
 * which proves a pid is our postmaster (postmaster.pid, /proc's cmdline and
 * working directory) before sending a signal, and kills the postmaster's
 * children as well as its process group, since every PostgreSQL child makes
 * itself a session leader and a group kill of the postmaster alone would
 * leave backends able to acknowledge commits. The keeper's side sends
 * deadlines and reads reports; it never waits on the guard.
 */
#include "ha/fence.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "prodata/log.h"

struct PdFence
{
    int socket; /* the keeper's end */
    pid_t pid;  /* the guard */
};

int64_t
pd_fence_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- proving a pid is our postmaster ----------------------------------------------------------------- */

static bool
read_first_line(const char *path, char *line, size_t size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return false;
    bool is_read = fgets(line, (int)size, file) != NULL;
    fclose(file);
    line[strcspn(line, "\n")] = '\0';
    return is_read;
}

/* Field 3 (state) and 4 (ppid) of /proc/pid/stat; false when the process is gone. */
static bool
read_stat(int pid, char *state, int *ppid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_first_line(path, line, sizeof line))
        return false;
    const char *end = strrchr(line, ')'); /* the command name may hold spaces and parentheses */
    return end != NULL && sscanf(end + 1, " %c %d", state, ppid) == 2;
}

static bool
is_alive(int pid)
{
    char state;
    int ppid;
    return read_stat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

bool
pd_fence_cmdline(int pid, char *command, size_t size)
{
    char path[64];
    command[0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return false;
    size_t length = fread(command, 1, size - 1, file);
    fclose(file);
    command[length] = '\0';
    return true;
}

int
pd_fence_postgres_of(int pid, const char *data_dir)
{
    char path[64], command[256], cwd[PATH_MAX], resolved[PATH_MAX];
    if (!pd_fence_cmdline(pid, command, sizeof command))
        return 0;
    const char *base = strrchr(command, '/') != NULL ? strrchr(command, '/') + 1 : command;
    if (strcmp(base, "postgres") != 0 && strcmp(base, "postmaster") != 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/cwd", pid);
    ssize_t size = readlink(path, cwd, sizeof cwd - 1);
    if (size <= 0 || realpath(data_dir, resolved) == NULL)
        return -1;
    cwd[size] = '\0';
    return strcmp(cwd, resolved) == 0 ? 1 : 0;
}

/* pid runs postgres with data_dir (resolved) as its working directory; unreadable: not proven ours. */
static bool
is_our_postgres(int pid, const char *data_dir)
{
    return pd_fence_postgres_of(pid, data_dir) == 1;
}

/* SIGKILL to pid's process group when pid leads one, else to pid. */
static void
kill_group(int pid)
{
    if (getpgid(pid) == pid)
        kill(-pid, SIGKILL);
    else
        kill(pid, SIGKILL);
}

/* Kills every live child of parent (each a group of its own); the count in return. */
static int
kill_children(int parent)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL)
    {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        char state;
        int ppid;
        if (*end != '\0' || pid <= 0 || !read_stat((int)pid, &state, &ppid) || ppid != parent)
            continue;
        kill_group((int)pid);
        count++;
    }
    closedir(proc);
    return count;
}

bool
pd_fence_kill(const char *data_dir, int *killed_pid, PdError *err)
{
    *killed_pid = 0;
    char path[PATH_MAX + 32], line[64];
    snprintf(path, sizeof path, "%s/postmaster.pid", data_dir);
    if (!read_first_line(path, line, sizeof line))
        return true;
    int pid = atoi(line);
    if (pid <= 1 || !is_alive(pid) || !is_our_postgres(pid, data_dir))
        return true;
    kill(pid, SIGSTOP); /* no new child from here on */
    int children = kill_children(pid);
    kill_group(pid);
    int64_t deadline = pd_fence_now_ms() + 2000;
    while (is_alive(pid) && pd_fence_now_ms() < deadline)
        usleep(2000);
    if (is_alive(pid))
        return pd_error_set(err, PD_ERR_IO, "the postmaster %d of %s did not die on SIGKILL", pid, data_dir);
    *killed_pid = pid;
    pd_logf(PD_LOG_WARNING, "fence: killed the postmaster %d of %s and its %d children", pid, data_dir,
            children);
    return true;
}

/* ---- the guard process ------------------------------------------------------------------------------- */

static void
guard_fence(const char *data_dir, int socket, bool is_keeper_gone)
{
    int pid = 0;
    PdError err = {0};
    if (!pd_fence_kill(data_dir, &pid, &err))
        pd_logf(PD_LOG_ERROR, "fence: %s", err.message);
    else if (pid == 0)
        pd_logf(PD_LOG_NOTICE, "fence: deadline passed; no postmaster of %s runs", data_dir);
    int64_t report = pid;
    if (!is_keeper_gone && send(socket, &report, sizeof report, MSG_NOSIGNAL) < 0)
        pd_logf(PD_LOG_WARNING, "fence: cannot tell the keeper: %s", strerror(errno));
}

/* Past a deadline, with no newer one: a postmaster that appears (a start the keeper began before the
 * deadline: pg_ctl had not written postmaster.pid yet when the guard looked) is killed as soon as seen. */
static void
guard_refence(const char *data_dir, int socket)
{
    int pid = 0;
    PdError err = {0};
    if (!pd_fence_kill(data_dir, &pid, &err))
        pd_logf(PD_LOG_ERROR, "fence: %s", err.message);
    if (pid == 0)
        return;
    pd_logf(PD_LOG_WARNING, "fence: a postmaster of %s started after the deadline: killed (pid %d)", data_dir,
            pid);
    int64_t report = pid;
    if (send(socket, &report, sizeof report, MSG_NOSIGNAL) < 0)
        pd_logf(PD_LOG_WARNING, "fence: cannot tell the keeper: %s", strerror(errno));
}

/* How often an expired guard looks for a postmaster started after its deadline. */
#define GUARD_RECHECK_MS 20

typedef struct
{
    int64_t fence_at;    /* the latest deadline the keeper sent; 0: none armed */
    bool is_expired;     /* fenced at a deadline, no newer one (nor a disarm) since: no postmaster may run */
    bool is_keeper_gone; /* the keeper's end of the socket closed */
} GuardState;

/* Reads every message waiting (without blocking): the latest deadline wins, so a guard woken late never
 * fences on a deadline the keeper has already replaced or disarmed. */
static void
guard_receive(const char *data_dir, int socket, GuardState *state)
{
    while (!state->is_keeper_gone)
    {
        int64_t message = 0;
        ssize_t got = recv(socket, &message, sizeof message, MSG_DONTWAIT);
        if (got == (ssize_t)sizeof message)
        {
            state->fence_at = message;
            state->is_expired = false;
        }
        else if (got < 0 && errno == EINTR)
            continue;
        else if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        else
        {
            state->is_keeper_gone = true;
            if (state->fence_at != 0)
                pd_logf(PD_LOG_WARNING, "fence: the keeper is gone; fencing %s in %lld ms", data_dir,
                        (long long)(state->fence_at - pd_fence_now_ms()));
        }
    }
}

/* The guard's life: wait for deadlines, fence past them and go on fencing until the keeper sends a newer
 * deadline or disarms (0), leave when the keeper is gone and nothing is armed. */
static void
guard_main(const char *data_dir, int socket)
{
    GuardState state = {0};
    for (;;)
    {
        guard_receive(data_dir, socket, &state);
        int64_t now = pd_fence_now_ms();
        if (state.fence_at != 0 && now >= state.fence_at)
        {
            guard_fence(data_dir, socket, state.is_keeper_gone);
            state.fence_at = 0;
            state.is_expired = true;
        }
        else if (state.is_expired && !state.is_keeper_gone)
            guard_refence(data_dir, socket);
        if (state.is_keeper_gone && state.fence_at == 0)
            return;
        int64_t left = state.fence_at - now;
        int timeout = state.fence_at != 0 ? (int)(left > INT_MAX ? INT_MAX : left)
                      : state.is_expired  ? GUARD_RECHECK_MS
                                          : -1;
        if (state.is_keeper_gone)
            usleep((useconds_t)(timeout > 100 ? 100 : timeout) * 1000);
        else
            (void)poll(&(struct pollfd){.fd = socket, .events = POLLIN}, 1, timeout);
    }
}

static void
guard_child(const char *data_dir, int socket)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Best effort (root may, others may not): on a saturated machine the guard still wakes at its deadline.
     */
    if (setpriority(PRIO_PROCESS, 0, -10) != 0)
        pd_logf(PD_LOG_DEBUG, "fence: the guard keeps its priority: %s", strerror(errno));
    long max_fd = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 1024); fd++)
        if (fd != socket)
            close(fd);
    guard_main(data_dir, socket);
    _exit(0);
}

bool
pd_fence_start(const char *data_dir, PdFence **fence, PdError *err)
{
    PdFence *made = calloc(1, sizeof *made);
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the fence guard");
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    {
        free(made);
        return pd_error_set(err, PD_ERR_IO, "cannot make the fence guard's socket: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
    {
        int saved = errno;
        close(pair[0]);
        close(pair[1]);
        free(made);
        return pd_error_set(err, PD_ERR_IO, "cannot fork the fence guard: %s", strerror(saved));
    }
    if (pid == 0)
    {
        close(pair[0]);
        guard_child(data_dir, pair[1]);
    }
    close(pair[1]);
    fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK);
    made->socket = pair[0];
    made->pid = pid;
    *fence = made;
    return true;
}

bool
pd_fence_arm(PdFence *fence, int64_t fence_at_ms, PdError *err)
{
    if (send(fence->socket, &fence_at_ms, sizeof fence_at_ms, MSG_NOSIGNAL) == (ssize_t)sizeof fence_at_ms)
        return true;
    return pd_error_set(err, PD_ERR_IO, "the fence guard (pid %d) does not take its deadline: %s",
                        (int)fence->pid, strerror(errno));
}

void
pd_fence_poll(PdFence *fence, int *fenced_pid, bool *is_gone)
{
    *fenced_pid = 0;
    *is_gone = false;
    for (;;)
    {
        int64_t report = 0;
        ssize_t got = recv(fence->socket, &report, sizeof report, MSG_DONTWAIT);
        if (got == (ssize_t)sizeof report && report != 0) /* 0: a deadline passed with nothing to kill */
            *fenced_pid = (int)report;
        else if (got == (ssize_t)sizeof report)
            continue;
        else
        {
            *is_gone = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
            return;
        }
    }
}

void
pd_fence_stop(PdFence *fence)
{
    if (fence == NULL)
        return;
    pd_fence_arm(fence, 0, &(PdError){0});
    close(fence->socket);
    int64_t deadline = pd_fence_now_ms() + 2000;
    while (waitpid(fence->pid, NULL, WNOHANG) == 0)
    {
        if (pd_fence_now_ms() >= deadline)
        {
            kill(fence->pid, SIGKILL);
            waitpid(fence->pid, NULL, 0);
            break;
        }
        usleep(5000);
    }
    free(fence);
}

int
pd_fence_pid(const PdFence *fence)
{
    return (int)fence->pid;
}

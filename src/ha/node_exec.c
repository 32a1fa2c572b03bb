/*
 * node_exec.c - running PostgreSQL's programs within a deadline. Each runs in
 * its own process group as the server's account (when we are root), its
 * output read through a pipe while we wait, the last bytes kept for the
 * error message. Past the deadline the whole group is ended (SIGTERM, SIGKILL
 * a second later), so no step of the keeper outlives its bound; a postmaster
 * that pg_ctl started has left the group by then (it calls setsid), so ending
 * a pg_ctl that timed out never kills the server itself. The environment
 * passed on is the keeper's, less PG* variables that would redirect the
 * programs, plus PGPASSFILE: the password never appears on a command line.
 * Everything the child needs is made before fork, so the child calls only
 * async-signal-safe functions (the keeper is multi-threaded). A scheduled
 * backup runs the same way but is not waited for: pd_node_spawn starts it
 * with its output appended to a log file, pd_node_reap asks whether it ended,
 * pd_node_end ends its group.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ha/node_run.h"

extern char **environ;

long long
pd_node_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
pd_node_program(const PdNode *node, const char *program, char *path, size_t size)
{
    int length = program[0] == '/' ? snprintf(path, size, "%s", program) /* prodata itself, by its path */
                                   : snprintf(path, size, "%s/%s", node->bin_dir, program);
    if (length < 0 || (size_t)length >= size)
        path[0] = '\0'; /* bin_dir is checked to be short: cannot happen */
}

/* What the child needs, made before fork: after it only async-signal-safe calls are made (the keeper has
 * other threads, whose locks a child must never wait for). */
typedef struct ExecPlan
{
    char path[PD_NODE_PATH_MAX];
    char *args[32];
    char **envp;
} ExecPlan;

/* The environment passed on: the keeper's less PG* and LC_ALL, plus PGPASSFILE and LC_ALL=C.UTF-8. */
static bool
plan_exec(PdArena *arena, PdNode *node, const char *const *argv, ExecPlan *plan)
{
    pd_node_program(node, argv[0], plan->path, sizeof plan->path);
    plan->args[0] = plan->path; /* a full path: pg_rewind finds postgres beside itself */
    size_t count = 1;
    for (; count < 31 && argv[count] != NULL; count++)
        plan->args[count] = (char *)argv[count];
    plan->args[count] = NULL;
    size_t vars = 0;
    while (environ[vars] != NULL)
        vars++;
    plan->envp = pd_arena_calloc(arena, vars + 3, sizeof *plan->envp);
    if (plan->envp == NULL)
        return false;
    size_t kept = 0;
    for (size_t i = 0; i < vars; i++)
        if (strncmp(environ[i], "PG", 2) != 0 && strncmp(environ[i], "LC_ALL=", 7) != 0)
            plan->envp[kept++] = environ[i];
    plan->envp[kept++] = pd_arena_sprintf(arena, "PGPASSFILE=%s", node->passfile);
    plan->envp[kept++] = "LC_ALL=C.UTF-8";
    return !pd_arena_failed(arena);
}

/* In the child: its own group, the pipe as output, no other inherited descriptor (a postmaster must not
 * keep the keeper's sockets), the server's account, exec. */
static void
exec_child(const PdNode *node, const ExecPlan *plan, int output_fd)
{
    setpgid(0, 0);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0)
        _exit(126);
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    if (node->is_root &&
        (setgroups(1, &node->os_gid) != 0 || setgid(node->os_gid) != 0 || setuid(node->os_uid) != 0))
        _exit(126);
    if (chdir("/") != 0)
        _exit(126);
    execve(plan->path, plan->args, plan->envp);
    static const char message[] = "cannot run a PostgreSQL program\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
    _exit(127);
}

/* Keeps the last bytes read from fd in result->output. */
static void
read_output(int fd, PdNodeRunResult *result, size_t *length)
{
    char chunk[1024];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
    {
        size_t room = sizeof result->output - 1;
        size_t add = (size_t)got > room ? room : (size_t)got;
        if (*length + add > room)
        {
            size_t drop = *length + add - room;
            memmove(result->output, result->output + drop, *length - drop);
            *length -= drop;
        }
        memcpy(result->output + *length, chunk + (size_t)got - add, add);
        *length += add;
        result->output[*length] = '\0';
    }
}

/* Waits for pid until deadline_ms, reading its output; ends its group past the deadline. */
static void
wait_child(pid_t pid, int fd, long long deadline_ms, PdNodeRunResult *result)
{
    size_t length = 0;
    int status = 0;
    bool is_killed = false;
    for (;;)
    {
        read_output(fd, result, &length);
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR))
            break;
        long long now = pd_node_now_ms();
        if (now >= deadline_ms && !result->is_timed_out)
        {
            result->is_timed_out = true;
            kill(-pid, SIGTERM);
        }
        else if (result->is_timed_out && !is_killed && now >= deadline_ms + 1000)
        {
            is_killed = true;
            kill(-pid, SIGKILL);
        }
        struct pollfd waiting = {.fd = fd, .events = POLLIN};
        poll(&waiting, 1, 20);
    }
    read_output(fd, result, &length);
    result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool
pd_node_exec(PdNode *node, const char *const *argv, int timeout_ms, PdNodeRunResult *result, PdError *err)
{
    memset(result, 0, sizeof *result);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0 || fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC) != 0)
        return pd_error_set(err, PD_ERR_IO, "cannot make a pipe: %s", strerror(errno));
    long long deadline_ms = pd_node_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    PdArena *arena = pd_arena_new(0);
    ExecPlan plan;
    pid_t pid = arena != NULL && plan_exec(arena, node, argv, &plan) ? fork() : -2;
    if (pid < 0)
    {
        int saved = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        pd_arena_free(arena);
        if (pid == -2)
            return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
        return pd_error_set(err, PD_ERR_IO, "cannot start %s: %s", argv[0], strerror(saved));
    }
    if (pid == 0)
        exec_child(node, &plan, pipe_fds[1]);
    pd_arena_free(arena);
    setpgid(pid, pid); /* also here, so the group exists before any kill */
    close(pipe_fds[1]);
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    wait_child(pid, pipe_fds[0], deadline_ms, result);
    close(pipe_fds[0]);
    return true;
}

bool
pd_node_exec_error(const char *what, int timeout_ms, const PdNodeRunResult *result, PdError *err)
{
    const char *tail = result->output;
    size_t length = strlen(tail);
    while (length > 0 && (tail[length - 1] == '\n' || tail[length - 1] == ' '))
        length--;
    const char *start = tail + length; /* the last three lines */
    for (int lines = 0; start > tail && lines < 3;)
        if (*--start == '\n' && start + 1 < tail + length)
            lines++;
    if (*start == '\n')
        start++;
    if (result->is_timed_out)
    {
        pd_error_set(err, PD_ERR_LOCK_TIMEOUT, "%s did not finish within %d ms", what, timeout_ms);
        if (err != NULL)
            err->is_retryable = true;
    }
    else
        pd_error_set(err, PD_ERR_INTERNAL, "%s failed (exit code %d)", what, result->exit_code);
    return pd_error_detail(err, "%.*s", (int)(tail + length - start), start);
}

/* ---- a child the keeper does not wait for (a scheduled backup: it may run for hours) ----------------- */

bool
pd_node_spawn(PdNode *node, const char *const *argv, const char *log_path, int *pid, PdError *err)
{
    /* state_dir is the server account's: a link planted there must not lead a root keeper elsewhere */
    int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat info;
    if (log_fd >= 0 && (fstat(log_fd, &info) != 0 || !S_ISREG(info.st_mode)))
    {
        close(log_fd);
        return pd_error_set(err, PD_ERR_REFUSED, "%s is not a regular file", log_path);
    }
    if (log_fd < 0)
        return pd_error_set(err, PD_ERR_IO, "cannot open %s: %s", log_path, strerror(errno));
    if (node->is_root && fchown(log_fd, node->os_uid, node->os_gid) != 0)
    {
        int saved = errno;
        close(log_fd);
        return pd_error_set(err, PD_ERR_IO, "cannot give %s to the server's account: %s", log_path,
                            strerror(saved));
    }
    PdArena *arena = pd_arena_new(0);
    ExecPlan plan;
    pid_t child = arena != NULL && plan_exec(arena, node, argv, &plan) ? fork() : -2;
    if (child == 0)
        exec_child(node, &plan, log_fd);
    int saved = errno;
    pd_arena_free(arena);
    close(log_fd);
    if (child == -2)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    if (child < 0)
        return pd_error_set(err, PD_ERR_IO, "cannot start %s: %s", argv[0], strerror(saved));
    setpgid(child, child); /* also here, so the group exists before any kill */
    *pid = (int)child;
    return true;
}

bool
pd_node_reap(int pid, int *exit_code)
{
    int status = 0;
    pid_t done = waitpid((pid_t)pid, &status, WNOHANG);
    if (done == 0 || (done < 0 && errno == EINTR))
        return false;
    *exit_code = done == (pid_t)pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return true;
}

void
pd_node_end(int pid, int grace_ms)
{
    int exit_code;
    kill(-(pid_t)pid, SIGTERM);
    for (long long until = pd_node_now_ms() + grace_ms; pd_node_now_ms() < until;)
    {
        if (pd_node_reap(pid, &exit_code))
            return;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 20 * 1000000L}, NULL);
    }
    kill(-(pid_t)pid, SIGKILL);
    waitpid((pid_t)pid, NULL, 0);
}

/*
 * test_fence.c - the fence guard on a real PostgreSQL 15 primary (made by
 * the node module, nodetest.h): armed with a deadline it kills the
 * postmaster and every backend at that deadline, not before, and a session
 * open before the deadline gets no answer after it; disarmed in time it
 * kills nothing; armed by a keeper that then dies with SIGKILL it still kills
 * at the deadline, on its own; a postmaster.pid naming a process that is
 * not our postgres (a reused pid) is never signalled; and a postmaster that
 * starts after the deadline passed is killed until a newer deadline comes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ha/fence.h"
#include "nodetest.h"
#include "testing.h"

static PdNode *node;
static NodeTestPaths paths;

static void
expect_ok(bool ok, const PdError *err)
{
    if (!ok)
        fail_msg("%s\n  detail: %s\n  context: %s", err->message, err->detail, err->context);
}

static void
start_node(void)
{
    PdError err = {0};
    expect_ok(pd_node_start(node, 30000, &err), &err);
}

/* The postmaster's pid, 0 when it does not run. */
static int
postmaster_pid(void)
{
    int pid = 0;
    return pd_node_run_state(node, &pid) == PD_NODE_READY ? pid : 0;
}

/* Processes whose parent is pid (a postmaster's backends and workers). */
static int
children_of(int pid)
{
    char command[128], out[32] = "";
    snprintf(command, sizeof command, "ps -o pid= --ppid %d | wc -l", pid);
    FILE *pipe = popen(command, "r");
    if (pipe == NULL || fgets(out, sizeof out, pipe) == NULL)
        out[0] = '\0';
    if (pipe != NULL)
        pclose(pipe);
    return atoi(out);
}

/* Waits (at most ms) until pid is gone or a zombie; the ms waited, -1 when it lives on. */
static long long
wait_gone(int pid, int ms)
{
    long long start = nodetest_now_ms();
    while (nodetest_now_ms() - start < ms)
    {
        char path[64], line[512] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *file = fopen(path, "r");
        bool is_gone = file == NULL || fgets(line, sizeof line, file) == NULL ||
                       strstr(strrchr(line, ')') != NULL ? strrchr(line, ')') : line, ") Z") != NULL;
        if (file != NULL)
            fclose(file);
        if (is_gone)
            return nodetest_now_ms() - start;
        usleep(5000);
    }
    return -1;
}

static void
test_fences_at_deadline(void **state)
{
    (void)state;
    start_node();
    int pid = postmaster_pid();
    assert_true(pid > 0);
    assert_true(children_of(pid) >= 4);  /* checkpointer, background writer, walwriter, ... */
    assert_int_equal(getpgid(pid), pid); /* pg_ctl setsid()s the postmaster: it leads its group */
    PdError err = {0};
    PdDb *session = NULL;
    expect_ok(pd_db_connect(pd_node_local_conninfo(node), &session, &err), &err);
    expect_ok(pd_db_exec(session, "CREATE TABLE IF NOT EXISTS t (n int)", &err), &err);
    PdFence *fence = NULL;
    expect_ok(pd_fence_start(pd_node_data_dir(node), &fence, &err), &err);
    long long armed = nodetest_now_ms();
    expect_ok(pd_fence_arm(fence, pd_fence_now_ms() + 400, &err), &err);
    usleep(250 * 1000);
    assert_int_equal(postmaster_pid(), pid); /* not before the deadline */
    expect_ok(pd_db_exec(session, "INSERT INTO t VALUES (1)", &err), &err);
    long long waited = wait_gone(pid, 3000);
    assert_true(waited >= 0);
    long long fenced_after = nodetest_now_ms() - armed;
    printf("# fenced %lld ms after arming for 400 ms\n", fenced_after);
    assert_true(fenced_after >= 390 && fenced_after < 1500);
    assert_int_equal(children_of(pid), 0); /* no backend left to acknowledge a commit */
    assert_false(pd_db_exec(session, "INSERT INTO t VALUES (2)", &err));
    pd_db_close(session);
    int reported = 0;
    bool is_gone = true;
    for (int i = 0; i < 100 && reported == 0; i++, usleep(10000))
        pd_fence_poll(fence, &reported, &is_gone);
    assert_int_equal(reported, pid);
    assert_false(is_gone);
    pd_fence_stop(fence);
}

static void
test_disarmed_kills_nothing(void **state)
{
    (void)state;
    start_node();
    int pid = postmaster_pid();
    PdError err = {0};
    PdFence *fence = NULL;
    expect_ok(pd_fence_start(pd_node_data_dir(node), &fence, &err), &err);
    expect_ok(pd_fence_arm(fence, pd_fence_now_ms() + 200, &err), &err);
    expect_ok(pd_fence_arm(fence, pd_fence_now_ms() + 300, &err), &err); /* a renewal */
    expect_ok(pd_fence_arm(fence, 0, &err), &err);
    usleep(600 * 1000);
    assert_int_equal(postmaster_pid(), pid);
    int reported = -1;
    bool is_gone = true;
    pd_fence_poll(fence, &reported, &is_gone);
    assert_int_equal(reported, 0);
    assert_false(is_gone);
    int guard = pd_fence_pid(fence);
    pd_fence_stop(fence); /* disarmed: the guard leaves with the keeper */
    assert_true(kill(guard, 0) != 0);
    assert_int_equal(postmaster_pid(), pid);
}

static void
test_keeper_killed(void **state)
{
    (void)state;
    start_node();
    int pid = postmaster_pid();
    long long start = nodetest_now_ms();
    pid_t keeper = fork();
    if (keeper == 0)
    {
        PdFence *fence = NULL;
        PdError err = {0};
        if (pd_fence_start(pd_node_data_dir(node), &fence, &err))
            pd_fence_arm(fence, pd_fence_now_ms() + 500, &err);
        raise(SIGKILL);
    }
    int status = 0;
    waitpid(keeper, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(postmaster_pid(), pid); /* the keeper died; the deadline has not come */
    assert_true(wait_gone(pid, 3000) >= 0);
    long long fenced_after = nodetest_now_ms() - start;
    printf("# fenced %lld ms after a keeper armed for 500 ms and died\n", fenced_after);
    assert_true(fenced_after >= 450);
}

static void
test_reused_pid_untouched(void **state)
{
    (void)state;
    char dir[400], path[450];
    snprintf(dir, sizeof dir, "%s/fake", nodetest_dir);
    mkdir(dir, 0700);
    pid_t sleeper = fork();
    if (sleeper == 0)
    {
        execlp("sleep", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof path, "%s/postmaster.pid", dir);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fprintf(file, "%d\n%s\n", (int)sleeper, dir);
    fclose(file);
    usleep(50 * 1000);
    int killed = -1;
    PdError err = {0};
    expect_ok(pd_fence_kill(dir, &killed, &err), &err);
    assert_int_equal(killed, 0);
    assert_int_equal(kill(sleeper, 0), 0);
    /* another data directory's postgres is not ours either */
    start_node();
    int pid = postmaster_pid();
    snprintf(path, sizeof path, "%s/postmaster.pid", dir);
    file = fopen(path, "w");
    fprintf(file, "%d\n", pid);
    fclose(file);
    expect_ok(pd_fence_kill(dir, &killed, &err), &err);
    assert_int_equal(killed, 0);
    assert_int_equal(postmaster_pid(), pid);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
}

/* A start the keeper began before the deadline, its postmaster appearing after it (the guard found none
 * when it fenced): killed as soon as seen, again and again, until a newer deadline comes. */
static void
test_start_after_deadline(void **state)
{
    (void)state;
    if (postmaster_pid() != 0)
        pd_node_stop(node, 10000, NULL, NULL);
    PdError err = {0};
    PdFence *fence = NULL;
    expect_ok(pd_fence_start(pd_node_data_dir(node), &fence, &err), &err);
    expect_ok(pd_fence_arm(fence, pd_fence_now_ms() + 100, &err), &err);
    usleep(400 * 1000); /* the deadline passed with no postmaster */
    PdError start_err = {0};
    (void)pd_node_start(node, 5000, &start_err); /* may fail: the guard kills the postmaster as it starts */
    usleep(500 * 1000);
    assert_int_equal(postmaster_pid(), 0);
    int reported = 0;
    bool is_gone = true;
    for (int i = 0; i < 100 && reported == 0; i++, usleep(10000))
        pd_fence_poll(fence, &reported, &is_gone);
    assert_true(reported > 0);
    printf("# a postmaster started after the deadline was killed (pid %d)\n", reported);
    /* a newer deadline: the guard lets PostgreSQL run until then */
    expect_ok(pd_fence_arm(fence, pd_fence_now_ms() + 60000, &err), &err);
    usleep(50 * 1000);
    start_node();
    usleep(300 * 1000);
    assert_true(postmaster_pid() > 0);
    expect_ok(pd_fence_arm(fence, 0, &err), &err);
    pd_fence_stop(fence);
}

static int
setup(void **state)
{
    (void)state;
    if (!nodetest_setup())
        return -1;
    node = nodetest_node(&paths, "fenced", nodetest_free_port());
    PdError err = {0};
    if (!pd_node_init_primary(node, 60000, &err))
    {
        printf("# init_primary: %s (%s)\n", err.message, err.detail);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    if (node != NULL)
        pd_node_stop(node, 10000, NULL, NULL);
    pd_node_free(node);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s'", nodetest_dir);
    return system(command) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fences_at_deadline),   cmocka_unit_test(test_disarmed_kills_nothing),
        cmocka_unit_test(test_keeper_killed),        cmocka_unit_test(test_reused_pid_untouched),
        cmocka_unit_test(test_start_after_deadline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_cluster_config.c - the cluster configuration as a value, without
 * etcd: the JSON document's parser (defaults for missing fields, every
 * problem named by its field, parameters the node owns refused), the
 * canonical document and its round trip, "field=value" changes, the etcd key
 * layout, and the keeper settings made into an etcd configuration and checked
 * (the replication password from a file or a variable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ha/cluster_config.h"
#include "ha/keeper_settings.h"
#include "ha/keys.h"
#include "ha/node.h"
#include "ha/schedule.h"
#include "testing.h"

static bool
parse(PdArena *arena, const char *text, PdClusterConfig *config, PdError *err)
{
    return pd_cluster_config_parse(arena, text, strlen(text), config, err);
}

/* True when one of err's problems names field and its message holds part. */
static bool
has_problem(const PdError *err, const char *field, const char *part)
{
    for (size_t i = 0; i < err->problem_count; i++)
        if (strcmp(err->problems[i].field, field) == 0 && strstr(err->problems[i].message, part) != NULL)
            return true;
    return false;
}

#define assert_problem(err, field, part)                                                                     \
    do                                                                                                       \
    {                                                                                                        \
        if (!has_problem(&(err), (field), (part)))                                                           \
            fail_msg("no problem of field %s with \"%s\"; first: %s (%zu problems)", (field), (part),        \
                     (err).message, (err).problem_count);                                                    \
    } while (0)

static void
test_defaults(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config, defaults;
    pd_cluster_config_defaults(&defaults);
    assert_false(defaults.is_synchronous);
    assert_int_equal(defaults.synchronous_quorum, 1);
    assert_int_equal(defaults.ttl_s, 3);
    assert_int_equal(defaults.loop_interval_ms, 1000);
    assert_int_equal(defaults.maximum_lag_on_failover_bytes, 1048576);
    assert_false(defaults.is_paused);
    assert_true(pd_cluster_config_check(&defaults, &err));
    assert_true(parse(arena, "{}", &config, &err));
    assert_string_equal(
        pd_cluster_config_json(arena, &config, false, &err),
        "{\"synchronous_mode\":\"off\",\"synchronous_quorum\":1,\"ttl_s\":3,\"loop_interval_ms\":"
        "1000,\"maximum_lag_on_failover_bytes\":1048576,\"paused\":false,\"postgresql_parameters\":{},"
        "\"pg_hba\":[],\"failsafe_mode\":true,\"failsafe_grant_ms\":0,\"failsafe_timeout_ms\":500,"
        "\"backup_full_every_s\":0,\"backup_incr_every_s\":0,\"backup_verify_every_s\":0,\"backup_on\":"
        "\"standby\",\"backup_retain_full\":0,\"backup_retain_days\":-1}");
    /* a document with some fields: the others keep their defaults */
    assert_true(parse(arena, "{\"ttl_s\": 10, \"synchronous_mode\": \"on\"}", &config, &err));
    assert_int_equal(config.ttl_s, 10);
    assert_true(config.is_synchronous);
    assert_int_equal(config.loop_interval_ms, 1000);
    pd_arena_free(arena);
}

static void
test_round_trip(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config, again;
    const char *text =
        "{\"synchronous_mode\":\"on\",\"synchronous_quorum\":2,\"ttl_s\":5,\"loop_interval_ms\":"
        "500,\"maximum_lag_on_failover_bytes\":0,\"paused\":true,\"postgresql_parameters\":{\"work_mem\":"
        "\"16MB\","
        "\"auto_explain.log_min_duration\":\"250ms\",\"application_name\":\"it's \\\"quoted\\\"\"}}";
    assert_true(parse(arena, text, &config, &err));
    assert_int_equal(config.parameter_count, 3);
    assert_true(config.is_paused);
    assert_string_equal(config.parameters[0].name, "application_name"); /* sorted */
    assert_string_equal(config.parameters[0].value, "it's \"quoted\"");
    assert_string_equal(config.parameters[1].name, "auto_explain.log_min_duration");
    assert_string_equal(config.parameters[2].name, "work_mem");
    char *json = pd_cluster_config_json(arena, &config, false, &err);
    assert_true(parse(arena, json, &again, &err));
    assert_string_equal(pd_cluster_config_json(arena, &again, false, &err), json);
    char *pretty = pd_cluster_config_json(arena, &config, true, &err);
    assert_contains(pretty, "\n  \"ttl_s\": 5,\n");
    assert_true(parse(arena, pretty, &again, &err));
    assert_string_equal(pd_cluster_config_json(arena, &again, false, &err), json);
    pd_arena_free(arena);
}

static void
test_bad_documents(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    const char *not_objects[] = {"", "[]", "3", "{", "{\"ttl_s\": 3} x", "{\"ttl_s\": 3, \"ttl_s\": 4}"};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++)
    {
        assert_false(parse(arena, not_objects[i], &config, &err));
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
        assert_contains(err.message, "not a JSON object");
    }
    assert_int_equal(config.ttl_s, 3); /* untouched */
    assert_false(pd_cluster_config_parse(arena, "{\"ttl_s\"\0: 3}", 12, &config, &err));
    assert_false(
        parse(arena,
              "{\"bogus\": 1, \"ttl_s\": \"3\", \"synchronous_mode\": true, \"loop_interval_ms\": 1.5, "
              "\"maximum_lag_on_failover_bytes\": null, \"postgresql_parameters\": [], \"paused\": \"yes\"}",
              &config, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_problem(err, "bogus", "unknown field \"bogus\"");
    assert_problem(err, "ttl_s", "must be an integer");
    assert_problem(err, "synchronous_mode", "\"on\" or \"off\"");
    assert_problem(err, "loop_interval_ms", "must be an integer");
    assert_problem(err, "maximum_lag_on_failover_bytes", "must be an integer");
    assert_problem(err, "postgresql_parameters", "must be an object");
    assert_problem(err, "paused", "paused must be true or false");
    assert_int_equal(err.problem_count, 7);
    assert_int_equal(config.ttl_s, 3);
    pd_arena_free(arena);
}

static void
test_bounds(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    assert_false(parse(arena,
                       "{\"synchronous_quorum\": 9, \"ttl_s\": -1, \"loop_interval_ms\": 50, "
                       "\"maximum_lag_on_failover_bytes\": -5}",
                       &config, &err));
    assert_problem(err, "synchronous_quorum", "synchronous_quorum 9 is not possible: it is from 1 to 8");
    assert_problem(err, "ttl_s", "ttl_s -1 is out of bounds");
    assert_problem(err, "loop_interval_ms", "loop_interval_ms 50 is out of bounds");
    assert_problem(err, "maximum_lag_on_failover_bytes", "out of bounds");
    assert_false(parse(arena, "{\"synchronous_quorum\": 0}", &config, &err));
    assert_string_equal(err.field, "synchronous_quorum");
    assert_false(parse(arena, "{\"ttl_s\": 2, \"loop_interval_ms\": 1001}", &config, &err));
    assert_string_equal(err.field, "loop_interval_ms");
    assert_contains(err.message, "more than half of ttl_s (2 s)");
    assert_true(
        parse(arena, "{\"ttl_s\": 2, \"loop_interval_ms\": 1000, \"synchronous_quorum\": 8}", &config, &err));
    assert_false(parse(arena, "{\"ttl_s\": 99999999999}", &config, &err));
    assert_string_equal(err.field, "ttl_s");
    pd_arena_free(arena);
}

/* The failsafe's fields: defaults, bounds (the grant against the loop and the round), assignments. */
static void
test_failsafe_fields(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    assert_true(parse(arena, "{}", &config, &err));
    assert_true(config.is_failsafe);
    assert_int_equal(config.failsafe_grant_ms, 0);
    assert_int_equal(pd_cluster_config_grant_ms(&config), 3000); /* 0: ttl_s x 1000 */
    assert_int_equal(config.failsafe_timeout_ms, 500);
    assert_true(parse(arena,
                      "{\"failsafe_mode\": false, \"failsafe_grant_ms\": 10000, \"failsafe_timeout_ms\": 50}",
                      &config, &err));
    assert_false(config.is_failsafe);
    assert_int_equal(pd_cluster_config_grant_ms(&config), 10000);
    assert_false(parse(
        arena, "{\"failsafe_mode\": \"on\", \"failsafe_grant_ms\": 999, \"failsafe_timeout_ms\": 10001}",
        &config, &err));
    assert_problem(err, "failsafe_mode", "true or false");
    assert_problem(err, "failsafe_grant_ms", "0 (ttl_s x 1000) or 1000 to 600000");
    assert_problem(err, "failsafe_timeout_ms", "50 to 10000");
    assert_false(parse(arena, "{\"ttl_s\": 10, \"loop_interval_ms\": 5000, \"failsafe_grant_ms\": 9000}",
                       &config, &err));
    assert_problem(err, "failsafe_grant_ms", "at least twice loop_interval_ms (5000)");
    assert_false(parse(arena, "{\"failsafe_timeout_ms\": 2000}", &config, &err)); /* 3000 <= 2000 + 1000 */
    assert_problem(err, "failsafe_grant_ms", "more than failsafe_timeout_ms (2000) + 1000");
    pd_cluster_config_defaults(&config);
    const char *set[] = {"failsafe_mode=false", "failsafe_grant_ms=6000", "failsafe_timeout_ms=800"};
    assert_true(pd_cluster_config_assign(arena, &config, set, 3, &err));
    assert_false(config.is_failsafe);
    assert_int_equal(config.failsafe_grant_ms, 6000);
    assert_int_equal(config.failsafe_timeout_ms, 800);
    assert_contains(pd_cluster_config_json(arena, &config, false, &err),
                    "\"failsafe_mode\":false,\"failsafe_grant_ms\":6000,\"failsafe_timeout_ms\":800,");
    const char *wrong[] = {"failsafe_mode=yes"};
    assert_false(pd_cluster_config_assign(arena, &config, wrong, 1, &err));
    assert_problem(err, "failsafe_mode", "is not true or false");
    pd_arena_free(arena);
}

static void
test_backup_fields(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    assert_true(parse(arena, "{}", &config, &err));
    assert_int_equal(config.backup_full_every_s, 0);
    assert_false(config.is_backup_on_primary);
    assert_true(
        parse(arena,
              "{\"backup_full_every_s\": 86400, \"backup_incr_every_s\": 60, \"backup_verify_every_s\": "
              "2678400, \"backup_on\": \"primary\"}",
              &config, &err));
    assert_int_equal(config.backup_full_every_s, 86400);
    assert_int_equal(config.backup_incr_every_s, 60);
    assert_int_equal(config.backup_verify_every_s, 2678400);
    assert_true(config.is_backup_on_primary);
    assert_false(
        parse(arena,
              "{\"backup_full_every_s\": 59, \"backup_incr_every_s\": 2678401, \"backup_verify_every_s\": "
              "\"1h\", \"backup_on\": \"replica\"}",
              &config, &err));
    assert_problem(err, "backup_full_every_s", "0 (off) or 60 to 2678400 seconds");
    assert_problem(err, "backup_incr_every_s", "0 (off) or 60 to 2678400 seconds");
    assert_problem(err, "backup_verify_every_s", "must be an integer");
    assert_problem(err, "backup_on", "\"standby\" or \"primary\"");
    pd_cluster_config_defaults(&config);
    const char *set[] = {"backup_full_every_s=3600", "backup_incr_every_s=600", "backup_on=primary"};
    assert_true(pd_cluster_config_assign(arena, &config, set, 3, &err));
    assert_int_equal(config.backup_full_every_s, 3600);
    assert_int_equal(config.backup_incr_every_s, 600);
    assert_true(config.is_backup_on_primary);
    assert_contains(pd_cluster_config_json(arena, &config, false, &err),
                    "\"backup_full_every_s\":3600,\"backup_incr_every_s\":600,\"backup_verify_every_s\":0,"
                    "\"backup_on\":\"primary\",");
    const char *wrong[] = {"backup_on=replica", "backup_verify_every_s=30", "backup_full_every_s=x",
                           "backup_retain_full=1001", "backup_retain_days=-2"};
    assert_false(pd_cluster_config_assign(arena, &config, wrong, 5, &err));
    assert_problem(err, "backup_retain_full", "0 (off) or 1 to 1000 full backups");
    assert_problem(err, "backup_retain_days", "-1 (off) or 0 to 36500 days");
    assert_problem(err, "backup_on", "is not standby or primary");
    assert_problem(err, "backup_verify_every_s", "0 (off) or 60 to");
    assert_problem(err, "backup_full_every_s", "is not an integer");
    assert_int_equal(config.backup_full_every_s, 3600); /* unchanged */
    const char *retain[] = {"backup_retain_full=2", "backup_retain_days=0"};
    assert_true(pd_cluster_config_assign(arena, &config, retain, 2, &err));
    assert_contains(pd_cluster_config_json(arena, &config, false, &err),
                    "\"backup_retain_full\":2,\"backup_retain_days\":0}");
    assert_false(parse(arena, "{\"backup_retain_full\": -1, \"backup_retain_days\": 36501}", &config, &err));
    assert_problem(err, "backup_retain_full", "out of bounds");
    assert_problem(err, "backup_retain_days", "out of bounds");
    pd_arena_free(arena);
}

static PdMemberState
member(const char *name, PdMemberRole role, bool is_streaming, int64_t lag_bytes, int64_t updated_ms)
{
    return (PdMemberState){.name = name,
                           .role = role,
                           .state = "running",
                           .is_streaming = is_streaming,
                           .lag_bytes = lag_bytes,
                           .updated_ms = updated_ms};
}

static void
test_schedule(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    PdScheduleLast last[PD_SCHEDULE_KINDS] = {{0}};
    int64_t now = 1764489600000;
    assert_int_equal(pd_schedule_due(&config, last, now), PD_SCHEDULE_NONE); /* every schedule off */
    config.backup_full_every_s = 3600;
    config.backup_incr_every_s = 600;
    config.backup_verify_every_s = 86400;
    assert_int_equal(pd_schedule_due(&config, last, now), PD_SCHEDULE_FULL); /* none recorded: at once */
    last[PD_SCHEDULE_FULL] =
        (PdScheduleLast){.exists = true, .time_ms = now, .is_ok = true, .last_ok_ms = now};
    /* no verify before... it is due now (a backup exists, none verified); the incr counts from the full */
    assert_int_equal(pd_schedule_due(&config, last, now + 1000), PD_SCHEDULE_VERIFY);
    last[PD_SCHEDULE_VERIFY] =
        (PdScheduleLast){.exists = true, .time_ms = now, .is_ok = true, .last_ok_ms = now};
    assert_int_equal(pd_schedule_due(&config, last, now + 599999), PD_SCHEDULE_NONE);
    assert_int_equal(pd_schedule_due(&config, last, now + 600000), PD_SCHEDULE_INCR);
    assert_int_equal(pd_schedule_due(&config, last, now + 3600000), PD_SCHEDULE_FULL); /* full before incr */
    /* a failed incr: tried again after min(interval, 10 min); its last success kept */
    last[PD_SCHEDULE_INCR] = (PdScheduleLast){
        .exists = true, .time_ms = now + 600000, .is_ok = false, .exit_code = 1, .last_ok_ms = 0};
    assert_int_equal(pd_schedule_due(&config, last, now + 1199999), PD_SCHEDULE_NONE);
    assert_int_equal(pd_schedule_due(&config, last, now + 1200000), PD_SCHEDULE_INCR);
    config.backup_incr_every_s = 7200; /* retry after 10 min at most */
    assert_int_equal(pd_schedule_due(&config, last, now + 1200000), PD_SCHEDULE_INCR);
    /* a full stored but failed (corrupt pages: it has a label): a whole interval, no quick retry */
    config.backup_incr_every_s = 0;
    PdScheduleLast damaged[PD_SCHEDULE_KINDS] = {
        {.exists = true, .time_ms = now, .is_ok = false, .exit_code = 3, .label = "20261202-050000F"}};
    assert_int_equal(pd_schedule_due(&config, damaged, now + 1200000), PD_SCHEDULE_NONE);
    assert_int_equal(pd_schedule_due(&config, damaged, now + 3600000), PD_SCHEDULE_FULL);
    /* fulls scheduled, none succeeded yet: no incr (it would be a full recorded as an incr) */
    config.backup_incr_every_s = 600;
    damaged[PD_SCHEDULE_FULL].label = "";
    assert_int_equal(pd_schedule_due(&config, damaged, now + 1000), PD_SCHEDULE_NONE);
    config.backup_full_every_s = 0; /* incrs alone: the first one makes the base itself */
    assert_int_equal(pd_schedule_due(&config, damaged, now + 1000), PD_SCHEDULE_INCR);
    config.backup_full_every_s = 3600;
    /* no verify without a successful backup */
    PdScheduleLast none[PD_SCHEDULE_KINDS] = {{0}};
    config.backup_full_every_s = config.backup_incr_every_s = 0;
    assert_int_equal(pd_schedule_due(&config, none, now), PD_SCHEDULE_NONE);

    /* the member: the first healthy standby by name, else the leader */
    PdMemberState members[] = {member("n1", PD_MEMBER_ROLE_PRIMARY, false, 0, now),
                               member("n3", PD_MEMBER_ROLE_STANDBY, true, 0, now),
                               member("n2", PD_MEMBER_ROLE_STANDBY, true, 2 << 20, now), /* lags */
                               member("n0", PD_MEMBER_ROLE_STANDBY, false, 0, now),      /* not streaming */
                               member("n4", PD_MEMBER_ROLE_STANDBY, true, 0, now - 60000)}; /* stale */
    bool is_from_standby = false;
    assert_string_equal(pd_schedule_choose(&config, members, 5, "n1", now, &is_from_standby), "n3");
    assert_true(is_from_standby);
    assert_string_equal(pd_schedule_choose(&config, members, 1, "n1", now, &is_from_standby), "n1");
    assert_false(is_from_standby);
    config.is_backup_on_primary = true;
    assert_string_equal(pd_schedule_choose(&config, members, 5, "n1", now, &is_from_standby), "n1");
    assert_false(is_from_standby);

    /* the job and the record: round trips, strict reading, staleness */
    PdScheduleJob job = {.id = "n1-1764489600000",
                         .kind = PD_SCHEDULE_INCR,
                         .member = "n3",
                         .is_from_standby = true,
                         .created_ms = now,
                         .leader = "n1"},
                  again;
    char *text = pd_schedule_job_json(arena, &job, &err);
    assert_string_equal(text,
                        "{\"id\":\"n1-1764489600000\",\"kind\":\"incr\",\"member\":\"n3\",\"from_standby\":"
                        "true,\"created_ms\":1764489600000,\"leader\":\"n1\"}");
    assert_true(pd_schedule_job_parse(arena, text, strlen(text), &again, &err));
    assert_int_equal(again.kind, PD_SCHEDULE_INCR);
    assert_string_equal(again.member, "n3");
    assert_false(pd_schedule_job_is_stale(&again, members, 5, now + 1000));
    assert_true(pd_schedule_job_is_stale(&again, members, 1, now + 1000)); /* n3 gone */
    /* not started 5 min after it was written: replaced; run by its member (published): never stale */
    assert_false(pd_schedule_job_may_start(&again, now + 5 * 60 * 1000 + 1));
    assert_true(pd_schedule_job_is_stale(&again, members, 5, now + 5 * 60 * 1000 + 1));
    members[1].backup_job = "n1-1764489600000";
    assert_false(pd_schedule_job_is_stale(&again, members, 5, now + 7 * 24 * 3600 * 1000LL));
    members[1].backup_job = "n1-1";
    assert_true(pd_schedule_job_is_stale(&again, members, 5, now + 5 * 60 * 1000 + 1));
    assert_true(pd_schedule_job_may_start(&again, now + 1000));
    const char *bad[] = {
        "{\"id\":\"x\",\"kind\":\"diff\",\"member\":\"n3\",\"from_standby\":true,\"created_ms\":1,"
        "\"leader\":\"n1\"}",
        "{\"id\":\"x\",\"kind\":\"full\",\"member\":\"n3\",\"from_standby\":true,\"created_ms\":1}",
        "{\"id\":\"x\",\"kind\":\"full\",\"member\":\"n3\",\"from_standby\":true,\"created_ms\":1,"
        "\"leader\":\"n1\",\"extra\":1}",
        "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pd_schedule_job_parse(arena, bad[i], strlen(bad[i]), &again, &err));
    PdScheduleLast record = {.exists = true,
                             .time_ms = now,
                             .member = "n3",
                             .is_ok = false,
                             .exit_code = 1,
                             .message = "prodata: error: \"quoted\"",
                             .last_ok_ms = now - 5,
                             .label = ""},
                   read;
    text = pd_schedule_last_json(arena, &record, &err);
    assert_true(pd_schedule_last_parse(arena, text, strlen(text), &read, &err));
    assert_true(read.exists);
    assert_false(read.is_ok);
    assert_int_equal(read.last_ok_ms, now - 5);
    assert_string_equal(read.message, "prodata: error: \"quoted\"");
    assert_false(pd_schedule_last_parse(arena, "{\"time_ms\":1}", 13, &read, &err));
    pd_arena_free(arena);
}

static void
test_parameters(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    assert_false(
        parse(arena,
              "{\"postgresql_parameters\": {\"port\": \"5433\", \"synchronous_standby_names\": \"*\", "
              "\"primary_conninfo\": \"host=x\", \"Work_Mem\": \"1MB\", \"a.b.c\": \"1\", \"1x\": \"1\", "
              "\"\": \"1\", \"work_mem\": 64, \"search_path\": \"a\\nb\", \"data_directory\": \"/x\"}}",
              &config, &err));
    assert_problem(err, "postgresql_parameters.port", "node module sets port itself");
    assert_problem(err, "postgresql_parameters.synchronous_standby_names", "sets synchronous_standby_names");
    assert_problem(err, "postgresql_parameters.primary_conninfo", "sets primary_conninfo");
    assert_problem(err, "postgresql_parameters.data_directory", "sets data_directory");
    assert_problem(err, "postgresql_parameters", "\"Work_Mem\" is not a parameter name");
    assert_problem(err, "postgresql_parameters", "\"a.b.c\" is not a parameter name");
    assert_problem(err, "postgresql_parameters", "\"1x\" is not a parameter name");
    assert_problem(err, "postgresql_parameters", "\"\" is not a parameter name");
    assert_problem(err, "postgresql_parameters", "work_mem must be a string");
    assert_problem(err, "postgresql_parameters.search_path", "control character");
    assert_true(pd_node_owns_parameter("PORT"));
    assert_false(pd_node_owns_parameter("work_mem"));
    assert_true(pd_cluster_config_is_parameter_name("pg_stat_statements.max"));
    assert_false(pd_cluster_config_is_parameter_name("x."));
    pd_arena_free(arena);
}

static void
test_assign(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    const char *first[] = {"synchronous_mode=on",
                           "synchronous_quorum=2",
                           "ttl_s=5",
                           "loop_interval_ms=2000",
                           "maximum_lag_on_failover_bytes=0",
                           "postgresql_parameters.work_mem=16MB",
                           "postgresql_parameters.log_line_prefix=%m [%p] "};
    assert_true(pd_cluster_config_assign(arena, &config, first, 7, &err));
    assert_true(config.is_synchronous);
    assert_int_equal(config.synchronous_quorum, 2);
    assert_int_equal(config.ttl_s, 5);
    assert_int_equal(config.loop_interval_ms, 2000);
    assert_int_equal(config.maximum_lag_on_failover_bytes, 0);
    assert_int_equal(config.parameter_count, 2);
    assert_string_equal(config.parameters[0].name, "log_line_prefix");
    assert_string_equal(config.parameters[0].value, "%m [%p] ");
    const char *second[] = {"postgresql_parameters.work_mem=", "postgresql_parameters.log_line_prefix=%m ",
                            "synchronous_mode=off"};
    assert_true(pd_cluster_config_assign(arena, &config, second, 3, &err));
    assert_false(config.is_paused);
    const char *pause[] = {"paused=true"};
    assert_true(pd_cluster_config_assign(arena, &config, pause, 1, &err));
    assert_true(config.is_paused);
    assert_contains(pd_cluster_config_json(arena, &config, false, &err), "\"paused\":true");
    const char *resume[] = {"paused=false"};
    assert_true(pd_cluster_config_assign(arena, &config, resume, 1, &err));
    assert_false(config.is_paused);
    assert_int_equal(config.parameter_count, 1);
    assert_string_equal(config.parameters[0].value, "%m ");
    assert_false(config.is_synchronous);
    PdClusterConfig before = config;
    const char *bad[] = {
        "ttl_s=-1",  "synchronous_quorum=three",     "bogus=1", "synchronous_mode=yes",
        "no_equals", "postgresql_parameters.port=1", "=1",      "postgresql_parameters.x=\xff\xfe",
        "paused=on"};
    assert_false(pd_cluster_config_assign(arena, &config, bad, 9, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_problem(err, "ttl_s", "ttl_s -1 is out of bounds");
    assert_problem(err, "synchronous_quorum", "\"three\" is not an integer");
    assert_problem(err, "bogus", "unknown field \"bogus\"");
    assert_problem(err, "synchronous_mode", "\"yes\" is not on or off");
    assert_problem(err, "", "\"no_equals\" is not field=value");
    assert_problem(err, "postgresql_parameters.port", "sets port itself");
    assert_problem(err, "postgresql_parameters.x", "not UTF-8");
    assert_problem(err, "paused", "\"on\" is not true or false");
    assert_memory_equal(&config, &before, sizeof config); /* unchanged */
    const char *too_fast[] = {"ttl_s=2", "loop_interval_ms=1500"};
    assert_false(pd_cluster_config_assign(arena, &config, too_fast, 2, &err));
    assert_string_equal(err.field, "loop_interval_ms");
    pd_arena_free(arena);
}

static void
test_keys(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeys keys;
    assert_true(pd_keys_init(&keys, "/prodata", "main", &err));
    assert_string_equal(pd_keys_config(&keys).data, "/prodata/main/config");
    assert_string_equal(pd_keys_leader(&keys).data, "/prodata/main/leader");
    assert_string_equal(pd_keys_history(&keys).data, "/prodata/main/history");
    assert_string_equal(pd_keys_roster(&keys).data, "/prodata/main/roster");
    assert_string_equal(pd_keys_initialize(&keys).data, "/prodata/main/initialize");
    assert_string_equal(pd_keys_sync(&keys).data, "/prodata/main/sync");
    assert_string_equal(pd_keys_members(&keys).data, "/prodata/main/members/");
    PdEtcdBytes key;
    assert_true(pd_keys_member(arena, &keys, "node_1", &key, &err));
    assert_string_equal(key.data, "/prodata/main/members/node_1");
    char *member = NULL;
    assert_true(pd_keys_member_of(arena, &keys, key, &member));
    assert_string_equal(member, "node_1");
    const char *strays[] = {"/prodata/main/members/", "/prodata/main/members/a/b", "/prodata/main/leader",
                            "/prodata/main/members/A", "/prodata/mainx/members/a"};
    for (size_t i = 0; i < sizeof strays / sizeof strays[0]; i++)
        assert_false(pd_keys_member_of(arena, &keys, pd_etcd_text(strays[i]), &member));
    const char *bad_members[] = {
        "a-b", "", "A", "_a", "a b", "a/b", "0123456789012345678901234567890123456789x"};
    for (size_t i = 0; i < sizeof bad_members / sizeof bad_members[0]; i++)
    {
        assert_false(pd_keys_member(arena, &keys, bad_members[i], &key, &err));
        assert_string_equal(err.field, "member_name");
    }
    assert_true(pd_keys_check_member("0123456789012345678901234567890123456789", &err));
    assert_true(pd_keys_init(&keys, "/a/b-c/d.e", "prod-eu_1", &err));
    assert_string_equal(pd_keys_leader(&keys).data, "/a/b-c/d.e/prod-eu_1/leader");
    const char *bad_prefixes[] = {"prodata", "/", "/a/", "//a", "/a//b", "/a/../b", "/./a", "/A", "/a b", ""};
    for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++)
    {
        assert_false(pd_keys_init(&keys, bad_prefixes[i], "main", &err));
        assert_string_equal(err.field, "etcd_prefix");
    }
    const char *bad_clusters[] = {"", "-a", "a/b", "Main", "a.b"};
    for (size_t i = 0; i < sizeof bad_clusters / sizeof bad_clusters[0]; i++)
    {
        assert_false(pd_keys_init(&keys, "/prodata", bad_clusters[i], &err));
        assert_string_equal(err.field, "cluster_name");
    }
    pd_arena_free(arena);
}

/* The keeper settings as the loader fills them from the table's defaults, with the given overrides. */
static PdKeeperSettings
keeper_settings(PdArena *arena, const PdSettingOverride *overrides, size_t count)
{
    PdKeeperSettings settings;
    PdSettings loaded;
    PdError err = {0};
    PdSettingsInput input = {.overrides = overrides, .override_count = count};
    if (!pd_settings_load(arena, &pd_settings_keeper, &input, &settings, &loaded, &err))
        fail_msg("keeper settings: %s", err.message);
    return settings;
}

static void
test_keeper_etcd(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdEtcdConfig config;
    PdKeys keys;
    PdSettingOverride endpoints[] = {
        {"etcd_endpoints", NULL, " http://10.0.0.1:2379 ,http://10.0.0.2:2379,, 10.0.0.3:2379"},
        {"cluster_name", NULL, "eu"}};
    PdKeeperSettings settings = keeper_settings(arena, endpoints, 2);
    assert_true(pd_keeper_settings_etcd(arena, &settings, &config, &keys, &err));
    assert_int_equal(config.endpoint_count, 3);
    assert_string_equal(config.endpoints[0], "http://10.0.0.1:2379");
    assert_string_equal(config.endpoints[2], "10.0.0.3:2379");
    assert_int_equal(config.request_timeout_ms, 2000);
    assert_null(config.ca_file);
    assert_string_equal(pd_keys_config(&keys).data, "/prodata/eu/config");
    PdSettingOverride bad[] = {{"etcd_endpoints", NULL, " , "},
                               {"etcd_attempt_timeout_ms", NULL, "3000"},
                               {"etcd_cert_file", NULL, "/c.pem"},
                               {"cluster_name", NULL, "Bad"}};
    settings = keeper_settings(arena, bad, 4);
    assert_false(pd_keeper_settings_etcd(arena, &settings, &config, &keys, &err));
    assert_problem(err, "etcd_endpoints", "etcd_endpoints is empty");
    assert_problem(err, "etcd_attempt_timeout_ms", "more than etcd_request_timeout_ms");
    assert_problem(err, "etcd_cert_file", "go together");
    assert_problem(err, "cluster_name", "not a cluster name");
    pd_arena_free(arena);
}

static void
test_keeper_check(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdKeeperSettings settings = keeper_settings(arena, NULL, 0);
    assert_false(pd_keeper_settings_check(arena, &settings, &err));
    assert_problem(err, "member_name", "is not a member name");
    assert_problem(err, "data_dir", "data_dir is not set");
    assert_problem(err, "state_dir", "state_dir is not set");
    PdSettingOverride bad[] = {{"member_name", NULL, "node-1"},      {"data_dir", NULL, "/srv/pg"},
                               {"state_dir", NULL, "/srv/pg/state"}, {"api_port", NULL, "5432"},
                               {"archive_dir", NULL, "archive"},     {"replication_password_env", NULL, ""}};
    settings = keeper_settings(arena, bad, 6);
    assert_false(pd_keeper_settings_check(arena, &settings, &err));
    assert_problem(err, "member_name", "\"node-1\" is not a member name");
    assert_problem(err, "state_dir", "must not be inside each other");
    assert_problem(err, "api_port", "PostgreSQL's port");
    assert_problem(err, "archive_dir", "not an absolute path");
    assert_problem(err, "replication_password_file", "no replication password");
    PdSettingOverride good[] = {
        {"member_name", NULL, "node_1"}, {"data_dir", NULL, "/srv/pg"}, {"state_dir", NULL, "/srv/pg-state"}};
    settings = keeper_settings(arena, good, 3);
    assert_true(pd_keeper_settings_check(arena, &settings, &err));
    /* PostgreSQL on the network, the API on loopback (the default): the others could not reach it */
    PdSettingOverride away[] = {{"member_name", NULL, "n1"},
                                {"data_dir", NULL, "/srv/pg"},
                                {"state_dir", NULL, "/srv/pg-state"},
                                {"pg_listen_address", NULL, "10.0.0.1"}};
    settings = keeper_settings(arena, away, 4);
    assert_false(pd_keeper_settings_check(arena, &settings, &err));
    assert_problem(err, "api_listen_address", "127.0.0.1 is a loopback address while pg_listen_address");
    PdSettingOverride reached[] = {{"member_name", NULL, "n1"},
                                   {"data_dir", NULL, "/srv/pg"},
                                   {"state_dir", NULL, "/srv/pg-state"},
                                   {"pg_listen_address", NULL, "10.0.0.1"},
                                   {"api_listen_address", NULL, "10.0.0.1"}};
    settings = keeper_settings(arena, reached, 5);
    assert_true(pd_keeper_settings_check(arena, &settings, &err));
    const char *loopbacks[] = {"localhost", "LocalHost", "::1", "::ffff:127.0.0.1", "127.0.1.1"};
    for (size_t i = 0; i < sizeof loopbacks / sizeof loopbacks[0]; i++)
    {
        reached[4].value = loopbacks[i];
        settings = keeper_settings(arena, reached, 5);
        if (pd_keeper_settings_check(arena, &settings, &err))
            fail_msg("api_listen_address %s with PostgreSQL on 10.0.0.1 accepted", loopbacks[i]);
    }
    const char *reachable[] = {"*", "0.0.0.0", "::", "10.0.0.1"};
    for (size_t i = 0; i < sizeof reachable / sizeof reachable[0]; i++)
    {
        reached[4].value = reachable[i];
        settings = keeper_settings(arena, reached, 5);
        if (!pd_keeper_settings_check(arena, &settings, &err))
            fail_msg("api_listen_address %s refused: %s", reachable[i], err.message);
    }
    pd_arena_free(arena);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_keeper_password(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    char dir[] = "/tmp/prodata-password.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/password", dir);
    PdSettingOverride file[] = {{"replication_password_file", NULL, path}};
    PdKeeperSettings settings = keeper_settings(arena, file, 1);
    char *password = NULL;
    write_file(path, "s3cret-passw0rd\n", 0600);
    assert_true(pd_keeper_settings_password(arena, &settings, "from-the-variable", &password, &err));
    assert_string_equal(password, "s3cret-passw0rd"); /* the file wins, its newline dropped */
    write_file(path, "s3cret-passw0rd\n", 0640);
    assert_false(pd_keeper_settings_password(arena, &settings, NULL, &password, &err));
    assert_contains(err.message, "readable by group or others");
    assert_lacks(err.message, "s3cret");
    write_file(path, "short\n", 0600);
    assert_false(pd_keeper_settings_password(arena, &settings, NULL, &password, &err));
    assert_contains(err.message, "not 8 to 99 printable ASCII");
    assert_lacks(err.message, "short");
    unlink(path);
    assert_false(pd_keeper_settings_password(arena, &settings, NULL, &password, &err));
    assert_int_equal(err.code, PD_ERR_IO);
    settings = keeper_settings(arena, NULL, 0);
    assert_true(pd_keeper_settings_password(arena, &settings, "from-the-variable", &password, &err));
    assert_string_equal(password, "from-the-variable");
    assert_false(pd_keeper_settings_password(arena, &settings, NULL, &password, &err));
    assert_contains(err.message, "PRODATA_REPLICATION_PASSWORD is not set");
    rmdir(dir);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_documents),   cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_failsafe_fields), cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_assign),          cmocka_unit_test(test_keys),
        cmocka_unit_test(test_keeper_etcd),     cmocka_unit_test(test_keeper_check),
        cmocka_unit_test(test_keeper_password), cmocka_unit_test(test_backup_fields),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

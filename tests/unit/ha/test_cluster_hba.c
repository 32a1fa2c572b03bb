/*
 * test_cluster_hba.c - the cluster configuration's pg_hba field without
 * etcd: lines read from the document and checked (type, number of fields,
 * method, control characters, length, count, duplicates, every problem named
 * "pg_hba[i]"), the document's round trip with the lines in place and in
 * order, the set syntax (pg_hba+=, pg_hba-=, pg_hba=[...]) and what it
 * refuses. The node writing them after its own rules, live, is
 * tests/integration/keeper_config.sh's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ha/cluster_config.h"
#include "prodata/strbuf.h"
#include "testing.h"

static bool
parse(PdArena *arena, const char *text, PdClusterConfig *config, PdError *err)
{
    return pd_cluster_config_parse(arena, text, strlen(text), config, err);
}

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
test_lines_read_and_written(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config, again;
    assert_true(parse(arena, "{}", &config, &err));
    assert_int_equal(config.pg_hba_count, 0);
    assert_contains(pd_cluster_config_json(arena, &config, false, &err), ",\"pg_hba\":[],");
    const char *text =
        "{\"ttl_s\":3,\"pg_hba\":[\"hostssl app \\\"my user\\\",other 10.0.0.0/8 scram-sha-256\","
        "\"local all all peer map=omicron\",\"host all all 192.168.1.1 255.255.255.255 md5\","
        "\"host db1, db2 app .example.com cert clientcert=verify-full # a comment\"]}";
    if (!parse(arena, text, &config, &err))
        fail_msg("parse: %s", err.message);
    assert_int_equal(config.pg_hba_count, 4);
    assert_string_equal(config.pg_hba[1], "local all all peer map=omicron");
    char *json = pd_cluster_config_json(arena, &config, false, &err);
    assert_contains(json, "\"postgresql_parameters\":{},\"pg_hba\":[\"hostssl app \\\"my user\\\",other "
                          "10.0.0.0/8 scram-sha-256\",\"local all all peer map=omicron\",");
    assert_true(parse(arena, json, &again, &err));
    assert_string_equal(pd_cluster_config_json(arena, &again, false, &err), json);
    pd_arena_free(arena);
}

static void
test_lines_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    assert_false(parse(arena, "{\"pg_hba\":\"host all all 0.0.0.0/0 md5\"}", &config, &err));
    assert_problem(err, "pg_hba", "must be an array");
    assert_false(
        parse(arena,
              "{\"pg_hba\":[\"host all all 10.0.0.0/8 md5\",\"hots all all 10.0.0.0/8 md5\",\"host all "
              "all md5\",\"local all all\",\"host all all 10.0.0.1 md5\",\"host all all 10.0.0.0/8 "
              "sha\",\"host all all 10.0.0.0/8 md5\\nlocal all all trust\",\"\",3,\"host \\\"all all "
              "10.0.0.0/8 md5\",\"host all all 10.0.0.0/8 md5\",\"# only a comment\",\"host\\tall all "
              "10.0.0.0/8 md5\"]}",
              &config, &err));
    assert_problem(err, "pg_hba[8]", "must be a string");
    assert_int_equal(err.problem_count, 1); /* an array with a non-string is not checked further */
    assert_false(
        parse(arena,
              "{\"pg_hba\":[\"host all all 10.0.0.0/8 md5\",\"hots all all 10.0.0.0/8 md5\",\"host all "
              "all md5\",\"local all all\",\"host all all 10.0.0.1 md5\",\"host all all 10.0.0.0/8 "
              "sha\",\"host all all 10.0.0.0/8 md5\\nlocal all all trust\",\"\",\"host \\\"all all "
              "10.0.0.0/8 md5\",\"host all all 10.0.0.0/8 md5\",\"# only a comment\",\"host\\tall all "
              "10.0.0.0/8 md5\"]}",
              &config, &err));
    assert_problem(err, "pg_hba[1]", "does not start with local, host");
    assert_problem(err, "pg_hba[2]", "4 fields, a host line needs 5");
    assert_problem(err, "pg_hba[3]", "3 fields, a local line needs 4");
    assert_problem(err, "pg_hba[4]", "needs 6: host DATABASE USER IP-ADDRESS IP-MASK METHOD");
    assert_problem(err, "pg_hba[5]", "\"sha\" is not an authentication method");
    assert_problem(err, "pg_hba[6]", "control character");
    assert_problem(err, "pg_hba[7]", "1 to 512 bytes");
    assert_problem(err, "pg_hba[8]", "double quote is not closed");
    assert_problem(err, "pg_hba[9]", "the same line as pg_hba[0]");
    assert_problem(err, "pg_hba[10]", "does not start with");
    assert_problem(err, "pg_hba[11]", "control character");
    assert_int_equal(err.problem_count, 11);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "{\"pg_hba\":[");
    for (int i = 0; i < PD_CLUSTER_HBA_LINES_MAX + 1; i++)
        pd_strbuf_appendf(&buf, "%s\"host all u%d 10.0.0.0/8 md5\"", i > 0 ? "," : "", i);
    pd_strbuf_append(&buf, "]}");
    assert_false(parse(arena, pd_strbuf_text(&buf), &config, &err));
    assert_problem(err, "pg_hba", "101 lines, at most 100");
    char *long_line = pd_arena_sprintf(arena, "{\"pg_hba\":[\"host all all 10.0.0.0/8 md5 %0500d\"]}", 0);
    assert_false(parse(arena, long_line, &config, &err));
    assert_problem(err, "pg_hba[0]", "1 to 512 bytes");
    pd_arena_free(arena);
}

static bool
assign(PdArena *arena, PdClusterConfig *config, const char *assignment, PdError *err)
{
    return pd_cluster_config_assign(arena, config, &assignment, 1, err);
}

static void
test_set_syntax(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdError err = {0};
    PdClusterConfig config;
    pd_cluster_config_defaults(&config);
    assert_true(assign(arena, &config, "pg_hba+=host all app 127.0.0.1/32 scram-sha-256", &err));
    assert_true(
        assign(arena, &config, "pg_hba+=hostssl all all 0.0.0.0/0 cert clientcert=verify-full", &err));
    assert_true(assign(arena, &config, "pg_hba+=host all app 127.0.0.1/32 scram-sha-256", &err)); /* there */
    assert_int_equal(config.pg_hba_count, 2);
    assert_string_equal(config.pg_hba[0], "host all app 127.0.0.1/32 scram-sha-256");
    assert_string_equal(config.pg_hba[1], "hostssl all all 0.0.0.0/0 cert clientcert=verify-full");
    const PdClusterConfig before = config;
    assert_false(assign(arena, &config, "pg_hba+=host all app 127.0.0.1 scram-sha-256", &err));
    assert_problem(err, "pg_hba[2]", "IP-MASK");
    assert_false(assign(arena, &config, "pg_hba-=host all nobody 127.0.0.1/32 md5", &err));
    assert_problem(err, "pg_hba", "no such line");
    assert_false(assign(arena, &config, "pg_hba=host all all 127.0.0.1/32 md5", &err));
    assert_problem(err, "pg_hba", "give a JSON array");
    assert_false(assign(arena, &config, "pg_hba=[\"local all all peer\", 1]", &err));
    assert_problem(err, "pg_hba[1]", "must be a string");
    assert_true(config.pg_hba == before.pg_hba && config.pg_hba_count == 2); /* untouched */
    assert_true(assign(arena, &config, "pg_hba-=host all app 127.0.0.1/32 scram-sha-256", &err));
    assert_int_equal(config.pg_hba_count, 1);
    assert_string_equal(config.pg_hba[0], "hostssl all all 0.0.0.0/0 cert clientcert=verify-full");
    assert_true(assign(arena, &config, "pg_hba=[\"local all all peer\",\"host all all ::1/128 md5\"]", &err));
    assert_int_equal(config.pg_hba_count, 2);
    assert_string_equal(config.pg_hba[1], "host all all ::1/128 md5");
    assert_true(assign(arena, &config, "pg_hba=[]", &err));
    assert_int_equal(config.pg_hba_count, 0);
    assert_false(assign(arena, &config, "pg_hb+=local all all peer", &err));
    assert_problem(err, "pg_hb+", "unknown field");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_read_and_written),
        cmocka_unit_test(test_lines_refused),
        cmocka_unit_test(test_set_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

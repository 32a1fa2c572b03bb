/*
 * cluster_config.c - the cluster-wide configuration as a value: its defaults,
 * the JSON document read strictly with jansson (unknown fields, wrong types,
 * out-of-bounds values and parameters the node writes itself are refused,
 * every problem at once, each naming its field), the document written back
 * in one fixed order, and "field=value" changes applied to a copy. Reading
 * and writing etcd is cluster_config_etcd.c's; nothing here talks to etcd.
 */
#include "ha/cluster_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/cluster_hba.h"
#include "ha/node.h"

static const char *const field_names[] = {"synchronous_mode",
                                          "synchronous_quorum",
                                          "ttl_s",
                                          "loop_interval_ms",
                                          "maximum_lag_on_failover_bytes",
                                          "paused",
                                          "postgresql_parameters",
                                          "pg_hba",
                                          "failsafe_mode",
                                          "failsafe_grant_ms",
                                          "failsafe_timeout_ms",
                                          "backup_full_every_s",
                                          "backup_incr_every_s",
                                          "backup_verify_every_s",
                                          "backup_on",
                                          "backup_retain_full",
                                          "backup_retain_days"};
#define FIELD_LIST                                                                                           \
    "synchronous_mode, synchronous_quorum, ttl_s, loop_interval_ms, maximum_lag_on_failover_bytes, paused, " \
    "postgresql_parameters.NAME, pg_hba, failsafe_mode, failsafe_grant_ms, failsafe_timeout_ms, "            \
    "backup_full_every_s, backup_incr_every_s, backup_verify_every_s, backup_on, backup_retain_full, "       \
    "backup_retain_days"

void
pd_cluster_config_defaults(PdClusterConfig *config)
{
    *config = (PdClusterConfig){.is_synchronous = false,
                                .synchronous_quorum = 1,
                                .ttl_s = PD_CLUSTER_TTL_S_DEFAULT,
                                .loop_interval_ms = PD_CLUSTER_LOOP_MS_DEFAULT,
                                .maximum_lag_on_failover_bytes = PD_CLUSTER_MAX_LAG_DEFAULT,
                                .is_failsafe = true,
                                .failsafe_timeout_ms = PD_CLUSTER_FAILSAFE_TIMEOUT_MS_DEFAULT,
                                .backup_retain_days = -1};
}

int
pd_cluster_config_grant_ms(const PdClusterConfig *config)
{
    return config->failsafe_grant_ms > 0 ? config->failsafe_grant_ms : config->ttl_s * 1000;
}

/* One part of a parameter name: [a-z_][a-z0-9_]*. */
static bool
is_name_part(const char *text, size_t length)
{
    if (length == 0 || !(islower((unsigned char)text[0]) || text[0] == '_'))
        return false;
    for (size_t i = 1; i < length; i++)
        if (!islower((unsigned char)text[i]) && !isdigit((unsigned char)text[i]) && text[i] != '_')
            return false;
    return true;
}

bool
pd_cluster_config_is_parameter_name(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > PD_CLUSTER_PARAMETER_NAME_MAX)
        return false;
    const char *dot = strchr(name, '.');
    if (dot == NULL)
        return is_name_part(name, length);
    return is_name_part(name, (size_t)(dot - name)) &&
           is_name_part(dot + 1, length - (size_t)(dot - name) - 1);
}

/* The length of the UTF-8 character at text (1 to 4), or 0 when it is not one (overlong, surrogate, >
 * U+10FFFF). */
static size_t
utf8_char(const unsigned char *text)
{
    if (text[0] < 0x80)
        return 1;
    size_t length = text[0] >= 0xc2 && text[0] <= 0xdf   ? 2
                    : text[0] >= 0xe0 && text[0] <= 0xef ? 3
                    : text[0] >= 0xf0 && text[0] <= 0xf4 ? 4
                                                         : 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    if ((text[0] == 0xe0 && text[1] < 0xa0) || (text[0] == 0xed && text[1] >= 0xa0) ||
        (text[0] == 0xf0 && text[1] < 0x90) || (text[0] == 0xf4 && text[1] >= 0x90))
        return 0;
    return length;
}

/* Text PostgreSQL's configuration file and JSON both take: UTF-8 without control characters. */
static bool
is_parameter_value(const char *value)
{
    if (strlen(value) > PD_CLUSTER_PARAMETER_VALUE_MAX)
        return false;
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0';)
    {
        size_t length = utf8_char(c);
        if (length == 0 || iscntrl(*c) || *c == 0x7f)
            return false;
        c += length;
    }
    return true;
}

/* ---- checks: each adds its problems to *problems ---------------------------------------------------- */

static void
check_bounds(const PdClusterConfig *config, PdError *problems)
{
    if (config->synchronous_quorum < 1 || config->synchronous_quorum > PD_CLUSTER_QUORUM_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "synchronous_quorum",
                             "synchronous_quorum %d is not possible: it is from 1 to %d (standbys that must "
                             "confirm each commit; a node streams to at most %d)",
                             config->synchronous_quorum, PD_CLUSTER_QUORUM_MAX, PD_CLUSTER_QUORUM_MAX);
    if (config->ttl_s < PD_CLUSTER_TTL_S_MIN || config->ttl_s > PD_CLUSTER_TTL_S_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "ttl_s", "ttl_s %d is out of bounds: %d to %d seconds",
                             config->ttl_s, PD_CLUSTER_TTL_S_MIN, PD_CLUSTER_TTL_S_MAX);
    if (config->loop_interval_ms < PD_CLUSTER_LOOP_MS_MIN ||
        config->loop_interval_ms > PD_CLUSTER_LOOP_MS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "loop_interval_ms",
                             "loop_interval_ms %d is out of bounds: %d to %d", config->loop_interval_ms,
                             PD_CLUSTER_LOOP_MS_MIN, PD_CLUSTER_LOOP_MS_MAX);
    else if (config->ttl_s >= PD_CLUSTER_TTL_S_MIN && config->ttl_s <= PD_CLUSTER_TTL_S_MAX &&
             (int64_t)config->loop_interval_ms * 2 > (int64_t)config->ttl_s * 1000)
        pd_error_add_problem(
            problems, NULL, 0, 0, "loop_interval_ms",
            "loop_interval_ms %d is more than half of ttl_s (%d s): the leader must have two "
            "chances to renew its lease before it expires",
            config->loop_interval_ms, config->ttl_s);
    if (config->maximum_lag_on_failover_bytes < 0 ||
        config->maximum_lag_on_failover_bytes > PD_CLUSTER_MAX_LAG_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "maximum_lag_on_failover_bytes",
                             "maximum_lag_on_failover_bytes %" PRId64 " is out of bounds: 0 to %" PRId64,
                             config->maximum_lag_on_failover_bytes, PD_CLUSTER_MAX_LAG_MAX);
}

/* The failsafe's timings: a grant outlasts two loops and a round with a second to spare. */
static void
check_failsafe(const PdClusterConfig *config, PdError *problems)
{
    if (config->failsafe_timeout_ms < PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MIN ||
        config->failsafe_timeout_ms > PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "failsafe_timeout_ms",
                             "failsafe_timeout_ms %d is out of bounds: %d to %d", config->failsafe_timeout_ms,
                             PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MIN, PD_CLUSTER_FAILSAFE_TIMEOUT_MS_MAX);
    if (config->failsafe_grant_ms != 0 && (config->failsafe_grant_ms < PD_CLUSTER_FAILSAFE_GRANT_MS_MIN ||
                                           config->failsafe_grant_ms > PD_CLUSTER_FAILSAFE_GRANT_MS_MAX))
    {
        pd_error_add_problem(problems, NULL, 0, 0, "failsafe_grant_ms",
                             "failsafe_grant_ms %d is out of bounds: 0 (ttl_s x 1000) or %d to %d",
                             config->failsafe_grant_ms, PD_CLUSTER_FAILSAFE_GRANT_MS_MIN,
                             PD_CLUSTER_FAILSAFE_GRANT_MS_MAX);
        return;
    }
    if (config->ttl_s < PD_CLUSTER_TTL_S_MIN || config->ttl_s > PD_CLUSTER_TTL_S_MAX)
        return; /* named already */
    int64_t grant = pd_cluster_config_grant_ms(config);
    if (grant < (int64_t)config->loop_interval_ms * 2 || grant <= (int64_t)config->failsafe_timeout_ms + 1000)
        pd_error_add_problem(problems, NULL, 0, 0, "failsafe_grant_ms",
                             "failsafe_grant_ms %" PRId64 " (0: ttl_s x 1000) is too short: at least twice "
                             "loop_interval_ms (%d) and more than failsafe_timeout_ms (%d) + 1000, so that a "
                             "primary renews its grants before they end",
                             grant, config->loop_interval_ms, config->failsafe_timeout_ms);
}

/* A backup schedule's interval: 0 (off) or PD_CLUSTER_BACKUP_EVERY_S_MIN to _MAX seconds. */
static void
check_backup_every(const char *field, int every_s, PdError *problems)
{
    if (every_s != 0 && (every_s < PD_CLUSTER_BACKUP_EVERY_S_MIN || every_s > PD_CLUSTER_BACKUP_EVERY_S_MAX))
        pd_error_add_problem(problems, NULL, 0, 0, field,
                             "%s %d is out of bounds: 0 (off) or %d to %d seconds", field, every_s,
                             PD_CLUSTER_BACKUP_EVERY_S_MIN, PD_CLUSTER_BACKUP_EVERY_S_MAX);
}

/* The retention a scheduled backup applies: each off (0 full backups, -1 days) or within bounds. */
static void
check_backup_retain(const PdClusterConfig *config, PdError *problems)
{
    if (config->backup_retain_full < 0 || config->backup_retain_full > PD_CLUSTER_BACKUP_RETAIN_FULL_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "backup_retain_full",
                             "backup_retain_full %d is out of bounds: 0 (off) or 1 to %d full backups",
                             config->backup_retain_full, PD_CLUSTER_BACKUP_RETAIN_FULL_MAX);
    if (config->backup_retain_days < -1 || config->backup_retain_days > PD_CLUSTER_BACKUP_RETAIN_DAYS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "backup_retain_days",
                             "backup_retain_days %d is out of bounds: -1 (off) or 0 to %d days",
                             config->backup_retain_days, PD_CLUSTER_BACKUP_RETAIN_DAYS_MAX);
}

static void
check_parameter(const PdClusterParameter *parameter, PdError *problems)
{
    char field[96];
    snprintf(field, sizeof field, "postgresql_parameters.%.63s", parameter->name);
    if (!pd_cluster_config_is_parameter_name(parameter->name))
        pd_error_add_problem(problems, NULL, 0, 0, "postgresql_parameters",
                             "postgresql_parameters: \"%.64s\" is not a parameter name (lower case a-z, 0-9 "
                             "and '_', an extension's as \"ext.name\")",
                             parameter->name);
    else if (pd_node_owns_parameter(parameter->name))
        pd_error_add_problem(problems, NULL, 0, 0, field,
                             "%s: prodata's node module sets %s itself on every node; it cannot be a cluster "
                             "setting",
                             field, parameter->name);
    else if (!is_parameter_value(parameter->value))
        pd_error_add_problem(
            problems, NULL, 0, 0, field,
            "%s: the value is not UTF-8, holds a control character or is longer than %d bytes", field,
            PD_CLUSTER_PARAMETER_VALUE_MAX);
}

static void
check_into(const PdClusterConfig *config, PdError *problems)
{
    check_bounds(config, problems);
    check_failsafe(config, problems);
    check_backup_every("backup_full_every_s", config->backup_full_every_s, problems);
    check_backup_every("backup_incr_every_s", config->backup_incr_every_s, problems);
    check_backup_every("backup_verify_every_s", config->backup_verify_every_s, problems);
    check_backup_retain(config, problems);
    if (config->parameter_count > PD_CLUSTER_PARAMETERS_MAX)
        pd_error_add_problem(problems, NULL, 0, 0, "postgresql_parameters",
                             "postgresql_parameters: %zu parameters, at most %d", config->parameter_count,
                             PD_CLUSTER_PARAMETERS_MAX);
    for (size_t i = 0; i < config->parameter_count; i++)
    {
        check_parameter(&config->parameters[i], problems);
        if (i > 0 && strcmp(config->parameters[i - 1].name, config->parameters[i].name) >= 0)
            pd_error_add_problem(problems, NULL, 0, 0, "postgresql_parameters",
                                 "postgresql_parameters: not sorted by name, or \"%.64s\" twice",
                                 config->parameters[i].name);
    }
    pd_cluster_hba_check(config->pg_hba, config->pg_hba_count, problems);
}

bool
pd_cluster_config_check(const PdClusterConfig *config, PdError *err)
{
    PdError problems;
    pd_error_clear(&problems);
    check_into(config, &problems);
    if (problems.code == PD_OK)
        return true;
    *err = problems;
    return false;
}

/* ---- the document ----------------------------------------------------------------------------------- */

static int
compare_parameters(const void *a, const void *b)
{
    return strcmp(((const PdClusterParameter *)a)->name, ((const PdClusterParameter *)b)->name);
}

/* An integer field into *value when it is a JSON integer within int64; else a problem. */
static bool
read_integer(json_t *value, const char *field, int64_t *out, PdError *problems)
{
    if (json_is_integer(value))
    {
        *out = (int64_t)json_integer_value(value);
        return true;
    }
    pd_error_add_problem(problems, NULL, 0, 0, field, "%s must be an integer", field);
    return false;
}

static int
clamp_int(int64_t value)
{
    return value < -1000000000 ? -1000000000 : value > 1000000000 ? 1000000000 : (int)value;
}

static void
read_synchronous_mode(json_t *value, PdClusterConfig *config, PdError *problems)
{
    const char *text = json_is_string(value) ? json_string_value(value) : NULL;
    if (text != NULL && (strcmp(text, "on") == 0 || strcmp(text, "off") == 0))
        config->is_synchronous = strcmp(text, "on") == 0;
    else
        pd_error_add_problem(problems, NULL, 0, 0, "synchronous_mode",
                             "synchronous_mode must be \"on\" or \"off\"");
}

static void
read_backup_on(json_t *value, PdClusterConfig *config, PdError *problems)
{
    const char *text = json_is_string(value) ? json_string_value(value) : NULL;
    if (text != NULL && (strcmp(text, "standby") == 0 || strcmp(text, "primary") == 0))
        config->is_backup_on_primary = strcmp(text, "primary") == 0;
    else
        pd_error_add_problem(problems, NULL, 0, 0, "backup_on",
                             "backup_on must be \"standby\" or \"primary\"");
}

static void
read_parameters(PdArena *arena, json_t *object, PdClusterConfig *config, PdError *problems)
{
    if (!json_is_object(object))
    {
        pd_error_add_problem(problems, NULL, 0, 0, "postgresql_parameters",
                             "postgresql_parameters must be an object of \"name\": \"value\"");
        return;
    }
    size_t count = json_object_size(object);
    PdClusterParameter *parameters = pd_arena_calloc(arena, count > 0 ? count : 1, sizeof *parameters);
    if (parameters == NULL)
        return;
    size_t used = 0;
    const char *name;
    json_t *value;
    json_object_foreach(object, name, value)
    {
        if (!json_is_string(value))
        {
            pd_error_add_problem(problems, NULL, 0, 0, "postgresql_parameters",
                                 "postgresql_parameters.%.63s must be a string (\"64MB\", \"on\")", name);
            continue;
        }
        parameters[used++] = (PdClusterParameter){pd_arena_strdup(arena, name),
                                                  pd_arena_strdup(arena, json_string_value(value))};
    }
    if (pd_arena_failed(arena))
        return;
    qsort(parameters, used, sizeof *parameters, compare_parameters);
    config->parameters = parameters;
    config->parameter_count = used;
}

/* One field of the document into *config, or a problem naming it. */
static void
read_field(PdArena *arena, const char *field, json_t *value, PdClusterConfig *config, PdError *problems)
{
    int64_t number = 0;
    if (strcmp(field, "synchronous_mode") == 0)
        read_synchronous_mode(value, config, problems);
    else if (strcmp(field, "synchronous_quorum") == 0 && read_integer(value, field, &number, problems))
        config->synchronous_quorum = clamp_int(number);
    else if (strcmp(field, "ttl_s") == 0 && read_integer(value, field, &number, problems))
        config->ttl_s = clamp_int(number);
    else if (strcmp(field, "loop_interval_ms") == 0 && read_integer(value, field, &number, problems))
        config->loop_interval_ms = clamp_int(number);
    else if (strcmp(field, "maximum_lag_on_failover_bytes") == 0 &&
             read_integer(value, field, &number, problems))
        config->maximum_lag_on_failover_bytes = number;
    else if (strcmp(field, "paused") == 0 && json_is_boolean(value))
        config->is_paused = json_is_true(value);
    else if (strcmp(field, "paused") == 0)
        pd_error_add_problem(problems, NULL, 0, 0, field, "paused must be true or false");
    else if (strcmp(field, "failsafe_mode") == 0 && json_is_boolean(value))
        config->is_failsafe = json_is_true(value);
    else if (strcmp(field, "failsafe_mode") == 0)
        pd_error_add_problem(problems, NULL, 0, 0, field, "failsafe_mode must be true or false");
    else if (strcmp(field, "failsafe_grant_ms") == 0 && read_integer(value, field, &number, problems))
        config->failsafe_grant_ms = clamp_int(number);
    else if (strcmp(field, "failsafe_timeout_ms") == 0 && read_integer(value, field, &number, problems))
        config->failsafe_timeout_ms = clamp_int(number);
    else if (strcmp(field, "backup_full_every_s") == 0 && read_integer(value, field, &number, problems))
        config->backup_full_every_s = clamp_int(number);
    else if (strcmp(field, "backup_incr_every_s") == 0 && read_integer(value, field, &number, problems))
        config->backup_incr_every_s = clamp_int(number);
    else if (strcmp(field, "backup_verify_every_s") == 0 && read_integer(value, field, &number, problems))
        config->backup_verify_every_s = clamp_int(number);
    else if (strcmp(field, "backup_on") == 0)
        read_backup_on(value, config, problems);
    else if (strcmp(field, "backup_retain_full") == 0 && read_integer(value, field, &number, problems))
        config->backup_retain_full = clamp_int(number);
    else if (strcmp(field, "backup_retain_days") == 0 && read_integer(value, field, &number, problems))
        config->backup_retain_days = clamp_int(number);
    else if (strcmp(field, "postgresql_parameters") == 0)
        read_parameters(arena, value, config, problems);
    else if (strcmp(field, "pg_hba") == 0)
        pd_cluster_hba_read(arena, value, &config->pg_hba, &config->pg_hba_count, problems);
}

static bool
is_field(const char *name)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (strcmp(field_names[i], name) == 0)
            return true;
    return false;
}

bool
pd_cluster_config_parse(PdArena *arena, const char *text, size_t length, PdClusterConfig *config,
                        PdError *err)
{
    if (length > PD_CLUSTER_DOCUMENT_MAX)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the cluster configuration is %zu bytes, at most %d",
                            length, PD_CLUSTER_DOCUMENT_MAX);
    json_error_t json_err;
    json_t *root = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL || !json_is_object(root))
    {
        json_decref(root);
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the cluster configuration is not a JSON object%s%s",
                            root == NULL ? ": " : "", root == NULL ? json_err.text : "");
    }
    PdClusterConfig parsed;
    pd_cluster_config_defaults(&parsed);
    PdError problems;
    pd_error_clear(&problems);
    const char *field;
    json_t *value;
    json_object_foreach(root, field, value)
    {
        if (is_field(field))
            read_field(arena, field, value, &parsed, &problems);
        else
            pd_error_add_problem(&problems, NULL, 0, 0, field, "unknown field \"%.64s\"; the fields are %s",
                                 field, FIELD_LIST);
    }
    json_decref(root);
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    check_into(&parsed, &problems); /* fields that did not parse kept their default */
    if (problems.code != PD_OK)
    {
        *err = problems;
        return false;
    }
    *config = parsed;
    return true;
}

static json_t *
document(const PdClusterConfig *config)
{
    json_t *parameters = json_object();
    for (size_t i = 0; parameters != NULL && i < config->parameter_count; i++)
        if (json_object_set_new(parameters, config->parameters[i].name,
                                json_string(config->parameters[i].value)) != 0)
        {
            json_decref(parameters);
            return NULL;
        }
    json_t *pg_hba = parameters != NULL ? pd_cluster_hba_json(config->pg_hba, config->pg_hba_count) : NULL;
    if (pg_hba == NULL)
    {
        json_decref(parameters);
        return NULL;
    }
    return json_pack(
        "{s:s, s:i, s:i, s:i, s:I, s:b, s:o, s:o, s:b, s:i, s:i, s:i, s:i, s:i, s:s, s:i, s:i}",
        "synchronous_mode", config->is_synchronous ? "on" : "off", "synchronous_quorum",
        config->synchronous_quorum, "ttl_s", config->ttl_s, "loop_interval_ms", config->loop_interval_ms,
        "maximum_lag_on_failover_bytes", (json_int_t)config->maximum_lag_on_failover_bytes, "paused",
        config->is_paused, "postgresql_parameters", parameters, "pg_hba", pg_hba, "failsafe_mode",
        config->is_failsafe, "failsafe_grant_ms", config->failsafe_grant_ms, "failsafe_timeout_ms",
        config->failsafe_timeout_ms, "backup_full_every_s", config->backup_full_every_s,
        "backup_incr_every_s", config->backup_incr_every_s, "backup_verify_every_s",
        config->backup_verify_every_s, "backup_on", config->is_backup_on_primary ? "primary" : "standby",
        "backup_retain_full", config->backup_retain_full, "backup_retain_days", config->backup_retain_days);
}

char *
pd_cluster_config_json(PdArena *arena, const PdClusterConfig *config, bool is_pretty, PdError *err)
{
    json_t *root = document(config);
    char *text = root != NULL
                     ? json_dumps(root, JSON_PRESERVE_ORDER | (is_pretty ? JSON_INDENT(2) : JSON_COMPACT))
                     : NULL;
    json_decref(root);
    if (text == NULL)
    {
        pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the cluster configuration's JSON");
        return NULL;
    }
    char *copy = pd_arena_sprintf(arena, "%s%s", text, is_pretty ? "\n" : "");
    free(text);
    if (copy == NULL)
        pd_arena_error(arena, err);
    return copy;
}

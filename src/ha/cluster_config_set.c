/*
 * cluster_config_set.c - "field=value" changes to the cluster configuration,
 * as `prodata cluster config set` takes them: applied to a copy, the copy
 * checked whole (pd_cluster_config_check's rules), and only a copy without a
 * problem replaces the caller's. A change is a patch, not a document, so
 * applying it again on a document someone else changed in between keeps
 * their change too (cluster_config_etcd.c relies on that).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ha/cluster_config.h"
#include "ha/cluster_hba.h"

#define PARAMETER_PREFIX "postgresql_parameters."

/* A decimal integer, the whole text; false for anything else. */
static bool
parse_integer(const char *text, int64_t *value)
{
    if (text[0] == '\0' || (!isdigit((unsigned char)text[0]) && text[0] != '-'))
        return false;
    errno = 0;
    char *end;
    long long number = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *value = (int64_t)number;
    return true;
}

static int
clamp_int(int64_t value)
{
    return value < -1000000000 ? -1000000000 : value > 1000000000 ? 1000000000 : (int)value;
}

/* The working copy: its parameters in an array of the copy's own, with room for every assignment. */
typedef struct Draft
{
    PdArena *arena; /* the caller's: what the copy holds */
    PdClusterConfig config;
    PdClusterParameter *parameters;
    size_t count;
} Draft;

static void
set_parameter(Draft *draft, const char *name, const char *value)
{
    for (size_t i = 0; i < draft->count; i++)
    {
        if (strcmp(draft->parameters[i].name, name) != 0)
            continue;
        if (value[0] == '\0')
            draft->parameters[i] = draft->parameters[--draft->count];
        else
            draft->parameters[i].value = value;
        return;
    }
    if (value[0] != '\0')
        draft->parameters[draft->count++] = (PdClusterParameter){name, value};
}

static void
set_number(const char *field, const char *value, int64_t *number, bool *is_set, PdError *problems)
{
    if (parse_integer(value, number))
        *is_set = true;
    else
        pd_error_add_problem(problems, NULL, 0, 0, field, "%s: \"%.64s\" is not an integer", field, value);
}

static bool
is_number_field(const char *field)
{
    static const char *const names[] = {"synchronous_quorum",    "ttl_s",
                                        "loop_interval_ms",      "maximum_lag_on_failover_bytes",
                                        "failsafe_grant_ms",     "failsafe_timeout_ms",
                                        "backup_full_every_s",   "backup_incr_every_s",
                                        "backup_verify_every_s", "backup_retain_full",
                                        "backup_retain_days"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(field, names[i]) == 0)
            return true;
    return false;
}

/* A number field parsed already into *config (bounds are pd_cluster_config_check's). */
static void
store_number(PdClusterConfig *config, const char *field, int64_t number)
{
    if (strcmp(field, "synchronous_quorum") == 0)
        config->synchronous_quorum = clamp_int(number);
    else if (strcmp(field, "ttl_s") == 0)
        config->ttl_s = clamp_int(number);
    else if (strcmp(field, "loop_interval_ms") == 0)
        config->loop_interval_ms = clamp_int(number);
    else if (strcmp(field, "failsafe_grant_ms") == 0)
        config->failsafe_grant_ms = clamp_int(number);
    else if (strcmp(field, "failsafe_timeout_ms") == 0)
        config->failsafe_timeout_ms = clamp_int(number);
    else if (strcmp(field, "backup_full_every_s") == 0)
        config->backup_full_every_s = clamp_int(number);
    else if (strcmp(field, "backup_incr_every_s") == 0)
        config->backup_incr_every_s = clamp_int(number);
    else if (strcmp(field, "backup_verify_every_s") == 0)
        config->backup_verify_every_s = clamp_int(number);
    else if (strcmp(field, "backup_retain_full") == 0)
        config->backup_retain_full = clamp_int(number);
    else if (strcmp(field, "backup_retain_days") == 0)
        config->backup_retain_days = clamp_int(number);
    else
        config->maximum_lag_on_failover_bytes = number;
}

/* One "field=value" (field and value split already) into the draft, or a problem naming the field. */
static void
assign_one(Draft *draft, const char *field, const char *value, PdError *problems)
{
    PdClusterConfig *config = &draft->config;
    int64_t number = 0;
    bool is_set = false;
    if (strncmp(field, PARAMETER_PREFIX, strlen(PARAMETER_PREFIX)) == 0)
        set_parameter(draft, field + strlen(PARAMETER_PREFIX), value);
    else if (strcmp(field, "pg_hba") == 0 || strcmp(field, "pg_hba+") == 0 || strcmp(field, "pg_hba-") == 0)
        pd_cluster_hba_assign(draft->arena, field[6] != '\0' ? field[6] : '=', value, &config->pg_hba,
                              &config->pg_hba_count, problems);
    else if (strcmp(field, "synchronous_mode") == 0)
    {
        if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0)
            config->is_synchronous = strcmp(value, "on") == 0;
        else
            pd_error_add_problem(problems, NULL, 0, 0, field, "synchronous_mode: \"%.64s\" is not on or off",
                                 value);
    }
    else if (strcmp(field, "paused") == 0)
    {
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            config->is_paused = strcmp(value, "true") == 0;
        else
            pd_error_add_problem(problems, NULL, 0, 0, field, "paused: \"%.64s\" is not true or false",
                                 value);
    }
    else if (strcmp(field, "failsafe_mode") == 0)
    {
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            config->is_failsafe = strcmp(value, "true") == 0;
        else
            pd_error_add_problem(problems, NULL, 0, 0, field, "failsafe_mode: \"%.64s\" is not true or false",
                                 value);
    }
    else if (strcmp(field, "backup_on") == 0)
    {
        if (strcmp(value, "standby") == 0 || strcmp(value, "primary") == 0)
            config->is_backup_on_primary = strcmp(value, "primary") == 0;
        else
            pd_error_add_problem(problems, NULL, 0, 0, field,
                                 "backup_on: \"%.64s\" is not standby or primary", value);
    }
    else if (is_number_field(field))
        set_number(field, value, &number, &is_set, problems);
    else
        pd_error_add_problem(problems, NULL, 0, 0, field,
                             "unknown field \"%.64s\"; the fields are synchronous_mode, synchronous_quorum, "
                             "ttl_s, loop_interval_ms, maximum_lag_on_failover_bytes, paused, failsafe_mode, "
                             "failsafe_grant_ms, failsafe_timeout_ms, backup_full_every_s, "
                             "backup_incr_every_s, backup_verify_every_s, backup_on, backup_retain_full, "
                             "backup_retain_days, "
                             "postgresql_parameters.NAME, pg_hba (pg_hba+=LINE, pg_hba-=LINE, pg_hba=[...])",
                             field);
    if (is_set)
        store_number(config, field, number);
}

static int
compare_parameters(const void *a, const void *b)
{
    return strcmp(((const PdClusterParameter *)a)->name, ((const PdClusterParameter *)b)->name);
}

static bool
split_assignment(PdArena *arena, const char *assignment, char **field, char **value, PdError *problems)
{
    const char *equals = strchr(assignment, '=');
    if (equals == NULL || equals == assignment)
    {
        pd_error_add_problem(problems, NULL, 0, 0, NULL, "\"%.64s\" is not field=value", assignment);
        return false;
    }
    *field = pd_arena_strndup(arena, assignment, (size_t)(equals - assignment));
    *value = pd_arena_strdup(arena, equals + 1);
    return *field != NULL && *value != NULL;
}

bool
pd_cluster_config_assign(PdArena *arena, PdClusterConfig *config, const char *const *assignments,
                         size_t count, PdError *err)
{
    Draft draft = {.arena = arena, .config = *config, .count = config->parameter_count};
    draft.parameters = pd_arena_calloc(arena, config->parameter_count + count + 1, sizeof *draft.parameters);
    if (draft.parameters == NULL)
        return pd_arena_error(arena, err);
    if (config->parameter_count > 0) /* the defaults' parameters are NULL */
        memcpy(draft.parameters, config->parameters, config->parameter_count * sizeof *draft.parameters);
    PdError problems;
    pd_error_clear(&problems);
    for (size_t i = 0; i < count; i++)
    {
        char *field, *value;
        if (split_assignment(arena, assignments[i], &field, &value, &problems))
            assign_one(&draft, field, value, &problems);
    }
    if (pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    qsort(draft.parameters, draft.count, sizeof *draft.parameters, compare_parameters);
    draft.config.parameters = draft.parameters;
    draft.config.parameter_count = draft.count;
    PdError checked;
    pd_error_clear(&checked);
    if (!pd_cluster_config_check(&draft.config, &checked)) /* fields that did not parse kept their value */
        for (size_t i = 0; i < checked.problem_count; i++)
            pd_error_add_problem(&problems, NULL, 0, 0,
                                 checked.problems[i].field[0] ? checked.problems[i].field : NULL, "%s",
                                 checked.problems[i].message);
    if (problems.code != PD_OK)
    {
        *err = problems;
        return false;
    }
    *config = draft.config;
    return true;
}

/*
 * plan_testing.h - what the planner's unit tests share: a plan made from two
 * model texts (failing the test when planning fails), with --expand or
 * without, and whether a plan warns of something. Header-only, static inline,
 * for tests/unit/migrate only.
 */
#ifndef PRODATA_TESTS_PLAN_TESTING_H
#define PRODATA_TESTS_PLAN_TESTING_H

#include <string.h>

#include "prodata/migrate.h"
#include "testing.h"

static inline PdMigrationPlan *
plan_texts(PdArena *arena, const char *from, const char *to)
{
    PdMigrationPlan *plan = NULL;
    PdError err;
    if (!pd_migrate_plan(arena, from != NULL ? testing_parse(arena, from) : NULL, testing_parse(arena, to),
                         &plan, &err))
        fail_msg("planning failed: %s (%s)", err.message, err.hint);
    return plan;
}

/* plan_texts with --expand. */
static inline PdMigrationPlan *
plan_expanded(PdArena *arena, const char *from, const char *to)
{
    PdMigrationPlan *plan = NULL;
    PdError err;
    PdPlanOptions options = {.is_expand = true};
    if (!pd_migrate_plan_with_options(arena, testing_parse(arena, from), testing_parse(arena, to), &options,
                                      &plan, &err))
        fail_msg("planning failed: %s (%s)", err.message, err.hint);
    return plan;
}

static inline bool
has_warning(const PdMigrationPlan *plan, const char *part)
{
    for (size_t i = 0; i < plan->warning_count; i++)
        if (strstr(plan->warnings[i], part) != NULL)
            return true;
    return false;
}

#endif

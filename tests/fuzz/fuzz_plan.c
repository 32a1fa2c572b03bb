/*
 * fuzz_plan.c - the planner on two model files in one input, split at the
 * first line that is exactly "%%": before it the models as they were (none
 * when empty), after it the models as they are. When both parse, planning
 * must succeed or return an input error; a plan is rendered as a migration
 * file, read back, and the state it records must plan to no change against
 * the models (what makes the next makemigrations find nothing to do).
 */
#include "fuzz.h"
#include "prodata/migrate.h"

static bool
parse_models(PdArena *arena, const char *name, const char *text, PdCatalog **catalog)
{
    PdError err;
    *catalog = NULL;
    if (strspn(text, " \t\r\n") == strlen(text))
        return true;
    return pd_model_parse(arena, name, text, catalog, &err);
}

/* Writes the plan as a migration file, reads it back and plans from its state to `to`: nothing is left. */
static void
check_round_trip(PdArena *arena, const PdMigrationPlan *plan, PdCatalog *to)
{
    char *text;
    PdError err;
    FUZZ_ASSERT(pd_migration_render(arena, plan, "0002_fuzz", "0001_initial", "to.pdm", to, &text, &err),
                "render failed: %s", err.message);
    PdMigrationFile file;
    FUZZ_ASSERT(pd_migration_parse(arena, "m/0002_fuzz.sql", text, strlen(text), &file, &err),
                "the rendered file does not parse: %s", err.message);
    PdCatalog *state;
    FUZZ_ASSERT(pd_migration_latest_state(arena, &file, 1, &state, &err), "its state does not parse: %s",
                err.message);
    PdMigrationPlan *again;
    FUZZ_ASSERT(pd_migrate_plan(arena, state, to, &again, &err), "planning from the state failed: %s",
                err.message);
    FUZZ_ASSERT(again->operation_count == 0, "the recorded state plans %zu more operations, first: %s",
                again->operation_count, again->operations[0].description);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    char *text = fuzz_text(arena, data, size);
    char *to_text = text;
    char *separator = strncmp(text, "%%\n", 3) == 0 ? text : strstr(text, "\n%%\n");
    if (separator != NULL)
    {
        separator[separator == text ? 0 : 1] = '\0';
        to_text = separator + (separator == text ? 3 : 4);
    }
    PdCatalog *from = NULL, *to = NULL;
    if (parse_models(arena, "from.pdm", separator != NULL ? text : "", &from) &&
        parse_models(arena, "to.pdm", to_text, &to) && to != NULL)
    {
        PdMigrationPlan *plan;
        PdError err;
        if (pd_migrate_plan(arena, from, to, &plan, &err))
            check_round_trip(arena, plan, to);
        else
            FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "plan failed with code %d: %s", (int)err.code,
                        err.message);
    }
    pd_arena_free(arena);
    return 0;
}

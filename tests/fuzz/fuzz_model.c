/*
 * fuzz_model.c - the model parser and checker on any text, with the round
 * trip the migration files rely on: a catalog that parses formats to text
 * that parses again, to a catalog that formats to the same bytes. An error
 * must be an input error with a position, never a crash; each problem it
 * lists has a position too, in text order.
 */
#include "fuzz.h"
#include "prodata/model.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err;
    if (!pd_model_parse(arena, "fuzz.pdm", fuzz_text(arena, data, size), &catalog, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "parse failed with code %d: %s", (int)err.code,
                    err.message);
        FUZZ_ASSERT(strncmp(err.message, "fuzz.pdm:", 9) == 0, "no position in \"%s\"", err.message);
        FUZZ_ASSERT(err.problem_count >= 1 && err.problem_count <= PD_ERROR_MAX_PROBLEMS, "%zu problems",
                    err.problem_count);
        for (size_t i = 0; i < err.problem_count; i++)
        {
            const PdProblem *problem = &err.problems[i];
            FUZZ_ASSERT(strcmp(problem->pos.file, "fuzz.pdm") == 0 && problem->pos.line >= 1 &&
                            problem->pos.column >= 1 && problem->message[0] != '\0',
                        "problem %zu has no position: %s", i, problem->message);
            const PdProblem *before = i > 0 ? &err.problems[i - 1] : problem;
            FUZZ_ASSERT(before->pos.line < problem->pos.line || (before->pos.line == problem->pos.line &&
                                                                 before->pos.column <= problem->pos.column),
                        "problem %zu comes before problem %zu", i, i - 1);
        }
        pd_arena_free(arena);
        return 0;
    }
    char *text = NULL, *again = NULL;
    PdCatalog *reparsed = NULL;
    FUZZ_ASSERT(pd_model_format(arena, catalog, &text, &err), "format failed: %s", err.message);
    FUZZ_ASSERT(pd_model_parse(arena, "formatted.pdm", text, &reparsed, &err),
                "the formatted catalog does not parse: %s\n%s", err.message, text);
    FUZZ_ASSERT(pd_model_format(arena, reparsed, &again, &err), "second format failed: %s", err.message);
    FUZZ_ASSERT(strcmp(text, again) == 0, "format is not stable:\n%s\n--- then ---\n%s", text, again);
    pd_arena_free(arena);
    return 0;
}

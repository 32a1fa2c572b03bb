/*
 * test_invalid.c - every bad model file under tests/unit/model/invalid/, one
 * folder per error class: input.pdm must fail with PD_ERR_INVALID_INPUT and
 * exactly the message in `expected` (its final line end ignored), leaving the
 * output catalog untouched. A case with several problems lists them all in
 * `problems`, one "file:line:col: message" line each in the order reported,
 * then "(N more problems not shown)" when some were past the cap; a case
 * without that file must report exactly one problem, so a mistake never
 * brings follow-on problems with it. Adding a case is adding a folder. Runs
 * with the repository root as the working directory.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/model.h"
#include "testing.h"

#define INVALID_DIR "tests/unit/model/invalid"

/* Every problem of err, one line each as the CLI prints them, with the count of those past the cap. */
static char *
format_problems(PdArena *arena, const PdError *err)
{
    char *text = "";
    for (size_t i = 0; i < err->problem_count && text != NULL; i++)
    {
        char where[300];
        pd_error_format_position(&err->problems[i].pos, where, sizeof(where));
        text = pd_arena_sprintf(arena, "%s%s: %s\n", text, where, err->problems[i].message);
    }
    if (err->problems_omitted > 0 && text != NULL)
        text = pd_arena_sprintf(arena, "%s(%zu more problems not shown)\n", text, err->problems_omitted);
    assert_non_null(text);
    return text;
}

static void
assert_problems(PdArena *arena, const char *name, const PdError *err)
{
    char *expected = testing_read_text(arena, pd_arena_sprintf(arena, "%s/%s/problems", INVALID_DIR, name));
    if (expected == NULL)
    {
        if (err->problem_count != 1)
            fail_msg("expected one problem, got %zu (list them in %s/%s/problems):\n%s", err->problem_count,
                     INVALID_DIR, name, format_problems(arena, err));
        return;
    }
    assert_true(err->problem_count > 1);
    assert_string_equal(format_problems(arena, err), expected);
}

static void
test_invalid_case(void **state)
{
    const char *name = *state;
    PdArena *arena = pd_arena_new(0);
    char *input = testing_read_text(arena, pd_arena_sprintf(arena, "%s/%s/input.pdm", INVALID_DIR, name));
    char *expected = testing_read_text(arena, pd_arena_sprintf(arena, "%s/%s/expected", INVALID_DIR, name));
    assert_non_null(input);
    assert_non_null(expected);
    size_t length = strlen(expected);
    while (length > 0 && (expected[length - 1] == '\n' || expected[length - 1] == '\r'))
        expected[--length] = '\0';
    PdCatalog sentinel;
    PdCatalog *catalog = &sentinel;
    PdError err;
    pd_error_clear(&err);
    assert_false(pd_model_parse(arena, "input.pdm", input, &catalog, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message, expected);
    assert_problems(arena, name, &err);
    assert_ptr_equal(catalog, &sentinel);
    pd_arena_free(arena);
}

static int
is_case(const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

int
main(void)
{
    struct dirent **entries;
    int count = scandir(INVALID_DIR, &entries, is_case, alphasort);
    if (count <= 0)
    {
        fprintf(stderr, "no cases in %s (run from the repository root)\n", INVALID_DIR);
        return 1;
    }
    struct CMUnitTest *tests = calloc((size_t)count, sizeof(*tests));
    for (int i = 0; i < count; i++)
    {
        tests[i].name = entries[i]->d_name;
        tests[i].test_func = test_invalid_case;
        tests[i].initial_state = entries[i]->d_name;
    }
    int failed = _cmocka_run_group_tests("model_invalid", tests, (size_t)count, NULL, NULL);
    for (int i = 0; i < count; i++)
        free(entries[i]);
    free(entries);
    free(tests);
    return failed;
}

/*
 * fuzz_inspect.c - inspectdb's readers of PostgreSQL's deparsed text on any
 * input: a condition (a CHECK's expression, an index's WHERE), an index
 * definition and prodata's auto_now trigger. None may crash or read past the
 * text; a condition that reads is model-language text with its parentheses
 * balanced and no cast left in it, and it reads again as itself (the model
 * language's words are a subset of what the reader accepts).
 */
#include "../../fuzz/fuzz.h"
#include "migrate/inspect.h"

static void
check_condition(PdArena *arena, const char *sql)
{
    const char *text;
    if (!pd_inspect_read_condition(arena, sql, &text))
        return;
    int depth = 0;
    for (const char *c = text; *c != '\0'; c++)
    {
        if (*c == '"')
        {
            for (c++; *c != '\0' && *c != '"'; c++)
                if (*c == '\\' && c[1] != '\0')
                    c++;
            FUZZ_ASSERT(*c == '"', "an unterminated string in \"%s\"", text);
            continue;
        }
        depth += *c == '(' ? 1 : *c == ')' ? -1 : 0;
        FUZZ_ASSERT(depth >= 0, "a ')' before its '(' in \"%s\"", text);
        FUZZ_ASSERT(!(c[0] == ':' && c[1] == ':'), "a cast left in \"%s\"", text);
    }
    FUZZ_ASSERT(depth == 0, "unbalanced parentheses in \"%s\"", text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    const char *sql = fuzz_text(arena, data, size);
    check_condition(arena, sql);
    InspectIndexShape shape;
    const char *reason;
    if (pd_inspect_read_index(arena, sql, &shape, &reason))
    {
        FUZZ_ASSERT(shape.column_count > 0, "an index without columns");
        if (shape.where != NULL)
            check_condition(arena, shape.where);
    }
    const char **columns;
    size_t count;
    if (pd_inspect_read_auto_now(arena, sql, &columns, &count))
        FUZZ_ASSERT(count > 0, "an auto_now trigger without columns");
    pd_arena_free(arena);
    return 0;
}

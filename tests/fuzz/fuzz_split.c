/*
 * fuzz_split.c - the statement splitter on any SQL text. Every statement it
 * returns is a piece of the input, trimmed, without an empty one; and
 * splitting the statements joined again by "\n;\n" gives the same statements
 * (a ';' the splitter cut at was outside every quote, so nothing it kept can
 * hide another cut). The checksum over statements in normal form (what
 * migrate records) is the same for the input and for its statements joined
 * again with other blanks and a comment between them.
 */
#include "fuzz.h"
#include "prodata/migrate.h"
#include "prodata/strbuf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    const char *sql = fuzz_text(arena, data, size);
    const char **statements;
    size_t count;
    PdError err;
    if (!pd_migration_split_statements(arena, sql, NULL, 1, &statements, &count, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "split failed with code %d", (int)err.code);
        pd_arena_free(arena);
        return 0;
    }
    PdStrbuf joined;
    pd_strbuf_init(&joined, arena);
    for (size_t i = 0; i < count; i++)
    {
        FUZZ_ASSERT(statements[i][0] != '\0', "empty statement %zu", i);
        FUZZ_ASSERT(strstr(sql, statements[i]) != NULL, "statement %zu is not in the input", i);
        pd_strbuf_append(&joined, statements[i]);
        pd_strbuf_append(&joined, "\n;\n"); /* a line of its own: a statement may end in a -- comment */
    }
    const char **again;
    size_t again_count;
    const char *text = pd_strbuf_text(&joined);
    FUZZ_ASSERT(text != NULL, "out of memory");
    FUZZ_ASSERT(pd_migration_split_statements(arena, text, NULL, 1, &again, &again_count, &err),
                "the statements joined again do not split: %s", err.message);
    FUZZ_ASSERT(again_count == count, "%zu statements, then %zu", count, again_count);
    for (size_t i = 0; i < count; i++)
        FUZZ_ASSERT(strcmp(statements[i], again[i]) == 0, "statement %zu changed", i);
    PdStrbuf commented;
    pd_strbuf_init(&commented, arena);
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append(&commented, "  ");
        pd_strbuf_append(&commented, statements[i]);
        pd_strbuf_append(&commented, "\n  ;\n-- a comment\n\n");
    }
    PdMigrationFile one = {.name = "0001_x", .up_sql = sql, .up_concurrently_sql = "", .up_batched_sql = ""};
    PdMigrationFile two = one;
    two.up_sql = pd_strbuf_text(&commented) != NULL ? pd_strbuf_text(&commented) : "";
    char first[65], second[65];
    FUZZ_ASSERT(pd_migration_statement_checksum(arena, &one, first, &err), "checksum failed: %s", err.message);
    FUZZ_ASSERT(pd_migration_statement_checksum(arena, &two, second, &err), "checksum failed: %s", err.message);
    FUZZ_ASSERT(strcmp(first, second) == 0, "blanks and comments changed the checksum");
    pd_arena_free(arena);
    return 0;
}

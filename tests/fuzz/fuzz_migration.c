/*
 * fuzz_migration.c - the migration file parser on any bytes. The input is
 * copied into a buffer of exactly its length, with no terminator, so reading
 * past the length the parser was given is caught by AddressSanitizer. A file
 * that parses has its recorded state read and its sections split into
 * statements, as migrate and makemigrations do.
 */
#include "fuzz.h"
#include "prodata/migrate.h"

static void
split_section(PdArena *arena, const char *sql, int line)
{
    const char **statements;
    size_t count;
    PdError err;
    if (sql != NULL &&
        !pd_migration_split_statements(arena, sql, "fuzz.sql", line, &statements, &count, &err))
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "split failed with code %d", (int)err.code);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    FUZZ_ASSERT(text != NULL, "out of memory");
    if (size > 0)
        memcpy(text, data, size);
    PdArena *arena = pd_arena_new(0);
    PdMigrationFile file;
    PdError err;
    if (pd_migration_parse(arena, "m/0001_fuzz.sql", text, size, &file, &err))
    {
        FUZZ_ASSERT(file.state_text == NULL || strlen(file.state_text) <= size, "state longer than the file");
        PdCatalog *state = NULL;
        if (!pd_migration_latest_state(arena, &file, 1, &state, &err))
            FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "state failed with code %d", (int)err.code);
        split_section(arena, file.up_sql, file.up_line);
        split_section(arena, file.up_concurrently_sql, file.up_concurrently_line);
        split_section(arena, file.down_sql, file.down_line);
    }
    else
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "parse failed with code %d: %s", (int)err.code,
                    err.message);
    pd_arena_free(arena);
    free(text);
    return 0;
}

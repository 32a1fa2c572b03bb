/*
 * fuzz_lookup.c - libFuzzer target for the query parameters the REST server
 * hands the query library: the input is split at its first two newlines into
 * a lookup ("author__name__icontains"), a value and an ordering, applied to
 * the bookstore's Book through pd_q / pd_q_list (the value split at commas
 * for __in and __range, as django-filter does), pd_query_search and
 * pd_query_order_by, and the statement is then built with pd_query_sql in
 * every shape. Invariants: no crash, leak or sanitizer report; a refusal has
 * a code and a message; a statement that was built mentions no byte of the
 * input's value (values travel only as parameters) and its placeholders stay
 * within the parameter count.
 */
#include "fuzz.h"

#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/query.h"

/* Splits text at the next newline: returns the part before it and moves *rest past it. */
static char *
take_line(char **rest)
{
    char *line = *rest;
    char *end = strchr(line, '\n');
    if (end == NULL)
        *rest = line + strlen(line);
    else
    {
        *end = '\0';
        *rest = end + 1;
    }
    return line;
}

static bool
ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

static PdQ *
condition(PdArena *arena, PdQuery *query, const char *lookup, char *value, PdError *err)
{
    if (!ends_with(lookup, "__in") && !ends_with(lookup, "__range"))
        return pd_q(query, lookup, value, err);
    const char *parts[64];
    size_t count = 0;
    for (char *part = value; count < 64;)
    {
        char *comma = strchr(part, ',');
        parts[count++] = part;
        if (comma == NULL)
            break;
        *comma = '\0';
        part = comma + 1;
    }
    (void)arena;
    return pd_q_list(query, lookup, parts, count, err);
}

static void
check_statement(PdQuery *query, const char *value)
{
    static const PdQueryShape shapes[] = {PD_SHAPE_PAGE, PD_SHAPE_GET, PD_SHAPE_COUNT, PD_SHAPE_EXISTS,
                                          PD_SHAPE_ROWS};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
    {
        PdSqlText sql = {0};
        PdError err = {0};
        if (!pd_query_sql(query, shapes[i], PD_COUNT_EXACT, &sql, &err))
        {
            FUZZ_ASSERT(err.code != PD_OK && err.message[0] != '\0', "pd_query_sql failed without words");
            continue;
        }
        /* A value of 4+ characters with a quote or a semicolon would show up in the text if it were pasted.
         */
        if (strlen(value) >= 4 && strpbrk(value, "';") != NULL)
            FUZZ_ASSERT(strstr(sql.sql, value) == NULL, "the value reached the SQL text: %s", sql.sql);
        char placeholder[16];
        snprintf(placeholder, sizeof(placeholder), "$%d", sql.param_count + 1);
        for (const char *at = strstr(sql.sql, placeholder); at != NULL; at = strstr(at + 1, placeholder))
            FUZZ_ASSERT(at[strlen(placeholder)] < '0' || at[strlen(placeholder)] > '9',
                        "placeholder %s beyond the %d parameters", placeholder, sql.param_count);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err = {0};
    FUZZ_ASSERT(pd_model_parse(arena, "fuzz.pdm", FUZZ_BOOKSTORE_MODELS, &catalog, &err), "models: %s",
                err.message);
    PdQuery *query = pd_query_new(arena, catalog, pd_model_find(catalog, "Book"));
    FUZZ_ASSERT(query != NULL, "pd_query_new");
    char *rest = fuzz_text(arena, data, size);
    char *lookup = take_line(&rest);
    char *value = take_line(&rest);
    char *ordering = take_line(&rest);
    char *value_copy = pd_arena_strdup(arena, value);
    PdQ *q = condition(arena, query, lookup, value_copy, &err);
    if (q == NULL || !pd_query_filter(query, q, &err))
        FUZZ_ASSERT(err.code != PD_OK && err.message[0] != '\0', "lookup refused without words");
    PdError search_err = {0};
    if (!pd_query_search(query, value, &search_err))
        FUZZ_ASSERT(search_err.code != PD_OK, "search refused without a code");
    PdError order_err = {0};
    if (*ordering != '\0' && !pd_query_order_by(query, ordering, &order_err))
        FUZZ_ASSERT(order_err.code != PD_OK && order_err.message[0] != '\0',
                    "ordering refused without words");
    check_statement(query, value);
    pd_arena_free(arena);
    return 0;
}

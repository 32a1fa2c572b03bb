/*
 * fuzz_args.c - libFuzzer target for the REST server's query string, from the raw request target to the
 * PdQuery: the input is a target ("/api/books/?title__regex=a&page=2"); it is judged as pd_http_on_uri
 * judges it (pd_http_target_refusal), split and decoded as libmicrohttpd does (at '&' and the first '=',
 * '+' as a space, MHD_http_unescape), each argument added with pd_http_args_add, then mapped onto a query
 * of the bookstore's Book with pd_http_apply_args (as a list and as an item), its pagination style read
 * (pd_http_pagination), the next link built (pd_http_url_with) and the statement written (pd_query_sql).
 * Invariants: no crash, leak or sanitizer report; a refused target has a 400 or 414 and words, an accepted
 * one at most PD_HTTP_MAX_ARGS arguments and PD_HTTP_MAX_TARGET bytes; the arguments kept are unique,
 * NUL-free and valid UTF-8; every refusal, answered as the server answers it (pd_http_respond_error), is a
 * 4xx whose body is JSON in DRF's shapes ({"detail": "..."} or {"name": ["...", ...], ...}); a link is
 * printable ASCII; a value reaches the SQL text only as a parameter. The models are parsed once per
 * process; everything else lives in one arena per input.
 */
#include "fuzz.h"

#include <jansson.h>

#include "http/server.h"
#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/query.h"

/* The body of an error as the server answers it: a 4xx, JSON, in one of DRF's two shapes. */
static void
check_answer(PdHttpContext *ctx, const PdError *err, const char *what)
{
    FUZZ_ASSERT(err->code != PD_OK && err->message[0] != '\0', "%s failed without a code or words", what);
    pd_strbuf_init(&ctx->out, ctx->arena);
    ctx->header_count = 0;
    pd_http_respond_error(ctx, err);
    FUZZ_ASSERT(ctx->status >= 400 && ctx->status < 500, "%s: status %d (%s)", what, ctx->status,
                err->message);
    const char *body = pd_strbuf_text(&ctx->out);
    FUZZ_ASSERT(body != NULL, "%s: no body", what);
    json_error_t problem;
    json_t *json = json_loads(body, 0, &problem);
    FUZZ_ASSERT(json != NULL && json_is_object(json), "%s: the body is no JSON object: %s", what, body);
    const char *key;
    json_t *value;
    json_object_foreach(json, key, value)
    {
        if (strcmp(key, "detail") == 0 && json_object_size(json) == 1 && json_is_string(value))
            continue; /* {"detail": "..."}; an argument named detail gets {"detail": ["..."]}, as in DRF */
        FUZZ_ASSERT(json_is_array(value) && json_array_size(value) > 0, "%s: %s is no list: %s", what, key,
                    body);
        for (size_t i = 0; i < json_array_size(value); i++)
            FUZZ_ASSERT(json_is_string(json_array_get(value, i)), "%s: a message is no string: %s", what,
                        body);
    }
    json_decref(json);
}

/* Splits the query string as libmicrohttpd does and adds each argument; false when one was refused. */
static bool
add_args(PdHttpContext *ctx, char *query, PdError *err)
{
    for (char *arg = query; arg != NULL;)
    {
        char *next = strchr(arg, '&');
        if (next != NULL)
            *next++ = '\0';
        char *value = strchr(arg, '=');
        if (value != NULL)
            *value++ = '\0';
        for (char *c = arg; *c != '\0'; c++)
            *c = *c == '+' ? ' ' : *c;
        size_t key_size = MHD_http_unescape(arg);
        size_t value_size = 0;
        if (value != NULL)
        {
            for (char *c = value; *c != '\0'; c++)
                *c = *c == '+' ? ' ' : *c;
            value_size = MHD_http_unescape(value);
        }
        FUZZ_ASSERT(pd_http_args_add(ctx, arg, key_size, value, value_size, err), "pd_http_args_add: %s",
                    err->message);
        arg = next;
    }
    return err->code == PD_OK;
}

static void
check_args(const PdHttpContext *ctx)
{
    FUZZ_ASSERT(ctx->arg_count <= PD_HTTP_MAX_ARGS, "%zu arguments kept", ctx->arg_count);
    for (size_t i = 0; i < ctx->arg_count; i++)
    {
        const PdHttpArg *arg = &ctx->args[i];
        FUZZ_ASSERT(arg->key[0] != '\0', "an argument without a name was kept");
        FUZZ_ASSERT(pd_http_is_utf8(arg->key, strlen(arg->key)) &&
                        pd_http_is_utf8(arg->value, strlen(arg->value)),
                    "invalid UTF-8 kept in %s", arg->key);
        for (size_t j = i + 1; j < ctx->arg_count; j++)
            FUZZ_ASSERT(strcmp(arg->key, ctx->args[j].key) != 0, "%s kept twice", arg->key);
    }
}

/* The statement never holds a value of 4+ characters with a quote or a semicolon as text. */
static void
check_statement(PdQuery *query, const PdHttpContext *ctx)
{
    PdSqlText sql = {0};
    PdError err = {0};
    if (!pd_query_sql(query, PD_SHAPE_PAGE, PD_COUNT_EXACT, &sql, &err))
    {
        FUZZ_ASSERT(err.code != PD_OK && err.message[0] != '\0', "pd_query_sql failed without words");
        return;
    }
    for (size_t i = 0; i < ctx->arg_count; i++)
    {
        const char *value = ctx->args[i].value;
        if (strlen(value) >= 4 && strpbrk(value, "';") != NULL)
            FUZZ_ASSERT(strstr(sql.sql, value) == NULL, "the value reached the SQL text: %s", sql.sql);
    }
}

static void
check_link(PdHttpContext *ctx)
{
    const char *link = pd_http_url_with(ctx, "page", "2");
    FUZZ_ASSERT(link != NULL, "pd_http_url_with");
    for (const unsigned char *c = (const unsigned char *)link; *c != '\0'; c++)
        FUZZ_ASSERT(*c > 0x20 && *c < 0x7F, "a link with byte 0x%02x: %s", *c, link);
}

/* The arguments onto a query of Book, as a list (is_list) or an item. */
static void
apply(PdHttpContext *ctx, const PdModel *book, bool is_list)
{
    PdQuery *query = pd_query_new(ctx->arena, ctx->catalog->catalog, book);
    FUZZ_ASSERT(query != NULL, "pd_query_new");
    PdError err = {0};
    if (!pd_http_apply_args(ctx, query, is_list, &err))
    {
        check_answer(ctx, &err, "pd_http_apply_args");
        return;
    }
    PdHttpPagination style;
    PdError style_err = {0};
    if (is_list && !pd_http_pagination(ctx, &style, &style_err))
        check_answer(ctx, &style_err, "pd_http_pagination");
    check_statement(query, ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    char *target = fuzz_text(arena, data, size);
    const char *detail = NULL;
    int status = pd_http_target_refusal(target, &detail);
    if (status != 0)
    {
        FUZZ_ASSERT((status == 400 || status == 414) && detail != NULL && detail[0] != '\0',
                    "refusal %d without words", status);
        pd_arena_free(arena);
        return 0;
    }
    FUZZ_ASSERT(strlen(target) <= PD_HTTP_MAX_TARGET, "a target of %zu bytes accepted", strlen(target));
    static PdArena *catalog_arena; /* the process's: the models are parsed once */
    static PdCatalog *catalog;
    PdError err = {0};
    if (catalog == NULL)
    {
        catalog_arena = pd_arena_new(0);
        FUZZ_ASSERT(pd_model_parse(catalog_arena, "fuzz.pdm", FUZZ_BOOKSTORE_MODELS, &catalog, &err),
                    "models: %s", err.message);
    }
    PdHttpCatalog generation = {.catalog = catalog};
    PdHttpContext ctx = {.arena = arena, .catalog = &generation, .base_url = "http://host", .resource = "-"};
    char *query = strchr(target, '?');
    ctx.path = "/api/books/"; /* the only path a list answers with links (resource names are the catalog's) */
    if (query != NULL)
        *query++ = '\0';
    if (query != NULL && !add_args(&ctx, query, &err))
    {
        check_answer(&ctx, &err, "pd_http_args_add");
        pd_arena_free(arena);
        return 0;
    }
    check_args(&ctx);
    check_link(&ctx);
    const PdModel *book = pd_model_find(catalog, "Book");
    apply(&ctx, book, true);
    apply(&ctx, book, false);
    pd_arena_free(arena);
    return 0;
}

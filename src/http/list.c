/*
 * list.c - GET on a list: the query string becomes one PdQuery and the page
 * one SQL statement. django-filter's style: every argument that is not a
 * reserved name (page, page_size, limit, offset, cursor, ordering, search,
 * fields, expand, pagination, format) is a lookup, `?price__gte=10`, `?id__in=1,2,3`,
 * `?published__range=a,b`; one with an empty value filters nothing, as
 * django-filter skips it (and ?search= on a model without a searchable field,
 * as SearchFilter without search_fields); an unknown one is a 400 naming the argument
 * (stricter than DRF, which ignores it: a typo must not return the whole
 * table). Pagination, DRF's three styles: page number (the default,
 * {"count","next","previous","results"}), limit/offset when ?limit= or ?offset=
 * is given, and cursor when ?cursor= is (empty, or ?pagination=cursor, for the first page; opaque and
 * signed, stable under inserts, no count); arguments of two styles at once are a 400. Numbers past 2^63
 * are taken as DRF's unbounded ints would be (cut to the cap, an empty page). The objects' JSON is
 * PostgreSQL's, passed through; only the envelope is written here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "prodata/query.h"
#include "server.h"

static const char *const reserved[] = {"page",   "page_size", "limit",  "offset",     "cursor", "ordering",
                                       "search", "fields",    "expand", "pagination", NULL};

static bool
is_reserved(const PdHttpArg *arg)
{
    for (size_t i = 0; reserved[i] != NULL; i++)
        if (strcmp(arg->key, reserved[i]) == 0)
            return true;
    return strcmp(arg->key, "format") == 0 && strcmp(arg->value, "json") == 0;
}

/* The error belongs to the query argument param, whatever the library named. */
static bool
blame(PdError *err, const char *param)
{
    pd_error_field(err, "%s", param);
    for (size_t i = 0; i < err->problem_count; i++)
        snprintf(err->problems[i].field, sizeof(err->problems[i].field), "%s", param);
    return false;
}

static bool
has_suffix(const char *text, const char *suffix)
{
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

/* "a,b,c" into values (empty text: none). */
static bool
split_list(PdArena *arena, const char *text, const char ***values, size_t *count, PdError *err)
{
    *values = NULL;
    *count = 0;
    if (text[0] == '\0')
        return true;
    for (const char *at = text;; at++)
    {
        size_t length = strcspn(at, ",");
        const char **grown = pd_arena_reserve_next(arena, *values, *count, sizeof(**values));
        if (grown == NULL)
            return pd_arena_error(arena, err);
        *values = grown;
        grown[(*count)++] = pd_arena_strndup(arena, at, length);
        at += length;
        if (*at == '\0')
            return true;
    }
}

/* One filter argument; an empty value filters nothing (django-filter skips it), but its name must mean one.
 */
static bool
apply_filter(PdHttpContext *ctx, PdQuery *query, const PdHttpArg *arg, PdError *err)
{
    PdQ *condition;
    if (arg->value[0] == '\0')
        return pd_query_check_lookup(query, arg->key, err) || blame(err, arg->key);
    if (has_suffix(arg->key, "__in") || has_suffix(arg->key, "__range"))
    {
        const char **values;
        size_t count;
        if (!split_list(ctx->arena, arg->value, &values, &count, err))
            return false;
        condition = pd_q_list(query, arg->key, values, count, err);
    }
    else
        condition = pd_q(query, arg->key, arg->value, err);
    if (condition == NULL || !pd_query_filter(query, condition, err))
        return blame(err, arg->key);
    return true;
}

/* ?expand=author,book__author: a forward relation is joined (select_related), any other prefetched. */
static bool
apply_expand(PdHttpContext *ctx, PdQuery *query, const char *text, PdError *err)
{
    const char **paths;
    size_t count;
    if (!split_list(ctx->arena, text, &paths, &count, err))
        return false;
    for (size_t i = 0; i < count; i++)
    {
        PdError joined;
        pd_error_init(&joined);
        if (paths[i][0] == '\0' || pd_query_select_related(query, paths[i], &joined))
            continue;
        if (!pd_query_prefetch(query, paths[i], err))
        {
            *err = joined;
            return blame(err, "expand");
        }
    }
    return true;
}

/* Whether a field of model says `search`: without one, ?search= is ignored, as DRF's SearchFilter ignores it
 * in a view without search_fields. */
static bool
has_search_fields(const PdModel *model)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].is_searchable)
            return true;
    return false;
}

bool
pd_http_apply_args(PdHttpContext *ctx, PdQuery *query, bool is_list, PdError *err)
{
    for (size_t i = 0; i < ctx->arg_count; i++)
        if (!is_reserved(&ctx->args[i]) && !apply_filter(ctx, query, &ctx->args[i], err))
            return false;
    const char *search = pd_http_arg(ctx, "search");
    if (search != NULL && search[0] != '\0' && has_search_fields(pd_query_model(query)) &&
        !pd_query_search(query, search, err))
        return blame(err, "search");
    /* On an item the ordering orders nothing, but a bad one is refused as on the list (checked on a copy). */
    const char *ordering = pd_http_arg(ctx, "ordering");
    PdQuery *ordered =
        is_list ? query : pd_query_new(ctx->arena, ctx->catalog->catalog, pd_query_model(query));
    if (ordered == NULL)
        return pd_arena_error(ctx->arena, err);
    if (ordering != NULL && ordering[0] != '\0' && !pd_query_order_by(ordered, ordering, err))
        return blame(err, "ordering");
    /* expand before fields: a reverse relation is a key ?fields= may name only once it is expanded */
    const char *expand = pd_http_arg(ctx, "expand");
    if (expand != NULL && !apply_expand(ctx, query, expand, err))
        return false;
    const char *fields = pd_http_arg(ctx, "fields");
    if (fields != NULL && fields[0] != '\0' && !pd_query_only(query, fields, err))
        return blame(err, "fields");
    return true;
}

/* ---- pagination ---- */

/*
 * A whole number >= minimum, all of text, else fallback (DRF's _positive_int). A number past INT64_MAX is
 * INT64_MAX: Python's ints have no bound, so DRF takes it as a number (then cuts it to its cap).
 */
static int64_t
whole_number(const char *text, int64_t minimum, int64_t fallback)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return fallback;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (*end != '\0')
        return fallback;
    if (errno == ERANGE)
        return INT64_MAX;
    return value < minimum ? fallback : value;
}

static int64_t
page_size(PdHttpContext *ctx, const char *param)
{
    const PdServeSettings *settings = ctx->server->settings;
    int64_t size = whole_number(pd_http_arg(ctx, param), 1, settings->default_page_size);
    return size > settings->max_page_size ? settings->max_page_size : size;
}

/* "null" or the URL as a JSON string. */
static void
append_link(PdHttpContext *ctx, const char *url)
{
    if (url == NULL)
        pd_strbuf_append(&ctx->out, "null");
    else
        pd_http_json_string(&ctx->out, url);
}

static void
envelope(PdHttpContext *ctx, const PdPage *page, bool has_count, const char *next, const char *previous)
{
    ctx->status = 200;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_strbuf_append_char(&ctx->out, '{');
    if (has_count)
        pd_strbuf_appendf(&ctx->out, "\"count\":%lld,", (long long)page->count);
    pd_strbuf_append(&ctx->out, "\"next\":");
    append_link(ctx, next);
    pd_strbuf_append(&ctx->out, ",\"previous\":");
    append_link(ctx, previous);
    pd_strbuf_append(&ctx->out, ",\"results\":");
    pd_strbuf_append_length(&ctx->out, page->json, page->json_length);
    pd_strbuf_append_char(&ctx->out, '}');
}

/* Runs the page's one statement. */
static bool
fetch(PdHttpContext *ctx, PdQuery *query, PdCountMode count, PdPage *page, PdError *err)
{
    PdDb *db;
    if (!pd_http_db_acquire(ctx, &db, err))
        return false;
    bool is_fetched = pd_query_page(query, db, count, page, err);
    pd_http_db_release(ctx, db);
    return is_fetched;
}

static char *
number_text(PdHttpContext *ctx, int64_t number)
{
    return pd_arena_sprintf(ctx->arena, "%lld", (long long)number);
}

static void
page_number(PdHttpContext *ctx, PdQuery *query)
{
    int64_t size = page_size(ctx, "page_size");
    int64_t number = whole_number(pd_http_arg(ctx, "page"), 1, -1);
    if (pd_http_arg(ctx, "page") == NULL)
        number = 1;
    if (number < 1 || number > INT64_MAX / size)
    {
        pd_http_respond_detail(ctx, 404, "Invalid page.");
        return;
    }
    pd_query_slice(query, (number - 1) * size, size);
    PdPage page;
    PdError err;
    pd_error_init(&err);
    if (!fetch(ctx, query, PD_COUNT_EXACT, &page, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    if (number > 1 && page.row_count == 0)
    {
        pd_http_respond_detail(ctx, 404, "Invalid page.");
        return;
    }
    char *next = page.has_more ? pd_http_url_with(ctx, "page", number_text(ctx, number + 1)) : NULL;
    char *previous = number == 1   ? NULL
                     : number == 2 ? pd_http_url_with(ctx, "page", NULL)
                                   : pd_http_url_with(ctx, "page", number_text(ctx, number - 1));
    envelope(ctx, &page, true, next, previous);
}

/* Sets (or adds) a query argument of ctx, for the links that carry two changed arguments. */
static void
set_arg(PdHttpContext *ctx, const char *key, const char *value)
{
    for (size_t i = 0; i < ctx->arg_count; i++)
    {
        if (strcmp(ctx->args[i].key, key) == 0)
        {
            ctx->args[i].value = value;
            return;
        }
    }
    PdHttpArg *args = pd_arena_reserve_next(ctx->arena, ctx->args, ctx->arg_count, sizeof(*args));
    if (args != NULL)
    {
        ctx->args = args;
        args[ctx->arg_count++] = (PdHttpArg){key, value};
    }
}

static void
limit_offset(PdHttpContext *ctx, PdQuery *query)
{
    int64_t limit = page_size(ctx, "limit");
    int64_t offset = whole_number(pd_http_arg(ctx, "offset"), 0, 0);
    if (offset > PD_HTTP_MAX_OFFSET) /* past any table's end: an empty page, and offset + limit stays exact */
        offset = PD_HTTP_MAX_OFFSET;
    pd_query_slice(query, offset, limit);
    PdPage page;
    PdError err;
    pd_error_init(&err);
    if (!fetch(ctx, query, PD_COUNT_EXACT, &page, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    set_arg(ctx, "limit", number_text(ctx, limit));
    char *next = offset + limit < page.count
                     ? pd_http_url_with(ctx, "offset", number_text(ctx, offset + limit))
                     : NULL;
    char *previous = offset <= 0 ? NULL
                     : offset - limit <= 0
                         ? pd_http_url_with(ctx, "offset", NULL)
                         : pd_http_url_with(ctx, "offset", number_text(ctx, offset - limit));
    envelope(ctx, &page, true, next, previous);
}

/* The link to the page after (or before) key, or NULL when there is none. */
static char *
cursor_link(PdHttpContext *ctx, bool is_before, const char *ordering, const char *const *key, size_t count)
{
    if (key == NULL || count == 0)
        return NULL;
    PdCursor cursor = {.is_before = is_before, .ordering = ordering, .values = key, .value_count = count};
    char *text;
    PdError err;
    pd_error_init(&err);
    if (!pd_http_cursor_encode(ctx->arena, ctx->server->cursor_key, &cursor, &text, &err))
        return NULL;
    return pd_http_url_with(ctx, "cursor", text);
}

static void
cursor_page(PdHttpContext *ctx, PdQuery *query, const char *text)
{
    const char *ordering = pd_http_arg(ctx, "ordering");
    ordering = ordering != NULL ? ordering : "";
    PdCursor cursor = {0};
    PdError err;
    pd_error_init(&err);
    bool has_cursor = text[0] != '\0';
    if (has_cursor &&
        (!pd_http_cursor_decode_for(ctx->arena, ctx->server->cursor_key, text, ordering, &cursor, &err) ||
         !pd_query_after(query, cursor.values, cursor.value_count, cursor.is_before, &err)))
    {
        pd_http_respond_detail(ctx, 404, "Invalid cursor");
        return;
    }
    pd_query_slice(query, 0, page_size(ctx, "page_size"));
    PdPage page;
    if (!fetch(ctx, query, PD_COUNT_NONE, &page, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    bool has_next = cursor.is_before ? page.row_count > 0 : page.has_more;
    bool has_previous = cursor.is_before ? page.has_more : has_cursor && page.row_count > 0;
    char *next = has_next ? cursor_link(ctx, false, ordering, page.last_key, page.key_count) : NULL;
    char *previous = has_previous ? cursor_link(ctx, true, ordering, page.first_key, page.key_count) : NULL;
    envelope(ctx, &page, false, next, previous);
}

/* Not one of both: DRF's view has one pagination class, so the arguments of two at once mean nothing. */
static void
refuse_mixed(PdHttpContext *ctx, const char *const *names, const char *style, PdError *err)
{
    for (size_t i = 0; names[i] != NULL; i++)
        if (pd_http_arg(ctx, names[i]) != NULL)
            pd_error_add_problem(err, NULL, 0, 0, names[i], "Cannot be used with %s pagination.", style);
}

bool
pd_http_pagination(PdHttpContext *ctx, PdHttpPagination *style, PdError *err)
{
    static const char *const page_names[] = {"page", NULL};
    static const char *const other_names[] = {"page", "limit", "offset", NULL};
    const char *named = pd_http_arg(ctx, "pagination");
    if (named != NULL && named[0] != '\0' && strcmp(named, "cursor") != 0)
    {
        pd_error_add_problem(err, NULL, 0, 0, "pagination",
                             "Select a valid choice. \"%s\" is not one of the available choices: cursor.",
                             named);
        return false;
    }
    bool is_limit = pd_http_arg(ctx, "limit") != NULL || pd_http_arg(ctx, "offset") != NULL;
    if (pd_http_arg(ctx, "cursor") != NULL || (named != NULL && named[0] != '\0'))
    {
        *style = PD_HTTP_PAGE_CURSOR;
        refuse_mixed(ctx, other_names, "cursor", err);
    }
    else if (is_limit)
    {
        *style = PD_HTTP_PAGE_LIMIT_OFFSET;
        refuse_mixed(ctx, page_names, "limit/offset", err);
    }
    else
        *style = PD_HTTP_PAGE_NUMBER;
    return err->problem_count == 0;
}

void
pd_http_list(PdHttpContext *ctx, const PdModel *model)
{
    PdQuery *query = pd_query_new(ctx->arena, ctx->catalog->catalog, model);
    PdError err;
    pd_error_init(&err);
    if (query == NULL)
    {
        pd_arena_error(ctx->arena, &err);
        pd_http_respond_error(ctx, &err);
        return;
    }
    if (!pd_http_apply_args(ctx, query, true, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    const bool *has_counter = ctx->catalog->has_counter;
    pd_query_use_counter(query, has_counter != NULL && has_counter[model - ctx->catalog->catalog->models]);
    PdHttpPagination style;
    if (!pd_http_pagination(ctx, &style, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    const char *cursor = pd_http_arg(ctx, "cursor");
    pd_query_page_keys(query, style == PD_HTTP_PAGE_CURSOR);
    if (style == PD_HTTP_PAGE_CURSOR)
        cursor_page(ctx, query, cursor != NULL ? cursor : "");
    else if (style == PD_HTTP_PAGE_LIMIT_OFFSET)
        limit_offset(ctx, query);
    else
        page_number(ctx, query);
}

/*
 * write.c - the item endpoints and the writes: retrieve (GET an object by its
 * key, with ?fields= and ?expand=), create (POST: 201, the object, Location;
 * a JSON array creates several in one INSERT), update (PUT replaces, PATCH
 * changes some fields: 200 with the object; a bulk body's problems are
 * answered per element, as DRF's ListSerializer), delete (204), and OPTIONS with
 * DRF's metadata. Each runs one SQL statement; the request body is read by
 * the query library (pd_values_from_json, jansson), the object's JSON is
 * PostgreSQL's. The query string's filters and search restrict every item
 * request, as DRF's get_object filters the queryset before the key: an object
 * they exclude is a 404 and is neither changed nor deleted. A key that cannot
 * be the model's key ("abc" for an integer id) is a 404, as DRF's
 * get_object_or_404 makes it; a uuid key is read in every form Django's
 * UUIDField reads (no hyphens, braces, urn:uuid:, upper case: the query
 * library's look-up reads it as a filter's value). As DRF's
 * get_object comes before the body is read, a body refused for an object
 * that is not there (or not visible) is a 404 too; the look-up that tells
 * runs only when the body was refused.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "prodata/object.h"
#include "prodata/query.h"
#include "server.h"

/* primary_key(a, b): each part of the item segment (keys.c) as a filter on its field. */
static bool
where_composite(PdHttpContext *ctx, const PdModel *model, const char *pk, PdQuery *query)
{
    const char **parts;
    PdError err;
    pd_error_init(&err);
    if (!pd_http_key_parts(ctx, model, pk, &parts))
        return false;
    for (size_t i = 0; i < model->key_field_count; i++)
        if (!pd_query_where(query, model->key_fields[i], parts[i], &err))
            return false;
    return true;
}

/*
 * A query for the one object whose key is pk, through the filters and search of the query string as DRF's
 * get_object (filter_queryset, then the key): the object is found only when they also select it, and an
 * unknown or malformed argument is a 400 before the key is looked at. False with the answer given (400, or
 * 404 when pk cannot be a key).
 */
static bool
which_object(PdHttpContext *ctx, const PdModel *model, const char *pk, PdQuery **query)
{
    const PdField *key = pd_model_primary_key(model);
    PdError err;
    pd_error_init(&err);
    *query = pd_query_new(ctx->arena, ctx->catalog->catalog, model);
    if (*query == NULL)
        pd_arena_error(ctx->arena, &err);
    if (*query == NULL || !pd_http_apply_args(ctx, *query, false, &err))
    {
        pd_http_respond_error(ctx, &err);
        return false;
    }
    if (model->key_field_count > 0 ? !where_composite(ctx, model, pk, *query)
                                   : key == NULL || !pd_query_where(*query, key->name, pk, &err))
    {
        pd_http_respond_detail(ctx, 404, "Not found.");
        return false;
    }
    return true;
}

void
pd_http_retrieve(PdHttpContext *ctx, const PdModel *model, const char *pk)
{
    PdQuery *query;
    if (!which_object(ctx, model, pk, &query))
        return;
    PdError err;
    pd_error_init(&err);
    PdDb *db;
    const char *json;
    size_t length;
    bool must_read_alone = false;
    if (pd_http_get_may_gather(ctx, model, pk))
    {
        if (pd_http_get_gathered(ctx, model, pk, &json, &length, &must_read_alone, &err))
            pd_http_respond_json(ctx, 200, json, length);
        else if (!must_read_alone)
            pd_http_respond_error(ctx, &err);
        if (!must_read_alone)
            return;
    }
    if (!pd_http_db_acquire(ctx, &db, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    bool is_found = pd_query_get_json(query, db, &json, &length, &err);
    pd_http_db_release(ctx, db);
    if (is_found)
        pd_http_respond_json(ctx, 200, json, length);
    else
        pd_http_respond_error(ctx, &err);
}

/* The body as values for model (one object). */
static bool
read_values(PdHttpContext *ctx, const PdModel *model, const char *json, size_t length, PdValues **values,
            PdError *err)
{
    *values = pd_values_new(ctx->arena, model);
    if (*values == NULL)
        return pd_arena_error(ctx->arena, err);
    return pd_values_from_json(*values, json, length, err);
}

/* Location of a created object: its URL from the key in its JSON (json_length bytes). */
void
pd_http_add_location(PdHttpContext *ctx, const PdModel *model, const char *json, size_t json_length)
{
    const PdField *key = pd_model_primary_key(model);
    const char *value;
    size_t length;
    if (model->key_field_count > 0) /* /api/<resource>/<a>,<b>/ (keys.c) */
    {
        PdStrbuf url;
        pd_strbuf_init(&url, ctx->arena);
        pd_strbuf_appendf(&url, "%s/api/%s/", ctx->base_url, model->resource);
        if (pd_http_key_append(&url, ctx->arena, model, json, json_length))
        {
            pd_strbuf_append_char(&url, '/');
            pd_http_add_header(ctx, "Location", pd_strbuf_text(&url));
        }
        return;
    }
    if (key == NULL || !pd_http_json_member(json, json_length, key->name, &value, &length))
        return;
    if (length >= 2 && value[0] == '"') /* a uuid or a string key */
    {
        value++;
        length -= 2;
    }
    PdStrbuf url;
    pd_strbuf_init(&url, ctx->arena);
    pd_strbuf_appendf(&url, "%s/api/%s/", ctx->base_url, model->resource);
    char *text = pd_arena_strndup(ctx->arena, value, length);
    if (text == NULL)
        return;
    pd_http_url_encode(&url, text);
    pd_strbuf_append_char(&url, '/');
    pd_http_add_header(ctx, "Location", pd_strbuf_text(&url));
}

/*
 * DRF's ListSerializer errors: a 400 with one object per element, {} for a valid one
 * ([{}, {"name": ["This field is required."]}]). failed[i] is the error of element i, or NULL.
 */
void
pd_http_respond_elements(PdHttpContext *ctx, PdError **failed, size_t count)
{
    ctx->status = 400;
    pd_strbuf_init(&ctx->out, ctx->arena);
    pd_strbuf_append_char(&ctx->out, '[');
    for (size_t i = 0; i < count; i++)
    {
        pd_strbuf_append(&ctx->out, i == 0 ? "" : ",");
        if (failed[i] == NULL)
            pd_strbuf_append(&ctx->out, "{}");
        else
            pd_http_append_problems(&ctx->out, failed[i]);
    }
    pd_strbuf_append_char(&ctx->out, ']');
}

bool
pd_http_element_failed(PdHttpContext *ctx, PdError *err, PdError **failed)
{
    if (err->code == PD_OK)
        pd_error_set(err, PD_ERR_INVALID_INPUT, "Invalid data.");
    *failed = pd_arena_alloc(ctx->arena, sizeof(**failed));
    if (*failed != NULL)
        **failed = *err;
    return false;
}

/* Element i of a bulk body as values, read and validated for create; its error kept in failed[i]. */
static bool
read_element(PdHttpContext *ctx, const PdModel *model, json_t *element, PdValues **values, PdError **failed)
{
    PdError err;
    pd_error_init(&err);
    /* text only for pd_values_from_json to parse again: 17 digits read back as the same double, and the
     * query library writes that double's shortest form (0.1, not 0.10000000000000001) */
    char *text = json_dumps(element, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    bool is_read = text != NULL && read_values(ctx, model, text, strlen(text), values, &err) &&
                   pd_values_validate(*values, PD_VALIDATE_CREATE, &err);
    free(text);
    return is_read || pd_http_element_failed(ctx, &err, failed);
}

/*
 * A JSON array of objects: each element as its own values (jansson splits the array). False with the
 * answer given: a parse error, or every element's problems in DRF's list shape.
 */
static bool
read_array(PdHttpContext *ctx, const PdModel *model, PdValues ***objects, size_t *count)
{
    json_error_t problem;
    /* as pd_values_from_json reads one object: a NUL in a string is the field's to refuse, a repeated key is
     * a parse error */
    json_t *array =
        json_loadb(ctx->body, ctx->body_length, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &problem);
    PdError err;
    pd_error_init(&err);
    if (array == NULL || !json_is_array(array))
    {
        json_decref(array);
        pd_error_set(&err, PD_ERR_INVALID_INPUT, "JSON parse error - %s at line %d column %d", problem.text,
                     problem.line, problem.column);
        pd_http_respond_error(ctx, &err);
        return false;
    }
    *count = json_array_size(array);
    size_t slots = *count ? *count : 1;
    *objects = pd_arena_calloc(ctx->arena, slots, sizeof(**objects));
    PdError **failed = pd_arena_calloc(ctx->arena, slots, sizeof(*failed));
    bool is_read = *objects != NULL && failed != NULL;
    bool has_failed = false;
    for (size_t i = 0; is_read && i < *count; i++)
        has_failed =
            !read_element(ctx, model, json_array_get(array, i), &(*objects)[i], &failed[i]) || has_failed;
    json_decref(array);
    if (!is_read)
    {
        pd_arena_error(ctx->arena, &err);
        pd_http_respond_error(ctx, &err);
    }
    else if (has_failed)
        pd_http_respond_elements(ctx, failed, *count);
    return is_read && !has_failed;
}

static bool
is_array_body(const PdHttpContext *ctx)
{
    size_t at = strspn(ctx->body, " \t\r\n");
    return at < ctx->body_length && ctx->body[at] == '[';
}

/* A bulk body of one object whose INSERT adds its row to the counters itself: the array of it. */
static bool
create_counted_bulk(PdHttpContext *ctx, PdDb *db, const PdValues *object, const char *counted_oid,
                    const char **json, PdError *err)
{
    const char *one;
    if (!pd_object_create_each(ctx->arena, db, &object, 1, counted_oid, &one, err))
    {
        pd_http_db_counted_failed(ctx, err);
        return false;
    }
    *json = pd_arena_sprintf(ctx->arena, "[%s]", one);
    return *json != NULL || pd_arena_error(ctx->arena, err);
}

/* One try at a create: values alone, else the count objects of a bulk body; shared: on the loop's
 * group-commit connection when the request may use it. */
static bool
create_once(PdHttpContext *ctx, PdValues **objects, size_t count, PdValues *values, bool shared,
            const char **json, PdError *err)
{
    PdDb *db;
    if (shared && values != NULL)
        return pd_http_create_batched(ctx, pd_values_model(values), values, json, err);
    if (!(shared ? pd_http_db_acquire_create(ctx, &db, err) : pd_http_db_acquire(ctx, &db, err)))
        return false;
    const char *counted_oid =
        values == NULL ? pd_http_db_counted_oid(ctx, pd_values_model(objects[0]), db) : NULL;
    bool is_created;
    if (counted_oid != NULL) /* a bulk of one on the group connection: its row counted by its INSERT */
        is_created = create_counted_bulk(ctx, db, objects[0], counted_oid, json, err);
    else
        is_created = values == NULL ? pd_object_create_bulk(ctx->arena, db, (const PdValues *const *)objects,
                                                            count, json, err)
                                    : pd_object_create(ctx->arena, db, values, json, err);
    pd_http_db_release(ctx, db);
    return is_created;
}

void
pd_http_create(PdHttpContext *ctx, const PdModel *model)
{
    PdError err;
    pd_error_init(&err);
    const char *json = NULL;
    PdValues *values = NULL;
    PdValues **objects = NULL;
    size_t count = 0;
    if (pd_http_upsert(ctx, model))
        return;
    bool is_bulk = is_array_body(ctx);
    if (is_bulk && !read_array(ctx, model, &objects, &count))
        return;
    if (!is_bulk && !read_values(ctx, model, ctx->body, ctx->body_length, &values, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    /* in a group commit first (not a bulk of several: a long statement would stall the group); rolled back
     * there for another create's error, once more on a connection of its own */
    bool is_created = create_once(ctx, objects, count, values, !is_bulk || count == 1, &json, &err);
    if (!is_created && err.code == PD_ERR_ROLLED_BACK)
    {
        err = (PdError){0};
        is_created = create_once(ctx, objects, count, values, false, &json, &err);
    }
    if (!is_created)
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    if (!is_bulk)
        pd_http_add_location(ctx, model, json, strlen(json));
    pd_http_respond_json(ctx, 201, json, strlen(json));
}

/* The one object of a JSON array of one: "[{...}]" -> "{...}". */
static void
respond_single(PdHttpContext *ctx, const char *json)
{
    size_t length = strlen(json);
    const char *start = strchr(json, '{');
    const char *end = strrchr(json, '}');
    if (json[0] == '[' && start != NULL && end != NULL && end > start)
        pd_http_respond_json(ctx, 200, start, (size_t)(end - start + 1));
    else
        pd_http_respond_json(ctx, 200, json, length);
}

/*
 * A refused update's answer. DRF's update looks the object up (get_object) before it reads the body, so a
 * body refused for an object that does not exist, or that the request cannot see (row-level security, a
 * filter of the query string), is a 404. Only a refusal costs the extra look-up; nothing was changed.
 */
static void
respond_refused(PdHttpContext *ctx, PdQuery *which, PdDb *db, const PdError *refusal)
{
    PdError err;
    pd_error_init(&err);
    bool exists = true;
    if (refusal->code == PD_ERR_INVALID_INPUT && !pd_query_exists(which, db, &exists, &err))
        pd_http_respond_error(ctx, &err);
    else if (!exists)
        pd_http_respond_detail(ctx, 404, "Not found.");
    else
        pd_http_respond_error(ctx, refusal);
}

void
pd_http_update(PdHttpContext *ctx, const PdModel *model, const char *pk, bool is_partial)
{
    PdQuery *which;
    if (!which_object(ctx, model, pk, &which))
        return;
    PdError err;
    pd_error_init(&err);
    PdValues *values;
    PdDb *db;
    if (!pd_http_db_acquire(ctx, &db, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    const char *json = NULL;
    int64_t updated = 0;
    bool is_done =
        read_values(ctx, model, ctx->body, ctx->body_length, &values, &err) &&
        pd_object_update(ctx->arena, db, which, values,
                         is_partial ? PD_VALIDATE_PARTIAL : PD_VALIDATE_REPLACE, &json, &updated, &err);
    if (!is_done)
        respond_refused(ctx, which, db, &err);
    pd_http_db_release(ctx, db);
    if (!is_done)
        return;
    if (updated == 0)
        pd_http_respond_detail(ctx, 404, "Not found.");
    else
        respond_single(ctx, json);
}

void
pd_http_delete(PdHttpContext *ctx, const PdModel *model, const char *pk)
{
    PdQuery *which;
    if (!which_object(ctx, model, pk, &which))
        return;
    PdError err;
    pd_error_init(&err);
    PdDb *db;
    if (!pd_http_db_acquire(ctx, &db, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    int64_t deleted = 0;
    bool is_done = pd_object_delete(ctx->arena, db, which, &deleted, &err);
    pd_http_db_release(ctx, db);
    if (!is_done)
        pd_http_respond_error(ctx, &err);
    else if (deleted == 0)
        pd_http_respond_detail(ctx, 404, "Not found.");
    else
    {
        ctx->status = 204;
        pd_strbuf_init(&ctx->out, ctx->arena);
    }
}

/* ---- OPTIONS: DRF's SimpleMetadata ---- */

/* DRF's field type names. */
static const char *
field_type(const PdField *field)
{
    if (field->choice_count > 0)
        return "choice";
    switch (field->kind)
    {
        case PD_FIELD_AUTO:
        case PD_FIELD_SMALLINT:
        case PD_FIELD_INT:
        case PD_FIELD_BIGINT:
            return "integer";
        case PD_FIELD_EMAIL:
            return "email";
        case PD_FIELD_URL:
            return "url";
        case PD_FIELD_SLUG:
            return "slug";
        case PD_FIELD_BOOL:
            return "boolean";
        case PD_FIELD_FLOAT:
            return "float";
        case PD_FIELD_DECIMAL:
            return "decimal";
        case PD_FIELD_DATE:
            return "date";
        case PD_FIELD_TIME:
            return "time";
        case PD_FIELD_TIMESTAMPTZ:
            return "datetime";
        case PD_FIELD_DURATION:
            return "duration";
        case PD_FIELD_JSON:
            return "json";
        case PD_FIELD_FOREIGN_KEY:
        case PD_FIELD_ONE_TO_ONE:
        case PD_FIELD_MANY_TO_MANY:
            return "field";
        default:
            return "string";
    }
}

/* "in_stock" -> "In stock" (Django's verbose name, capitalised as DRF's label). */
static void
append_label(PdStrbuf *out, PdArena *arena, const char *name)
{
    char *label = pd_arena_strdup(arena, name);
    if (label == NULL)
        return;
    for (char *c = label; *c != '\0'; c++)
        if (*c == '_')
            *c = ' ';
    if (label[0] >= 'a' && label[0] <= 'z')
        label[0] = (char)(label[0] - 'a' + 'A');
    if (strcmp(label, "Id") == 0)
        label = "ID";
    pd_http_json_string(out, label);
}

static void
append_field(PdHttpContext *ctx, const PdField *field)
{
    PdStrbuf *out = &ctx->out;
    bool is_read_only = pd_model_is_read_only(field); /* DRF: AutoField, auto_now and auto_now_add */
    bool is_required = !is_read_only && !field->is_nullable && field->default_value.kind == PD_DEFAULT_NONE &&
                       field->kind != PD_FIELD_MANY_TO_MANY && field->kind != PD_FIELD_BOOL;
    pd_http_json_string(out, field->name);
    pd_strbuf_appendf(out, ":{\"type\":\"%s\",\"required\":%s,\"read_only\":%s,\"label\":",
                      field->is_array ? "list" : field_type(field), is_required ? "true" : "false",
                      is_read_only ? "true" : "false");
    append_label(out, ctx->arena, field->name);
    if (field->is_array) /* DRF's ListField: its child field's own description */
        pd_strbuf_appendf(out, ",\"child\":{\"type\":\"%s\",\"required\":true,\"read_only\":false",
                          field_type(field));
    if (field->max_length > 0)
        pd_strbuf_appendf(out, ",\"max_length\":%d", field->max_length);
    if (field->kind == PD_FIELD_DECIMAL)
        pd_strbuf_appendf(out, ",\"max_digits\":%d,\"decimal_places\":%d", field->precision, field->scale);
    if (field->is_array)
        pd_strbuf_append_char(out, '}');
    if (field->choice_count > 0)
    {
        pd_strbuf_append(out, ",\"choices\":[");
        for (size_t i = 0; i < field->choice_count; i++)
        {
            const PdChoice *choice = &field->choices[i];
            pd_strbuf_append(out, i == 0 ? "{\"value\":" : ",{\"value\":");
            if (choice->value.kind == PD_LITERAL_STRING)
                pd_http_json_string(out, choice->value.text);
            else
                pd_strbuf_append(out, choice->value.text);
            pd_strbuf_append(out, ",\"display_name\":");
            pd_http_json_string(out, choice->label != NULL ? choice->label : choice->value.text);
            pd_strbuf_append_char(out, '}');
        }
        pd_strbuf_append_char(out, ']');
    }
    pd_strbuf_append_char(out, '}');
}

void
pd_http_options(PdHttpContext *ctx, const PdModel *model, bool is_item, bool has_actions)
{
    PdStrbuf *out = &ctx->out;
    ctx->status = 200;
    pd_strbuf_init(out, ctx->arena);
    pd_strbuf_append(out, "{\"name\":");
    pd_http_json_string(out,
                        pd_arena_sprintf(ctx->arena, "%s %s", model->name, is_item ? "Instance" : "List"));
    pd_strbuf_append(out, ",\"description\":\"\",\"renders\":[\"application/json\"],"
                          "\"parses\":[\"application/json\"]");
    if (!has_actions)
    {
        pd_strbuf_append_char(out, '}');
        return;
    }
    pd_strbuf_append(out, is_item ? ",\"actions\":{\"PUT\":{" : ",\"actions\":{\"POST\":{");
    for (size_t i = 0; i < model->field_count; i++)
    {
        if (i > 0)
            pd_strbuf_append_char(out, ',');
        append_field(ctx, &model->fields[i]);
    }
    pd_strbuf_append(out, "}}}");
}

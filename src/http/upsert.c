/*
 * upsert.c - PostgREST's upsert on a list endpoint: POST /api/<resource>/?on_conflict=a[,b] with one object
 * or a JSON array, `Prefer: resolution=merge-duplicates` (the default: a conflicting row takes the fields
 * the body gives) or `resolution=ignore-duplicates` (it is left alone). The names of on_conflict must be
 * exactly one unique set the model declares (its primary key, a unique field, a unique(...)): they come
 * from the catalog, never from the request, and anything else is a 400 under on_conflict naming the sets
 * there are. A Prefer resolution without on_conflict upserts on the primary key, as PostgREST does. Bodies
 * are read and validated as for a create (per element, in DRF's list shape), the key a client cannot
 * write on create (the implicit id) is read too when it is a conflict field, and the query library sends
 * ONE statement (pd_object_upsert_bulk) on a connection of the request's own, with its role and claims as
 * an update's. Answers: one object 201 with Location when inserted, 200 when it existed, 204 when ignored;
 * an array 200 when any row existed, else 201, with the rows written in input order.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/object.h"
#include "server.h"

/* At most this many names in on_conflict (PostgreSQL's INDEX_MAX_KEYS is 32). */
#define MAX_CONFLICT_FIELDS 32

/* A unique set of a model: the names of its fields. */
typedef struct UniqueSet
{
    const char *names[MAX_CONFLICT_FIELDS];
    size_t count;
} UniqueSet;

typedef struct Upsert
{
    const char *names[MAX_CONFLICT_FIELDS]; /* the catalog's names, in on_conflict's order */
    size_t count;
    bool is_ignoring;
    const char *resolution; /* Preference-Applied, NULL without a Prefer resolution */
} Upsert;

static bool
is_unique_field(const PdField *field)
{
    return field->kind != PD_FIELD_MANY_TO_MANY &&
           (field->is_unique || field->is_primary_key || field->kind == PD_FIELD_AUTO ||
            field->kind == PD_FIELD_ONE_TO_ONE);
}

/* The unique sets of model: a composite primary key, its unique fields (a one-field primary key among them),
 * then its unique(...)s. */
static size_t
unique_sets(const PdModel *model, UniqueSet *sets, size_t capacity)
{
    size_t count = 0;
    if (model->key_field_count > 0 && model->key_field_count <= MAX_CONFLICT_FIELDS && capacity > 0)
    {
        sets[count] = (UniqueSet){{NULL}, model->key_field_count}; /* primary_key(a, b) first */
        for (size_t f = 0; f < model->key_field_count; f++)
            sets[count].names[f] = model->key_fields[f];
        count++;
    }
    for (size_t i = 0; i < model->field_count && count < capacity; i++)
        if (is_unique_field(&model->fields[i]))
            sets[count++] = (UniqueSet){{model->fields[i].name}, 1};
    for (size_t i = 0; i < model->index_count && count < capacity; i++)
    {
        const PdIndex *index = &model->indexes[i];
        if (!index->is_unique || index->where != NULL || index->functions != NULL ||
            index->field_count > MAX_CONFLICT_FIELDS)
            continue;
        sets[count] = (UniqueSet){{NULL}, index->field_count};
        for (size_t f = 0; f < index->field_count; f++)
            sets[count].names[f] = index->fields[f];
        count++;
    }
    return count;
}

/* Whether the set holds name. */
static bool
set_has(const UniqueSet *set, const char *name)
{
    for (size_t n = 0; n < set->count; n++)
        if (strcmp(set->names[n], name) == 0)
            return true;
    return false;
}

/* on_conflict's 400: what was given and every unique set ("id; email; title,author"). */
static bool
refuse_conflict(PdHttpContext *ctx, const UniqueSet *sets, size_t set_count, const char *given, PdError *err)
{
    PdStrbuf list;
    pd_strbuf_init(&list, ctx->arena);
    for (size_t s = 0; s < set_count; s++)
        for (size_t n = 0; n < sets[s].count; n++)
            pd_strbuf_appendf(&list, "%s%s", n > 0 ? "," : (s > 0 ? "; " : ""), sets[s].names[n]);
    return pd_error_add_problem(err, NULL, 0, 0, "on_conflict",
                                "\"%.60s\" is not a unique constraint of %s. Use one of: %s.", given,
                                ctx->resource, pd_strbuf_failed(&list) ? "?" : pd_strbuf_text(&list));
}

/*
 * on_conflict's names matched to one unique set of the model: upsert->names are then the set's own
 * strings (the catalog's), in the order given. False with a problem under on_conflict.
 */
static bool
read_conflict(PdHttpContext *ctx, const PdModel *model, const char *given, Upsert *upsert, PdError *err)
{
    UniqueSet sets[64];
    size_t set_count = unique_sets(model, sets, sizeof(sets) / sizeof(sets[0]));
    char *text = pd_arena_strdup(ctx->arena, given);
    if (text == NULL)
        return pd_arena_error(ctx->arena, err);
    const char *parts[MAX_CONFLICT_FIELDS];
    size_t count = 0;
    for (char *part = text; part != NULL; count++) /* "a,,b" and "a," hold an empty name: no set has it */
    {
        char *comma = strchr(part, ',');
        if (comma != NULL)
            *comma = '\0';
        if (count == MAX_CONFLICT_FIELDS || part[0] == '\0')
            return refuse_conflict(ctx, sets, set_count, given, err);
        parts[count] = part;
        part = comma != NULL ? comma + 1 : NULL;
    }
    for (size_t s = 0; s < set_count; s++)
    {
        bool is_match = sets[s].count == count;
        for (size_t n = 0; is_match && n < count; n++)
            is_match = set_has(&sets[s], parts[n]);
        for (size_t n = 0; is_match && n < count; n++) /* "a,a" is not the set (a, b) */
            for (size_t m = n + 1; is_match && m < count; m++)
                is_match = strcmp(parts[n], parts[m]) != 0;
        if (!is_match)
            continue;
        for (size_t n = 0; n < count; n++)
            upsert->names[n] = pd_model_find_field(model, parts[n])->name;
        upsert->count = count;
        return true;
    }
    return refuse_conflict(ctx, sets, set_count, given, err);
}

/* Prefer's resolution (RFC 7240 tokens separated by commas; other preferences are not ours). */
static void
read_prefer(PdHttpContext *ctx, Upsert *upsert)
{
    const char *prefer = pd_http_header(ctx, "Prefer");
    if (prefer == NULL)
        return;
    char *text = pd_arena_strdup(ctx->arena, prefer);
    for (char *save = NULL, *part = text != NULL ? strtok_r(text, ",;", &save) : NULL; part != NULL;
         part = strtok_r(NULL, ",;", &save))
    {
        part += strspn(part, " \t");
        part[strcspn(part, " \t")] = '\0';
        if (strcmp(part, "resolution=merge-duplicates") == 0 ||
            strcmp(part, "resolution=ignore-duplicates") == 0)
        {
            upsert->resolution = part;
            upsert->is_ignoring = strcmp(part, "resolution=ignore-duplicates") == 0;
        }
    }
}

/* ---- the body ---- */

/* A conflict field a create would not read (the implicit id, a serial key) taken from the element too. */
static bool
read_keys(const PdModel *model, const Upsert *upsert, json_t *element, PdValues *values, PdError *err)
{
    for (size_t n = 0; n < upsert->count; n++)
    {
        const PdField *field = pd_model_find_field(model, upsert->names[n]);
        json_t *member = json_is_object(element) ? json_object_get(element, field->name) : NULL;
        if (!pd_model_is_auto_key(field) || member == NULL || json_is_null(member))
            continue;
        char number[32];
        PdLiteral literal = {PD_LITERAL_STRING, json_string_value(member)};
        /* a string with a NUL would be cut there as a C string: "12\u0000x" is no integer (Python's int()) */
        bool is_whole_string = json_is_string(member) && strlen(literal.text) == json_string_length(member);
        if (json_is_integer(member))
        {
            snprintf(number, sizeof(number), "%lld", (long long)json_integer_value(member));
            literal = (PdLiteral){PD_LITERAL_NUMBER, number};
        }
        else if (!is_whole_string)
            return pd_error_add_problem(err, NULL, 0, 0, field->name, "A valid integer is required.");
        if (!pd_values_set(values, field->name, literal, err))
            return false;
    }
    return true;
}

/* Element i of the body as values, read and validated for create; its error kept in failed[i]. */
static bool
read_element(PdHttpContext *ctx, const PdModel *model, const Upsert *upsert, json_t *element,
             PdValues **values, PdError **failed)
{
    PdError err;
    pd_error_init(&err);
    /* text only for pd_values_from_json to parse again: 17 digits read back as the same double, and the
     * query library writes that double's shortest form (0.1, not 0.10000000000000001) */
    char *text = json_dumps(element, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    *values = pd_values_new(ctx->arena, model);
    bool is_read = text != NULL && *values != NULL &&
                   pd_values_from_json(*values, text, strlen(text), &err) &&
                   read_keys(model, upsert, element, *values, &err) &&
                   pd_values_validate(*values, PD_VALIDATE_CREATE, &err);
    free(text);
    return is_read || pd_http_element_failed(ctx, &err, failed);
}

/* The elements of a parsed body (an object is one); false with the answer given. */
static bool
read_elements(PdHttpContext *ctx, const PdModel *model, const Upsert *upsert, json_t *root,
              PdValues ***objects, size_t *count)
{
    bool is_array = json_is_array(root);
    *count = is_array ? json_array_size(root) : 1;
    size_t slots = *count > 0 ? *count : 1;
    *objects = pd_arena_calloc(ctx->arena, slots, sizeof(**objects));
    PdError **failed = pd_arena_calloc(ctx->arena, slots, sizeof(*failed));
    if (*objects == NULL || failed == NULL)
    {
        PdError err;
        pd_error_init(&err);
        pd_arena_error(ctx->arena, &err);
        pd_http_respond_error(ctx, &err);
        return false;
    }
    bool has_failed = false;
    for (size_t i = 0; i < *count; i++)
        has_failed = !read_element(ctx, model, upsert, is_array ? json_array_get(root, i) : root,
                                   &(*objects)[i], &failed[i]) ||
                     has_failed;
    if (has_failed && is_array)
        pd_http_respond_elements(ctx, failed, *count);
    else if (has_failed)
        pd_http_respond_error(ctx, failed[0] != NULL ? failed[0] : &(PdError){.code = PD_ERR_NO_MEMORY});
    return !has_failed;
}

/* ---- the answer ---- */

static void
respond_upsert(PdHttpContext *ctx, const PdModel *model, bool is_array, const PdUpsertResult *result)
{
    const char *json = result->json;
    if (is_array)
    {
        pd_http_respond_json(ctx, result->updated > 0 ? 200 : 201, json, strlen(json));
        return;
    }
    if (result->written == 0) /* ignore-duplicates left the existing row alone: nothing written to show */
    {
        ctx->status = 204;
        pd_strbuf_init(&ctx->out, ctx->arena);
        return;
    }
    const char *start = strchr(json, '{'); /* json_agg's "[{...}]": the one object */
    const char *end = strrchr(json, '}');
    if (start == NULL || end == NULL || end < start)
    {
        pd_http_respond_error(ctx,
                              &(PdError){.code = PD_ERR_INTERNAL, .message = "upsert answer not an array"});
        return;
    }
    size_t length = (size_t)(end - start + 1);
    if (result->updated == 0)
        pd_http_add_location(ctx, model, start, length);
    pd_http_respond_json(ctx, result->updated > 0 ? 200 : 201, start, length);
}

/* Parses the body, reads its elements, runs the one statement and answers. */
static void
run_upsert(PdHttpContext *ctx, const PdModel *model, const Upsert *upsert)
{
    PdError err;
    pd_error_init(&err);
    json_error_t problem;
    /* as pd_values_from_json reads one object: a NUL in a string is the field's to refuse */
    json_t *root = json_loadb(ctx->body, ctx->body_length, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &problem);
    if (root == NULL)
    {
        pd_error_add_problem(&err, NULL, 0, 0, "", "JSON parse error - %s at line %d column %d", problem.text,
                             problem.line, problem.column);
        pd_http_respond_error(ctx, &err);
        return;
    }
    bool is_array = json_is_array(root);
    PdValues **objects = NULL;
    size_t count = 0;
    bool is_read = read_elements(ctx, model, upsert, root, &objects, &count);
    json_decref(root);
    if (!is_read)
        return;
    PdDb *db;
    PdUpsertResult result;
    if (!pd_http_db_acquire(ctx, &db, &err))
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    bool is_done = pd_object_upsert_bulk(ctx->arena, db, (const PdValues *const *)objects, count,
                                         upsert->names, upsert->count, upsert->is_ignoring, &result, &err);
    pd_http_db_release(ctx, db);
    if (!is_done)
    {
        pd_http_respond_error(ctx, &err);
        return;
    }
    if (upsert->resolution != NULL)
        pd_http_add_header(ctx, "Preference-Applied", upsert->resolution);
    respond_upsert(ctx, model, is_array, &result);
}

bool
pd_http_upsert(PdHttpContext *ctx, const PdModel *model)
{
    Upsert upsert = {0};
    const char *on_conflict = pd_http_arg(ctx, "on_conflict");
    read_prefer(ctx, &upsert);
    if (on_conflict == NULL && upsert.resolution == NULL)
        return false;
    const PdField *key = pd_model_primary_key(model);
    PdError err;
    pd_error_init(&err);
    if (on_conflict == NULL && key == NULL) /* primary_key(a, b): its fields, else nothing to match */
    {
        on_conflict = model->key_field_count > 0 ? pd_http_key_names(ctx->arena, model, ",") : NULL;
        on_conflict = on_conflict != NULL ? on_conflict : "";
    }
    if (!read_conflict(ctx, model, on_conflict != NULL ? on_conflict : key->name, &upsert, &err))
    {
        pd_http_respond_error(ctx, &err);
        return true;
    }
    run_upsert(ctx, model, &upsert);
    return true;
}

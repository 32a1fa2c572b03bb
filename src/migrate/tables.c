/*
 * tables.c - tables created and dropped whole: new models in dependency order
 * (a foreign key's target first; only a key that closes a cycle is added after
 * the tables), their join tables after both ends, and dropped models in the
 * reverse order with their join tables first. The same CREATE TABLE text
 * re-creates a dropped model in +down. A table name freed by a drop is free
 * only at the end of the migration, so taking it in the same one is refused.
 */
#include <stdint.h>
#include <string.h>

#include "plan.h"

static bool
is_relation(const PdField *field)
{
    return field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE;
}

/* ---- tables in dependency order ---------------------------------------- */

/*
 * Depth-first over the foreign keys, with an explicit stack in the arena: a
 * chain of links as long as the file is deep (hundreds of thousands of
 * models) must not exhaust the thread's stack. A model is appended once every
 * member it references is; a key to a model still on the path closes a cycle
 * and is deferred. Keys are followed in field order, so the order is the one
 * a recursive walk gives.
 */
typedef struct TopoFrame
{
    size_t model; /* index in the catalog */
    size_t field; /* the next field of it to follow */
} TopoFrame;

typedef struct TopoSort
{
    PlanContext *ctx;
    const PdCatalog *catalog;
    const bool *is_member; /* the models being ordered */
    char *state;           /* 0 unseen, 1 on the path, 2 done */
    size_t *order;
    size_t count;
    const PdField **deferred; /* keys that close a cycle: added after the tables */
    size_t *deferred_owners;  /* per deferred key: the index of its model */
    size_t deferred_count;
    size_t *field_base;      /* per model: the number of its first field among all the catalog's */
    bool *is_deferred_field; /* per field of the catalog, numbered from field_base */
    TopoFrame *path;         /* the models on the path: at most every model once */
    size_t depth;
} TopoSort;

/* The catalog index of a model a relation points at; model_count when it is not in the catalog. */
static size_t
catalog_index(const PdCatalog *catalog, const PdModel *model)
{
    if (model >= catalog->models && model < catalog->models + catalog->model_count)
        return (size_t)(model - catalog->models);
    const PdModel *found = pd_model_find(catalog, model->name);
    return found != NULL ? (size_t)(found - catalog->models) : catalog->model_count;
}

static bool
topo_defer(TopoSort *sort, size_t owner, size_t field)
{
    PdArena *arena = sort->ctx->arena;
    const PdField **grown =
        pd_arena_reserve_next(arena, (void *)sort->deferred, sort->deferred_count, sizeof(*grown));
    size_t *owners =
        pd_arena_reserve_next(arena, sort->deferred_owners, sort->deferred_count, sizeof(*owners));
    if (grown == NULL || owners == NULL)
        return pd_arena_error(arena, sort->ctx->err);
    grown[sort->deferred_count] = &sort->catalog->models[owner].fields[field];
    owners[sort->deferred_count++] = owner;
    sort->deferred = grown;
    sort->deferred_owners = owners;
    sort->is_deferred_field[sort->field_base[owner] + field] = true;
    return true;
}

static void
topo_push(TopoSort *sort, size_t i)
{
    sort->state[i] = 1;
    sort->path[sort->depth++] = (TopoFrame){i, 0};
}

/* Follows the next key of the model on top of the path, or finishes that model. */
static bool
topo_step(TopoSort *sort)
{
    TopoFrame *top = &sort->path[sort->depth - 1];
    const PdModel *model = &sort->catalog->models[top->model];
    if (top->field == model->field_count)
    {
        sort->state[top->model] = 2;
        sort->order[sort->count++] = top->model;
        sort->depth--;
        return true;
    }
    size_t f = top->field++;
    const PdField *field = &model->fields[f];
    const PdModel *target = is_relation(field) ? pd_plan_field_target(sort->catalog, field) : NULL;
    if (target == NULL)
        return true;
    size_t j = catalog_index(sort->catalog, target);
    if (j == top->model || j >= sort->catalog->model_count || !sort->is_member[j] || sort->state[j] == 2)
        return true;
    if (sort->state[j] == 1)
        return topo_defer(sort, top->model, f);
    topo_push(sort, j);
    return true;
}

static bool
topo_sort(PlanContext *ctx, const PdCatalog *catalog, const bool *is_member, TopoSort *sort)
{
    size_t count = catalog->model_count;
    *sort = (TopoSort){.ctx = ctx, .catalog = catalog, .is_member = is_member};
    sort->state = pd_arena_calloc(ctx->arena, count + 1, 1);
    sort->order = pd_arena_calloc(ctx->arena, count + 1, sizeof(size_t));
    sort->path = pd_arena_calloc(ctx->arena, count + 1, sizeof(TopoFrame));
    sort->field_base = pd_arena_calloc(ctx->arena, count + 1, sizeof(size_t));
    if (sort->state == NULL || sort->order == NULL || sort->path == NULL || sort->field_base == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < count; i++)
        sort->field_base[i + 1] = sort->field_base[i] + catalog->models[i].field_count;
    sort->is_deferred_field = pd_arena_calloc(ctx->arena, sort->field_base[count] + 1, sizeof(bool));
    if (sort->is_deferred_field == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < count; i++)
    {
        if (!is_member[i] || sort->state[i] != 0)
            continue;
        topo_push(sort, i);
        while (sort->depth > 0)
            if (!topo_step(sort))
                return false;
    }
    return true;
}

/* Column objects of every field with a column, plus which keys wait for a cycle. */
static bool
table_objects(PlanContext *ctx, const PdModel *model, const char *table, bool is_old, const TopoSort *sort,
              FieldObjects **fields, bool **deferred, size_t *count)
{
    *fields = pd_arena_calloc(ctx->arena, model->field_count + 1, sizeof(**fields));
    *deferred = pd_arena_calloc(ctx->arena, model->field_count + 1, sizeof(**deferred));
    if (*fields == NULL || *deferred == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    *count = 0;
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (field->column == NULL)
            continue;
        ModelRef target = is_old ? pd_plan_old_target_ref(ctx, field) : pd_plan_new_target_ref(ctx, field);
        (*deferred)[*count] = sort->is_deferred_field[sort->field_base[model - sort->catalog->models] + f];
        if (!pd_plan_schema_field(ctx, table, field->column, field, &target, &(*fields)[(*count)++]))
            return false;
    }
    return true;
}

static bool
model_indexes(PlanContext *ctx, const PdModel *model, const PdModel *named_as, IndexObjects **indexes)
{
    *indexes = pd_arena_calloc(ctx->arena, model->index_count + 1, sizeof(**indexes));
    if (*indexes == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < model->index_count; i++)
        if (!pd_plan_schema_index(ctx, model, &model->indexes[i], &(*indexes)[i]))
            return false;
    for (size_t i = 0; i < model->index_count; i++)
        (*indexes)[i].table = named_as->table;
    return true;
}

/* CREATE TABLE and its indexes into out; used for new models and for re-creating dropped ones in +down. */
static bool
create_table(PlanContext *ctx, PdStrbuf *out, const PdModel *model, bool is_old, const TopoSort *sort)
{
    FieldObjects *fields;
    bool *deferred;
    size_t count = 0;
    IndexObjects *indexes;
    if (!table_objects(ctx, model, model->table, is_old, sort, &fields, &deferred, &count) ||
        !model_indexes(ctx, model, model, &indexes))
        return false;
    size_t constraint_count = model->index_count;
    if (model->key_field_count > 0) /* primary_key(a, b): the spare slot model_indexes left */
    {
        const char *key = pd_plan_keys_sql(ctx, model);
        char *name = pd_model_constraint_name(ctx->arena, model->table, NULL, "pkey");
        if (key == NULL || name == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
        /* after "PRIMARY KEY " the columns, as a unique's */
        indexes[constraint_count++] = (IndexObjects){.table = model->table,
                                                     .name = name,
                                                     .columns_sql = key + strlen("PRIMARY KEY "),
                                                     .is_constraint = true,
                                                     .is_primary_key = true};
    }
    pd_plan_ddl_create_table(out, model->table, fields, count, deferred, indexes, constraint_count);
    pd_plan_ddl_create_indexes(out, model->table, fields, count, indexes, model->index_count);
    return pd_plan_checks_create(ctx, out, model) && pd_plan_timestamps_create(ctx, out, model) &&
           pd_plan_comments_create(ctx, out, model);
}

/* The foreign keys left out of CREATE TABLE because they close a cycle. */
static bool
deferred_keys(PlanContext *ctx, const PdCatalog *catalog, const TopoSort *sort, bool is_drop)
{
    for (size_t i = 0; i < sort->deferred_count; i++)
    {
        const PdField *field = sort->deferred[i];
        const PdModel *owner = &catalog->models[sort->deferred_owners[i]];
        ModelRef target = is_drop ? pd_plan_old_target_ref(ctx, field) : pd_plan_new_target_ref(ctx, field);
        FieldObjects objects;
        if (!pd_plan_schema_field(ctx, owner->table, field->column, field, &target, &objects))
            return false;
        pd_plan_ddl_add_constraint(is_drop ? &ctx->down : &ctx->up, owner->table, objects.fk_name,
                                   objects.fk_sql, false);
        pd_plan_ddl_drop_constraint(is_drop ? &ctx->up : &ctx->down, owner->table, objects.fk_name);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}

static bool
join_tables(PlanContext *ctx, const PdModel *model, bool is_drop)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        if (!pd_model_has_join_table(field))
            continue;
        ModelRef owner = pd_plan_schema_model_ref(ctx, model);
        ModelRef target = is_drop ? pd_plan_old_target_ref(ctx, field) : pd_plan_new_target_ref(ctx, field);
        JoinObjects join;
        if (!pd_plan_schema_join(ctx, field->through_table, &owner, &target, &join))
            return false;
        pd_plan_ddl_create_join_table(is_drop ? &ctx->down : &ctx->up, &join);
        pd_plan_ddl_drop_table(is_drop ? &ctx->up : &ctx->down, join.table);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}

bool
pd_plan_create_models(PlanContext *ctx)
{
    bool *is_new = pd_arena_calloc(ctx->arena, ctx->to->model_count + 1, sizeof(bool));
    if (is_new == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->to->model_count; i++)
        is_new[i] = ctx->old_of_new[i] == NULL;
    TopoSort sort;
    if (!topo_sort(ctx, ctx->to, is_new, &sort))
        return false;
    for (size_t k = 0; k < sort.count; k++)
    {
        const PdModel *model = &ctx->to->models[sort.order[k]];
        char *hint = pd_arena_sprintf(ctx->arena, "create_%s", pd_plan_snake(ctx, model->name));
        if (!pd_plan_operation(ctx, PD_OP_CREATE_MODEL, model->name, NULL, hint, "create model %s (table %s)",
                               model->name, model->table) ||
            !create_table(ctx, &ctx->up, model, false, &sort))
            return false;
        pd_plan_ddl_drop_table(&ctx->down, model->table);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    if (!deferred_keys(ctx, ctx->to, &sort, false))
        return false;
    for (size_t k = 0; k < sort.count; k++)
        if (!join_tables(ctx, &ctx->to->models[sort.order[k]], false))
            return false;
    return true;
}

static bool
has_join_tables(const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
        if (pd_model_has_join_table(&model->fields[f]))
            return true;
    return false;
}

/* Who takes each table name in `to`: the first model with it as its table, the first join table. */
typedef struct PlanTakers
{
    PdStrmap *tables;      /* table -> model index + 1 */
    PdStrmap *joins;       /* join table -> model index + 1 */
    PdStrmap *join_fields; /* join table -> its many-to-many field */
} PlanTakers;

static bool
put_first(PdStrmap *map, const char *key, void *value)
{
    return pd_strmap_contains(map, key) || pd_strmap_put(map, key, value);
}

static PlanTakers *
build_takers(PlanContext *ctx)
{
    PlanTakers *takers = pd_arena_calloc(ctx->arena, 1, sizeof(*takers));
    if (takers == NULL || (takers->tables = pd_strmap_new(ctx->arena, ctx->to->model_count)) == NULL ||
        (takers->joins = pd_strmap_new(ctx->arena, 0)) == NULL ||
        (takers->join_fields = pd_strmap_new(ctx->arena, 0)) == NULL)
        return NULL;
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i];
        void *number = (void *)(uintptr_t)(i + 1);
        if (!put_first(takers->tables, model->table, number))
            return NULL;
        for (size_t f = 0; f < model->field_count; f++)
        {
            const PdField *field = &model->fields[f];
            if (pd_model_has_join_table(field) && field->through_table != NULL &&
                !pd_strmap_contains(takers->joins, field->through_table) &&
                (!pd_strmap_put(takers->joins, field->through_table, number) ||
                 !pd_strmap_put(takers->join_fields, field->through_table, (void *)field)))
                return NULL;
        }
    }
    return takers;
}

static bool
refuse_taken(PlanContext *ctx, const char *table, const char *what, const PdModel *model,
             const PdField *taker)
{
    if (taker != NULL)
        pd_plan_input_error(
            ctx, taker->pos,
            "table \"%s\" of %s is dropped only at the end of this migration, but %s.%s takes its name",
            table, what, model->name, taker->name);
    else
        pd_plan_input_error(ctx, model->pos,
                            "table \"%s\" of %s is dropped only at the end of this migration, but model %s "
                            "takes its name",
                            table, what, model->name);
    pd_error_detail(ctx->err, "Tables are dropped after the renames and new tables of the same migration, so "
                              "the name is still taken when it is needed.");
    return pd_error_hint(ctx->err, "Make two migrations: one that drops the old table, then one that gives "
                                   "its name away.");
}

bool
pd_plan_check_table_freed_late(PlanContext *ctx, const char *table, const char *what, size_t joins_from)
{
    if (ctx->takers == NULL && (ctx->takers = build_takers(ctx)) == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    /* The first model in file order that takes the name; within one, a join table before the table. */
    size_t by_table = (size_t)(uintptr_t)pd_strmap_get(ctx->takers->tables, table);
    size_t by_join = (size_t)(uintptr_t)pd_strmap_get(ctx->takers->joins, table);
    if (by_join != 0 && by_join - 1 < joins_from && (by_table == 0 || by_join <= by_table))
        return refuse_taken(ctx, table, what, &ctx->to->models[by_join - 1],
                            pd_strmap_get(ctx->takers->join_fields, table));
    if (by_table != 0)
        return refuse_taken(ctx, table, what, &ctx->to->models[by_table - 1], NULL);
    return true;
}

/* Every table a dropped model frees: its own and its join tables. */
static bool
check_dropped_model_names(PlanContext *ctx, const PdModel *model)
{
    char *what = pd_arena_sprintf(ctx->arena, "model %s", model->name);
    if (what == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if (!pd_plan_check_table_freed_late(ctx, model->table, what, ctx->to->model_count))
        return false;
    for (size_t f = 0; f < model->field_count; f++)
        if (pd_model_has_join_table(&model->fields[f]) && model->fields[f].through_table != NULL &&
            !pd_plan_check_table_freed_late(ctx, model->fields[f].through_table, what, ctx->to->model_count))
            return false;
    return true;
}

bool
pd_plan_drop_models(PlanContext *ctx)
{
    bool *is_dropped = pd_arena_calloc(ctx->arena, ctx->from->model_count + 1, sizeof(bool));
    if (is_dropped == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->from->model_count; i++)
    {
        is_dropped[i] = ctx->new_of_old[i] == NULL;
        if (is_dropped[i] && !check_dropped_model_names(ctx, &ctx->from->models[i]))
            return false;
    }
    TopoSort sort;
    if (!topo_sort(ctx, ctx->from, is_dropped, &sort))
        return false;
    /* Join tables first (they may point at any dropped table), then keys closing cycles, then tables
     * referencing others before the tables they reference. */
    for (size_t k = sort.count; k > 0; k--)
        if (!join_tables(ctx, &ctx->from->models[sort.order[k - 1]], true))
            return false;
    if (!deferred_keys(ctx, ctx->from, &sort, true))
        return false;
    for (size_t k = sort.count; k > 0; k--)
    {
        const PdModel *model = &ctx->from->models[sort.order[k - 1]];
        char *hint = pd_arena_sprintf(ctx->arena, "drop_%s", pd_plan_snake(ctx, model->name));
        if (!pd_plan_operation(ctx, PD_OP_DROP_MODEL, model->name, NULL, hint, "drop model %s (table %s)",
                               model->name, model->table) ||
            !pd_plan_destructive(ctx, "drop model %s: table \"%s\" and all its rows are deleted%s",
                                 model->name, model->table,
                                 has_join_tables(model) ? ", with its many-to-many links" : "") ||
            !create_table(ctx, &ctx->down, model, true, &sort))
            return false;
        pd_plan_ddl_drop_table(&ctx->up, model->table);
        if (!pd_plan_step_end(ctx))
            return false;
    }
    return true;
}

/*
 * rename.c - the renames of a plan: tables, columns, and every derived name
 * (constraints, indexes, join tables and their columns) that a renamed model,
 * field or table changes. They are collected first and written once they can
 * be ordered, each as its own step, so +down renames back in reverse order.
 * Which model and field continue which is decided in diff.c; the names
 * themselves come from schema.c.
 */
#include <stdint.h>
#include <string.h>

#include "plan.h"

/* ---- renames ----------------------------------------------------------- */

/*
 * Renames are collected first and written once they can be ordered: renaming
 * t_a to t_b while t_b becomes t_c must wait until t_b is gone. Tables,
 * indexes and constraints count as one namespace (tables and indexes share
 * pg_class, a unique constraint names its index, and derived constraint names
 * carry their table's name, so sharing costs nothing); columns are per table.
 * A statement that names a table by its new name waits for that table's
 * rename. Renames that go round in a circle (a swap) cannot be ordered.
 */
typedef enum RenameKind
{
    RENAME_TABLE,
    RENAME_COLUMN,
    RENAME_CONSTRAINT,
    RENAME_INDEX
} RenameKind;

typedef struct PlanRename
{
    RenameKind kind;
    const char *table; /* the table the statement names, by its new name; NULL for tables and indexes */
    const char *from;
    const char *to;
    const char *up_sql;
    const char *down_sql;
} PlanRename;

static bool
queue_rename(PlanContext *ctx, RenameKind kind, const char *table, const char *from, const char *to)
{
    if (from == NULL || to == NULL || strcmp(from, to) == 0)
        return true;
    PdStrbuf up, down;
    pd_strbuf_init(&up, ctx->arena);
    pd_strbuf_init(&down, ctx->arena);
    switch (kind)
    {
        case RENAME_TABLE:
            pd_plan_ddl_rename_table(&up, from, to);
            pd_plan_ddl_rename_table(&down, to, from);
            break;
        case RENAME_COLUMN:
            pd_plan_ddl_rename_column(&up, table, from, to);
            pd_plan_ddl_rename_column(&down, table, to, from);
            break;
        case RENAME_CONSTRAINT:
            pd_plan_ddl_rename_constraint(&up, table, from, to);
            pd_plan_ddl_rename_constraint(&down, table, to, from);
            break;
        case RENAME_INDEX:
            pd_plan_ddl_rename_index(&up, from, to);
            pd_plan_ddl_rename_index(&down, to, from);
            break;
    }
    size_t count = ctx->rename_count;
    PlanRename *grown = pd_arena_reserve_next(ctx->arena, ctx->renames, count, sizeof(*grown));
    const char *up_sql = pd_strbuf_text(&up), *down_sql = pd_strbuf_text(&down);
    if (grown == NULL || up_sql == NULL || down_sql == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    bool is_named_table = kind == RENAME_COLUMN || kind == RENAME_CONSTRAINT;
    grown[count] = (PlanRename){kind, is_named_table ? table : NULL, from, to, up_sql, down_sql};
    ctx->renames = grown;
    ctx->rename_count = count + 1;
    return true;
}

static bool
rename_object(PlanContext *ctx, const char *table, const char *from, const char *to, bool is_index)
{
    return queue_rename(ctx, is_index ? RENAME_INDEX : RENAME_CONSTRAINT, table, from, to);
}

/* Whether two renames take names from the same namespace: columns of one table, or everything else. */
static bool
is_same_namespace(const PlanRename *a, const PlanRename *b)
{
    if ((a->kind == RENAME_COLUMN) != (b->kind == RENAME_COLUMN))
        return false;
    return a->kind != RENAME_COLUMN || strcmp(a->table, b->table) == 0;
}

/* The pending rename that rename i waits for, or NULL when it can run now. */
static const PlanRename *
rename_blocker(const PlanContext *ctx, const bool *is_done, size_t i)
{
    const PlanRename *rename = &ctx->renames[i];
    for (size_t j = 0; j < ctx->rename_count; j++)
    {
        const PlanRename *other = &ctx->renames[j];
        if (j == i || is_done[j])
            continue;
        if (is_same_namespace(rename, other) && strcmp(other->from, rename->to) == 0)
            return other; /* its new name is still taken */
        if (rename->table != NULL && other->kind == RENAME_TABLE && strcmp(other->to, rename->table) == 0)
            return other; /* the table it names does not have that name yet */
    }
    return NULL;
}

/*
 * The order in which renames are written: rename j blocks rename i while j
 * still holds the name i takes (same namespace), or while j has not yet given
 * the table that i names its name. Each rename counts the edges from its
 * pending blockers; the lowest-numbered rename with none runs next (what a
 * scan from the first would pick: a rename, once free, stays free), and then
 * frees those it blocked. Names are found through maps of chains, so a long
 * chain of renames orders in time proportional to its length.
 */
typedef struct RenameOrder
{
    PlanContext *ctx;
    PdStrmap *by_from;      /* namespace key of `from` -> chain of renames (next_from) */
    PdStrmap *by_to;        /* namespace key of `to` -> chain (next_to) */
    PdStrmap *tables_by_to; /* table renames by their new name -> chain (next_table) */
    PdStrmap *by_table;     /* the table a column or constraint rename names -> chain (next_named) */
    size_t *next_from, *next_to, *next_table, *next_named; /* index + 1; 0 ends a chain */
    size_t *waits;                                         /* per rename: edges from pending blockers */
    size_t *ready;                                         /* a min-heap of renames that wait for nothing */
    size_t ready_count;
} RenameOrder;

/* The key of a name in its namespace: columns of one table, or everything else. */
static const char *
name_key(PdArena *arena, const PlanRename *rename, const char *name)
{
    if (rename->kind == RENAME_COLUMN)
        return pd_arena_sprintf(arena, "c%zu:%s:%s", strlen(rename->table), rename->table, name);
    return pd_arena_sprintf(arena, "o:%s", name);
}

/* Adds rename i to the chain of key in map. */
static bool
chain_add(PdStrmap *map, size_t *next, const char *key, size_t i)
{
    next[i] = (size_t)(uintptr_t)pd_strmap_get(map, key);
    return pd_strmap_put(map, key, (void *)(uintptr_t)(i + 1));
}

static size_t
chain_head(const PdStrmap *map, const char *key)
{
    return key != NULL ? (size_t)(uintptr_t)pd_strmap_get(map, key) : 0;
}

static bool
order_init(PlanContext *ctx, RenameOrder *order)
{
    size_t n = ctx->rename_count;
    PdArena *arena = ctx->arena;
    *order = (RenameOrder){.ctx = ctx};
    order->by_from = pd_strmap_new(arena, n);
    order->by_to = pd_strmap_new(arena, n);
    order->tables_by_to = pd_strmap_new(arena, n);
    order->by_table = pd_strmap_new(arena, n);
    size_t **arrays[] = {&order->next_from,  &order->next_to, &order->next_table,
                         &order->next_named, &order->waits,   &order->ready};
    for (size_t a = 0; a < sizeof(arrays) / sizeof(arrays[0]); a++)
        if ((*arrays[a] = pd_arena_calloc(arena, n + 1, sizeof(size_t))) == NULL)
            return pd_arena_error(arena, ctx->err);
    if (order->by_from == NULL || order->by_to == NULL || order->tables_by_to == NULL ||
        order->by_table == NULL)
        return pd_arena_error(arena, ctx->err);
    for (size_t i = 0; i < n; i++)
    {
        const PlanRename *rename = &ctx->renames[i];
        const char *from = name_key(arena, rename, rename->from), *to = name_key(arena, rename, rename->to);
        bool is_ok =
            from != NULL && to != NULL && chain_add(order->by_from, order->next_from, from, i) &&
            chain_add(order->by_to, order->next_to, to, i) &&
            (rename->kind != RENAME_TABLE ||
             chain_add(order->tables_by_to, order->next_table, rename->to, i)) &&
            (rename->table == NULL || chain_add(order->by_table, order->next_named, rename->table, i));
        if (!is_ok)
            return pd_arena_error(arena, ctx->err);
    }
    return true;
}

/* Counts rename i's blockers: renames of its namespace taking from the name it takes, table renames
 * giving the table it names its name. */
static bool
count_waits(RenameOrder *order, size_t i)
{
    const PlanRename *rename = &order->ctx->renames[i];
    const char *to = name_key(order->ctx->arena, rename, rename->to);
    if (to == NULL)
        return pd_arena_error(order->ctx->arena, order->ctx->err);
    for (size_t j = chain_head(order->by_from, to); j != 0; j = order->next_from[j - 1])
        order->waits[i] += j - 1 != i;
    for (size_t j = chain_head(order->tables_by_to, rename->table); j != 0; j = order->next_table[j - 1])
        order->waits[i] += j - 1 != i;
    return true;
}

static void
ready_push(RenameOrder *order, size_t i)
{
    size_t at = order->ready_count++;
    for (; at > 0 && order->ready[(at - 1) / 2] > i; at = (at - 1) / 2)
        order->ready[at] = order->ready[(at - 1) / 2];
    order->ready[at] = i;
}

static size_t
ready_pop(RenameOrder *order)
{
    size_t first = order->ready[0], last = order->ready[--order->ready_count], at = 0;
    for (size_t child = 1; child < order->ready_count; child = 2 * at + 1)
    {
        if (child + 1 < order->ready_count && order->ready[child + 1] < order->ready[child])
            child++;
        if (order->ready[child] >= last)
            break;
        order->ready[at] = order->ready[child];
        at = child;
    }
    order->ready[at] = last;
    return first;
}

static void
release(RenameOrder *order, size_t i, size_t freed)
{
    if (i != freed && --order->waits[i] == 0)
        ready_push(order, i);
}

/* Rename j is written: the renames it blocked wait for one edge less. */
static bool
release_blocked(RenameOrder *order, size_t j)
{
    const PlanRename *rename = &order->ctx->renames[j];
    const char *from = name_key(order->ctx->arena, rename, rename->from);
    if (from == NULL)
        return pd_arena_error(order->ctx->arena, order->ctx->err);
    for (size_t i = chain_head(order->by_to, from); i != 0; i = order->next_to[i - 1])
        release(order, i - 1, j);
    if (rename->kind == RENAME_TABLE)
        for (size_t i = chain_head(order->by_table, rename->to); i != 0; i = order->next_named[i - 1])
            release(order, i - 1, j);
    return true;
}

static bool
refuse_circle(PlanContext *ctx, const bool *is_done)
{
    size_t i = 0;
    while (is_done[i])
        i++;
    const PlanRename *stuck = &ctx->renames[i], *blocker = rename_blocker(ctx, is_done, i);
    pd_error_set(ctx->err, PD_ERR_INVALID_INPUT,
                 "renames go round in a circle: \"%s\" -> \"%s\" waits for \"%s\" -> \"%s\", which "
                 "waits in turn",
                 stuck->from, stuck->to, blocker->from, blocker->to);
    pd_error_detail(ctx->err, "Each name is still taken when the other rename would need it, as in a "
                              "swap of two table names.");
    return pd_error_hint(ctx->err, "Rename through a temporary name: one migration renames the first "
                                   "to a name nobody uses, the next finishes the swap.");
}

/* Writes the queued renames, each as its own step (so +down renames back in reverse order). */
static bool
write_renames(PlanContext *ctx)
{
    RenameOrder order;
    bool *is_done = pd_arena_calloc(ctx->arena, ctx->rename_count + 1, sizeof(bool));
    if (is_done == NULL || !order_init(ctx, &order))
        return pd_arena_error(ctx->arena, ctx->err);
    for (size_t i = 0; i < ctx->rename_count; i++)
    {
        if (!count_waits(&order, i))
            return false;
        if (order.waits[i] == 0)
            ready_push(&order, i);
    }
    for (size_t written = 0; written < ctx->rename_count; written++)
    {
        if (order.ready_count == 0)
            return refuse_circle(ctx, is_done);
        size_t i = ready_pop(&order);
        is_done[i] = true;
        pd_strbuf_append(&ctx->up, ctx->renames[i].up_sql);
        pd_strbuf_append(&ctx->down, ctx->renames[i].down_sql);
        if (!pd_plan_step_end(ctx) || !release_blocked(&order, i))
            return false;
    }
    return true;
}

static bool
rename_tables(PlanContext *ctx)
{
    for (size_t i = 0; i < ctx->to->model_count; i++)
    {
        const PdModel *model = &ctx->to->models[i];
        const PdModel *old = ctx->old_of_new[i];
        if (old == NULL)
            continue;
        if (strcmp(old->table, model->table) == 0)
        {
            /* No table to rename, but the state must learn the name (and derived names may follow it). */
            if (strcmp(old->name, model->name) != 0 &&
                !pd_plan_operation(
                    ctx, PD_OP_RENAME_MODEL, model->name, NULL,
                    pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", pd_plan_snake(ctx, old->name),
                                     pd_plan_snake(ctx, model->name)),
                    "rename model %s to %s (table %s kept)", old->name, model->name, model->table))
                return false;
            continue;
        }
        char *hint = pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", pd_plan_snake(ctx, old->name),
                                      pd_plan_snake(ctx, model->name));
        if (strcmp(old->name, model->name) == 0)
            hint = pd_arena_sprintf(ctx->arena, "rename_%s_to_%s", old->table, model->table);
        bool is_table_only = strcmp(old->name, model->name) == 0;
        char *description = is_table_only
                                ? pd_arena_sprintf(ctx->arena, "rename table of %s: %s -> %s", model->name,
                                                   old->table, model->table)
                                : pd_arena_sprintf(ctx->arena, "rename model %s to %s (table %s -> %s)",
                                                   old->name, model->name, old->table, model->table);
        if (!pd_plan_operation(ctx, PD_OP_RENAME_MODEL, model->name, NULL, hint, "%s", description) ||
            !pd_plan_warning(
                ctx,
                "renaming table \"%s\" to \"%s\" breaks application instances still running with the "
                "old name; deploy the code that uses the new name together with this migration",
                old->table, model->table))
            return false;
        if (!queue_rename(ctx, RENAME_TABLE, NULL, old->table, model->table))
            return false;
    }
    return true;
}

static bool
rename_columns(PlanContext *ctx, const PdModel *model)
{
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
        if (old_field == NULL)
            continue;
        if (strcmp(old_field->name, field->name) != 0 && (old_field->column == NULL || field->column == NULL))
        {
            /* A many-to-many field has no column: its join table follows the name (rename_join_table). */
            if (!pd_plan_operation(ctx, PD_OP_RENAME_FIELD, model->name, field->name,
                                   pd_arena_sprintf(ctx->arena, "%s_rename_%s_to_%s",
                                                    pd_plan_snake(ctx, model->name), old_field->name,
                                                    field->name),
                                   "rename field %s.%s to %s", model->name, old_field->name, field->name))
                return false;
            continue;
        }
        if (old_field->column == NULL || field->column == NULL)
            continue;
        if (strcmp(old_field->name, field->name) != 0)
        {
            char *hint = pd_arena_sprintf(ctx->arena, "%s_rename_%s_to_%s", pd_plan_snake(ctx, model->name),
                                          old_field->name, field->name);
            if (!pd_plan_operation(ctx, PD_OP_RENAME_FIELD, model->name, field->name, hint,
                                   "rename field %s.%s to %s", model->name, old_field->name, field->name) ||
                !pd_plan_warning(
                    ctx,
                    "renaming column \"%s\".\"%s\" to \"%s\" breaks application instances still "
                    "running with the old name; deploy the code that uses the new name together with "
                    "this migration",
                    model->table, old_field->column, field->column))
                return false;
        }
        if (strcmp(old_field->column, field->column) == 0)
            continue;
        if (!queue_rename(ctx, RENAME_COLUMN, model->table, old_field->column, field->column))
            return false;
    }
    return true;
}

/*
 * A foreign key's name as the new field has it: fk_name="..." given on either side changes it here (a name
 * derived on both sides follows the table and column, covered by their renames), said as an operation.
 * alter.c then finds the key under this name.
 */
static bool
rename_foreign_key(PlanContext *ctx, const PdModel *model, const PdField *old_field, const PdField *field,
                   const FieldObjects *before, FieldObjects *after)
{
    if (after->fk_name == NULL || (field->kind != PD_FIELD_FOREIGN_KEY && field->kind != PD_FIELD_ONE_TO_ONE))
        return true;
    after->fk_name = field->fk_name != NULL
                         ? field->fk_name
                         : pd_model_constraint_name(ctx->arena, model->table, field->column, "fkey");
    if (after->fk_name == NULL)
        return pd_arena_error(ctx->arena, ctx->err);
    if ((old_field->fk_name == NULL && field->fk_name == NULL) ||
        strcmp(before->fk_name, after->fk_name) == 0)
        return true;
    return pd_plan_operation(
        ctx, PD_OP_ALTER_FIELD, model->name, field->name,
        pd_arena_sprintf(ctx->arena, "%s_rename_%s", pd_plan_snake(ctx, model->name), after->fk_name),
        "alter field %s.%s: foreign key name %s -> %s", model->name, field->name, before->fk_name,
        after->fk_name);
}

/* The derived names of a field's objects follow the table and column: rename each one that changed. */
static bool
rename_field_objects(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *old_field,
                     const PdField *field)
{
    ModelRef target = pd_plan_old_target_ref(ctx, old_field);
    FieldObjects before, after;
    if (!pd_plan_schema_field(ctx, old->table, old_field->column, old_field, &target, &before) ||
        !pd_plan_schema_field(ctx, model->table, field->column, old_field, &target, &after) ||
        !rename_foreign_key(ctx, model, old_field, field, &before, &after))
        return false;
    for (size_t i = 0; i < before.check_count && i < after.check_count; i++)
        if (!rename_object(ctx, model->table, before.check_names[i], after.check_names[i], false))
            return false;
    return rename_object(ctx, model->table, before.pkey_name, after.pkey_name, false) &&
           rename_object(ctx, model->table, before.unique_name, after.unique_name, false) &&
           rename_object(ctx, model->table, before.fk_name, after.fk_name, false) &&
           rename_object(ctx, model->table, before.index_name, after.index_name, true) &&
           rename_object(ctx, model->table, before.search_index_name, after.search_index_name, true);
}

/* Join table names follow the through table and both models' names. */
static bool
rename_join_table(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *old_field,
                  const PdField *field)
{
    if (!pd_plan_same_target(ctx, old_field, field))
        return true; /* a new target is a new join table: alter.c drops and creates */
    ModelRef old_owner = pd_plan_schema_model_ref(ctx, old), owner = pd_plan_schema_model_ref(ctx, model);
    ModelRef old_target = pd_plan_schema_model_ref(ctx, pd_plan_field_target(ctx->from, old_field));
    ModelRef target = pd_plan_schema_model_ref(ctx, pd_plan_field_target(ctx->to, field));
    JoinObjects before, after;
    if (!pd_plan_schema_join(ctx, old_field->through_table, &old_owner, &old_target, &before) ||
        !pd_plan_schema_join(ctx, field->through_table, &owner, &target, &after))
        return false;
    if (strcmp(before.table, after.table) != 0)
    {
        if (strcmp(old->name, model->name) == 0 && strcmp(old_field->name, field->name) == 0 &&
            !pd_plan_operation(
                ctx, PD_OP_ALTER_FIELD, model->name, field->name,
                pd_arena_sprintf(ctx->arena, "%s_alter_%s", pd_plan_snake(ctx, model->name), field->name),
                "alter field %s.%s: join table %s -> %s", model->name, field->name, before.table,
                after.table))
            return false;
        if (!queue_rename(ctx, RENAME_TABLE, NULL, before.table, after.table))
            return false;
    }
    for (int i = 0; i < 2; i++)
        if (!queue_rename(ctx, RENAME_COLUMN, after.table, before.columns[i], after.columns[i]))
            return false;
    return rename_object(ctx, after.table, before.pkey_name, after.pkey_name, false) &&
           rename_object(ctx, after.table, before.fk_names[0], after.fk_names[0], false) &&
           rename_object(ctx, after.table, before.fk_names[1], after.fk_names[1], false) &&
           rename_object(ctx, after.table, before.unique_name, after.unique_name, false) &&
           rename_object(ctx, after.table, before.index_name, after.index_name, true);
}

static bool
same_name(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * A plain model-level index that goes away is dropped CONCURRENTLY, after the
 * transactional part, where renames run: a rename cannot take its name in the
 * same migration. Refused with the position instead of failing on apply.
 */
static bool
check_name_free_in_time(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdIndex *index,
                        const char *name)
{
    for (size_t i = 0; i < old->index_count; i++)
    {
        const PdIndex *dropped = &old->indexes[i];
        IndexObjects objects;
        if ((dropped->is_unique && dropped->where == NULL && dropped->functions == NULL) ||
            pd_plan_is_index_kept(ctx, model, dropped))
            continue;
        if (!pd_plan_schema_index(ctx, old, dropped, &objects))
            return false;
        if (strcmp(objects.name, name) != 0)
            continue;
        pd_plan_input_error(ctx, index->pos,
                            "index \"%s\" is dropped only after this migration's renames, but an index "
                            "of %s is renamed to it",
                            name, model->name);
        return pd_error_hint(ctx->err,
                             "Make two migrations: one that drops index \"%s\", then one that gives "
                             "its name away.",
                             name);
    }
    return true;
}

static bool
rename_model_objects(PlanContext *ctx, const PdModel *old, const PdModel *model)
{
    const PdField *old_key = pd_model_primary_key(old);
    /* primary_key(a, b), or a one-field key that goes (keys.c replaces it): <table>_pkey follows the table
     * here, as no field's renames take it along */
    if (old->key_field_count > 0 || (old_key != NULL && pd_plan_new_field_of(ctx, model, old_key) == NULL))
    {
        char *before = pd_model_constraint_name(ctx->arena, old->table, NULL, "pkey");
        char *after = pd_model_constraint_name(ctx->arena, model->table, NULL, "pkey");
        if (before == NULL || after == NULL)
            return pd_arena_error(ctx->arena, ctx->err);
        if (!rename_object(ctx, model->table, before, after, false))
            return false;
    }
    for (size_t f = 0; f < model->field_count; f++)
    {
        const PdField *field = &model->fields[f];
        const PdField *old_field = pd_plan_old_field_of(ctx, model, field);
        if (old_field == NULL)
            continue;
        bool is_join = pd_model_has_join_table(field) && pd_model_has_join_table(old_field);
        if (is_join && !rename_join_table(ctx, old, model, old_field, field))
            return false;
        if (!is_join && old_field->column != NULL && field->column != NULL &&
            !rename_field_objects(ctx, old, model, old_field, field))
            return false;
    }
    for (size_t i = 0; i < model->index_count; i++)
    {
        const PdIndex *old_index = pd_plan_old_index_of(ctx, model, &model->indexes[i]);
        IndexObjects before, after;
        if (old_index == NULL)
            continue;
        if (!pd_plan_schema_index(ctx, old, old_index, &before) ||
            !pd_plan_schema_index(ctx, model, &model->indexes[i], &after))
            return false;
        /* A name given with name="..." (on either side) changes only here: say so. A derived name that
         * changes with renamed fields or tables is covered by the rename that caused it. */
        bool is_derived_before = same_name(old_index->name, pd_model_index_name(ctx->arena, old, old_index));
        bool is_derived_after =
            same_name(model->indexes[i].name, pd_model_index_name(ctx->arena, model, &model->indexes[i]));
        bool is_named_anew = strcmp(before.name, after.name) != 0 && !(is_derived_before && is_derived_after);
        if (is_named_anew &&
            !pd_plan_operation(
                ctx, PD_OP_RENAME_INDEX, model->name, after.name,
                pd_arena_sprintf(ctx->arena, "%s_rename_%s", pd_plan_snake(ctx, model->name), after.name),
                "rename %s on %s: %s -> %s", after.is_unique ? "unique" : "index", model->name, before.name,
                after.name))
            return false;
        if (strcmp(before.name, after.name) != 0 &&
            !check_name_free_in_time(ctx, old, model, &model->indexes[i], after.name))
            return false;
        if (!rename_object(ctx, model->table, before.name, after.name, !after.is_constraint))
            return false;
    }
    return true;
}

bool
pd_plan_renames(PlanContext *ctx)
{
    if (!rename_tables(ctx))
        return false;
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !rename_columns(ctx, &ctx->to->models[i]))
            return false;
    for (size_t i = 0; i < ctx->to->model_count; i++)
        if (ctx->old_of_new[i] != NULL && !rename_model_objects(ctx, ctx->old_of_new[i], &ctx->to->models[i]))
            return false;
    return write_renames(ctx);
}

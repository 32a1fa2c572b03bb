/*
 * plan.h - private to the planner (plan.c, diff.c, rename.c, index.c,
 * tables.c, alter.c, schema.c, ddl.c). The planner walks two catalogs once
 * and appends to one PlanContext: operations for people, SQL for the three
 * sections, warnings and destructive reasons.
 * The inverse SQL is collected in steps: each step holds the statements that
 * undo what was just appended to +up and +up concurrently, in the order they
 * must run; the +down section is the steps in reverse order.
 */
#ifndef PRODATA_MIGRATE_PLAN_H
#define PRODATA_MIGRATE_PLAN_H

#include "prodata/migrate.h"
#include "prodata/strbuf.h"
#include "prodata/strmap.h"

/*
 * What a model of `to` that continues a model of `from` keeps, built once by
 * pd_plan_match_models, so that every later question about its fields and
 * indexes is a lookup, never a scan: a model of thousands of fields plans in
 * time proportional to its size.
 */
typedef struct PlanPair
{
    const PdField **old_of_new; /* per field of the new model: the old field it continues, or NULL */
    const PdField **new_of_old; /* per field of the old model: the new field continuing it, or NULL */
    PdStrmap *old_fields;       /* name -> field; NULL for a small model (scanned instead) */
    PdStrmap *new_fields;
    const PdIndex **old_index_of_new; /* per model-level index of the new model: the old one it continues */
    bool *is_old_index_kept;          /* per model-level index of the old model */
} PlanPair;

typedef struct PlanContext
{
    PdArena *arena;
    const PdCatalog *from; /* never NULL: an empty catalog stands for an empty database */
    const PdCatalog *to;
    const PdModel **old_of_new; /* per model of `to`: the model of `from` it continues, NULL when new */
    const PdModel **new_of_old; /* per model of `from`: the model of `to` it became, NULL when dropped */
    PlanPair *pairs;            /* per model of `to`: zeroed when it continues none */
    struct PlanTakers *takers;  /* tables.c: who takes each table name of `to`, built on first use */
    PdStrbuf up;
    PdStrbuf batched; /* "-- +up batched": runs after the commit, before the concurrent part */
    PdStrbuf concurrently;
    PdStrbuf down; /* the inverse of the step being planned */
    const char **down_steps;
    size_t down_step_count;
    PdOperation *operations;
    const char **name_hints; /* per operation: its part of the suggested file name */
    size_t operation_count;
    const char **warnings;
    size_t warning_count;
    const char **destructive_reasons;
    size_t destructive_count;
    const char *irreversible_reason; /* the first reason found */
    struct PlanRename *renames;      /* rename.c: queued, written once they can be ordered */
    size_t rename_count;
    bool is_expand; /* PdPlanOptions.is_expand */
    PdError *err;
} PlanContext;

/* ---- plan.c: collecting results --------------------------------------- */

/* Records an operation; description is printf-formatted. False on exhaustion (err set). */
bool pd_plan_operation(PlanContext *ctx, PdOperationKind kind, const char *model, const char *field,
                       const char *name_hint, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Marks the last operation destructive and records what it loses. */
bool pd_plan_destructive(PlanContext *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool pd_plan_warning(PlanContext *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records why +down cannot be written; the first reason wins. */
void pd_plan_irreversible(PlanContext *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* PD_ERR_INVALID_INPUT whose message starts with where the model file says it: "models.pdm:12:3: ".
 * Returns false. */
bool pd_plan_input_error(PlanContext *ctx, PdSourcePos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends a step: what was appended to ctx->down since the last call becomes one step of +down. */
bool pd_plan_step_end(PlanContext *ctx);

/* The model of the other catalog that a model continues or became; NULL when none. */
const PdModel *pd_plan_new_model_of(const PlanContext *ctx, const PdModel *old_model);
const PdModel *pd_plan_old_model_of(const PlanContext *ctx, const PdModel *new_model);
/* snake_case of a name, cut to [a-z0-9_]. */
char *pd_plan_snake(PlanContext *ctx, const char *name);

/* ---- extensions.c: CREATE EXTENSION for citext and pg_trgm ---------------- */

/* +up: the extensions `to` needs and `from` did not (first phase). */
bool pd_plan_create_extensions(PlanContext *ctx);
/* +down: the extensions `from` needs and `to` does not, made first when reverting (last phase). */
bool pd_plan_restore_extensions(PlanContext *ctx);

/* ---- schema.c: the database objects a catalog implies ------------------- */

/* What a model is referenced as: its table and primary key. */
typedef struct ModelRef
{
    const char *name;
    const char *table;
    const char *pk_column;
    const char *pk_type;
} ModelRef;

/* The objects one column owns, named for a given table and column. NULL names: absent. */
typedef struct FieldObjects
{
    const PdField *field;
    const char *table;
    const char *column;
    PdColumnType type;    /* the kind table's type; a relation's is its target key's */
    const char *type_sql; /* type as SQL, printed once: "character varying(200)"; "" without a column */
    bool is_identity;
    const char
        *serial_type; /* default=serial: "serial" (smallserial, bigserial) written for the type; else NULL */
    bool is_not_null;
    const char
        *default_sql; /* the expression after DEFAULT; NULL for a serial (its sequence is its default) */
    const char *backfill_sql;  /* backfill=: the value for rows already there, as SQL; NULL when none */
    const char *generated_sql; /* generated(...): the X of GENERATED ALWAYS AS (X) STORED; NULL when none */
    const char *pkey_name;
    const char *unique_name;
    const char **check_names; /* each check(...), then choices(...) */
    const char **check_sqls;  /* the expression inside CHECK (...) */
    size_t check_count;
    const char *fk_name;          /* fk_name="..." as given, else <table>_<column>_fkey */
    const char *fk_sql;           /* FOREIGN KEY (...) REFERENCES ... ON DELETE ... [DEFERRABLE ...] */
    const char *fk_reference_sql; /* the same without its deferrability: what a drop and add changes */
    bool is_fk_deferrable;        /* DEFERRABLE INITIALLY DEFERRED: ALTER CONSTRAINT toggles it */
    const char *index_name;
    const char *index_columns_sql; /* what follows ON <table>: ("col"), or USING gin ("col") for an array */
    const char *search_index_name; /* search=trigram / search=fulltext: <table>_<column>_trgm / _fts */
    const char *search_index_sql;  /* after ON "table": USING gin (...), see schema.c's search_index_sql */
} FieldObjects;

/* A many-to-many join table. */
typedef struct JoinObjects
{
    const char *table;
    const char *columns[2]; /* from, to */
    const char *types[2];
    const char *targets[2]; /* referenced tables */
    const char *target_pks[2];
    const char *pkey_name;
    const char *fk_names[2];
    const char *unique_name;
    const char *index_name; /* on the second column; the unique pair covers the first */
} JoinObjects;

/* A model-level unique(...) or index(...). */
typedef struct IndexObjects
{
    const char *table;
    const char *name;
    const char *columns_sql; /* ("a", "b"), or ("a" "varchar_pattern_ops", "b") with operator classes; then
                              * " WHERE (...)" for a partial index */
    bool is_unique;
    bool is_constraint;  /* a unique(...) without where: a UNIQUE constraint; else an index */
    bool is_primary_key; /* the composite key of primary_key(a, b), written into CREATE TABLE (keys.c) */
} IndexObjects;

ModelRef pd_plan_schema_model_ref(PlanContext *ctx, const PdModel *model);
/* The extensions catalog needs (citext, pg_trgm), each once, NULL-ended, in arena; NULL on exhaustion. */
const char **pd_plan_schema_extensions(PdArena *arena, const PdCatalog *catalog);
/* target: what a relation field references (the new naming when planning an old field). */
bool pd_plan_schema_field(PlanContext *ctx, const char *table, const char *column, const PdField *field,
                          const ModelRef *target, FieldObjects *out);
bool pd_plan_schema_join(PlanContext *ctx, const char *through, const ModelRef *owner, const ModelRef *target,
                         JoinObjects *out);
bool pd_plan_schema_index(PlanContext *ctx, const PdModel *model, const PdIndex *index, IndexObjects *out);
/* An index's column list: ("a", "b"), each column followed by its operator class when it has one. columns
 * holds one column name per field of index. NULL on exhaustion. */
const char *pd_plan_schema_index_columns(PlanContext *ctx, const PdIndex *index, const char *const *columns);
/* columns_sql followed by " WHERE (where_sql)": a partial index. NULL when where_sql is NULL or on
 * exhaustion. */
const char *pd_plan_schema_index_where(PlanContext *ctx, const char *columns_sql, const char *where_sql);
/* Field names of a model-level index, as text for descriptions: "title, author". */
char *pd_plan_schema_index_fields(PlanContext *ctx, const PdIndex *index);
/* A literal compared with or stored in a column of type (type_sql spelled): bare when PostgreSQL types it
 * right, else quoted (and cast when is_cast and the column is not text). */
/* A field index's columns after ON <table>: ("col"), or USING gin ("col") for an array field. In arena. */
const char *pd_plan_schema_field_index_columns(PdArena *arena, const PdField *field, const char *column);
void pd_plan_schema_value(PdStrbuf *buf, const PdLiteral *literal, const PdColumnType *type,
                          const char *type_sql, bool is_cast);
/* A check operator as SQL: "=", "<>", "<", ... */
const char *pd_plan_schema_operator(PdCheckOp op);
/* "string(200) null unique": a field as people write it. */
char *pd_plan_schema_field_summary(PlanContext *ctx, const PdField *field);

/* ---- ddl.c: SQL text --------------------------------------------------- */

void pd_plan_ddl_column(PdStrbuf *out, const FieldObjects *objects);
/* CREATE TABLE with every column and constraint except the foreign keys marked deferred (cycles). */
void pd_plan_ddl_create_table(PdStrbuf *out, const char *table, const FieldObjects *fields,
                              size_t field_count, const bool *is_deferred, const IndexObjects *indexes,
                              size_t index_count);
/* Plain CREATE INDEX statements for a table created in this migration. */
void pd_plan_ddl_create_indexes(PdStrbuf *out, const char *table, const FieldObjects *fields,
                                size_t field_count, const IndexObjects *indexes, size_t index_count);
void pd_plan_ddl_create_join_table(PdStrbuf *out, const JoinObjects *join);
void pd_plan_ddl_drop_table(PdStrbuf *out, const char *table);
/* ALTER TABLE "table" ALTER COLUMN "column" <action>; */
void pd_plan_ddl_alter_column(PdStrbuf *out, const char *table, const char *column, const char *action);

void pd_plan_ddl_add_constraint(PdStrbuf *out, const char *table, const char *name, const char *definition,
                                bool is_not_valid);
void pd_plan_ddl_validate_constraint(PdStrbuf *out, const char *table, const char *name);
void pd_plan_ddl_drop_constraint(PdStrbuf *out, const char *table, const char *name);
/* ALTER TABLE ... ALTER CONSTRAINT "name" DEFERRABLE INITIALLY DEFERRED, or NOT DEFERRABLE. */
void pd_plan_ddl_alter_constraint_deferrable(PdStrbuf *out, const char *table, const char *name,
                                             bool is_deferrable);
/* CREATE [UNIQUE] INDEX [CONCURRENTLY IF NOT EXISTS]; columns_sql is ("a", "b"). */
void pd_plan_ddl_create_index(PdStrbuf *out, const char *table, const char *name, const char *columns_sql,
                              bool is_unique, bool is_concurrent);
void pd_plan_ddl_drop_index(PdStrbuf *out, const char *name, bool is_concurrent);
/* The idempotent ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX of the concurrent section. */
void pd_plan_ddl_unique_using_index(PdStrbuf *out, const char *table, const char *name);
/* ALTER TABLE ... DROP CONSTRAINT IF EXISTS: a step that is right whether or not the constraint was made. */
void pd_plan_ddl_drop_constraint_if_exists(PdStrbuf *out, const char *table, const char *name);
/* ADD CONSTRAINT "name" <definition> NOT VALID unless table has a constraint of that name: a DO block, so
 * that the concurrent section can run it again. */
void pd_plan_ddl_add_constraint_guarded(PdStrbuf *out, const char *table, const char *name,
                                        const char *definition);
/* DO $prodata$ body $prodata$; with a dollar-quote tag that does not occur in body. */
void pd_plan_ddl_do_block(PdStrbuf *out, const char *body);
/*
 * The two statements of a "-- +up batched" section that set column to value_sql (SQL of the model, quoted) on
 * the rows where where_sql holds: the SELECT count(*) that the executor reads for the time left, then the
 * UPDATE of at most $1 of those rows, taken by key with FOR UPDATE SKIP LOCKED. where_sql must stop holding
 * for a row once it is set, so that the executor's repeats end.
 */
void pd_plan_ddl_batched_update(PdStrbuf *out, const char *table, const char *key, const char *column,
                                const char *value_sql, const char *where_sql);
void pd_plan_ddl_rename_table(PdStrbuf *out, const char *from, const char *to);
void pd_plan_ddl_rename_column(PdStrbuf *out, const char *table, const char *from, const char *to);
void pd_plan_ddl_rename_constraint(PdStrbuf *out, const char *table, const char *from, const char *to);
void pd_plan_ddl_rename_index(PdStrbuf *out, const char *from, const char *to);
/* ("column") */
char *pd_plan_ddl_columns(PdArena *arena, const char *column);

/* ---- keys.c: a composite primary key ----------------------------------- */

/* The one column a batched UPDATE takes rows by: the key's, or for a composite key the row's ctid. */
const char *pd_plan_keys_batch_column(const PdModel *model);
/* PRIMARY KEY ("a", "b") of the model's key, in its declared order; NULL on exhaustion. */
const char *pd_plan_keys_sql(PlanContext *ctx, const PdModel *model);
/* A key that changes, one side composite: DROP CONSTRAINT <table>_pkey before the fields change (its +down
 * adds the old key back), ADD CONSTRAINT ... PRIMARY KEY after them (its +down drops it). Nothing when
 * the key's columns stay. */
bool pd_plan_keys_drop(PlanContext *ctx, const PdModel *old, const PdModel *model);
bool pd_plan_keys_add(PlanContext *ctx, const PdModel *old, const PdModel *model);

/* ---- the phases, in the order pd_migrate_plan runs them ----------------- */

/* diff.c: who continues whom (ctx->old_of_new, ctx->new_of_old), checking every renamed_from. */
bool pd_plan_match_models(PlanContext *ctx);
/* rename.c: tables, columns and every derived name they change. */
bool pd_plan_renames(PlanContext *ctx);
/* index.c: model-level indexes that are gone, before anything reuses a name. */
bool pd_plan_drop_indexes(PlanContext *ctx);
/* tables.c: new tables in dependency order, then the keys closing cycles, then join tables. */
bool pd_plan_create_models(PlanContext *ctx);
/* diff.c: fields of the models that continue, dropped ones first. */
bool pd_plan_diff_fields(PlanContext *ctx);
/* index.c: new model-level indexes, built concurrently. */
bool pd_plan_add_indexes(PlanContext *ctx);
/* tables.c: dropped models, referencing tables before the tables they reference. */
bool pd_plan_drop_models(PlanContext *ctx);

/* ---- diff.c: fields of a model that continues another ------------------ */

/* The field of the old model that a field of `model` (a model of `to`) continues: same name, or its
 * renamed_from while that name is gone from the model. NULL when the field is new. */
const PdField *pd_plan_old_field_of(const PlanContext *ctx, const PdModel *model, const PdField *field);
/* The field of `model` that continues old_field (a field of the model it continues); NULL when dropped. */
const PdField *pd_plan_new_field_of(const PlanContext *ctx, const PdModel *model, const PdField *old_field);
/* By name, in `model` or in the model it continues; NULL when absent. */
const PdField *pd_plan_find_new_field(const PlanContext *ctx, const PdModel *model, const char *name);
const PdField *pd_plan_find_old_field(const PlanContext *ctx, const PdModel *model, const char *name);

/* ---- diff.c: what relations point at ----------------------------------- */

/* The model a relation of `catalog` points at, found by pointer or by name; NULL when none. */
const PdModel *pd_plan_field_target(const PdCatalog *catalog, const PdField *field);
/* What a relation references: an old field's target under its new name (what +down and ALTERs name). */
ModelRef pd_plan_old_target_ref(PlanContext *ctx, const PdField *field);
ModelRef pd_plan_new_target_ref(PlanContext *ctx, const PdField *field);
/* Whether the old relation points at the model the new one points at (after renames). */
bool pd_plan_same_target(PlanContext *ctx, const PdField *old_field, const PdField *field);

/* ---- index.c: model-level indexes that continue ------------------------- */

/* Fills pair's index lookups for `model` (a model of `to`) once its field lookups are set. */
bool pd_plan_pair_indexes(PlanContext *ctx, const PdModel *old, const PdModel *model, PlanPair *pair);
/* The old index that a model-level index of `model` continues: same kind, same fields after renames, each
 * old index continued by one new index at most (of its own name first); or NULL. */
const PdIndex *pd_plan_old_index_of(const PlanContext *ctx, const PdModel *model, const PdIndex *index);
/* Whether some index of `model` continues old_index (an index of the model it continues). */
bool pd_plan_is_index_kept(const PlanContext *ctx, const PdModel *model, const PdIndex *old_index);

/* ---- tables.c ----------------------------------------------------------- */

/*
 * Tables are dropped after the renames and creates of the same migration, so a
 * table name it frees cannot be taken in it: refused (PD_ERR_INVALID_INPUT at
 * the taker's position) when a new model's table, or a join table of the new
 * models numbered below joins_from, is named `table`. Join tables of a dropped
 * field are freed at that model's turn (file order, drops before adds), so
 * models from it on (joins_from = its number) may take the name;
 * joins_from = ctx->to->model_count checks every join table, 0 none.
 */
bool pd_plan_check_table_freed_late(PlanContext *ctx, const char *table, const char *what, size_t joins_from);

/* ---- timestamps.c: the auto_now trigger --------------------------------- */

/* The auto_now function and trigger of a table made in this migration (or re-made by +down), into out;
 * nothing when model has no auto_now field. False on exhaustion. */
bool pd_plan_timestamps_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model);
/* The trigger of a model that continues old, replaced or dropped when its list of auto_now columns
 * changed, with an operation per field that gained or lost auto_now and its +down step. */
bool pd_plan_timestamps_diff(PlanContext *ctx, const PdModel *old, const PdModel *model);

/* ---- checks.c: model-level check(...) ---------------------------------- */

/* An expression of owner (a check, an index's where) as SQL, in the columns of model (NULL: owner's own; an
 * old model's expression in the columns its fields have now). NULL on exhaustion. */
const char *pd_plan_expr_sql(PlanContext *ctx, const PdModel *owner, const PdModel *model,
                             const PdExpr *expr);
/* The checks of a table made in this migration (or re-made by +down), as ALTER TABLE ... ADD CONSTRAINT
 * after its CREATE TABLE. */
bool pd_plan_checks_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model);
/* Of a model that continues old: the checks gone or changed, dropped before its fields change (a dropped
 * column would take them along). */
bool pd_plan_checks_drop(PlanContext *ctx, const PdModel *old, const PdModel *model);
/* ... and the new or changed ones added NOT VALID and validated concurrently, a renamed one renamed, once its
 * fields are there. */
bool pd_plan_checks_add(PlanContext *ctx, const PdModel *old, const PdModel *model);

/* ---- generated.c: generated(...) ---------------------------------------- */

/* The expression of a generated field (of ctx->to or ctx->from: an old field's in the columns its fields have
 * now) as SQL; NULL when the field is not generated. Arena storage. */
const char *pd_plan_generated_sql(PlanContext *ctx, const PdField *field);

/* Whether a generated expression names field (a field name of its model). */
bool pd_plan_generated_uses(const PdExpr *expr, const char *field);

/* ---- comments.c: COMMENT ON --------------------------------------------- */

/* The table's and its columns' comments, after the CREATE TABLE of a table made (or re-made by +down). */
bool pd_plan_comments_create(PlanContext *ctx, PdStrbuf *out, const PdModel *model);
/* A +down step writing back the comments of old's columns this migration drops; planned before the drops. */
bool pd_plan_comments_restore_dropped(PlanContext *ctx, const PdModel *old, const PdModel *model);
/* The comments of a model that continues old which changed, set or removed, each with its operation. */
bool pd_plan_comments_diff(PlanContext *ctx, const PdModel *old, const PdModel *model);

/* ---- alter.c: one field that exists on both sides ----------------------- */

bool pd_plan_alter_field(PlanContext *ctx, const PdModel *model, const PdField *old_field,
                         const PdField *new_field);
bool pd_plan_alter_add_field(PlanContext *ctx, const PdModel *model, const PdField *field);
bool pd_plan_alter_drop_field(PlanContext *ctx, const PdModel *new_model, const PdModel *old_model,
                              const PdField *field);
/* Of a model that continues old: the generated columns dropped, or whose expression changes (a warning),
 * dropped first: PostgreSQL refuses to drop a column a generated column uses, and +down adds them back last.
 */
bool pd_plan_alter_drop_generated(PlanContext *ctx, const PdModel *old, const PdModel *model);
/* Refuses remaking field's column (generated(...) changed or given) while anything but its own options names
 * it (a comment, primary_key(...), a model-level index, unique or check), which the drop would take along. */
bool pd_plan_alter_check_remade(PlanContext *ctx, const PdModel *old, const PdModel *model, const PdField *field);

/* ---- notnull.c: NOT NULL on a live table, without the scan under ACCESS EXCLUSIVE ------------------ */

/* The name of the temporary CHECK (column IS NOT NULL): <table>_<column>_notnull, cut by the long-name rule.
 */
char *pd_plan_notnull_check_name(PlanContext *ctx, const char *table, const char *column);
/* The value rows holding NULL take when the column becomes not null: backfill=, else the default; NULL:
 * none (then they make the migration fail, counted before anything changes). */
const char *pd_plan_notnull_fill(const FieldObjects *objects);
/*
 * Makes column of table (whose primary key column is key) NOT NULL: without fill_sql, the check NOT VALID in
 * +up; with it, the NULL rows filled in +up batched and the check (guarded) and one last fill in the
 * concurrent part; then VALIDATE, SET NOT NULL and DROP CONSTRAINT IF EXISTS there. The inverse is
 * pd_plan_notnull_undo. False on exhaustion.
 */
bool pd_plan_notnull_set(PlanContext *ctx, const char *table, const char *key, const char *column,
                         const char *fill_sql);
/* DROP NOT NULL and DROP CONSTRAINT IF EXISTS of the check, into down. */
void pd_plan_notnull_undo(PlanContext *ctx, PdStrbuf *down, const char *table, const char *column);

/* ---- expand.c: a rewriting type change as expand, backfill and swap (makemigrations --expand) -------- */

/*
 * Writes the change of a's column (the old field's objects under the new names) to b's type as expand (a new
 * column and a trigger, in +up), backfill (+up batched) and swap (concurrently), with its +down and two
 * warnings. For a field of model that is no relation and whose type changes with a rewrite, its nullability,
 * unique and index unchanged (alter.c refuses the rest). False on exhaustion.
 */
bool pd_plan_expand_type(PlanContext *ctx, const PdModel *model, const FieldObjects *a,
                         const FieldObjects *b);

#endif

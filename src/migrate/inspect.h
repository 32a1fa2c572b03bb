/*
 * inspect.h - private to inspectdb (pd_migrate_inspect): the catalog as read
 * (inspect_read.c), PostgreSQL's deparsed definitions read back in the model
 * language's terms (inspect_sql.c), the model decided for each table
 * (inspect_map.c); inspect.c writes the text.
 */
#ifndef PRODATA_MIGRATE_INSPECT_H
#define PRODATA_MIGRATE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/model.h"

/* ---- inspect_read.c: the catalog as read -------------------------------- */

#define INSPECT_NO_TABLE ((size_t)-1)

typedef struct InspectColumn
{
    int number; /* attnum */
    const char *name;
    const char *type; /* format_type() */
    bool is_not_null;
    char identity;              /* 'd' (by default), 'a' (always) or 0 */
    bool is_generated;          /* a generated column: its expression is default_sql */
    const char *default_sql;    /* pg_get_expr() of the default; NULL without one */
    const char *owned_sequence; /* the name of a sequence this column owns (serial, OWNED BY); NULL */
    const char *collation;      /* a collation other than its type's; NULL */
    const char *comment;        /* col_description(); NULL */
} InspectColumn;

typedef struct InspectConstraint
{
    const char *name;
    char type;    /* pg_constraint.contype: 'p', 'u', 'f', 'c', 'x', 't' */
    int *columns; /* conkey, in order */
    size_t column_count;
    const char *definition; /* pg_get_constraintdef() */
    /* Foreign keys. */
    size_t target;           /* the referenced table's index in InspectSchema.tables; INSPECT_NO_TABLE */
    const char *target_name; /* its name, qualified when it is in another schema */
    int *target_columns;     /* confkey */
    size_t target_column_count;
} InspectConstraint;

typedef struct InspectIndex
{
    const char *name;
    const char *definition; /* pg_get_indexdef() */
    bool is_valid;
    bool is_constraint; /* the index of a primary key, unique or exclusion constraint */
} InspectIndex;

typedef struct InspectTable
{
    const char *oid;
    const char *name;
    const char *comment; /* obj_description(); NULL */
    const char *shape;   /* why it is not a plain table ("partitioned", "a partition of x"); NULL */
    bool is_unlogged;
    InspectColumn *columns; /* attnum order */
    size_t column_count;
    InspectConstraint *constraints; /* by name */
    size_t constraint_count;
    InspectIndex *indexes; /* by name */
    size_t index_count;
    const char *auto_now_trigger; /* pg_get_triggerdef() of prodata's trigger prodata_auto_now; NULL */
} InspectTable;

typedef struct InspectSchema
{
    const char *database;
    const char *schema;
    InspectTable *tables; /* by name (C collation), only those the patterns select */
    size_t table_count;
    const char **leftovers; /* "view shop_summary", ...: one comment line each, in a fixed order */
    size_t leftover_count;
} InspectSchema;

/*
 * Reads the tables of current_schema() whose names match one of patterns (all when pattern_count is 0),
 * prodata's own tables left out, with their columns, constraints and indexes, and what is not inspected
 * (views, sequences no column owns, triggers, policies, functions, types, extensions, other schemas).
 * One read-only transaction, so all is read from one snapshot. Errors: PD_ERR_DB_QUERY,
 * PD_ERR_NOT_FOUND when a pattern matches no table.
 */
bool pd_inspect_read(PdArena *arena, PdDb *db, const char *const *patterns, size_t pattern_count,
                     InspectSchema **schema, PdError *err);

/* ---- inspect_generated.c ------------------------------------------------ */

/*
 * A generated column's expression (column->default_sql, pg_get_expr()) as the text inside generated(...) of a
 * field of type type_text, when the language says it and its checker accepts it among the table's other
 * columns; else false with *reason ("a function the language does not have"). *text in arena.
 */
bool pd_inspect_read_generated(PdArena *arena, const InspectTable *table, const InspectColumn *column,
                               const char *type_text, const char **text, const char **reason);

/* ---- inspect_sql.c: PostgreSQL's definitions in the model's terms ------- */

/*
 * A column type as format_type() prints it, read as a model type: its kind and numbers. False when the
 * language has no such type (character(3), an array, numeric without precision, a domain...).
 */
bool pd_inspect_column_type(const char *type_sql, PdColumnType *type);

/*
 * A default as pg_get_expr() prints it, read for a field of `field`'s kind and numbers: a literal, now,
 * uuid, or the CURRENT_TIMESTAMP that default=now stands for (*is_current_timestamp). Accepted only when
 * the planner's default for the value reads back the same, so a migration remakes it exactly (but for
 * CURRENT_TIMESTAMP, which it remakes as now()). False when the language cannot say it.
 */
bool pd_inspect_read_default(PdArena *arena, const PdField *field, const char *sql, PdDefault *value,
                             bool *is_current_timestamp);

/*
 * prodata's auto_now trigger as pg_get_triggerdef() prints it: "CREATE TRIGGER prodata_auto_now BEFORE
 * UPDATE ON <table> FOR EACH ROW EXECUTE FUNCTION prodata_auto_now('a', 'b')". *columns gets the arguments
 * (the columns it keeps current), in the arena. False when the definition has any other shape.
 */
bool pd_inspect_read_auto_now(PdArena *arena, const char *definition, const char ***columns, size_t *count);

/* Whether sql is exactly nextval('<sequence>'::regclass). */
bool pd_inspect_is_nextval(const char *sql, const char *sequence);

/*
 * A CHECK constraint's definition (pg_get_constraintdef) as check(<op> <literal>) on the field `field`
 * whose column is `column`; accepted only when the planner's check reads back the same. False otherwise.
 */
bool pd_inspect_read_check(PdArena *arena, const PdField *field, const char *column, const char *definition,
                           PdCheck *check);

/*
 * Whether a PRIMARY KEY or UNIQUE constraint's definition is the plain one the planner writes: "PRIMARY
 * KEY (a)", "UNIQUE (a, b)", nothing after (no INCLUDE, WITH, NULLS NOT DISTINCT, DEFERRABLE).
 */
bool pd_inspect_is_plain_key(const char *definition, bool is_primary);

/*
 * A foreign key's definition read as the planner writes it: FOREIGN KEY (a) REFERENCES t(b), then only ON
 * DELETE and DEFERRABLE INITIALLY DEFERRED. False when anything else is there (ON UPDATE, MATCH FULL, NOT
 * VALID, SET NULL (a), DEFERRABLE INITIALLY IMMEDIATE); *reason then says what, when known.
 */
bool pd_inspect_read_foreign_key(const char *definition, PdOnDelete *on_delete, bool *is_deferrable,
                                 const char **reason);

/* One btree index read from pg_get_indexdef(): its columns, their functions and operator classes. */
typedef struct InspectIndexShape
{
    bool is_unique;
    bool is_gin;            /* USING gin: expressed only as an array field's `index` */
    const char **columns;   /* column names, unquoted */
    const char **functions; /* per column: "lower" or "upper" for lower(column), or NULL */
    const char **opclasses; /* per column: a non-default operator class, or NULL */
    size_t column_count;
    const char *where; /* the condition of a partial index as deparsed, or NULL */
} InspectIndexShape;

/*
 * Reads an index definition as "CREATE [UNIQUE] INDEX name ON schema.table USING btree (a, lower(b)
 * opclass) [WHERE condition]". False when it is anything else: another method, another expression, INCLUDE,
 * WITH, DESC, NULLS, COLLATE; *reason then says which, when known. The shape is allocated in arena.
 */
bool pd_inspect_read_index(PdArena *arena, const char *definition, InspectIndexShape *shape,
                           const char **reason);

/* ---- inspect_expr.c: conditions ------------------------------------------ */

/*
 * A condition as deparsed (a CHECK's expression, an index's WHERE) written in the model language's
 * expression grammar, casts dropped: a candidate only, which inspect_verify.c keeps when the migration
 * made from it deparses the same. False when the grammar cannot say it.
 */
bool pd_inspect_read_condition(PdArena *arena, const char *sql, const char **text);

/* ---- inspect_map.c: the model of each table ----------------------------- */

/* A model-level unique(...) or index(...). */
typedef struct InspectModelIndex
{
    bool is_unique;
    const char **fields;    /* field names */
    const char **opclasses; /* per field: an operator class, or NULL */
    size_t field_count;
    const char *name;
    const char **functions; /* per field: "lower", "upper" or NULL; NULL when none has one */
    const char *where;      /* a partial index's condition in the model language, or NULL */
    const char *definition; /* a candidate to verify (a function or WHERE): the index as found; NULL */
    int line;               /* where the text last written has it */
} InspectModelIndex;

/* A model-level check(...): a candidate to verify. */
typedef struct InspectModelCheck
{
    const char *name;
    const char *text;       /* the condition in the model language */
    const char *definition; /* pg_get_constraintdef(), for the comment when it is not kept */
    int line;               /* where the text last written has it */
} InspectModelCheck;

/* One column of a table as a field, or as the comment that says why it is not one (name NULL). */
typedef struct InspectField
{
    const InspectColumn *column;
    const char *name; /* NULL: the column is not in the model */
    PdField field;    /* kind, numbers, null, unique, default, checks, on_delete: as the model says them */
    const char *type_text; /* "string(200)", "ShopAuthor" */
    bool is_index;         /* `index` (a field that is not indexed by default) */
    bool is_no_index;      /* `no_index` (a foreign key without its default index) */
    bool is_serial;        /* default=serial */
    const char *generated; /* generated(...): the expression's text in the language; NULL */
    bool is_deferrable;
    const char *fk_name;      /* the foreign key's name when it is not the derived one */
    const char *related_name; /* when the default would clash */
    size_t target;            /* relations: the target's index in the models */
    const char **notes;       /* comment lines written before it */
    size_t note_count;
} InspectField;

typedef struct InspectModel
{
    const InspectTable *table;
    const char *name;                 /* ShopBook */
    bool has_table_directive;         /* the table is not the snake_case of the name */
    const char *resource;             /* when the default would clash; NULL */
    const char *not_a_model;          /* why the language cannot express the table at all; NULL for a model */
    const InspectColumn *primary_key; /* NULL for the implicit id, and for a composite key */
    const InspectColumn **key_columns; /* a primary key of several columns, in its order: primary_key(a, b) */
    size_t key_column_count;
    const char *key_type; /* the primary key's column type (format_type): relations match it */
    PdFieldKind key_kind;
    InspectField *fields; /* attnum order; the implicit id left out */
    size_t field_count;
    InspectModelIndex *indexes; /* unique(...) first, then index(...), each by name */
    size_t index_count;
    InspectModelCheck *checks; /* model-level check(...), by name */
    size_t check_count;
    const char **notes; /* before the model: the table's comment */
    size_t note_count;
    const char **tail_notes; /* at the end of its body: constraints and indexes not expressed */
    size_t tail_note_count;
} InspectModel;

/*
 * Decides the model of every table of schema (same order), by the rules of docs/migrations.md, "Adopting
 * an existing database". Errors: the arena's.
 */
bool pd_inspect_map(PdArena *arena, const InspectSchema *schema, InspectModel **models, PdError *err);

/* ---- inspect_verify.c: candidates kept only where exact ---------------- */

/* Writes the text of the models again into *text (after candidates were left out). */
typedef bool (*InspectRewrite)(void *context, const char **text, PdError *err);

/*
 * Keeps each candidate of the models (a model-level check, an index with a function or WHERE) only when
 * the written *text parses with it and the migration made from it, run in a scratch schema, makes what
 * deparses as the live object; the others become the models' comments and *text is rewritten. Call outside
 * a transaction. Errors: reading the live schema's, rewrite's, the arena's.
 */
bool pd_inspect_verify(PdArena *arena, PdDb *db, const InspectSchema *schema, InspectModel *models,
                       InspectRewrite rewrite, void *context, const char **text, PdError *err);

#endif

/*
 * model.h - the model catalog: the models of a .pdm file, parsed, checked
 * and resolved, in one in-memory structure that the migration engine, the
 * query library and the REST server all read. A catalog lives in the arena it
 * was parsed into and is read-only afterwards, so any number of threads may
 * read it. Every name the database sees (tables, columns, constraints,
 * indexes) is decided here, once, so that migrations, drift checks and
 * queries agree on it.
 *
 * The language itself is documented in docs/models.md.
 */
#ifndef PRODATA_MODEL_H
#define PRODATA_MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/export.h"
#include "prodata/kind.h"

PD_API_BEGIN

/* Where something was written: "models/shop.pdm:12:5". line and column count from 1. */
typedef struct PdSourcePos
{
    const char *file;
    int line;
    int column;
} PdSourcePos;

typedef enum PdOnDelete
{
    PD_ON_DELETE_CASCADE,    /* the default */
    PD_ON_DELETE_RESTRICT,   /* ON DELETE RESTRICT: refused at once */
    PD_ON_DELETE_PROTECT,    /* ON DELETE NO ACTION: refused at the end of the statement */
    PD_ON_DELETE_SET_NULL,   /* requires null */
    PD_ON_DELETE_SET_DEFAULT /* requires a default */
} PdOnDelete;

typedef enum PdDefaultKind
{
    PD_DEFAULT_NONE,
    PD_DEFAULT_LITERAL, /* literal below */
    PD_DEFAULT_NOW,     /* now(), or CURRENT_DATE / LOCALTIME for date and time */
    PD_DEFAULT_UUID,    /* gen_random_uuid() */
    PD_DEFAULT_SERIAL   /* smallint, int, bigint: made as smallserial / serial / bigserial, whose sequence
                         * <table>_<column>_seq PostgreSQL creates and owns; the database numbers the rows */
} PdDefaultKind;

typedef enum PdLiteralKind
{
    PD_LITERAL_NUMBER, /* text holds the number as written: -12, 3.50, 1e3 */
    PD_LITERAL_STRING, /* text holds the string's value, escapes resolved */
    PD_LITERAL_BOOL,   /* text is "true" or "false" */
    PD_LITERAL_NULL,   /* only in checks' values; never a default */
    PD_LITERAL_ARRAY   /* [1, 2], ["a"], []: the default of an array field; items hold the elements */
} PdLiteralKind;

typedef struct PdLiteral
{
    PdLiteralKind kind;
    const char *text;              /* PD_LITERAL_ARRAY: the canonical text, "[1, \"a\"]" */
    const struct PdLiteral *items; /* PD_LITERAL_ARRAY: the elements (numbers, strings, booleans) */
    size_t item_count;
} PdLiteral;

typedef struct PdDefault
{
    PdDefaultKind kind;
    PdLiteral literal; /* when kind is PD_DEFAULT_LITERAL */
} PdDefault;

typedef enum PdCheckOp
{
    PD_CHECK_EQ,
    PD_CHECK_NE,
    PD_CHECK_LT,
    PD_CHECK_LE,
    PD_CHECK_GT,
    PD_CHECK_GE
} PdCheckOp;

/* A field-level check: <column> <op> <literal>, e.g. check(>= 0). */
typedef struct PdCheck
{
    PdCheckOp op;
    PdLiteral value;
    PdSourcePos pos;
} PdCheck;

/* One allowed value of a choices field, with its human label (the value itself when none given). */
typedef struct PdChoice
{
    PdLiteral value;
    const char *label;
} PdChoice;

/*
 * How a `search` field is searched and indexed: plain `search` is ILIKE '%term%' without an index (as
 * DRF's SearchFilter), `search=trigram` the same served by a GIN index with gin_trgm_ops (pg_trgm), which
 * also serves the field's contains/icontains filters; `search=fulltext` is PostgreSQL's full-text search
 * (websearch_to_tsquery) served by a GIN index on to_tsvector(config, column).
 */
typedef enum PdSearchKind
{
    PD_SEARCH_NONE,
    PD_SEARCH_PLAIN,
    PD_SEARCH_TRIGRAM,
    PD_SEARCH_FULLTEXT
} PdSearchKind;

struct PdModel;

typedef struct PdField
{
    const char *name;   /* as written in the model file; the name the API uses */
    const char *column; /* database column: name, or name_id for a relation; NULL for many-to-many */
    PdFieldKind kind;   /* of each element when is_array */
    bool is_array; /* int[], string(30)[]: a one-dimensional array of a built-in kind (Django's ArrayField) */
    int max_length; /* string kinds; 0 for text */
    int precision;  /* decimal */
    int scale;      /* decimal */
    bool is_nullable;
    bool is_unique;
    bool is_indexed;
    bool is_searchable;        /* any `search`: the field takes part in ?search= */
    PdSearchKind search;       /* which search, PD_SEARCH_NONE when not searchable */
    const char *search_config; /* PD_SEARCH_FULLTEXT: the text search configuration ("simple" unless given) */
    bool is_primary_key;
    PdDefault default_value; /* auto_now and auto_now_add set it to PD_DEFAULT_NOW */
    bool is_auto_now_add;    /* date, time, timestamptz: the database's now on insert (default now) */
    bool is_auto_now;        /* the same, and on every update: a BEFORE UPDATE trigger the migrations make */
    PdCheck *checks;
    size_t check_count;
    PdChoice *choices;
    size_t choice_count;

    /* Relations (foreign key, one-to-one, many-to-many). */
    const char *target_name;      /* model name as written */
    const struct PdModel *target; /* resolved; NULL only before resolution */
    PdOnDelete on_delete;
    const char
        *related_name; /* reverse accessor; default: <model snake>_set (FK), <model snake> (one-to-one) */
    const char *through_table; /* many-to-many join table: <table>_<field> unless `through="name"`; with a
                                * through model, that model's table */
    /* many-to-many `through=Model` (Django's ManyToManyField(through=...)): the join is that model's table
     * and its two foreign keys; no join table is made for the field, which is read-only in the REST API. NULL
     * when the field has its own join table. */
    const char *through_model_name;
    const struct PdModel *through_model;
    const char *fk_name; /* foreign key, one-to-one: the constraint's name as given by fk_name="...";
                          * NULL when derived (pd_model_foreign_key_name gives it either way) */
    bool is_deferrable;  /* foreign key, one-to-one: DEFERRABLE INITIALLY DEFERRED (`deferrable`) */

    const char *comment;      /* comment="...": the column's COMMENT (Django's db_comment); NULL when none */
    const char *renamed_from; /* migration hint: this field was called that before */
    /* backfill=<literal>: the value the rows already in the table get when a migration adds the column or
     * makes it not null; never a default of the column. NULL when none. */
    const PdLiteral *backfill;
    /* generated(<expr>): a column computed by the database from other fields of the row, GENERATED ALWAYS AS
     * (<expr>) STORED (Django 5's GeneratedField with db_persist=True); read-only in the API. NULL when none.
     */
    const struct PdExpr *generated;
    PdSourcePos pos;
} PdField;

/*
 * A small boolean expression over a model's fields: check(ends > starts) and the like. Field references,
 * literals, comparisons, is [not] null, not, and, or; nothing else, so it is rendered to SQL from the tree
 * (identifiers quoted, literals typed by the field they meet), never pasted as text.
 */
typedef enum PdExprKind
{
    PD_EXPR_FIELD,       /* field: a field name as written (its column in SQL) */
    PD_EXPR_LITERAL,     /* literal: number, string, true, false or null */
    PD_EXPR_COMPARE,     /* left op right */
    PD_EXPR_IS_NULL,     /* left is null */
    PD_EXPR_IS_NOT_NULL, /* left is not null */
    PD_EXPR_NOT,         /* not left */
    PD_EXPR_AND,         /* left and right */
    PD_EXPR_OR,          /* left or right */
    /* Value expressions: only in generated(...) (see pd_model_parse_value_expr). */
    PD_EXPR_ARITH,  /* left arith right: arith is '+', '-', '*', '/', or '|' for || (text concatenation) */
    PD_EXPR_NEGATE, /* - left */
    PD_EXPR_CALL    /* function(args[0], ...): lower, upper, length, abs, round, coalesce */
} PdExprKind;

typedef struct PdExpr
{
    PdExprKind kind;
    const char *field;                /* PD_EXPR_FIELD */
    PdLiteral literal;                /* PD_EXPR_LITERAL */
    PdCheckOp op;                     /* PD_EXPR_COMPARE */
    char arith;                       /* PD_EXPR_ARITH */
    const char *function;             /* PD_EXPR_CALL, as written (lower case) */
    const struct PdExpr *const *args; /* PD_EXPR_CALL */
    size_t arg_count;
    const struct PdExpr *left;
    const struct PdExpr *right;
    PdSourcePos pos;
} PdExpr;

/* A model-level check(...) directive: a CHECK constraint of the table. */
typedef struct PdModelCheck
{
    const char *name; /* database name: name="..." or <table>_<columns>_check (pd_model_check_name) */
    const PdExpr *expr;
    bool is_named; /* name= was given (the canonical text writes only a given name) */
    PdSourcePos pos;
} PdModelCheck;

/* A model-level composite constraint or index: unique(a, b) or index(a, b). */
typedef struct PdIndex
{
    const char *name;       /* database name, derived unless given (see pd_model_index_name) */
    const char **fields;    /* field names, in order */
    const char **opclasses; /* index(...) only: per field its operator class ("varchar_pattern_ops") or NULL;
                             * the array itself is NULL when no field has one */
    const char **functions; /* per field: "lower" or "upper" applied to it (an expression index), or NULL; the
                             * array itself is NULL when no field has one */
    size_t field_count;
    bool is_unique;
    const PdExpr *where; /* `where <expr>`: a partial index (a unique one is an index, not a constraint) */
    PdSourcePos pos;
} PdIndex;

/* One ordering term: a field, descending when is_descending ("-published"). */
typedef struct PdOrdering
{
    const char *field;
    bool is_descending;
} PdOrdering;

/* Who may read or write a model's resource over REST: the model file's `access read=<who> write=<who>`. */
typedef enum PdAccessKind
{
    PD_ACCESS_ANYONE,        /* the default: every request, the anonymous role's included */
    PD_ACCESS_AUTHENTICATED, /* a request with a verified token */
    PD_ACCESS_NONE,          /* nobody (write=none: a read-only resource, 405 on writes) */
    PD_ACCESS_ROLES,         /* a verified token whose role is one of roles (`editor|admin`) */
} PdAccessKind;

typedef struct PdAccess
{
    PdAccessKind kind;
    const char **roles; /* PD_ACCESS_ROLES: the role names as written, in file order */
    size_t role_count;
} PdAccess;

typedef struct PdModel
{
    const char *name;     /* Book */
    const char *table;    /* book, unless `table "x"` */
    const char *resource; /* books: the REST path segment, unless `resource "x"` */
    PdField *fields;      /* the implicit id first (when no field is primary_key), then in file order */
    size_t field_count;
    PdIndex *indexes; /* composite unique and index entries, in file order */
    size_t index_count;
    PdModelCheck *checks; /* model-level check(...) directives, in file order */
    size_t check_count;
    PdOrdering *ordering;
    size_t ordering_count;
    const char *renamed_from;
    const char
        *comment; /* comment "...": the table's COMMENT (Django's Meta.db_table_comment); NULL when none */
    PdAccess read_access; /* REST permissions only: no schema, so a change of them alone migrates nothing */
    PdAccess write_access;
    PdSourcePos pos;
    /* primary_key(a, b): a composite primary key (Django 5.2's CompositePrimaryKey), its field names in the
     * declared order; NULL and 0 when the key is one field. No implicit id then; no field is_primary_key. */
    const char **key_fields;
    size_t key_field_count;
} PdModel;

typedef struct PdCatalog
{
    PdModel *models; /* in file order */
    size_t model_count;
} PdCatalog;

/*
 * Parses model-language text into a checked, resolved catalog allocated in
 * arena. file_name is used only in positions. On failure err says where:
 * message "file:line:col: what was found, what was expected" and
 * code PD_ERR_INVALID_INPUT; *catalog is left alone.
 */
bool pd_model_parse(PdArena *arena, const char *file_name, const char *text, PdCatalog **catalog,
                    PdError *err);

/* Reads and parses a file, or a folder: its *.pdm files in name order, read as one file (a model may refer
 * to a model of another file; names are unique across them; positions name each file). PD_ERR_IO when a
 * file cannot be read; PD_ERR_INVALID_INPUT for a folder without *.pdm files. */
bool pd_model_load_file(PdArena *arena, const char *path, PdCatalog **catalog, PdError *err);

/*
 * Writes the catalog in canonical model-language text: every derived name
 * explicit (table, resource, related names, index names), options in a fixed
 * order, so that pd_model_parse of the result gives an equal catalog and the
 * same catalog always gives the same bytes. Used as the state recorded in
 * migration files. *text is allocated in arena.
 */
bool pd_model_format(PdArena *arena, const PdCatalog *catalog, char **text, PdError *err);

/*
 * An input error at a place in a model file: PD_ERR_INVALID_INPUT with the
 * message "file:line:col: <formatted>" (the parser's and the planner's shape).
 * Returns false, so a failure is one line.
 */
bool pd_model_error_at(PdError *err, PdSourcePos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool pd_model_error_at_va(PdError *err, PdSourcePos pos, const char *fmt, va_list args);

/* Lookups; NULL when absent. */
const PdModel *pd_model_find(const PdCatalog *catalog, const char *name);
const PdField *pd_model_find_field(const PdModel *model, const char *name);
/* The primary key field (the implicit id or the one marked primary_key). NULL only for a model with a
 * composite key (primary_key(a, b)): code that may meet one goes through pd_model_key_count/_field. */
const PdField *pd_model_primary_key(const PdModel *model);
/* The number of fields of the model's primary key: 1, or the fields of primary_key(a, b). */
size_t pd_model_key_count(const PdModel *model);
/* Field i (0-based, declared order) of the model's primary key; for a one-field key, i 0 is
 * pd_model_primary_key. NULL when i is out of range. */
const PdField *pd_model_key_field(const PdModel *model, size_t i);
/* Whether field is one of the fields of the model's composite key (false for a one-field key). */
bool pd_model_is_key_part(const PdModel *model, const PdField *field);
/* Whether the field is a primary key the database numbers: the implicit id, or a primary key with
 * default=serial. Read-only in the REST API, as DRF's AutoField. */
bool pd_model_is_auto_key(const PdField *field);
/* Whether the database alone writes the field, so the REST API ignores it in input and marks it read-only:
 * an auto key, a generated field, or an auto_now / auto_now_add field (DRF's read-only
 * DateTimeField(auto_now=True)). */
bool pd_model_is_read_only(const PdField *field);

/* Whether a many-to-many field has a join table of its own (made and dropped with it): false for other
 * fields and for a many-to-many field through a model. */
bool pd_model_has_join_table(const PdField *field);

/* The type of a field's column (kind.h): its own kind and numbers, or for a foreign key or one-to-one
 * field the type of the target's primary key. False for many-to-many (no column) or an unresolved target. */
bool pd_model_column_type_of(const PdField *field, PdColumnType *out);
/* That type as PostgreSQL's format_type() spells it ("character varying(200)", "numeric(8,2)",
 * "timestamp with time zone", "bigint"): pd_kind_column_sql of pd_model_column_type_of. NULL for
 * many-to-many. Static or arena storage. */
const char *pd_model_column_type(PdArena *arena, const PdField *field);
/* The type as the model language writes it: "string(200)", "email(254)", "decimal(8,2)", "timestamptz",
 * "Author" for a foreign key or one-to-one, "Tag[]" for many-to-many. Static, field or arena storage;
 * NULL on arena exhaustion. */
const char *pd_model_type_text(PdArena *arena, const PdField *field);

/*
 * Database object names, derived deterministically and kept within
 * PostgreSQL's 63-byte limit (long names are cut and end in a short hash of
 * the full name, so two long names never collide). All allocated in arena.
 */
char *pd_model_constraint_name(PdArena *arena, const char *table, const char *column, const char *suffix);
/* Name of the FOREIGN KEY constraint of a foreign key or one-to-one field of model: its fk_name when given,
 * else <table>_<column>_fkey (kept within 63 bytes). NULL for other fields or on arena exhaustion. */
char *pd_model_foreign_key_name(PdArena *arena, const PdModel *model, const PdField *field);
/* Name of a model-level check(...) when none is given: <table>_<columns>_check, the distinct columns its
 * expression names in order, kept within 63 bytes. NULL on arena exhaustion. */
char *pd_model_check_name(PdArena *arena, const PdModel *model, const PdExpr *expr);
/* Name of a model-level composite index or unique constraint when none is given. */
char *pd_model_index_name(PdArena *arena, const PdModel *model, const PdIndex *index);
/* Name of a field's check number check_index (0-based, in file order): <table>_<column>_check for the
 * first, then _check1, _check2, ... as PostgreSQL names unnamed checks. choices(...) is one check named
 * pd_model_constraint_name(table, column, "choices"). */
char *pd_model_check_constraint_name(PdArena *arena, const char *table, const char *column,
                                     size_t check_index);
/* The index a field's search= makes, in the table given: <table>_<column>_trgm for search=trigram,
 * <table>_<column>_fts for search=fulltext (kept within 63 bytes); NULL for plain search, no search, or on
 * arena exhaustion. */
char *pd_model_search_index_name(PdArena *arena, const char *table, const char *column, const PdField *field);
/* "search" (plain), "trigram", "fulltext"; "" for PD_SEARCH_NONE. */
const char *pd_model_search_name(PdSearchKind search);
/* The PostgreSQL extension a field needs ("citext" for a citext field, "pg_trgm" for search=trigram), one
 * per call: index 0, then 1; NULL past the last. */
const char *pd_model_field_extension(const PdField *field, int index);

/* The two columns of a many-to-many join table: <source model snake>_id and <target model snake>_id, or
 * from_<snake>_id and to_<snake>_id when a model relates to itself. False on arena exhaustion. */
bool pd_model_through_columns(PdArena *arena, const PdModel *model, const PdField *field,
                              char **source_column, char **target_column);

/*
 * Whether value is valid for field: right literal kind for the type, in range
 * (integers, decimal digits), within max_length, well-formed dates, times,
 * durations, uuids, JSON text, base64 for binary, the email/url/slug rules,
 * one of the choices when the field has choices, null only when nullable.
 * The REST layer uses it on input. Errors: PD_ERR_INVALID_INPUT, message
 * "<what was found>, expected <what>" without a position. Thread-safe.
 */
bool pd_model_check_value(const PdField *field, const PdLiteral *value, PdError *err);

/*
 * Reads text (as given on a command line, without the model language's quotes) as a value of field's type:
 * a number for number fields (and a foreign key to a number key), true or false for bool, a number, true,
 * false or else a string holding JSON text for json, a string for every other type; then checks it as
 * pd_model_check_literal does a default. *out's text is allocated in arena. Errors: PD_ERR_INVALID_INPUT,
 * message "<what was found>, expected <what>" without a position; PD_ERR_NO_MEMORY.
 */
bool pd_model_literal_from_text(PdArena *arena, const PdField *field, const char *text, PdLiteral *out,
                                PdError *err);

/* snake_case of a CamelCase name ("BookReview" -> "book_review"), and a simple English plural. */
char *pd_model_snake_case(PdArena *arena, const char *name);
char *pd_model_plural(PdArena *arena, const char *word);

/* Names of kinds (pd_kind_info(kind)->name) and on_delete actions as written in the language ("string",
 * "set_null"). */
const char *pd_model_kind_name(PdFieldKind kind);
const char *pd_model_on_delete_name(PdOnDelete on_delete);

PD_API_END

#endif

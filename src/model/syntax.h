/*
 * syntax.h - what the parser hands the checker: the models as written, with
 * the positions of everything a later error may point at. The checker turns
 * this into the public PdCatalog (types resolved, defaults derived, the
 * implicit id added). Private to src/model.
 */
#ifndef PRODATA_MODEL_SYNTAX_H
#define PRODATA_MODEL_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/strbuf.h"
#include "prodata/model.h"

struct PdLexer;

/* Field options, in the canonical order the printer writes them. */
typedef enum PdOption
{
    PD_OPTION_PRIMARY_KEY,
    PD_OPTION_ONE_TO_ONE,
    PD_OPTION_NULL,
    PD_OPTION_UNIQUE,
    PD_OPTION_INDEX,
    PD_OPTION_NO_INDEX,
    PD_OPTION_SEARCH,
    PD_OPTION_DEFAULT,
    PD_OPTION_BACKFILL,
    PD_OPTION_AUTO_NOW_ADD,
    PD_OPTION_AUTO_NOW,
    PD_OPTION_GENERATED,
    PD_OPTION_CHECK,
    PD_OPTION_CHOICES,
    PD_OPTION_ON_DELETE,
    PD_OPTION_RELATED,
    PD_OPTION_FK_NAME,
    PD_OPTION_DEFERRABLE,
    PD_OPTION_THROUGH,
    PD_OPTION_COMMENT,
    PD_OPTION_RENAMED_FROM,
    PD_OPTION_COUNT
} PdOption;

/* The option's keyword ("on_delete"). */
const char *pd_model_option_name(PdOption option);

typedef struct PdFieldSyntax
{
    PdField field;         /* name, pos, options as written; kind and derived names set by the checker */
    const char *type_name; /* "string", "Author", as written */
    PdSourcePos type_pos;
    bool is_list; /* Author[] */
    long type_args[2];
    size_t type_arg_count;
    PdSourcePos type_args_pos;
    bool has_option[PD_OPTION_COUNT];
    PdSourcePos option_pos[PD_OPTION_COUNT]; /* first occurrence */
    PdSourcePos *choice_pos;                 /* one per choice */
    const char *on_delete_name;              /* as written, checked by the checker */
    const char *search_name;                 /* search=<word>: "trigram", "fulltext"; NULL for plain search */
    PdSourcePos search_config_pos;           /* search=fulltext(<config>): where the configuration is */
} PdFieldSyntax;

typedef struct PdIndexSyntax
{
    PdIndex index;            /* name NULL when not given */
    PdSourcePos *field_pos;   /* one per field */
    PdSourcePos *opclass_pos; /* one per field (line 0: no operator class); NULL when none has one */
    PdSourcePos name_pos;
} PdIndexSyntax;

typedef struct PdModelSyntax
{
    PdModel model; /* name, pos, table/resource/renamed_from as given (NULL when not), ordering */
    PdFieldSyntax *fields;
    size_t field_count;
    PdIndexSyntax *indexes;
    size_t index_count;
    PdSourcePos *ordering_pos;
    PdSourcePos table_pos;
    PdSourcePos resource_pos;
    PdSourcePos comment_pos;
    PdSourcePos renamed_from_pos;
    PdSourcePos access_pos;       /* the word "access"; line 0 when the model has none */
    PdSourcePos access_pos_of[2]; /* the value after read= [0] and write= [1]; line 0 when not given */
    PdSourcePos *role_pos_of[2];  /* one per role of read_access [0] and write_access [1] */
    PdSourcePos *check_name_pos;  /* one per model.checks: where name= was (line 0: not given) */
    bool is_abstract;             /* `abstract model Name {`: no table, its lines copied into each user */
    const char **bases;           /* `model Name extends A, B {`: the abstract models it extends */
    PdSourcePos *base_pos;        /* one per base */
    size_t base_count;
    PdSourcePos key_pos;          /* the word of primary_key(a, b); line 0 when the model has none */
    PdSourcePos *key_field_pos;   /* one per model.key_fields */
} PdModelSyntax;

typedef struct PdFileSyntax
{
    PdModelSyntax *models;
    size_t model_count;
} PdFileSyntax;

/*
 * expr.c: the expression of a model-level check(...), read from the lexer up to (not including) its ")".
 * Errors: PD_ERR_INVALID_INPUT with the position; *is_memory set when memory ran out.
 */
bool pd_model_parse_expr(PdArena *arena, struct PdLexer *lexer, const PdExpr **out, bool *is_memory,
                         PdError *err);
/* Whether expr means something in model (fields with columns, comparable types, valid literals); one
 * problem with its position. */
bool pd_model_check_expr(const PdModel *model, const PdExpr *expr, PdError *err);

/*
 * generated.c: the value expression of generated(...), read from the lexer up to (not including) its ")".
 * Errors: PD_ERR_INVALID_INPUT with the position; *is_memory set when memory ran out.
 */
bool pd_model_parse_value_expr(PdArena *arena, struct PdLexer *lexer, const PdExpr **out, bool *is_memory,
                               PdError *err);
/* Whether field->generated means something in model (fields with columns, none generated, types that meet,
 * known functions, a result of the field's type); one problem with its position. */
bool pd_model_check_generated(const PdModel *model, const PdField *field, PdError *err);

/* Parses text (syntax only) into *syntax, in arena. Errors: PD_ERR_INVALID_INPUT with the position. */
bool pd_model_parse_syntax(PdArena *arena, const char *file_name, const char *text, PdFileSyntax *syntax,
                           PdError *err);

/*
 * inherit.c: abstract models and `extends`. Copies into each model the fields, indexes, checks and ordering
 * of the abstract models it extends (inherited first, a field of the model itself replacing an inherited
 * one of its name, `%(class)s` in a given name replaced by the model's table), then leaves the abstract
 * models out of *syntax. Errors: PD_ERR_INVALID_INPUT with every problem found (unknown base, a base that
 * is not abstract, a cycle, a field inherited from two bases, an abstract model as a relation target, a
 * given name without %(class)s), or PD_ERR_NO_MEMORY alone.
 */
bool pd_model_inherit(PdArena *arena, PdFileSyntax *syntax, PdError *err);

/*
 * Checks and resolves a parsed file into a catalog. Errors: PD_ERR_INVALID_INPUT
 * with every problem found (err->problems, capped; the first is the message),
 * or PD_ERR_NO_MEMORY / PD_ERR_TOO_LARGE alone.
 */
bool pd_model_check_syntax(PdArena *arena, const PdFileSyntax *syntax, PdCatalog **catalog, PdError *err);

/*
 * Value checks shared by the checker and pd_model_check_value. check_choices:
 * the value must be one of the field's choices; check_format: the rules of
 * email, url and slug and the length limit apply (a check(...) literal only
 * needs the right type). The message says what was found and what was expected.
 */
bool pd_model_check_literal(const PdField *field, const PdLiteral *value, bool check_choices,
                            bool check_format, PdError *err);

/* True when name is [a-z_][a-z0-9_]* (field, related and column names). */
bool pd_model_is_lower_name(const char *name);
/* A literal as the canonical form writes it: 12, "a\"b", true, [1, 2]. */
void pd_model_append_literal(PdStrbuf *buf, const PdLiteral *literal);

/* Database identifiers given as strings (table, through, index names): [a-z_][a-z0-9_$]*, at most 63 bytes.
 */
bool pd_model_is_sql_name(const char *name);

/*
 * Checks one field and fills *out: kind, lengths, options, column, default
 * index, related name, join table. target is the model the type names (NULL
 * when the type is no model of the file), with its name and table set; model
 * is the one being built. Values (default, checks,
 * choices) are checked here unless the field is a relation, whose values
 * depend on the target's key: pd_model_check_field_values does those once
 * every model has its fields.
 */
bool pd_model_check_field(PdArena *arena, const PdModel *target, const PdModel *model,
                          const PdFieldSyntax *syntax, PdField *out, PdError *err);
bool pd_model_check_field_values(const PdFieldSyntax *syntax, const PdField *field, PdError *err);

/* Default join table of a many-to-many field: <table>_<field>, kept within 63 bytes. */
char *pd_model_through_table_name(PdArena *arena, const char *table, const char *field);

#endif

/*
 * build.h - private to src/query: what a PdQuery holds and how its parts
 * become SQL. Names from callers are resolved against the catalog into paths
 * (path.c), conditions are trees of lookups (lookup.c) rendered into SQL text
 * with numbered parameters only when a statement is assembled (statement.c),
 * so one query can give several statements (a page and its count) with the
 * parameters numbered for each.
 */
#ifndef PRODATA_QUERY_BUILD_H
#define PRODATA_QUERY_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/query.h"
#include "prodata/strbuf.h"

/* One step from a model to a related one. */
typedef enum PdHopKind
{
    PD_HOP_FORWARD,    /* foreign key or one-to-one of `from`: to.pk = from.column (to-one) */
    PD_HOP_REVERSE,    /* a foreign key or one-to-one of `to` pointing at `from`: to.column = from.pk */
    PD_HOP_M2M,        /* many-to-many field of `from`: through join table */
    PD_HOP_M2M_REVERSE /* many-to-many field of `to` pointing at `from` */
} PdHopKind;

typedef struct PdHop
{
    PdHopKind kind;
    const PdModel *from;
    const PdModel *to;
    const PdField *field;     /* the relation field (on `from` for FORWARD and M2M, on `to` otherwise) */
    const char *through_from; /* join table column pointing at `from` (M2M kinds) */
    const char *through_to;   /* join table column pointing at `to` */
    bool is_to_many;          /* REVERSE of a plain foreign key, M2M, M2M_REVERSE */
} PdHop;

/* A resolved path: hops, then the field compared (on the last hop's target, or the query's model). */
typedef struct PdPath
{
    const char *text; /* as given, for messages */
    PdHop *hops;
    size_t hop_count;
    const PdModel *model; /* where field lives */
    const PdField *field;
    bool is_to_many; /* some hop is to-many */
} PdPath;

typedef enum PdTransform
{
    PD_TRANSFORM_NONE,
    PD_TRANSFORM_YEAR,
    PD_TRANSFORM_MONTH,
    PD_TRANSFORM_DAY,
    PD_TRANSFORM_DATE,
    PD_TRANSFORM_LEN /* an array field's length (Django's ArrayField __len): 0 for an empty array */
} PdTransform;

typedef enum PdLookup
{
    PD_LOOKUP_EXACT,
    PD_LOOKUP_IEXACT,
    PD_LOOKUP_CONTAINS,
    PD_LOOKUP_ICONTAINS,
    PD_LOOKUP_STARTSWITH,
    PD_LOOKUP_ISTARTSWITH,
    PD_LOOKUP_ENDSWITH,
    PD_LOOKUP_IENDSWITH,
    PD_LOOKUP_IN,
    PD_LOOKUP_GT,
    PD_LOOKUP_GTE,
    PD_LOOKUP_LT,
    PD_LOOKUP_LTE,
    PD_LOOKUP_RANGE,
    PD_LOOKUP_ISNULL,
    PD_LOOKUP_REGEX,
    PD_LOOKUP_IREGEX,
    PD_LOOKUP_FULLTEXT, /* ?search= on a search=fulltext field: not a filter name (pd_query_leaf_fulltext) */
    PD_LOOKUP_CONTAINED_BY, /* array fields: column <@ values */
    PD_LOOKUP_OVERLAP,      /* array fields: column && values */
    PD_LOOKUP_COUNT_
} PdLookup;

typedef enum PdQKind
{
    PD_Q_LEAF,
    PD_Q_AND,
    PD_Q_OR,
    PD_Q_NOT
} PdQKind;

struct PdQ
{
    PdQKind kind;
    PdQ *left; /* AND, OR; NOT's operand */
    PdQ *right;
    /* leaf */
    PdPath path;
    PdTransform transform;
    PdLookup lookup;
    const char **values; /* parameter texts (patterns already built for the LIKE lookups); NULL = SQL null */
    size_t value_count;
    bool is_true;        /* isnull's value */
    bool is_array_value; /* an array field's exact, contains, contained_by or overlap: values are its elements
                          */
};

/* An embedded relation: a to-one object (select_related) or a to-many array (prefetch). */
typedef struct PdEmbed PdEmbed;
struct PdEmbed
{
    const char *name; /* the key in the object: the field's or the related name */
    PdHop hop;
    bool is_many;
    PdEmbed **children;
    size_t child_count;
};

/* One ordering term, resolved. */
typedef struct PdOrderTerm
{
    PdPath path; /* to-one hops only */
    bool is_descending;
} PdOrderTerm;

struct PdQuery
{
    PdArena *arena;
    const PdCatalog *catalog;
    const PdModel *model;
    PdQ *where; /* AND of filters and excludes; NULL: every row */
    PdOrderTerm *order;
    size_t order_count;
    bool is_ordered; /* order_by was called (else the model's ordering) */
    int64_t offset;
    int64_t limit;     /* < 0: none */
    const char **only; /* pd_query_only's names in order: fields, expanded reverse relations */
    size_t only_count; /* only NULL: every field, then the reverse relations expanded */
    PdEmbed **embeds;  /* top-level embeds, children nested */
    size_t embed_count;
    size_t embed_total; /* embeds at every depth, bounded by PD_QUERY_MAX_EMBEDS */
    const char **after; /* keyset values; NULL when none */
    size_t after_count;
    bool is_before;
    bool use_counter;
    bool without_keys; /* pd_query_page leaves first_key/last_key out (pd_query_page_keys) */
};

/* lookup.c: ?search= leaves on the model's own field: icontains term, and the full-text match of the whole
 * search text (the field must say search=fulltext). NULL on exhaustion. */
PdQ *pd_query_leaf_fulltext(PdQuery *query, const PdField *field, const char *text);

/* path.c */
/* Resolves names[0 .. count) from model: fields, relations, reverse relations ("pk" the primary key).
 * Stops at the first name that is no field when stop_at_unknown (the rest are transform and lookup):
 * *used says how many names were consumed. Errors name the bad part and what exists. */
bool pd_query_resolve_path(PdArena *arena, const PdCatalog *catalog, const PdModel *model, char **names,
                           size_t count, bool stop_at_unknown, size_t *used, PdPath *path, PdError *err);
/* Splits "a__b__c" into its names (arena). */
char **pd_query_split_path(PdArena *arena, const char *text, size_t *count);
/* The hop along relation `name` of model (a field or a related name); false when there is none. */
bool pd_query_find_hop(PdArena *arena, const PdCatalog *catalog, const PdModel *model, const char *name,
                       PdHop *hop);
/* "id, title, author, ...; related: reviews" for messages. */
const char *pd_query_field_list(PdArena *arena, const PdCatalog *catalog, const PdModel *model);
/* The field's kind, or its target key's for a foreign key or one-to-one. */
PdFieldKind pd_query_key_kind(const PdField *field);
/* The SQL type to cast a value of field to (its key's type for a relation): "numeric", "bigint". */
const char *pd_query_value_type(const PdField *field);

/* lookup.c */
const char *pd_query_lookup_name(PdLookup lookup);
/* Whether name is a lookup or a transform ("icontains", "year"). */
bool pd_query_is_lookup_word(const char *name);
PdQ *pd_query_leaf_search(PdQuery *query, const PdField *field, const char *term);
/* A value for field as exact would check it, or a date or time stamp as PostgreSQL writes it (a year past
 * 9999 or BC, infinity: a keyset position holds a row's values); *param the text to send. */
bool pd_query_check_value(PdArena *arena, const PdField *field, const char *text, const char **param,
                          PdError *err);

/* Statement text with numbered parameters. */
typedef struct PdSqlBuild
{
    PdQuery *query;
    PdStrbuf sql;
    const char **params;
    int param_count;
    int alias_count; /* for fresh aliases */
    PdError *err;
    bool failed;
} PdSqlBuild;

/* Appends "$n::type" for a new parameter. type NULL: untyped. */
void pd_query_param(PdSqlBuild *build, const char *value, const char *type);
/* A fresh alias "pd_a<n>" (arena). */
const char *pd_query_alias(PdSqlBuild *build);
/* Appends alias."column". */
void pd_query_column(PdStrbuf *sql, const char *alias, const char *column);
/* Appends the condition tree on the rows of `alias` (a boolean expression). */
void pd_query_render_condition(PdSqlBuild *build, const PdQ *q, const char *alias);
/* Appends "FROM <hop target> AS to_alias [JOIN ...] WHERE <link to from_alias>" pieces: the FROM
 * list and the link condition of one hop into two buffers. */
void pd_query_render_hop_from(PdStrbuf *sql, const PdHop *hop, const char *to_alias, const char *join_alias);
void pd_query_render_hop_link(PdStrbuf *sql, const PdHop *hop, const char *from_alias, const char *to_alias,
                              const char *join_alias);

/* order.c */
/* The ordering in force: order_by's or the model's, the primary key last. */
bool pd_query_effective_order(PdQuery *query, PdOrderTerm **terms, size_t *count, PdError *err);
/* Appends the LEFT JOINs the ordering's related paths need (into joins) and records each term's expression
 * (into exprs[i], arena text). */
bool pd_query_order_exprs(PdSqlBuild *build, const PdOrderTerm *terms, size_t count, const char *alias,
                          PdStrbuf *joins, const char ***exprs);
/* Appends " ORDER BY ..." (reversed: every direction flipped). */
void pd_query_render_order(PdSqlBuild *build, const PdOrderTerm *terms, const char *const *exprs,
                           size_t count, bool is_reversed);
/* Appends the keyset condition (pd_query_after's values) on the exprs. */
void pd_query_render_keyset(PdSqlBuild *build, const PdOrderTerm *terms, const char *const *exprs,
                            size_t count);
/* Appends LEFT JOINs for the to-one hops of path from alias; returns the alias holding the field. */
const char *pd_query_join_path(PdSqlBuild *build, const PdPath *path, const char *alias, PdStrbuf *joins);

/* embed.c */
/* Appends the object expression (json) for the query's model on alias, with its embeds; LEFT JOINs for
 * to-one embeds go to joins. */
void pd_query_render_object(PdSqlBuild *build, const char *alias, PdStrbuf *out, PdStrbuf *joins);
/* Appends the text columns of pd_query_fetch: fields by name, related "a__b". */
void pd_query_render_columns(PdSqlBuild *build, const char *alias, PdStrbuf *out, PdStrbuf *joins);

/* execute.c: the one call site of the database. */
bool pd_query_run(PdQuery *query, PdDb *db, const char *sql, const char *const *params, int param_count,
                  PdDbResult **result, PdError *err);

/* statement.c */
bool pd_query_build(PdQuery *query, PdQueryShape shape, PdCountMode count, PdSqlBuild *build, PdError *err);

#endif

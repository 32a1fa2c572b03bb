/*
 * values.h - private to src/query: what a PdValues holds, and the reading of
 * one field's input into the text of a statement parameter, shared by
 * values.c (input), validate.c (judging, DRF's messages) and the writers
 * (write.c, upsert.c, refusal.c); lookup.c reads a filter's uuid and time
 * by the same rules as a body's.
 */
#ifndef PRODATA_QUERY_VALUES_H
#define PRODATA_QUERY_VALUES_H

#include "prodata/object.h"
#include "prodata/strbuf.h"

/* What the client gave for one field, as JSON would carry it. */
typedef enum PdValueShape
{
    PD_VALUE_UNSET,
    PD_VALUE_NULL,
    PD_VALUE_STRING,
    PD_VALUE_NUMBER, /* text as written (a real as its shortest round-trip digits) */
    PD_VALUE_BOOL,   /* text "true" or "false" */
    PD_VALUE_JSON,   /* an array or object: text is its compact JSON */
    PD_VALUE_KEYS    /* a list of keys for a many-to-many field: items */
} PdValueShape;

typedef struct PdValueInput
{
    PdValueShape shape;
    const char *text;
    size_t length; /* text's bytes: more than strlen(text) when a JSON string holds a NUL ("a\u0000b") */
    const char
        *type_name; /* Python's name of the JSON type, for DRF's messages: str int float bool list dict */
    struct PdValueInput *items;
    size_t item_count;
} PdValueInput;

struct PdValues
{
    PdArena *arena;
    const PdModel *model;
    PdValueInput *inputs; /* one per model field, by index */
};

/* At most this many problems are kept for one field. */
#define PD_VALUE_MAX_PROBLEMS 4

typedef struct PdValueProblems
{
    size_t count;
    char messages[PD_VALUE_MAX_PROBLEMS][200];
    size_t elements[PD_VALUE_MAX_PROBLEMS]; /* an array field: 1 + the index of the element at fault; 0 when
                                             * the problem is the whole value's */
} PdValueProblems;

/* One field's value as the statement takes it. */
typedef struct PdValueParam
{
    bool is_set;
    const char *text; /* NULL: SQL NULL; a many-to-many field: an array literal "{1,2}" */
} PdValueParam;

/*
 * Reads one given field (input->shape not UNSET) into out->text, as DRF's
 * field would read it, then applies its validators (length, choices, ranges,
 * checks). False with the messages in problems. Text lives in arena.
 */
bool pd_query_value_read(PdArena *arena, const PdField *field, const PdValueInput *input, PdValueParam *out,
                         PdValueProblems *problems);

/*
 * Validates values (mode) and reads every given field: params[i] for field i,
 * allocated in arena. Problems go to err as pd_values_validate's.
 */
bool pd_query_values_params(PdArena *arena, const PdValues *values, PdValidateMode mode,
                            PdValueParam **params, PdError *err);

/*
 * A double as the shortest text that reads back as the same double, as Python's repr writes it ("0.1", not
 * "0.10000000000000001"; "1.0" for a whole number, "1e-07"); "null" for NaN and the infinities. In arena;
 * NULL when it is exhausted.
 */
const char *pd_query_real_text(PdArena *arena, double number);

/*
 * Whether text is a uuid as Python's uuid.UUID(hex=...) reads it, which DRF's UUIDField and Django's
 * look-ups use: "urn:" and "uuid:" taken out, braces stripped from both ends, hyphens dropped anywhere, 32
 * hexadecimal digits left, either case. *canonical is then PostgreSQL's form (lower case, 8-4-4-4-12), in
 * arena (NULL when it is exhausted); left alone otherwise.
 */
bool pd_query_uuid_text(PdArena *arena, const char *text, const char **canonical);

/*
 * text with a second's fraction of seven to nine digits cut to six, as Django's parse_time and parse_datetime
 * cut it to microseconds (PostgreSQL would round: 23:59:59.9999999 to the next day), in arena (NULL when it
 * is exhausted); text itself otherwise, for the model's rule to judge. For a time or a time stamp, in a body
 * or a filter.
 */
const char *pd_query_cut_fraction(PdArena *arena, const char *text);

/* The field's index in its model. */
size_t pd_query_field_index(const PdModel *model, const PdField *field);

/* Whether DRF would let the field be left out on create: nullable, a default, read-only (the implicit id, a
 * generated field), many-to-many. */
bool pd_query_field_is_optional(const PdField *field);

/* Whether a field is read-only for clients (pd_model_is_read_only: the implicit id, auto_now, generated). */
bool pd_query_field_is_read_only(const PdField *field);

/* A field check's message, as Django's Min/MaxValueValidator words it: "Ensure this value is greater than
 * or equal to 0." */
const char *pd_query_check_message(PdArena *arena, const PdCheck *check);

/*
 * A database refusal (23505, 23503, 23514, 23502) in err turned into DRF's
 * words as a problem with the API field name; other errors are left as they
 * are. params (may be NULL) are the values sent, for the messages that quote
 * them. Returns false.
 */
bool pd_query_refusal(PdArena *arena, const PdModel *model, const PdValueParam *params, PdError *err);

#endif

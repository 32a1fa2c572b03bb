/*
 * object.h - creating, changing and deleting model objects: the write side of
 * the query library. A PdValues holds what a client gave for one object of one
 * model (a JSON body read as Django REST Framework's ModelSerializer reads it,
 * or values set from C); pd_values_validate judges them with DRF's messages,
 * field by field, before anything reaches the database; each pd_object_*
 * call then sends ONE statement whose values are parameters only (names come
 * from the catalog, quoted) and whose result is the object's representation
 * built by PostgreSQL (pd_query_represent's JSON, never re-encoded). What the
 * database refuses (a unique key taken, a foreign key to nothing, a check, a
 * not null) comes back as the same per-field problems, in DRF's words, with
 * err->field the API field name ("author", not author_id).
 *
 * Every function takes the arena its results live in; nothing is kept between
 * calls, so a PdValues belongs to one thread and the functions may run on any
 * number of connections at once.
 */
#ifndef PRODATA_OBJECT_H
#define PRODATA_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/export.h"
#include "prodata/model.h"

PD_API_BEGIN

/* A query selecting the rows to change (query.h); declared here too so either header may come first. */
typedef struct PdQuery PdQuery;

/* Field -> value for one object of one model; lives in the arena given to pd_values_new. */
typedef struct PdValues PdValues;

/* An empty set of values for model; NULL when the arena is exhausted. */
PdValues *pd_values_new(PdArena *arena, const PdModel *model);
const PdModel *pd_values_model(const PdValues *values);
/* Whether a field was given (by name); false for an unknown name. */
bool pd_values_has(const PdValues *values, const char *field);

/*
 * Sets one field as a JSON value of that literal kind would (a PD_LITERAL_NUMBER
 * is a JSON number, a PD_LITERAL_STRING a JSON string, ...); the text is copied.
 * The value is judged by pd_values_validate, not here: the only error is an
 * unknown field (PD_ERR_INVALID_INPUT, err->field the name), or a many-to-many
 * field given one value.
 */
bool pd_values_set(PdValues *values, const char *field, PdLiteral value, PdError *err);
/* As a JSON string holding text ("12.50" for a decimal, "2024-05-01" for a date); NULL sets null. */
bool pd_values_set_text(PdValues *values, const char *field, const char *text, PdError *err);
/* A many-to-many field's keys (each a key of the target as pd_values_set takes it); count 0 clears it. An
 * array field's elements the same way (a PD_LITERAL_ARRAY given to pd_values_set is read so too). */
bool pd_values_set_keys(PdValues *values, const char *field, const PdLiteral *keys, size_t count,
                        PdError *err);

/*
 * Reads a JSON object (length bytes, need not end in NUL) as DRF's serializer
 * does: each member a field, read by its kind (a decimal from a string or a
 * number, an integer from a number or a digit string, a boolean from true/
 * false/"true"/"1"/..., json any value, a many-to-many field an array of
 * keys, strings trimmed of surrounding white space). Read-only fields (the
 * implicit id) are ignored, as DRF does; unknown names are refused (stricter
 * than DRF: a typo must not be silently dropped). Errors, all
 * PD_ERR_INVALID_INPUT, each also a problem (pd_error_add_problem, no file):
 *   malformed JSON: field "", "JSON parse error - <what> at line L column C";
 *   not an object: field "non_field_errors", "Invalid data. Expected a dictionary, but got list.";
 *   unknown names: field the name, "Unknown field \"x\". Fields: title, author, ...".
 * A value of the wrong shape is not an error here: pd_values_validate reports it
 * with every other problem of the object, in field order.
 */
bool pd_values_from_json(PdValues *values, const char *json, size_t length, PdError *err);

typedef enum PdValidateMode
{
    PD_VALIDATE_CREATE,  /* POST: required fields must be there */
    PD_VALIDATE_REPLACE, /* PUT: required fields must be there; fields not given keep their value (DRF) */
    PD_VALIDATE_PARTIAL  /* PATCH: only what is given */
} PdValidateMode;

/*
 * Judges every given field, and for CREATE and REPLACE the presence of the
 * required ones (not null, no default, not the implicit id, not many-to-many),
 * collecting every problem of every field in field order with DRF's messages
 * ("This field is required.", "This field may not be null.", "This field may
 * not be blank.", "Ensure this field has no more than 200 characters.", "Enter
 * a valid email address.", "Enter a valid URL.", "\"x\" is not a valid
 * choice.", "A valid integer is required.", "Ensure this value is less than or
 * equal to 32767.", "Ensure that there are no more than 8 digits in total.",
 * "Ensure that there are no more than 2 decimal places.", "Date has wrong
 * format. Use one of these formats instead: YYYY-MM-DD.", "Incorrect type.
 * Expected pk value, received str.", ...), field checks included (check(>= 0):
 * "Ensure this value is greater than or equal to 0."). Problems are added to
 * err (which may already hold some); false when there was any.
 */
bool pd_values_validate(const PdValues *values, PdValidateMode mode, PdError *err);

/*
 * The writes. Each validates first (CREATE, or the mode given), then sends ONE
 * statement; *json is the representation (pd_query_represent) of the object
 * or, for bulk and update, a JSON array of them, in the arena. Errors:
 * PD_ERR_INVALID_INPUT with per-field problems (validation, or a refusal of
 * the database in DRF's words: "book with this title already exists.", "The
 * fields title, author must make a unique set." under non_field_errors,
 * "Invalid pk \"9\" - object does not exist."), and pd_db_query's errors
 * otherwise (PD_ERR_DB_GONE, ...). A refused statement changes nothing.
 */
bool pd_object_create(PdArena *arena, PdDb *db, const PdValues *values, const char **json, PdError *err);
/* count objects of one model in one INSERT; *json the array in input order. At most 1,000 objects. */
bool pd_object_create_bulk(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                           const char **json, PdError *err);
/* count objects of one model in one INSERT, as pd_object_create_bulk, but jsons[i] is object i's own
 * representation (jsons has count slots): one statement serving several callers' creates. counted_oid
 * (NULL: none) is the model table's oid when the transaction lists it in prodata.client_counts (docs/query.md
 * "Counting by the client"): the statement then adds the rows it inserted to the table's row counter
 * itself, in the slot pg_backend_pid() % 64, exactly when the counters' insert trigger skipped them. */
bool pd_object_create_each(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                           const char *counted_oid, const char **jsons, PdError *err);
/* UPDATE of the rows `which` selects (its filters; slicing and ordering apply too); *json the array of the
 * changed objects ("[]" when none), *updated their number. Either output may be NULL. */
bool pd_object_update(PdArena *arena, PdDb *db, PdQuery *which, const PdValues *values, PdValidateMode mode,
                      const char **json, int64_t *updated, PdError *err);
/* DELETE of the rows `which` selects; *deleted their number (may be NULL). A row other rows protect
 * (on_delete=protect/restrict): PD_ERR_INVALID_INPUT under non_field_errors. */
bool pd_object_delete(PdArena *arena, PdDb *db, PdQuery *which, int64_t *deleted, PdError *err);
/*
 * Django's get_or_create: the object whose fields equal lookup's, or a new one
 * made of lookup and defaults (defaults win; defaults may be NULL). Race-safe:
 * a concurrent creator of the same object makes this call find it, never a
 * second row, when a unique constraint covers the lookup. Several matching:
 * PD_ERR_MULTIPLE. *created says which.
 */
bool pd_object_get_or_create(PdArena *arena, PdDb *db, const PdValues *lookup, const PdValues *defaults,
                             const char **json, bool *created, PdError *err);
/*
 * Django's update_or_create as ONE upsert: INSERT ... ON CONFLICT
 * (conflict_fields) DO UPDATE SET the other given fields ... RETURNING; the
 * conflict fields must be given and be a unique field or a unique(...) set of
 * the model (else PD_ERR_INVALID_INPUT). *created is true for an insert.
 */
bool pd_object_update_or_create(PdArena *arena, PdDb *db, const PdValues *values,
                                const char *const *conflict_fields, size_t conflict_count, const char **json,
                                bool *created, PdError *err);

/* What an upsert wrote: the rows' JSON array in input order, their number, how many of them existed. */
typedef struct PdUpsertResult
{
    const char *json;
    size_t written;
    size_t updated;
} PdUpsertResult;

/*
 * PostgREST's upsert (?on_conflict=) of count objects of one model in ONE
 * statement: INSERT ... VALUES (...), (...) ON CONFLICT (conflict_fields) DO
 * UPDATE SET every given field but those = EXCLUDED's (a merge), or DO
 * NOTHING when is_ignoring. The conflict fields must be a unique field, the
 * primary key or a unique(...) set of the model; every object gives each of
 * them a value (not null: null identifies no row) and all objects give the
 * same fields (PostgREST's rule: a field one object leaves out would be reset
 * in another's row). A many-to-many field given replaces the join rows of
 * each row written, in the same statement. result->json is the array of the
 * rows written, in input order (an object DO NOTHING skipped is absent; two
 * objects of one key under DO NOTHING: the first's place), in the arena. At
 * most 1,000 objects. Errors: PD_ERR_INVALID_INPUT for the above, validation
 * (CREATE), two objects with the same key under a merge (PostgreSQL's 21000,
 * under non_field_errors) and the database's refusals as pd_object_create's;
 * pd_db_query's errors otherwise.
 */
bool pd_object_upsert_bulk(PdArena *arena, PdDb *db, const PdValues *const *objects, size_t count,
                           const char *const *conflict_fields, size_t conflict_count, bool is_ignoring,
                           PdUpsertResult *result, PdError *err);

PD_API_END

#endif

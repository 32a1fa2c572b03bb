/*
 * write.h - private to src/query: the statement the writers build (SQL text
 * and its parameters, numbered as appended) and the pieces write.c,
 * upsert.c and write_query.c share: parameters with their casts, the
 * many-to-many CTEs and the representation of the rows a CTE returned.
 */
#ifndef PRODATA_QUERY_WRITE_H
#define PRODATA_QUERY_WRITE_H

#include "values.h"

typedef struct PdWriteSql
{
    PdArena *arena;
    PdStrbuf sql;
    const char **params;
    size_t param_count;
    size_t param_capacity;
} PdWriteSql;

/* Keys given to a many-to-many field, per field index: the SQL of a CTE-free expression giving the
 * representation (a JSON array), or NULL to read the join table. */
typedef struct PdWriteKeys
{
    const char **expressions;
} PdWriteKeys;

void pd_query_write_init(PdWriteSql *stmt, PdArena *arena);
/* Adds a parameter (NULL: SQL NULL) and returns its number ($n). 0 when memory ran out. */
int pd_query_write_param(PdWriteSql *stmt, const char *text);
/* Appends "$n::type" for a value of field (binary: decode($n, 'base64')). */
void pd_query_write_value(PdWriteSql *stmt, const PdField *field, const char *text);
/* Appends "$n::type[]" for a many-to-many field's key array literal. */
void pd_query_write_keys(PdWriteSql *stmt, const PdField *field, const char *array);
/* The base type of the column holding field's values (a key's type for relations): "bigint". */
const char *pd_query_write_type(const PdField *field);

/*
 * Appends, for every many-to-many field that params sets, a CTE that makes
 * the join rows of the rows in CTE `rows` equal to the keys: ", m_<i> AS
 * (DELETE ...), n_<i> AS (INSERT ...)" (the delete only when is_replacing), and
 * fills keys->expressions with the representation of those keys.
 */
void pd_query_write_m2m(PdWriteSql *stmt, const PdModel *model, const PdValueParam *params, const char *rows,
                        bool is_replacing, PdWriteKeys *keys);

/* Appends the JSON object of the row `alias` (a CTE of the model's table rows). */
bool pd_query_write_represent(PdWriteSql *stmt, const PdModel *model, const char *alias,
                              const PdWriteKeys *keys, PdError *err);

/* Runs the statement; a refusal of the database in DRF's words (refusal.c). */
bool pd_query_write_run(PdArena *arena, PdDb *db, PdWriteSql *stmt, const PdModel *model,
                        const PdValueParam *params, PdDbResult **result, PdError *err);

#endif

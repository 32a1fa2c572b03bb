/*
 * error.h - errors as values. A function that can fail returns bool and takes
 * a PdError * last; on failure it fills the error and returns false, leaving
 * its outputs alone. Callers that know more add context on the way up; only
 * the top (the CLI's main, later the HTTP layer) prints or maps an error.
 * Buffers are fixed so an error can be reported when memory is exhausted.
 */
#ifndef PRODATA_ERROR_H
#define PRODATA_ERROR_H

#include <stdbool.h>

#include "prodata/export.h"

PD_API_BEGIN

/*
 * Codes are few and stable; each has one exit code and one HTTP status in
 * the table in error.c (pd_error_exit_code, pd_error_http_status).
 */
typedef enum PdErrorCode
{
    PD_OK = 0,
    PD_ERR_USAGE,         /* bad command line: exit 2 */
    PD_ERR_INVALID_INPUT, /* bad model file, migration file or value: exit 2, HTTP 400 */
    PD_ERR_NOT_FOUND,     /* a named thing does not exist: exit 2, HTTP 404 */
    PD_ERR_REFUSED,       /* a safe refusal: destructive or irreversible change, edited migration: exit 1 */
    PD_ERR_DRIFT,         /* the database differs from what the migrations produce: exit 3 */
    PD_ERR_DB_CONNECT,    /* could not connect to PostgreSQL: exit 1, HTTP 503 */
    PD_ERR_DB_QUERY,      /* PostgreSQL answered with an error (sqlstate set): exit 1 */
    PD_ERR_LOCK_TIMEOUT,  /* a lock was not granted within its bound: exit 1, HTTP 503 */
    PD_ERR_IO,            /* a file could not be read or written: exit 1 */
    PD_ERR_NO_MEMORY,     /* allocation failed: exit 1, HTTP 500 */
    PD_ERR_TOO_LARGE,     /* an arena's byte budget was exhausted: exit 1, HTTP 413 */
    PD_ERR_INTERNAL,      /* our own bug: exit 1, HTTP 500 */
} PdErrorCode;

typedef struct PdError
{
    PdErrorCode code;
    char sqlstate[6];  /* set when PostgreSQL answered with an error */
    char message[256]; /* short, lower case, no final period */
    char detail[512];  /* full sentences; may name the failing value */
    char hint[256];    /* what to do about it, when we know */
    char context[512]; /* innermost first, "; " between entries */
} PdError;

/* Sets code and message; clears the other parts. Always returns false. */
bool pd_error_set(PdError *err, PdErrorCode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets the detail (full sentences). Returns false. */
bool pd_error_detail(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the hint. Returns false. */
bool pd_error_hint(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one context entry ("while applying migration 0003_x"). Returns false. */
bool pd_error_context(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears an error to PD_OK. */
void pd_error_clear(PdError *err);

/* Stable lower-case name of a code ("invalid input"). Never NULL. */
const char *pd_error_code_name(PdErrorCode code);

/* Process exit code for a code: 0, 1 runtime, 2 usage/input, 3 drift. */
int pd_error_exit_code(PdErrorCode code);

/* HTTP status for a code (400, 404, 409, 413, 500, 503). */
int pd_error_http_status(PdErrorCode code);

PD_API_END

#endif

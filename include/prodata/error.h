/*
 * error.h - errors as values. A function that can fail returns bool and takes
 * a PdError * last; on failure it fills the error and returns false, leaving
 * its outputs alone. Callers that know more add context on the way up; only
 * the top (the CLI's main, later the HTTP layer and the keeper loop) prints or
 * maps an error. Besides text, an error carries structure a program can act
 * on without parsing: the source position and field at fault, the raise site
 * (pd_error_set is a macro recording __FILE__, __LINE__, __func__, as
 * PostgreSQL's ereport does), whether trying again may succeed, and, for
 * input errors, every problem found up to a cap (collect, then report).
 * Buffers are fixed so an error can be reported when memory is exhausted; a
 * text too long for its buffer is cut between two UTF-8 characters.
 * A PdError belongs to one thread; the functions keep no state of their own.
 */
#ifndef PRODATA_ERROR_H
#define PRODATA_ERROR_H

#include <stdbool.h>
#include <stddef.h>

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
    PD_ERR_DB_GONE,       /* the server went away: connection lost, admin shutdown, crash, cannot connect now
                             (57P01-57P03), or a read-only transaction (25006: a demoted primary).
                             exit 1, HTTP 503; retryable (the pool and the keeper tell it from a query error) */
    PD_ERR_MULTIPLE,      /* one object was asked for and several match (Django's MultipleObjectsReturned):
                             exit 1, HTTP 409 */
    PD_ERR_UNAUTHORIZED,  /* no credentials, or credentials that do not verify (forged, expired): exit 1,
                             HTTP 401 */
    PD_ERR_FORBIDDEN,     /* verified credentials that do not allow the action (a permission, a GRANT):
                             exit 1, HTTP 403 */
    PD_ERR_RATE_LIMITED,  /* too many requests for a role or client address: exit 1, HTTP 429; retryable */
    PD_ERR_ROLLED_BACK,   /* a statement of a group commit (pd_db_mux_new_group) was rolled back for another
                             statement's error: nothing of it was written; run it again alone. HTTP 503 */
    PD_ERR_DCS_UNKNOWN,   /* etcd gave no answer to trust (timeout, connection failure, 5xx, garbage):
                             whether a write took effect is unknown. exit 4 (neither success nor
                             failure), HTTP 503; retryable */
} PdErrorCode;

/* At most this many input problems are kept; more are only counted (problems_omitted). */
#define PD_ERROR_MAX_PROBLEMS 16

/* A place in an input file; line 0 means none. */
typedef struct PdErrorPos
{
    char file[256];
    int line;   /* 1-based */
    int column; /* 1-based; 0 when only the line is known */
} PdErrorPos;

/* One input problem, as collected by pd_error_add_problem. */
typedef struct PdProblem
{
    PdErrorPos pos;
    char field[64];    /* "" when none */
    char message[200]; /* short, lower case, no final period; without the position */
} PdProblem;

typedef struct PdError
{
    PdErrorCode code;
    char sqlstate[6];    /* set when PostgreSQL answered with an error */
    char message[256];   /* short, lower case, no final period */
    char detail[512];    /* full sentences; may name the failing value */
    char hint[256];      /* what to do about it, when we know */
    char context[512];   /* innermost first, "; " between entries */
    bool is_retryable;   /* trying again may succeed (40001, 40P01, lock timeout, server went away) */
    char field[64];      /* the field, column, setting or parameter at fault; "" when none */
    char constraint[64]; /* the database constraint at fault; "" when none */
    PdErrorPos pos;      /* where in an input file; pos.line 0 when none */
    /* Where the error was raised (string literals from the pd_error_set macro; NULL when unknown). */
    const char *raise_file;
    int raise_line;
    const char *raise_function;
    /*
     * Input problems, collect-then-report (as Django's system checks):
     * problems[0 .. problem_count) in the order found, problems[0] being the
     * same problem as message/pos/field. problem_count is 0 for an error
     * raised without pd_error_add_problem and at most PD_ERROR_MAX_PROBLEMS;
     * problems found past the cap are counted in problems_omitted.
     */
    size_t problem_count;
    size_t problems_omitted;
    PdProblem problems[PD_ERROR_MAX_PROBLEMS];
} PdError;

/*
 * Sets code and message and records the raise site; clears every other part.
 * is_retryable starts true for PD_ERR_LOCK_TIMEOUT, PD_ERR_DB_GONE, PD_ERR_RATE_LIMITED,
 * PD_ERR_ROLLED_BACK and PD_ERR_DCS_UNKNOWN, false otherwise. Always returns false. Use the macro; the _at
 * function is for helpers that pass on their own caller's site. err may be NULL (a no-op).
 */
#define pd_error_set(err, code, ...) pd_error_set_at((err), __FILE__, __LINE__, __func__, (code), __VA_ARGS__)
bool pd_error_set_at(PdError *err, const char *file, int line, const char *function, PdErrorCode code,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Sets the detail (full sentences). Returns false. */
bool pd_error_detail(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the hint. Returns false. */
bool pd_error_hint(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one context entry ("while applying migration 0003_x"); dropped when the context is full. Returns
 * false. */
bool pd_error_context(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the input position (file may be NULL: ""; line 0: none). Returns false. */
bool pd_error_position(PdError *err, const char *file, int line, int column);

/* Sets the field, column, setting or parameter at fault. Returns false. */
bool pd_error_field(PdError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the database constraint at fault. Returns false. */
bool pd_error_constraint(PdError *err, const char *name);

/*
 * Adds one input problem (collect-then-report). When err is still PD_OK the
 * first problem also sets code PD_ERR_INVALID_INPUT, pos, field, the raise
 * site and message ("file:line:col: " and the problem's text, so the message
 * alone still says where; problems[i].message holds the text alone). When err
 * already holds an error that has no problem list
 * yet, that error becomes problems[0] first. Past PD_ERROR_MAX_PROBLEMS only
 * problems_omitted grows. file and field may be NULL. Returns false. A macro,
 * so the raise site of the first problem is recorded.
 */
#define pd_error_add_problem(err, file, line, column, field, ...)                                            \
    pd_error_add_problem_at((err), __FILE__, __LINE__, __func__, (file), (line), (column), (field),          \
                            __VA_ARGS__)
bool pd_error_add_problem_at(PdError *err, const char *raise_file, int raise_line, const char *raise_function,
                             const char *file, int line, int column, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

/*
 * Writes "file:line:column" ("file:line" when column is 0; "input" for an
 * empty file) into buf, or "" when pos->line is 0. Returns the length it
 * needed, as snprintf does.
 */
size_t pd_error_format_position(const PdErrorPos *pos, char *buf, size_t size);

/* Whether trying the same thing again may succeed: is_retryable, lock timeout or server gone. */
bool pd_error_is_retryable(const PdError *err);

/* Clears an error to PD_OK. */
void pd_error_clear(PdError *err);
/*
 * Makes err an empty PD_OK error as = {0} does, for every pd_error_ function and reader, without writing its
 * whole size (over 10 KB, most of it the problems' room): its scalars, and each text empty, are set; the
 * rest is left as it was and never read. For errors declared on a hot path (a server's request).
 */
void pd_error_init(PdError *err);

/* Stable lower-case name of a code ("invalid input"). Never NULL. */
const char *pd_error_code_name(PdErrorCode code);

/* Process exit code for a code: 0, 1 runtime, 2 usage/input, 3 drift, 4 outcome unknown (etcd). */
int pd_error_exit_code(PdErrorCode code);

/* HTTP status for a code (400, 404, 409, 413, 500, 503). */
int pd_error_http_status(PdErrorCode code);

PD_API_END

#endif

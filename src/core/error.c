/*
 * error.c - filling PdError values and the one table that maps each code to
 * an exit status and an HTTP status. Nothing here prints: the top of each
 * program decides how an error is shown. Every text part is truncated to its
 * fixed buffer, never overflowed, so an error can be filled when memory is
 * gone, and a cut never splits a UTF-8 character (the HTTP layer puts these
 * texts in JSON, whose encoders refuse broken UTF-8); the problem list keeps
 * the first PD_ERROR_MAX_PROBLEMS and counts the rest, so a file with
 * thousands of mistakes still gives a bounded error.
 */
#include "prodata/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

typedef struct ErrorCodeInfo
{
    PdErrorCode code;
    const char *name;
    int exit_code;
    int http_status;
} ErrorCodeInfo;

static const ErrorCodeInfo error_codes[] = {
    {PD_OK, "ok", 0, 200},
    {PD_ERR_USAGE, "usage", 2, 400},
    {PD_ERR_INVALID_INPUT, "invalid input", 2, 400},
    {PD_ERR_NOT_FOUND, "not found", 2, 404},
    {PD_ERR_REFUSED, "refused", 1, 409},
    {PD_ERR_DRIFT, "drift", 3, 409},
    {PD_ERR_DB_CONNECT, "database connection", 1, 503},
    {PD_ERR_DB_QUERY, "database query", 1, 500},
    {PD_ERR_LOCK_TIMEOUT, "lock timeout", 1, 503},
    {PD_ERR_IO, "file", 1, 500},
    {PD_ERR_NO_MEMORY, "out of memory", 1, 500},
    {PD_ERR_TOO_LARGE, "too large", 1, 413},
    {PD_ERR_INTERNAL, "internal", 1, 500},
    {PD_ERR_DB_GONE, "database gone", 1, 503},
    {PD_ERR_MULTIPLE, "multiple objects", 1, 409},
    {PD_ERR_UNAUTHORIZED, "unauthorized", 1, 401},
    {PD_ERR_FORBIDDEN, "forbidden", 1, 403},
    {PD_ERR_RATE_LIMITED, "rate limited", 1, 429},
    {PD_ERR_ROLLED_BACK, "rolled back", 1, 503},
    {PD_ERR_DCS_UNKNOWN, "dcs unknown", 4, 503},
};

_Static_assert(sizeof(error_codes) / sizeof(error_codes[0]) == PD_ERR_DCS_UNKNOWN + 1, "one row per code");

static const ErrorCodeInfo *
find_code(PdErrorCode code)
{
    for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
        if (error_codes[i].code == code)
            return &error_codes[i];
    return &error_codes[PD_ERR_INTERNAL]; /* the table is in enum order: an unknown code is our bug */
}

/* After a write that needed `needed` bytes into size: a cut ends between characters. */
static void
trim_cut_character(char *text, size_t size, int needed)
{
    if (size > 0 && needed >= 0 && (size_t)needed >= size)
        text[pd_core_utf8_whole(text, strlen(text))] = '\0';
}

static void
format_text(char *target, size_t size, const char *fmt, va_list args)
{
    trim_cut_character(target, size, vsnprintf(target, size, fmt, args));
}

static void
copy_text(char *target, size_t size, const char *text)
{
    trim_cut_character(target, size, snprintf(target, size, "%s", text != NULL ? text : ""));
}

static bool
is_retryable_code(PdErrorCode code)
{
    return code == PD_ERR_LOCK_TIMEOUT || code == PD_ERR_DB_GONE || code == PD_ERR_RATE_LIMITED ||
           code == PD_ERR_ROLLED_BACK || code == PD_ERR_DCS_UNKNOWN;
}

static void
set_va(PdError *err, const char *file, int line, const char *function, PdErrorCode code, const char *fmt,
       va_list args)
{
    memset(err, 0, sizeof(*err));
    err->code = code;
    err->is_retryable = is_retryable_code(code);
    err->raise_file = file;
    err->raise_line = line;
    err->raise_function = function;
    format_text(err->message, sizeof(err->message), fmt, args);
}

bool
pd_error_set_at(PdError *err, const char *file, int line, const char *function, PdErrorCode code,
                const char *fmt, ...)
{
    if (err == NULL)
        return false;
    va_list args;
    va_start(args, fmt);
    set_va(err, file, line, function, code, fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_detail(PdError *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    va_list args;
    va_start(args, fmt);
    format_text(err->detail, sizeof(err->detail), fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_hint(PdError *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    va_list args;
    va_start(args, fmt);
    format_text(err->hint, sizeof(err->hint), fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_context(PdError *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    size_t used = strlen(err->context);
    size_t separator = used > 0 ? 2 : 0;
    if (used + separator + 1 >= sizeof(err->context))
        return false; /* full: an entry is dropped, never glued on without its separator */
    memcpy(err->context + used, "; ", separator);
    used += separator;
    va_list args;
    va_start(args, fmt);
    format_text(err->context + used, sizeof(err->context) - used, fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_position(PdError *err, const char *file, int line, int column)
{
    if (err == NULL)
        return false;
    copy_text(err->pos.file, sizeof(err->pos.file), file);
    err->pos.line = line;
    err->pos.column = column;
    return false;
}

bool
pd_error_field(PdError *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    va_list args;
    va_start(args, fmt);
    format_text(err->field, sizeof(err->field), fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_constraint(PdError *err, const char *name)
{
    if (err != NULL)
        copy_text(err->constraint, sizeof(err->constraint), name);
    return false;
}

static void
fill_problem(PdProblem *problem, const PdErrorPos *pos, const char *field, const char *message)
{
    problem->pos = *pos;
    copy_text(problem->field, sizeof(problem->field), field);
    copy_text(problem->message, sizeof(problem->message), message);
}

/* Appends one problem to the list, or counts it when the list is full. */
static void
push_problem(PdError *err, const PdErrorPos *pos, const char *field, const char *message)
{
    if (err->problem_count >= PD_ERROR_MAX_PROBLEMS)
    {
        err->problems_omitted++;
        return;
    }
    fill_problem(&err->problems[err->problem_count++], pos, field, message);
}

bool
pd_error_add_problem_at(PdError *err, const char *raise_file, int raise_line, const char *raise_function,
                        const char *file, int line, int column, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    char message[sizeof(err->problems[0].message)];
    va_list args;
    va_start(args, fmt);
    format_text(message, sizeof(message), fmt, args);
    va_end(args);
    PdErrorPos pos = {{0}, line, column};
    copy_text(pos.file, sizeof(pos.file), file);
    if (err->code == PD_OK)
    {
        /* The message alone reads as before: the position first, as every input error says where. */
        char where[sizeof(pos.file) + 32];
        pd_error_format_position(&pos, where, sizeof(where));
        pd_error_set_at(err, raise_file, raise_line, raise_function, PD_ERR_INVALID_INPUT, "%s%s%s", where,
                        where[0] != '\0' ? ": " : "", message);
        err->pos = pos;
        copy_text(err->field, sizeof(err->field), field);
    }
    else if (err->problem_count == 0)
        push_problem(err, &err->pos, err->field, err->message); /* the error already raised comes first */
    push_problem(err, &pos, field, message);
    return false;
}

size_t
pd_error_format_position(const PdErrorPos *pos, char *buf, size_t size)
{
    if (size > 0)
        buf[0] = '\0';
    if (pos->line <= 0)
        return 0;
    const char *file = pos->file[0] != '\0' ? pos->file : "input";
    int length = pos->column > 0 ? snprintf(buf, size, "%s:%d:%d", file, pos->line, pos->column)
                                 : snprintf(buf, size, "%s:%d", file, pos->line);
    return length > 0 ? (size_t)length : 0;
}

bool
pd_error_is_retryable(const PdError *err)
{
    return err != NULL && (err->is_retryable || is_retryable_code(err->code));
}

void
pd_error_clear(PdError *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

void
pd_error_init(PdError *err)
{
    if (err == NULL)
        return;
    err->code = PD_OK;
    err->sqlstate[0] = err->message[0] = err->detail[0] = err->hint[0] = err->context[0] = '\0';
    err->is_retryable = false;
    err->field[0] = err->constraint[0] = '\0';
    err->pos.file[0] = '\0';
    err->pos.line = err->pos.column = 0;
    err->raise_file = NULL;
    err->raise_line = 0;
    err->raise_function = NULL;
    err->problem_count = 0;
    err->problems_omitted = 0;
}

const char *
pd_error_code_name(PdErrorCode code)
{
    return find_code(code)->name;
}

int
pd_error_exit_code(PdErrorCode code)
{
    return find_code(code)->exit_code;
}

int
pd_error_http_status(PdErrorCode code)
{
    return find_code(code)->http_status;
}

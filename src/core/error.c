/*
 * error.c - filling PdError values and the one table that maps each code to
 * an exit status and an HTTP status. Nothing here prints: the top of each
 * program decides how an error is shown.
 */
#include "prodata/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
};

static const ErrorCodeInfo *
find_code(PdErrorCode code)
{
    for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
        if (error_codes[i].code == code)
            return &error_codes[i];
    return &error_codes[sizeof(error_codes) / sizeof(error_codes[0]) - 1];
}

bool
pd_error_set(PdError *err, PdErrorCode code, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    memset(err, 0, sizeof(*err));
    err->code = code;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, args);
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
    vsnprintf(err->detail, sizeof(err->detail), fmt, args);
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
    vsnprintf(err->hint, sizeof(err->hint), fmt, args);
    va_end(args);
    return false;
}

bool
pd_error_context(PdError *err, const char *fmt, ...)
{
    if (err == NULL)
        return false;
    size_t used = strlen(err->context);
    if (used > 0 && used + 2 < sizeof(err->context))
    {
        memcpy(err->context + used, "; ", 3);
        used += 2;
    }
    if (used + 1 < sizeof(err->context))
    {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->context + used, sizeof(err->context) - used, fmt, args);
        va_end(args);
    }
    return false;
}

void
pd_error_clear(PdError *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
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

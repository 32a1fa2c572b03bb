/*
 * log.h - the library's one way to say something that is not an error:
 * progress, notices passed through from PostgreSQL, retries, state changes.
 * A message has a level and key=value fields. The program installs one
 * handler (pd_log_set_handler) that decides where lines go and how they look;
 * until it does, the library is silent, and it never writes anywhere itself.
 * An error is logged once, where it is handled, never both logged and
 * returned. pd_log_format gives handlers the standard key=value line.
 * Thread-safe: set the handler once at start; pd_log and pd_logf may then be
 * called from any thread, and the handler must cope with being called so.
 */
#ifndef PRODATA_LOG_H
#define PRODATA_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/export.h"

PD_API_BEGIN

typedef enum PdLogLevel
{
    PD_LOG_DEBUG,
    PD_LOG_INFO,
    PD_LOG_NOTICE,
    PD_LOG_WARNING,
    PD_LOG_ERROR,
} PdLogLevel;

/* One key=value pair; both strings are borrowed for the duration of the call. value NULL reads as "". */
typedef struct PdLogField
{
    const char *key;
    const char *value;
} PdLogField;

/* Receives every message at or above the minimum level; message and fields live only during the call. */
typedef void (*PdLogHandler)(PdLogLevel level, const char *message, const PdLogField *fields,
                             size_t field_count, void *data);

/*
 * Installs the handler (NULL: silent, the default) with its data and the
 * least level it wants. Meant to be called once at start, before threads log;
 * calling it again is safe, but a thread already inside pd_log may still use
 * the previous handler.
 */
void pd_log_set_handler(PdLogHandler handler, void *data, PdLogLevel min_level);

/* Passes one message to the handler when one is installed and level is at or above its minimum. */
void pd_log(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count);

/* pd_log without fields, the message formatted by printf rules (cut to 1,023 bytes, between characters). */
void pd_logf(PdLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether a message at level would reach a handler: test it before costly formatting. */
bool pd_log_enabled(PdLogLevel level);

/* "debug", "info", "notice", "warning", "error"; "unknown" for anything else. */
const char *pd_log_level_name(PdLogLevel level);

/*
 * Formats `level=info msg="applied migration" name=0003_books` into buf: the
 * level, the message, then each field. A value (or the message) is written
 * bare unless it is empty or holds a space, a quote, '=' or a control
 * character; then it is put in double quotes with \" \\ \n \r \t and \xHH
 * escapes. Key characters other than letters, digits, '_', '-' and '.' become
 * '_'. Always NUL-terminates when size > 0 (a cut line ends between UTF-8
 * characters); returns the length the whole line needs, as snprintf does, so
 * a result >= size means it was cut.
 */
size_t pd_log_format(char *buf, size_t size, PdLogLevel level, const char *message, const PdLogField *fields,
                     size_t field_count);

PD_API_END

#endif

/*
 * log.c - levels, fields and the one handler the program installs. The
 * library only ever calls that handler; with none installed (the default) a
 * message costs one atomic load and goes nowhere. The handler and its data
 * are read under a mutex so a message never sees the handler of one call
 * with the data of another; the minimum level is an atomic so pd_log_enabled
 * stays cheap on hot paths. pd_log_format writes the key=value line handlers
 * share; it writes into the caller's buffer and nowhere else. A line or
 * message cut to its buffer ends before a UTF-8 character the cut would
 * split, so a handler can pass it to anything that wants valid UTF-8.
 */
#include "prodata/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* A minimum above every level: nothing is enabled. */
#define LOG_SILENT (PD_LOG_ERROR + 1)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static PdLogHandler log_handler;
static void *log_data;
static atomic_int log_min_level = LOG_SILENT;

void
pd_log_set_handler(PdLogHandler handler, void *data, PdLogLevel min_level)
{
    pthread_mutex_lock(&log_lock);
    log_handler = handler;
    log_data = data;
    atomic_store(&log_min_level, handler != NULL ? (int)min_level : LOG_SILENT);
    pthread_mutex_unlock(&log_lock);
}

bool
pd_log_enabled(PdLogLevel level)
{
    return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

void
pd_log(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count)
{
    if (!pd_log_enabled(level))
        return;
    pthread_mutex_lock(&log_lock);
    PdLogHandler handler = log_handler;
    void *data = log_data;
    pthread_mutex_unlock(&log_lock);
    if (handler != NULL) /* called outside the lock: a handler may log or take its own locks */
        handler(level, message != NULL ? message : "", fields, field_count, data);
}

void
pd_logf(PdLogLevel level, const char *fmt, ...)
{
    if (!pd_log_enabled(level))
        return;
    char message[1024];
    va_list args;
    va_start(args, fmt);
    int needed = vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    if (needed >= (int)sizeof(message))
        message[pd_core_utf8_whole(message, sizeof(message) - 1)] = '\0';
    pd_log(level, message, NULL, 0);
}

const char *
pd_log_level_name(PdLogLevel level)
{
    static const char *const names[] = {"debug", "info", "notice", "warning", "error"};
    if ((int)level < 0 || (int)level > PD_LOG_ERROR)
        return "unknown";
    return names[level];
}

/* Writes into a bounded buffer, counting what the whole line needs. */
typedef struct LogWriter
{
    char *buf;
    size_t size;
    size_t length;
} LogWriter;

static void
put_char(LogWriter *writer, char c)
{
    if (writer->size > 0 && writer->length < writer->size - 1)
        writer->buf[writer->length] = c;
    writer->length++;
}

static void
put_text(LogWriter *writer, const char *text)
{
    for (; *text != '\0'; text++)
        put_char(writer, *text);
}

static bool
is_special(unsigned char c)
{
    return c <= ' ' || c == '"' || c == '=' || c == 0x7f;
}

static bool
needs_quotes(const char *value)
{
    if (*value == '\0')
        return true;
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++)
        if (is_special(*c))
            return true;
    return false;
}

static void
put_escaped(LogWriter *writer, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    const char *escape = c == '"'    ? "\\\""
                         : c == '\\' ? "\\\\"
                         : c == '\n' ? "\\n"
                         : c == '\r' ? "\\r"
                         : c == '\t' ? "\\t"
                                     : NULL;
    if (escape != NULL)
        put_text(writer, escape);
    else if (c < ' ' || c == 0x7f)
    {
        put_text(writer, "\\x");
        put_char(writer, hex[c >> 4]);
        put_char(writer, hex[c & 0xf]);
    }
    else
        put_char(writer, (char)c);
}

static void
put_value(LogWriter *writer, const char *value)
{
    if (value == NULL)
        value = "";
    if (!needs_quotes(value))
    {
        put_text(writer, value);
        return;
    }
    put_char(writer, '"');
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++)
        put_escaped(writer, *c);
    put_char(writer, '"');
}

static void
put_key(LogWriter *writer, const char *key)
{
    if (key == NULL || *key == '\0')
        key = "_";
    for (const char *c = key; *c != '\0'; c++)
    {
        bool is_plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                        *c == '_' || *c == '-' || *c == '.';
        put_char(writer, is_plain ? *c : '_');
    }
    put_char(writer, '=');
}

size_t
pd_log_format(char *buf, size_t size, PdLogLevel level, const char *message, const PdLogField *fields,
              size_t field_count)
{
    LogWriter writer = {buf, size, 0};
    put_text(&writer, "level=");
    put_text(&writer, pd_log_level_name(level));
    put_text(&writer, " msg=");
    put_value(&writer, message);
    for (size_t i = 0; i < field_count; i++)
    {
        put_char(&writer, ' ');
        put_key(&writer, fields[i].key);
        put_value(&writer, fields[i].value);
    }
    if (size > 0)
        buf[writer.length < size ? writer.length : pd_core_utf8_whole(buf, size - 1)] = '\0';
    return writer.length;
}

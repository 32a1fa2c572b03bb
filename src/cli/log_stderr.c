/*
 * log_stderr.c - the command's log handler: every message the library logs
 * at or above log_level (PostgreSQL's notices and warnings passed through by
 * db, retries, progress) becomes one line on stderr,
 * `prodata: level: message key=value ...` (as an error's
 * `prodata: error: ...`), so a migration's RAISE WARNING reaches the
 * deployer instead of being lost; results stay on stdout. Installed once the
 * settings are loaded, at the log_level setting. A value is quoted
 * when it is empty or holds a space, a quote, '=' or a control character.
 * Each line is built whole and written with one call, so lines from several
 * threads do not interleave. The error a command ends with is printed here
 * too (cli_print_error), for prodata and prodata-wal alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prodata/log.h"

/* One line being built; past its room characters are dropped and the line is marked cut. */
typedef struct Line
{
    char text[2048];
    size_t used;
    bool is_cut;
} Line;

static void
put_char(Line *line, char c)
{
    if (line->used + 1 < sizeof(line->text)) /* room kept for the newline */
        line->text[line->used++] = c;
    else
        line->is_cut = true;
}

static void
put_text(Line *line, const char *text)
{
    for (; *text != '\0'; text++)
        put_char(line, *text);
}

static bool
needs_quotes(const char *value)
{
    if (value[0] == '\0')
        return true;
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++)
        if (*c <= ' ' || *c == '"' || *c == '=' || *c == 0x7f)
            return true;
    return false;
}

/* value bare, or in double quotes with \" \\ \n \r \t and \xHH escapes. */
static void
put_value(Line *line, const char *value)
{
    if (!needs_quotes(value))
    {
        put_text(line, value);
        return;
    }
    put_char(line, '"');
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++)
    {
        const char *escape = *c == '"'    ? "\\\""
                             : *c == '\\' ? "\\\\"
                             : *c == '\n' ? "\\n"
                             : *c == '\r' ? "\\r"
                             : *c == '\t' ? "\\t"
                                          : NULL;
        char hex[5];
        if (escape == NULL && (*c < ' ' || *c == 0x7f))
        {
            snprintf(hex, sizeof(hex), "\\x%02x", *c);
            escape = hex;
        }
        if (escape != NULL)
            put_text(line, escape);
        else
            put_char(line, (char)*c);
    }
    put_char(line, '"');
}

static void
print_log_line(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count,
               void *data)
{
    (void)data;
    Line line = {.used = 0, .is_cut = false};
    put_text(&line, "prodata: ");
    put_text(&line, pd_log_level_name(level));
    put_text(&line, ": ");
    for (const char *c = message != NULL ? message : ""; *c != '\0'; c++) /* one line, whatever it holds */
        put_char(&line, (unsigned char)*c < ' ' ? ' ' : *c);
    for (size_t i = 0; i < field_count; i++)
    {
        put_char(&line, ' ');
        put_text(&line, fields[i].key);
        put_char(&line, '=');
        put_value(&line, fields[i].value != NULL ? fields[i].value : "");
    }
    if (line.is_cut)
        memcpy(line.text + line.used - 4, " ...", 4);
    line.text[line.used] = '\n';
    fwrite(line.text, 1, line.used + 1, stderr);
}

void
cli_log_to_stderr(PdLogLevel min_level)
{
    pd_log_set_handler(print_log_line, NULL, min_level);
}

void
cli_print_error(const PdError *err)
{
    fprintf(stderr, "prodata: error: %s\n", err->message);
    for (size_t i = 1; i < err->problem_count; i++) /* problems[0] is the message above */
    {
        char where[300];
        pd_error_format_position(&err->problems[i].pos, where, sizeof(where));
        fprintf(stderr, "%s%s%s\n", where, where[0] != '\0' ? ": " : "", err->problems[i].message);
    }
    if (err->problems_omitted > 0)
        fprintf(stderr, "(%zu more problems not shown)\n", err->problems_omitted);
    if (err->detail[0] != '\0')
        fprintf(stderr, "DETAIL: %s\n", err->detail);
    if (err->hint[0] != '\0')
        fprintf(stderr, "HINT: %s\n", err->hint);
    if (err->context[0] != '\0')
        fprintf(stderr, "CONTEXT: %s\n", err->context);
    if (err->sqlstate[0] != '\0')
        fprintf(stderr, "SQLSTATE: %s\n", err->sqlstate);
    const char *debug = getenv("PRODATA_DEBUG");
    if (debug != NULL && strcmp(debug, "1") == 0 && err->raise_file != NULL) /* as psql's VERBOSITY verbose */
        fprintf(stderr, "LOCATION: %s, %s:%d\n", err->raise_function, err->raise_file, err->raise_line);
}

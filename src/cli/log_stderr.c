/*
 * log_stderr.c - the command's log handler: every message the library logs
 * (PostgreSQL's notices and warnings passed through by db, for now) becomes
 * one line on stderr, "prodata: " and the standard key=value form, so a
 * migration's RAISE WARNING reaches the deployer instead of being lost. Results
 * stay on stdout. One handler for the process, installed once the settings
 * are loaded, at the log_level setting.
 */
#include <stdio.h>

#include "cli.h"
#include "prodata/log.h"

static void
print_log_line(PdLogLevel level, const char *message, const PdLogField *fields, size_t field_count,
               void *data)
{
    (void)data;
    char line[1024];
    size_t length = pd_log_format(line, sizeof(line), level, message, fields, field_count);
    /* A cut line still ends cleanly; say that it was cut. */
    fprintf(stderr, "prodata: %s%s\n", line, length >= sizeof(line) ? " ..." : "");
}

void
cli_log_to_stderr(PdLogLevel min_level)
{
    pd_log_set_handler(print_log_line, NULL, min_level);
}

/*
 * cmd_archive_check.c - `prodata archive check [--verify] [--backlog] [--json]`:
 * what is in the archive (timelines, their first and last segment, the
 * newest segment), what is missing (gaps inside a timeline), what an
 * interrupted push left (temporary files), with --verify every file read
 * back against its checksum, and with --backlog (or a database setting) the
 * archiver's state on the running server. Printed as a table or one JSON
 * object; a gap or a corrupt file exits 3, as `prodata check` does on a
 * difference. The findings come from src/archive.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "cli.h"

static void
print_list(const char *title, const char *const *items, size_t count)
{
    if (count == 0)
        return;
    printf("%s:\n", title);
    for (size_t i = 0; i < count; i++)
        printf("  %s\n", items[i]);
}

static void
print_backlog(const PdArchiveBacklog *backlog)
{
    printf("archiver: %lld archived, %lld failed; last archived %s %s\n", backlog->archived_count,
           backlog->failed_count, backlog->last_archived_wal[0] ? backlog->last_archived_wal : "(none)",
           backlog->last_archived_time);
    if (backlog->last_failed_wal[0] != '\0')
        printf("last failure: %s %s\n", backlog->last_failed_wal, backlog->last_failed_time);
    printf("backlog: %lld segment(s) waiting (.ready)%s%s; server writes %s\n", backlog->ready_count,
           backlog->ready_count > 0 ? ", oldest " : "", backlog->oldest_ready,
           backlog->current_wal[0] ? backlog->current_wal : "(standby)");
}

static void
print_table(const char *dir, const PdArchiveReport *report, const PdArchiveBacklog *backlog, bool verify)
{
    printf("archive %s: %zu segments, %zu partial, %zu history, %zu backup labels (%u MB segments)\n", dir,
           report->segment_count, report->partial_count, report->history_count, report->backup_count,
           report->segment_bytes >> 20);
    if (report->system_identifier != 0)
        printf("database system: %" PRIu64 "\n", report->system_identifier);
    printf("%-9s %-25s %-25s %9s %s\n", "timeline", "first", "last", "segments", "history");
    for (size_t i = 0; i < report->timeline_count; i++)
    {
        const PdArchiveTimeline *row = &report->timelines[i];
        char first[25] = "-", last[25] = "-";
        if (row->segments > 0)
        {
            pd_archive_segment_name(row->timeline, row->first_segno, report->segment_bytes, first);
            pd_archive_segment_name(row->timeline, row->last_segno, report->segment_bytes, last);
        }
        printf("%-9u %-25s %-25s %9zu %s%s\n", row->timeline, first, last, row->segments,
               row->has_history ? "yes" : "no", row->ends_partial ? " (ends in .partial)" : "");
    }
    printf("newest: %s\n", report->newest[0] ? report->newest : "(none)");
    if (report->gap_count == 0)
        printf("gaps: none\n");
    for (size_t i = 0; i < report->gap_count; i++)
        printf("gap: timeline %u, %s .. %s (%llu missing)\n", report->gaps[i].timeline, report->gaps[i].first,
               report->gaps[i].last,
               (unsigned long long)(report->gaps[i].last_segno - report->gaps[i].first_segno + 1));
    if (verify)
        printf("verified: %zu file(s), %zu corrupt\n", report->verified_count, report->corrupt_count);
    print_list("corrupt", report->corrupt, report->corrupt_count);
    print_list("temporary files of interrupted pushes (safe to remove)", report->temporary,
               report->temporary_count);
    print_list("not WAL files (ignored)", report->unknown, report->unknown_count);
    if (backlog != NULL)
        print_backlog(backlog);
}

static json_t *
json_strings(const char *const *items, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++)
        json_array_append_new(array, json_string(items[i]));
    return array;
}

static json_t *
json_timelines(const PdArchiveReport *report)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < report->timeline_count; i++)
    {
        const PdArchiveTimeline *row = &report->timelines[i];
        char first[25], last[25];
        pd_archive_segment_name(row->timeline, row->first_segno, report->segment_bytes, first);
        pd_archive_segment_name(row->timeline, row->last_segno, report->segment_bytes, last);
        char lsn[24];
        snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned)(row->switch_lsn >> 32), (unsigned)row->switch_lsn);
        json_array_append_new(
            array,
            json_pack("{s:I, s:s?, s:s?, s:I, s:b, s:b, s:o, s:s?}", "timeline", (json_int_t)row->timeline,
                      "first", row->segments ? first : NULL, "last", row->segments ? last : NULL, "segments",
                      (json_int_t)row->segments, "history", row->has_history, "ends_partial",
                      row->ends_partial, "parent", row->parent ? json_integer(row->parent) : json_null(),
                      "switch_lsn", row->parent ? lsn : NULL));
    }
    return array;
}

static json_t *
json_gaps(const PdArchiveReport *report)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < report->gap_count; i++)
    {
        const PdArchiveGap *gap = &report->gaps[i];
        json_array_append_new(array, json_pack("{s:I, s:s, s:s, s:I}", "timeline", (json_int_t)gap->timeline,
                                               "first", gap->first, "last", gap->last, "missing",
                                               (json_int_t)(gap->last_segno - gap->first_segno + 1)));
    }
    return array;
}

static json_t *
json_backlog(const PdArchiveBacklog *backlog)
{
    if (backlog == NULL)
        return json_null();
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "archived_count",
                     (json_int_t)backlog->archived_count, "failed_count", (json_int_t)backlog->failed_count,
                     "last_archived_wal", backlog->last_archived_wal, "last_archived_time",
                     backlog->last_archived_time, "last_failed_wal", backlog->last_failed_wal,
                     "last_failed_time", backlog->last_failed_time, "ready_count",
                     (json_int_t)backlog->ready_count, "oldest_ready", backlog->oldest_ready, "current_wal",
                     backlog->current_wal);
}

static bool
print_json(const char *dir, const PdArchiveReport *report, const PdArchiveBacklog *backlog, bool verify,
           PdError *err)
{
    json_t *root =
        json_pack("{s:s, s:I, s:s?, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o?, s:b}",
                  "archive_dir", dir, "segment_bytes", (json_int_t)report->segment_bytes, "newest",
                  report->newest[0] ? report->newest : NULL, "segments", (json_int_t)report->segment_count,
                  "partial", (json_int_t)report->partial_count, "history", (json_int_t)report->history_count,
                  "backup_labels", (json_int_t)report->backup_count, "timelines", json_timelines(report),
                  "gaps", json_gaps(report), "corrupt", json_strings(report->corrupt, report->corrupt_count),
                  "temporary", json_strings(report->temporary, report->temporary_count), "unknown",
                  json_strings(report->unknown, report->unknown_count), "backlog", json_backlog(backlog),
                  "verified", verify ? json_integer((json_int_t)report->verified_count) : NULL, "ok",
                  report->gap_count == 0 && report->corrupt_count == 0);
    char system[24] = "";
    if (report->system_identifier != 0)
        snprintf(system, sizeof(system), "%" PRIu64, report->system_identifier);
    if (root != NULL)
        json_object_set_new(root, "system_identifier", system[0] ? json_string(system) : json_null());
    char *text = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (text == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the JSON report");
    puts(text);
    free(text);
    return true;
}

bool
cmd_archive(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdArchiveSettings settings;
    PdArchiveOptions options;
    PdArchiveReport report;
    PdArchiveBacklog backlog;
    bool verify = cli_has_flag(args, "--verify", NULL);
    if (args->positional_count != 1 || strcmp(args->positional[0], "check") != 0)
        return pd_error_set(err, PD_ERR_USAGE, "archive: the subcommand is check");
    PdSettings loaded;
    /* with libpq's hooks: a database conninfo without a password may be given on the command line */
    if (!cli_load_settings(arena, args, &pd_settings_archive, &settings, &loaded, err) ||
        !pd_cli_archive_fill(arena, &settings, &options, err) ||
        !pd_cli_archive_key_check(arena, &options, false, err) ||
        !pd_archive_scan(arena, options.dir, options.key, verify, &report, err))
        return false;
    bool wants_backlog = cli_has_flag(args, "--backlog", NULL) || settings.database[0] != '\0';
    if (wants_backlog && !pd_archive_backlog(arena, settings.database, &backlog, err))
        return pd_cli_explain_connect(arena, settings.database, err);
    const PdArchiveBacklog *shown = wants_backlog ? &backlog : NULL;
    if (cli_has_flag(args, "--json", NULL))
    {
        if (!print_json(options.dir, &report, shown, verify, err))
            return false;
    }
    else
        print_table(options.dir, &report, shown, verify);
    fflush(stdout);
    if (report.gap_count > 0 || report.corrupt_count > 0)
        return pd_error_set(err, PD_ERR_DRIFT, "the archive has %zu gap(s) and %zu corrupt file(s)",
                            report.gap_count, report.corrupt_count);
    return true;
}

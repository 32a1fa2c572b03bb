/*
 * scan.c - reads an archive directory for `prodata archive check`: every
 * entry classified (a WAL file name, a temporary file an interrupted push
 * left, anything else), the segment size taken from an archived segment's
 * header, the gaps found (gaps.c) within each timeline and across each
 * switch its history file records (history.c), and, when asked, every
 * archived file read back and checked against its SHA-256. A file that does not verify is a
 * finding listed in the report, not an error of the scan.
 */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prodata/wal.h"
#include "store.h"

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The directory's entries but . and .., sorted. */
static bool
list_dir(PdArena *arena, const char *dir, const char ***names, size_t *count, PdError *err)
{
    DIR *handle = opendir(dir);
    if (handle == NULL)
        return pd_archive_io_error(err, "open the archive directory", dir);
    *names = NULL;
    *count = 0;
    struct dirent *entry;
    bool is_listed = true;
    errno = 0;
    while (is_listed && (entry = readdir(handle)) != NULL)
    {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        const char **grown = pd_arena_reserve_next(arena, *names, *count, sizeof(char *));
        char *copy = pd_arena_strdup(arena, entry->d_name);
        if (grown == NULL || copy == NULL)
            is_listed = pd_arena_error(arena, err);
        else
            (*names = grown)[(*count)++] = copy;
    }
    if (is_listed && errno != 0)
        is_listed = pd_archive_io_error(err, "read the archive directory", dir);
    closedir(handle);
    if (is_listed && *count > 1)
        qsort(*names, *count, sizeof(char *), compare_strings);
    return is_listed;
}

static bool
append(PdArena *arena, const char ***list, size_t *count, const char *text)
{
    const char **grown = pd_arena_reserve_next(arena, *list, *count, sizeof(char *));
    if (grown == NULL || text == NULL)
        return false;
    (*list = grown)[(*count)++] = text;
    return true;
}

/* The segment size from the header of an archived segment, when it reads as one. */
static void
learn_segment_size(PdArena *arena, const PdArchiveKey *key, const char *path, PdArchiveReport *report)
{
    unsigned char bytes[PD_ARCHIVE_HEADER_BYTES];
    PdArchiveHeader header;
    PdError ignored;
    PdSealIn in;
    size_t got = 0;
    if (!pd_seal_in_open_path(arena, key, path, NULL, &in, &ignored))
        return;
    bool is_read = pd_seal_in_read_at(&in, bytes, sizeof(bytes), 0, &got, &ignored);
    close(in.fd);
    if (is_read && pd_archive_header_decode(bytes, got, path, &header, &ignored) &&
        pd_archive_is_segment_size(header.original_bytes))
        report->segment_bytes = (uint32_t)header.original_bytes;
}

static void
count_kind(PdArchiveReport *report, PdWalKind kind)
{
    if (kind == PD_WAL_SEGMENT)
        report->segment_count++;
    else if (kind == PD_WAL_PARTIAL)
        report->partial_count++;
    else if (kind == PD_WAL_HISTORY)
        report->history_count++;
    else
        report->backup_count++;
}

static bool
verify_file(PdArena *arena, const char *dir, const PdArchiveKey *key, const char *name,
            PdArchiveReport *report)
{
    PdError verify_err;
    pd_error_clear(&verify_err);
    const char *path = pd_archive_join(arena, dir, name);
    if (path == NULL)
        return false;
    if (pd_archive_verify(arena, key, path, NULL, &verify_err))
    {
        report->verified_count++;
        return true;
    }
    return append(arena, &report->corrupt, &report->corrupt_count,
                  pd_arena_sprintf(arena, "%s: %s", name, verify_err.message));
}

/* Each history file's switch, for the gaps across timelines; one that cannot be read is listed as corrupt
 * (unless --verify listed it already). */
static bool
follow_switches(PdArena *arena, const char *dir, const PdArchiveKey *key, const PdWalName *names,
                size_t count, bool verify, PdArchiveReport *report, PdError *err)
{
    PdArchiveSwitch *switches = pd_arena_calloc(arena, count + 1, sizeof(PdArchiveSwitch));
    size_t switch_count = 0;
    if (switches == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < count; i++)
    {
        char name[32], *text = NULL, *path;
        size_t length = 0;
        PdError file_err;
        if (names[i].kind != PD_WAL_HISTORY)
            continue;
        snprintf(name, sizeof(name), "%08X.history", names[i].timeline);
        if ((path = pd_archive_join(arena, dir, name)) == NULL)
            return pd_arena_error(arena, err);
        if (pd_archive_read_small(arena, key, path, PD_WAL_HISTORY_MAX, &text, &length, &file_err) &&
            pd_archive_parse_history(text, length, name, names[i].timeline, &switches[switch_count],
                                     &file_err))
            switch_count++;
        else if ((!verify || file_err.code == PD_ERR_INVALID_INPUT) &&
                 !append(arena, &report->corrupt, &report->corrupt_count,
                         pd_arena_sprintf(arena, "%s: %s", name, file_err.message)))
            return pd_arena_error(arena, err);
    }
    return pd_archive_find_switch_gaps(arena, switches, switch_count, report->segment_bytes, report, err);
}

/* One entry of the directory into the report; WAL names into names. */
static bool
classify_entry(PdArena *arena, const char *dir, const PdArchiveKey *key, const char *entry, bool verify,
               PdWalName *names, size_t *count, PdArchiveReport *report)
{
    PdError ignored;
    size_t length = strlen(entry);
    bool is_recorded;
    if (strcmp(entry, PD_ARCHIVE_SYSTEM_FILE) == 0)
        return pd_archive_read_system(dir, &report->system_identifier, &is_recorded, &ignored) ||
               append(arena, &report->unknown, &report->unknown_count, entry);
    if (strcmp(entry, PD_ARCHIVE_KEY_CHECK_FILE) == 0)
        return true;
    if (entry[0] == '.' && length > 4 && strcmp(entry + length - 4, ".tmp") == 0)
        return append(arena, &report->temporary, &report->temporary_count, entry);
    if (!pd_archive_parse_name(entry, &names[*count], &ignored))
        return append(arena, &report->unknown, &report->unknown_count, entry);
    count_kind(report, names[*count].kind);
    if (names[*count].kind == PD_WAL_SEGMENT && report->segment_count == 1)
    {
        const char *path = pd_archive_join(arena, dir, entry);
        if (path == NULL)
            return false;
        learn_segment_size(arena, key, path, report);
    }
    (*count)++;
    return !verify || verify_file(arena, dir, key, entry, report);
}

bool
pd_archive_scan(PdArena *arena, const char *dir, const PdArchiveKey *key, bool verify,
                PdArchiveReport *report, PdError *err)
{
    memset(report, 0, sizeof(*report));
    report->segment_bytes = PD_WAL_DEFAULT_SEGMENT_BYTES;
    const char **entries = NULL;
    size_t entry_count = 0, name_count = 0;
    if (!list_dir(arena, dir, &entries, &entry_count, err))
        return false;
    PdWalName *names = pd_arena_calloc(arena, entry_count + 1, sizeof(PdWalName));
    if (names == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < entry_count; i++)
        if (!classify_entry(arena, dir, key, entries[i], verify, names, &name_count, report))
            return pd_arena_error(arena, err);
    return pd_archive_find_gaps(arena, names, name_count, report->segment_bytes, report, err) &&
           follow_switches(arena, dir, key, names, name_count, verify, report, err);
}

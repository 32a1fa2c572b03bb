/*
 * file.c - the migration file: rendering a plan as reviewable text, reading
 * it back into sections, listing a directory of them, and recovering the
 * model state the newest one recorded. The text is the record: the executor
 * checksums all of it, so rendering is deterministic (no time stamps, fixed
 * order) and parsing keeps each section's bytes exactly as written, so that
 * an error position inside a section maps back to a line of the file.
 *
 *   -- prodata migration NNNN_name      header comments, anything before +up
 *   -- +up                              transactional statements
 *   -- +up batched [ROWS]               each statement in short transactions, after the commit
 *   -- +up concurrently                 one statement at a time, after the batched ones
 *   -- +down | -- +down irreversible: <reason>
 *   -- +state                           pd_model_format output, each line behind "-- "
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* The header line naming the migration a file was made after. */
#define AFTER_PREFIX "-- after: "
/* The header line of a squash naming the migrations it replaces, separated by blanks. */
#define REPLACES_PREFIX "-- replaces: "
#define AFTER_NOTHING "nothing (the first migration)"

/* ---- rendering ---------------------------------------------------------- */

/* Text inside a comment line: a newline inside it would end the comment. */
static void
comment_text(PdStrbuf *out, const char *text)
{
    for (const char *c = text; *c != '\0'; c++)
        pd_strbuf_append_char(out, *c == '\n' || *c == '\r' ? ' ' : *c);
}

/* One comment line per entry. */
static void
comment_line(PdStrbuf *out, const char *prefix, const char *text)
{
    pd_strbuf_append(out, prefix);
    comment_text(out, text);
    pd_strbuf_append_char(out, '\n');
}

static void
section(PdStrbuf *out, const char *marker, const char *sql)
{
    pd_strbuf_append(out, marker);
    pd_strbuf_append_char(out, '\n');
    pd_strbuf_append(out, sql);
    if (sql[0] != '\0' && sql[strlen(sql) - 1] != '\n')
        pd_strbuf_append_char(out, '\n');
}

static void
render_header(PdStrbuf *out, const PdMigrationPlan *plan, const char *name, const char *parent_name,
              const char *source_name)
{
    pd_strbuf_appendf(out, "-- prodata migration %s\n", name);
    pd_strbuf_appendf(out, "%s%s\n", AFTER_PREFIX, parent_name != NULL ? parent_name : AFTER_NOTHING);
    pd_strbuf_append(out, "-- from ");
    comment_text(out, source_name != NULL ? source_name : "the model file");
    pd_strbuf_append(out, "; review before applying.\n");
    pd_strbuf_append(out, "--\n-- operations:\n");
    for (size_t i = 0; i < plan->operation_count; i++)
        comment_line(out, plan->operations[i].is_destructive ? "--   [destructive] " : "--   ",
                     plan->operations[i].description);
    if (plan->warning_count > 0)
        pd_strbuf_append(out, "-- warnings:\n");
    for (size_t i = 0; i < plan->warning_count; i++)
        comment_line(out, "--   ", plan->warnings[i]);
    if (plan->destructive_count > 0)
        pd_strbuf_append(out, "-- data lost:\n");
    for (size_t i = 0; i < plan->destructive_count; i++)
        comment_line(out, "--   ", plan->destructive_reasons[i]);
}

bool
pd_migration_render(PdArena *arena, const PdMigrationPlan *plan, const char *name, const char *parent_name,
                    const char *source_name, const PdCatalog *state, char **text, PdError *err)
{
    char *state_text = NULL;
    if (state != NULL && !pd_model_format(arena, state, &state_text, err))
        return pd_error_context(err, "while writing the state of migration %s", name);
    PdStrbuf out;
    pd_strbuf_init(&out, arena);
    render_header(&out, plan, name, parent_name, source_name);
    section(&out, "-- +up", plan->up_sql != NULL ? plan->up_sql : "");
    if (plan->up_batched_sql != NULL && plan->up_batched_sql[0] != '\0')
    {
        char marker[48] = "-- +up batched";
        if (plan->batch_rows > 0)
            snprintf(marker, sizeof(marker), "-- +up batched %d", plan->batch_rows);
        section(&out, marker, plan->up_batched_sql);
    }
    if (plan->up_concurrently_sql != NULL && plan->up_concurrently_sql[0] != '\0')
        section(&out, "-- +up concurrently", plan->up_concurrently_sql);
    if (plan->down_sql != NULL)
        section(&out, "-- +down", plan->down_sql);
    else
        comment_line(&out, "-- +down irreversible: ",
                     plan->irreversible_reason != NULL ? plan->irreversible_reason : "no inverse");
    if (state_text != NULL)
    {
        pd_strbuf_append(&out, "-- +state\n");
        for (const char *line = state_text; *line != '\0';)
        {
            const char *end = strchr(line, '\n');
            size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
            pd_strbuf_append(&out, length > 0 ? "-- " : "--");
            pd_strbuf_append_length(&out, line, length);
            pd_strbuf_append_char(&out, '\n');
            line += length + (end != NULL);
        }
    }
    const char *result = pd_strbuf_text(&out);
    if (result == NULL)
        return pd_arena_error(arena, err);
    *text = (char *)result;
    return true;
}

/* ---- parsing ------------------------------------------------------------ */

typedef enum SectionKind
{
    SECTION_HEADER,
    SECTION_UP,
    SECTION_UP_CONCURRENTLY,
    SECTION_UP_BATCHED,
    SECTION_DOWN,
    SECTION_STATE,
    SECTION_COUNT
} SectionKind;

typedef struct ParsedSections
{
    const char *start[SECTION_COUNT]; /* first byte after the marker line; NULL when absent */
    const char *end[SECTION_COUNT];
    int marker_line[SECTION_COUNT];
    const char *irreversible_reason;
    int batch_rows; /* the number after "-- +up batched", 0 when none */
} ParsedSections;

/* "-- +up batched" with an optional number of rows per batch (1 to 1000000) after it; -1 when not. */
static int
batched_marker(const char *line, size_t length, int *batch_rows)
{
    static const char marker[] = "-- +up batched";
    size_t marker_length = sizeof(marker) - 1;
    if (length < marker_length || strncmp(line, marker, marker_length) != 0)
        return -1;
    *batch_rows = 0;
    if (length == marker_length)
        return SECTION_UP_BATCHED;
    if (line[marker_length] != ' ')
        return -1;
    long rows = 0;
    for (size_t i = marker_length + 1; i < length; i++)
    {
        if (line[i] < '0' || line[i] > '9' || rows > 1000000)
            return -2;
        rows = rows * 10 + (line[i] - '0');
    }
    if (rows < 1 || rows > 1000000)
        return -2;
    *batch_rows = (int)rows;
    return SECTION_UP_BATCHED;
}

/* Which marker a line is: -1 when it is no marker, -2 when it looks like one but is unknown. */
static int
marker_kind(const char *line, size_t length, const char **reason, size_t *reason_length, int *batch_rows)
{
    while (length > 0 && (line[length - 1] == ' ' || line[length - 1] == '\r' || line[length - 1] == '\t'))
        length--;
    if (length < 5 || strncmp(line, "-- +", 4) != 0 || !islower((unsigned char)line[4]))
        return -1;
    static const struct
    {
        const char *text;
        SectionKind kind;
    } markers[] = {{"-- +up", SECTION_UP},
                   {"-- +up concurrently", SECTION_UP_CONCURRENTLY},
                   {"-- +down", SECTION_DOWN},
                   {"-- +state", SECTION_STATE}};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        if (length == strlen(markers[i].text) && strncmp(line, markers[i].text, length) == 0)
            return (int)markers[i].kind;
    int batched = batched_marker(line, length, batch_rows);
    if (batched != -1)
        return batched;
    static const char irreversible[] = "-- +down irreversible:";
    if (length >= sizeof(irreversible) - 1 && strncmp(line, irreversible, sizeof(irreversible) - 1) == 0)
    {
        *reason = line + sizeof(irreversible) - 1;
        *reason_length = length - (sizeof(irreversible) - 1);
        while (*reason_length > 0 && **reason == ' ')
            (*reason)++, (*reason_length)--;
        return SECTION_DOWN;
    }
    return -2;
}

static bool
split_sections(PdArena *arena, const char *path, const char *text, size_t text_length, ParsedSections *out,
               PdError *err)
{
    memset(out, 0, sizeof(*out));
    SectionKind current = SECTION_HEADER;
    int line_number = 0;
    for (const char *line = text; line < text + text_length;)
    {
        line_number++;
        const char *newline = memchr(line, '\n', (size_t)(text + text_length - line));
        size_t length = newline != NULL ? (size_t)(newline - line) : (size_t)(text + text_length - line);
        const char *next = line + length + (newline != NULL);
        const char *reason = NULL;
        size_t reason_length = 0;
        int batch_rows = 0;
        int kind = marker_kind(line, length, &reason, &reason_length, &batch_rows);
        if (kind == SECTION_UP_BATCHED)
            out->batch_rows = batch_rows;
        if (kind == -2)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: unknown section \"%.*s\"", path, line_number,
                         (int)(length > 60 ? 60 : length), line);
            return pd_error_hint(err,
                                 "Sections are -- +up, -- +up concurrently, -- +up batched [ROWS] (ROWS from "
                                 "1 to 1000000), -- +down (or -- +down irreversible: <reason>) and "
                                 "-- +state.");
        }
        if (kind >= 0)
        {
            if (out->start[kind] != NULL)
                return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                    "%s:%d: section \"%.*s\" repeats the one on line %d", path, line_number,
                                    (int)(length > 60 ? 60 : length), line, out->marker_line[kind]);
            out->end[current] = line;
            current = (SectionKind)kind;
            out->start[kind] = next;
            out->marker_line[kind] = line_number;
            if (reason != NULL)
                out->irreversible_reason = pd_arena_strndup(arena, reason, reason_length);
        }
        line = next;
    }
    out->end[current] = text + text_length;
    if (out->start[SECTION_UP] == NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: no \"-- +up\" section", path,
                            line_number > 0 ? line_number : 1) ||
               pd_error_hint(err, "A migration needs at least a line \"-- +up\" followed by its statements.");
    return true;
}

static bool
is_blank(const char *line, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return false;
    return true;
}

/* The state lines without their "-- " prefix. */
static bool
strip_state(PdArena *arena, const char *path, const ParsedSections *sections, const char **state,
            PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    int line_number = sections->marker_line[SECTION_STATE];
    for (const char *line = sections->start[SECTION_STATE]; line < sections->end[SECTION_STATE];)
    {
        line_number++;
        const char *newline = memchr(line, '\n', (size_t)(sections->end[SECTION_STATE] - line));
        size_t length =
            newline != NULL ? (size_t)(newline - line) : (size_t)(sections->end[SECTION_STATE] - line);
        if (length >= 2 && strncmp(line, "--", 2) == 0)
        {
            size_t skip = length >= 3 && line[2] == ' ' ? 3 : 2;
            pd_strbuf_append_length(&buf, line + skip, length - skip);
        }
        else if (!is_blank(line, length))
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: a state line must start with \"-- \"",
                                path, line_number);
        pd_strbuf_append_char(&buf, '\n');
        line += length + (newline != NULL);
    }
    *state = pd_strbuf_text(&buf);
    return *state != NULL || pd_arena_error(arena, err);
}

/* "0002_book_add_meta" from ".../0002_book_add_meta.sql": 4+ digits, '_', a name. */
static bool
parse_name(PdArena *arena, const char *path, const char **name, int *number)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t length = strlen(base);
    if (length > 4 && strcmp(base + length - 4, ".sql") == 0)
        length -= 4;
    size_t digits = strspn(base, "0123456789");
    if (digits < 4 || digits > 9 || digits + 1 >= length || base[digits] != '_')
        return false;
    *name = pd_arena_strndup(arena, base, length);
    *number = atoi(base);
    /* 0 means "nothing applied" to migrate --to 0: numbering starts at 1. */
    return *name != NULL && *number > 0;
}

/* The value of the header line starting with prefix (blanks at its end cut); NULL when there is none. */
static const char *
find_header_value(PdArena *arena, const char *header, const char *header_end, const char *prefix)
{
    size_t prefix_length = strlen(prefix);
    for (const char *line = header; line != NULL && line < header_end;)
    {
        const char *newline = memchr(line, '\n', (size_t)(header_end - line));
        size_t length = newline != NULL ? (size_t)(newline - line) : (size_t)(header_end - line);
        if (length > prefix_length && strncmp(line, prefix, prefix_length) == 0)
        {
            const char *value = line + prefix_length;
            size_t value_length = length - prefix_length;
            while (value_length > 0 && (value[value_length - 1] == ' ' || value[value_length - 1] == '\r'))
                value_length--;
            return pd_arena_strndup(arena, value, value_length);
        }
        line = newline != NULL ? newline + 1 : NULL;
    }
    return NULL;
}

/* The name on the header's "-- after:" line: "" for the first migration, NULL when the line is absent. */
static const char *
find_parent(PdArena *arena, const char *header, const char *header_end)
{
    const char *value = find_header_value(arena, header, header_end, AFTER_PREFIX);
    return value != NULL && strcmp(value, AFTER_NOTHING) == 0 ? "" : value;
}

/* The names on a squash's "-- replaces:" line, each a migration name; refused with the line otherwise. */
static bool
find_replaces(PdArena *arena, const char *where, const char *header, const char *header_end,
              PdMigrationFile *file, PdError *err)
{
    const char *value = find_header_value(arena, header, header_end, REPLACES_PREFIX);
    if (value == NULL)
        return true;
    for (const char *c = value; *c != '\0';)
    {
        c += strspn(c, " ");
        size_t length = strcspn(c, " ");
        if (length == 0)
            break;
        const char *name = pd_arena_strndup(arena, c, length);
        const char **grown =
            pd_arena_reserve_next(arena, (void *)file->replaces, file->replace_count, sizeof(*grown));
        if (name == NULL || grown == NULL)
            return pd_arena_error(arena, err);
        size_t digits = strspn(name, "0123456789");
        if (digits < 4 || digits > 9 || name[digits] != '_' || name[digits + 1] == '\0')
            return pd_error_set(err, PD_ERR_INVALID_INPUT,
                                "%s: \"-- replaces:\" names \"%s\", not a migration", where, name);
        grown[file->replace_count++] = name;
        file->replaces = grown;
        c += length;
    }
    if (file->replace_count == 0 ||
        (file->number > 0 && atoi(file->replaces[file->replace_count - 1]) != file->number))
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "%s: a squash has the number of the last migration it replaces", where);
    return true;
}

/* A NUL byte would end the text early for every reader that takes it as a C string (the recorded state
 * was cut short without a word): refused, as the model file loader refuses it. */
static bool
check_no_nul(const char *where, const char *text, size_t text_length, PdError *err)
{
    const char *nul = memchr(text, '\0', text_length);
    if (nul == NULL)
        return true;
    int line = 1;
    for (const char *c = text; c < nul; c++)
        line += *c == '\n';
    return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: a NUL byte in the file, expected text", where,
                        line);
}

bool
pd_migration_parse(PdArena *arena, const char *path, const char *text, size_t text_length,
                   PdMigrationFile *file, PdError *err)
{
    const char *where = path != NULL ? path : "migration";
    PdMigrationFile result = {.path = path, .text = text, .text_length = text_length};
    if (path != NULL && !parse_name(arena, path, &result.name, &result.number))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s: bad migration file name", path) ||
               pd_error_hint(err, "Name migration files NNNN_name.sql: four to nine digits, from 0001 up.");
    if (!check_no_nul(where, text, text_length, err))
        return false;
    ParsedSections sections;
    if (!split_sections(arena, where, text, text_length, &sections, err))
        return false;
    const char **fields[] = {
        NULL, &result.up_sql, &result.up_concurrently_sql, &result.up_batched_sql, &result.down_sql, NULL};
    for (int kind = SECTION_UP; kind <= SECTION_DOWN; kind++)
        if (sections.start[kind] != NULL)
            *fields[kind] = pd_arena_strndup(arena, sections.start[kind],
                                             (size_t)(sections.end[kind] - sections.start[kind]));
    if (result.up_concurrently_sql == NULL)
        result.up_concurrently_sql = "";
    if (result.up_batched_sql == NULL)
        result.up_batched_sql = "";
    result.up_batched_line = sections.marker_line[SECTION_UP_BATCHED] + 1;
    result.batch_rows = sections.batch_rows > 0 ? sections.batch_rows : PD_MIGRATION_BATCH_ROWS;
    result.up_line = sections.marker_line[SECTION_UP] + 1;
    result.up_concurrently_line = sections.marker_line[SECTION_UP_CONCURRENTLY] + 1;
    result.down_line = sections.marker_line[SECTION_DOWN] + 1;
    if (sections.irreversible_reason != NULL || sections.start[SECTION_DOWN] == NULL)
    {
        result.down_sql = NULL;
        result.irreversible_reason = sections.irreversible_reason != NULL
                                         ? sections.irreversible_reason
                                         : "the file has no -- +down section";
    }
    if (sections.start[SECTION_STATE] != NULL &&
        !strip_state(arena, where, &sections, &result.state_text, err))
        return false;
    result.parent_name = find_parent(arena, text, sections.end[SECTION_HEADER]);
    if (!find_replaces(arena, where, text, sections.end[SECTION_HEADER], &result, err))
        return false;
    if (result.up_sql == NULL || pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    *file = result;
    return true;
}

/* ---- listing ------------------------------------------------------------ */

static bool
read_whole_file(PdArena *arena, const char *path, char **text, size_t *length, PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    if (!pd_strbuf_append_file(&buf, path, err))
        return false;
    *text = (char *)pd_strbuf_text(&buf);
    *length = buf.length;
    return true;
}

static bool
is_migration_name(const char *name)
{
    size_t length = strlen(name);
    size_t digits = strspn(name, "0123456789");
    return length > 4 && strcmp(name + length - 4, ".sql") == 0 && digits >= 4 && digits <= 9 &&
           name[digits] == '_' && digits + 1 < length - 4;
}

static int
compare_files(const void *a, const void *b)
{
    const PdMigrationFile *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    if ((x->replace_count > 0) != (y->replace_count > 0))
        return x->replace_count > 0 ? 1 : -1; /* a squash after the last file it replaces */
    return strcmp(x->name, y->name);
}

/* Collects the paths of NNNN_name.sql files; a missing directory has none. */
static bool
list_paths(PdArena *arena, const char *directory, char ***paths, size_t *count, PdError *err)
{
    *paths = NULL;
    *count = 0;
    DIR *dir = opendir(directory);
    if (dir == NULL)
        return errno == ENOENT ||
               pd_error_set(err, PD_ERR_IO, "cannot list %s: %s", directory, strerror(errno));
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
    {
        if (!is_migration_name(entry->d_name))
            continue;
        char **grown = pd_arena_reserve_next(arena, *paths, *count, sizeof(*grown));
        char *path = pd_arena_sprintf(arena, "%s/%s", directory, entry->d_name);
        if (grown == NULL || path == NULL)
        {
            closedir(dir);
            return pd_arena_error(arena, err);
        }
        grown[(*count)++] = path;
        *paths = grown;
    }
    closedir(dir);
    return true;
}

/* The file named name among files, or NULL. */
static PdMigrationFile *
find_named(PdMigrationFile *files, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

/*
 * A squash stands beside all the files it replaces (they are marked
 * is_replaced) or alone once they are deleted; some of them present is
 * refused, as neither a database that applied them nor a fresh one could
 * tell what to run.
 */
static bool
mark_replaced(PdMigrationFile *files, size_t count, PdError *err)
{
    for (size_t i = 0; i < count; i++)
    {
        size_t present = 0;
        const char *missing = NULL, *found = NULL;
        for (size_t r = 0; r < files[i].replace_count; r++)
        {
            PdMigrationFile *replaced = find_named(files, count, files[i].replaces[r]);
            present += replaced != NULL;
            missing = replaced == NULL ? files[i].replaces[r] : missing;
            found = replaced != NULL ? files[i].replaces[r] : found;
        }
        if (present > 0 && present < files[i].replace_count)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT,
                         "squash %s replaces %s, which is missing, and %s, which is not", files[i].name,
                         missing, found);
            return pd_error_hint(err,
                                 "Delete every file a squash replaces, or none: restore %s, or delete the "
                                 "other replaced files.",
                                 missing);
        }
        for (size_t r = 0; present > 0 && r < files[i].replace_count; r++)
            find_named(files, count, files[i].replaces[r])->is_replaced = true;
    }
    return true;
}

/* Whether parent is a right "-- after:" for a file whose predecessor has number `previous` (0: none). */
static bool
is_right_parent(const char *parent, const PdMigrationFile *files, size_t count, int previous)
{
    if (previous <= 0)
        return parent[0] == '\0';
    for (size_t i = 0; i < count && files[i].number <= previous; i++)
        if (files[i].number == previous &&
            (strcmp(parent, files[i].name) == 0 ||
             (files[i].replace_count > 0 &&
              strcmp(parent, files[i].replaces[files[i].replace_count - 1]) == 0)))
            return true;
    return false;
}

/*
 * Each generated file names the one it was made after. A file renumbered to
 * resolve a branch conflict still carries the state of its old predecessor,
 * so the next makemigrations would plan the other branch's changes again:
 * refuse the broken chain instead. Hand-written files name nothing and pass.
 * After a squash's range, either the squash or the last file it replaces is
 * a right predecessor; a squash follows the file before its first.
 */
static bool
check_chain(const PdMigrationFile *files, size_t count, PdError *err)
{
    for (size_t i = 0; i < count; i++)
    {
        int previous = files[i].replace_count > 0 ? atoi(files[i].replaces[0]) - 1 : files[i].number - 1;
        const char *follows = "no migration";
        for (size_t j = 0; j < count && files[j].number <= previous; j++)
            follows = files[j].number == previous ? files[j].name : follows;
        if (files[i].parent_name == NULL || is_right_parent(files[i].parent_name, files, count, previous))
            continue;
        pd_error_set(err, PD_ERR_INVALID_INPUT, "migration %s was made after %s, but now follows %s",
                     files[i].name, files[i].parent_name[0] ? files[i].parent_name : "no migration", follows);
        pd_error_detail(err, "Its recorded model state does not include the changes in between, so the next "
                             "makemigrations would write them again.");
        return pd_error_hint(err,
                             "If %s is not applied anywhere yet, run prodata makemigrations --rebase %s: it "
                             "writes your branch's changes again after the other's. If it is applied, see "
                             "\"Two branches, one number\" in docs/migrations.md.",
                             files[i].name, files[i].name);
    }
    return true;
}

static bool
check_numbering(const PdMigrationFile *files, size_t count, PdError *err)
{
    const PdMigrationFile *last = count > 0 ? &files[0] : NULL; /* the previous file that is no squash */
    for (size_t i = 1; i < count; i++)
    {
        bool is_squash_beside = files[i].replace_count > 0 && files[i].number == last->number;
        if (is_squash_beside)
            continue; /* beside the last file it replaces, which has its number */
        int expected = files[i].replace_count > 0 ? atoi(files[i].replaces[0]) : last->number + 1;
        if (files[i].number == last->number)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "conflicting migrations %s and %s", last->name,
                         files[i].name);
            pd_error_detail(err,
                            "Two branches each added migration %04d; each records a model state that "
                            "lacks the other's changes.",
                            files[i].number);
            return pd_error_hint(err,
                                 "Run prodata makemigrations --rebase with the name of your branch's "
                                 "migration (%s or %s): it writes your branch's changes again, after the "
                                 "other's.",
                                 last->name, files[i].name);
        }
        if (files[i].replace_count > 0 ? expected != last->number + 1 : files[i].number != expected)
        {
            pd_error_set(err, PD_ERR_INVALID_INPUT, "migration %s follows %s: %04d is missing", files[i].name,
                         last->name, last->number + 1);
            return pd_error_hint(err, "Restore the missing file, or renumber the ones after the gap.");
        }
        last = &files[i];
    }
    return true;
}

bool
pd_migration_list_unchecked(PdArena *arena, const char *directory, PdMigrationFile **files, size_t *count,
                            PdError *err)
{
    char **paths;
    size_t path_count;
    if (!list_paths(arena, directory, &paths, &path_count, err))
        return false;
    PdMigrationFile *result = pd_arena_calloc(arena, path_count + 1, sizeof(*result));
    if (result == NULL)
        return pd_arena_error(arena, err);
    for (size_t i = 0; i < path_count; i++)
    {
        char *text;
        size_t length;
        if (!read_whole_file(arena, paths[i], &text, &length, err) ||
            !pd_migration_parse(arena, paths[i], text, length, &result[i], err))
            return false;
    }
    qsort(result, path_count, sizeof(*result), compare_files);
    *files = result;
    *count = path_count;
    return true;
}

bool
pd_migration_check_list(PdMigrationFile *files, size_t count, PdError *err)
{
    for (size_t i = 0; i < count; i++)
        files[i].is_replaced = false;
    return mark_replaced(files, count, err) && check_numbering(files, count, err) &&
           check_chain(files, count, err);
}

bool
pd_migration_list(PdArena *arena, const char *directory, PdMigrationFile **files, size_t *count, PdError *err)
{
    return pd_migration_list_unchecked(arena, directory, files, count, err) &&
           pd_migration_check_list(*files, *count, err);
}

/*
 * The state as pd_model_parse should see it: every line before the state
 * blank, and "--" turned into two spaces, so that a position it reports is the
 * line and column in the migration file itself.
 */
static const char *
state_in_place(PdArena *arena, const PdMigrationFile *file)
{
    const char *text = file->text, *text_end = file->text + file->text_length;
    const char *body = NULL; /* the first line after the state marker */
    int body_line = 0, line_number = 0;
    for (const char *line = text; line < text_end && body == NULL;)
    {
        line_number++;
        const char *newline = memchr(line, '\n', (size_t)(text_end - line));
        size_t length = newline != NULL ? (size_t)(newline - line) : (size_t)(text_end - line);
        const char *reason = NULL;
        size_t reason_length = 0;
        int batch_rows = 0;
        if (marker_kind(line, length, &reason, &reason_length, &batch_rows) == SECTION_STATE)
            body = line + length + (newline != NULL), body_line = line_number;
        line += length + (newline != NULL);
    }
    if (body == NULL)
        return file->state_text;
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (int i = 0; i < body_line; i++)
        pd_strbuf_append_char(&buf, '\n');
    for (const char *line = body; line < text_end;)
    {
        const char *newline = memchr(line, '\n', (size_t)(text_end - line));
        size_t length = newline != NULL ? (size_t)(newline - line) : (size_t)(text_end - line);
        bool is_comment = length >= 2 && strncmp(line, "--", 2) == 0;
        pd_strbuf_append(&buf, is_comment ? "  " : "");
        pd_strbuf_append_length(&buf, line + (is_comment ? 2 : 0), length - (is_comment ? 2 : 0));
        pd_strbuf_append_char(&buf, '\n');
        line += length + (newline != NULL);
    }
    return pd_strbuf_text(&buf);
}

bool
pd_migration_latest_state(PdArena *arena, const PdMigrationFile *files, size_t count, PdCatalog **state,
                          PdError *err)
{
    *state = NULL;
    for (size_t i = count; i > 0; i--)
    {
        const PdMigrationFile *file = &files[i - 1];
        if (file->state_text == NULL)
            continue;
        const char *text = state_in_place(arena, file);
        if (text == NULL)
            return pd_arena_error(arena, err);
        const char *where = file->path != NULL ? file->path : file->name;
        if (!pd_model_parse(arena, where != NULL ? where : "migration", text, state, err))
            return pd_error_context(err, "while reading the model state recorded in %s",
                                    where != NULL ? where : "a migration");
        return true;
    }
    return true;
}

/*
 * manifest.c - manifest.json, the record of one base backup and the only
 * thing a restore trusts about it: which files, directories and links to
 * recreate, where each file's bytes are stored, and which WAL makes the copy
 * consistent. A tampered or truncated manifest must never lead a restore
 * outside its target directory, so reading is strict: every field present
 * with its JSON type, no unknown field (the format number governs changes,
 * so a newer manifest is refused rather than half-read), and every value
 * checked for what it means. One checker serves both ways: writing refuses
 * what reading would refuse, so a written manifest always reads back. The
 * text, one field a line and one entry a line:
 *
 *   {
 *    "format": 2,                        1 is still read: every file whole, no storage or partial
 *    "label": "20261201-043512I",        YYYYMMDD-HHMMSS and F, D or I, the type's letter
 *    "type": "incr",                     "full", "diff" or "incr"
 *    "prior": "20261130-043501F",        null for full; a diff's prior is a full backup
 *    "system_identifier": "7311...",     a decimal string: it exceeds 2^53, where JSON readers round
 *    "pg_version": 150010,
 *    "timeline": 1,                      1 to 2^32-1
 *    "start_lsn": "0/5000028",           as PostgreSQL writes them; start <= stop
 *    "stop_lsn": "0/5000100",
 *    "start_wal": "000000010000000000000005",   segment names on timeline
 *    "stop_wal": "000000010000000000000005",
 *    "start_time": 1764560112,           seconds since the epoch
 *    "stop_time": 1764560118,
 *    "compress": "zstd",                 or "none"
 *    "compress_level": 1,                a zstd level, -131072 to 22
 *    "backup_label": "START WAL ...",    pg_backup_stop's texts
 *    "tablespace_map": null,             or a string
 *    "entries": [
 *     {"kind": "dir", "path": "base", "mode": 448, "mtime": 1764560000},
 *     {"kind": "file", "path": "base/1", "mode": 384, "mtime": 1764560000, "bytes": 8192,
 *      "stored_bytes": 130, "sha256": "64 lower-case hex digits", "storage": "blocks",
 *      "partial": false, "reference": null, "bad_pages": 0},
 *     {"kind": "link", "path": "pg_tblspc/16390", "target": "/srv/ts1", "mode": 511, "mtime": 1764560000}
 *    ]
 *   }
 *
 * Integers are JSON integers, never floats: modes 0 to 07777, sizes 0 to
 * 2^63-1, bad_pages 0 to 2^32-1. A file's storage is "whole" (an archived
 * file, its sha256 that of the original bytes) or "blocks" (a relation file
 * as runs of pages, blockfile.c, its sha256 that of the header and map);
 * a partial file holds only some pages (only "blocks" in a diff or incr),
 * the others coming from the same path in the prior backup. A reference
 * is null for a file stored in this backup, else the label of the backup
 * storing it (none in a full; a diff's prior). Entry paths are relative, '/'-separated, at most 1024 bytes,
 * without an empty, "." or ".." component or a NUL, each listed once, and
 * inside a directory entry listed before it (or at the top), or inside a
 * tablespace's link (pg_tblspc/OID, the only links there are): a restore
 * creates directories in order and places a tablespace's entries in its
 * target directly, never writing through a link it made. Link targets are
 * absolute. What reading and writing each refuse is named
 * by its JSON path (err->field, "entries[3].sha256").
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "backup.h"
#include "prodata/strbuf.h"
#include "prodata/strmap.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
/* The entry index of a top-level field. */
#define NO_ENTRY SIZE_MAX

enum
{
    LABEL_LENGTH = 16, /* YYYYMMDD-HHMMSS and the type's letter */
    MAX_PATH_BYTES = 1024,
    MAX_MODE = 07777,
    MIN_PG_VERSION = 100000, /* server_version_num has six digits since PostgreSQL 10 */
    MAX_PG_VERSION = 999999,
    MIN_ZSTD_LEVEL = -131072, /* ZSTD_minCLevel(): the fastest of the negative levels */
    MAX_ZSTD_LEVEL = 22,
};

/* The top-level fields, in the order written (write_manifest follows it). */
static const char *const manifest_keys[] = {
    "format",    "label",     "type",           "prior",        "system_identifier", "pg_version",
    "timeline",  "start_lsn", "stop_lsn",       "start_wal",    "stop_wal",          "start_time",
    "stop_time", "compress",  "compress_level", "backup_label", "tablespace_map",    "entries"};

/* Each kind's fields, in the order written (write_entry follows them). */
static const char *const file_keys[] = {"kind",    "path",         "mode",     "mtime",
                                        "bytes",   "stored_bytes", "sha256",   "storage",
                                        "partial", "reference",    "bad_pages"};
/* Format 1's: every file whole. */
static const char *const file_keys_1[] = {"kind",         "path",   "mode",      "mtime",    "bytes",
                                          "stored_bytes", "sha256", "reference", "bad_pages"};
static const char *const dir_keys[] = {"kind", "path", "mode", "mtime"};
static const char *const link_keys[] = {"kind", "path", "target", "mode", "mtime"};

static const struct
{
    const char *name;
    const char *const *keys;
    size_t key_count;
} kinds[] = {
    [PD_BACKUP_ENTRY_FILE] = {"file", file_keys, COUNT(file_keys)},
    [PD_BACKUP_ENTRY_DIR] = {"dir", dir_keys, COUNT(dir_keys)},
    [PD_BACKUP_ENTRY_LINK] = {"link", link_keys, COUNT(link_keys)},
};

static const char *const type_names[] = {"full", "diff", "incr"};
static const char type_letters[] = "FDI";
static const char *const compress_names[] = {"none", "zstd"};
static const char *const storage_names[] = {"whole", "blocks"};

const char *
pd_backup_type_name(PdBackupType type)
{
    return (unsigned)type < COUNT(type_names) ? type_names[type] : "unknown";
}

bool
pd_backup_parse_type(const char *text, PdBackupType *type)
{
    for (size_t i = 0; i < COUNT(type_names); i++)
        if (strcmp(text, type_names[i]) == 0)
        {
            *type = (PdBackupType)i;
            return true;
        }
    return false;
}

/* ---- LSNs and other texts ------------------------------------------------------------------------- */

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void
pd_backup_format_lsn(uint64_t lsn, char out[20])
{
    snprintf(out, 20, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xFFFFFFFF));
}

/* 1 to 8 hex digits at *text into *value, *text moved past them. */
static bool
read_lsn_half(const char **text, uint32_t *value)
{
    uint32_t result = 0;
    size_t digits = 0;
    for (; hex_value((*text)[digits]) >= 0; digits++)
    {
        if (digits == 8)
            return false;
        result = result << 4 | (uint32_t)hex_value((*text)[digits]);
    }
    *text += digits;
    *value = result;
    return digits > 0;
}

bool
pd_backup_parse_lsn(const char *text, uint64_t *lsn)
{
    uint32_t high, low;
    if (!read_lsn_half(&text, &high) || *text++ != '/' || !read_lsn_half(&text, &low) || *text != '\0')
        return false;
    *lsn = (uint64_t)high << 32 | low;
    return true;
}

/* A decimal number as PostgreSQL prints a uint64 (no sign, no leading zero), that fits. */
static bool
parse_decimal(const char *text, uint64_t *value)
{
    uint64_t result = 0;
    size_t length = strlen(text);
    if (length == 0 || length > 20 || (text[0] == '0' && length > 1))
        return false;
    for (size_t i = 0; i < length; i++)
    {
        if (text[i] < '0' || text[i] > '9')
            return false;
        unsigned digit = (unsigned)(text[i] - '0');
        if (result > (UINT64_MAX - digit) / 10)
            return false;
        result = result * 10 + digit;
    }
    *value = result;
    return true;
}

/* Exactly 64 lower-case hex digits: one spelling per hash, so manifests compare as text. */
static bool
parse_sha256(const char *text, unsigned char out[32])
{
    if (strlen(text) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (hex_value(text[i]) < 0 || (text[i] >= 'A' && text[i] <= 'F'))
            return false;
    for (size_t i = 0; i < 32; i++)
        out[i] = (unsigned char)(hex_value(text[2 * i]) << 4 | hex_value(text[2 * i + 1]));
    return true;
}

static void
format_sha256(const unsigned char sha256[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++)
    {
        out[2 * i] = digits[sha256[i] >> 4];
        out[2 * i + 1] = digits[sha256[i] & 0xF];
    }
    out[64] = '\0';
}

/* YYYYMMDD-HHMMSS and F, D or I. */
static bool
is_label(const char *text)
{
    if (strlen(text) != LABEL_LENGTH || text[8] != '-' || strchr(type_letters, text[15]) == NULL)
        return false;
    for (size_t i = 0; i < 15; i++)
        if (i != 8 && (text[i] < '0' || text[i] > '9'))
            return false;
    return true;
}

/*
 * Whether text is UTF-8 as JSON wants it (no stray, overlong or surrogate sequences). jansson refuses
 * anything else when reading, so the writer must refuse it first, by name.
 */
static bool
is_utf8(const char *text)
{
    static const uint32_t least[] = {0, 0x80, 0x800, 0x10000}; /* by continuation bytes: no overlong form */
    const unsigned char *p = (const unsigned char *)text;
    while (*p != 0)
    {
        size_t extra;
        if (*p < 0x80)
            extra = 0;
        else if (*p >= 0xC2 && *p <= 0xDF)
            extra = 1;
        else if ((*p & 0xF0) == 0xE0)
            extra = 2;
        else if (*p >= 0xF0 && *p <= 0xF4)
            extra = 3;
        else
            return false;
        uint32_t value = extra == 0 ? *p : *p & (0x3Fu >> extra);
        for (size_t i = 1; i <= extra; i++) /* the terminating NUL is no continuation byte */
        {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            value = value << 6 | (p[i] & 0x3Fu);
        }
        if (value < least[extra] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
            return false;
        p += extra + 1;
    }
    return true;
}

/* Why an entry path could lead a restore astray, or NULL when it cannot. */
static const char *
path_problem(const char *path)
{
    size_t length = strlen(path);
    if (length == 0)
        return "is empty";
    if (length > MAX_PATH_BYTES)
        return "is longer than 1024 bytes";
    if (path[0] == '/')
        return "is absolute";
    if (!is_utf8(path))
        return "is not UTF-8";
    for (const char *part = path;; part++)
    {
        size_t part_length = strcspn(part, "/");
        if (part_length == 0)
            return "has an empty component";
        if (part_length == 1 && part[0] == '.')
            return "has a \".\" component";
        if (part_length == 2 && part[0] == '.' && part[1] == '.')
            return "has a \"..\" component";
        part += part_length;
        if (*part == '\0')
            return NULL;
    }
}

/* ---- the checker, for reading and writing alike --------------------------------------------------- */

typedef struct Check
{
    PdErrorCode code;    /* PD_ERR_REFUSED reading, PD_ERR_INVALID_INPUT writing */
    const char *subject; /* the file's path, or "to write" */
    PdError *err;
} Check;

/*
 * Fails with "manifest SUBJECT is not valid: FIELD why", err->field FIELD. A NULL field names the entry
 * itself ("entries[3]"), or at the top the whole document ("it", err->field "").
 */
static bool
refuse(const Check *check, size_t entry, const char *field, const char *why)
{
    char name[64];
    if (entry == NO_ENTRY)
        snprintf(name, sizeof(name), "%s", field != NULL ? field : "");
    else if (field == NULL)
        snprintf(name, sizeof(name), "entries[%zu]", entry);
    else
        snprintf(name, sizeof(name), "entries[%zu].%s", entry, field);
    pd_error_set(check->err, check->code, "manifest %s is not valid: %s %s", check->subject,
                 name[0] != '\0' ? name : "it", why);
    return pd_error_field(check->err, "%s", name);
}

static bool
check_identity(const PdBackupManifest *m, const Check *c)
{
    if (m->format != PD_BACKUP_MANIFEST_FORMAT && m->format != PD_BACKUP_MANIFEST_FORMAT_1)
        return refuse(c, NO_ENTRY, "format", "is not 1 or 2, the formats this prodata reads");
    if ((unsigned)m->type >= COUNT(type_names))
        return refuse(c, NO_ENTRY, "type", "is not full, diff or incr");
    if (m->label == NULL || !is_label(m->label))
        return refuse(c, NO_ENTRY, "label", "is not a backup label (YYYYMMDD-HHMMSS and F, D or I)");
    if (m->label[15] != type_letters[m->type])
        return refuse(c, NO_ENTRY, "label", "does not end in its type's letter (F full, D diff, I incr)");
    if (m->type == PD_BACKUP_FULL)
        return m->prior == NULL || refuse(c, NO_ENTRY, "prior", "is set, but a full backup builds on none");
    if (m->prior == NULL || !is_label(m->prior))
        return refuse(c, NO_ENTRY, "prior", "is not the label of the backup this one builds on");
    if (m->type == PD_BACKUP_DIFF && m->prior[15] != type_letters[PD_BACKUP_FULL])
        return refuse(c, NO_ENTRY, "prior", "is not a full backup, which a diff builds on");
    if (strcmp(m->prior, m->label) == 0)
        return refuse(c, NO_ENTRY, "prior", "names the backup itself");
    return true;
}

/* A segment name on the backup's timeline. */
static bool
check_wal(const char *name, uint32_t timeline, const char *field, const Check *c)
{
    PdWalName wal;
    PdError ignored;
    if (name == NULL || !pd_archive_parse_name(name, &wal, &ignored) || wal.kind != PD_WAL_SEGMENT)
        return refuse(c, NO_ENTRY, field, "is not a WAL segment name (24 upper-case hex digits)");
    if (wal.timeline != timeline)
        return refuse(c, NO_ENTRY, field, "is not on the backup's timeline");
    return true;
}

static bool
check_position(const PdBackupManifest *m, const Check *c)
{
    if (m->system_identifier == 0)
        return refuse(c, NO_ENTRY, "system_identifier", "is 0");
    if (m->pg_version < MIN_PG_VERSION || m->pg_version > MAX_PG_VERSION)
        return refuse(c, NO_ENTRY, "pg_version", "is not the server_version_num of PostgreSQL 10 or later");
    if (m->timeline == 0)
        return refuse(c, NO_ENTRY, "timeline", "is 0: timelines start at 1");
    if (m->stop_lsn < m->start_lsn)
        return refuse(c, NO_ENTRY, "stop_lsn", "is before start_lsn");
    if (!check_wal(m->start_wal, m->timeline, "start_wal", c) ||
        !check_wal(m->stop_wal, m->timeline, "stop_wal", c))
        return false;
    /* same timeline, fixed width, upper case: the names sort as the segments do */
    if (strcmp(m->stop_wal, m->start_wal) < 0)
        return refuse(c, NO_ENTRY, "stop_wal", "is before start_wal");
    return true;
}

static bool
check_storage(const PdBackupManifest *m, const Check *c)
{
    if ((unsigned)m->compress >= COUNT(compress_names))
        return refuse(c, NO_ENTRY, "compress", "is not none or zstd");
    if (m->compress_level < MIN_ZSTD_LEVEL || m->compress_level > MAX_ZSTD_LEVEL)
        return refuse(c, NO_ENTRY, "compress_level", "is not a zstd level (-131072 to 22)");
    if (m->backup_label == NULL || m->backup_label[0] == '\0')
        return refuse(c, NO_ENTRY, "backup_label", "is empty");
    if (!is_utf8(m->backup_label))
        return refuse(c, NO_ENTRY, "backup_label", "is not UTF-8");
    if (m->tablespace_map != NULL && !is_utf8(m->tablespace_map))
        return refuse(c, NO_ENTRY, "tablespace_map", "is not UTF-8");
    return true;
}

static bool
check_file(const PdBackupManifest *m, const PdBackupEntry *e, size_t i, const Check *c)
{
    if (e->bytes > INT64_MAX)
        return refuse(c, i, "bytes", "is larger than 2^63-1");
    if (e->stored_bytes > INT64_MAX)
        return refuse(c, i, "stored_bytes", "is larger than 2^63-1");
    if ((unsigned)e->storage >= COUNT(storage_names))
        return refuse(c, i, "storage", "is not whole or blocks");
    if (m->format == PD_BACKUP_MANIFEST_FORMAT_1 && (e->storage != PD_BACKUP_STORE_WHOLE || e->is_partial))
        return refuse(c, i, "storage", "is not whole, which format 1 requires");
    if (e->is_partial && (e->storage != PD_BACKUP_STORE_BLOCKS || m->type == PD_BACKUP_FULL))
        return refuse(c, i, "partial", "is true, but only a diff or incr holds part of a file, in blocks");
    if (e->storage == PD_BACKUP_STORE_BLOCKS && e->bytes % PD_BACKUP_PAGE_BYTES != 0)
        return refuse(c, i, "bytes", "is not whole pages, as a file stored in blocks is");
    if (e->reference == NULL)
        return true;
    if (!is_label(e->reference))
        return refuse(c, i, "reference", "is not a backup label");
    if (m->type == PD_BACKUP_FULL)
        return refuse(c, i, "reference", "is set, but a full backup stores every file");
    if (strcmp(e->reference, m->label) == 0)
        return refuse(c, i, "reference", "names this backup (a file stored here has none)");
    if (m->type == PD_BACKUP_DIFF && strcmp(e->reference, m->prior) != 0)
        return refuse(c, i, "reference", "is not the full backup this diff builds on");
    return true;
}

/* One entry on its own: its kind, path, mode and the fields of its kind. */
static bool
check_entry(const PdBackupManifest *m, const PdBackupEntry *e, size_t i, const Check *c)
{
    if ((unsigned)e->kind >= COUNT(kinds))
        return refuse(c, i, "kind", "is not file, dir or link");
    if (e->path == NULL)
        return refuse(c, i, "path", "is missing");
    const char *problem = path_problem(e->path);
    if (problem != NULL)
        return refuse(c, i, "path", problem);
    if (e->mode > MAX_MODE)
        return refuse(c, i, "mode", "is not a permission mode (0 to 07777)");
    if (e->kind == PD_BACKUP_ENTRY_LINK && !pd_backup_is_tablespace_link(e->path))
        return refuse(c, i, "path", "is a link, and not a tablespace's (pg_tblspc/OID)");
    if (e->kind == PD_BACKUP_ENTRY_LINK && (e->target == NULL || e->target[0] != '/'))
        return refuse(c, i, "target", "is not an absolute path");
    if (e->kind == PD_BACKUP_ENTRY_LINK && !is_utf8(e->target))
        return refuse(c, i, "target", "is not UTF-8");
    return e->kind != PD_BACKUP_ENTRY_FILE || check_file(m, e, i, c);
}

/* The entry among those before it (seen: path -> entry): new, and inside a directory listed already. */
static bool
check_place(const PdStrmap *seen, const PdBackupEntry *e, size_t i, const Check *c)
{
    if (pd_strmap_contains(seen, e->path))
        return refuse(c, i, "path", "repeats the path of an entry before it");
    const char *slash = strrchr(e->path, '/');
    if (slash == NULL)
        return true;
    const PdBackupEntry *parent = pd_strmap_get_length(seen, e->path, (size_t)(slash - e->path));
    if (parent == NULL)
        return refuse(c, i, "path", "is inside a directory that is not listed before it");
    if (parent->kind == PD_BACKUP_ENTRY_FILE)
        return refuse(c, i, "path", "is inside an entry that is not a directory");
    return true; /* in a directory, or in a tablespace (links are only those) */
}

bool
pd_backup_is_tablespace_link(const char *path)
{
    const char *oid = path + 10;
    return strncmp(path, "pg_tblspc/", 10) == 0 && oid[0] != '\0' && oid[0] != '0' && strlen(oid) <= 10 &&
           strspn(oid, "0123456789") == strlen(oid);
}

/* Every entry, in one pass: a map of the paths seen keeps 100,000 entries linear. */
static bool
check_entries(PdArena *scratch, const PdBackupManifest *m, const Check *c)
{
    if (m->entries == NULL && m->entry_count > 0)
        return refuse(c, NO_ENTRY, "entries", "is missing");
    PdStrmap *seen = pd_strmap_new(scratch, m->entry_count);
    if (seen == NULL)
        return pd_arena_error(scratch, c->err);
    for (size_t i = 0; i < m->entry_count; i++)
    {
        const PdBackupEntry *e = &m->entries[i];
        if (!check_entry(m, e, i, c) || !check_place(seen, e, i, c))
            return false;
        if (!pd_strmap_put(seen, e->path, (void *)e))
            return pd_arena_error(scratch, c->err);
    }
    return true;
}

/* Everything a reader refuses, in a manifest in memory. The path map lives in a child of arena, freed here.
 */
static bool
check_manifest(PdArena *arena, const PdBackupManifest *m, const Check *c)
{
    if (!check_identity(m, c) || !check_position(m, c) || !check_storage(m, c))
        return false;
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, c->err);
    bool is_ok = check_entries(scratch, m, c);
    pd_arena_free(scratch);
    return is_ok;
}

/* ---- reading ------------------------------------------------------------------------------------- */

typedef struct Reader
{
    PdArena *arena;
    Check check;
    size_t entry; /* the entry being read, NO_ENTRY at the top */
    int format;   /* the manifest's, once read */
} Reader;

static bool
reader_refuse(const Reader *r, const char *field, const char *why)
{
    return refuse(&r->check, r->entry, field, why);
}

/* A field name worth repeating in a message: short, plain ASCII. */
static bool
is_plain_key(const char *key, size_t length)
{
    if (length == 0 || length > 32)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
              (key[i] >= '0' && key[i] <= '9') || key[i] == '_' || key[i] == '-'))
            return false;
    return true;
}

/* Refuses any member of object not in keys: a newer format is not half-read. */
static bool
check_known(const Reader *r, json_t *object, const char *const *keys, size_t key_count)
{
    for (void *it = json_object_iter(object); it != NULL; it = json_object_iter_next(object, it))
    {
        const char *key = json_object_iter_key(it);
        size_t length = json_object_iter_key_len(it);
        bool is_known = false;
        for (size_t k = 0; k < key_count && !is_known; k++)
            is_known = strlen(keys[k]) == length && memcmp(keys[k], key, length) == 0;
        if (is_known)
            continue;
        if (is_plain_key(key, length))
            return reader_refuse(r, key, "is not a known field");
        return reader_refuse(r, NULL, "has an unknown field");
    }
    return true;
}

static json_t *
member(const Reader *r, json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (value == NULL)
        reader_refuse(r, key, "is missing");
    return value;
}

/* A string member, borrowed from the document (NULL for null when is_nullable). */
static bool
borrow_text(const Reader *r, json_t *object, const char *key, bool is_nullable, const char **text)
{
    json_t *value = member(r, object, key);
    if (value == NULL)
        return false;
    if (is_nullable && json_is_null(value))
    {
        *text = NULL;
        return true;
    }
    if (!json_is_string(value))
        return reader_refuse(r, key, is_nullable ? "is not a string or null" : "is not a string");
    /* JSON may spell a NUL (\u0000): C would see a shorter string than the one checked */
    if (json_string_length(value) != strlen(json_string_value(value)))
        return reader_refuse(r, key, "holds a NUL byte");
    *text = json_string_value(value);
    return true;
}

/* A string member copied into the arena. */
static bool
copy_text(const Reader *r, json_t *object, const char *key, bool is_nullable, const char **text)
{
    const char *borrowed;
    if (!borrow_text(r, object, key, is_nullable, &borrowed))
        return false;
    *text = borrowed != NULL ? pd_arena_strdup(r->arena, borrowed) : NULL;
    return borrowed == NULL || *text != NULL || pd_arena_error(r->arena, r->check.err);
}

static bool
read_integer(const Reader *r, json_t *object, const char *key, json_int_t least, json_int_t most,
             json_int_t *out)
{
    json_t *value = member(r, object, key);
    if (value == NULL)
        return false;
    if (!json_is_integer(value)) /* 1.0 and 1e3 are reals to jansson: refused too */
        return reader_refuse(r, key, "is not an integer");
    json_int_t number = json_integer_value(value);
    if (number < least || number > most)
        return reader_refuse(r, key, "is out of range");
    *out = number;
    return true;
}

static bool
read_lsn(const Reader *r, json_t *object, const char *key, uint64_t *lsn)
{
    const char *text;
    if (!borrow_text(r, object, key, false, &text))
        return false;
    return pd_backup_parse_lsn(text, lsn) || reader_refuse(r, key, "is not an LSN (hex X/X, as 0/5000028)");
}

/* format, label, type and prior. The format first, so a newer manifest is named as such. */
static bool
read_identity(Reader *r, json_t *root, PdBackupManifest *m)
{
    json_int_t format;
    const char *type;
    if (!read_integer(r, root, "format", INT_MIN, INT_MAX, &format))
        return false;
    m->format = (int)format;
    if (m->format != PD_BACKUP_MANIFEST_FORMAT && m->format != PD_BACKUP_MANIFEST_FORMAT_1)
        return reader_refuse(r, "format", "is not 1 or 2, the formats this prodata reads");
    r->format = m->format;
    if (!check_known(r, root, manifest_keys, COUNT(manifest_keys)) ||
        !copy_text(r, root, "label", false, &m->label) || !borrow_text(r, root, "type", false, &type))
        return false;
    if (!pd_backup_parse_type(type, &m->type))
        return reader_refuse(r, "type", "is not \"full\", \"diff\" or \"incr\"");
    return copy_text(r, root, "prior", true, &m->prior);
}

/* The system, the server and where in WAL the backup lies. */
static bool
read_position(const Reader *r, json_t *root, PdBackupManifest *m)
{
    const char *system;
    json_int_t version, timeline, start_time, stop_time;
    if (!borrow_text(r, root, "system_identifier", false, &system))
        return false;
    if (!parse_decimal(system, &m->system_identifier))
        return reader_refuse(r, "system_identifier", "is not a decimal number below 2^64");
    if (!read_integer(r, root, "pg_version", INT_MIN, INT_MAX, &version) ||
        !read_integer(r, root, "timeline", 0, UINT32_MAX, &timeline) ||
        !read_lsn(r, root, "start_lsn", &m->start_lsn) || !read_lsn(r, root, "stop_lsn", &m->stop_lsn) ||
        !copy_text(r, root, "start_wal", false, &m->start_wal) ||
        !copy_text(r, root, "stop_wal", false, &m->stop_wal) ||
        !read_integer(r, root, "start_time", LLONG_MIN, LLONG_MAX, &start_time) ||
        !read_integer(r, root, "stop_time", LLONG_MIN, LLONG_MAX, &stop_time))
        return false;
    m->pg_version = (int)version;
    m->timeline = (uint32_t)timeline;
    m->start_time = start_time;
    m->stop_time = stop_time;
    return true;
}

static bool
read_storage(const Reader *r, json_t *root, PdBackupManifest *m)
{
    const char *compress;
    json_int_t level;
    if (!borrow_text(r, root, "compress", false, &compress))
        return false;
    if (strcmp(compress, "none") == 0)
        m->compress = PD_ARCHIVE_COMPRESS_NONE;
    else if (strcmp(compress, "zstd") == 0)
        m->compress = PD_ARCHIVE_COMPRESS_ZSTD;
    else
        return reader_refuse(r, "compress", "is not \"none\" or \"zstd\"");
    if (!read_integer(r, root, "compress_level", INT_MIN, INT_MAX, &level))
        return false;
    m->compress_level = (int)level;
    return copy_text(r, root, "backup_label", false, &m->backup_label) &&
           copy_text(r, root, "tablespace_map", true, &m->tablespace_map);
}

/* Format 2's storage and partial. */
static bool
read_storage_fields(const Reader *r, json_t *object, PdBackupEntry *e)
{
    const char *storage;
    if (!borrow_text(r, object, "storage", false, &storage))
        return false;
    size_t k = 0;
    while (k < COUNT(storage_names) && strcmp(storage, storage_names[k]) != 0)
        k++;
    if (k == COUNT(storage_names))
        return reader_refuse(r, "storage", "is not \"whole\" or \"blocks\"");
    e->storage = (PdBackupStorage)k;
    json_t *partial = member(r, object, "partial");
    if (partial == NULL)
        return false;
    if (!json_is_boolean(partial))
        return reader_refuse(r, "partial", "is not true or false");
    e->is_partial = json_is_true(partial);
    return true;
}

static bool
read_file_fields(const Reader *r, json_t *object, PdBackupEntry *e)
{
    json_int_t bytes, stored_bytes, bad_pages;
    const char *sha256;
    if (!read_integer(r, object, "bytes", 0, LLONG_MAX, &bytes) ||
        !read_integer(r, object, "stored_bytes", 0, LLONG_MAX, &stored_bytes) ||
        !borrow_text(r, object, "sha256", false, &sha256))
        return false;
    if (!parse_sha256(sha256, e->sha256))
        return reader_refuse(r, "sha256", "is not 64 lower-case hex digits");
    if (!copy_text(r, object, "reference", true, &e->reference) ||
        !read_integer(r, object, "bad_pages", 0, UINT32_MAX, &bad_pages) ||
        (r->format != PD_BACKUP_MANIFEST_FORMAT_1 && !read_storage_fields(r, object, e)))
        return false;
    e->bytes = (uint64_t)bytes;
    e->stored_bytes = (uint64_t)stored_bytes;
    e->bad_pages = (uint32_t)bad_pages;
    return true;
}

static bool
read_entry(const Reader *r, json_t *object, PdBackupEntry *e)
{
    const char *kind;
    json_int_t mode, mtime;
    if (!json_is_object(object))
        return reader_refuse(r, NULL, "is not an object");
    if (!borrow_text(r, object, "kind", false, &kind))
        return false;
    size_t k = 0;
    while (k < COUNT(kinds) && strcmp(kind, kinds[k].name) != 0)
        k++;
    if (k == COUNT(kinds))
        return reader_refuse(r, "kind", "is not \"file\", \"dir\" or \"link\"");
    e->kind = (PdBackupEntryKind)k;
    bool is_format_1 = e->kind == PD_BACKUP_ENTRY_FILE && r->format == PD_BACKUP_MANIFEST_FORMAT_1;
    if (!check_known(r, object, is_format_1 ? file_keys_1 : kinds[k].keys,
                     is_format_1 ? COUNT(file_keys_1) : kinds[k].key_count) ||
        !copy_text(r, object, "path", false, &e->path) ||
        (e->kind == PD_BACKUP_ENTRY_LINK && !copy_text(r, object, "target", false, &e->target)) ||
        !read_integer(r, object, "mode", 0, UINT32_MAX, &mode) ||
        !read_integer(r, object, "mtime", LLONG_MIN, LLONG_MAX, &mtime))
        return false;
    e->mode = (uint32_t)mode;
    e->mtime = mtime;
    return e->kind != PD_BACKUP_ENTRY_FILE || read_file_fields(r, object, e);
}

static bool
read_entries(Reader *r, json_t *root, PdBackupManifest *m)
{
    json_t *entries = member(r, root, "entries");
    if (entries == NULL)
        return false;
    if (!json_is_array(entries))
        return reader_refuse(r, "entries", "is not an array");
    size_t count = json_array_size(entries);
    PdBackupEntry *read = count > 0 ? pd_arena_calloc(r->arena, count, sizeof(*read)) : NULL;
    if (count > 0 && read == NULL)
        return pd_arena_error(r->arena, r->check.err);
    for (r->entry = 0; r->entry < count; r->entry++)
        if (!read_entry(r, json_array_get(entries, r->entry), &read[r->entry]))
            return false;
    r->entry = NO_ENTRY;
    m->entries = read;
    m->entry_count = count;
    return true;
}

bool
pd_backup_manifest_decode(PdArena *arena, const char *json, size_t length, const char *path,
                          PdBackupManifest *out, PdError *err)
{
    json_error_t json_err;
    /* NUL is let through to be refused by name; a key given twice is refused here (which would win?) */
    json_t *root = json_loadb(json, length, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &json_err);
    if (root == NULL)
    {
        pd_error_set(err, PD_ERR_REFUSED, "manifest %s is not valid: not JSON: %s", path, json_err.text);
        return pd_error_position(err, path, json_err.line > 0 ? json_err.line : 1,
                                 json_err.column > 0 ? json_err.column : 0);
    }
    Reader r = {arena, {PD_ERR_REFUSED, path, err}, NO_ENTRY};
    PdBackupManifest m = {0};
    bool is_ok = json_is_object(root) ? read_identity(&r, root, &m) && read_position(&r, root, &m) &&
                                            read_storage(&r, root, &m) && read_entries(&r, root, &m) &&
                                            check_manifest(arena, &m, &r.check)
                                      : refuse(&r.check, NO_ENTRY, NULL, "is not a JSON object");
    json_decref(root);
    if (is_ok)
        *out = m;
    return is_ok;
}

/* ---- writing ------------------------------------------------------------------------------------- */

/*
 * The text is written by hand rather than through jansson's tree: one entry a line is the layout, and
 * building, dumping and freeing an object per entry cost most of the time for 100,000 entries. Every
 * string was checked to be UTF-8 first, so escaping the quote, the backslash and control characters is
 * all JSON asks.
 */
static void
append_string(PdStrbuf *buf, const char *text)
{
    pd_strbuf_append_char(buf, '"');
    for (const char *p = text; *p != '\0';)
    {
        size_t run = 0;
        while ((unsigned char)p[run] >= 0x20 && p[run] != '"' && p[run] != '\\')
            run++;
        pd_strbuf_append_length(buf, p, run);
        p += run;
        if (*p == '\0')
            break;
        if (*p == '"' || *p == '\\')
            pd_strbuf_appendf(buf, "\\%c", *p);
        else if (*p == '\n')
            pd_strbuf_append(buf, "\\n");
        else if (*p == '\t')
            pd_strbuf_append(buf, "\\t");
        else
            pd_strbuf_appendf(buf, "\\u%04x", (unsigned)(unsigned char)*p);
        p++;
    }
    pd_strbuf_append_char(buf, '"');
}

/* The members of one object: what comes before the first and between the others. */
typedef struct Writer
{
    PdStrbuf *buf;
    const char *before;
    const char *between;
} Writer;

static void
write_key(Writer *w, const char *key)
{
    pd_strbuf_append(w->buf, w->before);
    w->before = w->between;
    pd_strbuf_append_char(w->buf, '"');
    pd_strbuf_append(w->buf, key); /* ours: nothing to escape */
    pd_strbuf_append(w->buf, "\": ");
}

/* A string, or null for NULL. */
static void
write_text(Writer *w, const char *key, const char *text)
{
    write_key(w, key);
    if (text != NULL)
        append_string(w->buf, text);
    else
        pd_strbuf_append(w->buf, "null");
}

static void
write_integer(Writer *w, const char *key, int64_t value)
{
    write_key(w, key);
    pd_strbuf_appendf(w->buf, "%" PRId64, value);
}

/* One entry on one line, its fields in the order of its kind's keys. */
static void
write_entry(PdStrbuf *buf, const PdBackupManifest *m, const PdBackupEntry *e)
{
    Writer w = {buf, "{", ", "};
    write_text(&w, "kind", kinds[e->kind].name);
    write_text(&w, "path", e->path);
    if (e->kind == PD_BACKUP_ENTRY_LINK)
        write_text(&w, "target", e->target);
    write_integer(&w, "mode", e->mode);
    write_integer(&w, "mtime", e->mtime);
    if (e->kind == PD_BACKUP_ENTRY_FILE)
    {
        char sha256[65];
        format_sha256(e->sha256, sha256);
        write_integer(&w, "bytes", (int64_t)e->bytes); /* at most 2^63-1: checked */
        write_integer(&w, "stored_bytes", (int64_t)e->stored_bytes);
        write_text(&w, "sha256", sha256);
        if (m->format != PD_BACKUP_MANIFEST_FORMAT_1)
        {
            write_text(&w, "storage", storage_names[e->storage]);
            write_key(&w, "partial");
            pd_strbuf_append(w.buf, e->is_partial ? "true" : "false");
        }
        write_text(&w, "reference", e->reference);
        write_integer(&w, "bad_pages", e->bad_pages);
    }
    pd_strbuf_append_char(buf, '}');
}

/* One field a line, in manifest_keys' order, then one entry a line. */
static void
write_manifest(PdStrbuf *buf, const PdBackupManifest *m)
{
    char system[21], start_lsn[20], stop_lsn[20];
    snprintf(system, sizeof(system), "%" PRIu64, m->system_identifier);
    pd_backup_format_lsn(m->start_lsn, start_lsn);
    pd_backup_format_lsn(m->stop_lsn, stop_lsn);
    Writer w = {buf, "{\n ", ",\n "};
    write_integer(&w, "format", m->format);
    write_text(&w, "label", m->label);
    write_text(&w, "type", pd_backup_type_name(m->type));
    write_text(&w, "prior", m->prior);
    write_text(&w, "system_identifier", system);
    write_integer(&w, "pg_version", m->pg_version);
    write_integer(&w, "timeline", m->timeline);
    write_text(&w, "start_lsn", start_lsn);
    write_text(&w, "stop_lsn", stop_lsn);
    write_text(&w, "start_wal", m->start_wal);
    write_text(&w, "stop_wal", m->stop_wal);
    write_integer(&w, "start_time", m->start_time);
    write_integer(&w, "stop_time", m->stop_time);
    write_text(&w, "compress", compress_names[m->compress]);
    write_integer(&w, "compress_level", m->compress_level);
    write_text(&w, "backup_label", m->backup_label);
    write_text(&w, "tablespace_map", m->tablespace_map);
    write_key(&w, "entries");
    pd_strbuf_append_char(buf, '[');
    for (size_t i = 0; i < m->entry_count; i++)
    {
        pd_strbuf_append(buf, i > 0 ? ",\n  " : "\n  ");
        write_entry(buf, m, &m->entries[i]);
    }
    pd_strbuf_append(buf, m->entry_count > 0 ? "\n ]\n}\n" : "]\n}\n");
}

bool
pd_backup_manifest_encode(PdArena *arena, const PdBackupManifest *manifest, char **json, PdError *err)
{
    Check check = {PD_ERR_INVALID_INPUT, "to write", err};
    if (!check_manifest(arena, manifest, &check))
        return false;
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    write_manifest(&buf, manifest);
    if (pd_strbuf_failed(&buf))
        return pd_arena_error(arena, err);
    *json = (char *)pd_strbuf_text(&buf);
    return true;
}

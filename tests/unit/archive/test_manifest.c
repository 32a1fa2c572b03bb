/*
 * test_manifest.c - a base backup's manifest: full and incremental manifests
 * with every kind of entry written and read back whole, the exact text
 * written (its layout is a stable format), each rule of the strict reader
 * broken once in the written text and named by its JSON path (format,
 * unknown and mistyped fields, labels and types, LSNs, WAL names, hashes,
 * entry paths that could leave the data directory, repeats, parents, modes,
 * sizes), every truncation refused, the writer refusing what the reader
 * would, LSN texts, and 100,000 entries read and written, which a quadratic
 * check would make take minutes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "archive/backup.h"
#include "testing.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char *const manifest_path = "backup/X/manifest.json";

/* The entries of the sample data directory; test cases below name them by index. */
static const PdBackupEntry sample_entries[] = {
    {.kind = PD_BACKUP_ENTRY_DIR, .path = "base", .mode = 0700, .mtime = 1764560000},
    {.kind = PD_BACKUP_ENTRY_DIR, .path = "base/5", .mode = 0700, .mtime = 1764560001},
    {.kind = PD_BACKUP_ENTRY_FILE,
     .path = "base/5/16384",
     .mode = 0600,
     .mtime = 1764560002,
     .bytes = 8192,
     .stored_bytes = 130},
    {.kind = PD_BACKUP_ENTRY_DIR, .path = "global", .mode = 0700, .mtime = 1764560003},
    {.kind = PD_BACKUP_ENTRY_FILE,
     .path = "global/pg_control",
     .mode = 0600,
     .mtime = 1764560004,
     .bytes = 8192,
     .stored_bytes = 260},
    {.kind = PD_BACKUP_ENTRY_FILE,
     .path = "PG_VERSION",
     .mode = 0600,
     .mtime = 1764560005,
     .bytes = 3,
     .stored_bytes = 3},
    {.kind = PD_BACKUP_ENTRY_DIR, .path = "pg_tblspc", .mode = 0700, .mtime = 1764560006},
    {.kind = PD_BACKUP_ENTRY_LINK,
     .path = "pg_tblspc/16390",
     .mode = 0777,
     .mtime = 1764560007,
     .target = "/srv/ts1"},
    {.kind = PD_BACKUP_ENTRY_DIR, .path = "pg_wal", .mode = 0700, .mtime = 1764560008},
};

/* A full backup of the sample directory, its entries a copy in arena. */
static PdBackupManifest
sample_full(PdArena *arena)
{
    PdBackupEntry *entries = pd_arena_alloc(arena, sizeof(sample_entries));
    memcpy(entries, sample_entries, sizeof(sample_entries));
    memset(entries[2].sha256, 0xab, 32); /* letters, so their case can be tried */
    memset(entries[4].sha256, 0xcd, 32);
    for (int i = 0; i < 32; i++)
        entries[5].sha256[i] = (unsigned char)(i * 7);
    return (PdBackupManifest){
        .format = PD_BACKUP_MANIFEST_FORMAT,
        .label = "20261201-043512F",
        .type = PD_BACKUP_FULL,
        .system_identifier = UINT64_C(7311234567890123456),
        .pg_version = 150010,
        .timeline = 1,
        .start_lsn = 0x5000028,
        .stop_lsn = 0x6000100,
        .start_wal = "000000010000000000000005",
        .stop_wal = "000000010000000000000006",
        .start_time = 1764560112,
        .stop_time = 1764560118,
        .compress = PD_ARCHIVE_COMPRESS_ZSTD,
        .compress_level = 1,
        .backup_label = "START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\n"
                        "CHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\nLABEL: 20261201-043512F\n"
                        "START TIMELINE: 1\n",
        .tablespace_map = "16390 /srv/ts1\n",
        .entries = entries,
        .entry_count = COUNT(sample_entries),
    };
}

/* An incremental backup on the full one: two files referenced, one with bad pages, no tablespace map. */
static PdBackupManifest
sample_incr(PdArena *arena)
{
    PdBackupManifest m = sample_full(arena);
    m.label = "20261202-010203I";
    m.type = PD_BACKUP_INCR;
    m.prior = "20261201-043512F";
    m.system_identifier = UINT64_MAX; /* past 2^53 and 2^63: why it is a string */
    m.timeline = 0xFFFFFFFF;
    m.start_lsn = UINT64_C(0x16B374D848);
    m.stop_lsn = UINT64_C(0x16B374D848);
    m.start_wal = m.stop_wal = "FFFFFFFF00000016000000B3";
    m.compress = PD_ARCHIVE_COMPRESS_NONE;
    m.compress_level = 0;
    m.tablespace_map = NULL;
    m.entries[2].reference = "20261201-043512F";
    m.entries[4].reference = "20261201-230000I";
    m.entries[5].bad_pages = 2;
    m.entries[5].bytes = INT64_MAX;
    return m;
}

static char *
encode_ok(PdArena *arena, const PdBackupManifest *m)
{
    char *json = NULL;
    PdError err;
    if (!pd_backup_manifest_encode(arena, m, &json, &err))
        fail_msg("manifest not written: %s", err.message);
    return pd_arena_strdup(arena, json); /* a copy, or gcc takes json for the address of a local */
}

static PdBackupManifest
decode_ok(PdArena *arena, const char *json)
{
    PdBackupManifest m;
    PdError err;
    if (!pd_backup_manifest_decode(arena, json, strlen(json), manifest_path, &m, &err))
        fail_msg("manifest not read: %s", err.message);
    return m;
}

static void
assert_same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void
assert_same_entry(const PdBackupEntry *a, const PdBackupEntry *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_string_equal(a->path, b->path);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->mtime, b->mtime);
    if (a->kind == PD_BACKUP_ENTRY_LINK)
        assert_string_equal(a->target, b->target);
    if (a->kind != PD_BACKUP_ENTRY_FILE)
        return;
    assert_true(a->bytes == b->bytes);
    assert_true(a->stored_bytes == b->stored_bytes);
    assert_memory_equal(a->sha256, b->sha256, 32);
    assert_same_text(a->reference, b->reference);
    assert_int_equal(a->bad_pages, b->bad_pages);
}

static void
assert_same_manifest(const PdBackupManifest *a, const PdBackupManifest *b)
{
    assert_int_equal(a->format, b->format);
    assert_string_equal(a->label, b->label);
    assert_int_equal(a->type, b->type);
    assert_same_text(a->prior, b->prior);
    assert_true(a->system_identifier == b->system_identifier);
    assert_int_equal(a->pg_version, b->pg_version);
    assert_int_equal(a->timeline, b->timeline);
    assert_true(a->start_lsn == b->start_lsn);
    assert_true(a->stop_lsn == b->stop_lsn);
    assert_string_equal(a->start_wal, b->start_wal);
    assert_string_equal(a->stop_wal, b->stop_wal);
    assert_int_equal(a->start_time, b->start_time);
    assert_int_equal(a->stop_time, b->stop_time);
    assert_int_equal(a->compress, b->compress);
    assert_int_equal(a->compress_level, b->compress_level);
    assert_string_equal(a->backup_label, b->backup_label);
    assert_same_text(a->tablespace_map, b->tablespace_map);
    assert_int_equal(a->entry_count, b->entry_count);
    for (size_t i = 0; i < a->entry_count; i++)
        assert_same_entry(&a->entries[i], &b->entries[i]);
}

static void
test_round_trip_full_and_incr(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest full = sample_full(arena);
    PdBackupManifest back = decode_ok(arena, encode_ok(arena, &full));
    assert_same_manifest(&full, &back);
    assert_memory_equal(back.entries[2].sha256, full.entries[2].sha256, 32);
    PdBackupManifest incr = sample_incr(arena);
    back = decode_ok(arena, encode_ok(arena, &incr));
    assert_same_manifest(&incr, &back);
    assert_true(back.system_identifier == UINT64_MAX);
    assert_string_equal(back.entries[4].reference, "20261201-230000I");
    /* a diff refers to its full backup only; a backup of no entries at all still reads */
    PdBackupManifest diff = sample_full(arena);
    diff.label = "20261203-000000D";
    diff.type = PD_BACKUP_DIFF;
    diff.prior = diff.entries[2].reference = "20261201-043512F";
    back = decode_ok(arena, encode_ok(arena, &diff));
    assert_same_manifest(&diff, &back);
    full.entry_count = 0;
    full.entries = NULL;
    back = decode_ok(arena, encode_ok(arena, &full));
    assert_int_equal(back.entry_count, 0);
    pd_arena_free(arena);
}

/* Every byte a string may hold comes back: quotes, backslashes, each control character, UTF-8. */
static void
test_round_trip_of_any_text(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char label[160];
    size_t length = 0;
    for (int c = 1; c < 0x80; c++)
        label[length++] = (char)c;
    strcpy(label + length, "caf\xc3\xa9 \xf0\x9f\x90\x98 \\\"/");
    PdBackupManifest m = sample_full(arena);
    m.backup_label = label;
    m.tablespace_map = "\x7f";
    m.entries[5].path = "we\"ird\\name\n\t\x01\x1f\xc3\xa9";
    m.entries[7].target = "/srv/ts 1/\"q\"";
    PdBackupManifest back = decode_ok(arena, encode_ok(arena, &m));
    assert_same_manifest(&m, &back);
    pd_arena_free(arena);
}

/* The text is a format others read: any change to it shows here. */
static void
test_layout_is_stable(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    PdBackupEntry entries[] = {m.entries[0], m.entries[1], m.entries[2], m.entries[6], m.entries[7]};
    m.entries = entries;
    m.entry_count = COUNT(entries);
    m.backup_label = "LABEL: \"x\"\n";
    m.tablespace_map = NULL;
    const char *expected =
        "{\n"
        " \"format\": 2,\n"
        " \"label\": \"20261201-043512F\",\n"
        " \"type\": \"full\",\n"
        " \"prior\": null,\n"
        " \"system_identifier\": \"7311234567890123456\",\n"
        " \"pg_version\": 150010,\n"
        " \"timeline\": 1,\n"
        " \"start_lsn\": \"0/5000028\",\n"
        " \"stop_lsn\": \"0/6000100\",\n"
        " \"start_wal\": \"000000010000000000000005\",\n"
        " \"stop_wal\": \"000000010000000000000006\",\n"
        " \"start_time\": 1764560112,\n"
        " \"stop_time\": 1764560118,\n"
        " \"compress\": \"zstd\",\n"
        " \"compress_level\": 1,\n"
        " \"backup_label\": \"LABEL: \\\"x\\\"\\n\",\n"
        " \"tablespace_map\": null,\n"
        " \"entries\": [\n"
        "  {\"kind\": \"dir\", \"path\": \"base\", \"mode\": 448, \"mtime\": 1764560000},\n"
        "  {\"kind\": \"dir\", \"path\": \"base/5\", \"mode\": 448, \"mtime\": 1764560001},\n"
        "  {\"kind\": \"file\", \"path\": \"base/5/16384\", \"mode\": 384, \"mtime\": 1764560002, "
        "\"bytes\": 8192, \"stored_bytes\": 130, "
        "\"sha256\": \"abababababababababababababababababababababababababababababababab\", "
        "\"storage\": \"whole\", \"partial\": false, \"reference\": null, \"bad_pages\": 0},\n"
        "  {\"kind\": \"dir\", \"path\": \"pg_tblspc\", \"mode\": 448, \"mtime\": 1764560006},\n"
        "  {\"kind\": \"link\", \"path\": \"pg_tblspc/16390\", \"target\": \"/srv/ts1\", \"mode\": 511, "
        "\"mtime\": 1764560007}\n"
        " ]\n"
        "}\n";
    assert_string_equal(encode_ok(arena, &m), expected);
    m.entry_count = 0;
    assert_contains(encode_ok(arena, &m), " \"tablespace_map\": null,\n \"entries\": []\n}\n");
    pd_arena_free(arena);
}

/* text with the first occurrence of from replaced by to; the test fails when from is not there. */
static char *
replaced(PdArena *arena, const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (at == NULL)
        fail_msg("\"%s\" is not in the manifest", from);
    return pd_arena_sprintf(arena, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* json must be refused, naming field, the message holding why. */
static void
assert_refused(PdArena *arena, const char *json, const char *field, const char *why)
{
    PdBackupManifest out;
    PdError err;
    if (pd_backup_manifest_decode(arena, json, strlen(json), manifest_path, &out, &err))
        fail_msg("read, although %s should have been refused:\n%s", field, json);
    assert_int_equal(err.code, PD_ERR_REFUSED);
    if (strcmp(err.field, field) != 0)
        fail_msg("refused naming \"%s\" (%s), expected \"%s\"", err.field, err.message, field);
    assert_contains(err.message, "manifest backup/X/manifest.json is not valid: ");
    assert_contains(err.message, why);
}

typedef struct Case
{
    const char *from, *to; /* one change to the sample's text */
    const char *field;
    const char *why;
} Case;

static void
assert_cases_refused(const PdBackupManifest *m, const Case *cases, size_t count)
{
    PdArena *arena = pd_arena_new(0);
    const char *json = encode_ok(arena, m);
    decode_ok(arena, json); /* the unchanged text reads: each refusal is the change's */
    for (size_t i = 0; i < count; i++)
        assert_refused(arena, replaced(arena, json, cases[i].from, cases[i].to), cases[i].field,
                       cases[i].why);
    pd_arena_free(arena);
}

static void
test_top_level_refusals(void **state)
{
    (void)state;
    static const Case cases[] = {
        {"\"format\": 2", "\"format\": 3", "format", "is not 1 or 2"},
        {"\"format\": 2", "\"format\": \"2\"", "format", "is not an integer"},
        {"\"format\": 2,", "\"format\": 2, \"extra\": true,", "extra", "is not a known field"},
        {"\"format\": 2,", "\"format\": 2, \"a\\nb\": 1,", "", "it has an unknown field"},
        {"\n \"stop_time\": 1764560118,", "", "stop_time", "is missing"},
        {"\"label\": \"20261201-043512F\"", "\"label\": null", "label", "is not a string"},
        {"\"label\": \"20261201-043512F\"", "\"label\": \"20261201-043512D\"", "label",
         "does not end in its type's letter"},
        {"\"type\": \"full\"", "\"type\": \"diff\"", "label", "does not end in its type's letter"},
        {"\"type\": \"full\"", "\"type\": \"Full\"", "type", "is not \"full\", \"diff\" or \"incr\""},
        {"\"label\": \"20261201-043512F\"", "\"label\": \"2026121-0435120F\"", "label",
         "is not a backup label"},
        {"\"label\": \"20261201-043512F\"", "\"label\": \"../../etc/xF\"", "label", "is not a backup label"},
        {"\"prior\": null", "\"prior\": \"20261130-043512F\"", "prior", "is set"},
        {"\"prior\": null", "\"prior\": 0", "prior", "is not a string or null"},
        {"\"system_identifier\": \"7311234567890123456\"", "\"system_identifier\": 7311234567890123456",
         "system_identifier", "is not a string"},
        {"\"7311234567890123456\"", "\"0\"", "system_identifier", "is 0"},
        {"\"7311234567890123456\"", "\"18446744073709551616\"", "system_identifier", "is not a decimal"},
        {"\"7311234567890123456\"", "\"-1\"", "system_identifier", "is not a decimal"},
        {"\"7311234567890123456\"", "\"+1\"", "system_identifier", "is not a decimal"},
        {"\"7311234567890123456\"", "\"01\"", "system_identifier", "is not a decimal"},
        {"\"pg_version\": 150010", "\"pg_version\": 150010.0", "pg_version", "is not an integer"},
        {"\"pg_version\": 150010", "\"pg_version\": 90600", "pg_version", "PostgreSQL 10 or later"},
        {"\"timeline\": 1", "\"timeline\": \"1\"", "timeline", "is not an integer"},
        {"\"timeline\": 1", "\"timeline\": 0", "timeline", "is 0"},
        {"\"timeline\": 1", "\"timeline\": 4294967296", "timeline", "is out of range"},
        {"\"stop_lsn\": \"0/6000100\"", "\"stop_lsn\": \"0/5000000\"", "stop_lsn", "is before start_lsn"},
        {"\"start_wal\": \"000000010000000000000005\"", "\"start_wal\": \"00000001000000000000000a\"",
         "start_wal", "is not a WAL segment name"},
        {"\"start_wal\": \"000000010000000000000005\"", "\"start_wal\": \"000000010000000000000005.partial\"",
         "start_wal", "is not a WAL segment name"},
        {"\"start_wal\": \"000000010000000000000005\"", "\"start_wal\": \"000000020000000000000005\"",
         "start_wal", "is not on the backup's timeline"},
        {"\"stop_wal\": \"000000010000000000000006\"", "\"stop_wal\": \"000000010000000000000004\"",
         "stop_wal", "is before start_wal"},
        {"\"start_time\": 1764560112", "\"start_time\": 1.7e9", "start_time", "is not an integer"},
        {"\"compress\": \"zstd\"", "\"compress\": \"gzip\"", "compress", "is not \"none\" or \"zstd\""},
        {"\"compress_level\": 1", "\"compress_level\": 23", "compress_level", "is not a zstd level"},
        {"\"backup_label\": \"START", "\"backup_label\": \"\\u0000START", "backup_label", "holds a NUL byte"},
        {"\"tablespace_map\": \"16390 /srv/ts1\\n\"", "\"tablespace_map\": false", "tablespace_map",
         "is not a string or null"},
        {"\"entries\": [", "\"entries\": [5, ", "entries[0]", "is not an object"},
    };
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    assert_cases_refused(&m, cases, COUNT(cases));
    pd_arena_free(arena);
}

static void
test_lsn_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {"0/",    "/0",     "G/0",       "123456789/0", "0/123456789", " 0/1",
                                      "0/1 ",  "0x1/0",  "",          "-1/0",        "0//1",        "0/-1",
                                      "1/2/3", "0/1\\n", "\\u00e9/0", "0/+1"};
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    for (size_t i = 0; i < COUNT(bad); i++)
    {
        Case lsn = {"\"start_lsn\": \"0/5000028\"", pd_arena_sprintf(arena, "\"start_lsn\": \"%s\"", bad[i]),
                    "start_lsn", "is not an LSN"};
        assert_cases_refused(&m, &lsn, 1);
    }
    pd_arena_free(arena);
}

static void
test_entry_refusals(void **state)
{
    (void)state;
    /* entries: 0 base, 1 base/5, 2 base/5/16384, 3 global, 4 global/pg_control, 5 PG_VERSION,
     * 6 pg_tblspc, 7 pg_tblspc/16390 (link), 8 pg_wal */
    static const Case cases[] = {
        {"\"base/5/16384\"", "\"../x\"", "entries[2].path", "has a \"..\" component"},
        {"\"base/5/16384\"", "\"/etc\"", "entries[2].path", "is absolute"},
        {"\"base/5/16384\"", "\"a//b\"", "entries[2].path", "has an empty component"},
        {"\"base/5/16384\"", "\"a/./b\"", "entries[2].path", "has a \".\" component"},
        {"\"base/5/16384\"", "\"a/..\"", "entries[2].path", "has a \"..\" component"},
        {"\"base/5/16384\"", "\"base/5/..\"", "entries[2].path", "has a \"..\" component"},
        {"\"base/5/16384\"", "\".\"", "entries[2].path", "has a \".\" component"},
        {"\"base/5/16384\"", "\"\"", "entries[2].path", "is empty"},
        {"\"base/5/16384\"", "\"base/5/\"", "entries[2].path", "has an empty component"},
        {"\"base/5/16384\"", "\"base/5/16384\\u0000/../../x\"", "entries[2].path", "holds a NUL byte"},
        {"\"base/5/16384\"", "16384", "entries[2].path", "is not a string"},
        {"\"path\": \"global/pg_control\"", "\"path\": \"base/5/16384\"", "entries[4].path",
         "repeats the path of an entry before it"},
        {"\"path\": \"pg_wal\"", "\"path\": \"base\"", "entries[8].path", "repeats the path"},
        {"\"path\": \"base/5\",", "\"path\": \"base/6\",", "entries[2].path",
         "is inside a directory that is not listed before it"},
        {"\"path\": \"PG_VERSION\"", "\"path\": \"global/pg_control/x\"", "entries[5].path",
         "is inside an entry that is not a directory"},
        {"\"path\": \"pg_tblspc/16390\"", "\"path\": \"pg_tblspc/x\"", "entries[7].path",
         "is a link, and not a tablespace's (pg_tblspc/OID)"},
        {"\"path\": \"pg_tblspc/16390\"", "\"path\": \"pg_tblspc/016390\"", "entries[7].path",
         "is a link, and not a tablespace's (pg_tblspc/OID)"},
        {"\"mode\": 384", "\"mode\": 99999999999", "entries[2].mode", "is out of range"},
        {"\"mode\": 384", "\"mode\": 8192", "entries[2].mode", "is not a permission mode"},
        {"\"mode\": 384", "\"mode\": -1", "entries[2].mode", "is out of range"},
        {"\"mode\": 384", "\"mode\": \"0600\"", "entries[2].mode", "is not an integer"},
        {"\"bytes\": 8192", "\"bytes\": -1", "entries[2].bytes", "is out of range"},
        {"\"bytes\": 8192", "\"bytes\": 8192.0", "entries[2].bytes", "is not an integer"},
        {"\"stored_bytes\": 130", "\"stored_bytes\": null", "entries[2].stored_bytes", "is not an integer"},
        {"\"sha256\": \"abab", "\"sha256\": \"ABab", "entries[2].sha256", "is not 64 lower-case hex digits"},
        {"\"sha256\": \"abab", "\"sha256\": \"ab", "entries[2].sha256", "is not 64 lower-case hex digits"},
        {"\"sha256\": \"abab", "\"sha256\": \"ababab", "entries[2].sha256",
         "is not 64 lower-case hex digits"},
        {"\"sha256\": \"abab", "\"sha256\": \"gbab", "entries[2].sha256", "is not 64 lower-case hex digits"},
        {"\"reference\": null", "\"reference\": \"20261130-043512F\"", "entries[2].reference",
         "a full backup stores every file"},
        {"\"bad_pages\": 0", "\"bad_pages\": 4294967296", "entries[2].bad_pages", "is out of range"},
        {"\"target\": \"/srv/ts1\"", "\"target\": \"srv/ts1\"", "entries[7].target",
         "is not an absolute path"},
        {"\"target\": \"/srv/ts1\"", "\"target\": \"/srv\\u0000ts1\"", "entries[7].target",
         "holds a NUL byte"},
        {"\"target\": \"/srv/ts1\", ", "", "entries[7].target", "is missing"},
        {"\"kind\": \"link\"", "\"kind\": \"socket\"", "entries[7].kind",
         "is not \"file\", \"dir\" or \"link\""},
        {"\"kind\": \"link\",", "\"kind\": \"link\", \"owner\": \"postgres\",", "entries[7].owner",
         "is not a known field"},
        {"{\"kind\": \"dir\", \"path\": \"base\",",
         "{\"kind\": \"dir\", \"sha256\": null, \"path\": \"base\",", "entries[0].sha256",
         "is not a known field"},
        {"{\"kind\": \"dir\", \"path\": \"base\",", "{\"path\": \"base\",", "entries[0].kind", "is missing"},
    };
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    assert_cases_refused(&m, cases, COUNT(cases));
    char *long_path = pd_arena_alloc(arena, 1026);
    memset(long_path, 'x', 1025);
    long_path[1025] = '\0';
    Case too_long = {"\"PG_VERSION\"", pd_arena_sprintf(arena, "\"%s\"", long_path), "entries[5].path",
                     "is longer than 1024 bytes"};
    assert_cases_refused(&m, &too_long, 1);
    long_path[1024] = '\0'; /* 1024 bytes is allowed */
    m.entries[5].path = long_path;
    decode_ok(arena, encode_ok(arena, &m));
    pd_arena_free(arena);
}

/* What ties an incremental or differential backup to the ones it builds on. */
static void
test_chain_refusals(void **state)
{
    (void)state;
    static const Case incr_cases[] = {
        {"\"prior\": \"20261201-043512F\"", "\"prior\": null", "prior", "is not the label of the backup"},
        {"\"prior\": \"20261201-043512F\"", "\"prior\": \"20261202-010203I\"", "prior",
         "names the backup itself"},
        {"\"reference\": \"20261201-043512F\"", "\"reference\": \"20261202-010203I\"", "entries[2].reference",
         "names this backup"},
        {"\"reference\": \"20261201-043512F\"", "\"reference\": \"../../x\"", "entries[2].reference",
         "is not a backup label"},
    };
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_incr(arena);
    assert_cases_refused(&m, incr_cases, COUNT(incr_cases));
    static const Case diff_cases[] = {
        {"\"prior\": \"20261201-043512F\"", "\"prior\": \"20261201-043512I\"", "prior",
         "is not a full backup"},
        {"\"reference\": \"20261201-043512F\"", "\"reference\": \"20261130-000000F\"", "entries[2].reference",
         "is not the full backup this diff builds on"},
    };
    m.label = "20261202-010203D";
    m.type = PD_BACKUP_DIFF;
    m.entries[4].reference = NULL;
    assert_cases_refused(&m, diff_cases, COUNT(diff_cases));
    pd_arena_free(arena);
}

/* Format 2's storage fields are checked; a format 1 manifest (every file whole, no such fields) still reads.
 */
static void
test_storage_fields(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    const char *json = encode_ok(arena, &m);
    static const Case cases[] = {
        {"\"storage\": \"whole\"", "\"storage\": \"bits\"", "entries[2].storage",
         "is not \"whole\" or \"blocks\""},
        {"\"partial\": false", "\"partial\": 0", "entries[2].partial", "is not true or false"},
        {"\"partial\": false", "\"partial\": true", "entries[2].partial", "only a diff or incr"},
        {", \"partial\": false", "", "entries[2].partial", "is missing"},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        assert_refused(arena, replaced(arena, json, cases[i].from, cases[i].to), cases[i].field,
                       cases[i].why);
    m.format = PD_BACKUP_MANIFEST_FORMAT_1;
    const char *old = encode_ok(arena, &m);
    assert_null(strstr(old, "\"storage\""));
    PdBackupManifest read;
    PdError err;
    assert_true(pd_backup_manifest_decode(arena, old, strlen(old), "m.json", &read, &err));
    assert_int_equal(read.format, 1);
    for (size_t i = 0; i < read.entry_count; i++)
        assert_true(read.entries[i].storage == PD_BACKUP_STORE_WHOLE && !read.entries[i].is_partial);
    assert_refused(arena,
                   replaced(arena, old, "\"reference\": null", "\"storage\": \"whole\", \"reference\": null"),
                   "entries[2].storage", "is not a known field");
    pd_arena_free(arena);
}

/* Refusals before any field is read: the text is not a JSON object, or not JSON at all. */
static void
test_not_json_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    const char *json = encode_ok(arena, &m);
    PdBackupManifest out;
    PdError err;
    /* every cut short of the closing brace is refused, and so is a byte after the end */
    size_t end = (size_t)(strrchr(json, '}') - json);
    for (size_t length = 0; length <= end; length++)
    {
        if (pd_backup_manifest_decode(arena, json, length, manifest_path, &out, &err))
            fail_msg("a manifest cut to %zu bytes was read", length);
        assert_int_equal(err.code, PD_ERR_REFUSED);
        assert_contains(err.message, "manifest backup/X/manifest.json is not valid: not JSON: ");
        assert_string_equal(err.pos.file, manifest_path);
        assert_true(err.pos.line >= 1);
    }
    assert_refused(arena, pd_arena_sprintf(arena, "%sx", json), "", "not JSON");
    assert_refused(arena, replaced(arena, json, "\"format\": 2,", "\"format\": 2, \"format\": 2,"), "",
                   "duplicate");
    assert_refused(arena, "[]", "", "it is not a JSON object");
    assert_refused(arena, "{}", "format", "is missing");
    size_t entries = (size_t)(strstr(json, "\"entries\": [") - json);
    assert_refused(arena, pd_arena_sprintf(arena, "%.*s\"entries\": {}\n}", (int)entries, json), "entries",
                   "is not an array");
    pd_arena_free(arena);
}

/* The writer refuses what the reader would, with its own code and the same field. */
static void
test_encode_refusals(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m;
    char *json = NULL;
    PdError err;
#define EXPECT_REFUSED(statement, field_name, why_part)                                                      \
    do                                                                                                       \
    {                                                                                                        \
        m = sample_full(arena);                                                                              \
        statement;                                                                                           \
        if (pd_backup_manifest_encode(arena, &m, &json, &err))                                               \
            fail_msg("written despite: %s", #statement);                                                     \
        assert_int_equal(err.code, PD_ERR_INVALID_INPUT);                                                    \
        assert_string_equal(err.field, field_name);                                                          \
        assert_contains(err.message, "manifest to write is not valid: ");                                    \
        assert_contains(err.message, why_part);                                                              \
    } while (0)
    EXPECT_REFUSED(m.format = 0, "format", "is not 1 or 2");
    EXPECT_REFUSED(m.entries[2].is_partial = true, "entries[2].partial", "only a diff or incr");
    EXPECT_REFUSED((m.entries[2].storage = PD_BACKUP_STORE_BLOCKS, m.entries[2].bytes = 100),
                   "entries[2].bytes", "is not whole pages");
    EXPECT_REFUSED(m.label = NULL, "label", "is not a backup label");
    EXPECT_REFUSED(m.type = (PdBackupType)7, "type", "is not full, diff or incr");
    EXPECT_REFUSED((m.type = PD_BACKUP_INCR, m.label = "20261202-010203I"), "prior", "is not the label");
    EXPECT_REFUSED(m.system_identifier = 0, "system_identifier", "is 0");
    EXPECT_REFUSED(m.stop_lsn = 1, "stop_lsn", "is before start_lsn");
    EXPECT_REFUSED(m.stop_wal = NULL, "stop_wal", "is not a WAL segment name");
    EXPECT_REFUSED(m.compress = (PdArchiveCompress)9, "compress", "is not none or zstd");
    EXPECT_REFUSED(m.backup_label = NULL, "backup_label", "is empty");
    EXPECT_REFUSED(m.backup_label = "\xc0\xaf", "backup_label", "is not UTF-8");
    EXPECT_REFUSED(m.entries[2].path = "../x", "entries[2].path", "has a \"..\" component");
    EXPECT_REFUSED(m.entries[2].path = "base/5/\xff", "entries[2].path", "is not UTF-8");
    EXPECT_REFUSED(m.entries[2].path = "base/5/\xed\xa0\x80", "entries[2].path", "is not UTF-8");
    EXPECT_REFUSED(m.entries[2].path = "base/5/.\xe0\x80\xae", "entries[2].path",
                   "is not UTF-8"); /* overlong . */
    EXPECT_REFUSED(m.entries[2].path = "base/5/\xf4\x90\x80\x80", "entries[2].path", "is not UTF-8");
    EXPECT_REFUSED(m.entries[2].path = NULL, "entries[2].path", "is missing");
    EXPECT_REFUSED((m.entries[0] = sample_entries[1], m.entries[1] = sample_entries[0]), "entries[0].path",
                   "is inside a directory that is not listed before it");
    EXPECT_REFUSED(m.entries[2].kind = (PdBackupEntryKind)7, "entries[2].kind", "is not file, dir or link");
    EXPECT_REFUSED(m.entries[2].mode = 010000, "entries[2].mode", "is not a permission mode");
    EXPECT_REFUSED(m.entries[2].bytes = UINT64_MAX, "entries[2].bytes", "is larger than 2^63-1");
    EXPECT_REFUSED(m.entries[4].stored_bytes = UINT64_C(1) << 63, "entries[4].stored_bytes", "2^63-1");
    EXPECT_REFUSED(m.entries[7].target = NULL, "entries[7].target", "is not an absolute path");
    EXPECT_REFUSED(m.entries = NULL, "entries", "is missing");
#undef EXPECT_REFUSED
    /* a non-ASCII path that is UTF-8 is written and read back as it was */
    m = sample_full(arena);
    m.entries[5].path = "caf\xc3\xa9-\xf0\x9f\x90\x98";
    PdBackupManifest back = decode_ok(arena, encode_ok(arena, &m));
    assert_string_equal(back.entries[5].path, m.entries[5].path);
    pd_arena_free(arena);
}

static void
test_lsn_texts(void **state)
{
    (void)state;
    struct
    {
        uint64_t lsn;
        const char *text;
    } pairs[] = {{0, "0/0"},
                 {UINT64_MAX, "FFFFFFFF/FFFFFFFF"},
                 {UINT64_C(0x16B374D848), "16/B374D848"},
                 {UINT64_C(0x5000028), "0/5000028"},
                 {UINT64_C(0x100000000), "1/0"}};
    for (size_t i = 0; i < COUNT(pairs); i++)
    {
        char text[20];
        uint64_t lsn = 1;
        pd_backup_format_lsn(pairs[i].lsn, text);
        assert_string_equal(text, pairs[i].text);
        assert_true(pd_backup_parse_lsn(text, &lsn));
        assert_true(lsn == pairs[i].lsn);
    }
    uint64_t lsn = 0;
    assert_true(pd_backup_parse_lsn("ffffffff/ffffffff", &lsn));
    assert_true(lsn == UINT64_MAX);
    assert_true(pd_backup_parse_lsn("00000000/00000001", &lsn));
    assert_true(lsn == 1);
    static const char *const bad[] = {"0/",   "/0",   "G/0", "123456789/0", "0/123456789", "",     "/",
                                      " 0/0", "0/0 ", "0",   "0x0/0",       "0/0/0",       "+0/0", "0/-0"};
    for (size_t i = 0; i < COUNT(bad); i++)
    {
        lsn = 42;
        if (pd_backup_parse_lsn(bad[i], &lsn))
            fail_msg("\"%s\" read as an LSN", bad[i]);
        assert_true(lsn == 42); /* left alone */
    }
}

static void
test_type_names(void **state)
{
    (void)state;
    PdBackupType types[] = {PD_BACKUP_FULL, PD_BACKUP_DIFF, PD_BACKUP_INCR};
    const char *names[] = {"full", "diff", "incr"};
    for (size_t i = 0; i < COUNT(types); i++)
    {
        PdBackupType type = (PdBackupType)-1;
        assert_string_equal(pd_backup_type_name(types[i]), names[i]);
        assert_true(pd_backup_parse_type(names[i], &type));
        assert_int_equal(type, types[i]);
    }
    PdBackupType type = PD_BACKUP_DIFF;
    assert_false(pd_backup_parse_type("FULL", &type));
    assert_false(pd_backup_parse_type("", &type));
    assert_false(pd_backup_parse_type("incremental", &type));
    assert_int_equal(type, PD_BACKUP_DIFF);
    assert_string_equal(pd_backup_type_name((PdBackupType)9), "unknown");
}

/*
 * base, 1,000 directories in it and 99 files in each: checked pairwise, repeats and parents would take
 * 5 * 10^9 comparisons and this test minutes; linear, it takes a fraction of a second.
 */
static void
test_hundred_thousand_entries(void **state)
{
    (void)state;
    enum
    {
        DIRS = 1000,
        FILES = 99,
        TOTAL = 1 + DIRS * (1 + FILES),
    };
    PdArena *arena = pd_arena_new(0);
    PdBackupManifest m = sample_full(arena);
    PdBackupEntry *entries = pd_arena_calloc(arena, TOTAL + 1, sizeof(*entries));
    size_t count = 0;
    entries[count++] = (PdBackupEntry){.kind = PD_BACKUP_ENTRY_DIR, .path = "base", .mode = 0700};
    for (int d = 0; d < DIRS; d++)
    {
        const char *dir = pd_arena_sprintf(arena, "base/%d", 16384 + d);
        entries[count++] = (PdBackupEntry){.kind = PD_BACKUP_ENTRY_DIR, .path = dir, .mode = 0700};
        for (int f = 0; f < FILES; f++)
            entries[count++] = (PdBackupEntry){.kind = PD_BACKUP_ENTRY_FILE,
                                               .path = pd_arena_sprintf(arena, "%s/%d", dir, 20000 + f),
                                               .mode = 0600,
                                               .bytes = (uint64_t)f * 8192,
                                               .stored_bytes = (uint64_t)f * 100};
    }
    assert_int_equal(count, TOTAL);
    m.entries = entries;
    m.entry_count = count;
    PdBackupManifest back = decode_ok(arena, encode_ok(arena, &m));
    assert_int_equal(back.entry_count, TOTAL);
    assert_same_entry(&back.entries[TOTAL - 1], &entries[TOTAL - 1]);
    assert_string_equal(back.entries[TOTAL - 1].path, "base/17383/20098");
    /* a repeat at the very end is still found */
    entries[count] = entries[count / 2];
    m.entry_count = count + 1;
    char *json = NULL;
    PdError err;
    assert_false(pd_backup_manifest_encode(arena, &m, &json, &err));
    assert_string_equal(err.field, "entries[100001].path");
    assert_contains(err.message, "repeats the path");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full_and_incr),
        cmocka_unit_test(test_round_trip_of_any_text),
        cmocka_unit_test(test_layout_is_stable),
        cmocka_unit_test(test_top_level_refusals),
        cmocka_unit_test(test_lsn_refusals),
        cmocka_unit_test(test_entry_refusals),
        cmocka_unit_test(test_chain_refusals),
        cmocka_unit_test(test_storage_fields),
        cmocka_unit_test(test_not_json_refused),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_lsn_texts),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_hundred_thousand_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

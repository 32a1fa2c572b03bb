/*
 * fuzz_manifest.c - the backups' parsers on any bytes. The first byte picks
 * one: 0, an LSN (an accepted one prints back to text that reads as the
 * same LSN); 1, a recovery target time (an accepted one has a date, a time
 * and an offset); 2, a data directory path judged as a relation file (an
 * accepted one lies under base/, global/ or pg_tblspc/ and has no ".."
 * component); otherwise, a backup manifest, which must be refused with
 * PD_ERR_REFUSED or accepted with every entry path safe to join under a
 * data directory, and then encode and decode back to the same entries;
 * 4, a relation file as a backup stores it (blockfile.c), whose map must be
 * refused or accepted with its runs in order inside the file, and whose runs
 * each read back or are refused as corrupt; 5, a sealed file of an
 * encrypted repository (seal.c), which must be refused (no tag holds for
 * bytes the fuzzer makes) without reading outside it, and whose bytes
 * sealed under the same key must open back to themselves.
 */
#define _GNU_SOURCE /* memfd_create */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/blockfile.h"
#include "fuzz.h"

static void
fuzz_lsn(PdArena *arena, const uint8_t *data, size_t size)
{
    char *text = fuzz_text(arena, data, size);
    uint64_t lsn, again;
    if (!pd_backup_parse_lsn(text, &lsn))
        return;
    char printed[20];
    pd_backup_format_lsn(lsn, printed);
    FUZZ_ASSERT(pd_backup_parse_lsn(printed, &again) && again == lsn, "%s printed as %s", text, printed);
}

static void
fuzz_time(PdArena *arena, const uint8_t *data, size_t size)
{
    char *text = fuzz_text(arena, data, size);
    int64_t epoch;
    if (!pd_restore_parse_time(text, &epoch))
        return;
    FUZZ_ASSERT(strlen(text) >= 20 && text[4] == '-' && text[13] == ':', "an odd time accepted: %s", text);
}

static void
fuzz_relation(PdArena *arena, const uint8_t *data, size_t size)
{
    char *text = fuzz_text(arena, data, size);
    uint32_t segment;
    if (!pd_backup_is_relation_file(text, &segment))
        return;
    FUZZ_ASSERT(strncmp(text, "base/", 5) == 0 || strncmp(text, "global/", 7) == 0 ||
                    strncmp(text, "pg_tblspc/", 10) == 0,
                "%s taken for a relation file", text);
    FUZZ_ASSERT(strstr(text, "..") == NULL, "%s taken for a relation file", text);
}

static bool
is_safe_path(const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return false;
    for (const char *part = path; part != NULL; part = strchr(part, '/') ? strchr(part, '/') + 1 : NULL)
    {
        size_t length = strcspn(part, "/");
        if (length == 0 || (length == 1 && part[0] == '.') ||
            (length == 2 && part[0] == '.' && part[1] == '.'))
            return false;
    }
    return true;
}

static void
fuzz_document(PdArena *arena, const uint8_t *data, size_t size)
{
    PdBackupManifest manifest, again;
    PdError err;
    pd_error_init(&err);
    if (!pd_backup_manifest_decode(arena, (const char *)data, size, "fuzz", &manifest, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_REFUSED || err.code == PD_ERR_NO_MEMORY, "a bad manifest gave code %d",
                    err.code);
        return;
    }
    for (size_t i = 0; i < manifest.entry_count; i++)
        FUZZ_ASSERT(is_safe_path(manifest.entries[i].path), "unsafe path accepted: %s",
                    manifest.entries[i].path);
    char *json;
    FUZZ_ASSERT(pd_backup_manifest_encode(arena, &manifest, &json, &err),
                "an accepted manifest did not encode: %s", err.message);
    FUZZ_ASSERT(pd_backup_manifest_decode(arena, json, strlen(json), "fuzz", &again, &err),
                "an encoded manifest did not decode: %s", err.message);
    FUZZ_ASSERT(again.entry_count == manifest.entry_count && strcmp(again.label, manifest.label) == 0 &&
                    again.stop_lsn == manifest.stop_lsn,
                "the round trip changed the manifest");
}

static void
fuzz_blocks(PdArena *arena, const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_blocks", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    PdBlockMap map;
    PdBlockReader reader;
    PdError err;
    pd_error_init(&err);
    PdSealIn in;
    if (!pd_seal_in_open(arena, NULL, fd, "fuzz", NULL, &in, &err) ||
        !pd_blockfile_read_map(arena, &in, &map, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_REFUSED || err.code == PD_ERR_NO_MEMORY, "a bad map gave code %d",
                    err.code);
        close(fd);
        return;
    }
    if (!pd_blockfile_reader(arena, &reader, &err))
        abort();
    for (size_t i = 0; i < map.run_count; i++)
    {
        const PdBlockRun *run = &map.runs[i];
        FUZZ_ASSERT((uint64_t)run->first_block + run->span <= map.file_bytes / PD_BACKUP_PAGE_BYTES &&
                        run->page_count > 0 && run->offset + run->stored_bytes <= size &&
                        (i == 0 || run->first_block >= map.runs[i - 1].first_block + map.runs[i - 1].span),
                    "run %zu accepted out of place", i);
        FUZZ_ASSERT(pd_blockfile_read_run(&reader, &in, &map, run, &err) || err.code == PD_ERR_REFUSED,
                    "a bad run gave code %d", err.code);
    }
    close(fd);
}

static void
fuzz_sealed(PdArena *arena, const uint8_t *data, size_t size)
{
    PdArchiveKey key;
    PdError err;
    pd_error_init(&err);
    if (!pd_archive_key_derive("a fuzzing key of thirty-two byte", 32, "fuzz", &key, &err))
        abort();
    char *text;
    size_t length;
    FUZZ_ASSERT(!pd_unseal_text(arena, &key, data, size, "fuzz", &text, &length, &err) ||
                    size < PD_SEAL_PREFIX_BYTES,
                "made-up bytes opened as a sealed file");
    int fd = memfd_create("fuzz_sealed", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    PdSealIn in;
    unsigned char bytes[256];
    size_t got;
    if (pd_seal_in_open(arena, &key, fd, "fuzz", NULL, &in, &err))
        FUZZ_ASSERT(!pd_seal_in_read_at(&in, bytes, sizeof(bytes), size > 0 ? data[0] : 0, &got, &err) ||
                        got == 0,
                    "made-up bytes read from a sealed file");
    close(fd);
    void *sealed;
    size_t sealed_length;
    if (!pd_seal_text(arena, &key, "fuzz", data, size, &sealed, &sealed_length, &err) ||
        !pd_unseal_text(arena, &key, sealed, sealed_length, "fuzz", &text, &length, &err))
        abort();
    FUZZ_ASSERT(length == size && memcmp(text, data, size) == 0, "a sealed text did not open to itself");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
        abort();
    if (data[0] == 0)
        fuzz_lsn(arena, data + 1, size - 1);
    else if (data[0] == 1)
        fuzz_time(arena, data + 1, size - 1);
    else if (data[0] == 2)
        fuzz_relation(arena, data + 1, size - 1);
    else if (data[0] == 4)
        fuzz_blocks(arena, data + 1, size - 1);
    else if (data[0] == 5)
        fuzz_sealed(arena, data + 1, size - 1);
    else
        fuzz_document(arena, data + 1, size - 1);
    pd_arena_free(arena);
    return 0;
}

/*
 * fetch.c - `prodata wal-fetch` and the verification of one archived file.
 * Recovery asks for segments that do not exist yet all the time (the next
 * one, a newer timeline's history), so "not archived" is an ordinary answer,
 * PD_ERR_NOT_FOUND, which the command turns into a quiet exit status. What is
 * archived is restored through a temporary file beside the destination and
 * renamed into place only after its size and SHA-256 matched: PostgreSQL
 * never sees a half or a corrupt file under the name it asked for. A missing
 * archive directory is not "not archived": it is said, loudly. A segment
 * that recovery asks for (into RECOVERYXLOG) past its timeline's end in the
 * newest timeline's lineage is answered "not archived" (fork.c). Recovery's
 * segments may come from the read-ahead spool instead, on the same terms,
 * and each such request starts the read-ahead of the next ones (prefetch.c).
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

bool
pd_archive_verify(PdArena *arena, const PdArchiveKey *key, const char *path, PdArchiveHeader *header,
                  PdError *err)
{
    PdArchiveHeader scratch;
    PdSealIn in;
    PdArena *child = pd_arena_new_child(arena, 0);
    if (child == NULL)
        return pd_arena_error(arena, err);
    bool is_valid = pd_seal_in_open_path(child, key, path, NULL, &in, err);
    if (is_valid)
    {
        is_valid = pd_archive_stream_out(child, &in, -1, NULL, header != NULL ? header : &scratch, err);
        close(in.fd);
    }
    pd_arena_free(child);
    return is_valid;
}

bool
pd_archive_read_small(PdArena *arena, const PdArchiveKey *key, const char *path, size_t max_bytes,
                      char **text, size_t *length, PdError *err)
{
    PdArchiveHeader header;
    PdSealIn in;
    size_t got = 0;
    PdArena *child = pd_arena_new_child(arena, 0);
    int scratch = memfd_create("prodata-archived", MFD_CLOEXEC); /* in memory: no file left behind */
    bool ok = child != NULL || pd_arena_error(arena, err);
    if (ok && scratch < 0)
        ok = pd_archive_io_error(err, "create a scratch file for", path);
    ok = ok && pd_seal_in_open_path(child, key, path, NULL, &in, err);
    if (ok)
    {
        ok = pd_archive_stream_out(child, &in, scratch, "a scratch file", &header, err);
        close(in.fd);
    }
    pd_arena_free(child);
    if (ok && header.original_bytes >= max_bytes)
        ok = pd_error_set(err, PD_ERR_REFUSED, "archived file %s is larger than %zu bytes", path,
                          max_bytes - 1);
    if (ok && (*text = pd_arena_alloc(arena, (size_t)header.original_bytes + 1)) == NULL)
        ok = pd_arena_error(arena, err);
    if (ok && pd_archive_read_full_at(scratch, *text, (size_t)header.original_bytes, 0, &got, path, err))
        (*text)[ *length = got] = '\0';
    else
        ok = false;
    if (scratch >= 0)
        close(scratch);
    return ok;
}

/* The archived file restored into temp_path, then renamed to dest_path. */
static bool
restore(PdArena *arena, PdSealIn *in, const char *temp_path, const char *dest_path, PdArchiveHeader *header,
        PdError *err)
{
    int out_fd = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0)
        return pd_archive_io_error(err, "create", temp_path);
    bool is_restored = pd_archive_stream_out(arena, in, out_fd, temp_path, header, err);
    if (close(out_fd) != 0 && is_restored)
        is_restored = pd_archive_io_error(err, "close", temp_path);
    if (is_restored && rename(temp_path, dest_path) != 0)
        is_restored = pd_archive_io_error(err, "rename the restored file to", dest_path);
    if (!is_restored)
        unlink(temp_path);
    return is_restored;
}

static bool
is_directory(const char *dir)
{
    struct stat info;
    return stat(dir, &info) == 0 && S_ISDIR(info.st_mode);
}

/* A missing archive (an unmounted disk, a typo) is an error to say, not a segment that is not there yet. */
static bool
missing_archive(PdError *err, const char *dir)
{
    pd_error_set(err, PD_ERR_IO, "the archive directory %s does not exist", dir);
    pd_error_field(err, "archive_dir");
    return pd_error_hint(err, "Recovery cannot restore anything from it; check archive_dir and its mount.");
}

/* The archived file name through temp_path into dest_path; with fork (the segment parsed), judged first as
 * recovery's request (fork.c). */
static bool
fetch_file(PdArena *arena, const PdArchiveOptions *options, const char *name, const PdWalName *fork,
           const char *temp_path, const char *dest_path, PdArchiveHeader *header, PdError *err)
{
    char *path = pd_archive_join(arena, options->dir, name);
    if (path == NULL)
        return pd_arena_error(arena, err);
    int in_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0 && errno == ENOENT && !is_directory(options->dir))
        return missing_archive(err, options->dir);
    if (in_fd < 0 && errno == ENOENT)
        return pd_error_set(err, PD_ERR_NOT_FOUND, "%s is not in the archive %s", name, options->dir);
    if (in_fd < 0)
        return pd_archive_io_error(err, "open", path);
    PdSealIn in;
    if (!pd_seal_in_open(arena, options->key, in_fd, path, NULL, &in, err))
    {
        close(in_fd);
        return false;
    }
    unsigned char bytes[PD_ARCHIVE_HEADER_BYTES];
    size_t got = 0;
    PdArchiveHeader first;
    PdError ignored;
    if (fork != NULL && pd_seal_in_read_at(&in, bytes, sizeof bytes, 0, &got, &ignored) &&
        pd_archive_header_decode(bytes, got, path, &first, &ignored) &&
        !pd_archive_check_fork(arena, options, fork, first.original_bytes, err))
    {
        close(in_fd);
        return false;
    }
    PdArchiveHeader scratch;
    bool is_restored = restore(arena, &in, temp_path, dest_path, header != NULL ? header : &scratch, err);
    close(in_fd);
    return is_restored;
}

bool
pd_archive_fetch(PdArena *arena, const PdArchiveOptions *options, const char *name, const char *dest_path,
                 PdError *err)
{
    PdWalName parsed;
    if (!pd_archive_parse_name(name, &parsed, err))
        return pd_error_context(err, "wal-fetch %s", name);
    const char *base = strrchr(dest_path, '/');
    bool is_recovery =
        parsed.kind == PD_WAL_SEGMENT && strcmp(base != NULL ? base + 1 : dest_path, "RECOVERYXLOG") == 0;
    uint32_t segment_bytes = 0;
    int spooled =
        is_recovery ? pd_archive_prefetch_take(arena, options, &parsed, name, dest_path, &segment_bytes, err)
                    : 0;
    if (spooled < 0)
        return false;
    if (spooled == 0)
    {
        char *temp_path = pd_arena_sprintf(arena, "%s.prodata-fetch.%ld", dest_path, (long)getpid());
        PdArchiveHeader header;
        if (temp_path == NULL)
            return pd_arena_error(arena, err);
        if (!fetch_file(arena, options, name, is_recovery ? &parsed : NULL, temp_path, dest_path, &header,
                        err))
            return false;
        segment_bytes = header.original_bytes <= UINT32_MAX ? (uint32_t)header.original_bytes : 0;
    }
    if (is_recovery) /* wal_fetch_prefetch 0 starts nothing, but a spool from before is used and swept */
    {
        char *spool = pd_archive_prefetch_spool(arena, dest_path);
        if (spool != NULL)
            pd_archive_prefetch_sweep(spool, &parsed, segment_bytes);
        pd_archive_prefetch_start(arena, options, &parsed, segment_bytes, dest_path);
    }
    return true;
}

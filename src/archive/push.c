/*
 * push.c - `prodata wal-push`: one file from PostgreSQL's archiver into the
 * archive. The invariant: a name in the archive directory is either absent
 * or a whole, fsynced file with its checksum, and once there it is never
 * replaced. So the bytes go to a hidden temporary file (".NAME.PID.tmp") in
 * the same directory, which is fsynced and then hard-linked to the final
 * name: link(2) fails when the name exists, where rename(2) would silently
 * overwrite. The directory is fsynced after the temporary name is removed.
 * PostgreSQL pushes a file again after a crash or a failed attempt, so a
 * name already archived with the same bytes is success; different bytes
 * under that name are refused, loudly, and the archived copy is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

/* The file name PostgreSQL gave (%p is a path under pg_wal). */
static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* A segment (or its .partial) is exactly a segment size; history and backup files are small texts. */
static bool
check_size(const PdWalName *name, const char *path, uint64_t bytes, PdError *err)
{
    bool is_segment = name->kind == PD_WAL_SEGMENT || name->kind == PD_WAL_PARTIAL;
    if (is_segment && !pd_archive_is_segment_size(bytes))
        return pd_error_set(
            err, PD_ERR_INVALID_INPUT,
            "%s is not a whole WAL segment: %llu bytes (a segment is a power of two from 1 MB "
            "to 1 GB)",
            path, (unsigned long long)bytes);
    if (!is_segment && bytes > PD_WAL_DEFAULT_SEGMENT_BYTES)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is too large for a %s file: %llu bytes", path,
                            name->kind == PD_WAL_HISTORY ? "history" : "backup label",
                            (unsigned long long)bytes);
    return true;
}

static void
hex(const unsigned char *bytes, size_t length, char *out)
{
    for (size_t i = 0; i < length; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* Compares the pushed file with the one archived under its name: same bytes, or a refusal. */
static bool
compare_archived(PdArena *arena, const PdArchiveKey *key, const char *final_path,
                 const PdArchiveHeader *pushed, PdArchivePushOutcome *outcome, PdError *err)
{
    PdArchiveHeader archived;
    PdError verify_err;
    pd_error_clear(&verify_err);
    if (!pd_archive_verify(arena, key, final_path, &archived, &verify_err))
    {
        pd_error_set(err, PD_ERR_REFUSED,
                     "%s is already archived, but the archived copy does not verify; "
                     "it is not overwritten",
                     final_path);
        pd_error_detail(err, "%s", verify_err.message);
        return pd_error_hint(err, "Move the damaged file out of the archive directory, then the archiver's "
                                  "next attempt stores this one.");
    }
    if (archived.original_bytes == pushed->original_bytes &&
        memcmp(archived.sha256, pushed->sha256, sizeof(archived.sha256)) == 0)
    {
        *outcome = PD_ARCHIVE_ALREADY_ARCHIVED;
        return true;
    }
    char old_sum[65], new_sum[65];
    hex(archived.sha256, 32, old_sum);
    hex(pushed->sha256, 32, new_sum);
    pd_error_set(err, PD_ERR_REFUSED,
                 "refusing to overwrite %s: a different file is already archived under "
                 "that name",
                 final_path);
    pd_error_detail(err, "archived: %llu bytes, sha256 %s; pushed: %llu bytes, sha256 %s",
                    (unsigned long long)archived.original_bytes, old_sum,
                    (unsigned long long)pushed->original_bytes, new_sum);
    return pd_error_hint(err, "Two clusters archiving into one directory, or a restored cluster writing "
                              "on an old timeline? Give each cluster its own archive_dir.");
}

/* The bytes of in_fd into a new temporary file (sealed for final_path's name), header at 0, fsynced, closed.
 */
static bool
write_temporary(PdArena *arena, const PdArchiveOptions *options, int in_fd, const char *source_path,
                uint64_t bytes, const char *temp_path, const char *final_path, PdArchiveHeader *header,
                PdError *err)
{
    int out_fd = open(temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out_fd < 0)
        return pd_archive_io_error(err, "create", temp_path);
    unsigned char encoded[PD_ARCHIVE_HEADER_BYTES];
    header->compress = options->compress;
    PdSealOut stored;
    bool is_written = pd_seal_out_open(arena, options->key, out_fd, temp_path, final_path, &stored, err);
    stored.starts_writeback = true; /* the disk works while the next chunk is read: fdatasync waits less */
    is_written = is_written && pd_archive_stream_in(arena, in_fd, source_path, bytes, &stored,
                                                    options->zstd_level, header, err);
    if (is_written)
    {
        pd_archive_header_encode(header, encoded);
        is_written = pd_seal_out_close(&stored, encoded, err) &&
                     (fdatasync(out_fd) == 0 || pd_archive_io_error(err, "fsync", temp_path));
    }
    if (close(out_fd) != 0 && is_written)
        is_written = pd_archive_io_error(err, "close", temp_path);
    return is_written;
}

/* Links the temporary file to its final name; an existing name goes to the comparison. */
static bool
publish(PdArena *arena, const PdArchiveOptions *options, const char *temp_path, const char *final_path,
        const PdArchiveHeader *header, PdArchivePushOutcome *outcome, PdError *err)
{
    if (link(temp_path, final_path) != 0)
    {
        int saved = errno;
        unlink(temp_path);
        errno = saved;
        if (errno == EEXIST) /* pushed meanwhile by another process */
            return compare_archived(arena, options->key, final_path, header, outcome, err);
        return pd_archive_io_error(err, "link the archived file to", final_path);
    }
    if (unlink(temp_path) != 0)
        return pd_archive_io_error(err, "remove", temp_path);
    *outcome = PD_ARCHIVE_STORED;
    return pd_archive_fsync_dir(options->dir, err);
}

/* A segment's first page must be the segment its name says, of the archive's database system. */
static bool
check_segment(PdArena *arena, const PdArchiveOptions *options, int fd, const char *source_path,
              const PdWalName *name, uint64_t bytes, PdError *err)
{
    unsigned char page[PD_WAL_LONG_HEADER_BYTES];
    PdWalSegmentHeader header;
    if (name->kind != PD_WAL_SEGMENT && name->kind != PD_WAL_PARTIAL)
        return true;
    ssize_t got = pread(fd, page, sizeof(page), 0);
    if (got < 0)
        return pd_archive_io_error(err, "read", source_path);
    return pd_archive_read_segment_header(page, (size_t)got, name, bytes, source_path, &header, err) &&
           pd_archive_claim_system(arena, options->dir, header.system_identifier, source_path, err);
}

static bool
check_dir(const char *dir, PdError *err)
{
    struct stat info;
    bool exists = stat(dir, &info) == 0;
    if (exists && S_ISDIR(info.st_mode))
        return true;
    if (!exists && errno != ENOENT)
        return pd_archive_io_error(err, "stat the archive directory", dir);
    pd_error_set(err, PD_ERR_IO, "the archive directory %s %s", dir,
                 exists ? "is not a directory" : "does not exist");
    pd_error_field(err, "archive_dir");
    return pd_error_hint(err, "Create it, writable by the account PostgreSQL runs as; wal-push never "
                              "creates it, so a missing mount fails instead of filling another disk.");
}

static bool
push_open(const char *source_path, const PdWalName *name, int *fd, uint64_t *bytes, PdError *err)
{
    struct stat info;
    *fd = open(source_path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return pd_archive_io_error(err, "open", source_path);
    if (fstat(*fd, &info) != 0)
        return pd_archive_io_error(err, "stat", source_path);
    if (!S_ISREG(info.st_mode))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not a regular file", source_path);
    *bytes = (uint64_t)info.st_size;
    return check_size(name, source_path, *bytes, err);
}

bool
pd_archive_push(PdArena *arena, const PdArchiveOptions *options, const char *source_path,
                PdArchivePushOutcome *outcome, PdError *err)
{
    PdWalName name;
    const char *file = base_name(source_path);
    if (!pd_archive_parse_name(file, &name, err))
        return pd_error_context(err, "wal-push %s", source_path);
    char *final_path = pd_archive_join(arena, options->dir, file);
    char *temp_path = pd_arena_sprintf(arena, "%s/.%s.%ld.tmp", options->dir, file, (long)getpid());
    if (final_path == NULL || temp_path == NULL)
        return pd_arena_error(arena, err);
    int in_fd = -1;
    uint64_t bytes = 0;
    PdArchiveHeader header = {0};
    bool is_done = check_dir(options->dir, err) && push_open(source_path, &name, &in_fd, &bytes, err) &&
                   check_segment(arena, options, in_fd, source_path, &name, bytes, err);
    if (is_done && access(final_path, F_OK) == 0) /* a re-push: hash only, then compare */
        is_done = pd_archive_stream_in(arena, in_fd, source_path, bytes, NULL, 0, &header, err) &&
                  compare_archived(arena, options->key, final_path, &header, outcome, err);
    else if (is_done)
    {
        is_done =
            write_temporary(arena, options, in_fd, source_path, bytes, temp_path, final_path, &header, err);
        is_done = is_done ? publish(arena, options, temp_path, final_path, &header, outcome, err)
                          : (unlink(temp_path), false);
    }
    if (in_fd >= 0)
        close(in_fd);
    return is_done;
}

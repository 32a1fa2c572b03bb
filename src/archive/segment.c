/*
 * segment.c - what wal-push checks in a segment before storing it: its first
 * page's long header must describe the segment its name says (the page
 * address is segment number times segment size, the segment size is the
 * file's), so a truncated file, a renamed one or a file that is no WAL at all
 * is refused before it can stand in for a segment; and its database system
 * must be the archive's. The first segment pushed records the system
 * identifier in prodata.archive (written like a segment: temporary file,
 * fsync, link, directory fsync); every later one is compared with it, so two
 * clusters never mix their WAL in one directory, where their names collide.
 * PostgreSQL writes these headers in the machine's byte order; so are they read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

enum
{
    XLP_LONG_HEADER = 0x0002,
    OFFSET_INFO = 2,
    OFFSET_TIMELINE = 4,
    OFFSET_PAGE_ADDRESS = 8,
    OFFSET_SYSTEM = 24,
    OFFSET_SEGMENT_BYTES = 32,
    OFFSET_BLOCK_BYTES = 36,
};

static bool
not_the_segment(PdError *err, const char *path, const char *field, const char *why)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not the WAL segment its name says: %s", path, why);
    return pd_error_field(err, "%s", field);
}

static void
decode(const unsigned char *bytes, PdWalSegmentHeader *out, uint16_t *info)
{
    memcpy(info, bytes + OFFSET_INFO, sizeof(*info));
    memcpy(&out->timeline, bytes + OFFSET_TIMELINE, sizeof(out->timeline));
    memcpy(&out->page_address, bytes + OFFSET_PAGE_ADDRESS, sizeof(out->page_address));
    memcpy(&out->system_identifier, bytes + OFFSET_SYSTEM, sizeof(out->system_identifier));
    memcpy(&out->segment_bytes, bytes + OFFSET_SEGMENT_BYTES, sizeof(out->segment_bytes));
    memcpy(&out->block_bytes, bytes + OFFSET_BLOCK_BYTES, sizeof(out->block_bytes));
}

bool
pd_archive_read_segment_header(const unsigned char *bytes, size_t length, const PdWalName *name,
                               uint64_t file_bytes, const char *path, PdWalSegmentHeader *out, PdError *err)
{
    uint16_t info;
    uint64_t segno;
    if (length < PD_WAL_LONG_HEADER_BYTES)
        return not_the_segment(err, path, "header", "shorter than a page header");
    decode(bytes, out, &info);
    if ((info & XLP_LONG_HEADER) == 0)
        return not_the_segment(err, path, "xlp_info", "its first page has no long header");
    if (!pd_archive_is_segment_size(out->segment_bytes) || out->segment_bytes != file_bytes)
        return not_the_segment(err, path, "xlp_seg_size", "the segment size in its header is not its size");
    if (out->block_bytes < 1024 || out->block_bytes > 65536 ||
        (out->block_bytes & (out->block_bytes - 1)) != 0)
        return not_the_segment(err, path, "xlp_xlog_blcksz", "the block size in its header is not one");
    if (!pd_archive_segno(name, out->segment_bytes, &segno) ||
        out->page_address != segno * out->segment_bytes)
        return not_the_segment(err, path, "xlp_pageaddr", "its first page belongs at another WAL position");
    if (out->timeline == 0 || out->timeline > name->timeline)
        return not_the_segment(err, path, "xlp_tli", "its first page is of a later timeline than its name");
    if (out->system_identifier == 0)
        return not_the_segment(err, path, "xlp_sysid", "its header has no system identifier");
    return true;
}

/* "system_identifier = N\n" and nothing else. */
static bool
parse_system(const char *text, uint64_t *system_identifier)
{
    static const char prefix[] = "system_identifier = ";
    if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *digits = text + sizeof(prefix) - 1;
    char *end;
    if (*digits < '0' || *digits > '9')
        return false;
    errno = 0;
    unsigned long long value = strtoull(digits, &end, 10);
    if (errno != 0 || value == 0 || strcmp(end, "\n") != 0)
        return false;
    *system_identifier = value;
    return true;
}

bool
pd_archive_read_system(const char *dir, uint64_t *system_identifier, bool *is_recorded, PdError *err)
{
    char path[4096], text[64];
    snprintf(path, sizeof(path), "%s/%s", dir, PD_ARCHIVE_SYSTEM_FILE);
    *is_recorded = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return true;
    if (fd < 0)
        return pd_archive_io_error(err, "open", path);
    size_t got;
    bool is_read = pd_archive_read_full(fd, text, sizeof(text) - 1, &got, path, err);
    close(fd);
    if (!is_read)
        return false;
    text[got] = '\0';
    if (!parse_system(text, system_identifier))
        return pd_error_set(err, PD_ERR_REFUSED, "%s does not read as \"system_identifier = N\"", path);
    *is_recorded = true;
    return true;
}

/* Writes prodata.archive as a segment is written; a file another push linked first is left as it is. */
static bool
record_system(PdArena *arena, const char *dir, uint64_t system_identifier, PdError *err)
{
    char *final_path = pd_archive_join(arena, dir, PD_ARCHIVE_SYSTEM_FILE);
    char *temp_path = pd_arena_sprintf(arena, "%s/.%s.%ld.tmp", dir, PD_ARCHIVE_SYSTEM_FILE, (long)getpid());
    char *text = pd_arena_sprintf(arena, "system_identifier = %" PRIu64 "\n", system_identifier);
    if (final_path == NULL || temp_path == NULL || text == NULL)
        return pd_arena_error(arena, err);
    int fd = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return pd_archive_io_error(err, "create", temp_path);
    bool is_written = pd_archive_write_all(fd, text, strlen(text), temp_path, err) &&
                      (fdatasync(fd) == 0 || pd_archive_io_error(err, "fsync", temp_path));
    close(fd);
    if (is_written && link(temp_path, final_path) != 0 && errno != EEXIST)
        is_written = pd_archive_io_error(err, "link", final_path);
    unlink(temp_path);
    return is_written && pd_archive_fsync_dir(dir, err);
}

bool
pd_archive_claim_system(PdArena *arena, const char *dir, uint64_t system_identifier, const char *path,
                        PdError *err)
{
    uint64_t recorded = 0;
    bool is_recorded;
    if (!pd_archive_read_system(dir, &recorded, &is_recorded, err))
        return false;
    if (!is_recorded && (!record_system(arena, dir, system_identifier, err) ||
                         !pd_archive_read_system(dir, &recorded, &is_recorded, err)))
        return false;
    if (recorded == system_identifier)
        return true;
    pd_error_set(err, PD_ERR_REFUSED,
                 "refusing %s: it is WAL of database system %" PRIu64
                 ", and the archive %s holds system %" PRIu64,
                 path, system_identifier, dir, recorded);
    return pd_error_hint(err,
                         "Each cluster needs its own archive_dir (a new initdb or pg_upgrade makes a new "
                         "system); pg_controldata names a cluster's system identifier.");
}

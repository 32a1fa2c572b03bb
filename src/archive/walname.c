/*
 * walname.c - WAL file names as PostgreSQL writes them (xlog_internal.h:
 * XLogFileName, TLHistoryFileName, BackupHistoryFileName): upper-case hex,
 * fixed widths, nothing else. A name is parsed once, strictly, before any
 * file is opened, so a name from the command line can never reach outside the
 * archive directory (no '/', no "..") and every stored name reads back. The
 * segment number (log * segments per log + seg) needs the segment size, which
 * the name does not carry: callers pass it.
 */
#include <string.h>

#include "archive.h"

/* The value of n upper-case hex digits at text, or false when one is not. */
static bool
read_hex(const char *text, size_t n, uint32_t *value)
{
    uint32_t result = 0;
    for (size_t i = 0; i < n; i++)
    {
        char c = text[i];
        uint32_t digit;
        if (c >= '0' && c <= '9')
            digit = (uint32_t)(c - '0');
        else if (c >= 'A' && c <= 'F')
            digit = (uint32_t)(c - 'A' + 10);
        else
            return false;
        result = result * 16 + digit;
    }
    *value = result;
    return true;
}

/* The 24 digits of a segment name at text into out's timeline, log and seg. */
static bool
read_segment(const char *text, PdWalName *out)
{
    return read_hex(text, 8, &out->timeline) && read_hex(text + 8, 8, &out->log) &&
           read_hex(text + 16, 8, &out->seg);
}

static bool
classify(const char *name, size_t length, PdWalName *out)
{
    uint32_t offset;
    if (length == 8 + strlen(".history") && strcmp(name + 8, ".history") == 0)
    {
        out->kind = PD_WAL_HISTORY;
        out->log = out->seg = 0;
        return read_hex(name, 8, &out->timeline);
    }
    if (length < PD_WAL_NAME_LENGTH || !read_segment(name, out))
        return false;
    const char *suffix = name + PD_WAL_NAME_LENGTH;
    if (*suffix == '\0')
        out->kind = PD_WAL_SEGMENT;
    else if (strcmp(suffix, ".partial") == 0)
        out->kind = PD_WAL_PARTIAL;
    else if (length == PD_WAL_NAME_LENGTH + 1 + 8 + strlen(".backup") && suffix[0] == '.' &&
             read_hex(suffix + 1, 8, &offset) && strcmp(suffix + 9, ".backup") == 0)
        out->kind = PD_WAL_BACKUP;
    else
        return false;
    return true;
}

bool
pd_archive_parse_name(const char *name, PdWalName *out, PdError *err)
{
    size_t length = strnlen(name, 64);
    if (length < 64 && classify(name, length, out) && out->timeline != 0)
        return true;
    pd_error_set(err, PD_ERR_INVALID_INPUT, "\"%.64s%s\" is not a WAL file name", name,
                 length < 64 ? "" : "...");
    pd_error_field(err, "name");
    return pd_error_hint(err, "PostgreSQL archives segments (000000010000000000000001), their .partial, "
                              "timeline history files (00000002.history) and backup labels "
                              "(000000010000000000000002.00000028.backup): upper-case hex, timeline not 0.");
}

bool
pd_archive_is_segment_size(uint64_t bytes)
{
    return bytes >= (1u << 20) && bytes <= (1u << 30) && (bytes & (bytes - 1)) == 0;
}

uint64_t
pd_archive_segments_per_log(uint32_t segment_bytes)
{
    return UINT64_C(0x100000000) / segment_bytes;
}

bool
pd_archive_segno(const PdWalName *name, uint32_t segment_bytes, uint64_t *segno)
{
    uint64_t per_log = pd_archive_segments_per_log(segment_bytes);
    if (name->kind == PD_WAL_HISTORY || name->seg >= per_log)
        return false;
    *segno = (uint64_t)name->log * per_log + name->seg;
    return true;
}

void
pd_archive_segment_name(uint32_t timeline, uint64_t segno, uint32_t segment_bytes, char out[25])
{
    static const char digits[] = "0123456789ABCDEF";
    uint64_t per_log = pd_archive_segments_per_log(segment_bytes);
    uint32_t parts[3] = {timeline, (uint32_t)(segno / per_log), (uint32_t)(segno % per_log)};
    for (int part = 0; part < 3; part++)
        for (int i = 0; i < 8; i++)
            out[part * 8 + i] = digits[(parts[part] >> (28 - 4 * i)) & 0xF];
    out[PD_WAL_NAME_LENGTH] = '\0';
}

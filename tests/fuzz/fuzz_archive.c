/*
 * fuzz_archive.c - the archive's parsers on any bytes. The first byte picks
 * one: 0, a WAL file name (accepted names are exactly the shapes PostgreSQL
 * writes: a segment's name printed back from its numbers is the input); 1,
 * the 64-byte header (an accepted header encodes back to the same bytes,
 * and a rejected one is PD_ERR_REFUSED naming a field); 2, a WAL segment's
 * first page header, read for segment 000000020000000A000000FF of 16 MB (an
 * accepted one agrees with the name and the size); 3, a timeline history
 * file of timeline 5 (an accepted one names a parent below 5); otherwise, a whole
 * archived file read back by pd_archive_verify (header, zstd frame, sizes,
 * checksum), which must end in success or PD_ERR_REFUSED, never a crash.
 */
#include <unistd.h>

#include "archive/archive.h"
#include "fuzz.h"

static void
fuzz_name(PdArena *arena, const uint8_t *data, size_t size)
{
    char *text = fuzz_text(arena, data, size);
    PdWalName name;
    PdError err;
    if (!pd_archive_parse_name(text, &name, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "a bad name gave code %d", err.code);
        return;
    }
    FUZZ_ASSERT(name.timeline != 0, "timeline 0 accepted: %s", text);
    FUZZ_ASSERT(strchr(text, '/') == NULL, "a name with a slash accepted: %s", text);
    uint64_t segno;
    if (name.kind == PD_WAL_SEGMENT && pd_archive_segno(&name, PD_WAL_DEFAULT_SEGMENT_BYTES, &segno))
    {
        char back[25];
        pd_archive_segment_name(name.timeline, segno, PD_WAL_DEFAULT_SEGMENT_BYTES, back);
        FUZZ_ASSERT(strcmp(back, text) == 0, "%s printed back as %s", text, back);
    }
}

static void
fuzz_header(const uint8_t *data, size_t size)
{
    PdArchiveHeader header;
    PdError err;
    if (!pd_archive_header_decode(data, size, "fuzz", &header, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_REFUSED && err.field[0] != '\0', "a bad header gave code %d",
                    err.code);
        return;
    }
    unsigned char back[PD_ARCHIVE_HEADER_BYTES];
    pd_archive_header_encode(&header, back);
    FUZZ_ASSERT(memcmp(back, data, sizeof(back)) == 0, "an accepted header does not encode back the same");
}

static void
fuzz_segment_header(const uint8_t *data, size_t size)
{
    PdWalName name = {PD_WAL_SEGMENT, 2, 10, 255};
    PdWalSegmentHeader header;
    PdError err;
    if (!pd_archive_read_segment_header(data, size, &name, PD_WAL_DEFAULT_SEGMENT_BYTES, "fuzz", &header,
                                        &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT && err.field[0] != '\0', "a bad page gave code %d",
                    err.code);
        return;
    }
    FUZZ_ASSERT(header.segment_bytes == PD_WAL_DEFAULT_SEGMENT_BYTES,
                "a page of another segment size accepted");
    FUZZ_ASSERT(header.page_address == (UINT64_C(10) * 256 + 255) * PD_WAL_DEFAULT_SEGMENT_BYTES,
                "a page of another place accepted");
    FUZZ_ASSERT(header.timeline >= 1 && header.timeline <= 2, "a page of timeline %u accepted",
                header.timeline);
}

static void
fuzz_history(const uint8_t *data, size_t size)
{
    PdArchiveSwitch step;
    PdError err;
    if (!pd_archive_parse_history((const char *)data, size, "00000005.history", 5, &step, &err))
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT && strstr(err.message, "00000005.history:") != NULL,
                    "a bad history gave code %d: %s", err.code, err.message);
        return;
    }
    FUZZ_ASSERT(step.timeline == 5 && step.parent >= 1 && step.parent < 5, "parent %u accepted", step.parent);
}

static void
fuzz_file(PdArena *arena, const uint8_t *data, size_t size)
{
    FILE *file = tmpfile();
    FUZZ_ASSERT(file != NULL, "no temporary file");
    FUZZ_ASSERT(fwrite(data, 1, size, file) == size && fflush(file) == 0, "could not write the input");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(file));
    PdArchiveHeader header;
    PdError err;
    if (!pd_archive_verify(arena, NULL, path, &header, &err))
        FUZZ_ASSERT(err.code == PD_ERR_REFUSED, "a bad archived file gave code %d: %s", err.code,
                    err.message);
    fclose(file);
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
        fuzz_name(arena, data + 1, size - 1);
    else if (data[0] == 1)
        fuzz_header(data + 1, size - 1);
    else if (data[0] == 2)
        fuzz_segment_header(data + 1, size - 1);
    else if (data[0] == 3)
        fuzz_history(data + 1, size - 1);
    else
        fuzz_file(arena, data + 1, size - 1);
    pd_arena_free(arena);
    return 0;
}

/*
 * pagecheck.c - data checksums of relation pages, judged while a backup
 * copies them, so a corrupt page is reported when it is read rather than when
 * a restore needs it. The checksum is PostgreSQL's own (the algorithm of
 * storage/checksum_impl.h, re-stated here) and the verdict follows the
 * server's rules: an all-zero page has no checksum yet, a page whose LSN is at
 * or past the backup's start may be torn but WAL replay rewrites it, and a
 * page whose header no PostgreSQL writes is bad whatever its checksum.
 * Pages are in this machine's byte order, as PostgreSQL wrote them. Which
 * files hold such pages is decided from the path alone, strictly; reading the
 * files and counting bad pages is the caller's.
 */
#include <string.h>

#include "backup.h"

/*
 * The checksum runs 32 FNV-1a-like hashes side by side over the page seen as
 * rows of 32 words: the lane count is part of the result, not a tuning knob.
 */
enum
{
    LANES = 32,
    ROWS = PD_BACKUP_PAGE_BYTES / (4 * LANES),
};
#define FNV_PRIME UINT32_C(16777619)

/* Each lane's starting value: PostgreSQL's random constants, which the stored checksums depend on. */
static const uint32_t lane_offsets[LANES] = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
};

/* The page header's fields (PostgreSQL's PageHeaderData), by byte offset. */
enum
{
    OFFSET_LSN_HIGH = 0, /* pd_lsn.xlogid */
    OFFSET_LSN_LOW = 4,  /* pd_lsn.xrecoff */
    OFFSET_CHECKSUM = 8,
    OFFSET_FLAGS = 10,
    OFFSET_LOWER = 12,
    OFFSET_UPPER = 14,
    OFFSET_SPECIAL = 16,
    OFFSET_SIZE_VERSION = 18,
};
/* PD_HAS_FREE_LINES | PD_PAGE_FULL | PD_ALL_VISIBLE: any other flag bit is damage. */
#define VALID_FLAGS 0x0007u
/* The page size ORed with layout version 4, as every page since PostgreSQL 8.3 carries it. */
#define SIZE_VERSION (PD_BACKUP_PAGE_BYTES | 4u)
/* pd_special is MAXALIGNed: 8 bytes on the 64-bit builds we back up. */
#define MAXALIGN_BYTES 8u
/* The relation segments PostgreSQL can make: SEG * PD_BACKUP_SEGMENT_BLOCKS still fits a block number. */
#define MAX_SEGMENT (UINT32_C(0xFFFFFFFF) / PD_BACKUP_SEGMENT_BLOCKS)

/* One round of a lane: FNV-1a's xor-multiply, plus a shifted xor that lets high bits reach low ones. */
static uint32_t
mix(uint32_t hash, uint32_t value)
{
    uint32_t folded = hash ^ value;
    return (folded * FNV_PRIME) ^ (folded >> 17);
}

/* Host-order reads: memcpy, because page may sit at any address. */
static uint16_t
read_u16(const unsigned char *page, size_t offset)
{
    uint16_t value;
    memcpy(&value, page + offset, sizeof(value));
    return value;
}

static uint32_t
read_u32(const unsigned char *page, size_t offset)
{
    uint32_t value;
    memcpy(&value, page + offset, sizeof(value));
    return value;
}

uint16_t
pd_backup_page_checksum(const unsigned char *page, uint32_t blkno)
{
    /* A copy in words, aligned, with pd_checksum zeroed: the stored sum cannot be part of its own input. */
    uint32_t words[ROWS][LANES];
    memcpy(words, page, sizeof(words));
    memset((unsigned char *)words + OFFSET_CHECKSUM, 0, sizeof(uint16_t));
    uint32_t sums[LANES];
    memcpy(sums, lane_offsets, sizeof(sums));
    for (size_t row = 0; row < ROWS; row++)
        for (size_t lane = 0; lane < LANES; lane++)
            sums[lane] = mix(sums[lane], words[row][lane]);
    /* two rounds of zeros, so the last row's bits spread through the whole lane */
    for (int round = 0; round < 2; round++)
        for (size_t lane = 0; lane < LANES; lane++)
            sums[lane] = mix(sums[lane], 0);
    uint32_t result = 0;
    for (size_t lane = 0; lane < LANES; lane++)
        result ^= sums[lane];
    /* the block number, so a page written at the wrong place fails; then 1..65535, never 0 */
    result ^= blkno;
    return (uint16_t)(result % 65535 + 1);
}

static bool
is_all_zero(const unsigned char *page)
{
    for (size_t i = 0; i < PD_BACKUP_PAGE_BYTES; i++)
        if (page[i] != 0)
            return false;
    return true;
}

/*
 * What PostgreSQL's PageIsVerifiedExtended asks of a non-zero page before it
 * enters shared buffers, plus the size and version PageInit always writes.
 * pd_upper 0 means "never initialized", which only an all-zero page may be.
 */
static bool
is_header_sane(const unsigned char *page)
{
    uint16_t lower = read_u16(page, OFFSET_LOWER);
    uint16_t upper = read_u16(page, OFFSET_UPPER);
    uint16_t special = read_u16(page, OFFSET_SPECIAL);
    return (read_u16(page, OFFSET_FLAGS) & ~VALID_FLAGS) == 0 && upper != 0 && lower <= upper &&
           upper <= special && special <= PD_BACKUP_PAGE_BYTES && special % MAXALIGN_BYTES == 0 &&
           read_u16(page, OFFSET_SIZE_VERSION) == SIZE_VERSION;
}

PdPageVerdict
pd_backup_check_page(const unsigned char *page, uint32_t blkno, uint64_t start_lsn)
{
    if (is_all_zero(page))
        return PD_PAGE_NEW;
    uint64_t lsn = ((uint64_t)read_u32(page, OFFSET_LSN_HIGH) << 32) | read_u32(page, OFFSET_LSN_LOW);
    /* as pg_basebackup: written since the start, maybe half-read now, and replay rewrites it whole */
    if (lsn >= start_lsn)
        return PD_PAGE_NEWER;
    if (!is_header_sane(page))
        return PD_PAGE_BAD;
    return read_u16(page, OFFSET_CHECKSUM) == pd_backup_page_checksum(page, blkno) ? PD_PAGE_OK : PD_PAGE_BAD;
}

/* Moves *text past literal when it starts with it. */
static bool
skip(const char **text, const char *literal)
{
    size_t length = strlen(literal);
    if (strncmp(*text, literal, length) != 0)
        return false;
    *text += length;
    return true;
}

/*
 * Reads a decimal number as PostgreSQL prints OIDs and segment numbers: digits
 * only, no sign, no leading zero, not 0 (no database, relation, tablespace or
 * suffixed segment is 0), at most 4294967295. Moves *text past it.
 */
static bool
read_number(const char **text, uint32_t *value)
{
    const char *p = *text;
    if (*p < '1' || *p > '9')
        return false;
    uint64_t result = 0;
    for (; *p >= '0' && *p <= '9'; p++)
    {
        result = result * 10 + (uint64_t)(*p - '0');
        if (result > UINT32_MAX)
            return false;
    }
    *text = p;
    *value = (uint32_t)result;
    return true;
}

/* Moves *text past one or more digits; the catalog version in a tablespace's directory name. */
static bool
skip_digits(const char **text)
{
    const char *p = *text;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == *text)
        return false;
    *text = p;
    return true;
}

/* A tablespace's "OID/PG_MAJOR_CATALOG/DB/": the directory PostgreSQL makes per server version. */
static bool
skip_tablespace_prefix(const char **text)
{
    uint32_t oid;
    uint32_t major;
    return read_number(text, &oid) && skip(text, "/PG_") && read_number(text, &major) && skip(text, "_") &&
           skip_digits(text) && skip(text, "/") && read_number(text, &oid) && skip(text, "/");
}

/* The last component: FILENODE, a fork's suffix or none, ".SEG" or none, nothing else. */
static bool
read_fork_file(const char *name, uint32_t *segment)
{
    uint32_t filenode;
    uint32_t number = 0;
    if (!read_number(&name, &filenode))
        return false;
    if (!skip(&name, "_fsm") && !skip(&name, "_vm"))
        (void)skip(&name, "_init");
    if (skip(&name, ".") && (!read_number(&name, &number) || number > MAX_SEGMENT))
        return false;
    if (*name != '\0')
        return false;
    *segment = number;
    return true;
}

bool
pd_backup_is_relation_file(const char *path, uint32_t *segment)
{
    const char *rest = path;
    uint32_t database;
    if (skip(&rest, "base/"))
    {
        if (!read_number(&rest, &database) || !skip(&rest, "/"))
            return false;
    }
    else if (skip(&rest, "pg_tblspc/"))
    {
        if (!skip_tablespace_prefix(&rest))
            return false;
    }
    else if (!skip(&rest, "global/"))
        return false;
    return read_fork_file(rest, segment);
}

/*
 * history.c - timeline history files, so archive check can follow WAL
 * across a promotion. PostgreSQL writes one per new timeline: a line per
 * ancestor, "parent<TAB>X/Y<TAB>reason", the last line being the switch
 * from the direct parent at LSN X/Y. Recovery along that timeline reads the
 * parent's segments up to the one holding the switch point and the child's
 * from there, so a segment missing on either side of the switch is a gap
 * that the per-timeline ranges (gaps.c) cannot see. Parsing is strict and
 * names path:line, as the text comes from a file anyone could have edited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"

/* Reads "digits" as an unsigned number of at most max; *text moves past it. */
static bool
read_number(const char **text, const char *end, int base, uint64_t max, uint64_t *value)
{
    const char *at = *text;
    uint64_t result = 0;
    for (; at < end; at++)
    {
        int digit;
        if (*at >= '0' && *at <= '9')
            digit = *at - '0';
        else if (base == 16 && *at >= 'A' && *at <= 'F')
            digit = *at - 'A' + 10;
        else if (base == 16 && *at >= 'a' && *at <= 'f')
            digit = *at - 'a' + 10;
        else
            break;
        if (result > (max - (uint64_t)digit) / (uint64_t)base)
            return false;
        result = result * (uint64_t)base + (uint64_t)digit;
    }
    if (at == *text)
        return false;
    *text = at;
    *value = result;
    return true;
}

/* One line "parent<TAB>X/Y<TAB>..." (the reason is free text) into parent and lsn. */
static bool
parse_line(const char *line, const char *end, uint32_t *parent, uint64_t *lsn)
{
    uint64_t value, high, low;
    const char *at = line;
    if (!read_number(&at, end, 10, UINT32_MAX, &value) || at >= end || (*at != '\t' && *at != ' '))
        return false;
    *parent = (uint32_t)value;
    while (at < end && (*at == '\t' || *at == ' '))
        at++;
    if (!read_number(&at, end, 16, UINT32_MAX, &high) || at >= end || *at != '/' ||
        (at++, !read_number(&at, end, 16, UINT32_MAX, &low)))
        return false;
    *lsn = (high << 32) | low;
    return at == end || *at == '\t' || *at == ' ';
}

static bool
bad_line(PdError *err, const char *path, int line_number, const char *why)
{
    pd_error_set(err, PD_ERR_INVALID_INPUT, "%s:%d: %s", path, line_number, why);
    return pd_error_position(err, path, line_number, 1);
}

bool
pd_archive_parse_history(const char *text, size_t length, const char *path, uint32_t timeline,
                         PdArchiveSwitch *out, PdError *err)
{
    const char *end = text + length;
    int line_number = 0;
    bool has_line = false;
    for (const char *line = text; line < end;)
    {
        const char *line_end = memchr(line, '\n', (size_t)(end - line));
        line_end = line_end != NULL ? line_end : end;
        line_number++;
        const char *first = line;
        while (first < line_end && (*first == ' ' || *first == '\t' || *first == '\r'))
            first++;
        if (first < line_end && *first != '#')
        {
            uint32_t parent;
            uint64_t lsn;
            if (!parse_line(first, line_end, &parent, &lsn))
                return bad_line(err, path, line_number, "expected \"parent-timeline<TAB>X/Y<TAB>reason\"");
            if (parent == 0 || parent >= timeline ||
                (has_line && (parent <= out->parent || lsn < out->switch_lsn)))
                return bad_line(err, path, line_number, "timelines and LSNs do not ascend");
            *out = (PdArchiveSwitch){timeline, parent, lsn};
            has_line = true;
        }
        line = line_end < end ? line_end + 1 : end;
    }
    return has_line || bad_line(err, path, line_number, "no switch line in a timeline history file");
}

/*
 * wal_history.c - PostgreSQL's timeline history files. Each promotion
 * writes one for its new timeline: a line per ancestor, "parent<TAB>X/Y<TAB>
 * reason", saying where that ancestor ended, the last line being the switch
 * from the direct parent. The archive's check follows segments across a
 * switch with it; the keeper learns from it where a standby's older
 * timeline ended in the primary's lineage. Parsing is strict and names
 * path:line, as the text comes from a file anyone could have edited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prodata/wal.h"

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
pd_wal_history_parse(PdArena *arena, const char *text, size_t length, const char *path, uint32_t timeline,
                     PdWalSwitch **switches, size_t *count, PdError *err)
{
    const char *end = text + length;
    int line_number = 0;
    size_t capacity = 0;
    *switches = NULL;
    *count = 0;
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
            PdWalSwitch step;
            const PdWalSwitch *last = *count > 0 ? &(*switches)[*count - 1] : NULL;
            if (!parse_line(first, line_end, &step.parent, &step.switch_lsn))
                return bad_line(err, path, line_number, "expected \"parent-timeline<TAB>X/Y<TAB>reason\"");
            if (step.parent == 0 || step.parent >= timeline ||
                (last != NULL && (step.parent <= last->parent || step.switch_lsn < last->switch_lsn)))
                return bad_line(err, path, line_number, "timelines and LSNs do not ascend");
            if (*count == capacity)
            {
                capacity = capacity == 0 ? 8 : capacity * 2;
                PdWalSwitch *grown = pd_arena_calloc(arena, capacity, sizeof *grown);
                if (grown == NULL)
                    return pd_arena_error(arena, err);
                if (*count > 0)
                    memcpy(grown, *switches, *count * sizeof *grown);
                *switches = grown;
            }
            (*switches)[(*count)++] = step;
        }
        line = line_end < end ? line_end + 1 : end;
    }
    return *count > 0 || bad_line(err, path, line_number, "no switch line in a timeline history file");
}

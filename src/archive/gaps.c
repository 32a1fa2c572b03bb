/*
 * gaps.c - the sequence logic of `prodata archive check`, pure and unit
 * tested: archived names sorted by timeline and segment number, each
 * timeline's range, the runs of segments missing inside it, and the newest
 * segment. A .partial fills its place in the sequence (it is the end of its
 * timeline, cut at a promotion). Within a timeline, a timeline starts where
 * its archived segments start (the archive may begin after initdb); across a
 * switch read from a history file (history.c), the parent must reach the
 * segment before the switch segment and the child start at it, the way
 * recovery reads them.
 */
#include <stdlib.h>
#include <string.h>

#include "archive.h"

typedef struct Entry
{
    uint32_t timeline;
    uint64_t segno;
    bool is_partial;
} Entry;

static int
compare_entries(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->timeline != y->timeline)
        return x->timeline < y->timeline ? -1 : 1;
    if (x->segno != y->segno)
        return x->segno < y->segno ? -1 : 1;
    return (int)x->is_partial - (int)y->is_partial; /* the whole segment first */
}

static int
compare_timelines(const void *a, const void *b)
{
    const PdArchiveTimeline *x = a, *y = b;
    return x->timeline < y->timeline ? -1 : x->timeline > y->timeline;
}

/* The timeline's row, added when new. */
static PdArchiveTimeline *
timeline_row(PdArena *arena, PdArchiveReport *report, uint32_t timeline)
{
    for (size_t i = 0; i < report->timeline_count; i++)
        if (report->timelines[i].timeline == timeline)
            return &report->timelines[i];
    PdArchiveTimeline *rows =
        pd_arena_reserve_next(arena, report->timelines, report->timeline_count, sizeof(PdArchiveTimeline));
    if (rows == NULL)
        return NULL;
    report->timelines = rows;
    PdArchiveTimeline *row = &rows[report->timeline_count++];
    memset(row, 0, sizeof(*row));
    row->timeline = timeline;
    return row;
}

static bool
add_gap(PdArena *arena, PdArchiveReport *report, uint32_t timeline, uint64_t first, uint64_t last,
        uint32_t segment_bytes)
{
    PdArchiveGap *gaps = pd_arena_reserve_next(arena, report->gaps, report->gap_count, sizeof(PdArchiveGap));
    if (gaps == NULL)
        return false;
    report->gaps = gaps;
    PdArchiveGap *gap = &gaps[report->gap_count++];
    gap->timeline = timeline;
    gap->first_segno = first;
    gap->last_segno = last;
    pd_archive_segment_name(timeline, first, segment_bytes, gap->first);
    pd_archive_segment_name(timeline, last, segment_bytes, gap->last);
    return true;
}

/* One sorted entry into its timeline's row: a new segment, or the same one again (segment and .partial). */
static bool
take_entry(PdArena *arena, PdArchiveReport *report, const Entry *entry, const Entry *previous,
           uint32_t segment_bytes)
{
    PdArchiveTimeline *row = timeline_row(arena, report, entry->timeline);
    if (row == NULL)
        return false;
    bool is_same_timeline = previous != NULL && previous->timeline == entry->timeline && row->segments > 0;
    if (is_same_timeline && previous->segno == entry->segno)
        return true; /* a .partial beside its whole segment adds nothing */
    if (is_same_timeline && entry->segno > previous->segno + 1 &&
        !add_gap(arena, report, entry->timeline, previous->segno + 1, entry->segno - 1, segment_bytes))
        return false;
    if (row->segments == 0)
        row->first_segno = entry->segno;
    row->last_segno = entry->segno;
    row->ends_partial = entry->is_partial;
    row->segments++;
    return true;
}

static void
set_newest(PdArchiveReport *report, const Entry *entry, uint32_t segment_bytes)
{
    char name[25];
    pd_archive_segment_name(entry->timeline, entry->segno, segment_bytes, name);
    memcpy(report->newest, name, sizeof(name));
    if (entry->is_partial)
        strcat(report->newest, ".partial");
}

/* Segment-like names as sorted entries; history files as timelines without segments. */
static Entry *
collect(PdArena *arena, const PdWalName *names, size_t count, uint32_t segment_bytes, size_t *entry_count)
{
    Entry *entries = pd_arena_calloc(arena, count + 1, sizeof(Entry));
    *entry_count = 0;
    for (size_t i = 0; entries != NULL && i < count; i++)
    {
        uint64_t segno;
        bool is_wal = names[i].kind == PD_WAL_SEGMENT || names[i].kind == PD_WAL_PARTIAL;
        if (is_wal && pd_archive_segno(&names[i], segment_bytes, &segno))
            entries[(*entry_count)++] = (Entry){names[i].timeline, segno, names[i].kind == PD_WAL_PARTIAL};
    }
    if (entries != NULL)
        qsort(entries, *entry_count, sizeof(Entry), compare_entries);
    return entries;
}

bool
pd_archive_find_gaps(PdArena *arena, const PdWalName *names, size_t count, uint32_t segment_bytes,
                     PdArchiveReport *report, PdError *err)
{
    size_t entry_count;
    Entry *entries = collect(arena, names, count, segment_bytes, &entry_count);
    if (entries == NULL)
        return pd_arena_error(arena, err);
    report->newest[0] = '\0';
    for (size_t i = 0; i < entry_count; i++)
        if (!take_entry(arena, report, &entries[i], i > 0 ? &entries[i - 1] : NULL, segment_bytes))
            return pd_arena_error(arena, err);
    if (entry_count > 0)
    {
        /* The newest: the last entry, or the whole segment when a .partial of the same place follows it. */
        size_t last = entry_count - 1;
        if (last > 0 && entries[last].is_partial && entries[last - 1].timeline == entries[last].timeline &&
            entries[last - 1].segno == entries[last].segno)
            last--;
        set_newest(report, &entries[last], segment_bytes);
    }
    for (size_t i = 0; i < count; i++)
    {
        PdArchiveTimeline *row =
            names[i].kind == PD_WAL_HISTORY ? timeline_row(arena, report, names[i].timeline) : NULL;
        if (names[i].kind == PD_WAL_HISTORY && row == NULL)
            return pd_arena_error(arena, err);
        if (row != NULL)
            row->has_history = true;
    }
    /* A timeline known only from its history file was added last. */
    if (report->timeline_count > 1)
        qsort(report->timelines, report->timeline_count, sizeof(PdArchiveTimeline), compare_timelines);
    return true;
}

static int
compare_gaps(const void *a, const void *b)
{
    const PdArchiveGap *x = a, *y = b;
    if (x->timeline != y->timeline)
        return x->timeline < y->timeline ? -1 : 1;
    return x->first_segno < y->first_segno ? -1 : x->first_segno > y->first_segno;
}

static PdArchiveTimeline *
find_timeline(PdArchiveReport *report, uint32_t timeline)
{
    for (size_t i = 0; i < report->timeline_count; i++)
        if (report->timelines[i].timeline == timeline)
            return &report->timelines[i];
    return NULL;
}

/* One switch: the parent up to the segment before the switch segment, the child from it. */
static bool
check_switch(PdArena *arena, const PdArchiveSwitch *step, uint32_t segment_bytes, PdArchiveReport *report)
{
    uint64_t switch_segno = step->switch_lsn / segment_bytes;
    PdArchiveTimeline *child = find_timeline(report, step->timeline);
    PdArchiveTimeline *parent = find_timeline(report, step->parent);
    if (child != NULL)
    {
        child->parent = step->parent;
        child->switch_lsn = step->switch_lsn;
    }
    if (parent != NULL && parent->segments > 0 && switch_segno > 0 && parent->last_segno + 1 < switch_segno &&
        !add_gap(arena, report, parent->timeline, parent->last_segno + 1, switch_segno - 1, segment_bytes))
        return false;
    if (child != NULL && child->segments > 0 && child->first_segno > switch_segno &&
        !add_gap(arena, report, child->timeline, switch_segno, child->first_segno - 1, segment_bytes))
        return false;
    return true;
}

bool
pd_archive_find_switch_gaps(PdArena *arena, const PdArchiveSwitch *switches, size_t count,
                            uint32_t segment_bytes, PdArchiveReport *report, PdError *err)
{
    for (size_t i = 0; i < count; i++)
        if (!check_switch(arena, &switches[i], segment_bytes, report))
            return pd_arena_error(arena, err);
    if (report->gap_count > 1)
        qsort(report->gaps, report->gap_count, sizeof(PdArchiveGap), compare_gaps);
    return true;
}

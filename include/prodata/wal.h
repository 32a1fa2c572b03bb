/*
 * wal.h - PostgreSQL's timeline history files read (src/db/wal_history.c),
 * for the programs that follow WAL across promotions: the archive's check
 * and the keeper's test of a standby whose WAL forked from the primary's.
 */
#ifndef PRODATA_WAL_H
#define PRODATA_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/export.h"

PD_API_BEGIN

/* The most bytes of a history file its readers take (one short line per promotion: far more than any has). */
#define PD_WAL_HISTORY_MAX (1 << 20)

/* One line of a history file: the ancestor timeline parent ended at switch_lsn. */
typedef struct PdWalSwitch
{
    uint32_t parent;
    uint64_t switch_lsn;
} PdWalSwitch;

/*
 * Reads the text of timeline's history file (length bytes, as PostgreSQL
 * writes it: "parent<TAB>X/Y<TAB>reason" per line, # comments, blank lines)
 * into *switches (arena-allocated, oldest ancestor first; the last is the
 * switch from the direct parent) and *count. Each line's parent must be
 * below timeline and above the previous line's, its LSN not before the
 * previous line's. path names the file in messages. Errors:
 * PD_ERR_INVALID_INPUT naming path:line (no line at all is one too),
 * PD_ERR_NO_MEMORY.
 */
bool pd_wal_history_parse(PdArena *arena, const char *text, size_t length, const char *path,
                          uint32_t timeline, PdWalSwitch **switches, size_t *count, PdError *err);

PD_API_END

#endif

/*
 * history.h - the failover history as readers see it: the value at
 * pd_keys_history (keys.h), a JSON array, newest last, of the entries the new
 * leader's keeper appends by compare-and-swap (the last 100 kept):
 *
 *   [{"at_ms": 1764489600123, "from": "n1", "to": "n2", "reason": "failover",
 *     "timeline": 4, "lsn": "0/5000060"}, ...]
 *
 * at_ms: the new leader's wall clock (ms since the epoch) when it took over;
 * from: the leader before ("" when unknown); reason: "failover",
 * "switchover" or "manual"; timeline and lsn: where the new timeline began.
 * `prodata cluster history` and `status` read it with this; the keeper writes it.
 */
#ifndef PRODATA_HA_HISTORY_H
#define PRODATA_HA_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_HISTORY_DOCUMENT_MAX = 1024 * 1024, /* bytes of the document */
};

typedef struct PdHistoryEntry
{
    int64_t at_ms;
    const char *from; /* "" when unknown */
    const char *to;
    const char *reason;
    int timeline;
    uint64_t lsn;
} PdHistoryEntry;

/*
 * Reads a document (length bytes) strictly: an array of objects with exactly
 * the six fields, each of its type (reason one of the three, to a member name,
 * from one or "", lsn "X/X", timeline >= 1). *entries (strings too) in arena,
 * oldest first, written only on success. Errors: PD_ERR_INVALID_INPUT naming
 * the entry and field ("[3].lsn"), PD_ERR_NO_MEMORY.
 */
bool pd_history_parse(PdArena *arena, const char *text, size_t length, PdHistoryEntry **entries,
                      size_t *count, PdError *err);

#endif

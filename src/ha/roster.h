/*
 * roster.h - the cluster's members for good, the value at pd_keys_roster
 * (keys.h): {"members": ["n1", "n2", "n3"]}, names sorted and unique. It is
 * what outlives a lease: a member key vanishes when its keeper dies, a
 * roster name stays until `prodata cluster remove` takes it out. Each keeper
 * adds its own name at start; the leader keeps one physical replication
 * slot (prodata_<name>) per roster name other than its own and drops the
 * prodata_* slots of names not in it, so a standby that is down keeps its WAL
 * and a member removed for good stops holding WAL back. Changes are
 * compare-and-swaps on the key's mod_revision, so two keepers adding
 * themselves at once are both kept.
 */
#ifndef PRODATA_HA_ROSTER_H
#define PRODATA_HA_ROSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "ha/etcd.h"
#include "ha/keys.h"
#include "prodata/arena.h"
#include "prodata/error.h"

enum
{
    PD_ROSTER_MAX = 64, /* names in a roster */
};

typedef struct PdRoster
{
    const char **names; /* sorted, unique, each a member name (pd_keys_check_member) */
    size_t count;
} PdRoster;

/*
 * Reads a document (length bytes) strictly: an object with exactly the field
 * "members", an array of at most PD_ROSTER_MAX member names. Names come out
 * sorted and unique (a repeated name is refused). *roster in arena, written
 * only on success. Errors: PD_ERR_INVALID_INPUT (field "members"), PD_ERR_NO_MEMORY.
 */
bool pd_roster_parse(PdArena *arena, const char *text, size_t length, PdRoster *roster, PdError *err);

/* The document, compact, names sorted. *json in arena. Errors: PD_ERR_INVALID_INPUT (a name that is not a
 * member name, too many, a repeat), PD_ERR_NO_MEMORY. */
bool pd_roster_json(PdArena *arena, const PdRoster *roster, char **json, PdError *err);

/* Whether name is in roster. */
bool pd_roster_contains(const PdRoster *roster, const char *name);

/*
 * Adds (is_add) or removes member in the roster in etcd: reads the key,
 * and unless the roster already says so, writes the changed document by a
 * compare-and-swap on the mod_revision read (absent: only if still absent),
 * starting over from the newer document up to 5 times. DONE: the roster in
 * etcd now has (or lacks) member; *is_changed (may be NULL) says whether this
 * call wrote it. COMPARE_FAILED: changed by others on every attempt, nothing
 * written. UNKNOWN: PD_ERR_DCS_UNKNOWN, the write may or may not have been
 * applied. REJECTED: etcd refused, or the stored roster is not a valid
 * document (PD_ERR_INVALID_INPUT: nothing written; it must be repaired by
 * hand, see docs/ha.md), or member is not a member name.
 */
PdEtcdOutcome pd_roster_change(PdArena *arena, PdEtcd *etcd, const PdKeys *keys, const char *member,
                               bool is_add, bool *is_changed, PdError *err);

#endif

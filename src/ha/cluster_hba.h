/*
 * cluster_hba.h - private to the cluster configuration files: its pg_hba
 * field, the client rules every node appends to the pg_hba.conf prodata
 * writes (docs/ha.md, "Authentication"): read from the JSON document,
 * checked line by line, and changed by `cluster config set` (pg_hba+=LINE,
 * pg_hba-=LINE, pg_hba=[...]).
 */
#ifndef PRODATA_HA_CLUSTER_HBA_H
#define PRODATA_HA_CLUSTER_HBA_H

#include <jansson.h>

#include "ha/cluster_config.h"

/* The lines of a JSON array into *lines (in arena), or a problem naming the field or its index. */
void pd_cluster_hba_read(PdArena *arena, json_t *array, const char *const **lines, size_t *count,
                         PdError *problems);

/* Each problem of the lines (count, length, characters, type and fields, duplicates) added to *problems. */
void pd_cluster_hba_check(const char *const *lines, size_t count, PdError *problems);

/* The lines as a JSON array (new reference), NULL when out of memory. */
json_t *pd_cluster_hba_json(const char *const *lines, size_t count);

/*
 * One change: op is '+' (append LINE unless present), '-' (remove LINE; a
 * problem when absent) or '=' (a JSON array replaces the lines). *lines (in
 * arena) is replaced, never changed in place. Problems name the field "pg_hba".
 */
void pd_cluster_hba_assign(PdArena *arena, char op, const char *value, const char *const **lines,
                           size_t *count, PdError *problems);

#endif

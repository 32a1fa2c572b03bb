#!/bin/bash
# evolution_types.sh - arrays of a scalar type (int[], string(n)[], date[],
# decimal(p,s)[], bool[]) and the inet and cidr kinds through the planner:
# added to a table holding rows (with [..] defaults and a GIN index), element
# types changed through the cast table, nullability and defaults changed, an
# inet made a cidr and back, then dropped. Each step is checked by
# tests/lib/evolution.sh (history = fresh, down = previous, check, nothing
# left to make), and the rows of the first steps are probed on the way.
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 63
evolution_begin evolution_types

# --- 1: a table with rows ---
step "create" <<'PDM'
model Host {
  name  string(40)
}
PDM
sql "$HIST" "INSERT INTO host (name) VALUES ('alpha'), ('beta')" >/dev/null

# --- 2: array and address fields added to the table with rows ---
step "add arrays and addresses" <<'PDM'
model Host {
  name    string(40)
  scores  int[]  default=[]
  labels  string(30)[]  null  index
  days    date[]  null
  prices  decimal(6,2)[]  default=[1.50, 2]
  flags   bool[]  default=[true, false]
  addr    inet  null
  net     cidr  default="10.0.0.0/8"
}
PDM
sql "$HIST" "UPDATE host SET scores = '{3,1,2}', labels = '{a,\"b c\"}', days = '{2024-02-29}',
    addr = '192.168.1.5/24' WHERE name = 'alpha';
    UPDATE host SET labels = '{}' WHERE name = 'beta'" >/dev/null
probe "step 2: rows kept their values and took the defaults" \
    "SELECT name || '|' || scores::text || '|' || labels::text || '|' || coalesce(days::text, '-') || '|'
        || prices::text || '|' || flags::text || '|' || coalesce(host(addr) || '/' || masklen(addr), '-') || '|' || net
     FROM host ORDER BY name" \
    "alpha|{3,1,2}|{a,\"b c\"}|{2024-02-29}|{1.50,2.00}|{t,f}|192.168.1.5/24|10.0.0.0/8
beta|{}|{}|-|{1.50,2.00}|{t,f}|-|10.0.0.0/8"

# --- 3: element types, nullability, defaults and the GIN index change; cidr becomes inet ---
step "alter arrays and addresses" --allow-destructive <<'PDM'
model Host {
  name    string(40)
  scores  bigint[]  default=[0]  index
  labels  string(60)[]
  days    text[]  null
  prices  decimal(8,2)[]  default=[]
  flags   bool[]  null  default=[true]
  addr    inet  null
  net     inet  default="10.0.0.0/8"
}
PDM
probe "step 3: rows kept through the casts" \
    "SELECT name || '|' || scores::text || '|' || labels::text || '|' || coalesce(days::text, '-') || '|'
        || prices::text || '|' || net::text || '|' || pg_typeof(net)::text FROM host ORDER BY name" \
    "alpha|{3,1,2}|{a,\"b c\"}|{2024-02-29}|{1.50,2.00}|10.0.0.0/8|inet
beta|{}|{}|-|{1.50,2.00}|10.0.0.0/8|inet"

# --- 4: inet to cidr clears host bits (destructive), a default given, array fields dropped ---
step "inet to cidr, drop arrays" --allow-destructive <<'PDM'
model Host {
  name    string(40)
  scores  bigint[]  default=[0]  index
  labels  string(60)[]  default=["none"]
  flags   bool[]  null  default=[true]
  addr    cidr  null
  net     inet  default="10.0.0.0/8"
}
PDM
probe "step 4: the address lost its host bits, the rest kept" \
    "SELECT name || '|' || scores::text || '|' || labels::text || '|' || coalesce(addr::text, '-') FROM host ORDER BY name" \
    "alpha|{3,1,2}|{a,\"b c\"}|192.168.1.0/24
beta|{}|{}|-"

# --- 5: an element type change with --expand: a new column, a backfill and a swap (the GIN index too) ---
step "expand bigint[] to text[]" --expand <<'PDM'
model Host {
  name    string(40)
  scores  text[]  default=["0"]  index
  labels  string(60)[]  default=["none"]
  flags   bool[]  null  default=[true]
  addr    cidr  null
  net     inet  default="10.0.0.0/8"
}
PDM
probe "step 5: the expanded array kept its elements" \
    "SELECT name || '|' || scores::text || '|' || pg_typeof(scores)::text FROM host ORDER BY name" \
    "alpha|{3,1,2}|text[]
beta|{}|text[]"

# --- 6: every array and address field dropped ---
step "drop the rest" --allow-destructive <<'PDM'
model Host {
  name  string(40)
}
PDM
probe "step 6: the rows are still there" "SELECT string_agg(name, ',' ORDER BY name) FROM host" "alpha,beta"

evolution_end

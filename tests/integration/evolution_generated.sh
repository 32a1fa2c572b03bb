#!/bin/bash
# evolution_generated.sh - generated (computed, stored) columns through their
# life, on a table holding rows (tests/lib/evolution.sh checks history = fresh,
# down = previous, check and makemigrations after each step): added to a table
# with rows (the values computed for them), the expression changed (the column
# dropped and added again, recomputed), a field it uses renamed (PostgreSQL
# rewrites the stored expression), generated -> stored (DROP EXPRESSION, the
# values kept), a stored column made generated (destructive), its type
# widened (ALTER COLUMN TYPE recomputes it), a field it uses dropped with the
# expression changed (the generated column goes first), dropped.
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 94
evolution_begin evolution_generated

# --- 1: a table with rows ---------------------------------------------------
step "create model" <<'PDM'
model Item {
  price     decimal(10,2)
  quantity  int
  first     string(50)
  last      string(50)
  email     string(200)  null
  note      text  null
}
PDM
sql "$HIST" "INSERT INTO item (price, quantity, first, last, email, note)
    VALUES (2.50, 4, 'Ada', 'Lovelace', 'Ada@Example.COM', 'kept'),
           (10.00, 1, 'Alan', 'Turing', 'ALAN@example.com', NULL)" >/dev/null
probe "step 1: rows inserted" "SELECT count(*) FROM item" "2"

# --- 2: generated fields added to the table with rows -------------------------
step "add generated fields" <<'PDM'
model Item {
  price       decimal(10,2)
  quantity    int
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null
  total       decimal(12,2)  generated(price * quantity)
  full_name   text           generated(first || " " || last)
  search_key  string(200)    null  index  generated(lower(email))
}
PDM
probe "step 2: values computed for the rows already there" \
    "SELECT string_agg(total || '|' || full_name || '|' || search_key, ',' ORDER BY id) FROM item" \
    "10.00|Ada Lovelace|ada@example.com,10.00|Alan Turing|alan@example.com"

# --- 3: expressions changed: dropped and added again, recomputed --------------
step "change the expressions" <<'PDM'
model Item {
  price       decimal(10,2)
  quantity    int
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null
  total       decimal(12,2)  generated(round(price * quantity * 1.1, 2) - -1)
  full_name   text           generated(first || " " || last)
  search_key  string(200)    null  index  generated(upper(coalesce(email, "")))
}
PDM
probe "step 3: values recomputed" \
    "SELECT string_agg(total || '|' || search_key, ',' ORDER BY id) FROM item" \
    "12.00|ADA@EXAMPLE.COM,12.00|ALAN@EXAMPLE.COM"

# --- 4: a field the expressions use renamed ----------------------------------
step "rename a field an expression uses" <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null
  total       decimal(12,2)  generated(round(price * qty * 1.1, 2) - -1)
  full_name   text           generated(first || " " || last)
  search_key  string(200)    null  index  generated(upper(coalesce(email, "")))
}
PDM
sql "$HIST" "UPDATE item SET qty = 2 WHERE id = 2" >/dev/null
probe "step 4: the renamed column feeds the expression" \
    "SELECT string_agg(total::text, ',' ORDER BY id) FROM item" "12.00,23.00"

# --- 5: generated -> stored: DROP EXPRESSION keeps the values ----------------
step "generated to stored" <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null
  total       decimal(12,2)  generated(round(price * qty * 1.1, 2) - -1)
  full_name   text
  search_key  string(200)    null  index  generated(upper(coalesce(email, "")))
}
PDM
sql "$HIST" "UPDATE item SET first = 'Augusta' WHERE id = 1" >/dev/null
probe "step 5: the stored values kept, no longer computed" \
    "SELECT string_agg(full_name, ',' ORDER BY id) FROM item" "Ada Lovelace,Alan Turing"

# --- 6: a stored column made generated: its values replaced (destructive) -----
step "stored to generated" --allow-destructive <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null  generated(upper(first))
  total       decimal(12,2)  generated(round(price * qty * 1.1, 2) - -1)
  full_name   text
  search_key  string(200)    null  index  generated(upper(coalesce(email, "")))
}
PDM
probe "step 6: the column computed from its row" \
    "SELECT string_agg(note, ',' ORDER BY id) FROM item" "AUGUSTA,ALAN"

# --- 7: a generated field's type widened: ALTER COLUMN TYPE without USING, recomputed --
step "widen a generated field" <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  email       string(200)  null
  note        text  null  generated(upper(first))
  total       decimal(14,3)  generated(round(price * qty * 1.1, 2) - -1)
  full_name   text
  search_key  string(200)    null  index  generated(upper(coalesce(email, "")))
}
PDM
probe "step 7: values recomputed in the new type" \
    "SELECT string_agg(total::text, ',' ORDER BY id) FROM item" "12.000,23.000"

# --- 8: a field an expression used dropped, the expression changed with it ------
step "drop a field an expression used" --allow-destructive <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  note        text  null  generated(upper(first))
  total       decimal(14,3)  generated(round(price * qty * 1.1, 2) - -1)
  full_name   text
  search_key  string(200)    null  index  generated(upper(first || "@" || last))
}
PDM
probe "step 8: the expression recomputed without the dropped field" \
    "SELECT string_agg(search_key, ',' ORDER BY id) FROM item" "AUGUSTA@LOVELACE,ALAN@TURING"

# --- 9: generated fields dropped -----------------------------------------------
step "drop generated fields" <<'PDM'
model Item {
  price       decimal(10,2)
  qty         int  renamed_from=quantity
  first       string(50)
  last        string(50)
  full_name   text
  search_key  string(200)    null  index  generated(upper(first || "@" || last))
}
PDM
probe "step 9: rows kept" \
    "SELECT string_agg(first || '|' || qty || '|' || full_name || '|' || search_key, ',' ORDER BY id) FROM item" \
    "Augusta|4|Ada Lovelace|AUGUSTA@LOVELACE,Alan|2|Alan Turing|ALAN@TURING"

evolution_end

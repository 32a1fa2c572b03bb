#!/bin/bash
# evolution_cpk.sh - composite primary keys (primary_key(a, b), Django 5.2's CompositePrimaryKey)
# through their life, on a database holding rows: a model created with one; its key changed to
# other fields; a model going from the implicit id to a composite key and back; a key whose
# rows repeat refused by the pre-check with the count, before anything changes; the model
# dropped. Each step checked by tests/lib/evolution.sh (history = fresh, down = previous).
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 69
evolution_begin evolution_cpk

# --- 1: a model created with a composite key (foreign keys stand for their _id columns) --
step "create with a composite key" <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}

model OrderLine {
  order    Order
  product  Product
  line     int
  qty      int  default=1
  primary_key(order, product)
}

model Pair {
  a  int
  b  int
}
PDM
sql "$HIST" "INSERT INTO \"order\" (code) VALUES ('o1'), ('o2');
    INSERT INTO product (name) VALUES ('pen'), ('ink');
    INSERT INTO order_line (order_id, product_id, line, qty) VALUES (1, 1, 1, 3), (1, 2, 2, 1), (2, 1, 1, 5);
    INSERT INTO pair (a, b) VALUES (1, 1), (1, 2), (2, 1)" >/dev/null
probe "step 1: the key is (order_id, product_id)" \
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'order_line_pkey'" \
    "PRIMARY KEY (order_id, product_id)"

# --- 2: the key changed to other fields; the implicit id of Pair gives way to (a, b) ------
step "key to other fields, implicit id to composite" --allow-destructive <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}

model OrderLine {
  order    Order
  product  Product
  line     int
  qty      int  default=1
  note     string(10)  null
  primary_key(order, line)
}

model Pair {
  a  int
  b  int
  primary_key(a, b)
}
PDM
probe "step 2: rows kept under the new keys" \
    "SELECT string_agg(order_id || '/' || line || '/' || product_id || '/' || qty, ' ' ORDER BY order_id, line) FROM order_line" \
    "1/1/1/3 1/2/2/1 2/1/1/5"
probe "step 2: Pair lost its id, keyed by (a, b)" \
    "SELECT (SELECT count(*) FROM information_schema.columns WHERE table_name = 'pair' AND column_name = 'id') || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pair_pkey'" \
    "0 PRIMARY KEY (a, b)"

# --- 3: back to the implicit id -------------------------------------------------------------
step "composite to the implicit id" <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}

model OrderLine {
  order    Order
  product  Product
  line     int
  qty      int  default=1
  note     string(10)  null
  primary_key(order, line)
}

model Pair {
  a  int
  b  int
}
PDM
probe "step 3: Pair numbered again, rows kept" \
    "SELECT count(DISTINCT id) || ' ' || string_agg(a || ',' || b, ' ' ORDER BY a, b) FROM pair" \
    "3 1,1 1,2 2,1"

# --- a key whose rows repeat: refused by the pre-check, with the count, nothing changed -----
sql "$HIST" "INSERT INTO pair (a, b) VALUES (1, 1), (2, 1), (2, 1)" >/dev/null
cp models.pdm models.before
sed 's/^  b  int$/  b  int\n  primary_key(a, b)/' models.before >models.pdm
run_cmd "$PRODATA" makemigrations --allow-destructive
expect_rc "a repeated key: makemigrations writes the migration" 0
run_cmd "$PRODATA" migrate --database "dbname=$HIST"
expect_rc "a repeated key: migrate refuses" 1
expect_out "a repeated key: the pre-check counts the repeated keys" '2 values of "pair" \("a", "b"\) appear more than once'
schema_of "$HIST" >refused
expect_same "a repeated key: nothing changed" "schema.$STEP" refused
rm -f migrations/"$(printf '%04d' $((STEP + 1)))"_*.sql
cp models.before models.pdm
sql "$HIST" "DELETE FROM pair WHERE id > 3" >/dev/null

# --- 4: and back to a composite key, now that the keys are distinct; OrderLine.note not null --
step "implicit id to composite again" --allow-destructive <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}

model OrderLine {
  order    Order
  product  Product
  line     int
  qty      int  default=1
  note     string(10)  backfill="x"
  primary_key(order, line)
}

model Pair {
  a  int
  b  int
  primary_key(a, b)
}
PDM

probe "step 4: a field made not null on a composite-key table, its rows filled in batches (by ctid)" \
    "SELECT string_agg(coalesce(note, '-'), ' ') FROM order_line" \
    "x x x"

# --- 5: renamed while its key changes: <table>_pkey follows the table before it is replaced ----
step "rename and key change together" --allow-destructive <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}

model OrderLine {
  order    Order
  product  Product
  line     int
  qty      int  default=1
  note     string(10)  backfill="x"
  primary_key(order, line)
}

model Duo {
  renamed_from Pair
  a  int
  b  int
}
PDM
probe "step 5: Pair's rows in duo, numbered, under duo_pkey" \
    "SELECT count(DISTINCT id) || ' ' || (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'duo_pkey') FROM duo" \
    "3 PRIMARY KEY (id)"

# --- 6: the models with a composite key dropped ----------------------------------------------
step "drop" --allow-destructive <<'PDM'
model Order {
  code  string(20)
}

model Product {
  name  string(40)
}
PDM
probe "step 6: the other rows kept" \
    "SELECT string_agg(code, ' ' ORDER BY code) FROM \"order\"" \
    "o1 o2"
evolution_end

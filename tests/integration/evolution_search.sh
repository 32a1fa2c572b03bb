#!/bin/bash
# evolution_search.sh - citext fields and search indexes evolved on a table holding
# rows (tests/lib/evolution.sh: history = fresh, down = previous, rows kept after
# every step): a citext field added, a string turned into citext and back, the
# search index of a field switched between none, trigram and fulltext (and its
# configuration changed), dropped with its field. The extensions (citext, pg_trgm)
# are made by the first migration that needs them and never dropped, so they are
# not part of the compared schema.
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 54
evolution_begin evolution_search

# --- 1: a table with rows, plain search -----------------------------------------
step "create" <<'PDM'
model Person {
  name   string(100)  search
  email  string(254)
  bio    text  default=""
}
PDM
sql "$HIST" "INSERT INTO person (name, email, bio) VALUES
  ('Ann Smith', 'ann@x.org', 'writes about gardens and bees'),
  ('Bob Jones', 'Bob@X.org', 'runs a bakery')" >/dev/null

# --- 2: add a citext field to the table with rows; string -> citext; trigram ------
step "citext and trigram" <<'PDM'
model Person {
  name    string(100)  search=trigram
  email   citext
  bio     text  default=""
  handle  citext  null  unique
}
PDM
probe "string -> citext keeps the values, compared case-insensitively" \
    "SELECT name FROM person WHERE email = 'BOB@x.ORG'" "Bob Jones"
sql "$HIST" "UPDATE person SET handle = 'ann' WHERE name = 'Ann Smith'" >/dev/null
probe "the unique citext field refuses a value differing only in case" \
    "WITH i AS (INSERT INTO person (name, email, handle) VALUES ('x', 'x@x', 'ANN') ON CONFLICT (handle) DO NOTHING RETURNING 1) SELECT count(*) FROM i" "0"

# --- 3: trigram -> fulltext, a fulltext field with another configuration ---------
step "fulltext" <<'PDM'
model Person {
  name    string(100)  search=fulltext
  email   citext
  bio     text  default=""  search=fulltext(english)
  handle  citext  null  unique
}
PDM
probe "a full-text match in the english configuration finds the stemmed word" \
    "SELECT name FROM person WHERE to_tsvector('english'::regconfig, COALESCE(bio::text, ''::text)) @@ websearch_to_tsquery('english', 'garden')" \
    "Ann Smith"

# --- 4: fulltext -> plain search (index dropped), configuration -> trigram; citext -> string
step "back to plain" --allow-destructive <<'PDM'
model Person {
  name    string(100)  search
  email   string(254)
  bio     text  default=""  search=trigram
  handle  citext  null  unique
}
PDM
probe "citext -> string keeps the values as written" \
    "SELECT string_agg(email, ',' ORDER BY email) FROM person" "Bob@X.org,ann@x.org"

# --- 5: the citext field and the search index dropped ----------------------------
step "drop" --allow-destructive <<'PDM'
model Person {
  name    string(100)  search
  email   string(254)
  bio     text  default=""
}
PDM
probe "rows kept through every step" \
    "SELECT string_agg(name || ':' || bio, ',' ORDER BY name) FROM person" \
    "Ann Smith:writes about gardens and bees,Bob Jones:runs a bakery"

evolution_end

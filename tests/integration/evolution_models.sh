#!/bin/bash
# evolution_models.sh - abstract models, a join model of its own and a project split over several files,
# evolved on a database holding rows (tests/lib/evolution.sh checks history = fresh and down = previous at
# every step): an abstract base added to two models with rows, a field added to the base (both tables get
# it in one migration), altered, then dropped; a join model with rows (Django's through model) and a field
# added to it, a many-to-many field through it added, given its own join table, and back; the models
# moved into a folder of files, one per app, with no change planned; a change made
# in one of those files.
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 116
evolution_begin evolution_models

# --- 1: two models with rows, and the two sides of a membership --------------------------------------
step "create models" <<'PDM'
model Post {
  title  string(100)
}

model Note {
  body  text
}

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}
PDM
sql "$HIST" "INSERT INTO post (title) VALUES ('Hello'); INSERT INTO note (body) VALUES ('remember');
    INSERT INTO person (name) VALUES ('Ann'), ('Bob'); INSERT INTO club (name) VALUES ('chess')" >/dev/null
probe "step 1: rows inserted" "SELECT (SELECT title FROM post) || '|' || (SELECT body FROM note)" "Hello|remember"

# --- 2: an abstract base added to both: its field is added to each table ----------------------------
step "abstract base added" <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
}

model Post extends Timestamped {
  title  string(100)
}

model Note extends Timestamped {
  body  text
}

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}
PDM
probe "step 2: the rows got the base's field, kept" \
    "SELECT (SELECT title FROM post WHERE created IS NOT NULL) || '|' || (SELECT body FROM note WHERE created IS NOT NULL)" \
    "Hello|remember"

# --- 3: fields, an index named per model and a check added to the base ------------------------------
step "fields added to the base" <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
  updated  timestamptz  null
  label    string(20)   default=""
  index(created) name="%(class)s_created_idx"
  check(label != "x") name="%(class)s_label_check"
}

model Post extends Timestamped {
  title  string(100)
}

model Note extends Timestamped {
  body  text
}

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}
PDM
probe "step 3: both tables got the base's new fields, index and check" \
    "SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT table_name || '.' || column_name AS x FROM information_schema.columns WHERE table_schema = 'public' AND column_name IN ('updated', 'label') UNION ALL SELECT indexname FROM pg_indexes WHERE indexname LIKE '%created_idx' UNION ALL SELECT conname FROM pg_constraint WHERE conname LIKE '%label_check') s" \
    "note.label note.updated note_created_idx note_label_check post.label post.updated post_created_idx post_label_check"
sql "$HIST" "UPDATE post SET label = 'first'; UPDATE note SET label = 'second'" >/dev/null

# --- 4: a field of the base altered, in every model using it ----------------------------------------
step "base field widened" <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
  updated  timestamptz  null
  label    string(40)   default=""
  index(created) name="%(class)s_created_idx"
  check(label != "x") name="%(class)s_label_check"
}

model Post extends Timestamped {
  title  string(100)
}

model Note extends Timestamped {
  body  text
}

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}
PDM
probe "step 4: both columns widened, values kept" \
    "SELECT (SELECT label FROM post) || '|' || (SELECT label FROM note) || '|' || (SELECT string_agg(DISTINCT format_type(atttypid, atttypmod), ',') FROM pg_attribute WHERE attname = 'label' AND attrelid IN ('post'::regclass, 'note'::regclass))" \
    "first|second|character varying(40)"

# --- 5: a field dropped from the base, from every model using it ------------------------------------
step "base field dropped" --allow-destructive <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
  label    string(40)   default=""
  index(created) name="%(class)s_created_idx"
  check(label != "x") name="%(class)s_label_check"
}

model Post extends Timestamped {
  title  string(100)
}

model Note extends Timestamped {
  body  text
}

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}
PDM
probe "step 5: updated gone from both tables, rows kept" \
    "SELECT count(*) || '|' || (SELECT label FROM post) FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'updated'" \
    "0|first"

# --- 6: a join model of its own (Django's through model), with rows ---------------------------------
read -r -d '' BASE <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
  label    string(40)   default=""
  index(created) name="%(class)s_created_idx"
  check(label != "x") name="%(class)s_label_check"
}

model Post extends Timestamped {
  title  string(100)
}

model Note extends Timestamped {
  body  text
}
PDM
step "through model added" <<PDM
$BASE

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}

model Membership {
  person  Person  related=memberships
  club    Club    related=memberships
  joined  date
  unique(person, club)
}
PDM
sql "$HIST" "INSERT INTO membership (person_id, club_id, joined) VALUES (1, 1, '2024-01-02'), (2, 1, '2024-03-04')" >/dev/null
probe "step 6: memberships inserted" \
    "SELECT string_agg(p.name || '@' || c.name || ':' || m.joined, ' ' ORDER BY p.name) FROM membership m JOIN person p ON p.id = m.person_id JOIN club c ON c.id = m.club_id" \
    "Ann@chess:2024-01-02 Bob@chess:2024-03-04"

# --- 7: a field added to the through model -----------------------------------------------------------
step "field added to the through model" <<PDM
$BASE

model Person {
  name  string(50)
}

model Club {
  name  string(50)  unique
}

model Membership {
  person  Person      related=memberships
  club    Club        related=memberships
  joined  date
  role    string(20)  default="member"
  unique(person, club)
}
PDM
probe "step 7: the rows got the default, kept" \
    "SELECT string_agg(joined || ':' || role, ' ' ORDER BY joined) FROM membership" \
    "2024-01-02:member 2024-03-04:member"

# --- 8: a many-to-many field through the join model: no table of its own --------------------------
read -r -d '' PEOPLE_TAIL <<'PDM'
model Membership {
  person  Person      related=memberships
  club    Club        related=memberships
  joined  date
  role    string(20)  default="member"
  unique(person, club)
}
PDM
step "through field added" <<PDM
$BASE

model Person {
  name  string(50)
}

model Club {
  name     string(50)  unique
  members  Person[]    through=Membership  related=clubs
}

$PEOPLE_TAIL
PDM
probe "step 8: no join table made, memberships kept" \
    "SELECT count(*) || '|' || (SELECT count(*) FROM membership) FROM pg_tables WHERE tablename LIKE 'club\_%'" "0|2"

# --- 9: the field given a join table of its own instead -----------------------------------------------
step "through field altered to a join table" <<PDM
$BASE

model Person {
  name  string(50)
}

model Club {
  name     string(50)  unique
  members  Person[]    through="club_people"  related=clubs
}

$PEOPLE_TAIL
PDM
probe "step 9: the join table made, memberships kept" \
    "SELECT count(*) || '|' || (SELECT count(*) FROM membership) FROM pg_tables WHERE tablename = 'club_people'" "1|2"

# --- 10: back through the model: the join table dropped --------------------------------------------
step "field back through the model" --allow-destructive <<PDM
$BASE

model Person {
  name  string(50)
}

model Club {
  name     string(50)  unique
  members  Person[]    through=Membership  related=clubs
}

$PEOPLE_TAIL
PDM
probe "step 10: the join table gone, memberships kept" \
    "SELECT count(*) || '|' || (SELECT count(*) FROM membership) FROM pg_tables WHERE tablename = 'club_people'" "0|2"

# --- 11: the same models moved into a folder, one file per app: no change ----------------------------
mkdir -p apps
cat >apps/blog.pdm <<'PDM'
# blog: posts and notes, on the shared base of core.pdm
model Note extends Timestamped {
  body  text
}

model Post extends Timestamped {
  title  string(100)
}
PDM
cat >apps/core.pdm <<'PDM'
abstract model Timestamped {
  created  timestamptz  auto_now_add
  label    string(40)   default=""
  index(created) name="%(class)s_created_idx"
  check(label != "x") name="%(class)s_label_check"
}
PDM
cat >apps/people.pdm <<'PDM'
model Membership {
  person  Person      related=memberships
  club    Club        related=memberships
  joined  date
  role    string(20)  default="member"
  unique(person, club)
}

model Club {
  name     string(50)  unique
  members  Person[]    through=Membership  related=clubs
}

model Person {
  name  string(50)
}
PDM
export PRODATA_MODELS=apps
run_cmd "$PRODATA" makemigrations --check
expect_out "step 11: the models moved into three files: no change planned" 'No changes detected in apps'
run_cmd "$PRODATA" check --database "dbname=$HIST"
expect_rc "step 11: check agrees with the split project" 0

# --- 12: a change in one file of the split project ----------------------------------------------------
cat >apps/people.pdm <<'PDM'
model Membership {
  person  Person      related=memberships
  club    Club        related=memberships
  joined  date
  role    string(20)  default="member"
  unique(person, club)
}

model Club {
  name     string(50)  unique
  members  Person[]    through=Membership  related=clubs
  since    date        null
}

model Person {
  name  string(50)
}
PDM
step "field added in one file of the split project" </dev/null
probe "step 12: rows kept through the split" \
    "SELECT (SELECT count(*) FROM membership) || '|' || (SELECT title FROM post) || '|' || (SELECT count(*) FROM club WHERE since IS NULL)" \
    "2|Hello|1"

evolution_end

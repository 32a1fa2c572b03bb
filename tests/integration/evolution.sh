#!/bin/bash
# evolution.sh - a model file evolved through sixteen steps that together use
# every change kind the planner knows, each step made into a migration and
# applied to a database holding rows. After every step, on a real PostgreSQL:
#   history = fresh: the live schema equals the schema that makemigrations from
#     scratch (an empty migrations folder) gives on an empty database;
#   down = previous: migrate --to <previous step> gives the previous step's
#     schema exactly, and migrating forward again gives this step's schema;
#   check agrees, makemigrations finds nothing left, and rows inserted in the
#     first steps keep their values through renames, widenings and additions.
# Schemas are compared as text (one catalog query: columns, constraints,
# indexes, auto_now triggers, comments), so a failure prints the lines that differ.
source tests/lib/tap.sh
source tests/lib/evolution.sh
tap_plan 277
evolution_begin evolution


# --- 1: create models: custom table, checks, choices, composite unique, set_null --
step "create models" <<'PDM'
model Author {
  name   string(100)
  email  email  unique
  born   date   null
}

model Publisher {
  table "pub_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  title      string(200)   index
  author     Author        related=books
  publisher  Publisher     null  on_delete=set_null
  price      decimal(6,2)  default=0  check(>= 0)
  pages      int           default=0
  status     string(16)    choices(draft "Draft", published "Published")  default="draft"
  unique(title, author)
}

model Tag {
  label  slug(30)  unique
}
PDM
sql "$HIST" "INSERT INTO author (name, email) VALUES ('Ann', 'ann@example.com');
    INSERT INTO pub_house (name) VALUES ('Ace');
    INSERT INTO book (title, author_id, publisher_id, price, pages, status) VALUES ('Dune', 1, 1, 9.50, 412, 'published');
    INSERT INTO tag (label) VALUES ('scifi')" >/dev/null
probe "step 1: rows inserted" \
    "SELECT a.name || '|' || b.title || '|' || b.price || '|' || b.pages || '|' || b.status FROM book b JOIN author a ON a.id = b.author_id" \
    "Ann|Dune|9.50|412|published"

# --- 2: add fields (nullable, default, checks, index), many-to-many, self FK, new models --
step "add fields and models" <<'PDM'
model Author {
  name       string(100)
  email      email  unique
  born       date   null
  nickname   string(30)  null  index
  favorites  Book[]  related=fans
}

model Publisher {
  table "pub_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  title      string(200)   index
  author     Author        related=books
  publisher  Publisher     null  on_delete=set_null
  price      decimal(6,2)  default=0  check(>= 0)
  pages      int           default=0
  status     string(16)    choices(draft "Draft", published "Published")  default="draft"
  note       text          null
  rating     smallint      default=3  check(>= 1)  check(<= 5)
  released   date           null  default=now
  weight     int            null  check(>= 0)
  in_stock   bool           default=true
  meta       json           null
  item       Item          null  on_delete=set_null
  tags       Tag[]
  category   Category      null  on_delete=set_null
  unique(title, author)
}

model Tag {
  label  slug(30)  unique
}

model Category {
  name    string(50)
  parent  Category  null  on_delete=cascade  related=children
}

model Profile {
  writer  Author  related=profiles
  bio     text    null
}

model Item {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
sql "$HIST" "INSERT INTO book_tags (book_id, tag_id) VALUES (1, 1)" >/dev/null
probe "step 2: rows keep their values, new column has its default" \
    "SELECT a.name || '|' || b.title || '|' || b.price || '|' || b.pages || '|' || b.rating FROM book b JOIN author a ON a.id = b.author_id" \
    "Ann|Dune|9.50|412|3"

# --- 3: rename model, fields and a many-to-many: every derived name follows --
step "renames" <<'PDM'
model Writer {
  renamed_from Author
  name       string(100)
  email      email  unique
  born       date   null
  nickname   string(30)  null  index
  favorites  Book[]  related=fans
}

model Publisher {
  table "pub_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)   index  renamed_from=title
  writer     Writer        related=books  renamed_from=author
  publisher  Publisher     null  on_delete=set_null
  price      decimal(6,2)  default=0  check(>= 0)
  pages      int           default=0
  status     string(16)    choices(draft "Draft", published "Published")  default="draft"
  note       text          null
  rating     smallint      default=3  check(>= 1)  check(<= 5)
  released   date           null  default=now
  weight     int            null  check(>= 0)
  in_stock   bool           default=true
  meta       json           null
  item       Product       null  on_delete=set_null
  labels     Tag[]         renamed_from=tags
  category   Category      null  on_delete=set_null
  unique(headline, writer)
}

model Tag {
  label  slug(30)  unique
}

model Category {
  name    string(50)
  parent  Category  null  on_delete=cascade  related=children
}

model Profile {
  writer  Writer  related=profiles
  bio     text    null
}

model Product {
  renamed_from Item
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
BOOK_PROBE="SELECT w.name || '|' || b.headline || '|' || b.price || '|' || b.pages || '|' || b.rating FROM book b JOIN writer w ON w.id = b.writer_id"
probe "step 3: renamed columns and tables keep rows" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"
probe "step 3: renamed join table keeps its links" "SELECT count(*) FROM book_labels" 1

# --- 4: custom table renamed; widening types ------------------------------------
step "table rename and widening types" <<'PDM'
model Writer {
  name       string(200)
  email      email  unique
  born       date   null
  nickname   text  null  index
  favorites  Book[]  related=fans
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books
  publisher  Publisher      null  on_delete=set_null
  price      decimal(10,2)  default=0  check(>= 0)
  pages      bigint         default=0
  status     string(20)     choices(draft "Draft", published "Published")  default="draft"
  note       text           null
  rating     int            default=3  check(>= 1)  check(<= 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=true
  meta       json           null
  item       Product       null  on_delete=set_null
  labels     Tag[]
  category   Category       null  on_delete=set_null
  unique(headline, writer)
}

model Tag {
  label  slug(30)  unique
}

model Category {
  name    string(50)
  parent  Category  null  on_delete=cascade  related=children
}

model Profile {
  writer  Writer  related=profiles
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 4: widened columns keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"
probe "step 4: renamed custom table keeps its rows" "SELECT name FROM publisher_house" "Ace"

# --- 5: null <-> not null, defaults added, changed, dropped -----------------------
step "null and defaults" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  unique
  born       date   default="2000-01-01"
  nickname   text  null  index
  token      uuid  default=uuid
  joined     timestamptz  default=now
  favorites  Book[]  related=fans
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books
  publisher  Publisher      null  on_delete=set_null
  price      decimal(10,2)  default=0  check(>= 0)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published")  default="draft"
  note       text           null
  rating     int            check(>= 1)  check(<= 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null
  labels     Tag[]
  category   Category       null  on_delete=set_null
  unique(headline, writer)
}

model Tag {
  label  slug(30)  unique
}

model Category {
  name    string(50)  default="misc"
  parent  Category  null  on_delete=cascade  related=children
}

model Profile {
  writer  Writer  related=profiles
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 5: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"
probe "step 5: NULL filled with the default before SET NOT NULL" "SELECT born FROM writer" "2000-01-01"

# --- 6: unique and index added and removed -----------------------------------------
step "unique and index" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  favorites  Book[]  related=fans
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books
  publisher  Publisher      null  on_delete=set_null
  price      decimal(10,2)  default=0  check(>= 0)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published")  default="draft"
  note       text           null  index
  rating     int            check(>= 1)  check(<= 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Tag[]
  category   Category       null  on_delete=set_null
  unique(headline, writer)
}

model Tag {
  label  slug(30)
}

model Category {
  name    string(50)  unique  default="misc"
  parent  Category  null  on_delete=cascade  related=children
}

model Profile {
  writer  Writer  related=profiles
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 6: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 7: checks added and changed, choices changed, on_delete changed --------------
step "checks, choices, on_delete" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  favorites  Book[]  related=fans
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Tag[]
  category   Category       null  on_delete=set_null
  unique(headline, writer)
}

model Tag {
  label  slug(30)
}

model Category {
  name    string(50)  unique  default="misc"
  parent  Category  null  on_delete=set_null  related=children
}

model Profile {
  writer  Writer  related=profiles
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 7: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 8: foreign key retargeted; foreign key made one-to-one -----------------------
step "retarget and one_to_one" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  favorites  Book[]  related=fans
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Tag[]
  category   Tag            null  on_delete=set_null  related=categorized
  unique(headline, writer)
}

model Tag {
  label  slug(30)  no_index
}

model Category {
  name    string(50)  unique  default="misc"
  parent  Category  null  on_delete=set_null  related=children
}

model Profile {
  writer  Writer  one_to_one  related=profile
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 8: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 9: many-to-many dropped and retargeted, self many-to-many added -----------
step "many-to-many changes" --allow-destructive <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Category[]
  category   Tag            null  on_delete=set_null  related=categorized
  unique(headline, writer)
}

model Tag {
  label  slug(30)  no_index
}

model Category {
  name     string(50)  unique  default="misc"
  parent   Category  null  on_delete=set_null  related=children
  related  Category[]  related=related_by
}

model Profile {
  writer  Writer  one_to_one  related=profile
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 9: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 10: composite unique and index added and dropped ----------------------------
step "composite unique and index" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Category[]
  category   Tag            null  on_delete=set_null  related=categorized
  index(headline, pages)
  unique(writer, status)  name="book_writer_status_uniq"
}

model Tag {
  label  slug(30)  no_index
}

model Category {
  name     string(50)  unique  default="misc"
  parent   Category  null  on_delete=set_null  related=children
  related  Category[]  related=related_by
}

model Profile {
  writer  Writer  one_to_one  related=profile
  bio     text    null
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 10: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 11: two models referencing each other (a cycle), one of them also itself ------
step "cycle" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  writer  Writer  one_to_one  related=profile
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Category[]
  category   Tag            null  on_delete=set_null  related=categorized
  index(headline, pages)
  unique(writer, status)  name="book_writer_status_uniq"
}

model Category {
  name     string(50)  unique  default="misc"
  parent   Category  null  on_delete=set_null  related=children
  related  Category[]  related=related_by
}

model Department {
  name  string(60)
  head  Employee  null  on_delete=set_null  related=heads
}

model Employee {
  name        string(60)
  department  Department  null  on_delete=set_null  related=staff
  mentor      Employee    null  on_delete=set_null  related=mentees
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM

# --- 12: renames of a self-related model and of a model in the cycle ---------------
step "renames across self references and cycles" <<'PDM'
model Writer {
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  writer  Writer  one_to_one  related=profile
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  price      decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  status     string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  index(headline, pages)
  unique(writer, status)  name="book_writer_status_uniq"
}

model Genre {
  renamed_from Category
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children
  related  Genre[]  related=related_by
}

model Division {
  renamed_from Department
  name  string(60)
  head  Employee  null  on_delete=set_null  related=heads
}

model Employee {
  name      string(60)
  division  Division  null  on_delete=set_null  related=staff  renamed_from=department
  mentor    Employee  null  on_delete=set_null  related=mentees
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 12: rows keep their values" "$BOOK_PROBE" "Ann|Dune|9.50|412|3"

# --- 13: renamed fields carrying checks and choices; custom tables on renamed models, one
# taking the table name the other gives up (a chain: writer -> writers, profile -> writer) --
step "field renames with checks, custom table" <<'PDM'
model Profile {
  table "writer"
  writer  Writer  related=profile
  bio     text    null
}

model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Publisher {
  table "publisher_house"
  name  string(80)
  city  string(40)  null
}

model Tag {
  label  slug(30)  no_index
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  publisher  Publisher      null  on_delete=restrict
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)  renamed_from=price
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"  renamed_from=status
  note       text           null  index
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  item       Product       null  on_delete=set_null  no_index
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  index(headline, pages)
  unique(writer, state)  name="book_writer_status_uniq"
}

model Genre {
  table "genres"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children
  related  Genre[]  related=related_by
}

model Division {
  name  string(60)
  head  Employee  null  on_delete=set_null  related=heads
}

model Employee {
  name      string(60)
  division  Division  null  on_delete=set_null  related=staff
  mentor    Employee  null  on_delete=set_null  related=mentees
}

model Product {
  code   uuid        primary_key  default=uuid
  title  string(50)
  tags   Tag[]       through="item_tag_links"
}
PDM
probe "step 13: renamed columns keep their values" \
    "SELECT w.name || '|' || b.headline || '|' || b.cost || '|' || b.pages || '|' || b.state FROM book b JOIN writers w ON w.id = b.writer_id" \
    "Ann|Dune|9.50|412|published"

# --- 14: drop models (a cycle among them) and fields -------------------------------
step "drop models and fields" --allow-destructive <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  index(headline, pages)
  unique(writer, state)  name="book_writer_status_uniq"
}

model Genre {
  table "genres"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children
  related  Genre[]  related=related_by
}
PDM
probe "step 14: remaining rows keep their values" \
    "SELECT w.name || '|' || b.headline || '|' || b.cost || '|' || b.pages || '|' || b.state FROM book b JOIN writers w ON w.id = b.writer_id" \
    "Ann|Dune|9.50|412|published"

# --- 15: a database as Django makes it: keys with their own names, deferrable keys, LIKE indexes,
# serial ids (a new model) and a serial field added to a table with rows ------------------------------
step "fk_name, deferrable, operator classes, serial" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_id_4c2a_fk_writers_id"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized  deferrable
  serial_no  int            default=serial
  index(headline text_pattern_ops, pages)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline varchar_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genres"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name text_pattern_ops)
}

model Loan {
  shelf   Shelf   fk_name="loan_shelf_id_fk_shelf_id"  deferrable
  number  bigint  default=serial
}
PDM
probe "step 15: the row already there is numbered by the new serial field" \
    "SELECT b.headline || '|' || b.serial_no || '|' || b.cost FROM book b" "Dune|1|9.50"
sql "$HIST" "INSERT INTO shelf (name) VALUES ('Top'), ('Low');
    INSERT INTO loan (shelf_id) VALUES (2), (2), (1)" >/dev/null
probe "step 15: serial keys and fields number new rows" \
    "SELECT string_agg(l.id || ':' || s.id || ':' || s.name || ':' || l.number, ',' ORDER BY l.id) FROM loan l JOIN shelf s ON s.id = l.shelf_id" \
    "1:2:Low:1,2:2:Low:2,3:1:Top:3"
probe "step 15: a deferrable key is checked at COMMIT" \
    "BEGIN; INSERT INTO loan (shelf_id) VALUES (99); DELETE FROM loan WHERE shelf_id = 99; COMMIT; SELECT count(*) FROM loan" "3"

# --- 16: names given, changed and taken back; deferrable on and off; operator classes changed and
# dropped; a table renamed under a given key name (which stays) ------------------------------------
step "fk_name and operator classes changed, deferrable toggled" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  default=now
  index(name, born)
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 16: rows keep their values and numbers" \
    "SELECT string_agg(l.id || ':' || s.name || ':' || l.number, ',' ORDER BY l.id) FROM loan l JOIN shelf s ON s.id = l.shelf_id" \
    "1:Low:1,2:Low:2,3:Top:3"
probe "step 16: the given key name stayed through the table rename" \
    "SELECT conname FROM pg_constraint WHERE conrelid = 'genre_list'::regclass AND contype = 'f' AND conname LIKE 'genres%'" \
    "genres_parent_fk"

# --- 17: auto_now and auto_now_add: a default of now, and the trigger on UPDATE ------
step "auto_now added to new and existing fields" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, born)
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  auto_now
  updated    timestamptz    auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  checked  date  auto_now
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
run_cmd sql "$HIST" "UPDATE book SET released = NULL, updated = '2000-01-01' WHERE id = (SELECT min(id) FROM book)"
probe "step 17: an UPDATE from psql sets the auto_now fields" \
    "SELECT released IS NOT NULL AND updated > now() - interval '1 hour' FROM book WHERE id = (SELECT min(id) FROM book)" \
    "t"
probe "step 17: one trigger per table, named for prodata, naming its columns" \
    "SELECT string_agg(c.relname || ':' || pg_get_triggerdef(g.oid), ',' ORDER BY c.relname) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE g.tgname = 'prodata_auto_now'" \
    "book:CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.book FOR EACH ROW EXECUTE FUNCTION prodata_auto_now('released', 'updated'),shelf:CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.shelf FOR EACH ROW EXECUTE FUNCTION prodata_auto_now('checked')"

# --- 18: an auto_now field renamed, auto_now removed, a field with it dropped -------
step "auto_now renamed, removed, dropped" --allow-destructive <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, born)
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 18: the trigger follows the renamed column" \
    "SELECT string_agg(c.relname || ':' || pg_get_triggerdef(g.oid), ',' ORDER BY c.relname) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE g.tgname = 'prodata_auto_now'" \
    "book:CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON public.book FOR EACH ROW EXECUTE FUNCTION prodata_auto_now('modified', 'seen')"
run_cmd sql "$HIST" "UPDATE book SET modified = '2000-01-01', released = '2000-01-01' WHERE id = (SELECT min(id) FROM book)"
probe "step 18: modified is set on UPDATE, released no longer" \
    "SELECT modified > now() - interval '1 hour', released = '2000-01-01' FROM book WHERE id = (SELECT min(id) FROM book)" \
    "t|t"

# --- 19: model-level checks across fields ---------------------------------------------
step "model-level checks" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  born       date   default="2000-01-01"
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, born)
  check(nickname is not null or born > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  check(cost < pages or in_stock)
  check(not (state = "archived" and in_stock))  name="book_archived_out"
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
run_cmd sql "$HIST" "UPDATE book SET state = 'archived', in_stock = true WHERE id = (SELECT min(id) FROM book)"
expect_rc "step 19: a row breaking a model-level check is refused" 1

# --- 20: a field of a check renamed, a check changed, one removed -----------------------
step "model-level checks renamed, changed, dropped" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  check(nickname is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM

# --- 21: partial indexes: where on index(...) and unique(...) (a unique index) --------
step "partial indexes" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  nickname   text  null
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  index(nickname) where nickname is not null and birth > "1950-01-01"
  unique(email) where email is not null  name="writers_email_once"
  check(nickname is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  unique(headline) where not in_stock
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 21: a partial unique(...) is a unique index, not a constraint" \
    "SELECT count(*) FROM pg_constraint WHERE conname = 'writers_email_once'" "0"

# --- 22: a field of a where renamed, a where changed, a partial unique dropped ----------
step "partial indexes renamed, changed, dropped" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM

# --- 23: expression indexes: lower(f) and upper(f) ---------------------------------
step "expression indexes" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  index(lower(name) varchar_pattern_ops, upper(alias))  name="writers_name_ci"
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  index(upper(state))
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 23: the index is on the expression" \
    "SELECT pg_get_indexdef('writers_name_ci'::regclass)" \
    "CREATE INDEX writers_name_ci ON public.writers USING btree (lower((name)::text) varchar_pattern_ops, upper(alias))"

# --- 24: another function, an expression index dropped ------------------------------
step "expression indexes changed and dropped" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  index(upper(name) varchar_pattern_ops, upper(alias))  name="writers_name_ci"
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  index(headline, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM

# --- 25: db_default=, default= under Django 5's name --------------------------------
step "db_default" <<'PDM'
model Writer {
  table "writers"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  rank       int    db_default=1
  index(name, birth)
  index(upper(name) varchar_pattern_ops, upper(alias))  name="writers_name_ci"
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  stamped    date           null  db_default=now
  index(headline, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 25: db_default fills rows already there" \
    "SELECT count(*) FILTER (WHERE rank = 1) = count(*) FROM writers" "t"

# --- 26: comments on tables and columns (Django's db_table_comment, db_comment) -------
step "comments" <<'PDM'
model Writer {
  table "writers"
  comment "people who write; 'quoted'"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  rank       int    db_default=1  comment="1 is first"
  index(name, birth)
  index(upper(name) varchar_pattern_ops, upper(alias))  name="writers_name_ci"
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  headline   string(200)    index  comment="the title on the cover"
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  stamped    date           null  db_default=now
  index(headline, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(headline text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM
probe "step 26: the comments are the database's" \
    "SELECT obj_description('writers'::regclass, 'pg_class') || '|' || col_description('book'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'book'::regclass AND attname = 'headline'))" \
    "people who write; 'quoted'|the title on the cover"

# --- 27: a comment changed, a commented column renamed, one dropped ---------------------
step "comments changed, renamed, dropped" --allow-destructive <<'PDM'
model Writer {
  table "writers"
  comment "people who write"
  name       string(200)
  email      email  null  index
  birth      date   default="2000-01-01"  renamed_from=born
  alias      text  null  renamed_from=nickname
  token      uuid  default=uuid
  joined     timestamptz  auto_now_add
  index(name, birth)
  index(upper(name) varchar_pattern_ops, upper(alias))  name="writers_name_ci"
  index(alias) where alias is not null and birth > "1950-01-01"
  unique(email) where email is not null and birth is not null  name="writers_email_once"
  check(alias is not null or birth > "1900-01-01")
}

model Tag {
  label  slug(30)  no_index
}

model Profile {
  table "writer"
  writer  Writer  related=profile  deferrable
  bio     text    null
}

model Book {
  title      string(200)    index  comment="the title on the cover"  renamed_from=headline
  writer     Writer         related=books  on_delete=protect  fk_name="book_writer_fk"  deferrable
  cost       decimal(10,2)  default=0  check(>= 0)  check(< 100000)
  pages      bigint         default=100
  state      string(20)     choices(draft "Draft", published "Published", archived "Archived")  default="draft"
  rating     int            check(>= 0)  check(<= 10)  choices(1 "one", 2, 3, 4, 5)
  released   timestamptz    null  default=now
  modified   timestamptz    auto_now  renamed_from=updated
  seen       time           null  auto_now
  weight     decimal(8,3)   null  check(>= 0)
  in_stock   bool           default=false
  meta       json           default="{}"
  labels     Genre[]
  category   Tag            null  on_delete=set_null  related=categorized
  serial_no  int            default=serial
  stamped    date           null  db_default=now
  index(title, pages)
  check(cost <= pages or in_stock or pages is null)
  unique(writer, state)  name="book_writer_status_uniq"
  index(title text_pattern_ops)  name="book_headline_5f1d_like"
}

model Genre {
  table "genre_list"
  name     string(50)  unique  default="misc"
  parent   Genre  null  on_delete=set_null  related=children  fk_name="genres_parent_fk"  deferrable
  related  Genre[]  related=related_by
}

model Shelf {
  id     int  primary_key  default=serial
  name   string(40)
  index(name varchar_pattern_ops)
}

model Loan {
  shelf   Shelf
  number  bigint  default=serial
}
PDM

evolution_end

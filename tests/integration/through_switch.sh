#!/bin/bash
# through_switch.sh - a many-to-many field with its own join table switched to a through model (Django's
# SeparateDatabaseAndState case): the through model taking the join table's name is refused with the steps
# that keep the rows, and those steps, as docs/models.md ("Through models") writes them, keep every link.
source tests/lib/pg.sh
source tests/lib/tap.sh
tap_plan 9

tap_fresh_db through_switch
tap_workdir
cd "$TAP_WORKDIR" || exit 1
export PGDATABASE=through_switch
people='model Person {
  name  string(50)
}
'
printf '%s\nmodel Club {\n  name     string(50)\n  members  Person[]\n}\n' "$people" >models.pdm
run_cmd "$PRODATA" makemigrations
run_cmd "$PRODATA" migrate
expect_rc "a club with a join table of its own" 0
sql through_switch "INSERT INTO person (name) VALUES ('Ann'), ('Bob'); INSERT INTO club (name) VALUES ('chess');
    INSERT INTO club_members (club_id, person_id) VALUES (1, 1), (1, 2)" >/dev/null

membership='model Membership {
  %s
  person  Person
  club    Club
  joined  date
}
'
printf '%s\nmodel Club {\n  name     string(50)\n  members  Person[]  through=Membership\n}\n\n' "$people" >models.pdm
printf "$membership" 'table "club_members"' >>models.pdm
run_cmd "$PRODATA" makemigrations --allow-destructive
expect_rc "the through model taking the join table's name: refused, exit 2" 2
expect_out "... saying why" 'its join table "club_members" would become the table of through model Membership'
expect_out "... and the way that keeps the rows" 'HINT: Keep the rows in three migrations'

# 1. the through model with a table of its own, the field as it was
printf '%s\nmodel Club {\n  name     string(50)\n  members  Person[]\n}\n\n' "$people" >models.pdm
printf "$membership" 'table "membership"' >>models.pdm
run_cmd "$PRODATA" makemigrations
run_cmd "$PRODATA" migrate
expect_rc "step 1: the through model added" 0
# 2. the links copied by hand
run_cmd "$PRODATA" makemigrations --empty --name copy_members
file=$(ls migrations/*_copy_members.sql)
sed -i "s/^-- +up\$/-- +up\nINSERT INTO membership (club_id, person_id, joined) SELECT club_id, person_id, DATE '2024-01-01' FROM club_members;/; s/^-- +down\$/-- +down\nDELETE FROM membership;/" "$file"
run_cmd "$PRODATA" migrate
expect_rc "step 2: the links copied" 0
# 3. the switch: the old join table dropped
printf '%s\nmodel Club {\n  name     string(50)\n  members  Person[]  through=Membership\n}\n\n' "$people" >models.pdm
printf "$membership" 'table "membership"' >>models.pdm
run_cmd "$PRODATA" makemigrations --allow-destructive
run_cmd "$PRODATA" migrate
expect_rc "step 3: the field switched" 0
expect_eq "the links kept in the through model, the old join table gone" \
    "$(psql -X -At -c "SELECT string_agg(p.name, ',' ORDER BY p.name) || '|' || (SELECT count(*) FROM pg_tables WHERE tablename = 'club_members') FROM membership m JOIN person p ON p.id = m.person_id")" \
    "Ann,Bob|0"
run_cmd "$PRODATA" check
expect_rc "check agrees" 0
tap_done

#!/bin/bash
# keeper_backup_schedule.sh - backups scheduled by the keepers (docs/ha.md, "Scheduled backups"): three keepers
# in network namespaces of their own archiving into one repository; once both standbys stream, the cluster
# configuration gets backup_full_every_s=3600, backup_incr_every_s=60, backup_verify_every_s=60 and
# backup_on=standby (set before, the first full would run on the primary: no standby is healthy during the
# bootstrap; a job key that does not parse is there too). None is recorded yet, so a full is due at once: the leader writes the job naming a streaming standby, whose keeper
# runs `prodata backup --from-standby` as a child and records the outcome in etcd (backup/last/full). Then a
# verify (`backup verify --restore`, recorded in the repository as last_verify), then an incr 60 s after the
# full, built on it. `cluster status --json` shows the last of each kind. Paused, the cluster writes no new job
# although a full falls due (backup_full_every_s=60, backup_retain_full=1); resumed, that full runs and the
# retention that follows it removes the first full and its incr from the repository. Needs root (skipped and counted as a user), etcd and PostgreSQL 15; about 2 minutes.
source tests/lib/tap.sh
source tests/lib/etcd.sh
source tests/lib/netns.sh
source tests/lib/writers.sh
source tests/lib/keepers.sh
kc_test_begin 14 "scheduled backups"

KC_ARCHIVE=$TAP_WORKDIR/archive
KC_CONFIG="postgresql_parameters.fsync=off postgresql_parameters.shared_buffers=16MB postgresql_parameters.max_connections=30"
kc_up "$TAP_WORKDIR/kc" || tap_fail_all "the namespaces or etcd could not be set up"
kc_wait_healthy 120 || tap_fail_all "no primary with two streaming standbys within 120 s: $(tail -n 3 "$KC_DIR"/n*/keeper.log | tr '\n' ' ')"
L=$(kc_leader)
config_set() { (cd "$KC_DIR/n1" && netns_exec n1 timeout 20 "$PRODATA" cluster config set "$@" >/dev/null); }
kc_etcdctl put "/prodata/$KC_CLUSTER/backup/job" '{"id": "garbage' >/dev/null # a job that does not parse is replaced
config_set backup_full_every_s=3600 backup_incr_every_s=60 backup_verify_every_s=60 backup_on=standby ||
    tap_fail_all "cluster config set backup_*: refused"

last_of() { kc_etcdctl get "/prodata/$KC_CLUSTER/backup/last/$1" --print-value-only; }
is_ok() { [ "$(last_of "$1" | jq -r .ok 2>/dev/null)" = true ]; }
backups() { "$PRODATA" backup list --archive-dir "$KC_ARCHIVE" --json; }
why() { echo "record: $(last_of "$1"); job: $(kc_etcdctl get "/prodata/$KC_CLUSTER/backup/job" --print-value-only)"; tail -n 4 "$KC_DIR"/n*/state/backup.log 2>/dev/null; }

# ---- the first full: due at once, on a standby -----------------------------------------------------------------
if poll_ok 90 is_ok full; then tap_ok "a full backup is recorded ok in etcd (backup/last/full)"
else tap_not_ok "a full backup is recorded ok" "$(why full)"; fi
FULL_BY=$(last_of full | jq -r .member)
FULL=$(last_of full | jq -r .label)
check "it ran on a standby ($FULL_BY), not on the leader $L" bash -c "[ -n '$FULL_BY' ] && [ '$FULL_BY' != '$L' ]"
expect_eq "the repository holds that full backup ($FULL)" \
    "$(backups | jq -r --arg l "$FULL" '.backups[] | select(.label == $l) | .type')" full
check "its keeper logged the start and the end, taken from the standby" bash -c \
    "grep -q 'scheduled full backup started (job .*, from this standby)' '$KC_DIR/$FULL_BY/keeper.log' &&
     grep -q 'scheduled full backup ended: ok ($FULL)' '$KC_DIR/$FULL_BY/keeper.log'"
check "the leader logged the job it wrote" grep -q "scheduled a full backup on $FULL_BY, a standby" "$KC_DIR/$L/keeper.log"

# ---- a verify by restoring, recorded in the repository --------------------------------------------------------------
if poll_ok 90 is_ok verify; then tap_ok "a verify --restore is recorded ok in etcd (backup/last/verify)"
else tap_not_ok "a verify is recorded ok" "$(why verify)"; fi
verified() {
    local label
    for label in $(backups | jq -r '.backups[].label'); do
        [ "$("$PRODATA" backup info "$label" --archive-dir "$KC_ARCHIVE" --json | jq -r '.last_verify.ok')" = true ] && return 0
    done
    return 1
}
check "backup info shows a last_verify that is ok" verified

# ---- the incr, 60 s after the full, built on it ---------------------------------------------------------------------
if poll_ok 100 is_ok incr; then tap_ok "an incr backup is recorded ok in etcd (backup/last/incr)"
else tap_not_ok "an incr backup is recorded ok" "$(why incr)"; fi
INCR=$(last_of incr | jq -r .label)
expect_eq "the incr ($INCR) builds on the full" \
    "$(backups | jq -r --arg l "$INCR" '.backups[] | select(.label == $l) | .type + " " + .prior')" "incr $FULL"
run_cmd netns_exec client "$PRODATA" cluster status --json --config "$KC_DIR/n1/prodata.conf"
expect_eq "cluster status --json shows the last full, incr and verify" \
    "$(jq -r '[.backups.last.full.ok, .backups.last.incr.ok, .backups.last.verify.ok] | map(tostring) | join(" ")' <<<"$OUT")" \
    "true true true"

# ---- paused: no new job, although a full falls due -----------------------------------------------------------
config_set paused=true
# a job written before the keepers read the change waits for the resume; one started before it runs to its end
count_lines() { cat "$KC_DIR"/n*/keeper.log | grep -cE "$1"; }
runs_none() { [ "$(count_lines 'scheduled [a-z]+ backup started')" = "$(count_lines 'scheduled [a-z]+ backup (ended|failed)')" ]; }
poll_ok 60 runs_none
times() { for k in full incr verify; do last_of "$k" | jq -r .time_ms; done | tr '\n' ' '; }
BEFORE=$(times)
COUNT=$(backups | jq '.backups | length')
FULL_MS=$(last_of full | jq -r .time_ms)
# the first full is over 60 s old by now: with backup_full_every_s=60 a full is due at once
PAUSED_MS=$(kc_now)
config_set backup_full_every_s=60 backup_incr_every_s=0 backup_verify_every_s=0 backup_retain_full=1
no_new_job_for() { # SECONDS: no job written after the full fell due (the pause was read long before) for that long
    local until=$((SECONDS + $1)) created
    while [ $SECONDS -lt $until ]; do
        created=$(kc_etcdctl get "/prodata/$KC_CLUSTER/backup/job" --print-value-only | jq -r '.created_ms // 0')
        [ "${created:-0}" -gt "$PAUSED_MS" ] && { echo "a job written while paused: $created"; return 1; }
        sleep 1
    done
}
check "paused: no job is written for 15 s, although a full is due" no_new_job_for 15
AFTER="$(times)|$(backups | jq '.backups | length')"
expect_eq "paused: nothing ran, the records and the repository are as they were" "$AFTER" "$BEFORE|$COUNT"

# ---- resumed with retention in the cluster settings: the next full expires the first and its incr -----------------
config_set paused=false
newer_full() { [ "$(last_of full | jq -r .time_ms)" -gt "$FULL_MS" ] && is_ok full; }
if poll_ok 90 newer_full; then tap_ok "resumed: a second full backup is recorded ok"
else tap_not_ok "resumed: a second full backup is recorded ok" "$(why full)"; fi
SECOND=$(last_of full | jq -r .label)
expect_eq "backup_retain_full=1: the repository keeps the second full ($SECOND) alone" \
    "$(backups | jq -r '[.backups[].label] | join(" ")')" "$SECOND"
tap_done

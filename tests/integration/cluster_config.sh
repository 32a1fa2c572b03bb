#!/bin/bash
# cluster_config.sh - `prodata cluster config` over a real etcd of its own (tests/lib/etcd.sh), found through
# the keeper settings of a prodata.conf: the defaults while the key is absent (table and --json), a set and
# the show after it, invalid changes refused with every field named (exit 2) and nothing written,
# --if-revision refusing a change decided on an older document (exit 1), two processes setting fields at once
# with none of their acknowledged changes lost, and an etcd that does not answer (stopped with SIGSTOP, or a
# refused port): exit 4 within the request timeout, saying the outcome is unknown; TLS with a client
# certificate named by the keeper settings (and without it: exit 4). Also the keeper settings surface
# (`prodata config --surface keeper`, its docs table) and that no password is ever a setting.
source tests/lib/tap.sh
source tests/lib/etcd.sh
tap_plan 35
tap_workdir
ETCD_DIR="$TAP_WORKDIR/etcd"
trap 'etcd_cluster_stop "$ETCD_DIR"; rm -rf "$TAP_WORKDIR"' EXIT

run_cmd "$PRODATA" config --docs --surface keeper
expect_eq "docs/configuration.md holds the keeper settings table (prodata config --docs --surface keeper)" \
    "$(sed -n '/^<!-- settings:keeper begin -->$/,/^<!-- settings:keeper end -->$/p' docs/configuration.md | sed '1d;$d')" "$OUT"
run_cmd "$PRODATA" config --surface keeper --replication-password s3cret-password
expect_rc "the replication password is no setting: as an option it is unknown" 2
expect_no_out "the refused password is not echoed" "s3cret"

if ! etcd_cluster_start "$ETCD_DIR" 1 $$ >"$TAP_WORKDIR/etcd.log" 2>&1; then
    while [ "$TAP_COUNT" -lt "$TAP_PLAN" ]; do tap_skip "cluster config over etcd" "etcd does not start here"; done
    tap_done
    exit
fi
cat >"$TAP_WORKDIR/prodata.conf" <<CONF
etcd_endpoints = "$(cat "$ETCD_DIR/endpoints")"
cluster_name = it
etcd_request_timeout_ms = 1500
CONF
cd "$TAP_WORKDIR" || exit 1

run_cmd "$PRODATA" config
expect_rc "the keeper's settings in prodata.conf are no mistake for another command (migrate's config)" 0
run_cmd "$PRODATA" config --surface keeper
expect_out "config --surface keeper shows the endpoints with their source" "^etcd_endpoints = \"http://127.0.0.1:[0-9]+\" +# .*prodata.conf:1"

run_cmd "$PRODATA" cluster config
expect_rc "show of an absent configuration exits 0" 0
expect_out "it says the defaults are in effect" "^/prodata/it/config: not in etcd; the defaults are in effect"
expect_out "the table shows ttl_s 3" "^ttl_s +3 +3$"
run_cmd "$PRODATA" cluster config --json
expect_out "--json says is_default" '"is_default": true'

run_cmd "$PRODATA" cluster config set synchronous_mode=on synchronous_quorum=2 postgresql_parameters.work_mem=16MB
expect_rc "set exits 0" 0
expect_out "set prints the new revision" "^/prodata/it/config: revision [0-9]+$"
expect_out "set prints the new document" '"synchronous_mode": "on",'
REVISION=$(sed -n 's|^/prodata/it/config: revision \([0-9]*\).*|\1|p' <<<"$OUT")
run_cmd "$PRODATA" cluster config
expect_out "show reads back the revision set" "^/prodata/it/config: revision $REVISION$"
expect_out "show reads back synchronous_mode" "^synchronous_mode +on +off$"
expect_out "show reads back the parameter" "^postgresql_parameters.work_mem +16MB"
run_cmd "$PRODATA" cluster config --json
expect_out "--json has the mod_revision" "\"mod_revision\": $REVISION,"

run_cmd "$PRODATA" cluster config set ttl_s=-1 synchronous_quorum=9 postgresql_parameters.port=5433 bogus=1
expect_rc "an invalid set exits 2" 2
expect_out "a negative TTL is named" "ttl_s -1 is out of bounds"
expect_out "a quorum larger than possible is named" "synchronous_quorum 9 is not possible"
expect_out "a parameter the node owns is named" "postgresql_parameters.port: prodata's node module sets port"
expect_out "an unknown field is named" 'unknown field "bogus"'
run_cmd "$PRODATA" cluster config
expect_out "the invalid set wrote nothing" "^/prodata/it/config: revision $REVISION$"

run_cmd "$PRODATA" cluster config set ttl_s=5 --if-revision $((REVISION - 1))
expect_rc "--if-revision of an older document exits 1" 1
expect_out "and says the configuration changed" "the cluster configuration changed: its revision is $REVISION, not"

# Two processes, each setting ten parameters of its own, one change at a time: every change acknowledged
# (exit 0) is in the document at the end; a change refused must say it met others (exit 1), never vanish.
WRITERS=()
for writer in a b; do
    (
        for n in $(seq 1 10); do
            "$PRODATA" cluster config set "postgresql_parameters.app_${writer}_$n=v$n" >/dev/null 2>"err_${writer}_$n"
            echo "$n $?" >>"rc_$writer"
        done
    ) &
    WRITERS+=($!)
done
wait "${WRITERS[@]}" # not a bare wait: etcd and its watcher are children of this shell too
run_cmd "$PRODATA" cluster config
LOST=""
BAD_REFUSAL=""
for writer in a b; do
    while read -r n rc; do
        if [ "$rc" = 0 ]; then
            grep -qE "^postgresql_parameters.app_${writer}_$n +v$n" <<<"$OUT" || LOST="$LOST app_${writer}_$n"
        elif [ "$rc" != 1 ] || ! grep -q "changed by others" "err_${writer}_$n"; then
            BAD_REFUSAL="$BAD_REFUSAL app_${writer}_$n:$rc"
        fi
    done <"rc_$writer"
done
expect_eq "concurrent sets: no acknowledged change lost" "$LOST" ""
expect_eq "concurrent sets: a refusal exits 1 saying it met other changes" "$BAD_REFUSAL" ""

kill -STOP "$(cat "$ETCD_DIR/m1/pid")"
START=$SECONDS
run_cmd "$PRODATA" cluster config set ttl_s=4
kill -CONT "$(cat "$ETCD_DIR/m1/pid")"
expect_rc "a stopped etcd: set exits 4 (outcome unknown)" 4
expect_out "it says etcd gave no answer to trust" "etcd gave no answer to trust"
expect_out "and what to do" "^HINT: "
expect_eq "within the request timeout (and a second)" "$(((SECONDS - START) <= 3))" 1
run_cmd "$PRODATA" cluster config --etcd-endpoints "http://127.0.0.1:$(etcd_free_port "$TAP_WORKDIR")"
expect_rc "a refused port: show exits 4" 4
run_cmd "$PRODATA" cluster config
expect_out "etcd answers again after SIGCONT, the document unchanged by the unanswered set" "^ttl_s +3 +3$"

# TLS through the keeper settings: an etcd asking for client certificates, reached with etcd_ca_file,
# etcd_cert_file and etcd_key_file; without the client certificate there is no answer to trust.
TLS_DIR="$TAP_WORKDIR/etcd-tls"
trap 'etcd_cluster_stop "$ETCD_DIR"; etcd_cluster_stop "$TLS_DIR"; rm -rf "$TAP_WORKDIR"' EXIT
if etcd_cluster_start "$TLS_DIR" 1 $$ tls >"$TAP_WORKDIR/etcd-tls.log" 2>&1; then
    cat >tls.conf <<CONF
etcd_endpoints = "$(cat "$TLS_DIR/endpoints")"
etcd_ca_file = etcd-tls/tls/ca.crt
etcd_cert_file = etcd-tls/tls/client.crt
etcd_key_file = etcd-tls/tls/client.key
CONF
    run_cmd "$PRODATA" cluster config set --config tls.conf ttl_s=6
    expect_rc "over TLS with a client certificate (paths relative to the settings file): set exits 0" 0
    run_cmd "$PRODATA" cluster config --config tls.conf
    expect_out "and show reads it back" "^ttl_s +6 +3$"
    run_cmd "$PRODATA" cluster config --config tls.conf --etcd-cert-file= --etcd-key-file=
    expect_rc "without the client certificate: exit 4" 4
else
    for name in "TLS set" "TLS show" "TLS without a certificate"; do tap_skip "$name" "etcd with TLS does not start"; done
fi
tap_done

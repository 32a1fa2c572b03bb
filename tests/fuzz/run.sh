#!/bin/sh
# Runs each libFuzzer target built by `make fuzz` for FUZZ_SECONDS (default 30)
# on a seed corpus gathered at run time from the examples and the test data
# (tests/fuzz/seeds/<target>/ only where there is no such data), with inputs
# up to FUZZ_MAX_LEN bytes (default 8192). Corpora and crash artifacts stay in
# the folder given (build/fuzz); a target that finds a crash, a leak or a
# broken invariant makes the run fail, and its input is kept in
# build/fuzz/artifacts/<target>/ to become a regression test.
# Usage: tests/fuzz/run.sh <fuzz build dir, with bin/fuzz_*> [target ...]
set -eu

work=$1
bin_dir=$work/bin
shift
seconds=${FUZZ_SECONDS:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
targets=${*:-$(for binary in "$bin_dir"/fuzz_*; do basename "$binary" | sed 's/^fuzz_//'; done)}

# Seeds: copies, so a run never changes a tracked file.
seed() {
    target=$1
    corpus=$work/corpus/$target
    mkdir -p "$corpus"
    n=0
    case $target in
        model | plan)
            for file in "$root"/examples/*/models.pdm "$root"/tests/unit/model/data/*.pdm \
                "$root"/tests/unit/model/invalid/*/input.pdm; do
                n=$((n + 1))
                if [ "$target" = model ]; then
                    cp "$file" "$corpus/seed$n"
                else
                    # two model files: the example before, each test file after (and the other way round)
                    { cat "$root"/examples/bookstore/models.pdm; echo '%%'; cat "$file"; } >"$corpus/seed$n"
                    { cat "$file"; echo '%%'; cat "$root"/examples/bookstore/models.pdm; } >"$corpus/rseed$n"
                fi
            done ;;
        migration | split)
            for file in "$root"/examples/*/migrations/*.sql; do
                n=$((n + 1))
                cp "$file" "$corpus/seed$n"
            done ;;
        settings)
            for file in "$root"/examples/*/*.conf; do
                n=$((n + 1))
                cp "$file" "$corpus/seed$n"
            done ;;
    esac
    if [ -d "$root/tests/fuzz/seeds/$target" ]; then
        cp "$root/tests/fuzz/seeds/$target"/* "$corpus/"
    fi
}

failed=""
for target in $targets; do
    seed "$target"
    artifacts=$work/artifacts/$target
    mkdir -p "$artifacts"
    dict=""
    [ -f "$root/tests/fuzz/$target.dict" ] && dict="-dict=$root/tests/fuzz/$target.dict"
    echo "fuzz: $target for ${seconds}s"
    # Inputs are cut to FUZZ_MAX_LEN bytes (default 8192): a 95 kB seed would slow every mutation of it tenfold.
    # shellcheck disable=SC2086
    if ! "$bin_dir/fuzz_$target" -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-8192}" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" $dict "$work/corpus/$target" >"$work/$target.log" 2>&1; then
        tail -40 "$work/$target.log" >&2
        echo "fuzz: $target FAILED; the input is in $artifacts/" >&2
        failed="$failed $target"
    else
        grep -E '^stat::number_of_executed_units' "$work/$target.log" | sed "s/^/fuzz: $target: /"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
    exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"

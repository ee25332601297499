#!/usr/bin/env bash
# scripts/fuzz.sh — runs the coverage-guided fuzz targets of fuzz/ (cargo-fuzz, libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 20 seconds for each target
#
# The toolchain is stable; cargo-fuzz needs nightly flags (-Z sanitizer, -C passes=sancov), which
# RUSTC_BOOTSTRAP=1 unlocks on stable. The targets are built without a sanitizer (-s none): Postern
# has no unsafe code, and the build is then twice as fast. cargo-fuzz is installed when missing.
#
# Seeds are copied at each run (nothing large is committed): the messages of crates/mime/tests,
# the bounce corpus and Odoo's test templates of ../shared (when present), the golden cases of
# tests/cases and docs/example.toml for the config loader, and SMTP sessions made from those
# messages for the SMTP targets. Corpora grow in fuzz/corpus/TARGET, crashes land in
# fuzz/artifacts/TARGET (both ignored by git). A crash makes the script fail; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
# and turn it into a regression test of the normal suite.
#
# Each target's last line of libFuzzer statistics (executions, coverage, corpus) is printed and
# appended to fuzz/runs.log, the figures RELIABILITY.md quotes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"
SECONDS_EACH=${1:-20}
shift || true
ALL=(mime_parse bounce routing smtp_session smtp_data config outcome_json)
TARGETS=("${ALL[@]}")
[[ $# -eq 0 ]] || TARGETS=("$@")
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${POSTERN_FUZZ_TARGET_DIR:-$ROOT/fuzz/target}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "[fuzz.sh] installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

SHARED=$ROOT/../shared
messages() {
    find "$ROOT/crates/mime/tests" -name '*.eml' 2>/dev/null
    [[ -d $SHARED/corpus ]] && find "$SHARED/corpus" -name '*.eml' 2>/dev/null
    [[ -d $SHARED/reference/odoo-test-templates ]] &&
        find "$SHARED/reference/odoo-test-templates" -type f 2>/dev/null
    true
}

# seed TARGET: copies the seeds of TARGET into its corpus (cp -n: nothing is overwritten).
seed() {
    local dir=corpus/$1 i=0 f
    mkdir -p "$dir"
    case $1 in
    config)
        cp -n "$ROOT"/tests/cases/*.toml "$ROOT/docs/example.toml" "$dir/" 2>/dev/null || true
        ;;
    smtp_session | smtp_data)
        # An SMTP session (first byte: the size of the pieces it arrives in) for some messages.
        local files
        mapfile -t files < <(messages)
        for f in "${files[@]:0:60}"; do
            i=$((i + 1))
            {
                printf '\x10EHLO fuzz.test\r\nMAIL FROM:<a@customer.test>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\n'
                sed 's/^\./../' "$f"
                printf '\r\n.\r\nBDAT 5 LAST\r\nhelloQUIT\r\n'
            } >"$dir/session-$i"
        done
        ;;
    *)
        local files
        mapfile -t files < <(messages)
        for f in "${files[@]}"; do
            cp -n "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")" 2>/dev/null || true
        done
        ;;
    esac
}

cargo fuzz build -s none
failed=0
for t in "${TARGETS[@]}"; do
    seed "$t"
    log=$(mktemp)
    echo "[fuzz.sh] $t: ${SECONDS_EACH}s"
    rc=0
    cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
        -rss_limit_mb=4096 -max_len=1048576 -timeout=60 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    line="$(date -u +%FT%TZ) $t seconds=$SECONDS_EACH execs=${execs:-?} rc=$rc last: $stats"
    echo "[fuzz.sh] $line"
    echo "$line" >>runs.log
    if ((rc != 0)); then
        failed=1
        grep -E 'panicked|ERROR|artifact|SUMMARY' "$log" | head -n 20 >&2 || true
    fi
    rm -f "$log"
done
exit "$failed"

#!/usr/bin/env bash
# scripts/soak.sh — the soak of crates/cli/tests/soak.rs, long, by hand (issue 18, point 10).
#
#   scripts/soak.sh [--seconds N] [--rate MSG_PER_S] [--backend sqlite|postgres] [--debug]
#
# `postern serve` (release build, unless --debug) takes SMTP mail from 8 senders at half the
# peak rate it showed in a 5-second burst just before (or --rate), for --seconds (default 600).
# Resident memory and open files are sampled 20 times; the run fails when, from warm (a fifth of
# the way) to the end, either grew more than 10 %, when a message answered 250 is not stored
# once, or when the log has a warning or an error. It prints the curve as a Markdown table;
# RELIABILITY.md keeps the last long run's. The short version (20 s, without the 10 % rule) is a
# test of the suite of scripts/test.sh.
#
# Run it through scripts/test.sh's environment (PostgreSQL, the private Dovecot): this script
# does so itself. The test runs under `cargo test`, which has no time limit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

seconds=600 rate= backend=sqlite profile=--release
while (($#)); do
    case $1 in
    --seconds) seconds=${2:?}; shift ;;
    --rate) rate=${2:?}; shift ;;
    --backend) backend=${2:?--backend needs sqlite or postgres}; shift ;;
    --debug) profile= ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $backend in sqlite | postgres) ;; *) echo "soak.sh: --backend is sqlite or postgres" >&2; exit 2 ;; esac

export POSTERN_SOAK_SECONDS=$seconds POSTERN_SOAK_BACKEND=$backend
[[ -n $rate ]] && export POSTERN_SOAK_RATE=$rate
echo "[soak.sh] $seconds s on $backend${rate:+ at $rate msg/s} (${profile:---debug} build)"
POSTERN_TEST_CMD="cargo test $profile -p postern --test soak -- --nocapture" \
    exec "$ROOT/scripts/test.sh"

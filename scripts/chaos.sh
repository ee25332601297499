#!/usr/bin/env bash
# scripts/chaos.sh — the kill test of crates/cli/tests/chaos.rs, short or long, by hand.
#
#   scripts/chaos.sh [--long] [--backend sqlite|postgres|both] [--kills N] [--up-ms MS]
#
# `postern serve` is killed with SIGKILL at random moments while 8 SMTP senders, the API, the
# delivery runner, the fetcher (IMAP, the private Dovecot) and the webhook sender are busy, then
# started again; afterwards every message answered 250 must be stored once, every fetched
# message once, every queued mail delivered at least once, every event delivered to its webhook.
# The figures are printed (one `chaos on ...` line per backend); RELIABILITY.md keeps the long
# run's.
#
# The short version (3 kills, each life up to 1.5 s) runs inside scripts/test.sh's suite. The
# long one (--long) is 25 kills, each life up to 4 s. scripts/test.sh starts PostgreSQL (or
# uses the shared one on 5432) and the private Dovecot, as for the suite; the test runs under
# `cargo test`, which has no time limit (nextest's stops a test after 300 s).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

kills=3 up_ms=1500 backend=both
while (($#)); do
    case $1 in
    --long) kills=25 up_ms=4000 ;;
    --backend) backend=${2:?--backend needs sqlite, postgres or both}; shift ;;
    --kills) kills=${2:?}; shift ;;
    --up-ms) up_ms=${2:?}; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $backend in
sqlite) filter=loses_nothing_sqlite ;;
postgres) filter=loses_nothing_postgres ;;
both) filter=killed_again_and_again ;;
*) echo "chaos.sh: --backend is sqlite, postgres or both, not $backend" >&2; exit 2 ;;
esac

export POSTERN_CHAOS_KILLS=$kills POSTERN_CHAOS_UP_MS=$up_ms
echo "[chaos.sh] $kills kills per backend ($backend), each life up to $up_ms ms"
POSTERN_TEST_CMD="cargo test -p postern --test chaos -- --nocapture --test-threads 1 $filter" \
    exec "$ROOT/scripts/test.sh"

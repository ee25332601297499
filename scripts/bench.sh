#!/usr/bin/env bash
# scripts/bench.sh — Postern's benchmarks, with the reference systems measured in the same run.
#
#   scripts/bench.sh            inbound: parse + decide, accept on SQLite and PostgreSQL, reply routing at scale
#
# PostgreSQL: the server on 127.0.0.1:5432 (or POSTERN_TEST_DATABASE_URL). Results are printed as
# Markdown; copy them into BENCHMARKS.md with the date and the machine.
# Environment: BENCH_MESSAGES (default 4000) messages per accept run, BENCH_CALLERS (default 32)
# concurrent callers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "## $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(uname -r)"
echo
cargo bench -q -p postern-gateway --bench gateway 2>/dev/null

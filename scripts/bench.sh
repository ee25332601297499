#!/usr/bin/env bash
# scripts/bench.sh — Postern's inbound benchmark, with the reference systems measured in the same
# run (../shared/bench/anchors): Python's e-mail parser as Odoo runs it (the parse step of Odoo's
# gateway) and the disk's fsync rate (the ceiling of durable acknowledgements without group
# commit). Prints a Markdown report; BENCHMARKS.md keeps the figures of recorded runs.
#
# Environment: BENCH_MESSAGES (default 4000) messages per accept run, BENCH_CALLERS (default 32)
# concurrent callers, POSTERN_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# Run it on an otherwise idle machine: the figures are only comparable within one run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ANCHORS=${ANCHORS:-../shared/bench/anchors}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "# Inbound benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo
echo "## Postern"
echo
cargo bench -q -p postern-gateway --bench gateway 2>/dev/null | tee "$OUT/postern.md"

if [[ -d $ANCHORS ]]; then
    echo
    echo "## Reference systems, same run"
    [[ -d /var/tmp/gw-anchor-corpus/templates ]] || (cd "$ANCHORS" && python3 gen_corpus.py >/dev/null)
    (cd "$ANCHORS" && ANCHOR_RESULTS="$OUT" python3 parse_bench.py --reps 1 --template-passes 40 --modes all >/dev/null)
    (cd "$ANCHORS" && ANCHOR_RESULTS="$OUT" python3 fsync_rate.py --reps 1 >/dev/null)
    python3 - "$OUT" <<'PY'
import json, re, sys, glob, os
out = sys.argv[1]
parse = json.load(open(os.path.join(out, "parse_bench.json")))
row = next(r for r in parse["rows"] if r["corpus"] == "odoo-templates")
py = row["msgs_per_s"]["median"]
fs = json.load(open(os.path.join(out, "fsync_rate.json")))
fsync = next((("append 1 KiB + fsync", r["ops_per_s"]["median"]) for r in fs["rows"]
              if r.get("variant") == "append_fsync_1k"), None)
ours = {}
for line in open(os.path.join(out, "postern.md")):
    m = re.match(r"\| (.+?) \| ([\d.]+) \|", line)
    if m: ours[m.group(1)] = float(m.group(2))
pd = next(v for k, v in ours.items() if k.startswith("parse + decide"))
print()
print("| reference | rate | Postern | ratio |")
print("|---|---|---|---|")
print(f"| Python `email` parse as Odoo does (templates, mode all), msg/s | {py:.0f} | parse + decide {pd:.0f} | {pd/py:.0f}x |")
if fsync:
    for k, v in ours.items():
        if k.startswith("accept, SQLite"):
            print(f"| disk fsync ({fsync[0]}), ops/s | {fsync[1]:.0f} | {k}: {v:.0f} | {v/fsync[1]:.2f}x |")
PY
fi

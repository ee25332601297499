#!/usr/bin/env bash
# scripts/bench-delivery.sh — the delivery runner draining a queue of mails to Postfix's
# smtp-sink, side by side with Postfix draining the same number of queued mails to the same kind
# of sink, measured in the same run (../shared/bench/anchors/postfix_anchor.py, "hold" mode:
# messages accepted into Postfix's hold queue, then released and timed until the queue is empty).
#
# Postern's side: N mails are put in the outbox of a fresh SQLite database (one transaction,
# before the server starts), then `postern serve` starts and the time until no mail is left
# `outgoing` is measured (start-up included). Each mail has a body of SIZE bytes, one
# recipient, and is built (headers, MIME) and sent by the runner with its default settings
# (batches of 500, 8 connections, results committed by 200 with synchronous=FULL).
#
# Environment: BENCH_MESSAGES (default 10000), BENCH_SIZES (default "1024 10240"),
# BENCH_POSTFIX=0 skips the Postfix anchor. It installs postfix (smtp-sink) with the anchors'
# install.sh when missing. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors}
N=${BENCH_MESSAGES:-10000}
SIZES=${BENCH_SIZES:-"1024 10240"}
WORK=$(mktemp -d)
PID=
SINK=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    [[ -n $SINK ]] && kill "$SINK" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x /usr/sbin/smtp-sink ]] || (cd "$ANCHORS" && ./install.sh >/dev/null)
cargo build -q --release -p postern
BIN=$ROOT/target/release/postern
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -A OURS
for size in $SIZES; do
    DATA=$WORK/data-$size
    SINK_PORT=$(free_port)
    # The same sink the anchor uses: smtp-sink, IPv4, unprivileged, backlog 1024, no dump.
    /usr/sbin/smtp-sink -4 -u postfix -h sink.bench.test "127.0.0.1:$SINK_PORT" 1024 &
    SINK=$!
    cat > "$WORK/bench.toml" <<TOML
[[alias_domains]]
name = "bench.test"
[[companies]]
name = "Bench"
alias_domain = "bench.test"
[[aliases]]
alias_name = "sales"
alias_domain = "bench.test"
model = "crm.lead"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = $SINK_PORT
from_filter = "bench.test"
TOML
    "$BIN" apply "$WORK/bench.toml" --data-dir "$DATA" >/dev/null
    python3 - "$DATA/postern.db" "$N" "$size" <<'PY'
import sqlite3, sys, time
db, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Lines of 64 characters, as smtp-source's messages have lines.
line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do.\n"
body = (line * (size // len(line) + 1))[:size]
now = int(time.time() * 1000)
c = sqlite3.connect(db)
c.executemany(
    "INSERT INTO mails (state, stream, kind, rfc_message_id, email_from, email_to, email_cc, subject, body_text, "
    "headers, return_path, next_try_at, created_at) VALUES ('outgoing', 'transactional', 'bench', ?, ?, ?, '[]', ?, ?, "
    "'{}', 'bounce@bench.test', ?, ?)",
    [(f"<bench{i}.{now}-postern-private@bench.test>", '"Bench App" <app@bench.test>',
      f'["\\"Customer {i}\\" <rcpt{i}@gateway.test>"]', f"Invoice {i}", body, now, now) for i in range(n)])
c.commit()
PY
    HTTP=$(free_port)
    t0=$(date +%s.%N)
    POSTERN_LOG=warn "$BIN" serve --data-dir "$DATA" --http-listen "127.0.0.1:$HTTP" --smtp-listen "" \
        > "$WORK/serve-$size.log" 2>&1 &
    PID=$!
    python3 - "$DATA/postern.db" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30)
deadline = time.time() + 600
while time.time() < deadline:
    if c.execute("SELECT COUNT(*) FROM mails WHERE state = 'outgoing'").fetchone()[0] == 0:
        break
    time.sleep(0.02)
else:
    sys.exit("the outbox did not drain in 600 s")
PY
    t1=$(date +%s.%N)
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    kill "$SINK"; wait "$SINK" 2>/dev/null || true; SINK=
    sent=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT COUNT(*) FROM mails WHERE state='sent'\").fetchone()[0])" "$DATA/postern.db")
    [[ $sent == "$N" ]] || { echo "only $sent of $N mails sent"; exit 1; }
    OURS[$size]=$(python3 -c "print(round($N / ($t1 - $t0)))")
    echo "Postern: $N mails of $size bytes drained to smtp-sink at ${OURS[$size]} mails/s"
done

[[ ${BENCH_POSTFIX:-1} == 1 ]] || exit 0
# Postfix draining the same number of held messages to smtp-sink, same run. The anchor edits the
# system's main.cf (and restores it); a Postfix installed with "No configuration" has none yet.
if [[ ! -f /etc/postfix/main.cf ]]; then
    cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
    postconf -e "myhostname = gateway.test" "mydestination = localhost" "inet_interfaces = 127.0.0.1"
fi
(cd "$ANCHORS" && ANCHOR_RESULTS="$WORK" python3 postfix_anchor.py --modes hold --messages "$N" --sessions 10 \
    --reps 1 --sizes "$(echo $SIZES | tr ' ' ',')" >/dev/null)
args=()
for size in $SIZES; do args+=("$size=${OURS[$size]}"); done
python3 - "$WORK/postfix_anchor.json" "$N" "${args[@]}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = sys.argv[2]
ours = {int(k): float(v) for k, v in (a.split("=") for a in sys.argv[3:])}
def postfix(size):
    for r in d.get("rows", []):
        if r.get("size") == size and r.get("mode") == "hold":
            return r["drain_only_msgs_per_s"]["median"]
    return None
print(f"| size | Postern: {n} queued mails → smtp-sink (mails/s) | Postfix: {n} held mails released → smtp-sink (mails/s) | ratio |")
print("|---|---|---|---|")
for size, rate in sorted(ours.items()):
    p = postfix(size)
    label = f"{size // 1024} KiB"
    print(f"| {label} | {rate:.0f} | {p:.0f} | {rate / p:.2f}x |" if p else f"| {label} | {rate:.0f} | ? | |")
PY

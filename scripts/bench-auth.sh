#!/usr/bin/env bash
# scripts/bench-auth.sh — issue 17's two speed targets, each beside Postfix measured in the same
# run (../shared/bench/anchors/postfix_anchor.py, "hold" mode, 10 KiB):
#
# 1. SMTP accept with sender verification on: `postern serve` with `verify_senders = true`
#    (SPF of HELO and MAIL FROM, DKIM, DMARC and ARC of every message) asking a DNS server on
#    loopback (the tests' hickory-server, crates/testkit/examples/dns_server.rs, serving
#    client.anchor.test's SPF and DMARC records), its cache warmed by 200 messages first; then
#    BENCH_MESSAGES messages of 10 KiB from smtp-source (10 sessions, a connection per message).
#    The same load without verification is measured too, in the same run. Against Postfix's
#    durable accept into its hold queue.
# 2. Delivery with DKIM signing: BENCH_MESSAGES mails of 10 KiB queued in a fresh SQLite outbox
#    whose From domain has an RSA-2048 key (`postern dkim generate`), drained by `postern serve`
#    to smtp-sink (start-up included), signed and unsigned in the same run. Against Postfix
#    draining as many held messages to smtp-sink.
#
# Environment: BENCH_MESSAGES (default 3000). It installs postfix (smtp-source, smtp-sink) with
# the anchors' install.sh when missing. Run it on an otherwise idle machine if you can.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors}
N=${BENCH_MESSAGES:-3000}
S=10
SIZE=10240
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x /usr/sbin/smtp-source && -x /usr/sbin/smtp-sink ]] || (cd "$ANCHORS" && ./install.sh >/dev/null)
cargo build -q --release -p postern
cargo build -q --release -p postern-testkit --features dns --example dns_server
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/postern
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; exit 1; }

# The DNS server: smtp-source's sender domain passes SPF (HELO and MAIL FROM) and DMARC.
printf '@ IN TXT "v=spf1 ip4:127.0.0.1 -all"\n_dmarc IN TXT "v=DMARC1; p=none"\n' > "$WORK/client.zone"
"$TARGET/release/examples/dns_server" "client.anchor.test=$WORK/client.zone" > "$WORK/dns.addr" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $WORK/dns.addr ]] && break; sleep 0.05; done
DNS=$(head -1 "$WORK/dns.addr")

# 1. SMTP accept, verification on, then off.
accept_rate() { # verify -> msg/s
    local port data t0 t1 pid
    port=$(free_port)
    data=$WORK/smtp-$1
    cat > "$WORK/smtp-$1.toml" <<TOML
gateway_allowed = ["bench@client.anchor.test"]
[server]
hostname = "postern.bench.test"
smtp_listen = "127.0.0.1:$port"
http_listen = "127.0.0.1:$(free_port)"
verify_senders = $1
dns = ["$DNS"]
[[alias_domains]]
name = "gateway.test"
[[aliases]]
alias_name = "rcpt"
alias_domain = "gateway.test"
model = "crm.lead"
TOML
    POSTERN_LOG=warn "$BIN" serve --config "$WORK/smtp-$1.toml" --data-dir "$data" > "$WORK/serve-smtp-$1.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    wait_port "$port"
    local src=(/usr/sbin/smtp-source -4 -s "$S" -l "$SIZE" -f bench@client.anchor.test -t rcpt@gateway.test -M client.anchor.test)
    "${src[@]}" -m 200 "127.0.0.1:$port"
    t0=$(date +%s.%N)
    "${src[@]}" -m "$N" "127.0.0.1:$port"
    t1=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "print(round($N / ($t1 - $t0)))"
}
VERIFY_ON=$(accept_rate true)
VERIFY_OFF=$(accept_rate false)
echo "Postern SMTP accept, 10 KiB: verification on ${VERIFY_ON} msg/s, off ${VERIFY_OFF} msg/s"

# 2. Delivery, DKIM-signed then unsigned.
drain_rate() { # dkim -> mails/s
    local data=$WORK/delivery-$1 sink_port sink pid t0 t1 sent
    sink_port=$(free_port)
    /usr/sbin/smtp-sink -4 -u postfix -h sink.bench.test "127.0.0.1:$sink_port" 1024 &
    sink=$!
    PIDS+=($sink)
    cat > "$WORK/delivery-$1.toml" <<TOML
[[alias_domains]]
name = "bench.test"
[[companies]]
name = "Bench"
alias_domain = "bench.test"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = $sink_port
from_filter = "bench.test"
TOML
    "$BIN" apply "$WORK/delivery-$1.toml" --data-dir "$data" >/dev/null
    if [[ $1 == signed ]]; then
        "$BIN" dkim generate bench.test --selector s1 --data-dir "$data" >/dev/null
    fi
    python3 - "$data/postern.db" "$N" "$SIZE" <<'PY'
import sqlite3, sys, time
db, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
    t0=$(date +%s.%N)
    POSTERN_LOG=warn "$BIN" serve --config "$WORK/delivery-$1.toml" --data-dir "$data" --http-listen "127.0.0.1:$(free_port)" --smtp-listen "" \
        > "$WORK/serve-delivery-$1.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    python3 - "$data/postern.db" "$WORK/serve-delivery-$1.log" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30)
deadline = time.time() + 600
while time.time() < deadline:
    try:
        log = open(sys.argv[2]).read()
    except FileNotFoundError:
        log = ""
    if log.startswith("postern:"):
        sys.exit("postern serve did not start: " + log)
    if c.execute("SELECT COUNT(*) FROM mails WHERE state = 'outgoing'").fetchone()[0] == 0:
        break
    time.sleep(0.02)
else:
    sys.exit("the outbox did not drain in 600 s")
PY
    t1=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    kill "$sink"; wait "$sink" 2>/dev/null || true
    sent=$(sqlite3 "$data/postern.db" "SELECT COUNT(*) FROM mails WHERE state='sent'")
    [[ $sent == "$N" ]] || { echo "only $sent of $N mails sent" >&2; exit 1; }
    python3 -c "print(round($N / ($t1 - $t0)))"
}
SIGNED=$(drain_rate signed)
UNSIGNED=$(drain_rate unsigned)
echo "Postern delivery, 10 KiB: DKIM-signed ${SIGNED} mails/s, unsigned ${UNSIGNED} mails/s"

# Postfix, same run: accept into its hold queue, then the drain of those messages to smtp-sink.
if [[ ! -f /etc/postfix/main.cf ]]; then
    cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
    postconf -e "myhostname = gateway.test" "mydestination = localhost" "inet_interfaces = 127.0.0.1"
fi
(cd "$ANCHORS" && ANCHOR_RESULTS="$WORK" python3 postfix_anchor.py --modes hold --messages "$N" --sessions "$S" \
    --reps 1 --sizes "$SIZE" >/dev/null)
python3 - "$WORK/postfix_anchor.json" "$N" "$VERIFY_ON" "$VERIFY_OFF" "$SIGNED" "$UNSIGNED" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = sys.argv[2]
on, off, signed, unsigned = map(float, sys.argv[3:7])
row = next(r for r in d["rows"] if r.get("size") == 10240 and r.get("mode") == "hold")
accept = row["accept_only_msgs_per_s"]["median"]
drain = row["drain_only_msgs_per_s"]["median"]
print("| 10 KiB, same run | Postern | Postfix | ratio |")
print("|---|---|---|---|")
print(f"| SMTP accept, verify_senders on, warm DNS cache (msg/s) | {on:.0f} | {accept:.0f} (durable accept into its queue) | {on / accept:.2f}x |")
print(f"| SMTP accept, verification off (msg/s) | {off:.0f} | {accept:.0f} | {off / accept:.2f}x |")
print(f"| delivery of {n} mails, DKIM-signed, RSA 2048 (mails/s) | {signed:.0f} | {drain:.0f} (held mails released) | {signed / drain:.2f}x |")
print(f"| delivery of {n} mails, unsigned (mails/s) | {unsigned:.0f} | {drain:.0f} | {unsigned / drain:.2f}x |")
PY

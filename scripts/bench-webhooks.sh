#!/usr/bin/env bash
# scripts/bench-webhooks.sh — what webhooks cost and how fast they leave, in the same run:
#
#  1. The SMTP accept rate (Postfix's smtp-source, 1 KiB messages) without a webhook and with one
#     webhook subscribed to every event (each accepted message then writes record.created and
#     message.received into the queue, in the message's transaction). Fresh data directories,
#     alternated (without, with, with, without); the medians are compared. The sender runs and
#     delivers to a local receiver meanwhile, as in production.
#  2. The sender's rate: N message.received events queued by a serve whose sender is off
#     (POSTERN_WEBHOOK_SENDER=0), then a serve that delivers them to the local receiver
#     (crates/web/examples/webhook_sink.rs: answers 204 at once); events/s from the receiver's
#     first to its last POST. Each body is built from the stored message (raw message parsed,
#     text stripped of its quote) at its first try, so this is the whole sender's work.
#     The same-run reference: the SMTP accept rate of part 1 (the sender should outpace intake).
#
# Environment: BENCH_MESSAGES (default 5000), BENCH_SESSIONS (default 10). Installs postfix (for
# smtp-source) with the anchors' install.sh when missing. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors}
N=${BENCH_MESSAGES:-5000}
S=${BENCH_SESSIONS:-10}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

command -v smtp-source >/dev/null || [[ -x /usr/sbin/smtp-source ]] || (cd "$ANCHORS" && ./install.sh >/dev/null)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
cargo build -q --release -p postern
cargo build -q --release -p postern-web --example webhook_sink
BIN=$ROOT/target/release/postern
SINK_BIN=$ROOT/target/release/examples/webhook_sink
TOKEN=bench-token-0123456789abcdef

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK_PORT=$(free_port)
"$SINK_BIN" "127.0.0.1:$SINK_PORT" > "$WORK/sink.log" &
PIDS+=($!)

# serve DATA_DIR [ENV=VALUE...]: starts a serve on fresh ports; sets SMTP, HTTP, SERVE.
serve() {
    local data=$1; shift
    SMTP=$(free_port); HTTP=$(free_port)
    cat > "$WORK/bench.toml" <<TOML
gateway_allowed = ["bench@client.anchor.test"]
[server]
hostname = "postern.bench.test"
smtp_listen = "127.0.0.1:$SMTP"
http_listen = "127.0.0.1:$HTTP"
[[alias_domains]]
name = "gateway.test"
[[aliases]]
alias_name = "rcpt"
alias_domain = "gateway.test"
model = "crm.lead"
TOML
    env POSTERN_LOG=warn POSTERN_API_TOKEN=$TOKEN "$@" "$BIN" serve --config "$WORK/bench.toml" \
        --data-dir "$data" >> "$WORK/serve.log" 2>&1 &
    SERVE=$!
    PIDS+=("$SERVE")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && return; sleep 0.1; done
    echo "serve did not start" >&2; cat "$WORK/serve.log" >&2; exit 1
}
stop() { kill "$SERVE"; wait "$SERVE" 2>/dev/null || true; }
webhook() { # events JSON list
    curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"url\": \"http://127.0.0.1:$SINK_PORT/hook\", \"events\": $1}" \
        "http://127.0.0.1:$HTTP/api/v1/webhooks" >/dev/null
}
rate() { # -> msg/s of N 1 KiB messages
    local t0 t1
    t0=$(date +%s.%N)
    "$SOURCE" -4 -s "$S" -m "$N" -l 1024 -f bench@client.anchor.test -t rcpt@gateway.test -M client.anchor.test "127.0.0.1:$SMTP"
    t1=$(date +%s.%N)
    python3 -c "print(round($N / ($t1 - $t0)))"
}
sink_count() { curl -s "http://127.0.0.1:$SINK_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

# 1. Accept rate without and with one webhook.
declare -a WITHOUT WITH DRAIN
run=0
for kind in without with with without; do
    run=$((run + 1))
    serve "$WORK/data-$run"
    [[ $kind == with ]] && { webhook '[]'; curl -sf -X POST "http://127.0.0.1:$SINK_PORT/reset"; }
    t0=$(date +%s.%N)
    r=$(rate)
    if [[ $kind == with ]]; then
        WITH+=("$r")
        # every event delivered (two per message): when, counted from the first message
        for _ in $(seq 1200); do (( $(sink_count) >= 2 * N )) && break; sleep 0.05; done
        DRAIN+=("$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")")
    else
        WITHOUT+=("$r")
    fi
    echo "accept, $kind a webhook: $r msg/s" >&2
    stop
done

# 2. The sender's rate: queue N events with the sender off, then deliver them.
serve "$WORK/data-queue" POSTERN_WEBHOOK_SENDER=0
webhook '["message.received"]'
intake=$(rate)
stop
sleep 2  # the senders of part 1 are gone; nothing else posts to the receiver
curl -sf -X POST "http://127.0.0.1:$SINK_PORT/reset"
serve "$WORK/data-queue"
for _ in $(seq 1200); do (( $(sink_count) >= N )) && break; sleep 0.1; done
stats=$(curl -s "http://127.0.0.1:$SINK_PORT/stats")
queued=$(sqlite3 "$WORK/data-queue/postern.db" "select count(*) from webhook_deliveries where state = 'delivered'")
stop

python3 - "$N" 0 "$stats" "$queued" "$intake" "${WITHOUT[@]}" "${WITH[@]}" "${DRAIN[@]}" <<'PY'
import json, statistics, sys
n, before, stats, delivered, intake = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
without, with_ = list(map(int, sys.argv[6:8])), list(map(int, sys.argv[8:10]))
drain = sys.argv[10:12]
mw, mh = statistics.median(without), statistics.median(with_)
print("| SMTP accept, 1 KiB | runs (msg/s) | median (msg/s) |")
print("|---|---|---|")
print(f"| no webhook | {', '.join(map(str, without))} | {mw:.0f} |")
print(f"| one webhook, every event | {', '.join(map(str, with_))} | {mh:.0f} |")
print(f"\nWith a webhook: {mh / mw:.2f}x the rate without ({(mh / mw - 1) * 100:+.1f} %). "
      f"All {2 * n} events delivered {' s and '.join(drain)} s after the first message "
      f"(the sender gives way to the busy intake for up to 10 s, then catches up).")
sent = stats["count"] - before
span = (stats["last_ms"] - stats["first_ms"]) / 1000
print(f"\nSender: {sent} message.received events delivered ({delivered} recorded delivered) in "
      f"{span:.2f} s from the first POST to the last: {sent / span:.0f} events/s; "
      f"the same run's SMTP intake with the sender off: {intake} msg/s "
      f"(sender / intake = {sent / span / intake:.2f}x).")
PY

#!/usr/bin/env bash
# scripts/bench-smtp.sh — the SMTP listener under load from Postfix's smtp-source, side by side with
# Postfix accepting the same load into its own queue, measured in the same run
# (../shared/bench/anchors/postfix_anchor.py, accept-only "hold" mode), and Postern's resident
# memory while 10 sessions send 25 MB messages. Sizes: smtp-source's 1, 10 and 100 KiB bodies
# (one repeated character) and a realistic ~100 KiB message (scripts/bench-mail.py, smtp-source
# -F) for both.
#
# Environment: BENCH_MESSAGES (default 5000) per size, BENCH_SESSIONS (default 10);
# BENCH_MEMORY_ONLY=1 measures only the resident memory with 25 MB messages (no anchor).
# It installs postfix (for smtp-source) with the anchors' install.sh when missing. Run it on an
# otherwise idle machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors}
N=${BENCH_MESSAGES:-5000}
S=${BENCH_SESSIONS:-10}
WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

command -v smtp-source >/dev/null || [[ -x /usr/sbin/smtp-source ]] || (cd "$ANCHORS" && ./install.sh >/dev/null)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
cargo build -q --release -p postern
BIN=$ROOT/target/release/postern

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
cat > "$WORK/bench.toml" <<TOML
# smtp-source sends everything from one address: let it through the rate limit.
gateway_allowed = ["bench@client.anchor.test"]
[server]
hostname = "postern.bench.test"
smtp_listen = "127.0.0.1:$PORT"
http_listen = "127.0.0.1:$(free_port)"
max_message_size = "30MB"
[[alias_domains]]
name = "gateway.test"
[[aliases]]
alias_name = "rcpt"
alias_domain = "gateway.test"
model = "crm.lead"
TOML
POSTERN_LOG=warn "$BIN" serve --config "$WORK/bench.toml" --data-dir "$WORK/data" > "$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# A realistic 100 KiB message (text, HTML, a 66 KB attachment): smtp-source's own bodies are one
# repeated character, which compresses a hundredfold (and Postern compresses raw originals).
python3 scripts/bench-mail.py "$WORK/real.eml"
rate() { # size | real -> msg/s
    local t0 t1 body=(-l "$1")
    [[ $1 == real ]] && body=(-F "$WORK/real.eml")
    t0=$(date +%s.%N)
    "$SOURCE" -4 -s "$S" -m "$N" "${body[@]}" -f bench@client.anchor.test -t rcpt@gateway.test -M client.anchor.test "127.0.0.1:$PORT"
    t1=$(date +%s.%N)
    python3 -c "print(round($N / ($t1 - $t0)))"
}
declare -A OURS
if [[ -z ${BENCH_MEMORY_ONLY:-} ]]; then
    for size in 1024 10240 102400 real; do OURS[$size]=$(rate $size); done
fi

# Resident memory while S sessions each send 25 MB messages.
peak=0
"$SOURCE" -4 -s "$S" -m $((S * 2)) -l 25000000 -f bench@client.anchor.test -t rcpt@gateway.test -M client.anchor.test "127.0.0.1:$PORT" &
SRC=$!
while kill -0 $SRC 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
    (( rss > peak )) && peak=$rss
    sleep 0.05
done
wait $SRC
stored=$(sqlite3 "$WORK/data/postern.db" 'select count(*) from raw_messages' 2>/dev/null || echo "?")
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

if [[ -n ${BENCH_MEMORY_ONLY:-} ]]; then
    echo "Postern: peak RSS $((peak / 1024)) MB while $S sessions sent $((S * 2)) messages of 25 MB ($stored stored)"
    exit 0
fi
echo "Postern: 1 KiB ${OURS[1024]} msg/s, 10 KiB ${OURS[10240]} msg/s, 100 KiB ${OURS[102400]} msg/s; peak RSS $((peak / 1024)) MB"

# Postfix accepting the same load into its queue (fsync'd, held), same run. The anchor edits the
# system's main.cf (and restores it); a Postfix installed with "No configuration" has none yet.
if [[ ! -f /etc/postfix/main.cf ]]; then
    cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
    postconf -e "myhostname = gateway.test" "mydestination = localhost" "inet_interfaces = 127.0.0.1"
fi
# The anchor as it is, but "size 1" sends the realistic message file (smtp-source -F).
(cd "$ANCHORS" && ANCHOR_RESULTS="$WORK" BENCH_REAL="$WORK/real.eml" python3 - --modes hold --messages "$N" \
    --sessions "$S" --reps 1 --sizes 1024,10240,102400,1 >/dev/null) <<'PY'
import os, sys
sys.path.insert(0, os.getcwd())
import lib, postfix_anchor
def smtp_source(port, sessions, messages, size, reuse, timeout, **_):
    if size != 1:
        return lib.smtp_source(port, sessions, messages, size, reuse, timeout)
    cmd = ["/usr/sbin/smtp-source", "-4", "-s", str(sessions), "-m", str(messages), "-F", os.environ["BENCH_REAL"],
           "-f", "bench@client.anchor.test", "-t", "rcpt@gateway.test", "-M", "client.anchor.test",
           "%s:%d" % (lib.LOOPBACK, port)]
    rc, out, err, dt = lib.run(cmd, timeout=timeout, check=False)
    if rc != 0:
        raise RuntimeError("smtp-source rc=%s: %s %s" % (rc, out[-500:], err[-500:]))
    return dt
postfix_anchor.smtp_source = smtp_source
sys.argv[0] = "postfix_anchor.py"
sys.exit(postfix_anchor.main())
PY
python3 - "$WORK/postfix_anchor.json" "${OURS[1024]}" "${OURS[10240]}" "${OURS[102400]}" "${OURS[real]}" "$peak" "$stored" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ours = dict(zip([1024, 10240, 102400, 1], map(float, sys.argv[2:6])))
def postfix(size):
    for r in d.get("rows", []):
        if r.get("size") == size and r.get("mode") == "hold":
            return r["accept_only_msgs_per_s"]["median"]
    return None
print("| size | Postern accepted + stored (msg/s) | Postfix durable accept into its queue (msg/s) | ratio |")
print("|---|---|---|---|")
for size, label in [(1024, "1 KiB"), (10240, "10 KiB"), (102400, "100 KiB"),
                    (1, "99 KiB realistic (text + HTML + 66 KB attachment, scripts/bench-mail.py)")]:
    p = postfix(size)
    print(f"| {label} | {ours[size]:.0f} | {p:.0f} | {ours[size]/p:.2f}x |" if p else f"| {label} | {ours[size]:.0f} | ? | |")
print(f"\nPeak resident memory of postern while the sessions sent 25 MB messages: {int(sys.argv[6])/1024:.0f} MB "
      f"(raw messages stored in all: {sys.argv[7]})")
PY

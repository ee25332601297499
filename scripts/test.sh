#!/usr/bin/env bash
# scripts/test.sh — Postern's one test command (CI runs it through .ci/run).
#
# What it does, in order:
#   1. installs missing tools from Debian packages (see ensure_packages),
#   2. finds or starts PostgreSQL and exports POSTERN_TEST_DATABASE_URL (an admin URL; each test
#      creates its own uniquely named database from it),
#   2b. starts a private Dovecot (IMAP, IMAPS, POP3, POP3S; see start_dovecot) and exports where
#      it is (POSTERN_TEST_IMAP, ...) for the fetch tests,
#   2c. installs npm's oidc-provider (a pinned version, into a cache directory; see
#      ensure_oidc_provider) and exports POSTERN_TEST_OIDC_MODULES for the OAuth tests, which run
#      it under node as their OpenID Connect provider,
#   3. runs cargo fmt --check, cargo clippy -D warnings, and the test suite (cargo nextest when
#      available, plus `cargo test --doc` since nextest skips doctests; else cargo test); extra
#      arguments go to the test runner (and then the doctest stage is left out):
#          scripts/test.sh -p postern-store
#   3b. runs the documentation's examples (scripts/doctest.py: every fenced sh/toml/conf block of
#      README.md and docs/*.md, the Postfix recipes in private Postfix instances, and
#      `systemd-analyze verify` of dist/postern.service) against the debug binary, built here with
#      `cargo build -p postern`; only for the full run (not when extra arguments select tests);
#   3c. runs each fuzz target of fuzz/ for 20 s (scripts/fuzz.sh; installs cargo-fuzz when missing),
#      only for the full run;
#   4. stops everything it started, on any exit.
#
# Environment knobs (none is set by CI):
#   POSTERN_TEST_PRIVATE_PG=1   never use the shared server on 127.0.0.1:5432; always initdb a private
#                               cluster in a temporary directory on a free port.
#   POSTERN_TEST_SKIP_LINT=1    skip cargo fmt and cargo clippy (quick local loops).
#   POSTERN_TEST_SKIP_DOCS=1    skip the documentation's examples (scripts/doctest.py). By hand, without
#                               the rest: POSTERN_BIN=target/debug/postern scripts/doctest.py [FILE.md...]
#   POSTERN_TEST_SKIP_FUZZ=1    skip the short run of the fuzz targets (scripts/fuzz.sh, after the tests);
#   POSTERN_TEST_FUZZ_SECONDS=N its seconds per target (default 20).
#   POSTERN_TEST_MOLD=1         install and link with mold (off by default: rustc 1.95 already links
#                               with lld, and a changed RUSTFLAGS rebuilds the whole workspace).
#   POSTERN_TEST_CMD='...'      debugging hook: replaces the whole cargo stage (fmt, clippy, tests)
#                               with this shell command, run by bash with the servers up and the
#                               environment exported; extra arguments of test.sh become its "$@".
#                               e.g. POSTERN_TEST_CMD='psql "$POSTERN_TEST_DATABASE_URL" -c "select version()"'
#   POSTERN_PG_BINDIR=DIR       PostgreSQL server binaries to use (default: newest /usr/lib/postgresql/*/bin).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

T_START=$SECONDS
say() { printf '[test.sh] %s\n' "$*"; }
warn() { printf '[test.sh] warning: %s\n' "$*" >&2; }
die() {
    printf '[test.sh] ERROR: %s\n' "$*" >&2
    exit 1
}

# stage NAME CMD...: header, run, elapsed time; a failing stage ends the script with its exit code.
stage() {
    local name=$1 t0=$SECONDS rc=0
    shift
    printf '\n==> %s\n' "$name"
    "$@" || rc=$?
    if ((rc == 0)); then
        printf '<== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
    else
        printf '<== %s: FAILED with exit code %s (%ss)\n' "$name" "$rc" $((SECONDS - t0))
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------
# Cleanup: everything started below is registered here and stopped on exit.
# ---------------------------------------------------------------------------------------------
PG_TMP=""          # private cluster's temporary directory ("" = none)
PG_BIN=""          # PostgreSQL server binaries
PG_RUN_AS=()       # prefix to run PostgreSQL as a non-root user (empty when not root)
DOVECOT_TMP=""     # private Dovecot's temporary directory ("" = none)
DOVECOT_RUN_AS=()  # prefix to run Dovecot as a non-root user (empty when not root)

stop_private_pg() {
    [[ -n $PG_TMP && -f $PG_TMP/data/postmaster.pid ]] || return 0
    "${PG_RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        "${PG_RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
        warn "could not stop the private PostgreSQL in $PG_TMP"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $DOVECOT_TMP ]]; then
        stop_dovecot
        rm -rf -- "$DOVECOT_TMP"
        DOVECOT_TMP=""
    fi
    if [[ -n $PG_TMP ]]; then
        stop_private_pg
        rm -rf -- "$PG_TMP"
        PG_TMP=""
    fi
    printf '[test.sh] done: exit %s after %ss\n' "$rc" $((SECONDS - T_START))
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Tools: need_pkg <command-or-path> <debian-package>. A path may be a glob. Add one line per tool.
# ---------------------------------------------------------------------------------------------
NEEDS=()           # "what|package" pairs, checked again after installing
MISSING_PKGS=()
OPTIONAL_PKGS=()
APT_UPDATED=0

have() {
    if [[ $1 == */* ]]; then
        compgen -G "$1" >/dev/null
    else
        command -v "$1" >/dev/null 2>&1
    fi
}
need_pkg() {
    NEEDS+=("$1|$2")
    have "$1" || MISSING_PKGS+=("$2")
}
want_pkg() { # like need_pkg, but failing to install it is only a warning
    have "$1" || OPTIONAL_PKGS+=("$2")
}

apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || {
            warn "not root and no sudo: cannot install $*"
            return 1
        }
        sudo=(sudo -n)
    fi
    if ((APT_UPDATED == 0)); then
        say "apt-get update"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

# Postfix is installed without a system configuration ("No configuration": no /etc/postfix/main.cf,
# nothing started, nothing listening on port 25); the tests configure their own instance.
preseed_postfix() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo=(sudo -n)
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
}

ensure_packages() {
    need_pkg '/usr/lib/postgresql/*/bin/initdb' postgresql
    need_pkg swaks swaks
    need_pkg python3 python3
    # crates/smtp/tests/peers.rs runs a private Postfix instance (its own config and queue in a
    # temporary directory) that delivers to the LMTP listener; /usr/sbin/smtp-sink comes with it.
    need_pkg /usr/sbin/postfix postfix
    # crates/fetch/tests run against a private Dovecot (IMAP and POP3), see start_dovecot.
    need_pkg /usr/sbin/dovecot dovecot-imapd
    need_pkg /usr/lib/dovecot/pop3 dovecot-pop3d
    need_pkg openssl openssl
    # DKIM signatures made by the delivery runner are checked by an independent verifier too:
    # Python's dkimpy (Ed25519 through PyNaCl), asking the tests' DNS server through dnspython,
    # run by Debian's /usr/bin/python3 (crates/delivery/tests/delivery.rs).
    need_pkg /usr/lib/python3/dist-packages/dkim/__init__.py python3-dkim
    need_pkg /usr/lib/python3/dist-packages/dns/resolver.py python3-dnspython
    need_pkg /usr/lib/python3/dist-packages/nacl/__init__.py python3-nacl
    # scripts/doctest.py runs the documentation's commands, which use these, and checks the unit
    # in dist/ with systemd-analyze (the package systemd; nothing is started).
    need_pkg curl curl
    need_pkg jq jq
    need_pkg sqlite3 sqlite3
    need_pkg runuser util-linux
    need_pkg systemd-analyze systemd
    # crates/cli/tests/ui_browser.rs drives the admin UI in a headless Chromium over WebDriver.
    need_pkg chromium chromium
    need_pkg chromedriver chromium-driver
    # The OAuth tests (crates/cli/tests/oauth.rs) run a real OpenID Connect provider, npm's
    # oidc-provider, under node; see ensure_oidc_provider.
    need_pkg node nodejs
    need_pkg npm npm
    # Later:
    # need_pkg chromium chromium
    if [[ ${POSTERN_TEST_MOLD:-0} == 1 ]]; then
        want_pkg mold mold
    fi

    if [[ " ${MISSING_PKGS[*]} " == *" postfix "* ]]; then
        preseed_postfix || die "could not preseed debconf for postfix"
    fi
    if ((${#MISSING_PKGS[@]})); then
        apt_install "${MISSING_PKGS[@]}" || die "could not install required packages: ${MISSING_PKGS[*]}"
    fi
    if ((${#OPTIONAL_PKGS[@]})); then
        apt_install "${OPTIONAL_PKGS[@]}" || warn "could not install optional packages: ${OPTIONAL_PKGS[*]} (going on without)"
    fi
    local n
    for n in "${NEEDS[@]}"; do
        have "${n%%|*}" || die "${n%%|*} is still missing after installing package ${n##*|}"
    done
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
find_pg_bin() {
    if [[ -n ${POSTERN_PG_BINDIR:-} ]]; then
        PG_BIN=$POSTERN_PG_BINDIR
    else
        PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)
        PG_BIN=${PG_BIN%/initdb}
    fi
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/psql && -x $PG_BIN/pg_isready ]] ||
        die "no PostgreSQL server binaries (initdb, pg_ctl, psql, pg_isready) in '${PG_BIN}'"
}

# psql_ok PORT: does a trust-auth login as postgres on 127.0.0.1:PORT work?
psql_ok() {
    env -u PGPASSWORD -u PGSERVICE PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
        "$PG_BIN/psql" -w -X -q -At -h 127.0.0.1 -p "$1" -U postgres -d postgres \
        -c 'select 1' </dev/null >/dev/null 2>&1
}

shared_pg_ok() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432 -t 3 >/dev/null 2>&1 && psql_ok 5432
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start_private_pg() {
    local owner="" attempt port started=0
    if [[ $(id -u) -eq 0 ]]; then
        # postgres refuses to run as root
        if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
        command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as $owner"
        PG_RUN_AS=(runuser -u "$owner" --)
        PG_TMP=$(mktemp -d /tmp/postern-pg.XXXXXX) # /tmp: reachable by $owner, unlike a TMPDIR under /root
        chown "$owner:" "$PG_TMP"
    else
        PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-pg.XXXXXX")
    fi

    # cd: the server user may not be allowed into the current directory
    if ! (cd "$PG_TMP" && "${PG_RUN_AS[@]}" "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust \
        -E UTF8 --locale=C.UTF-8 --no-sync) >"$PG_TMP/initdb.log" 2>&1; then
        cat "$PG_TMP/initdb.log" >&2
        die "initdb of the private PostgreSQL cluster failed (see above)"
    fi

    # a free port can be taken by someone else before postgres binds it: try a few
    for attempt in 1 2 3; do
        port=$(free_port) || die "could not find a free port (python3)"
        if (cd "$PG_TMP" && "${PG_RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" \
            -w -t 30 -o "-c listen_addresses=127.0.0.1 -p $port -k '$PG_TMP' -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start) >"$PG_TMP/pg_ctl.out" 2>&1; then
            # bounded wait until it answers on TCP (pg_ctl -w already waited for the socket)
            local i
            for ((i = 0; i < 30; i++)); do
                if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1 && psql_ok "$port"; then
                    started=1
                    break
                fi
                sleep 1
            done
            ((started)) && break
        fi
        warn "private PostgreSQL did not start on port $port (attempt $attempt); pg_ctl and server log:"
        cat "$PG_TMP/pg_ctl.out" >&2 2>/dev/null || true
        tail -n 20 "$PG_TMP/postgres.log" >&2 2>/dev/null || true
        stop_private_pg
    done
    ((started)) || die "could not start a private PostgreSQL cluster in $PG_TMP (see the log above)"
    PG_PORT=$port
}

setup_postgres() {
    find_pg_bin
    if [[ ${POSTERN_TEST_PRIVATE_PG:-0} != 1 ]] && shared_pg_ok; then
        POSTERN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
        PG_DESC="shared server on 127.0.0.1:5432"
    else
        if [[ ${POSTERN_TEST_PRIVATE_PG:-0} == 1 ]]; then
            say "POSTERN_TEST_PRIVATE_PG=1: starting a private cluster"
        else
            say "nothing usable (trust auth as postgres) on 127.0.0.1:5432: starting a private cluster"
        fi
        start_private_pg
        POSTERN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
        PG_DESC="private cluster on 127.0.0.1:$PG_PORT (data in $PG_TMP, run as ${PG_RUN_AS[2]:-$(id -un)})"
    fi
    export POSTERN_TEST_DATABASE_URL
    local version
    version=$("$PG_BIN/psql" -w -X -At -d "$POSTERN_TEST_DATABASE_URL" -c 'show server_version' </dev/null) ||
        die "cannot query $POSTERN_TEST_DATABASE_URL"
    say "PostgreSQL: $PG_DESC, version $version"
    say "POSTERN_TEST_DATABASE_URL=$POSTERN_TEST_DATABASE_URL"
}

# ---------------------------------------------------------------------------------------------
# Dovecot (IMAP and POP3 for crates/fetch/tests): a private instance, run as an unprivileged user
# (nobody when we are root), with its own configuration, users (passwd-file), maildirs, a
# self-signed certificate made for the run and four private ports. The tests find it through:
#   POSTERN_TEST_IMAP, POSTERN_TEST_IMAPS, POSTERN_TEST_POP3, POSTERN_TEST_POP3S   host:port
#   POSTERN_TEST_DOVECOT_AUTH   its auth socket, for Postfix's SASL (smtpd_sasl_type = dovecot)
#   POSTERN_TEST_MAILDIRS      user U's maildir is $POSTERN_TEST_MAILDIRS/U/Maildir (cur new tmp)
#   POSTERN_TEST_DOVECOT_CA    the CA (PEM) of the server's certificate, for the strict TLS variants
#   POSTERN_TEST_DOVECOT_USERS the users (password "secret"; XOAUTH2 token "token-" + user)
# The tests fail (never skip) when these are missing: run them through this script.
# ---------------------------------------------------------------------------------------------
DOVECOT_USERS=""
for ((i = 1; i <= 40; i++)); do DOVECOT_USERS+=" $(printf 'fetch%02d' "$i")"; done

stop_dovecot() {
    [[ -n $DOVECOT_TMP && -f $DOVECOT_TMP/dovecot.conf ]] || return 0
    "${DOVECOT_RUN_AS[@]}" /usr/sbin/dovecot -c "$DOVECOT_TMP/dovecot.conf" stop >/dev/null 2>&1 ||
        warn "could not stop the private Dovecot in $DOVECOT_TMP"
}

# npm's oidc-provider, the OAuth/OIDC server of the OAuth tests, installed once (a pinned version)
# into a cache directory outside the repository; its node_modules is exported as
# POSTERN_TEST_OIDC_MODULES (postern-testkit's `oidc` module starts it with node).
OIDC_PROVIDER_VERSION=8.8.1
ensure_oidc_provider() {
    local dir=${POSTERN_TEST_OIDC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/postern-test/oidc}
    local installed
    installed=$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' \
        "$dir/node_modules/oidc-provider/package.json" 2>/dev/null | head -n 1)
    if [[ $installed != "$OIDC_PROVIDER_VERSION" ]]; then
        mkdir -p "$dir" || return 1
        say "npm install oidc-provider@$OIDC_PROVIDER_VERSION into $dir"
        (cd "$dir" && npm install --no-audit --no-fund --silent "oidc-provider@$OIDC_PROVIDER_VERSION") ||
            return 1
    fi
    export POSTERN_TEST_OIDC_MODULES=$dir/node_modules
}

write_dovecot_conf() { # DIR USER GROUP IMAP IMAPS POP3 POP3S
    local d=$1 user=$2 group=$3
    cat >"$d/dovecot.conf" <<EOF
# Private Dovecot of scripts/test.sh: unprivileged, loopback only, nothing outside $d.
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
default_internal_user = $user
default_internal_group = $group
default_login_user = $user
first_valid_uid = 0
ssl = yes
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:$d/mail/%u/Maildir
mailbox_idle_check_interval = 1 secs
# the command in each process's title (imap [USER IP IDLE]): the IDLE test waits on it
verbose_proctitle = yes
# a keepalive every second while in IDLE (default 2 minutes): the tests see that keepalives
# neither end a watch nor keep it from waking up on time
imap_idle_notify_interval = 1 secs
pop3_uidl_format = %f
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
  mechanisms = plain login
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/tokens
  mechanisms = xoauth2
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/passwd
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $4
  }
  inet_listener imaps {
    port = $5
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = $6
  }
  inet_listener pop3s {
    port = $7
    ssl = yes
  }
}
service anvil {
  chroot =
}
# Postfix's SASL (smtpd_sasl_type = dovecot) asks here: the outbound client's AUTH is tested
# against a private Postfix that checks passwords with this Dovecot
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
}

start_dovecot() {
    local user group u ports=() i
    if [[ $(id -u) -eq 0 ]]; then
        user=nobody
        command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run Dovecot as $user"
        DOVECOT_RUN_AS=(runuser -u "$user" --)
        DOVECOT_TMP=$(mktemp -d /tmp/postern-dovecot.XXXXXX) # /tmp: reachable by $user
    else
        user=$(id -un)
        DOVECOT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-dovecot.XXXXXX")
    fi
    group=$(id -gn "$user")
    local d=$DOVECOT_TMP uid gid
    uid=$(id -u "$user")
    gid=$(id -g "$user")
    mkdir -p "$d/run" "$d/state" "$d/mail"
    : >"$d/passwd"
    : >"$d/tokens"
    for u in $DOVECOT_USERS; do
        echo "$u:{PLAIN}secret:$uid:$gid::$d/mail/$u" >>"$d/passwd"
        echo "$u:{PLAIN}token-$u:$uid:$gid::$d/mail/$u" >>"$d/tokens"
        mkdir -p "$d/mail/$u/Maildir/cur" "$d/mail/$u/Maildir/new" "$d/mail/$u/Maildir/tmp"
    done
    # a CA of the run, and the server's certificate signed by it (webpki refuses a CA
    # certificate used as the server's own)
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Postern test CA" \
            -keyout "$d/ca-key.pem" -out "$d/ca.pem" &&
            openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
                -keyout "$d/key.pem" -out "$d/server.csr" &&
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/server.ext" &&
            openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
                -CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/cert.pem"
    } >"$d/openssl.log" 2>&1 || {
        cat "$d/openssl.log" >&2
        die "could not make the Dovecot test certificates"
    }
    chmod 0755 "$d"
    chown -R "$user:$group" "$d"
    # a free port can be taken by someone else before Dovecot binds it: unlikely, and then the
    # start fails with Dovecot's message
    # four distinct ports: the sockets are held open together while they are chosen
    read -r -a ports < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))') || die "could not find free ports (python3)"
    write_dovecot_conf "$d" "$user" "$group" "${ports[@]}"
    (cd "$d" && "${DOVECOT_RUN_AS[@]}" /usr/sbin/dovecot -c "$d/dovecot.conf") >"$d/start.log" 2>&1 || {
        cat "$d/start.log" "$d/dovecot.log" >&2 2>/dev/null
        die "the private Dovecot did not start (see above)"
    }
    local p ok # bounded wait until the four listeners answer
    for p in "${ports[@]}"; do
        ok=0
        for ((i = 0; i < 50; i++)); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                ok=1
                break
            fi
            sleep 0.1
        done
        ((ok)) || {
            cat "$d/dovecot.log" >&2 2>/dev/null
            die "Dovecot does not listen on 127.0.0.1:$p"
        }
    done
    export POSTERN_TEST_IMAP=127.0.0.1:${ports[0]} POSTERN_TEST_IMAPS=127.0.0.1:${ports[1]}
    export POSTERN_TEST_POP3=127.0.0.1:${ports[2]} POSTERN_TEST_POP3S=127.0.0.1:${ports[3]}
    export POSTERN_TEST_MAILDIRS=$d/mail POSTERN_TEST_DOVECOT_CA=$d/ca.pem
    export POSTERN_TEST_DOVECOT_AUTH=$d/run/auth-postfix
    export POSTERN_TEST_DOVECOT_USERS=${DOVECOT_USERS# }
    say "Dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1) in $d as $user: imap $POSTERN_TEST_IMAP, imaps $POSTERN_TEST_IMAPS, pop3 $POSTERN_TEST_POP3, pop3s $POSTERN_TEST_POP3S"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
stage "tools" ensure_packages
# stage runs its command in a `||` list, where set -e is off: setup_postgres is run directly so
# that its die/exit paths and variable assignments apply to this shell.
printf '\n==> postgresql\n'
t0=$SECONDS
setup_postgres
printf '<== postgresql: ok (%ss)\n' $((SECONDS - t0))
stage "oidc-provider (npm)" ensure_oidc_provider || die "could not install npm's oidc-provider"
printf '\n==> dovecot\n'
t0=$SECONDS
start_dovecot
printf '<== dovecot: ok (%ss)\n' $((SECONDS - t0))

if [[ ${POSTERN_TEST_MOLD:-0} == 1 ]] && command -v mold >/dev/null 2>&1; then
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-fuse-ld=mold"
    say "linker: mold (RUSTFLAGS=$RUSTFLAGS)"
fi

if [[ -n ${POSTERN_TEST_CMD:-} ]]; then
    stage "POSTERN_TEST_CMD" bash -c "$POSTERN_TEST_CMD" POSTERN_TEST_CMD "$@"
    exit 0
fi

command -v cargo >/dev/null 2>&1 || die "cargo not found (the Rust toolchain must be on PATH)"
if [[ ${POSTERN_TEST_SKIP_LINT:-0} == 1 ]]; then
    say "POSTERN_TEST_SKIP_LINT=1: skipping cargo fmt and cargo clippy"
else
    stage "cargo fmt --all --check" cargo fmt --all --check
    stage "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
fi

doc_rc=0
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests: run them first (so the nextest summary comes after them),
    # only for the full run, since extra arguments are meant for nextest.
    # A doctest failure does not stop the nextest run; it still fails the script at the end.
    if (($# == 0)); then
        stage "doctests (cargo test --doc)" cargo test --workspace --doc --no-fail-fast || doc_rc=$?
    fi
    # --workspace only for the full run: with it, `-p CRATE` would still run every crate (the
    # workspace's manifest is virtual, so without it every member is the default anyway).
    if (($# == 0)); then
        stage "tests (cargo nextest)" cargo nextest run --workspace --no-fail-fast
    else
        stage "tests (cargo nextest)" cargo nextest run --no-fail-fast "$@"
    fi
else
    stage "tests (cargo test)" cargo test --workspace --no-fail-fast "$@"
fi

# The documentation's examples, run as written against the debug binary (the profile the tests
# built, in the same target directory). Only for the full run: extra arguments select tests.
run_doc_examples() {
    cargo build -p postern || return
    POSTERN_BIN="${CARGO_TARGET_DIR:-target}/debug/postern" python3 scripts/doctest.py
}
docs_rc=0
if (($# == 0)) && [[ ${POSTERN_TEST_SKIP_DOCS:-0} != 1 ]]; then
    stage "documentation examples (scripts/doctest.py)" run_doc_examples || docs_rc=$?
fi
# The fuzz targets (fuzz/, outside the workspace), a short run of each: a crash fails the run.
# Long runs by hand: scripts/fuzz.sh 600 (figures in RELIABILITY.md).
fuzz_rc=0
if (($# == 0)) && [[ ${POSTERN_TEST_SKIP_FUZZ:-0} != 1 ]]; then
    stage "fuzz targets, ${POSTERN_TEST_FUZZ_SECONDS:-20}s each (scripts/fuzz.sh)" \
        env POSTERN_FUZZ_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz" \
        scripts/fuzz.sh "${POSTERN_TEST_FUZZ_SECONDS:-20}" || fuzz_rc=$?
fi
((doc_rc == 0)) || die "doctests failed (exit code $doc_rc; see the doctests stage above)"
((fuzz_rc == 0)) || die "a fuzz target failed (exit code $fuzz_rc; see the stage above)"
((docs_rc == 0)) || die "documentation examples failed (exit code $docs_rc; see the stage above)"

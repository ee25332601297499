#!/usr/bin/env python3
"""scripts/doctest.py: runs the examples of Postern's documentation, as written.

    POSTERN_BIN=target/debug/postern scripts/doctest.py [-k] [-v] [FILE.md ...]

Without FILE arguments: README.md and docs/*.md. scripts/test.sh runs it as its own stage, after
the cargo tests, with the debug binary it has just built. Python 3.11, standard library only.
Needs bash, curl, jq, swaks, python3; for the Postfix recipes also root and the Debian package
postfix (installed by scripts/test.sh without a system configuration); for the systemd units,
systemd-analyze. Exit status 0 when every document passed, 1 otherwise (all documents are run
first, so one run reports every broken one), 2 on a usage error.

Block convention
----------------
Only fenced blocks count (``` or ~~~, also inside list items). The info string is the language,
then space-separated attributes (`key`, `key=value`, `key="value with spaces"`):

  sh                 run by `bash -euo pipefail` (each block its own bash process), stdin
                     /dev/null, in the document's working directory, killed after 60 s
                     (`timeout=N` for another limit). `exit=N`: the expected exit status (default
                     0). `norun` or `norun="why"`: not run, listed in the report with the reason.
                     A block that would change this machine (systemctl, journalctl, /etc/postfix,
                     /etc/systemd, postconf -e, postfix start|reload|... without -c, apt-get,
                     useradd/usermod, cargo build|run|install, writing /usr/local/bin) fails
                     unless it is `norun`. What a block leaves running in the background is
                     killed when it ends, unless the block says `keep` (an application the
                     document goes on using): then it is killed at the end of the document.
  sh serve           the block is one command, `[VAR=x ...] [runuser -u USER ... --] postern serve
                     ARGS` (the binary may be named by a path ending in /postern, or be
                     `cargo run ... --`, which is replaced by the binary under test): the harness
                     stops its serve and starts this one in the background, in the working
                     directory, and waits until it answers (HTTP /healthz, SMTP and LMTP when
                     they are on, the API token written). With `runuser -u USER`, the data
                     directory and the run directory are first given to USER (as systemd's
                     StateDirectory= and RuntimeDirectory= do for a service's user).
  text expect        the stdout of the preceding sh block must contain these lines (each
                     stripped, in this order, each within one line of output); lines holding
                     `...` or `…` are skipped. `console expect` is the same.
  toml file=NAME     written to NAME (relative to the working directory, or an installation path
                     below) before the next block runs; later blocks with the same NAME replace it.
  python file=NAME (any language with file=NAME)
                     written to NAME like a toml file=NAME block (an application a document shows
                     whole, which later sh blocks run).
  toml               written to a scratch file and checked with `postern apply --check FILE
                     --data-dir SCRATCH` on an empty scratch data directory: must exit 0.
  conf postfix=main.cf, conf postfix=master.cf
                     Postfix recipe snippets, see "Postfix" below.
  conf systemd=PATH  a unit shown in a document: must be identical to the repository file PATH
                     (e.g. dist/postern.service), which is verified.
  conf systemd dropin
                     a drop-in: appended to dist/postern.service, and the result verified.
  conf systemd       a whole unit, verified on its own.
  text, json, console, and anything else: never run. `conf exim` is counted as norun (Exim and
  Postfix conflict in Debian: the Exim recipes are not run). `norun` works on every kind.

Directives (HTML comments, one per line, outside fences, run in document order):

  <!-- doctest: serve ARGS -->
      the same as an `sh serve` block holding `postern serve ARGS`.
  <!-- doctest: postfix-check recipients=a@mail.example.com,b@mail.example.com [bcc=c@...] [records=N] -->
      a message to these recipients (one SMTP transaction, all of them in To:, and the `bcc`
      ones in the envelope only, as blind copies) is sent with
      swaks into the private Postfix; it must be accepted, every recipient must be logged by
      Postfix as `status=sent`, and N records (default: one per recipient, blind copies included) whose name is the
      message's unique subject must appear in `GET /api/v1/records` of the document's serve,
      within 60 s. A 4xx at RCPT (e.g. "address verification in progress") is retried.
  <!-- doctest: postfix-rejects rcpt=nobody@mail.example.com [code=550] -->
      `RCPT TO` this address through the private Postfix must be refused by Postfix at RCPT
      time: a 5xx, or a 4xx that says "unverified address" or "undeliverable address" (with
      `code`: exactly that reply code); "address verification in progress" and other 4xx are
      retried for 60 s.
  <!-- doctest: postfix-bounces rcpt=nobody@mail.example.com [expect="5.1.1 no such recipient"] -->
      a message to this address must be accepted by Postfix at RCPT (the pipe cannot refuse it),
      then logged `status=bounced` within 60 s, with `expect` in the logged reason.

Environment of a document
-------------------------
Documents run one after the other. For each: a fresh temporary directory under /tmp, the
repository's docs/ copied into it as docs/, and a fresh `postern serve` started there with no
configuration (first-start defaults: alias domain `localhost`, alias `sales@localhost` ->
crm.lead, data directory ./postern-data, SMTP 127.0.0.1:2525, HTTP 127.0.0.1:8025: the
documented defaults; the document fails at once when one of these ports is already taken). sh
blocks get: `postern` on PATH (a copy of the binary under test), TOKEN (the API token, read from
the data directory once serve is up), POSTFIX_SMTP (host:port of the private Postfix, while one
runs), CURL_HOME with a .curlrc of `fail-with-body` (an HTTP error answer fails the block; an
example that shows one says `exit=22`), the caller's environment without any POSTERN_* variable. Serve is stopped at the end of
the document; every temporary directory is removed (also on failure and Ctrl-C).

A document stops at its first failing block (`-k` runs the rest too), which is reported with the
document, its line, its text, its stdout and stderr, the serve log and, while one runs, the
private Postfix's log; then the next document runs. The summary gives, per document, the blocks
run, not run (norun, listed with their reasons) and failed.

Installation paths: every block the harness runs or writes (sh, toml, conf) has these paths
replaced, and only these:
    /usr/local/bin/postern   -> the binary under test (a copy in the harness's directory)
    /var/lib/postern         -> the document's data directory (<workdir>/postern-data)
    /run/postern             -> <tmp>/run/postern (made at start, mode 0711, like the unit's
                                RuntimeDirectory; owned by the user of an `sh serve` block's runuser)
    /etc/postern             -> <tmp>/etc/postern
    /var/backups/postern     -> <tmp>/backups/postern
    port = 25                -> the port of the private Postfix's smtpd, while one runs (an
                                outgoing server on the local Postfix)
(<tmp> is the document's temporary directory; <workdir> = <tmp>/work.)

Postfix
-------
`conf postfix=main.cf` and `conf postfix=master.cf` blocks accumulate over a document as an
administrator's edits would: a main.cf parameter set again replaces the earlier setting, a
master.cf service (name and type) defined again replaces the earlier entry. Before the next sh
block or directive that follows new snippets (or at the end of the document), the harness
(re)creates a private instance from scratch: configuration, queue and log in a temporary
directory under /tmp (`postfix -c DIR`; /etc/postfix and a system Postfix are never touched),
from a base configuration (Debian's services, none chrooted; no local delivery; an smtpd on a
free port of 127.0.0.1, whose clients are outsiders: mynetworks holds only 192.0.2.1/32; mail to
other domains, bounces included, is discarded) plus the document's snippets with the paths
replaced. Then `postconf -n` must not warn (an unknown or unused parameter fails), `postfix
check` must pass, and the instance must start. The harness keeps its own values of
queue_directory, data_directory, inet_interfaces, inet_protocols, mynetworks, maillog_file,
maillog_file_prefixes, mail_owner, setgid_group, default_transport and relayhost. Documents may
not add inet services. When the master.cf of the instance has a pipe service that runs the
binary under test with `user=U`, the data directory is given to U first (`chown -R`): the pipe
opens the database itself. The harness creates the system user `postern` when it is missing,
with the command docs/deploy.md gives the administrator:
    useradd --system --home-dir /var/lib/postern --shell /usr/sbin/nologin postern

systemd
-------
dist/postern.service is always verified: a copy with /usr/local/bin/postern replaced by the
binary under test (systemd-analyze checks that ExecStart exists) goes through
`systemd-analyze verify`, which must exit 0 and say nothing about the unit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLOCK_TIMEOUT = 60
SERVE_START_TIMEOUT = 30
MAIL_TIMEOUT = 60
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
DEFAULT_HTTP = "127.0.0.1:8025"
DEFAULT_SMTP = "127.0.0.1:2525"
PIPE_USER_COMMAND = [
    "useradd", "--system", "--home-dir", "/var/lib/postern", "--shell", "/usr/sbin/nologin", "postern",
]

# Blocks that would change the machine must be norun.
GUARDS = [
    (r"\bsystemctl\b", "systemctl"),
    (r"\bjournalctl\b", "journalctl"),
    (r"/etc/postfix\b", "/etc/postfix"),
    (r"/etc/systemd\b|/lib/systemd\b", "systemd's unit directories"),
    (r"\bpostconf\s+(?:-\S+\s+)*-e\b", "postconf -e"),
    (r"(?:^|[;&|(]\s*|\bsudo\s+)postfix\s+(?!-c)\w", "postfix without -c (the system instance)"),
    (r"\b(?:apt|apt-get|aptitude)\s+(?:-\S+\s+)*(?:install|remove|purge|upgrade)\b", "apt-get"),
    (r"\bdpkg\s+(?:-i|--install|-r|-P)\b", "dpkg"),
    (r"\b(?:useradd|usermod|userdel|groupadd|groupmod|adduser)\b", "user accounts"),
    (r"\bcargo\s+(?:\+\S+\s+)?(?:build|run|install)\b", "cargo (the harness runs the binary under test)"),
    (r"/usr/local/bin\b", "/usr/local/bin"),
]

# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
@dataclass
class Item:
    line: int  # 1-based line of the opening fence (or of the directive)
    kind: str  # "block" or "directive"
    lang: str = ""
    attrs: dict = field(default_factory=dict)
    text: str = ""
    info: str = ""

    def where(self) -> str:
        return f"line {self.line}"

    def label(self) -> str:
        if self.kind == "directive":
            return f"<!-- doctest: {self.info} -->"
        words = [self.lang] + [k if v is True or k == "norun" else f"{k}={v}" for k, v in self.attrs.items()]
        return "```" + " ".join(words)


def parse_attrs(words: list[str]) -> dict:
    attrs: dict = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            attrs[k] = v
        else:
            attrs[w] = True
    return attrs


def split_words(s: str) -> list[str]:
    try:
        return shlex.split(s)
    except ValueError:
        return s.split()


FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"<!--\s*doctest:\s*(?P<body>.*?)\s*-->")


def parse_markdown(text: str) -> list[Item]:
    items: list[Item] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and not (m.group("fence")[0] == "`" and "`" in m.group("info")):
            fence = m.group("fence")
            indent = len(m.group("indent").expandtabs(4))
            info = m.group("info").strip()
            body = []
            j = i + 1
            while j < len(lines):
                c = lines[j]
                cm = re.match(r"^\s*(`{3,}|~{3,})\s*$", c)
                if cm and cm.group(1)[0] == fence[0] and len(cm.group(1)) >= len(fence):
                    break
                # strip the fence's indentation (content of list items)
                k = 0
                while k < indent and k < len(c) and c[k] == " ":
                    k += 1
                body.append(c[k:])
                j += 1
            words = split_words(info)
            lang = words[0] if words else ""
            items.append(Item(i + 1, "block", lang, parse_attrs(words[1:]), "\n".join(body) + "\n", info))
            i = j + 1
            continue
        for dm in DIRECTIVE.finditer(lines[i]):
            body = dm.group("body")
            words = split_words(body)
            items.append(Item(i + 1, "directive", words[0] if words else "", parse_attrs(words[1:]), body, body))
        i += 1
    return items


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
class DocFailure(Exception):
    """A failure of one block: message, plus optional captured output."""

    def __init__(self, message: str, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def port_free(addr: str) -> bool:
    host, port = split_addr(addr)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def can_connect(addr: str) -> bool:
    try:
        if addr.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(addr[5:])
        else:
            host, port = split_addr(addr)
            s = socket.create_connection((host, port), timeout=1)
        s.close()
        return True
    except OSError:
        return False


def run(cmd: list[str], timeout: int = 60, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(
            cmd, 124, (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""),
            f"timed out after {timeout} s",
        )


def tail(text: str, n: int = 80) -> str:
    lines = text.rstrip("\n").split("\n")
    if len(lines) > n:
        return f"[... {len(lines) - n} earlier lines]\n" + "\n".join(lines[-n:])
    return "\n".join(lines)


def indent(text: str, prefix: str = "    | ") -> str:
    if not text.strip():
        return prefix + "(empty)"
    return "\n".join(prefix + line for line in text.rstrip("\n").split("\n"))


def kill_group(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def is_root() -> bool:
    return os.geteuid() == 0


def user_ids(user: str) -> tuple[int, int]:
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path: Path, user: str) -> None:
    uid, gid = user_ids(user)
    if not path.exists():
        return
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


# ---------------------------------------------------------------------------------------------
# The harness: one per run
# ---------------------------------------------------------------------------------------------
class Harness:
    def __init__(self, binary: Path, verbose: bool, keep_going: bool):
        self.verbose = verbose
        self.keep_going = keep_going
        self.root = Path(tempfile.mkdtemp(prefix="postern-doctest-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        bindir = self.root / "bin"
        bindir.mkdir(mode=0o755)
        os.chmod(bindir, 0o755)
        # A copy, not the file in the repository: the pipe runs it as another user, who may not
        # be allowed into the repository's directory.
        self.bin = bindir / "postern"
        shutil.copy2(binary, self.bin)
        os.chmod(self.bin, 0o755)
        self.bindir = bindir
        # curl of the examples fails on an HTTP error (4xx/5xx) as a shell command would, so
        # that an API example that stops working fails its block; the body is still printed.
        self.curl_home = self.root / "curl"
        self.curl_home.mkdir(mode=0o755)
        (self.curl_home / ".curlrc").write_text("fail-with-body\n")

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def ensure_pipe_user(self) -> str | None:
        """Creates the system user postern when it is missing (root only); returns an error."""
        try:
            pwd.getpwnam("postern")
            return None
        except KeyError:
            pass
        if not is_root():
            return "the system user `postern` is missing and only root can create it"
        r = run(PIPE_USER_COMMAND)
        if r.returncode != 0:
            return f"{shlex.join(PIPE_USER_COMMAND)} failed: {r.stdout}{r.stderr}"
        print(f"[doctest] created the system user postern: {shlex.join(PIPE_USER_COMMAND)}")
        return None


# ---------------------------------------------------------------------------------------------
# postern serve
# ---------------------------------------------------------------------------------------------
class Serve:
    def __init__(self, doc: "Document"):
        self.doc = doc
        self.proc: subprocess.Popen | None = None
        self.http = DEFAULT_HTTP
        self.smtp = DEFAULT_SMTP
        self.lmtp = ""
        self.data_dir = doc.work / "postern-data"
        self.log_path = doc.tmp / "serve.log"
        self.log_offset = 0
        self.starts = 0
        self.waiting_for = ""

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            kill_group(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_group(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        kill_group(p.pid, signal.SIGKILL)  # whatever is left of its process group

    def start(self, shell_command: str, args: list[str], run_as: str | None, origin: str) -> None:
        """Starts `shell_command` (a shell command line that runs `postern serve args`)."""
        self.stop()
        cwd = self.doc.work
        config_path = None
        data_dir = None
        http = smtp = None
        it = iter(range(len(args)))
        for i in it:
            a = args[i]
            for opt in ("--config", "--data-dir", "--http-listen", "--smtp-listen"):
                if a == opt and i + 1 < len(args):
                    val = args[i + 1]
                    next(it, None)
                elif a.startswith(opt + "="):
                    val = a.split("=", 1)[1]
                else:
                    continue
                if opt == "--config":
                    config_path = val
                elif opt == "--data-dir":
                    data_dir = val
                elif opt == "--http-listen":
                    http = val
                else:
                    smtp = val
                break
        server = {}
        if config_path:
            p = Path(config_path) if os.path.isabs(config_path) else cwd / config_path
            try:
                server = tomllib.loads(p.read_text()).get("server", {}) or {}
            except (OSError, tomllib.TOMLDecodeError):
                server = {}  # serve reports it
        self.http = http or server.get("http_listen") or DEFAULT_HTTP
        self.smtp = smtp if smtp is not None else server.get("smtp_listen", DEFAULT_SMTP)
        self.lmtp = server.get("lmtp_listen", "") or ""
        self.data_dir = Path(data_dir) if data_dir and os.path.isabs(data_dir) else cwd / (data_dir or "postern-data")

        for what, addr in (("HTTP", self.http), ("SMTP", self.smtp), ("LMTP", self.lmtp)):
            if addr and not addr.startswith("unix:") and not port_free(addr):
                raise DocFailure(
                    f"{what} address {addr} of this serve is already taken by another process: "
                    "the documents need the documented default ports (is another postern serve, "
                    "or another doctest run, going on?)"
                )
        if self.lmtp.startswith("unix:"):
            sock = Path(self.lmtp[5:])
            try:
                sock.unlink()
            except FileNotFoundError:
                pass
        if run_as:
            # what systemd's StateDirectory= and RuntimeDirectory= do for the service's user
            chown_tree(self.data_dir, run_as)
            chown_tree(self.doc.run_dir, run_as)

        self.starts += 1
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as log:
            log.write(f"=== doctest: start {self.starts} ({origin}): {shell_command.strip()}\n")
            log.flush()
            self.proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", shell_command],
                cwd=cwd, env=self.doc.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DocFailure(f"postern serve exited with status {self.proc.returncode} while starting")
            if self.ready_step():
                token_file = self.data_dir / "api-token"
                try:
                    self.doc.token = token_file.read_text().strip()
                except OSError:
                    self.doc.token = os.environ.get("POSTERN_API_TOKEN", "")
                return
            time.sleep(0.2)
        raise DocFailure(f"postern serve did not become ready within {SERVE_START_TIMEOUT} s (waiting for {self.waiting_for})")

    def ready_step(self) -> bool:
        if "is running" not in self.log()[self.log_offset:]:
            self.waiting_for = "its banner (`Postern ... is running`)"
            return False
        try:
            status, _ = self.http_get("/healthz", auth=False)
        except OSError:
            status = 0
        if status != 200:
            self.waiting_for = f"GET http://{self.http}/healthz to answer 200"
            return False
        for what, addr in (("SMTP", self.smtp), ("LMTP", self.lmtp)):
            if addr:
                target = addr if addr.startswith("unix:") else addr
                if not can_connect(target):
                    self.waiting_for = f"the {what} listener on {addr}"
                    return False
        if not (self.data_dir / "api-token").exists():
            self.waiting_for = f"{self.data_dir}/api-token"
            return False
        return True

    def http_get(self, path: str, auth: bool = True) -> tuple[int, bytes]:
        host, port = split_addr(self.http)
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        c = http.client.HTTPConnection(host, port, timeout=10)
        headers = {"Authorization": f"Bearer {self.doc.token}"} if auth else {}
        try:
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def records_named(self, name: str) -> list[dict]:
        found, cursor = [], None
        for _ in range(100):
            q = {"limit": "100"}
            if cursor:
                q["cursor"] = cursor
            status, body = self.http_get("/api/v1/records?" + urllib.parse.urlencode(q))
            if status != 200:
                raise DocFailure(f"GET /api/v1/records answered {status}: {body[:500]!r}")
            page = json.loads(body)
            found += [r for r in page.get("items", []) if r.get("name") == name]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found


# ---------------------------------------------------------------------------------------------
# A private Postfix instance
# ---------------------------------------------------------------------------------------------
MASTER_CF_BASE = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

PROTECTED_MAIN = {
    "queue_directory", "data_directory", "inet_interfaces", "inet_protocols", "mynetworks",
    "maillog_file", "maillog_file_prefixes", "mail_owner", "setgid_group", "default_transport",
    "relayhost",
}


def split_entries(text: str) -> list[list[str]]:
    """Logical lines of main.cf / master.cf: an entry starts at a line that does not begin with
    whitespace; comment and blank lines are dropped."""
    entries: list[list[str]] = []
    for line in text.split("\n"):
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line[0] in " \t" and entries:
            entries[-1].append(line)
        else:
            entries.append([line])
    return entries


def main_key(entry: list[str]) -> str:
    return entry[0].split("=", 1)[0].strip()


def master_key(entry: list[str]) -> tuple[str, str]:
    f = entry[0].split()
    return (f[0], f[1] if len(f) > 1 else "")


class Postfix:
    def __init__(self, doc: "Document", main: list[tuple[Item, list[str]]], master: list[tuple[Item, list[str]]]):
        self.doc = doc
        self.dir = Path(tempfile.mkdtemp(prefix="postern-doctest-postfix-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        for d in ("etc", "queue"):
            (self.dir / d).mkdir(mode=0o755)
        self.main_entries = main
        self.master_entries = master
        self.port = 0
        self.running = False

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    @property
    def smtp(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return (self.dir / "postfix.log").read_text(errors="replace")
        except OSError:
            return ""

    def write_config(self) -> None:
        d = self.dir
        base = {
            "compatibility_level": "3.6",
            "queue_directory": f"{d}/queue",
            "data_directory": f"{d}/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mta.doctest.test",
            "mydomain": "doctest.test",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "relay_domains": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            # the harness's SMTP clients are outsiders
            "mynetworks": "192.0.2.1/32",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "lmtp_tls_security_level": "none",
            # nothing leaves the instance (bounces to the test senders included)
            "default_transport": "discard:no mail leaves the doctest instance",
            "relayhost": "",
            "maillog_file": f"{d}/postfix.log",
            "maillog_file_prefixes": str(d),
        }
        merged: dict[str, str] = {k: f"{k} = {v}" for k, v in base.items()}
        for item, entry in self.main_entries:
            k = main_key(entry)
            if k in PROTECTED_MAIN:
                continue
            merged[k] = f"# {self.doc.rel}:{item.line}\n" + "\n".join(entry)
        (self.etc / "main.cf").write_text(
            f"# private Postfix of scripts/doctest.py for {self.doc.rel}\n" + "\n".join(merged.values()) + "\n"
        )
        services: dict[tuple[str, str], str] = {}
        for entry in split_entries(MASTER_CF_BASE):
            services[master_key(entry)] = "\n".join(entry)
        for item, entry in self.master_entries:
            services[master_key(entry)] = f"# {self.doc.rel}:{item.line}\n" + "\n".join(entry)
        smtpd = f"127.0.0.1:{self.port} inet n - n - - smtpd"
        (self.etc / "master.cf").write_text(smtpd + "\n" + "\n".join(services.values()) + "\n")

    def command(self, *what: str, timeout: int = 60) -> subprocess.CompletedProcess:
        return run([POSTFIX, "-c", str(self.etc), *what], timeout=timeout)

    def start(self) -> None:
        for _, entry in self.master_entries:
            if master_key(entry)[1] == "inet":
                raise DocFailure(f"master.cf: the harness does not start inet services ({entry[0].strip()})")
        failures = []
        for _ in range(3):
            self.port = free_port()
            self.write_config()
            pc = run([POSTCONF, "-c", str(self.etc), "-n"])
            warnings = [l for l in (pc.stderr or "").split("\n") if l.strip()]
            if pc.returncode != 0 or warnings:
                raise DocFailure("postconf -n complains about the recipe's main.cf/master.cf", pc.stdout, pc.stderr)
            check = self.command("check")
            if check.returncode != 0 or check.stderr.strip():
                raise DocFailure("postfix check fails on the recipe", check.stdout, check.stderr + "\n" + self.log())
            self.running = True
            st = self.command("start")
            if st.returncode == 0:
                self.wait_smtpd()
                return
            self.running = False
            failures.append(f"port {self.port}: {st.stdout}{st.stderr}")
        raise DocFailure("postfix start failed: " + "; ".join(failures), "", self.log())

    def wait_smtpd(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if can_connect(self.smtp):
                return
            time.sleep(0.2)
        raise DocFailure(f"the private Postfix's smtpd does not answer on {self.smtp}", "", self.log())

    def master_pid(self) -> int | None:
        try:
            return int((self.dir / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.running:
            self.running = False
            pid = self.master_pid()
            r = self.command("stop", timeout=30)
            if r.returncode != 0 and pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if pid:  # wait (bounded) for the master and its children to go
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def swaks(self, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
        # a fully qualified HELO name: a recipe may refuse others (reject_non_fqdn_helo_hostname)
        return run(["swaks", "--server", self.smtp, "--timeout", "30",
                    "--helo", "client.doctest.example", *args], timeout=timeout)


SWAKS_REPLY = re.compile(r"^\s*<(?:~~|\*\*|-)\s+(\d{3})[ -](.*)$")


def rcpt_replies(swaks_out: str) -> list[tuple[str, int, str]]:
    """(rcpt, code, text) for each RCPT TO of a swaks transcript."""
    out = []
    lines = swaks_out.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(?:~>|->)\s+RCPT TO:<([^>]*)>", line)
        if not m:
            continue
        for nxt in lines[i + 1:]:
            r = SWAKS_REPLY.match(nxt)
            if r:
                out.append((m.group(1), int(r.group(1)), r.group(2)))
                break
    return out


# ---------------------------------------------------------------------------------------------
# A document
# ---------------------------------------------------------------------------------------------
class Document:
    def __init__(self, harness: Harness, path: Path):
        self.h = harness
        self.path = path
        try:
            self.rel = str(path.resolve().relative_to(REPO))
        except ValueError:
            self.rel = str(path)
        self.tmp = Path(tempfile.mkdtemp(prefix="doc-", dir=harness.root))
        os.chmod(self.tmp, 0o755)
        self.work = self.tmp / "work"
        self.work.mkdir()
        os.chmod(self.work, 0o755)
        if (REPO / "docs").is_dir():
            shutil.copytree(REPO / "docs", self.work / "docs")
        for d in ("etc", "backups", "run"):
            (self.tmp / d).mkdir(mode=0o755)
            os.chmod(self.tmp / d, 0o755)
        self.run_dir = self.tmp / "run" / "postern"
        self.run_dir.mkdir(mode=0o711)
        os.chmod(self.run_dir, 0o711)
        self.token = ""
        self.serve = Serve(self)
        self.postfix: Postfix | None = None
        self.pf_main: list[tuple[Item, list[str]]] = []
        self.pf_master: list[tuple[Item, list[str]]] = []
        self.pf_pending = False
        self.pf_last_line = 0
        self.last_sh_stdout: str | None = None
        self.results: list[tuple[str, Item, str]] = []  # (status, item, note)
        self.failures: list[str] = []
        self.n_scratch = 0
        self.kept: list[int] = []

    # -- paths ---------------------------------------------------------------------------------
    def substitutions(self) -> list[tuple[str, str]]:
        subs = [
            ("/usr/local/bin/postern", str(self.h.bin)),
            ("/var/lib/postern", str(self.work / "postern-data")),
            ("/var/backups/postern", str(self.tmp / "backups" / "postern")),
            ("/run/postern", str(self.run_dir)),
            ("/etc/postern", str(self.tmp / "etc" / "postern")),
        ]
        # An outgoing server on the local Postfix (`port = 25`) is the private Postfix's smtpd
        # while one runs.
        if self.postfix and self.postfix.running:
            subs.append(("port = 25", f"port = {self.postfix.port}"))
        return subs

    def subst(self, text: str) -> str:
        for old, new in self.substitutions():
            text = re.sub(re.escape(old) + r"(?![\w-])", lambda _m, new=new: new, text)
        return text

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTERN_")}
        env["PATH"] = f"{self.h.bindir}:{env.get('PATH', '/usr/local/bin:/usr/bin:/bin')}"
        env["TOKEN"] = self.token
        env["CURL_HOME"] = str(self.h.curl_home)
        if self.postfix and self.postfix.running:
            env["POSTFIX_SMTP"] = self.postfix.smtp
        return env

    # -- running -------------------------------------------------------------------------------
    def run(self) -> None:
        text = self.path.read_text()
        items = parse_markdown(text)
        print(f"\n== {self.rel}", flush=True)
        stop_at = None
        try:
            self.serve.start(f"exec {shlex.quote(str(self.h.bin))} serve", [], None, "the harness's first serve")
        except DocFailure as e:
            self.fail(None, e)
            stop_at = 0
        if stop_at is None:
            for n, item in enumerate(items):
                try:
                    status, note = self.run_item(item)
                except DocFailure as e:
                    self.fail(item, e)
                    if not self.h.keep_going:
                        stop_at = n + 1
                        break
                    continue
                if status:
                    self.results.append((status, item, note))
                    self.report_line(status, item, note)
            if stop_at is None:
                try:
                    self.apply_postfix(None)
                except DocFailure as e:
                    self.fail(None, e)
        if stop_at is not None:
            left = [i for i in items[stop_at:] if self.counts_as_runnable(i)]
            if left:
                print(f"   ...   {len(left)} later block(s) not run after the failure (-k runs them)")
        self.finish()

    def finish(self) -> None:
        self.serve.stop()
        for pid in self.kept:
            kill_group(pid)
        self.kept = []
        if self.postfix:
            self.postfix.stop()
            self.postfix = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def counts_as_runnable(self, item: Item) -> bool:
        return item.kind == "directive" or item.lang in ("sh", "toml", "conf") or "file" in item.attrs

    def report_line(self, status: str, item: Item, note: str) -> None:
        first = next((l.strip() for l in item.text.split("\n") if l.strip()), "") if item.kind == "block" else ""
        what = item.label() + (f"  {first[:70]}" if first else "")
        print(f"   {status:<5} {item.where():<9} {what}" + (f"  ({note})" if note else ""), flush=True)

    def fail(self, item: Item | None, e: DocFailure) -> None:
        where = item.where() if item else "(harness)"
        self.results.append(("FAIL", item, str(e)))
        parts = [f"FAILED: {self.rel} {where}: {e}"]
        if item is not None:
            parts.append(f"  block ({item.label()}):\n" + indent(item.text if item.kind == "block" else item.info))
        if e.stdout or e.stderr:
            parts.append("  stdout:\n" + indent(e.stdout))
            parts.append("  stderr:\n" + indent(e.stderr))
        parts.append("  serve log (last lines):\n" + indent(tail(self.serve.log())))
        if self.postfix:
            parts.append(f"  Postfix log ({self.postfix.dir}/postfix.log, last lines):\n" + indent(tail(self.postfix.log(), 40)))
        msg = "\n".join(parts)
        self.failures.append(msg)
        if item is not None:
            self.report_line("FAIL", item, str(e).split("\n")[0][:120])
        else:
            print(f"   FAIL  {str(e)}")
        print(msg, flush=True)

    def run_item(self, item: Item) -> tuple[str, str]:
        if item.kind == "directive":
            return self.run_directive(item)
        lang, a = item.lang, item.attrs
        if "norun" in a:
            self.last_sh_stdout = None if lang == "sh" else self.last_sh_stdout
            reason = a["norun"] if isinstance(a["norun"], str) else ""
            return ("norun", reason)
        if lang == "sh":
            if "serve" in a:
                self.apply_postfix(item)
                self.run_serve_block(item)
                self.last_sh_stdout = ""
                return ("ok", "serve restarted")
            self.apply_postfix(item)
            return ("ok", self.run_sh(item))
        if lang in ("text", "console") and "expect" in a:
            return self.check_expect(item)
        if lang == "toml":
            # a pending Postfix change first: the file may name its smtpd (`port = 25`)
            self.apply_postfix(item)
            return self.run_toml(item)
        if isinstance(a.get("file"), str):
            return self.write_file(item)
        if lang == "conf":
            if "postfix" in a:
                return self.add_postfix_snippet(item)
            if "systemd" in a:
                return self.run_systemd_block(item)
            if "exim" in a:
                return ("norun", "Exim is not run (it conflicts with Postfix in Debian)")
            return ("", "")
        return ("", "")

    # -- sh --------------------------------------------------------------------------------------
    def guard(self, text: str) -> None:
        for line in text.split("\n"):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            for pattern, what in GUARDS:
                if re.search(pattern, code):
                    raise DocFailure(
                        f"this block would change the machine ({what}: `{line.strip()}`): mark it "
                        "`norun=\"why\"`, or use the installation paths the harness replaces"
                    )

    def run_sh(self, item: Item) -> str:
        text = self.subst(item.text)
        self.guard(text)
        timeout = int(item.attrs.get("timeout", BLOCK_TIMEOUT))
        expected = int(item.attrs.get("exit", 0))
        script = self.tmp / f"block-{item.line}.sh"
        script.write_text(text)
        started = time.monotonic()
        p = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-e", "-u", "-o", "pipefail", str(script)],
            cwd=self.work, env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        timed_out = False
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(p.pid)
            out, err = p.communicate()
        finally:
            if "keep" in item.attrs and not timed_out:
                self.kept.append(p.pid)  # an application the document runs on: killed at its end
            else:
                kill_group(p.pid)  # anything the block left running in the background
        out_s, err_s = out.decode(errors="replace"), err.decode(errors="replace")
        self.last_sh_stdout = out_s
        if self.h.verbose:
            print(indent(out_s, "      > "))
            if err_s.strip():
                print(indent(err_s, "      ! "))
        if timed_out:
            raise DocFailure(f"timed out after {timeout} s", out_s, err_s)
        if p.returncode != expected:
            raise DocFailure(f"exit status {p.returncode}, expected {expected}", out_s, err_s)
        note = f"{time.monotonic() - started:.1f}s"
        return note + (f", exit {expected}" if expected else "")

    def check_expect(self, item: Item) -> tuple[str, str]:
        if self.last_sh_stdout is None:
            return ("norun", "the block it describes was not run")
        out = self.last_sh_stdout.split("\n")
        pos = 0
        for want in item.text.split("\n"):
            want = want.strip()
            if not want or "..." in want or "…" in want:
                continue
            while pos < len(out) and want not in out[pos]:
                pos += 1
            if pos >= len(out):
                raise DocFailure(f"the output of the block before does not show `{want}` (in this order)", self.last_sh_stdout)
            pos += 1
        return ("ok", "output matches")

    # -- serve -----------------------------------------------------------------------------------
    def run_serve_block(self, item: Item) -> None:
        text = self.subst(item.text)
        command = re.sub(r"\\\n", " ", text).strip()
        if not command or "\n" in command or re.search(r"[;&|]", command.replace("&&", "")) or "&&" in command:
            raise DocFailure("an `sh serve` block holds one command: `[runuser -u USER --] postern serve ARGS`")
        words = split_words(command)
        try:
            k = words.index("serve")
        except ValueError:
            raise DocFailure("an `sh serve` block must run `postern serve`")
        head, args = words[:k], words[k + 1:]
        run_as = None
        # the program: postern, a path to it, or cargo run ... --
        if head and head[-1] == "--" and "cargo" in head:
            c = head.index("cargo")
            head = head[:c] + [str(self.h.bin)]
        if not head or not (head[-1] == "postern" or head[-1].endswith("/postern")):
            raise DocFailure(f"an `sh serve` block must run `postern serve` (found `{shlex.join(head)}`)")
        prefix = head[:-1]
        if "runuser" in prefix:
            r = prefix.index("runuser")
            opts = prefix[r + 1:]
            for i, o in enumerate(opts):
                if o in ("-u", "--user") and i + 1 < len(opts):
                    run_as = opts[i + 1]
                elif o.startswith("--user="):
                    run_as = o.split("=", 1)[1]
            if run_as is None:
                raise DocFailure("runuser without -u USER")
            err = self.h.ensure_pipe_user() if run_as == "postern" else None
            if err:
                raise DocFailure(err)
        program = str(self.h.bin) if head[-1] == "postern" else head[-1]
        shell = " ".join(shlex.quote(w) for w in head[:-1] + [program, "serve"] + args)
        self.guard(shell)
        self.serve.start(shell, args, run_as, f"{self.rel}:{item.line}")

    # -- toml --------------------------------------------------------------------------------------
    def write_file(self, item: Item) -> tuple[str, str]:
        name = str(item.attrs["file"])
        target = Path(self.subst(name))
        if not target.is_absolute():
            target = self.work / target
        elif not str(target).startswith(str(self.tmp)):
            raise DocFailure(f"file={name}: outside the working directory and the installation paths")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.subst(item.text))
        return ("ok", f"written to {name}")

    def run_toml(self, item: Item) -> tuple[str, str]:
        text = self.subst(item.text)
        if isinstance(item.attrs.get("file"), str):
            return self.write_file(item)
        self.n_scratch += 1
        scratch = self.tmp / f"scratch-{self.n_scratch}.toml"
        scratch.write_text(text)
        data = self.tmp / f"scratch-data-{self.n_scratch}"
        r = run([str(self.h.bin), "apply", "--check", str(scratch), "--data-dir", str(data)], env=self.env(), cwd=self.work)
        if r.returncode != 0:
            raise DocFailure(f"postern apply --check (on an empty data directory) exits {r.returncode}", r.stdout, r.stderr)
        return ("ok", "apply --check")

    # -- systemd -----------------------------------------------------------------------------------
    def run_systemd_block(self, item: Item) -> tuple[str, str]:
        a = item.attrs
        unit = REPO / "dist" / "postern.service"
        if isinstance(a.get("systemd"), str):
            ref = REPO / a["systemd"]
            try:
                want = ref.read_text()
            except OSError as e:
                raise DocFailure(f"conf systemd={a['systemd']}: {e}")
            if want.strip() != item.text.strip():
                raise DocFailure(f"the unit shown here differs from {a['systemd']}: copy the file into the document")
            verify_unit(self.h, ref.read_text(), ref.name)
            return ("ok", f"same as {a['systemd']}, verified")
        if "dropin" in a:
            verify_unit(self.h, unit.read_text() + "\n" + item.text, "postern.service")
            return ("ok", "dist/postern.service + this drop-in verified")
        name = a.get("unit", "doctest.service")
        verify_unit(self.h, item.text, name)
        return ("ok", "verified")

    # -- Postfix -----------------------------------------------------------------------------------
    def add_postfix_snippet(self, item: Item) -> tuple[str, str]:
        which = item.attrs.get("postfix")
        entries = split_entries(self.subst(item.text))
        if which == "main.cf":
            bad = [e[0] for e in entries if "=" not in e[0]]
            if bad:
                raise DocFailure(f"main.cf: not `name = value`: {bad[0]}")
            self.pf_main += [(item, e) for e in entries]
        elif which == "master.cf":
            bad = [e[0] for e in entries if len(e[0].split()) < 8]
            if bad:
                raise DocFailure(f"master.cf: an entry has fewer than 8 fields: {bad[0]}")
            self.pf_master += [(item, e) for e in entries]
        else:
            raise DocFailure("conf postfix=main.cf or conf postfix=master.cf")
        self.pf_pending = True
        self.pf_last_line = item.line
        return ("ok", "Postfix snippet (checked and started with the next block)")

    def apply_postfix(self, item: Item | None) -> None:
        if not self.pf_pending:
            return
        self.pf_pending = False
        if not is_root():
            raise DocFailure("the Postfix recipes need root (a private Postfix instance runs as root)")
        if not Path(POSTFIX).exists():
            raise DocFailure(f"{POSTFIX} is missing: install the Debian package postfix (scripts/test.sh does)")
        if self.postfix:
            self.postfix.stop()
            self.postfix = None
        # the pipe opens the database as its user: give it the data directory
        for _, entry in self.pf_master:
            joined = " ".join(entry)
            m = re.search(r"\buser=([\w.-]+)", joined)
            if m and str(self.h.bin) in joined and m.group(1) != "root":
                user = m.group(1).split(":")[0]
                if user == "postern":
                    err = self.h.ensure_pipe_user()
                    if err:
                        raise DocFailure(err)
                try:
                    chown_tree(self.serve.data_dir, user)
                except KeyError:
                    raise DocFailure(f"master.cf runs the pipe as user {user}, who does not exist")
        pf = Postfix(self, list(self.pf_main), list(self.pf_master))
        self.postfix = pf
        try:
            pf.start()
        except DocFailure as e:
            raise DocFailure(f"the Postfix recipe (conf postfix blocks up to line {self.pf_last_line}): {e}", e.stdout, e.stderr)
        print(f"   ok    {'':<9} private Postfix started (smtpd {pf.smtp}, {pf.dir})", flush=True)

    def need_postfix(self) -> Postfix:
        if not self.postfix or not self.postfix.running:
            raise DocFailure("no private Postfix runs: the document has no `conf postfix=...` block before this")
        return self.postfix

    def run_directive(self, item: Item) -> tuple[str, str]:
        cmd, a = item.lang, item.attrs
        if cmd == "serve":
            self.apply_postfix(item)
            shell = f"exec {shlex.quote(str(self.h.bin))} serve " + " ".join(shlex.quote(self.subst(w)) for w in split_words(item.info)[1:])
            self.serve.start(shell, [self.subst(w) for w in split_words(item.info)[1:]], None, f"{self.rel}:{item.line}")
            return ("ok", "serve restarted")
        if cmd in ("postfix-check", "postfix-rejects", "postfix-bounces"):
            self.apply_postfix(item)
            pf = self.need_postfix()
            if cmd == "postfix-check":
                return ("ok", self.postfix_check(pf, a))
            if cmd == "postfix-rejects":
                return ("ok", self.postfix_rejects(pf, a))
            return ("ok", self.postfix_bounces(pf, a))
        raise DocFailure(f"unknown doctest directive `{cmd}`")

    def send(self, pf: Postfix, recipients: list[str], subject: str,
             bcc: list[str] | None = None) -> tuple[str, str]:
        """Sends one message through the private Postfix (the `bcc` recipients are in the
        envelope only, not in To:); returns (queue id, transcript)."""
        msgid = f"<doctest-{uuid.uuid4().hex}@example.org>"
        deadline = time.monotonic() + MAIL_TIMEOUT
        bcc = bcc or []
        while True:
            r = pf.swaks(
                "--from", "alice@example.org", "--to", ",".join(recipients + bcc),
                "--header", f"Subject: {subject}", "--header", f"Message-Id: {msgid}",
                "--header", f"To: {', '.join(recipients)}",
                "--body", "Sent by scripts/doctest.py through a private Postfix.",
            )
            transcript = r.stdout + r.stderr
            m = re.search(r"queued as ([0-9A-Za-z]+)", transcript)
            if r.returncode == 0 and m:
                return m.group(1), transcript
            replies = rcpt_replies(transcript)
            temporary = [x for x in replies if 400 <= x[1] < 500]
            if temporary and not [x for x in replies if x[1] >= 500] and time.monotonic() < deadline:
                time.sleep(3)
                continue
            raise DocFailure(f"Postfix did not accept the message to {', '.join(recipients)} (swaks exit {r.returncode})", transcript)

    def delivery_lines(self, pf: Postfix, qid: str) -> list[str]:
        return [l for l in pf.log().split("\n") if f" {qid}: " in l and " to=<" in l]

    def postfix_check(self, pf: Postfix, a: dict) -> str:
        to = [r for r in str(a.get("recipients", "")).split(",") if r]
        if not to:
            raise DocFailure("postfix-check needs recipients=a@...,b@...")
        bcc = [r for r in str(a.get("bcc", "")).split(",") if r]
        recipients = to + bcc
        want = int(a.get("records", len(recipients)))
        subject = f"doctest {self.rel} {uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        qid, transcript = self.send(pf, to, subject, bcc)
        deadline = time.monotonic() + MAIL_TIMEOUT
        records: list = []
        while True:
            lines = self.delivery_lines(pf, qid)
            bad = [l for l in lines if "status=sent" not in l]
            if bad:
                raise DocFailure(f"Postfix did not deliver {qid} to Postern", transcript, "\n".join(bad))
            sent = {r for r in recipients if any(f"to=<{r}>" in l and "status=sent" in l for l in lines)}
            records = self.serve.records_named(subject)
            if len(sent) == len(recipients) and len(records) >= want:
                break
            if time.monotonic() > deadline:
                raise DocFailure(
                    f"within {MAIL_TIMEOUT} s: Postfix logged status=sent for {sorted(sent)} of {recipients}; "
                    f"Postern has {len(records)} record(s) named {subject!r}, expected {want}",
                    transcript,
                )
            time.sleep(0.3)
        return (f"{qid}: {len(recipients)} recipients sent, {len(records)} records, "
                f"{time.monotonic() - started:.1f}s")

    def postfix_rejects(self, pf: Postfix, a: dict) -> str:
        rcpt = a.get("rcpt")
        if not isinstance(rcpt, str):
            raise DocFailure("postfix-rejects needs rcpt=ADDRESS")
        deadline = time.monotonic() + MAIL_TIMEOUT
        while True:
            r = pf.swaks("--from", "alice@example.org", "--to", rcpt, "--quit-after", "RCPT")
            transcript = r.stdout + r.stderr
            replies = rcpt_replies(transcript)
            if not replies:
                raise DocFailure("no reply to RCPT TO in the swaks transcript", transcript)
            _, code, text = replies[0]
            if code < 400:
                raise DocFailure(f"Postfix accepted RCPT TO:<{rcpt}> ({code} {text})", transcript)
            # 5xx, or the 4xx of unverified_recipient_reject_code: the probe got a definitive no
            if code >= 500 or "unverified address" in text or "undeliverable address" in text:
                want = a.get("code")
                if isinstance(want, str) and str(code) != want:
                    raise DocFailure(f"RCPT TO:<{rcpt}> refused with {code}, expected {want}", transcript)
                return f"RCPT TO:<{rcpt}> refused: {code} {text[:110]}"
            # "address verification in progress", or another temporary answer: try again
            if time.monotonic() > deadline:
                raise DocFailure(f"RCPT TO:<{rcpt}> still answered {code} after {MAIL_TIMEOUT} s", transcript)
            time.sleep(3)

    def postfix_bounces(self, pf: Postfix, a: dict) -> str:
        rcpt = a.get("rcpt")
        if not isinstance(rcpt, str):
            raise DocFailure("postfix-bounces needs rcpt=ADDRESS")
        expect = a.get("expect") if isinstance(a.get("expect"), str) else ""
        subject = f"doctest {self.rel} {uuid.uuid4().hex[:8]}"
        qid, transcript = self.send(pf, [rcpt], subject)
        deadline = time.monotonic() + MAIL_TIMEOUT
        while True:
            lines = [l for l in self.delivery_lines(pf, qid) if f"to=<{rcpt}>" in l]
            done = [l for l in lines if "status=bounced" in l]
            other = [l for l in lines if "status=bounced" not in l]
            if other:
                raise DocFailure(f"expected a bounce for {rcpt}, Postfix logged otherwise", transcript, "\n".join(other))
            if done:
                # `dsn=5.1.1, status=bounced (no such recipient )`: Postfix takes the status code
                # from the start of the pipe's output
                dsn = re.search(r"\bdsn=([0-9.]+)", done[0])
                reason = re.search(r"status=bounced \((.*)\)\s*$", done[0])
                said = f"{dsn.group(1) if dsn else '?'} {(reason.group(1) if reason else done[0]).strip()}"
                if expect and expect not in said and expect not in done[0]:
                    raise DocFailure(f"the bounce does not say `{expect}` (it says `{said}`)", transcript, done[0])
                return f"{qid} bounced at delivery: {said[:110]}"
            if time.monotonic() > deadline:
                raise DocFailure(f"no bounce for {rcpt} logged within {MAIL_TIMEOUT} s", transcript)
            time.sleep(0.3)

    def summary(self) -> tuple[int, int, int]:
        run_ = sum(1 for s, _, _ in self.results if s == "ok")
        norun = sum(1 for s, _, _ in self.results if s == "norun")
        return run_, norun, len(self.failures)


def verify_unit(h: Harness, text: str, name: str) -> None:
    if not shutil.which("systemd-analyze"):
        raise DocFailure("systemd-analyze is missing (Debian package systemd)")
    d = Path(tempfile.mkdtemp(prefix="unit-", dir=h.root))
    path = d / name
    path.write_text(re.sub(r"/usr/local/bin/postern(?![\w-])", lambda _m: str(h.bin), text))
    r = run(["systemd-analyze", "verify", str(path)], timeout=60)
    said = [l for l in (r.stdout + r.stderr).split("\n") if l.strip() and (name in l or str(d) in l)]
    shutil.rmtree(d, ignore_errors=True)
    if r.returncode != 0 or said:
        raise DocFailure(f"systemd-analyze verify {name}: exit {r.returncode}", r.stdout, r.stderr)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description="Runs the examples of the documentation (see the docstring).")
    ap.add_argument("files", nargs="*", help="Markdown files (default: README.md docs/*.md)")
    ap.add_argument("--bin", default=os.environ.get("POSTERN_BIN"), help="the postern binary (default: $POSTERN_BIN)")
    ap.add_argument("-k", "--keep-going", action="store_true", help="run a document's later blocks after a failure")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each block's output")
    opts = ap.parse_args()
    if not opts.bin:
        print("doctest: set POSTERN_BIN (or --bin) to the postern binary to test, e.g. target/debug/postern", file=sys.stderr)
        return 2
    binary = Path(opts.bin).resolve()
    if not os.access(binary, os.X_OK):
        print(f"doctest: {binary} is not an executable", file=sys.stderr)
        return 2
    files = [Path(f) for f in opts.files] or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for f in files:
        if not f.is_file():
            print(f"doctest: no such file: {f}", file=sys.stderr)
            return 2

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_term)
    h = Harness(binary, opts.verbose, opts.keep_going)
    docs: list[Document] = []
    unit_failure = None
    try:
        if is_root():
            err = h.ensure_pipe_user()
            if err:
                print(f"[doctest] warning: {err}")
        print(f"[doctest] binary under test: {binary} (copied to {h.bin})")
        unit = REPO / "dist" / "postern.service"
        print("\n== dist/postern.service")
        if unit.exists():
            try:
                verify_unit(h, unit.read_text(), "postern.service")
                print("   ok    systemd-analyze verify (ExecStart = the binary under test)")
            except DocFailure as e:
                unit_failure = f"FAILED: dist/postern.service: {e}\n  output:\n{indent(e.stdout + e.stderr)}"
                print(unit_failure)
        else:
            unit_failure = "FAILED: dist/postern.service is missing"
            print(unit_failure)
        for f in files:
            doc = Document(h, f)
            docs.append(doc)
            try:
                doc.run()
            except BaseException:
                doc.finish()
                raise
    except KeyboardInterrupt as e:
        print(f"\n[doctest] interrupted{f' ({e})' if str(e) else ''}; cleaning up", file=sys.stderr)
        return 130
    finally:
        for d in docs:
            d.finish()
        h.cleanup()

    print("\n== Summary (blocks: run / norun / failed)")
    width = max([len(d.rel) for d in docs] + [len("dist/postern.service")])
    print(f"   {'dist/postern.service':<{width}}  {'failed' if unit_failure else 'verified'}")
    for d in docs:
        r, n, f = d.summary()
        print(f"   {d.rel:<{width}}  run {r:>3}  norun {n:>3}  failed {f}")
    norun = [(d, i, note) for d in docs for s, i, note in d.results if s == "norun"]
    if norun:
        print("\n   not run (norun):")
        for d, i, note in norun:
            first = next((l.strip() for l in i.text.split("\n") if l.strip()), "")
            print(f"     {d.rel}:{i.line}  {i.label()}  {first[:60]}" + (f"  -- {note}" if note else ""))
    failed = [d for d in docs if d.failures]
    if failed or unit_failure:
        print(f"\n[doctest] FAILED: {', '.join([d.rel for d in failed] + (['dist/postern.service'] if unit_failure else []))}")
        return 1
    print("\n[doctest] all documents passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

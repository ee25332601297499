//! Postfix for the tests (the Debian package `postfix`, installed by `scripts/test.sh`):
//! [`SmtpSink`], its `smtp-sink` test server writing what it receives to files, and
//! [`Postfix`], a private instance relaying to an LMTP port. Neither touches /etc/postfix or
//! a system Postfix; a missing Postfix fails the test, saying so.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const POSTFIX: &str = "/usr/sbin/postfix";

/// A running `smtp-sink` on a free port of 127.0.0.1, writing each message (with its
/// envelope) to a file of its own directory; killed when dropped.
pub struct SmtpSink {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts it (as `nobody` when the tests run as root) and waits until it listens.
    pub fn start() -> SmtpSink {
        SmtpSink::spawn(false)
    }

    /// [`SmtpSink::start`] speaking LMTP (`smtp-sink -L`), for a Postfix to deliver to.
    pub fn start_lmtp() -> SmtpSink {
        SmtpSink::spawn(true)
    }

    fn spawn(lmtp: bool) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = crate::free_port();
        let mut cmd = Command::new("/usr/sbin/smtp-sink");
        if crate::is_root() {
            cmd.args(["-u", "nobody"]);
        }
        if lmtp {
            cmd.arg("-L");
        }
        let child = cmd
            .arg("-d")
            .arg(format!("{}/m.", dir.path().display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("256")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (postfix, installed by scripts/test.sh)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        SmtpSink { child, port, dir }
    }

    /// Every message received in full, with smtp-sink's envelope lines (`X-Mail-Args`,
    /// `X-Rcpt-Args`). smtp-sink creates a message's file at the first RCPT and writes it
    /// through a buffer, ending it with an empty line once the final `.` came: a file that is
    /// empty or does not end so is a transaction still under way, and is left out.
    pub fn messages(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .filter(|b| b.ends_with(b"\n\n"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the header `name` of `message` (its first one), unfolded.
pub fn header(message: &str, name: &str) -> Option<String> {
    let unfolded = message
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    unfolded
        .lines()
        .take_while(|l| !l.is_empty())
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim().to_owned())
}

/// A private Postfix instance: configuration in `DIR/etc`, queue in `DIR/queue`, data in
/// `DIR/data`, log in `DIR/postfix.log`. Stopped when dropped (also when a test panics).
pub struct Postfix {
    dir: tempfile::TempDir,
    /// Its SMTP port on 127.0.0.1.
    pub smtp_port: u16,
    running: bool,
}

/// Debian's default services (master.cf.dist), none chrooted (the chroot would need copies of
/// /etc files in the queue directory), and no pipe services for users this machine lacks.
const MASTER_CF_SERVICES: &str = "\
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
";

fn mkdir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Postfix {
    /// Configures and starts an instance that accepts mail for `example.com` by SMTP on a free
    /// port of 127.0.0.1 and delivers it by LMTP to 127.0.0.1:`lmtp_port`. Blocking; needs
    /// root.
    pub fn start(lmtp_port: u16) -> Postfix {
        Postfix::start_with(lmtp_port, "")
    }

    /// [`Postfix::start`] with `extra` lines at the end of `main.cf` (where they override the
    /// defaults above them: Postfix keeps a parameter's last value).
    pub fn start_with(lmtp_port: u16, extra: &str) -> Postfix {
        assert!(
            Path::new(POSTFIX).exists(),
            "Postfix is not installed ({POSTFIX} is missing): run scripts/test.sh, which installs \
             the Debian package postfix (without a system configuration), then run this test again"
        );
        // Under /tmp, not $TMPDIR: the postfix user must reach the queue, and the sockets'
        // paths must stay short.
        let dir = tempfile::Builder::new()
            .prefix("postern-postfix-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // The configuration and queue directories belong to root; `postfix check` makes the
        // queue's subdirectories and the data directory, owned by the postfix user.
        mkdir(&dir.path().join("etc"));
        mkdir(&dir.path().join("queue"));
        let mut postfix = Postfix {
            dir,
            smtp_port: 0,
            running: false,
        };
        // A free port can be taken by someone else before the master binds it: try a few.
        let mut failures = Vec::new();
        for _ in 0..3 {
            postfix.smtp_port = crate::free_port();
            postfix.write_config(lmtp_port, extra);
            let check = postfix.command("check");
            assert!(
                check.status.success(),
                "postfix check failed (Postfix runs as root): {}{}\nlog:\n{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr),
                postfix.log()
            );
            // From here on, stop it in any case (`master -w` reports a failed start, but
            // stopping an instance that is not running is harmless).
            postfix.running = true;
            let start = postfix.command("start");
            if start.status.success() {
                return postfix;
            }
            postfix.running = false;
            failures.push(format!(
                "port {}: {}{}",
                postfix.smtp_port,
                String::from_utf8_lossy(&start.stdout),
                String::from_utf8_lossy(&start.stderr)
            ));
        }
        panic!(
            "postfix start failed: {failures:?}\nlog:\n{}",
            postfix.log()
        );
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Its directory (for files of its configuration: certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self, lmtp_port: u16, extra: &str) {
        let root = self.dir.path().display();
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.postern.test
mydomain = postern.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = example.com
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_relay_restrictions = permit_mynetworks, reject
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
{extra}
"
        );
        let master_cf = format!(
            "127.0.0.1:{} inet n - n - - smtpd\n{MASTER_CF_SERVICES}",
            self.smtp_port
        );
        std::fs::write(self.config_dir().join("main.cf"), main_cf).unwrap();
        std::fs::write(self.config_dir().join("master.cf"), master_cf).unwrap();
    }

    /// `postfix -c DIR <what>`, killed after 60 s.
    fn command(&self, what: &str) -> Output {
        Command::new("timeout")
            .arg("60")
            .arg(POSTFIX)
            .arg("-c")
            .arg(self.config_dir())
            .arg(what)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {POSTFIX}: {e}"))
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postfix.log")).unwrap_or_default()
    }

    /// `postfix -c DIR stop`: waits for the master to end (and kills it after 5 s).
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let stop = self.command("stop");
            if !stop.status.success() {
                eprintln!(
                    "postfix stop failed: {}{}",
                    String::from_utf8_lossy(&stop.stdout),
                    String::from_utf8_lossy(&stop.stderr)
                );
            }
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

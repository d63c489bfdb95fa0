//! The server process of one run: `ringside-server` started with its
//! command line through `platform::server::ServerProcess` (which reads its
//! `stats on` / `listening on` lines, never sleeping for readiness, and
//! kills it when dropped: no server outlives the sweep), stopped with
//! SIGTERM, and what the row's notes say about it. Also which backends the
//! binary has.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use platform::server::{ServerProcess, tail};

use super::plan::SweepArgs;
use super::plan::backend_name;

/// How long a server may take to print `listening on`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The backends `ringside-server --list-backends` lists
/// (`name<TAB>summary` lines), in order.
pub fn listed_backends(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| backend_name(n).is_ok())
        .map(str::to_string)
        .collect()
}

/// Ask the server binary for its backends.
pub fn server_backends(server: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new(server)
        .arg("--list-backends")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --list-backends", server.display()))?;
    if !out.status.success() {
        bail!(
            "{} --list-backends failed ({}): {} (a ringside-server older than --list-backends? build it from \
             this revision or later)",
            server.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let names = listed_backends(&String::from_utf8_lossy(&out.stdout));
    if names.is_empty() {
        bail!("{} --list-backends lists no backends: is it ringside-server?", server.display());
    }
    Ok(names)
}

/// `--server`, or `ringside-server` next to this program; an error that says
/// how to build it if it is missing.
pub fn server_path(args: &SweepArgs) -> anyhow::Result<PathBuf> {
    let path = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("cannot find this program's path; pass --server PATH")?
            .parent()
            .context("this program's path has no directory; pass --server PATH")?
            .join("ringside-server"),
    };
    if !path.is_file() {
        bail!(
            "no server binary at {}: build it with `cargo build --release` (it lands next to \
             target/release/ringside-loadgen), or pass --server PATH",
            path.display()
        );
    }
    Ok(path)
}

/// The addresses a sweep's server printed: it always has `--stats-listen`.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub listen: SocketAddr,
    pub stats: SocketAddr,
}

/// Start `ringside-server` with `args` and wait for its `stats on` and
/// `listening on` lines ([`ServerProcess`], which kills it when dropped).
/// On failure the server is gone and the error says why; [`Unsupported`]'s
/// exit status (`platform::exit::UNSUPPORTED`, 5) is named as such.
///
/// [`Unsupported`]: platform::Unsupported
pub fn start(path: &Path, args: &[String]) -> Result<(ServerProcess, Ready), String> {
    let mut command = Command::new(path);
    command.args(args);
    let mut server =
        ServerProcess::spawn(command).map_err(|e| format!("cannot start {}: {e}", path.display()))?;
    let announced = server.wait_ready(READY_TIMEOUT).map_err(|e| e.to_string())?;
    match announced.stats {
        Some(stats) => Ok((server, Ready { listen: announced.listen, stats })),
        None => {
            server.kill();
            Err("the server printed `listening on` but no `stats on` line".into())
        }
    }
}

/// SIGTERM, then wait for the exit (SIGKILL after [`STOP_TIMEOUT`]).
/// Returns notes for the run's row: anything unusual, and whatever the
/// server wrote on stderr.
pub fn stop(server: &mut ServerProcess) -> Vec<String> {
    let stopped = server.stop(STOP_TIMEOUT);
    let mut notes = Vec::new();
    match stopped.status {
        Some(status) if stopped.had_exited => {
            notes.push(format!("the server had exited ({status}) before it was stopped"))
        }
        Some(status) if status.success() => {}
        Some(status) => notes.push(format!("the server exited with {status} when stopped")),
        None => notes
            .push(format!("the server did not exit within {} s of SIGTERM; killed", STOP_TIMEOUT.as_secs())),
    }
    if !stopped.stderr.trim().is_empty() {
        notes.push(format!("server stderr: {}", tail(&stopped.stderr, 300)));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_the_list() {
        assert_eq!(listed_backends("thread-per-conn\tx\nepoll\ty\n"), ["thread-per-conn", "epoll"]);
        assert!(listed_backends("").is_empty());
        assert!(listed_backends("Not A Backend!\tx\n").is_empty());
    }
}

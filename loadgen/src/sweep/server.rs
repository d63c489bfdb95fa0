//! The server process of one run: `ringside-server` started with its
//! command line, its `stats on` / `listening on` lines read (never a sleep
//! for readiness), stopped with SIGTERM, killed when dropped: no server
//! outlives the sweep. Also which backends the binary has.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use platform::Unsupported;

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

/// A running `ringside-server`, killed when dropped if it still runs.
pub struct Server {
    child: Child,
    /// Its stdout, line by line; disconnected at end of file.
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

/// The addresses a server printed.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub listen: SocketAddr,
    pub stats: SocketAddr,
}

impl Server {
    pub fn spawn(path: &Path, args: &[String]) -> anyhow::Result<Server> {
        let mut child = Command::new(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        let out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        let stdout = std::thread::Builder::new().name("server-stdout".into()).spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::Builder::new().name("server-stderr".into()).spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        // Dropping `child` here would leave it running: kill it first.
        let (stdout, stderr) = match (stdout, stderr) {
            (Ok(o), Ok(e)) => (o, e),
            (o, e) => {
                let _ = child.kill();
                let _ = child.wait();
                let e = o.err().or(e.err()).expect("one failed");
                return Err(anyhow::Error::new(e).context("cannot start a thread to read the server"));
            }
        };
        Ok(Server { child, lines, stdout: Some(stdout), stderr: Some(stderr) })
    }

    /// The server's process id (for counting its system calls).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for `stats on` and `listening on`. On failure the server is
    /// gone and the error says why; [`Unsupported`]'s exit status
    /// (`platform::exit::UNSUPPORTED`, 5) is named as such.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, String> {
        let deadline = Instant::now() + timeout;
        let mut stats = None;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("stats on ") {
                        stats = addr.trim().parse().ok();
                    } else if let Some(addr) = line.strip_prefix("listening on ") {
                        let listen = addr.trim().parse::<SocketAddr>();
                        return match (listen, stats) {
                            (Ok(listen), Some(stats)) => Ok(Ready { listen, stats }),
                            (Err(_), _) => {
                                self.kill();
                                Err(format!("the server printed an address that does not parse: {line:?}"))
                            }
                            (Ok(_), None) => {
                                self.kill();
                                Err("the server printed `listening on` but no `stats on` line".into())
                            }
                        };
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    let stderr = self.stderr_text();
                    return Err(format!(
                        "no `listening on` line within {} s; killed it{}",
                        timeout.as_secs_f64(),
                        stderr_suffix(&stderr)
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(STOP_TIMEOUT);
                    let stderr = self.stderr_text();
                    let status = match status {
                        Some(s) if s.code() == Some(i32::from(Unsupported::EXIT_CODE)) => {
                            format!("this kernel cannot run it (exit status {})", Unsupported::EXIT_CODE)
                        }
                        Some(s) => format!("it exited ({s}) before listening"),
                        None => "it closed its stdout before listening".into(),
                    };
                    return Err(format!("{status}{}", stderr_suffix(&stderr)));
                }
            }
        }
    }

    /// SIGTERM, then wait for the exit (SIGKILL after [`STOP_TIMEOUT`]).
    /// Returns notes for the run's row: anything unusual, and whatever the
    /// server wrote on stderr.
    pub fn stop(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        match self.child.try_wait() {
            Ok(Some(status)) => notes.push(format!("the server had exited ({status}) before it was stopped")),
            _ => {
                let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
                // The child is not reaped yet, so the pid is still its own.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                match self.wait_exit(STOP_TIMEOUT) {
                    Some(status) if status.success() => {}
                    Some(status) => notes.push(format!("the server exited with {status} when stopped")),
                    None => notes.push(format!(
                        "the server did not exit within {} s of SIGTERM; killed",
                        STOP_TIMEOUT.as_secs()
                    )),
                }
            }
        }
        let stderr = self.stderr_text();
        if !stderr.trim().is_empty() {
            notes.push(format!("server stderr: {}", tail(&stderr, 300)));
        }
        notes
    }

    /// Wait until the server closes its stdout (it exits), at most
    /// `timeout`; then reap it. Kills it if it does not go. `None` if it had
    /// to be killed.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(_) => continue, // `stopped: ...`
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return None;
                }
            }
        }
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        // Its stdout is closed, so it has exited or is exiting now.
        self.child.wait().ok()
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Everything the server wrote on stderr (once it has exited).
    fn stderr_text(&mut self) -> String {
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() { String::new() } else { format!(": {}", tail(s, 600)) }
}

/// The last `max` bytes (about) of `s`, on one line.
pub(super) fn tail(s: &str, max: usize) -> String {
    let one_line = s.trim().replace('\n', " | ");
    if one_line.len() <= max {
        return one_line;
    }
    let mut start = one_line.len() - max;
    while !one_line.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &one_line[start..])
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

//! A `ringside-server` process as the programs that start one see it: the
//! load generator's sweep and the tests of all three crates.
//!
//! The server's stdout is a contract between the binaries: it prints
//! `stats on ADDR` (with `--stats-listen`), then `listening on ADDR` once
//! it accepts, and `stopped: <counters as JSON>` when it stops, and nothing
//! else. The prefixes are [`STATS_ON`], [`LISTENING_ON`] and [`STOPPED`]
//! (the server prints with them too); [`ServerProcess`] is the one reader
//! of those lines. It lives here, below both the server and the load
//! generator, because both ends of the contract and every test that
//! starts a server need it, and neither binary's crate may depend on the
//! other.
//!
//! It never sleeps to wait for readiness: [`ServerProcess::wait_ready`]
//! blocks on the next line, with a timeout. It must never leave a server
//! running: a server that fails to start is killed before the error is
//! returned, and a dropped handle kills its process.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use protocol::Stats;

use crate::Unsupported;

/// Printed before the address the counters are served on
/// (`--stats-listen`), before [`LISTENING_ON`].
pub const STATS_ON: &str = "stats on ";
/// Printed before the address the server accepts on, once it does.
pub const LISTENING_ON: &str = "listening on ";
/// Printed before the counters (JSON, one line) when the server stops.
pub const STOPPED: &str = "stopped: ";

/// How long a server that closed its stdout before announcing itself may
/// take to exit before it is killed.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// A running server; killed when dropped if it still runs.
///
/// Call order: [`spawn`](Self::spawn), [`wait_ready`](Self::wait_ready)
/// (the addresses it announced), then [`stop`](Self::stop) (SIGTERM, its
/// `stopped:` counters and exit status) or just drop it.
pub struct ServerProcess {
    child: Child,
    /// Its stdout, line by line; disconnected at end of file.
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    /// Everything it wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

/// The addresses a server announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced {
    /// Where it accepts connections (`listening on`).
    pub listen: SocketAddr,
    /// Where it serves its counters (`stats on`), if it was given
    /// `--stats-listen`.
    pub stats: Option<SocketAddr>,
}

/// Why a server did not announce that it listens. The server is gone
/// (exited, or killed) when this is returned.
#[derive(Debug)]
pub enum StartError {
    /// No `listening on` line within the timeout; it was killed.
    Timeout { timeout: Duration, stderr: String },
    /// It announced an address that does not parse; it was killed.
    BadAddress { line: String },
    /// It closed its stdout without announcing itself: it exited with
    /// `status` (`None`: it did not exit, and was killed).
    Exited { status: Option<ExitStatus>, stderr: String },
}

impl StartError {
    /// Whether the server said this kernel cannot run it
    /// ([`Unsupported::EXIT_CODE`]).
    pub fn unsupported(&self) -> bool {
        matches!(self, StartError::Exited { status: Some(s), .. }
            if s.code() == Some(i32::from(Unsupported::EXIT_CODE)))
    }

    /// What the server wrote to stderr, if it is known.
    pub fn stderr(&self) -> &str {
        match self {
            StartError::Timeout { stderr, .. } | StartError::Exited { stderr, .. } => stderr,
            StartError::BadAddress { .. } => "",
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Timeout { timeout, stderr } => write!(
                f,
                "no `listening on` line within {} s; killed it{}",
                timeout.as_secs_f64(),
                stderr_suffix(stderr)
            ),
            StartError::BadAddress { line } => {
                write!(f, "the server printed an address that does not parse: {line:?}")
            }
            StartError::Exited { status, stderr } => {
                match status {
                    _ if self.unsupported() => {
                        write!(f, "this kernel cannot run it (exit status {})", Unsupported::EXIT_CODE)?
                    }
                    Some(s) => write!(f, "it exited ({s}) before listening")?,
                    None => write!(f, "it closed its stdout before listening")?,
                }
                write!(f, "{}", stderr_suffix(stderr))
            }
        }
    }
}

impl std::error::Error for StartError {}

/// How a server ended when it was stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status; `None` if it did not exit in time and was killed.
    pub status: Option<ExitStatus>,
    /// It had exited already, before it was signalled.
    pub had_exited: bool,
    /// The counters of its `stopped:` line, if it printed one that parses.
    pub stats: Option<Stats>,
    /// Lines it printed after announcing itself other than a `stopped:`
    /// line that parses (by the contract, none).
    pub unexpected: Vec<String>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl ServerProcess {
    /// Start `command` (a `ringside-server` command line, possibly behind
    /// a wrapper that execs it, such as `prlimit` or `taskset`) with its
    /// stdout and stderr read here and no stdin.
    pub fn spawn(mut command: Command) -> io::Result<ServerProcess> {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
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
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::Builder::new().name("server-stderr".into()).spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(|p| p.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // Dropping `child` here would leave it running: kill it first.
        let (stdout, stderr_reader) = match (stdout, stderr_reader) {
            (Ok(o), Ok(e)) => (o, e),
            (o, e) => {
                let _ = child.kill();
                let _ = child.wait();
                let e = o.err().or(e.err()).expect("one failed");
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot start a thread to read the server: {e}"),
                ));
            }
        };
        Ok(ServerProcess { child, lines, stdout: Some(stdout), stderr, stderr_reader: Some(stderr_reader) })
    }

    /// The process id (of the wrapper, if one execs the server: the same).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait for `listening on` (and the `stats on` before it, if any), at
    /// most `timeout`. On failure the server is gone and the error says
    /// why. Lines other than the announcements are ignored.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Announced, StartError> {
        let deadline = Instant::now() + timeout;
        let mut stats = None;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let (prefix, addr) = if let Some(addr) = line.strip_prefix(STATS_ON) {
                        (STATS_ON, addr)
                    } else if let Some(addr) = line.strip_prefix(LISTENING_ON) {
                        (LISTENING_ON, addr)
                    } else {
                        continue;
                    };
                    let Ok(addr) = addr.trim().parse::<SocketAddr>() else {
                        self.kill();
                        return Err(StartError::BadAddress { line });
                    };
                    if prefix == STATS_ON {
                        stats = Some(addr);
                    } else {
                        return Ok(Announced { listen: addr, stats });
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(StartError::Timeout { timeout, stderr: self.stderr() });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(EXIT_WAIT).0;
                    return Err(StartError::Exited { status, stderr: self.stderr() });
                }
            }
        }
    }

    /// [`stop_with`](Self::stop_with) SIGTERM.
    pub fn stop(&mut self, timeout: Duration) -> Stopped {
        self.stop_with(Signal::SIGTERM, timeout)
    }

    /// Send `signal` (unless the server has exited already), read what it
    /// prints until it exits, at most `timeout` (then SIGKILL), and reap
    /// it.
    pub fn stop_with(&mut self, signal: Signal, timeout: Duration) -> Stopped {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Stopped {
                status: Some(status),
                had_exited: true,
                stats: None,
                unexpected: Vec::new(),
                stderr: self.stderr(),
            };
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        // The child is not reaped yet, so the pid is still its own.
        let _ = nix::sys::signal::kill(pid, signal);
        let (status, printed) = self.wait_exit(timeout);
        let mut stats = None;
        let mut unexpected = Vec::new();
        for line in printed {
            match line.strip_prefix(STOPPED).map(|json| Stats::from_json(json.as_bytes())) {
                Some(Ok(s)) if stats.is_none() => stats = Some(s),
                _ => unexpected.push(line),
            }
        }
        Stopped { status, had_exited: false, stats, unexpected, stderr: self.stderr() }
    }

    /// Everything the server wrote to stderr so far; all of it once it has
    /// exited.
    pub fn stderr(&mut self) -> String {
        if let Ok(Some(_)) = self.child.try_wait()
            && let Some(reader) = self.stderr_reader.take()
        {
            // It has exited: its stderr ends once the reader has read the
            // rest of the pipe.
            let _ = reader.join();
        }
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Kill the server if it still runs, and reap it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Wait until the server closes its stdout (it exits), at most
    /// `timeout`, then reap it; kill it if it does not go (status `None`).
    /// Returns the lines it printed meanwhile.
    fn wait_exit(&mut self, timeout: Duration) -> (Option<ExitStatus>, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut printed = Vec::new();
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => printed.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return (None, printed);
                }
            }
        }
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        // Its stdout is closed, so it has exited or is exiting now.
        (self.child.wait().ok(), printed)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `: <the end of stderr>` to append to a message, or nothing.
fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() { String::new() } else { format!(": {}", tail(s, 600)) }
}

/// The last `max` bytes (about) of `s`, on one line.
pub fn tail(s: &str, max: usize) -> String {
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

    /// A stand-in server: a shell script speaking the contract's lines.
    fn sh(script: &str) -> ServerProcess {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        ServerProcess::spawn(c).expect("start sh")
    }

    const WAIT: Duration = Duration::from_secs(20);

    #[test]
    fn announcements_are_read_and_stop_returns_the_counters() {
        let json = String::from_utf8(Stats { schema: 1, requests: 7, ..Stats::default() }.to_json()).unwrap();
        let mut s = sh(&format!(
            "j='{json}'; trap 'echo \"{STOPPED}$j\"; exit 0' TERM; echo 'noise'; echo '{STATS_ON}127.0.0.1:1'; \
             echo '{LISTENING_ON}127.0.0.1:2'; while :; do sleep 1 & wait $!; done"
        ));
        let ready = s.wait_ready(WAIT).unwrap();
        assert_eq!(ready.listen, "127.0.0.1:2".parse().unwrap());
        assert_eq!(ready.stats, Some("127.0.0.1:1".parse().unwrap()));
        let stopped = s.stop(WAIT);
        assert!(stopped.status.is_some_and(|s| s.success()), "{stopped:?}");
        assert_eq!(stopped.stats.as_ref().map(|s| s.requests), Some(7), "{stopped:?}");
        assert!(stopped.unexpected.is_empty() && !stopped.had_exited, "{stopped:?}");
    }

    #[test]
    fn without_stats_listen_there_is_no_stats_address() {
        let mut s = sh(&format!("echo '{LISTENING_ON}[::1]:80'; exec sleep 60"));
        let ready = s.wait_ready(WAIT).unwrap();
        assert_eq!((ready.listen, ready.stats), ("[::1]:80".parse().unwrap(), None));
        // Sleep does not print `stopped:`: no counters, nothing unexpected.
        let stopped = s.stop(WAIT);
        assert!(stopped.stats.is_none() && stopped.unexpected.is_empty(), "{stopped:?}");
    }

    #[test]
    fn an_exit_before_listening_is_an_error_with_the_status_and_stderr() {
        let mut s = sh(&format!("echo 'no io_uring here' >&2; exit {}", Unsupported::EXIT_CODE));
        let e = s.wait_ready(WAIT).unwrap_err();
        assert!(e.unsupported(), "{e:?}");
        assert_eq!(e.to_string(), "this kernel cannot run it (exit status 5): no io_uring here");

        let mut s = sh("echo 'bad flag' >&2; exit 1");
        let e = s.wait_ready(WAIT).unwrap_err();
        assert!(!e.unsupported());
        assert_eq!(e.to_string(), "it exited (exit status: 1) before listening: bad flag");
    }

    #[test]
    fn silence_times_out_and_kills_the_server() {
        let mut s = sh("exec sleep 60");
        let e = s.wait_ready(Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, StartError::Timeout { .. }), "{e:?}");
        assert!(e.to_string().starts_with("no `listening on` line within 0.05 s; killed it"), "{e}");
        let stopped = s.stop(WAIT);
        assert!(stopped.had_exited, "it was killed: {stopped:?}");
    }

    #[test]
    fn a_bad_address_is_an_error() {
        let mut s = sh(&format!("echo '{LISTENING_ON}nowhere'; exec sleep 60"));
        let e = s.wait_ready(WAIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the server printed an address that does not parse: \"listening on nowhere\""
        );
    }

    #[test]
    fn a_dropped_handle_kills_its_server() {
        let s = sh("exec sleep 60");
        let pid = nix::unistd::Pid::from_raw(s.id() as i32);
        drop(s);
        // Reaped: the pid is no longer ours to signal.
        assert!(nix::sys::signal::kill(pid, None).is_err());
    }

    #[test]
    fn tail_keeps_the_end_on_one_line() {
        assert_eq!(tail("a\nb\n", 10), "a | b");
        assert_eq!(tail("0123456789", 4), "...6789");
    }
}

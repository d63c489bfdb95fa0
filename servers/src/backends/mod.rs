//! The registered server designs. To add one: write its module with a
//! `REGISTRATION` and add it to [`ALL`].

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::backend::Registration;

mod blocking;
pub mod epoll;
pub mod thread_per_conn;
pub mod thread_pool;
pub mod tokio;
pub mod tokio_uring;
pub mod uring;

/// Every backend, in the order `--help` lists them.
pub static ALL: &[Registration] = &[
    thread_per_conn::REGISTRATION,
    thread_pool::REGISTRATION,
    epoll::REGISTRATION,
    uring::REGISTRATION,
    tokio::REGISTRATION,
    tokio_uring::REGISTRATION,
];

/// How long an accept loop stops accepting after running out of
/// descriptors or memory, so it does not spin on the same error.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Decide what an `accept` error means for an accept loop: `Ok(None)` to go
/// on at once; `Ok(Some(pause))` when the process is out of descriptors or
/// memory (reported, at most once a second): stop accepting for `pause`, the
/// way the loop waits (a blocking acceptor sleeps; an event loop must not
/// block its other connections); `Err` when the listener itself is broken.
pub(crate) fn accept_error(e: io::Error) -> anyhow::Result<Option<Duration>> {
    use io::ErrorKind::*;
    match e.kind() {
        // The peer gave up before we accepted; nothing to do.
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock => Ok(None),
        _ => match e.raw_os_error() {
            Some(code)
                if [nix::libc::EMFILE, nix::libc::ENFILE, nix::libc::ENOBUFS, nix::libc::ENOMEM]
                    .contains(&code) =>
            {
                out_of_resources(&e);
                Ok(Some(ACCEPT_PAUSE))
            }
            _ => Err(anyhow::Error::new(e).context("accept failed")),
        },
    }
}

/// Report running out of descriptors or memory at most once a second, with
/// how many accepts failed since the last report.
pub(crate) fn out_of_resources(e: &io::Error) {
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    match &mut *last {
        Some((at, missed)) if at.elapsed() < Duration::from_secs(1) => *missed += 1,
        _ => {
            let missed = last.map_or(0, |(_, m)| m);
            eprintln!(
                "ringside-server: accept: {e} ({missed} more since the last report); connections wait in \
                 the listen backlog until descriptors or memory free up (raise `ulimit -n`?)"
            );
            *last = Some((Instant::now(), 0));
        }
    }
}

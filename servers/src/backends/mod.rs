//! The registered server designs. To add one: write its module with a
//! `REGISTRATION` and add it to [`ALL`].

use std::io;
use std::time::Duration;

use crate::backend::Registration;

mod blocking;
pub mod thread_per_conn;
pub mod thread_pool;

/// Every backend, in the order `--help` lists them.
pub static ALL: &[Registration] = &[thread_per_conn::REGISTRATION, thread_pool::REGISTRATION];

/// Decide what an `accept` error means for an accept loop: `Ok` to go on
/// (after a pause when the process is out of descriptors or memory, so the
/// loop does not spin), `Err` when the listener itself is broken.
pub(crate) fn accept_error(e: io::Error) -> anyhow::Result<()> {
    use io::ErrorKind::*;
    match e.kind() {
        // The peer gave up before we accepted; nothing to do.
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock => Ok(()),
        _ => match e.raw_os_error() {
            Some(code)
                if [nix::libc::EMFILE, nix::libc::ENFILE, nix::libc::ENOBUFS, nix::libc::ENOMEM]
                    .contains(&code) =>
            {
                eprintln!(
                    "accept: {e}; connections wait in the listen backlog until descriptors or memory \
                     free up (raise `ulimit -n`?)"
                );
                std::thread::sleep(Duration::from_millis(100));
                Ok(())
            }
            _ => Err(anyhow::Error::new(e).context("accept failed")),
        },
    }
}

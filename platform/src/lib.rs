//! platform: what both ringside binaries need from the machine — CPU lists
//! and pinning, the io_uring buffer ring, the unsupported-kernel error —
//! the command-line values they share, the exit statuses of all three
//! binaries, and the server process's stdout contract with its one reader
//! ([`server::ServerProcess`]).
//!
//! It sits below `servers` and `loadgen` so that neither depends on the
//! other: the load generator needs these and nothing else of the server
//! (and none of its async runtimes).
//!
//! `unsafe` is denied here except in [`bufring`], whose memory is shared
//! with the kernel.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod bufring;
pub mod cli;
pub mod cpus;
pub mod exit;
pub mod server;

/// This kernel (or its settings) cannot run the configuration asked for:
/// a missing io_uring feature, io_uring disabled. `ringside-server` exits
/// with [`Unsupported::EXIT_CODE`] ([`exit::UNSUPPORTED`]) for it, so
/// scripts, tests and the load generator's sweep can tell it from a
/// failure and skip with the reason.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl Unsupported {
    pub const EXIT_CODE: u8 = exit::UNSUPPORTED;
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

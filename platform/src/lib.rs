//! platform: what both ringside binaries need from the machine — CPU lists
//! and pinning, the io_uring buffer ring, the unsupported-kernel error —
//! the command-line values they share, the exit statuses of all three
//! binaries, the git revision they were built from, and the server
//! process's stdout contract with its one reader ([`server::ServerProcess`]).
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

/// ringside's revision, as built (`build.rs`): `git rev-parse --short=12
/// HEAD`, with `-dirty` if tracked files had changes, or `unknown` outside
/// a git checkout. Every result row records it (`git_rev`).
pub const GIT_REV: &str = env!("RINGSIDE_GIT_REV");

/// What `--version` prints after a binary's name: the crate version and
/// [`GIT_REV`], e.g. `0.1.0 (git 7732051abcde)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("RINGSIDE_GIT_REV"), ")");

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The revision is the checkout's HEAD as git names it now (the build
    /// script reruns when HEAD moves), or `unknown` where there is no git
    /// checkout. Whether it says `-dirty` is not checked: an edit that is
    /// not staged changes no file the build script watches.
    #[test]
    fn git_rev_is_the_checkouts_head() {
        let head = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let rev = GIT_REV.strip_suffix("-dirty").unwrap_or(GIT_REV);
        match head {
            Some(head) => {
                assert_eq!(rev, head, "GIT_REV {GIT_REV}");
                assert!(rev.len() >= 12 && rev.bytes().all(|b| b.is_ascii_hexdigit()), "{GIT_REV}");
            }
            None => assert_eq!(GIT_REV, "unknown"),
        }
        assert!(VERSION.ends_with(&format!(" (git {GIT_REV})")), "{VERSION}");
    }
}

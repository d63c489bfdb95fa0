//! The exit statuses of all three binaries, one table: a script that runs
//! `ringside-server`, `ringside-loadgen` or `ringside-results` reads a
//! status the same way whichever it ran.
//!
//! 2 stays clap's usage error, which clap exits with itself. Each binary
//! prints [`TABLE`] at the end of its `--help`.

/// Done: the server stopped on a signal, the run or sweep measured
/// everything, the tool did its job (`gate`: every rule passed).
pub const OK: u8 = 0;

/// An error: nothing was measured or written, or nothing that could be
/// trusted (a server that cannot listen, an unreadable CSV, a rules file
/// with a mistake, a gate rule that could not be judged).
pub const ERROR: u8 = 1;

/// A bad command line (clap's own status for usage errors).
pub const USAGE: u8 = 2;

/// Measured but incomplete: a run cut short (Ctrl-C, a server that died, a
/// timeout) or a sweep with a failed run or a skipped backend. What was
/// measured is printed and written, flagged incomplete.
pub const INCOMPLETE: u8 = 3;

/// `ringside-results gate`: a rule failed (a regression beyond its limit,
/// significant, or a check that does not hold).
pub const REGRESSION: u8 = 4;

/// `ringside-server`: this kernel (or its settings) cannot run the
/// configuration asked for, e.g. an io_uring feature it lacks. Not an
/// error in the code under test: the sweep skips the backend and the
/// conformance suite skips the test, each with the reason.
pub const UNSUPPORTED: u8 = 5;

/// The table as each binary's `--help` ends with it.
pub const TABLE: &str = "\
Exit status (the same for ringside-server, ringside-loadgen and ringside-results):
  0  done (gate: every rule passed)
  1  error: nothing (trustworthy) measured or written; the message says what happened
  2  bad command line
  3  measured but incomplete: a run cut short, or a sweep with a failed run or a skipped
     backend; the results are written, flagged incomplete
  4  regression: a gate rule failed
  5  unsupported: this kernel cannot run the server configuration asked for (the message
     names the feature and the flag that avoids it)
A second Ctrl-C ends ringside-loadgen at once with 130.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_distinct_and_in_the_table() {
        let all = [OK, ERROR, USAGE, INCOMPLETE, REGRESSION, UNSUPPORTED];
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b), "{a} twice");
            assert!(TABLE.contains(&format!("\n  {a}  ")), "{a} missing from the table");
        }
        // clap exits with 2 for usage errors by itself.
        assert_eq!(USAGE, 2);
    }
}

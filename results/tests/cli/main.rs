//! `ringside-results` as users run it: the binary on results files written
//! with `results::append` (or by real load generators), judged by its
//! output, its exit status and the files it leaves. One module per
//! subcommand; `support` holds what they share.

mod compare;
mod export;
mod gate;
mod hdr_interop;
mod merge;
mod report;
mod summarize;
mod support;
mod workflow;

/// `--version` names the build: the git revision every result row records.
#[test]
fn version_names_the_git_revision() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_ringside-results")).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("ringside-results {}\n", platform::VERSION));
    assert!(stdout.contains(&format!("(git {})", platform::GIT_REV)), "{stdout}");
}

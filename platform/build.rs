//! Embed ringside's git revision (with `-dirty` for uncommitted changes) so
//! every result row, and every binary's `--version`, says exactly what ran;
//! "unknown" outside a checkout. One build script for all three binaries:
//! they take it from `platform::GIT_REV`.

use std::path::Path;
use std::process::Command;

fn main() {
    // --no-optional-locks: `git status` must not refresh the index file,
    // which this script watches; otherwise every build would make the next
    // one rerun it and rebuild everything above this crate.
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("--no-optional-locks")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) => {
            let dirty =
                git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=RINGSIDE_GIT_REV={rev}");
    // What moves when HEAD or the index does. `--git-path` names the files
    // where they are, in a linked worktree too (its HEAD and index are its
    // own, the branch's ref is in the common directory). Only existing
    // files are watched: cargo reruns the script on every build for a
    // missing one. A ref that is only in packed-refs is watched there.
    let mut watch = vec!["HEAD".to_string(), "index".to_string(), "packed-refs".to_string()];
    if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(head);
    }
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    // Outside a checkout, nothing to watch but the script itself.
    println!("cargo:rerun-if-changed=build.rs");
}

//! `ringside-results summarize` as scripts run it: a `label,value` table on
//! standard input or in files, judged by its output and exit status.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::{ringside_results, scratch};

/// `summarize` with `args`, `stdin` on its standard input.
fn summarize(args: &[&str], stdin: &str) -> Output {
    let mut child = ringside_results("summarize")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_table_on_stdin_against_a_baseline_label() {
    let table = "label,value\nwrk,4.7\nours,3.4\nwrk,4.6\nours,3.3\nwrk,4.8\nours,3.5\nwrk,4.5\nours,3.2\n";
    let out = summarize(&["--baseline", "wrk", "-"], table);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows[1], "wrk    4.650  ±∞  4  4.500  4.800", "{stdout}");
    // 4 against 4, all apart: p = 0.029, significant.
    assert_eq!(rows[2], "ours   3.350  ±∞  4  3.200  3.500  -28.0%  0.029", "{stdout}");

    let out = summarize(&["--format", "csv", "--baseline", "wrk", "-"], table);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ours = stdout.lines().find(|l| l.starts_with("ours,")).unwrap();
    assert!(
        ours.starts_with("ours,4,3.3499999999999996,,,3.2,3.5,-27.95") && ours.ends_with(",true"),
        "{stdout}"
    );
}

#[test]
fn several_files_are_read_as_one() {
    let dir = scratch("summarize-files");
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&a, "label,value\nx,1\nx,2\n").unwrap();
    std::fs::write(&b, "label,value\nx,3\n").unwrap();
    let out = summarize(&["--format", "csv", a.to_str().unwrap(), b.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().nth(1), Some("x,3,2,,,1,3,,,"));
}

#[test]
fn bad_input_exits_1_saying_where() {
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["-"],
            "label,value\na,1\na,slow\n",
            "standard input line 3: column `value`: `slow` is not a number",
        ),
        (&["-"], "name,us\na,1\n", "standard input line 1: the header is `name,us`, not `label,value`"),
        (&["-"], "label,value\n", "standard input has no values, only a header"),
        (
            &["--baseline", "wrk", "-"],
            "label,value\na,1\n",
            "no label `wrk` to compare against: the labels are `a`",
        ),
    ];
    for (args, stdin, want) in cases {
        let out = summarize(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdin:?}: {stderr}");
        assert!(stderr.contains(want), "{stdin:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing printed on bad input");
    }
}

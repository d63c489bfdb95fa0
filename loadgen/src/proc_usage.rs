//! A server's CPU time and context switches read from `/proc`, for servers
//! that keep no counters of their own (`run --server-pid`: nginx, the C
//! references). Local only: the process must run on this host.
//!
//! CPU time is `/proc/PID/stat`'s utime + stime, which cover every thread
//! of the process, exited ones included, plus cutime + cstime, the children
//! it has waited for; clock ticks (`USER_HZ`, 10 ms on Linux). Context
//! switches are per thread only: `/proc/PID/status` counts the main
//! thread's alone (checked: in a process whose second thread slept 50
//! times, it gave the main thread's 47 while the tasks gave 47 and 51), so
//! they are summed over `/proc/PID/task/*/status`, and a window's switches
//! are each thread's change over it (a thread born in the window counts
//! from 0). A thread that exits before the window's end
//! takes its switches with it; `/proc` keeps no total for exited threads
//! (only `getrusage` in the process itself does).
//!
//! It never writes anything, and reads nothing but `/proc`.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use crate::server_stats::PerRequest;

/// What `/proc` says of some processes at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Usage {
    /// utime + cutime of every process, µs.
    pub(crate) cpu_user_us: u64,
    /// stime + cstime of every process, µs.
    pub(crate) cpu_sys_us: u64,
    /// Voluntary and involuntary switches of each live thread, by tid
    /// (tids are unique across processes).
    threads: BTreeMap<u32, (u64, u64)>,
}

impl Usage {
    /// Read every process of `pids`; an error names the process.
    pub(crate) fn read(pids: &[u32]) -> io::Result<Usage> {
        let tick_us = 1_000_000 / rustix::param::clock_ticks_per_second().max(1);
        let mut usage = Usage::default();
        for &pid in pids {
            let named = |e: io::Error| io::Error::new(e.kind(), format!("/proc/{pid}: {e}"));
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(named)?;
            let t = cpu_ticks(&stat).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/stat: unexpected format"))
            })?;
            usage.cpu_user_us += (t.utime + t.cutime) * tick_us;
            usage.cpu_sys_us += (t.stime + t.cstime) * tick_us;
            for task in fs::read_dir(format!("/proc/{pid}/task")).map_err(named)? {
                let task = task.map_err(named)?;
                let Some(tid) = task.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                // A thread may end between the listing and the read.
                let Ok(status) = fs::read_to_string(task.path().join("status")) else { continue };
                if let Some(switches) = switches(&status) {
                    usage.threads.insert(tid, switches);
                }
            }
        }
        Ok(usage)
    }

    /// The process's name, from `/proc/PID/comm` (for notes).
    pub(crate) fn name(pid: u32) -> String {
        fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string()).unwrap_or_default()
    }

    /// The figures per request between `before` and `after`, over
    /// `requests` (the load generator's count: such servers count none).
    pub(crate) fn per_request(before: &Usage, after: &Usage, requests: u64) -> PerRequest {
        let n = requests.max(1) as f64;
        let (mut vcs, mut ics) = (0, 0);
        for (tid, (v, i)) in &after.threads {
            let (v0, i0) = before.threads.get(tid).copied().unwrap_or_default();
            vcs += v.saturating_sub(v0);
            ics += i.saturating_sub(i0);
        }
        PerRequest {
            requests,
            cpu_user_us: after.cpu_user_us.saturating_sub(before.cpu_user_us) as f64 / n,
            cpu_sys_us: after.cpu_sys_us.saturating_sub(before.cpu_sys_us) as f64 / n,
            vcs: vcs as f64 / n,
            ics: ics as f64 / n,
        }
    }
}

/// The CPU fields of a `/proc/PID/stat` line, in clock ticks.
#[derive(Debug, PartialEq)]
struct Ticks {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

/// Fields 14 to 17 of `stat`. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so the fields
/// are counted from the last `)`: state is the 3rd field.
fn cpu_ticks(stat: &str) -> Option<Ticks> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): field k is fields[k - 3].
    let field = |k: usize| fields.get(k - 3)?.parse::<u64>().ok();
    // cutime and cstime are signed in the kernel's format, never negative
    // in practice; a negative one reads as none.
    Some(Ticks { utime: field(14)?, stime: field(15)?, cutime: field(16)?, cstime: field(17)? })
}

/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of a
/// `status` file.
fn switches(status: &str) -> Option<(u64, u64)> {
    let value = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
    };
    Some((value("voluntary_ctxt_switches")?, value("nonvoluntary_ctxt_switches")?))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;

    #[test]
    fn stat_and_status_lines() {
        // A command name with a space and a parenthesis, as `(sd-pam)` or a
        // thread named `a) b` would give.
        let stat = "1234 (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 7 2 20 0 3 0 42 1000 10";
        assert_eq!(cpu_ticks(stat), Some(Ticks { utime: 250, stime: 31, cutime: 7, cstime: 2 }));
        assert_eq!(cpu_ticks("1234 (x) S 1 2"), None);
        let status = "Name:\tnginx\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(switches(status), Some((17, 3)));
        assert_eq!(switches("Name:\tx\n"), None);
    }

    #[test]
    fn switches_are_each_threads_change() {
        let at = |threads: &[(u32, (u64, u64))], user: u64| Usage {
            cpu_user_us: user,
            cpu_sys_us: 0,
            threads: threads.iter().copied().collect(),
        };
        // Thread 1 lives throughout, 2 is born in the window, 3 dies in it.
        let before = at(&[(1, (10, 1)), (3, (50, 5))], 1000);
        let after = at(&[(1, (30, 2)), (2, (8, 0))], 3000);
        let p = Usage::per_request(&before, &after, 4);
        assert_eq!((p.requests, p.cpu_user_us, p.vcs, p.ics), (4, 500.0, 7.0, 0.25));
    }

    /// Marks the child's lines on its stderr (libtest writes to stdout).
    const MARK: &str = "proc-usage-child:";
    const CHILD: &str = "RINGSIDE_PROC_USAGE_CHILD";

    /// CPU time (user + system) of this whole process, µs, by getrusage.
    fn own_cpu_us() -> u64 {
        let s = crate::server_stats::own_usage();
        s.cpu_user_us + s.cpu_sys_us
    }

    fn burn_until(cpu_us: u64) {
        let mut x = 0u64;
        while own_cpu_us() < cpu_us {
            for i in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
    }

    /// The child process of the test below: on "go" it burns about 200 ms
    /// of CPU, half in a thread that then exits, while another thread
    /// makes 50 voluntary switches and stays alive; it then prints the CPU
    /// it used by its own count and waits for its stdin to close.
    fn child() {
        let mut stdin = std::io::stdin().lock();
        eprintln!("{MARK}ready");
        let mut go = String::new();
        stdin.read_line(&mut go).unwrap();
        let start = own_cpu_us();
        std::thread::spawn(move || burn_until(start + 100_000)).join().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            for _ in 0..50 {
                std::thread::sleep(Duration::from_millis(1));
            }
            tx.send(()).unwrap();
            // Alive until the process ends, so its switches stay in /proc.
            std::thread::park();
        });
        rx.recv().unwrap();
        burn_until(start + 200_000);
        eprintln!("{MARK}done {}", own_cpu_us() - start);
        let _ = stdin.read_to_end(&mut Vec::new());
    }

    /// The test binary runs itself again as the child (this test, with the
    /// variable set), so the child's CPU has a known figure: its own.
    #[test]
    fn reads_a_child_process_cpu_and_its_threads_switches() {
        if std::env::var_os(CHILD).is_some() {
            return child();
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "proc_usage::tests::reads_a_child_process_cpu_and_its_threads_switches",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut next = || -> String {
            loop {
                let line = lines.next().expect("the child ended early").unwrap();
                if let Some(rest) = line.strip_prefix(MARK) {
                    return rest.to_string();
                }
            }
        };
        assert_eq!(next(), "ready");
        let before = Usage::read(&[pid]).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        let done = next();
        let used_us: u64 = done.strip_prefix("done ").unwrap().parse().unwrap();
        let after = Usage::read(&[pid]).unwrap();
        drop(stdin);
        assert!(child.wait().unwrap().success());

        let p = Usage::per_request(&before, &after, 1);
        let read_us = p.cpu_user_us + p.cpu_sys_us;
        // The child's own figure is the truth; /proc counts in 10 ms ticks,
        // and a thread's time is only folded into the process's at ticks.
        let margin = 40_000.0 + 0.1 * used_us as f64;
        assert!(used_us >= 200_000, "{used_us}");
        assert!(
            (read_us - used_us as f64).abs() <= margin,
            "/proc {read_us} us, the child's own {used_us} us"
        );
        // The sleeping thread's switches: counted only by summing threads.
        assert!(p.vcs >= 50.0, "{p:?}");
        assert!(Usage::read(&[pid]).is_err(), "the child is gone");
    }
}

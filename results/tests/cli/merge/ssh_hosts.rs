//! `scripts/multi-client.sh --hosts` over real OpenSSH. Two client network
//! namespaces each run an sshd (from Debian's openssh-server) on their own
//! address, with a host key and an authorised key made here in a scratch
//! directory; the script runs in a server namespace joined to both by veth
//! pairs and reaches them through the real `ssh` and `scp`, with a config
//! written here (the key, a known_hosts checked strictly, BatchMode). Three
//! runs:
//!
//! - a short one whose `--run-id` holds spaces and quotes: every row carries
//!   it as given, and the merged row is the sum of the clients' rows, as in
//!   the namespace test;
//! - a long one, interrupted with SIGINT once both load generators report
//!   load: the script ends soon after with status 130, no `ringside-loadgen`
//!   is left in any client namespace and nothing of the script's in the
//!   server namespace, and each remote row says it was cut short;
//! - one naming a host with no route to it: it fails naming the host before
//!   any load generator starts.
//!
//! Needs root, `ip` (iproute2), `/usr/sbin/sshd`, `ssh`, `scp` and
//! `ssh-keygen` (openssh-server, openssh-client); it skips without them,
//! except when `CI` is `true`, where it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Namespaces, SERIAL, binaries, can_make_namespaces, check_merged, temp_dir};
use crate::support::{bin_dir, skip};

const SSHD: &str = "/usr/sbin/sshd";
/// The server namespace's address, on its loopback, routed to from each
/// client namespace: one address every client reaches the server by.
const SERVER_ADDR: &str = "10.80.0.1";

/// OpenSSH's server and client, or why not.
fn openssh() -> Result<(), String> {
    if !Path::new(SSHD).is_file() {
        return Err(format!("no {SSHD} (apt-get install openssh-server)"));
    }
    for tool in ["ssh", "scp", "ssh-keygen"] {
        let found = Command::new("sh").args(["-c", "command -v \"$1\"", "sh", tool]).output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!("no `{tool}` on PATH (apt-get install openssh-client)"));
        }
    }
    Ok(())
}

/// Runs `program args`, which must succeed.
fn run(program: &str, args: &[&str]) {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// An ed25519 key pair at `path` and `path.pub`, without a passphrase.
fn keygen(path: &Path) {
    let path = path.to_str().unwrap();
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "ringside-test", "-f", path]);
}

/// The processes in namespace `ns`, each as (pid, command line).
fn processes(ns: &str) -> Vec<(String, String)> {
    let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid.to_string(), String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
}

/// The `ringside-loadgen` processes (or the shells wrapping them) in `ns`.
fn loadgens(ns: &str) -> Vec<(String, String)> {
    processes(ns).into_iter().filter(|(_, cmd)| cmd.contains("ringside-loadgen")).collect()
}

/// The one row of the one run directory under `remote`, as the far side
/// wrote it.
fn remote_row(remote: &Path, client: u32) -> results::Row {
    let runs: Vec<PathBuf> = fs::read_dir(remote).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "one run directory under {}: {runs:?}", remote.display());
    let rows = results::read(&runs[0].join(format!("client-{client}.csv"))).unwrap();
    assert_eq!(rows.len(), 1);
    rows.into_iter().next().unwrap()
}

/// Two client namespaces with an sshd each, a server namespace, and the ssh
/// client's config; `dir` holds the keys, configs and logs.
fn hosts(prefix: &str, dir: &Path) -> PathBuf {
    let srv = format!("{prefix}-srv");
    run("ip", &["netns", "add", &srv]);
    run("ip", &["-n", &srv, "link", "set", "lo", "up"]);
    run("ip", &["-n", &srv, "addr", "add", &format!("{SERVER_ADDR}/32"), "dev", "lo"]);
    let id = dir.join("id");
    keygen(&id);
    fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    // sshd's privilege separation directory, compiled in; the package's
    // service would make it.
    fs::create_dir_all("/run/sshd").unwrap();
    let (mut known_hosts, mut ssh_config) = (String::new(), String::new());
    for i in 1..=2 {
        let (ns, addr, port) = (format!("{prefix}-c{i}"), format!("10.80.{i}.2"), 2200 + i);
        run("ip", &["netns", "add", &ns]);
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        let (veth_srv, veth_client) = (format!("{prefix}s{i}"), format!("{prefix}c{i}"));
        run(
            "ip",
            &[
                "link",
                "add",
                &veth_srv,
                "netns",
                &srv,
                "type",
                "veth",
                "peer",
                "name",
                &veth_client,
                "netns",
                &ns,
            ],
        );
        run("ip", &["-n", &srv, "addr", "add", &format!("10.80.{i}.1/30"), "dev", &veth_srv]);
        run("ip", &["-n", &ns, "addr", "add", &format!("{addr}/30"), "dev", &veth_client]);
        run("ip", &["-n", &srv, "link", "set", &veth_srv, "up"]);
        run("ip", &["-n", &ns, "link", "set", &veth_client, "up"]);
        run("ip", &["-n", &ns, "route", "add", "default", "via", &format!("10.80.{i}.1")]);

        let host_key = dir.join(format!("host-{i}"));
        keygen(&host_key);
        let public = fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let public: Vec<&str> = public.split_whitespace().take(2).collect();
        known_hosts += &format!("[{addr}]:{port} {}\n", public.join(" "));
        let config = dir.join(format!("sshd-{i}.conf"));
        fs::write(
            &config,
            format!(
                "ListenAddress {addr}:{port}\n\
                 HostKey {host_key}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {keys}\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 # The scratch directory's parents are the checkout's, owned\n\
                 # and permitted as it happens to be.\n\
                 StrictModes no\n\
                 # scp speaks SFTP (OpenSSH 9).\n\
                 Subsystem sftp internal-sftp\n",
                host_key = host_key.display(),
                pid = dir.join(format!("sshd-{i}.pid")).display(),
                keys = dir.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        // sshd listens, then detaches: once this command has returned, it
        // accepts connections.
        let log = dir.join(format!("sshd-{i}.log"));
        let status = Command::new("ip")
            .args(["netns", "exec", &ns, SSHD, "-f"])
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .status()
            .expect("start sshd");
        assert!(status.success(), "sshd {i} did not start: {}", fs::read_to_string(&log).unwrap_or_default());
        ssh_config += &format!("Host c{i}\n    HostName {addr}\n    Port {port}\n");
    }
    fs::write(dir.join("known_hosts"), known_hosts).unwrap();
    // `unreachable`: an address no namespace has, with no route to it.
    ssh_config += &format!(
        "Host unreachable\n    HostName 10.80.9.2\n    Port 2209\n\
         Host *\n    User root\n    IdentityFile {id}\n    IdentitiesOnly yes\n\
         \x20   UserKnownHostsFile {known_hosts}\n    GlobalKnownHostsFile /dev/null\n\
         \x20   StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 5\n    LogLevel ERROR\n",
        id = id.display(),
        known_hosts = dir.join("known_hosts").display(),
    );
    let config = dir.join("ssh_config");
    fs::write(&config, ssh_config).unwrap();
    config
}

#[test]
fn hosts_over_ssh() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ready = binaries().and_then(|_| can_make_namespaces()).and_then(|()| openssh());
    if let Err(why) = ready {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("hosts_over_ssh cannot run under CI=true: {why}");
        }
        return skip("hosts_over_ssh", &why);
    }
    let dir = temp_dir("ssh");
    let prefix = format!("rsh{}", std::process::id());
    let _guard = Namespaces(prefix.clone());
    let ssh_config = hosts(&prefix, &dir);
    let srv = format!("{prefix}-srv");
    let clients = [format!("{prefix}-c1"), format!("{prefix}-c2")];
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    // The script in the server namespace, its clients on `hosts`, each run's
    // remote files under `dir/<remote>` (a name with a space).
    let script = |hosts: &str, remote: &str, out: &str| {
        let mut command = Command::new("ip");
        command
            // SIGINT at its default: a test run started in the background
            // of a non-interactive shell (`cargo test &`) inherits it
            // ignored, and bash cannot trap a signal ignored on entry, so
            // part 2's Ctrl-C would go unheard. `ip netns exec` and `env`
            // exec, so the script keeps the pid the test signals.
            .args(["netns", "exec", &srv, "env", "--default-signal=INT"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/multi-client.sh"))
            .args(["--hosts", hosts, "--server-addr", SERVER_ADDR, "--start-in", "2"])
            .arg("--ssh-config")
            .arg(&ssh_config)
            .arg("--remote-loadgen")
            .arg(bin_dir().join("ringside-loadgen"))
            .arg("--remote-dir")
            .arg(dir.join(remote))
            .arg("--bin-dir")
            .arg(bin_dir())
            .args([
                "--server-cores",
                if pin { "0" } else { "" },
                "--client-cores",
                if pin { "1" } else { "" },
            ])
            .arg("--out")
            .arg(dir.join(out));
        command
    };

    // 1. A short run, its run id with spaces and both quotes: it reaches
    // every load generator as one word, as given.
    let run_id = r#"x y 'q' "d" $HOME"#;
    let out = script("c1,c2", "remote 1", "run")
        .args(["--", "-c", "2", "--duration", "1s", "--warmup", "200ms", "--no-calibrate", "-q"])
        .args(["--run-id", run_id])
        .output()
        .expect("run scripts/multi-client.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("merged: "), "{stdout}");
    let fetched = [dir.join("run/client-1.csv"), dir.join("run/client-2.csv")];
    check_merged(&fetched, &dir.join("run/merged.csv"));
    for (i, csv) in fetched.iter().enumerate() {
        let row = &results::read(csv).unwrap()[0];
        assert_eq!(row.run_id, run_id);
        // Written on the far side, copied back whole by scp.
        assert!(row.hlog.starts_with(dir.join("remote 1").to_str().unwrap()), "{}", row.hlog);
        let copy = dir.join(format!("run/client-{}.hlog", i + 1));
        assert_eq!(fs::read(&row.hlog).unwrap(), fs::read(copy).unwrap());
        assert_eq!(remote_row(&dir.join("remote 1"), i as u32 + 1).requests, row.requests);
    }
    assert_eq!(results::read(&dir.join("run/merged.csv")).unwrap()[0].run_id, run_id);

    // 2. Ctrl-C: a 30 s window, SIGINT to the script once both load
    // generators have reported a second of load.
    let mut child = script("c1,c2", "remote 2", "interrupted")
        .args(["--", "-c", "2", "--duration", "30s", "--no-calibrate"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scripts/multi-client.sh");
    // Their progress lines come back through ssh into logs the script
    // writes, not through a pipe this test holds, so this looks every 50 ms.
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 1..=2 {
        let log = dir.join(format!("interrupted/client-{i}.log"));
        while !fs::read_to_string(&log).unwrap_or_default().contains(" req/s") {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "load generator {i} reported no load: {}{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let interrupted = Instant::now();
    run("kill", &["-INT", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    let took = interrupted.elapsed();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for ns in &clients {
        assert_eq!(loadgens(ns), [], "load generators left in {ns} after SIGINT");
    }
    assert_eq!(processes(&srv), [], "processes left in the server namespace after SIGINT");
    // The window had more than 25 s to go; the script gives the ssh
    // sessions 10 s to end before it stops them itself.
    assert!(took < Duration::from_secs(10), "the script took {took:?} to stop");
    for i in 1..=2 {
        // Stopped by the wrapper's SIGTERM, each kept what it had measured.
        let row = remote_row(&dir.join("remote 2"), i);
        assert!(!row.complete && row.duration_s < 29.0, "client {i}: {row:?}");
    }

    // 3. A host that cannot be reached: named, and no load started.
    let out = script("c1,unreachable", "remote 3", "unreachable")
        .args(["--", "-c", "2", "--duration", "1s", "--no-calibrate", "-q"])
        .output()
        .expect("run scripts/multi-client.sh");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("host unreachable (client 2) cannot be reached"), "{stderr}");
    assert!(!stdout.contains("load generators against"), "load started: {stdout}");
    let made: Vec<_> =
        fs::read_dir(dir.join("unreachable")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(made, Vec::<std::ffi::OsString>::new(), "no client output");
    assert_eq!(loadgens(&clients[0]), []);
    assert_eq!(processes(&srv), [], "processes left in the server namespace");

    drop(_guard);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&prefix), "namespaces left");
    let _ = fs::remove_dir_all(dir);
}

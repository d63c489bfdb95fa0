//! The load generator against a server that is not ringside's: nginx
//! (Debian's package), started by the test on a free port with one worker.
//! Its answers come in every framing a real server uses, and the load
//! generator must count them right: a gzip-compressed body in chunks, a 404
//! for every request, and a `Connection: close` after every answer.
//!
//! Without nginx the tests print `SKIPPED`; under `CI=true` (which installs
//! it) they fail instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use loadgen::args::RunArgs;
use loadgen::measured::Report;

/// One test at a time: they share two CPUs.
static SERIAL: Mutex<()> = Mutex::new(());

/// A running nginx, stopped when dropped.
struct Nginx {
    dir: PathBuf,
    port: u16,
}

const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    /// nginx on a free port of 127.0.0.1, or why not. With `daemon on` its
    /// first process exits once the listening socket is open, so waiting for
    /// it is waiting for readiness.
    fn start(test: &str) -> Option<Nginx> {
        if !Path::new(NGINX).is_file() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but nginx is not installed");
            let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: no {NGINX} (apt-get install nginx)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("ringside-nginx-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("html")).unwrap();
        // A text body large enough for gzip to compress in chunks.
        let text: String = (0..2000).map(|i| format!("line {i} of a body nginx compresses\n")).collect();
        std::fs::write(dir.join("html/text.txt"), text).unwrap();
        let user = if nix_is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        location = /chunked {{
            default_type text/plain;
            gzip on; gzip_min_length 1; gzip_types text/plain;
            try_files /text.txt =404;
        }}
        location = /close {{
            keepalive_timeout 0;
            return 200 \"closing\\n\";
        }}
        location = /ok {{
            return 200 \"ok\\n\";
        }}
    }}
}}
",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let prefix = format!("{}/", dir.display());
        let out = Command::new(NGINX)
            .args(["-p", &prefix, "-c", "nginx.conf", "-e", "error.log"])
            .output()
            .expect("run nginx");
        assert!(
            out.status.success(),
            "nginx did not start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        Some(Nginx { dir, port })
    }

    fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// One request by hand: the answer's head.
    fn head(&self, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.split("\r\n\r\n").next().unwrap_or("").to_string()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let prefix = format!("{}/", self.dir.display());
        let _ = Command::new(NGINX)
            .args(["-p", &prefix, "-c", "nginx.conf", "-e", "error.log", "-s", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn run(argv: &[&str]) -> Report {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let mut all = vec![
        "x",
        "--no-server-counters",
        "--no-calibrate",
        "--quiet",
        "-c",
        "4",
        "--warmup",
        "100ms",
        "-d",
        "1s",
    ];
    all.extend(argv);
    let args = Cli::parse_from(all).run;
    loadgen::run::run(&args, Arc::new(AtomicBool::new(false))).expect("the run")
}

#[test]
fn chunked_bodies_404s_and_closed_connections_are_counted_right() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(nginx) = Nginx::start("interop") else { return };

    // gzip makes nginx send the body in chunks; the Host header is the name
    // given, which nginx echoes nowhere, so check the framing by hand.
    let head = nginx.head("GET /chunked HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    for io in ["epoll", "io-uring"] {
        let r = run(&[&nginx.url("/chunked"), "-H", "Accept-Encoding: gzip", "--io", io]);
        assert!(r.completed > 100, "--io {io}: {} answers", r.completed);
        assert_eq!(r.errors.total(), 0, "--io {io}: {:?}; notes {:?}", r.errors, r.notes);
        assert!(r.incomplete.is_none(), "{:?}", r.incomplete);
    }

    // Every answer a 404: counted by class, none an answer.
    let r = run(&[&nginx.url("/missing"), "--io", "epoll"]);
    assert_eq!(r.completed, 0, "a 404 is not an answer");
    assert!(r.errors.http_4xx > 100, "{:?}", r.errors);
    assert_eq!(r.errors.total(), r.errors.http_4xx, "{:?}", r.errors);
    assert_eq!(r.achieved_rate(), 0.0);

    // Connection: close after every answer: each is answered, and the
    // connection opened again.
    assert!(nginx.head("GET /close HTTP/1.1\r\nHost: x\r\n\r\n").contains("Connection: close"));
    for io in ["epoll", "io-uring"] {
        let r = run(&[&nginx.url("/close"), "--io", io]);
        assert!(r.completed > 100, "--io {io}: {} answers", r.completed);
        assert_eq!(r.errors.total(), 0, "--io {io}: {:?}", r.errors);
        assert!(
            r.reconnects + 4 >= r.completed,
            "--io {io}: {} reconnects for {} answers",
            r.reconnects,
            r.completed
        );
    }
}

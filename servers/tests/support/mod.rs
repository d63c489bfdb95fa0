//! What conformance tests share: a real `ringside-server` process on a free
//! port, and small blocking clients for each protocol.
//!
//! Nothing here sleeps to wait for readiness: [`Server::start`] returns when
//! the server has printed `listening on`. Every socket has timeouts and every
//! server is killed on drop, so a broken backend fails a test instead of
//! hanging it.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use platform::server::ServerProcess;
use protocol::Stats;
use protocol::rr::{REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader, ResponseKind};

/// Longest any single socket operation may block in a test.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to announce itself, or to stop.
const SERVER_WAIT: Duration = Duration::from_secs(20);

/// A running server, through [`ServerProcess`]; killed when dropped, its
/// stderr shown if the test fails.
pub(crate) struct Server {
    process: ServerProcess,
    pub(crate) addr: SocketAddr,
    /// Where `--stats-listen` serves the counters.
    pub(crate) stats_addr: SocketAddr,
}

impl Server {
    /// Start `ringside-server` with `args` (which must include `--backend`
    /// and `--protocol`) on a free loopback port, with its counters on
    /// another; return once it listens.
    pub(crate) fn start(args: &[&str]) -> Server {
        Self::start_limited(args, None)
    }

    /// [`start`](Self::start) with at most `max_fds` open descriptors
    /// (`RLIMIT_NOFILE`, set with util-linux's `prlimit`).
    pub(crate) fn start_limited(args: &[&str], max_fds: Option<u32>) -> Server {
        let server = env!("CARGO_BIN_EXE_ringside-server");
        let mut command = match max_fds {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}")).arg(server);
                c
            }
            None => Command::new(server),
        };
        command.args(args).args(["--listen", "127.0.0.1:0", "--stats-listen", "127.0.0.1:0"]);
        let mut process = ServerProcess::spawn(command).expect("spawn ringside-server");
        let announced = process
            .wait_ready(SERVER_WAIT)
            .unwrap_or_else(|e| panic!("ringside-server {args:?} did not start: {e}"));
        let stats_addr = announced.stats.unwrap_or_else(|| {
            panic!("ringside-server {args:?} printed `listening on` but no `stats on` line")
        });
        Server { process, addr: announced.listen, stats_addr }
    }

    /// The counters now, from `--stats-listen`.
    pub(crate) fn stats(&self) -> Stats {
        let mut s = TcpStream::connect(self.stats_addr).expect("connect to --stats-listen");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let r = http_read(&mut BufReader::new(s), false);
        Stats::from_json(&r.body).expect("counters as JSON")
    }

    /// Poll the counters until `done` holds (the server handles a client's
    /// close or reset on its own schedule); panic after 20 s with the last
    /// counters.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A connection with timeouts set.
    pub(crate) fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    /// SIGTERM the server; return the counters it prints on its way out,
    /// after checking that it printed nothing else and exited 0.
    pub(crate) fn stop(self) -> Stats {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    /// [`stop`](Self::stop) with another signal.
    pub(crate) fn stop_with(mut self, signal: nix::sys::signal::Signal) -> Stats {
        let stopped = self.process.stop_with(signal, SERVER_WAIT);
        assert!(stopped.unexpected.is_empty(), "unexpected stdout lines {:?}", stopped.unexpected);
        let stats = stopped.stats.expect("a `stopped:` line with the counters after the signal");
        let status = stopped.status.expect("the server exits after the signal");
        assert!(status.success(), "server exited with {status}");
        stats
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.kill();
        if std::thread::panicking() {
            let stderr = self.process.stderr();
            eprintln!("--- server stderr ---\n{stderr}--- end of server stderr ---");
        }
    }
}

/// Close with a reset (SO_LINGER 0) instead of a FIN.
pub(crate) fn reset(stream: TcpStream) {
    let socket = socket2::Socket::from(stream);
    socket.set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(socket);
}

/// Read until the peer closes; return what came.
pub(crate) fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("read until the server closes");
    rest
}

/// Deterministic test bytes: different for every (seed, offset).
pub(crate) fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---- rr ----

/// An rr request frame: header and `payload_len` payload bytes.
pub(crate) fn rr_frame(header: RequestHeader) -> Vec<u8> {
    let mut v = header.encode().to_vec();
    v.extend(bytes(header.id, header.payload_len as usize));
    v
}

/// Read one rr response; return its header and payload.
pub(crate) fn rr_read(stream: &mut impl Read) -> (ResponseHeader, Vec<u8>) {
    let mut head = [0u8; RESPONSE_HEADER_LEN];
    stream.read_exact(&mut head).expect("an rr response header");
    let header = ResponseHeader::decode(&head).expect("a valid rr response header");
    let mut payload = vec![0u8; header.payload_len as usize];
    stream.read_exact(&mut payload).expect("the rr response payload");
    (header, payload)
}

/// Read one rr response and check it answers request `id` with `len` bytes
/// of the payload pattern.
pub(crate) fn rr_expect(stream: &mut impl Read, id: u64, len: u32) {
    let (h, payload) = rr_read(stream);
    assert_eq!((h.kind, h.id, h.payload_len), (ResponseKind::Response, id, len), "rr response header");
    assert!(protocol::rr::payload_matches(0, &payload), "rr payload pattern of response {id}");
}

/// Read one rr ERROR frame with `code`, then the end of the stream; then
/// close, as a client would.
pub(crate) fn rr_expect_error(mut stream: TcpStream, code: u16) {
    let stream = &mut stream;
    let (h, message) = rr_read(stream);
    assert_eq!((h.kind, h.code), (ResponseKind::Error, code), "rr error frame");
    assert!(std::str::from_utf8(&message).is_ok_and(|m| !m.is_empty()), "error message text");
    assert_eq!(read_to_eof(stream), b"", "nothing after the error frame");
}

/// One rr round trip (no payload, `len`-byte response).
pub(crate) fn rr_round_trip(stream: &mut TcpStream, id: u64, len: u32) {
    let h = RequestHeader { response_len: len, ..RequestHeader::request(id) };
    stream.write_all(&h.encode()).expect("send rr request");
    rr_expect(stream, id, len);
}

/// Bytes a request frame of `payload_len` occupies on the wire.
pub(crate) fn rr_request_bytes(payload_len: u32) -> u64 {
    (REQUEST_HEADER_LEN + payload_len as usize) as u64
}

/// Bytes a response of `len` occupies on the wire.
pub(crate) fn rr_response_bytes(len: u32) -> u64 {
    (RESPONSE_HEADER_LEN + len as usize) as u64
}

// ---- http ----

/// The exact answer to a keep-alive GET.
pub(crate) const HTTP_OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Read one HTTP response (head, then a Content-Length body unless `head_only`).
pub(crate) fn http_read(stream: &mut impl BufRead, head_only: bool) -> HttpResponse {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = stream.read_line(&mut line).expect("an HTTP response line");
        assert!(n > 0, "connection closed inside a response head: {head:?}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status =
        head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {head:?}"));
    let mut response = HttpResponse { status, head, body: Vec::new() };
    if !head_only {
        let len: usize = response.header("Content-Length").expect("Content-Length").parse().unwrap();
        response.body = vec![0; len];
        stream.read_exact(&mut response.body).expect("the HTTP body");
    }
    response
}

/// Read one keep-alive `Hello, World!` response.
pub(crate) fn http_expect_ok(stream: &mut impl BufRead) {
    let r = http_read(stream, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]), "{}", r.head);
    assert_eq!(r.header("Connection"), None, "keep-alive responses carry no Connection header");
}

/// GET /stats on a fresh connection.
pub(crate) fn http_stats(server: &Server) -> Stats {
    let mut s = server.connect();
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").unwrap();
    let r = http_read(&mut BufReader::new(s), false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    Stats::from_json(&r.body).expect("stats JSON")
}

/// Why `args` cannot run on this kernel (the server exits with
/// `platform::exit::UNSUPPORTED` and says why), or `None` if it can. Asked
/// once per set of arguments.
pub(crate) fn unsupported(args: &[&str]) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<Vec<String>, Option<String>>>> = Mutex::new(None);
    let key: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    cache
        .entry(key)
        .or_insert_with(|| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_ringside-server"));
            command.args(args).args(["--protocol", "echo", "--listen", "127.0.0.1:0"]);
            let mut process = ServerProcess::spawn(command).expect("spawn ringside-server");
            // Unsupported: this kernel cannot run it. Anything else (it
            // runs, or fails otherwise) is for the tests themselves to
            // report; the server is killed when `process` is dropped.
            match process.wait_ready(SERVER_WAIT) {
                Err(e) if e.unsupported() => Some(e.stderr().trim().lines().last().unwrap_or("").to_string()),
                _ => None,
            }
        })
        .clone()
}

/// Say that a test was skipped and why, where it is seen: libtest captures
/// `eprintln!` of passing tests, but not writes to the stderr handle itself.
pub(crate) fn skipped(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

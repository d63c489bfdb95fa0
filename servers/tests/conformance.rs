//! The conformance suite: one set of tests, run unchanged against every
//! backend, proving each serves the protocol core correctly under
//! concurrency, backpressure and bad input, and counts what it served.
//!
//! To add a backend, add one line to the `conformance!` invocation below.
//! Each test starts its own `ringside-server` on a free port.

mod support;

/// Instantiate every suite test for each listed backend.
macro_rules! conformance {
    ($($module:ident: [$($arg:literal),*];)+) => {$(
        mod $module {
            use super::support;
            /// `--backend NAME` plus the flags this instance runs with.
            const ARGS: &[&str] = &[$($arg),*];
            conformance!(@tests
                echo_one_connection, echo_200_connections, echo_large_payloads_slow_reader,
                echo_backpressure, echo_pipelining, echo_half_close, echo_reset_mid_stream,
                rr_one_connection, rr_200_connections, rr_large_frames_slow_reader, rr_pipelining,
                rr_half_close, rr_eof_mid_request, rr_reset_mid_request, rr_garbage, rr_oversized_frames,
                rr_work, rr_stats,
                http_one_connection, http_200_connections, http_pipelining_slow_reader, http_half_close,
                http_eof_mid_request, http_reset_mid_request, http_malformed_requests, http_oversized,
                http_connection_close, http_stats,
                request_work, stop_signals, out_of_descriptors
            );
        }
    )+};
    (@tests $($test:ident),*) => {$(
        #[test]
        fn $test() {
            if let Some(reason) = support::unsupported(ARGS) {
                support::skipped(&format!("{}::{}", module_path!(), stringify!($test)), &reason);
                return;
            }
            super::suite::$test(ARGS)
        }
    )*};
}

conformance! {
    thread_per_conn: ["--backend", "thread-per-conn"];
    // More workers than the suite's 200 concurrent connections: the suite
    // checks correctness at equal concurrency; queueing is tested below.
    thread_pool: ["--backend", "thread-pool", "--threads", "256"];
    epoll: ["--backend", "epoll"];
    epoll_2_loops: ["--backend", "epoll", "--threads", "2"];
    io_uring: ["--backend", "io-uring"];
    io_uring_2_rings: ["--backend", "io-uring", "--threads", "2"];
    io_uring_no_multishot: ["--backend", "io-uring", "--no-multishot-accept", "--no-multishot-recv"];
    io_uring_no_buf_ring: ["--backend", "io-uring", "--no-buf-ring"];
    io_uring_classic: ["--backend", "io-uring", "--no-defer-taskrun", "--no-batching"];
    io_uring_sqpoll: ["--backend", "io-uring", "--sqpoll"];
    io_uring_fixed_files: ["--backend", "io-uring", "--fixed-files"];
    io_uring_zc_send: ["--backend", "io-uring", "--zc-send", "1"];
    tokio_uring: ["--backend", "tokio-uring", "--threads", "2"];
    tokio_current_thread: ["--backend", "tokio", "--runtime", "current-thread", "--threads", "2"];
    tokio_multi_thread: ["--backend", "tokio", "--runtime", "multi-thread", "--threads", "2"];
}

mod suite {
    use std::io::{BufReader, Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::thread;
    use std::time::{Duration, Instant};

    use protocol::rr::{RequestHeader, ResponseKind};
    use protocol::{Stats, Work};

    use super::support::*;

    fn start(backend: &[&str], protocol: &str, extra: &[&str]) -> Server {
        let mut args = backend.to_vec();
        args.extend(["--protocol", protocol]);
        args.extend(extra);
        Server::start(&args)
    }

    /// What a test expects of the counters once every connection has
    /// closed: exactly what it sent.
    struct Expect {
        accepted: u64,
        requests: u64,
        bytes_in: u64,
        bytes_out: u64,
        /// Connections closed by a protocol error or truncated request.
        errors: u64,
    }

    fn finish(server: Server, backend: &[&str], protocol: &str, e: Expect) -> Stats {
        let stats = server.wait_for("every connection to close", |s| s.conns_open == 0);
        let final_stats = server.stop();
        for s in [&stats, &final_stats] {
            assert_eq!(s.backend, backend[1], "backend name");
            assert_eq!(s.protocol, protocol);
            assert_eq!(s.conns_accepted, e.accepted, "connections accepted: {s:?}");
            assert_eq!(s.conns_open, 0, "connections open: {s:?}");
            assert_eq!(s.conns_closed_error, e.errors, "connections closed on error: {s:?}");
            assert_eq!(s.conns_reset, 0, "connections reset: {s:?}");
            assert_eq!(s.requests, e.requests, "requests: {s:?}");
            assert_eq!(s.bytes_in, e.bytes_in, "bytes in: {s:?}");
            assert_eq!(s.bytes_out, e.bytes_out, "bytes out: {s:?}");
        }
        final_stats
    }

    /// Run `f` on every stream at once, one thread each.
    fn on_each(streams: Vec<TcpStream>, f: impl Fn(usize, TcpStream) + Sync) {
        thread::scope(|scope| {
            for (i, s) in streams.into_iter().enumerate() {
                let f = &f;
                scope.spawn(move || f(i, s));
            }
        });
    }

    /// Close our side and check the server closes its side with nothing more.
    fn close(mut s: TcpStream) {
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_eof(&mut s), b"", "nothing after the last response");
    }

    // ---------------- echo ----------------

    fn echo_round_trip(s: &mut TcpStream, msg: &[u8]) {
        s.write_all(msg).unwrap();
        let mut back = vec![0; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert!(back == msg, "echo of {} bytes differs", msg.len());
    }

    pub(super) fn echo_one_connection(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let mut s = server.connect();
        let mut sent = 0;
        for (i, len) in [1, 2, 100, 1460, 1461, 65_536].into_iter().enumerate() {
            echo_round_trip(&mut s, &bytes(i as u64, len));
            sent += len as u64;
        }
        let every_byte: Vec<u8> = (0..=255).collect();
        echo_round_trip(&mut s, &every_byte);
        sent += 256;
        close(s);
        finish(
            server,
            b,
            "echo",
            Expect { accepted: 1, requests: 0, bytes_in: sent, bytes_out: sent, errors: 0 },
        );
    }

    pub(super) fn echo_200_connections(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let streams: Vec<_> = (0..200).map(|_| server.connect()).collect();
        on_each(streams, |i, mut s| {
            for round in 0..20 {
                echo_round_trip(&mut s, &bytes((i * 100 + round) as u64, 100));
            }
            close(s);
        });
        let n = 200 * 20 * 100;
        finish(
            server,
            b,
            "echo",
            Expect { accepted: 200, requests: 0, bytes_in: n, bytes_out: n, errors: 0 },
        );
    }

    /// A connection whose receive window stays small, so the server's sends
    /// block and backpressure reaches the writer.
    fn small_window(server: &Server) -> TcpStream {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(8 * 1024).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        let s: TcpStream = socket.into();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    /// Read `want.len()` bytes in small, paced reads and compare as they come.
    fn read_slowly(s: &mut TcpStream, want: &[u8]) {
        let mut got = 0;
        let mut buf = [0u8; 4096];
        let mut reads = 0u32;
        while got < want.len() {
            let n = s.read(&mut buf[..(want.len() - got).min(4096)]).unwrap();
            assert!(n > 0, "stream ended after {got} of {} bytes", want.len());
            assert!(buf[..n] == want[got..got + n], "bytes {got}..{} differ", got + n);
            got += n;
            reads += 1;
            if reads.is_multiple_of(16) {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }

    pub(super) fn echo_large_payloads_slow_reader(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let sizes = [1, 1000, 65_537, 1 << 20, 4 << 20];
        for (i, &len) in sizes.iter().enumerate() {
            let msg = bytes(1000 + i as u64, len);
            let mut s = small_window(&server);
            let mut writer = s.try_clone().unwrap();
            thread::scope(|scope| {
                scope.spawn(|| {
                    writer.write_all(&msg).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                read_slowly(&mut s, &msg);
            });
            assert_eq!(read_to_eof(&mut s), b"");
        }
        let n: u64 = sizes.iter().sum::<usize>() as u64;
        finish(server, b, "echo", Expect { accepted: 5, requests: 0, bytes_in: n, bytes_out: n, errors: 0 });
    }

    pub(super) fn echo_pipelining(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let mut s = server.connect();
        let msgs: Vec<Vec<u8>> = (0..100).map(|i| bytes(i, 50)).collect();
        for m in &msgs {
            s.write_all(m).unwrap();
        }
        let mut back = vec![0; 5000];
        s.read_exact(&mut back).unwrap();
        assert!(back == msgs.concat());
        close(s);
        finish(
            server,
            b,
            "echo",
            Expect { accepted: 1, requests: 0, bytes_in: 5000, bytes_out: 5000, errors: 0 },
        );
    }

    pub(super) fn echo_half_close(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let mut s = server.connect();
        let msg = bytes(7, 100_000);
        let mut writer = s.try_clone().unwrap();
        thread::scope(|scope| {
            scope.spawn(|| {
                writer.write_all(&msg).unwrap();
                writer.shutdown(Shutdown::Write).unwrap();
            });
            assert!(read_to_eof(&mut s) == msg, "everything sent before the half-close comes back");
        });
        finish(
            server,
            b,
            "echo",
            Expect { accepted: 1, requests: 0, bytes_in: 100_000, bytes_out: 100_000, errors: 0 },
        );
    }

    pub(super) fn echo_reset_mid_stream(b: &[&str]) {
        let server = start(b, "echo", &[]);
        let mut s = server.connect();
        echo_round_trip(&mut s, b"before");
        s.write_all(b"unread").unwrap();
        reset(s);
        server.wait_for("the reset connection to be accepted and closed", |s| {
            s.conns_accepted == 1 && s.conns_open == 0
        });
        let mut s = server.connect();
        echo_round_trip(&mut s, b"after");
        close(s);
        let stats = finish_counts(server);
        assert_eq!(
            (stats.conns_accepted, stats.conns_reset, stats.conns_closed_error),
            (2, 1, 0),
            "{stats:?}"
        );
    }

    /// Write without reading until the server pushes back: it must stop
    /// reading once its answers cannot be sent, not buffer them without
    /// bound. Then every byte still comes back, in order.
    pub(super) fn echo_backpressure(b: &[&str]) {
        const CHUNK: usize = 64 * 1024;
        const GIVE_UP: usize = 256 << 20;
        let server = start(b, "echo", &[]);
        let mut s = small_window(&server);
        s.set_nonblocking(true).unwrap();
        let mut sent = Vec::new();
        let mut blocked_since: Option<Instant> = None;
        // Stalled: writes refused for 200 ms on end (the server may be slow
        // to fill its buffers, never endlessly so).
        while blocked_since.is_none_or(|t| t.elapsed() < Duration::from_millis(200)) {
            assert!(
                sent.len() < GIVE_UP,
                "wrote {GIVE_UP} bytes without reading and the server never pushed back"
            );
            let chunk = bytes(sent.len() as u64, CHUNK);
            match s.write(&chunk) {
                Ok(n) => {
                    sent.extend_from_slice(&chunk[..n]);
                    blocked_since = None;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    blocked_since.get_or_insert_with(Instant::now);
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        // A server that buffers without bound lets the client write all
        // GIVE_UP bytes (above). A bounded one still holds some input: a
        // blocking backend one buffer, an io-uring multishot recv whatever
        // arrives before its cancel is processed (with SQPOLL on a starved
        // CPU, that can be megabytes). 4 MiB is the size of a default buffer
        // ring.
        let stats = server.stats();
        let held = stats.bytes_in - stats.bytes_out;
        assert!(
            held <= 4 << 20,
            "the server read {held} bytes more than it sent back while the client was not reading \
             (sent {} in all): it buffers without bound",
            sent.len()
        );
        s.set_nonblocking(false).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        read_slowly(&mut s, &sent);
        assert_eq!(read_to_eof(&mut s), b"");
        let n = sent.len() as u64;
        finish(server, b, "echo", Expect { accepted: 1, requests: 0, bytes_in: n, bytes_out: n, errors: 0 });
    }

    // ---------------- rr ----------------

    pub(super) fn rr_one_connection(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        let cases = [(0, 0), (1, 1), (100, 0), (0, 100), (1460, 1461), (65_536, 65_536), (1 << 20, 1 << 20)];
        let (mut bytes_in, mut bytes_out) = (0, 0);
        for (i, (payload_len, response_len)) in cases.into_iter().enumerate() {
            let id = u64::MAX - i as u64;
            s.write_all(&rr_frame(RequestHeader { payload_len, response_len, ..RequestHeader::request(id) }))
                .unwrap();
            rr_expect(&mut s, id, response_len);
            bytes_in += rr_request_bytes(payload_len);
            bytes_out += rr_response_bytes(response_len);
        }
        close(s);
        let n = cases.len() as u64;
        finish(server, b, "rr", Expect { accepted: 1, requests: n, bytes_in, bytes_out, errors: 0 });
    }

    pub(super) fn rr_200_connections(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let streams: Vec<_> = (0..200).map(|_| server.connect()).collect();
        on_each(streams, |i, mut s| {
            for round in 0..20 {
                rr_round_trip(&mut s, (i * 1000 + round) as u64, 64);
            }
            close(s);
        });
        let n = 200 * 20;
        finish(
            server,
            b,
            "rr",
            Expect {
                accepted: 200,
                requests: n,
                bytes_in: n * rr_request_bytes(0),
                bytes_out: n * rr_response_bytes(64),
                errors: 0,
            },
        );
    }

    pub(super) fn rr_large_frames_slow_reader(b: &[&str]) {
        let max = (4 << 20).to_string();
        let server = start(b, "rr", &["--max-frame", &max]);
        let sizes: [u32; 5] = [1, 1000, 65_537, 1 << 20, 4 << 20];
        let mut s = small_window(&server);
        let mut writer = s.try_clone().unwrap();
        thread::scope(|scope| {
            scope.spawn(|| {
                // All requests pipelined, each with a payload as large as its
                // response, while the reader lags behind.
                for (i, &len) in sizes.iter().enumerate() {
                    let h = RequestHeader {
                        payload_len: len,
                        response_len: len,
                        ..RequestHeader::request(i as u64)
                    };
                    writer.write_all(&rr_frame(h)).unwrap();
                }
            });
            for (i, &len) in sizes.iter().enumerate() {
                let mut want = protocol::rr::ResponseHeader {
                    kind: ResponseKind::Response,
                    code: 0,
                    payload_len: len,
                    id: i as u64,
                }
                .encode()
                .to_vec();
                want.extend((0..len).map(|b| b as u8));
                read_slowly(&mut s, &want);
            }
        });
        close(s);
        let bytes_in = sizes.iter().map(|&l| rr_request_bytes(l)).sum();
        let bytes_out = sizes.iter().map(|&l| rr_response_bytes(l)).sum();
        finish(server, b, "rr", Expect { accepted: 1, requests: 5, bytes_in, bytes_out, errors: 0 });
    }

    pub(super) fn rr_pipelining(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        let batch: Vec<u8> = (0..100u64)
            .flat_map(|id| {
                rr_frame(RequestHeader { payload_len: 10, response_len: 20, ..RequestHeader::request(id) })
            })
            .collect();
        s.write_all(&batch).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for id in 0..100 {
            rr_expect(&mut r, id, 20);
        }
        close(s);
        finish(
            server,
            b,
            "rr",
            Expect {
                accepted: 1,
                requests: 100,
                bytes_in: 100 * rr_request_bytes(10),
                bytes_out: 100 * rr_response_bytes(20),
                errors: 0,
            },
        );
    }

    pub(super) fn rr_half_close(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        for id in 0..10 {
            s.write_all(&rr_frame(RequestHeader { response_len: 100, ..RequestHeader::request(id) }))
                .unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        let rest = read_to_eof(&mut s);
        let mut r = &rest[..];
        for id in 0..10 {
            rr_expect(&mut r, id, 100);
        }
        assert!(r.is_empty(), "nothing after the last response");
        finish(
            server,
            b,
            "rr",
            Expect {
                accepted: 1,
                requests: 10,
                bytes_in: 10 * rr_request_bytes(0),
                bytes_out: 10 * rr_response_bytes(100),
                errors: 0,
            },
        );
    }

    pub(super) fn rr_reset_mid_request(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        rr_round_trip(&mut s, 1, 8);
        let frame = rr_frame(RequestHeader { payload_len: 1000, ..RequestHeader::request(2) });
        s.write_all(&frame[..500]).unwrap();
        reset(s);
        server.wait_for("the reset connection to be accepted and closed", |s| {
            s.conns_accepted == 1 && s.conns_open == 0
        });
        let mut s = server.connect();
        rr_round_trip(&mut s, 3, 8);
        close(s);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.requests), (2, 2));
        assert_eq!((stats.conns_reset, stats.conns_closed_error), (1, 0), "{stats:?}");
    }

    /// The client ends its stream in the middle of a request: nothing is
    /// answered for the fragment, and the close counts as an error.
    pub(super) fn rr_eof_mid_request(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        let frame = rr_frame(RequestHeader { payload_len: 100, ..RequestHeader::request(1) });
        let mut input = rr_frame(RequestHeader::request(0));
        input.extend_from_slice(&frame[..50]);
        s.write_all(&input).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let rest = read_to_eof(&mut s);
        let mut r = &rest[..];
        rr_expect(&mut r, 0, 0);
        assert!(r.is_empty(), "nothing is answered for a truncated request");
        finish(
            server,
            b,
            "rr",
            Expect {
                accepted: 1,
                requests: 1,
                bytes_in: input.len() as u64,
                bytes_out: rr_response_bytes(0),
                errors: 1,
            },
        );
    }

    pub(super) fn rr_garbage(b: &[&str]) {
        let server = start(b, "rr", &[]);
        // Text where a frame should be: refused at its first byte.
        let mut s = server.connect();
        let mut sent = 0;
        let text = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        s.write_all(text).unwrap();
        sent += text.len();
        rr_expect_error(s, 1);
        // A valid request, then a frame of an unknown type: the first is
        // answered, then the error.
        let mut s = server.connect();
        let mut bad = RequestHeader::request(5).encode();
        bad[1] = 0x33;
        let mut input = rr_frame(RequestHeader::request(4));
        input.extend_from_slice(&bad);
        input.extend_from_slice(b"trailing bytes the server must discard");
        s.write_all(&input).unwrap();
        sent += input.len() + rr_request_bytes(0) as usize;
        rr_expect(&mut s, 4, 0);
        rr_expect_error(s, 2);
        // Others are still served.
        let mut s = server.connect();
        rr_round_trip(&mut s, 6, 3);
        close(s);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.conns_closed_error, stats.requests), (3, 2, 2), "{stats:?}");
        assert_eq!(stats.bytes_in, sent as u64, "every byte sent is read, discarded ones too");
    }

    /// Stop once every connection has closed; return the final counters.
    fn finish_counts(server: Server) -> Stats {
        server.wait_for("every connection to close", |s| s.conns_open == 0);
        server.stop()
    }

    pub(super) fn rr_oversized_frames(b: &[&str]) {
        let server = start(b, "rr", &["--max-frame", "1000"]);
        // A payload over --max-frame, with the payload actually sent: the
        // error frame must still reach the client (no reset).
        let mut s = server.connect();
        s.write_all(&rr_frame(RequestHeader { payload_len: 100_000, ..RequestHeader::request(1) })).unwrap();
        rr_expect_error(s, 4);
        let sent = rr_request_bytes(100_000) + rr_request_bytes(0) + rr_request_bytes(1000);
        // A response over --max-frame.
        let mut s = server.connect();
        s.write_all(&rr_frame(RequestHeader { response_len: 1001, ..RequestHeader::request(2) })).unwrap();
        rr_expect_error(s, 4);
        // At the bound is fine.
        let mut s = server.connect();
        s.write_all(&rr_frame(RequestHeader {
            payload_len: 1000,
            response_len: 1000,
            ..RequestHeader::request(3)
        }))
        .unwrap();
        rr_expect(&mut s, 3, 1000);
        close(s);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.conns_closed_error, stats.requests), (3, 2, 1), "{stats:?}");
        assert_eq!(stats.bytes_in, sent, "every byte sent is read, discarded ones too");
    }

    pub(super) fn rr_work(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        for (id, work, at_least) in [
            (1, Work::Spin { ns: 2_000_000 }, Duration::from_millis(2)),
            (2, Work::Sleep { us: 20_000 }, Duration::from_millis(20)),
        ] {
            let start = Instant::now();
            s.write_all(&rr_frame(RequestHeader { work: Some(work), ..RequestHeader::request(id) })).unwrap();
            rr_expect(&mut s, id, 0);
            assert!(start.elapsed() >= at_least, "{work:?} answered after {:?}", start.elapsed());
        }
        close(s);
        finish(
            server,
            b,
            "rr",
            Expect {
                accepted: 1,
                requests: 2,
                bytes_in: 2 * rr_request_bytes(0),
                bytes_out: 2 * rr_response_bytes(0),
                errors: 0,
            },
        );
    }

    pub(super) fn rr_stats(b: &[&str]) {
        let server = start(b, "rr", &[]);
        let mut s = server.connect();
        rr_round_trip(&mut s, 1, 10);
        s.write_all(&RequestHeader::stats(77).encode()).unwrap();
        let (h, json) = rr_read(&mut s);
        assert_eq!((h.kind, h.id), (ResponseKind::Stats, 77));
        let stats = Stats::from_json(&json).unwrap();
        assert_eq!(stats.backend, b[1]);
        assert_eq!((stats.requests, stats.conns_accepted, stats.conns_open), (1, 1, 1));
        assert_eq!(stats.bytes_in, 2 * rr_request_bytes(0), "the STATS request itself is counted in bytes");
        assert_eq!(stats.bytes_out, rr_response_bytes(10));
        assert!(stats.cpu_user_us + stats.cpu_sys_us > 0 && stats.threads > 0, "{stats:?}");
        assert_eq!(stats.pid, server.stats().pid);
        close(s);
        finish_counts(server);
    }

    // ---------------- http ----------------

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

    pub(super) fn http_one_connection(b: &[&str]) {
        let server = start(b, "http", &[]);
        let s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        w.write_all(GET).unwrap();
        http_expect_ok(&mut r);
        w.write_all(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let head = http_read(&mut r, true);
        assert_eq!((head.status, head.header("Content-Length")), (200, Some("13")));
        let body = bytes(1, 5000);
        w.write_all(
            format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        )
        .unwrap();
        w.write_all(&body).unwrap();
        http_expect_ok(&mut r);
        w.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let r10 = http_read(&mut r, false);
        assert_eq!((r10.status, r10.header("Connection")), (200, Some("keep-alive")));
        close(w);
        let stats = finish_counts(server);
        assert_eq!((stats.requests, stats.conns_closed_error, stats.conns_reset), (4, 0, 0), "{stats:?}");
    }

    pub(super) fn http_200_connections(b: &[&str]) {
        let server = start(b, "http", &[]);
        let streams: Vec<_> = (0..200).map(|_| server.connect()).collect();
        on_each(streams, |_, s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            for _ in 0..20 {
                w.write_all(GET).unwrap();
                http_expect_ok(&mut r);
            }
            close(w);
        });
        let n = 200 * 20;
        finish(
            server,
            b,
            "http",
            Expect {
                accepted: 200,
                requests: n,
                bytes_in: n * GET.len() as u64,
                bytes_out: n * HTTP_OK.len() as u64,
                errors: 0,
            },
        );
    }

    pub(super) fn http_pipelining_slow_reader(b: &[&str]) {
        let server = start(b, "http", &[]);
        let n = 20_000;
        let mut s = small_window(&server);
        let mut writer = s.try_clone().unwrap();
        thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..n / 100 {
                    writer.write_all(&GET.repeat(100)).unwrap();
                }
            });
            read_slowly(&mut s, &HTTP_OK.repeat(n).into_bytes());
        });
        close(s);
        let n = n as u64;
        finish(
            server,
            b,
            "http",
            Expect {
                accepted: 1,
                requests: n,
                bytes_in: n * GET.len() as u64,
                bytes_out: n * HTTP_OK.len() as u64,
                errors: 0,
            },
        );
    }

    pub(super) fn http_half_close(b: &[&str]) {
        let server = start(b, "http", &[]);
        let mut s = server.connect();
        s.write_all(&GET.repeat(10)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(String::from_utf8(read_to_eof(&mut s)).unwrap(), HTTP_OK.repeat(10));
        finish(
            server,
            b,
            "http",
            Expect {
                accepted: 1,
                requests: 10,
                bytes_in: 10 * GET.len() as u64,
                bytes_out: 10 * HTTP_OK.len() as u64,
                errors: 0,
            },
        );
    }

    pub(super) fn http_reset_mid_request(b: &[&str]) {
        let server = start(b, "http", &[]);
        let mut s = server.connect();
        s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\npartial").unwrap();
        reset(s);
        server.wait_for("the reset connection to be accepted and closed", |s| {
            s.conns_accepted == 1 && s.conns_open == 0
        });
        let s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        w.write_all(GET).unwrap();
        http_expect_ok(&mut r);
        close(w);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.requests), (2, 1));
        assert_eq!((stats.conns_reset, stats.conns_closed_error), (1, 0), "{stats:?}");
    }

    pub(super) fn http_eof_mid_request(b: &[&str]) {
        let server = start(b, "http", &[]);
        let mut input = GET.to_vec();
        input.extend_from_slice(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
        let mut s = server.connect();
        s.write_all(&input).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            String::from_utf8(read_to_eof(&mut s)).unwrap(),
            HTTP_OK,
            "only the whole request is answered"
        );
        finish(
            server,
            b,
            "http",
            Expect {
                accepted: 1,
                requests: 1,
                bytes_in: input.len() as u64,
                bytes_out: HTTP_OK.len() as u64,
                errors: 1,
            },
        );
    }

    /// Send `request`, expect `status` with `Connection: close`, then the end
    /// of the stream.
    fn http_expect_error(server: &Server, request: &[u8], status: u16) {
        let mut s = server.connect();
        s.write_all(request).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let response = http_read(&mut r, false);
        assert_eq!(response.status, status, "{:?}: {}", String::from_utf8_lossy(request), response.head);
        assert_eq!(response.header("Connection"), Some("close"));
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after an error response");
    }

    pub(super) fn http_malformed_requests(b: &[&str]) {
        let server = start(b, "http", &[]);
        let big_header = format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n", "x".repeat(9000));
        let cases: [(&[u8], u16); 6] = [
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400), // a TLS ClientHello
            (b"GET /\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n", 400),
            (b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", 405),
            (big_header.as_bytes(), 431),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ];
        let mut sent = GET.len();
        for (request, status) in cases {
            http_expect_error(&server, request, status);
            sent += request.len();
        }
        // The server still serves, and the errors were counted.
        let s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        w.write_all(GET).unwrap();
        http_expect_ok(&mut r);
        close(w);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.conns_closed_error, stats.requests), (7, 6, 1), "{stats:?}");
        assert_eq!(stats.bytes_in, sent as u64, "every byte sent is read, discarded ones too");
    }

    pub(super) fn http_oversized(b: &[&str]) {
        let server = start(b, "http", &["--max-frame", "1000"]);
        // The body is sent in full: the 413 must still arrive, not a reset.
        let body = vec![b'x'; 100_000];
        let mut request = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n".to_vec();
        request.extend_from_slice(&body);
        http_expect_error(&server, &request, 413);
        let mut at_bound = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n".to_vec();
        at_bound.extend_from_slice(&body[..1000]);
        let s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        w.write_all(&at_bound).unwrap();
        http_expect_ok(&mut r);
        close(w);
        let stats = finish_counts(server);
        assert_eq!((stats.conns_accepted, stats.conns_closed_error, stats.requests), (2, 1, 1), "{stats:?}");
        assert_eq!(stats.bytes_in, (request.len() + at_bound.len()) as u64, "the refused body is read too");
    }

    pub(super) fn http_connection_close(b: &[&str]) {
        let server = start(b, "http", &[]);
        let mut s = server.connect();
        // The request after `Connection: close` is never answered.
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
        let all = String::from_utf8(read_to_eof(&mut s)).unwrap();
        assert_eq!(
            all,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!"
        );
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let all = String::from_utf8(read_to_eof(&mut s)).unwrap();
        assert!(all.ends_with("Connection: close\r\n\r\nHello, World!"), "{all}");
        let stats = finish_counts(server);
        assert_eq!((stats.requests, stats.conns_closed_error, stats.conns_reset), (2, 0, 0), "{stats:?}");
    }

    pub(super) fn http_stats(b: &[&str]) {
        let server = start(b, "http", &[]);
        let s = server.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        w.write_all(GET).unwrap();
        http_expect_ok(&mut r);
        let stats = super::support::http_stats(&server);
        assert_eq!(stats.backend, b[1]);
        assert_eq!((stats.requests, stats.conns_accepted), (1, 2), "/stats is not a served request");
        assert_eq!(stats.protocol, "http");
        close(w);
        finish_counts(server);
    }
    // ---------------- added work ----------------

    /// `--request-work` is done for every rr and http request, and shown in
    /// the counters' options. Only a lower bound on time is checked (2 ms of
    /// spin cannot answer sooner), which a busy machine cannot break.
    pub(super) fn request_work(b: &[&str]) {
        let at_least = Duration::from_millis(2);
        for protocol in ["rr", "http"] {
            let server = start(b, protocol, &["--request-work", "spin:2000000ns"]);
            let options = server.stats().options;
            assert!(options.ends_with("request_work=spin:2000000ns"), "{protocol}: options `{options}`");
            let s = server.connect();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            for id in 1..=2 {
                let start = Instant::now();
                if protocol == "rr" {
                    w.write_all(&rr_frame(RequestHeader::request(id))).unwrap();
                    rr_expect(&mut r, id, 0);
                } else {
                    w.write_all(GET).unwrap();
                    http_expect_ok(&mut r);
                }
                let took = start.elapsed();
                assert!(took >= at_least, "{protocol}: request {id} answered after {took:?}");
            }
            close(w);
            let stats = finish_counts(server);
            assert_eq!((stats.requests, stats.conns_closed_error), (2, 0), "{protocol}: {stats:?}");
        }
    }

    // ---------------- runtime ----------------

    /// SIGINT and SIGTERM stop the server promptly even with a connection
    /// open, with its final counters.
    pub(super) fn stop_signals(b: &[&str]) {
        use nix::sys::signal::Signal;
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let server = start(b, "http", &[]);
            let s = server.connect();
            let mut r = BufReader::new(s.try_clone().unwrap());
            (&s).write_all(GET).unwrap();
            http_expect_ok(&mut r);
            let stats = server.stop_with(signal);
            assert_eq!((stats.backend.as_str(), stats.requests, stats.conns_open), (b[1], 1, 1), "{signal}");
        }
    }

    /// Out of descriptors (the server may hold 48): connections beyond that
    /// wait in the listen backlog, connections already accepted are still
    /// served, and once some close the waiting ones are accepted and served.
    /// A backend whose connections need no descriptor (io-uring with
    /// `--fixed-files`) may accept all of them at once.
    pub(super) fn out_of_descriptors(b: &[&str]) {
        const CONNS: usize = 80;
        let mut args = b.to_vec();
        args.extend(["--protocol", "http"]);
        let server = Server::start_limited(&args, Some(48));
        let streams: Vec<TcpStream> = (0..CONNS).map(|_| server.connect()).collect();
        for s in &streams {
            (&*s).write_all(GET).unwrap();
        }
        // Some connections are accepted and answered; with several
        // listeners, not necessarily the first one opened. The first to
        // answer asks for the counters from then on.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut streams: Vec<Option<TcpStream>> = streams.into_iter().map(Some).collect();
        let first_index = loop {
            let answered = streams.iter().position(|s| {
                let s = s.as_ref().expect("all still here");
                s.set_nonblocking(true).unwrap();
                let ready = matches!(s.peek(&mut [0u8; 1]), Ok(1));
                s.set_nonblocking(false).unwrap();
                ready
            });
            if let Some(i) = answered {
                break i;
            }
            assert!(Instant::now() < deadline, "no connection was answered under the descriptor limit");
            thread::sleep(Duration::from_millis(5));
        };
        let mut first = BufReader::new(streams[first_index].take().expect("just found"));
        http_expect_ok(&mut first);
        let stats_in_band = |r: &mut BufReader<TcpStream>| {
            r.get_ref().write_all(b"GET /stats HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
            Stats::from_json(&http_read(r, false).body).unwrap()
        };
        // Wait until the server has answered every connection it accepted
        // and accepts no more (out of descriptors, or all accepted): the
        // same count for 200 ms. A slow acceptor on a busy machine may
        // still be accepting just after the first answer.
        let mut last = (u64::MAX, Instant::now());
        let accepted = loop {
            let s = stats_in_band(&mut first);
            if s.conns_accepted != last.0 {
                last = (s.conns_accepted, Instant::now());
            } else if s.requests == s.conns_accepted && last.1.elapsed() >= Duration::from_millis(200) {
                break s.conns_accepted as usize;
            }
            assert!(Instant::now() < deadline, "accepted connections not all answered: {s:?}");
            thread::sleep(Duration::from_millis(10));
        };
        assert!(accepted >= 2, "only {accepted} connections accepted under the limit");
        // Sort the connections: answered (accepted) or still waiting. A
        // request is counted before its answer is sent, so the last answers
        // may still be on their way: sort again until the sorting agrees
        // with the server's count.
        let mut rest: Vec<TcpStream> = streams.into_iter().flatten().collect();
        let mut answered = Vec::new();
        let mut waiting: Vec<TcpStream> = Vec::new();
        while answered.len() + 1 < accepted {
            waiting.clear();
            for s in rest.drain(..) {
                s.set_nonblocking(true).unwrap();
                let ready = matches!(s.peek(&mut [0u8; 1]), Ok(1));
                s.set_nonblocking(false).unwrap();
                if ready { answered.push(s) } else { waiting.push(s) }
            }
            rest = std::mem::take(&mut waiting);
            assert!(Instant::now() < deadline, "{} answers seen, {accepted} accepted", answered.len() + 1);
            if answered.len() + 1 < accepted {
                thread::sleep(Duration::from_millis(5));
            }
        }
        let mut waiting = rest;
        assert_eq!(answered.len() + 1, accepted, "answered connections and the server's count differ");
        // Close every answered connection but the first: that frees
        // descriptors, and waiting ones are accepted and answered, in
        // whatever order the listeners take them.
        drop(answered);
        let expect = waiting.len().min(accepted - 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served_late = 0;
        while served_late < expect {
            let mut still = Vec::new();
            for s in waiting {
                s.set_nonblocking(true).unwrap();
                let mut probe = [0u8; 1];
                let ready = s.peek(&mut probe);
                s.set_nonblocking(false).unwrap();
                match ready {
                    Ok(0) => panic!("the server closed a waiting connection without answering it"),
                    Ok(_) => {
                        let mut r = BufReader::new(s);
                        http_expect_ok(&mut r);
                        served_late += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => still.push(s),
                    Err(e) => panic!("a waiting connection failed after {served_late} were served late: {e}"),
                }
            }
            waiting = still;
            assert!(
                Instant::now() < deadline,
                "only {served_late} of {expect} waiting connections were served after descriptors freed up"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let stats = stats_in_band(&mut first);
        assert_eq!(stats.conns_closed_error, 0, "{stats:?}");
        drop(first);
        server.stop();
    }
}

/// Bad command lines fail with a message instead of a panic, and print
/// nothing a script could take for a run.
mod runtime {
    use std::process::Command;

    #[test]
    fn bad_command_lines_fail_with_a_message() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = taken.local_addr().unwrap().to_string();
        for (args, code, message) in [
            (&["--backend", "thread-pool", "--listen", &busy][..], 1, "cannot listen on"),
            (&["--backend", "thread-pool", "--cores", "1000"], 1, "CPU 1000 is not available"),
            (&["--backend", "thread-pool", "--cores", "9999"], 2, "CPU numbers go up to 1023"),
            (&["--backend", "warp-drive"], 2, "invalid value 'warp-drive'"),
            (
                &["--backend", "epoll", "--protocol", "echo", "--request-work", "spin:1ns"],
                1,
                "echo has no requests",
            ),
            (&["--backend", "epoll", "--request-work", "spin"], 2, "expected spin:<N>ns or sleep:<N>us"),
            (&["--protocol", "http"], 2, "--backend <BACKEND>"),
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_ringside-server")).args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}: nothing on stdout");
        }
    }

    /// What scripts read the backends from: `name<TAB>summary` lines and
    /// nothing else, exit 0.
    #[test]
    fn list_backends_is_one_line_per_backend() {
        let out =
            Command::new(env!("CARGO_BIN_EXE_ringside-server")).arg("--list-backends").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let names: Vec<&str> = stdout.lines().map(|l| l.split('\t').next().unwrap()).collect();
        let all: Vec<&str> = servers::backends::ALL.iter().map(|b| b.name).collect();
        assert_eq!(names, all, "{stdout}");
        assert!(stdout.lines().all(|l| l.split('\t').count() == 2), "{stdout}");
    }

    /// `--version` names the build: the git revision every result row
    /// records, exit 0, without --backend.
    #[test]
    fn version_names_the_git_revision() {
        let out = Command::new(env!("CARGO_BIN_EXE_ringside-server")).arg("--version").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout, format!("ringside-server {}\n", platform::VERSION));
        assert!(stdout.contains(&format!("(git {})", platform::GIT_REV)), "{stdout}");
    }
}

/// The thread pool's defining behaviour: a connection holds a worker for its
/// whole life, so connections beyond the pool size wait, unserved, until a
/// worker frees up, and the counters show the wait.
mod thread_pool_queueing {
    use std::io::{BufReader, Write};
    use std::time::Duration;

    use super::support::*;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";

    #[test]
    fn connections_beyond_the_pool_wait_in_the_queue() {
        let server = Server::start(&["--backend", "thread-pool", "--threads", "2", "--protocol", "http"]);
        // Two keep-alive connections occupy both workers.
        let held: Vec<_> = (0..2)
            .map(|_| {
                let s = server.connect();
                let mut r = BufReader::new(s.try_clone().unwrap());
                (&s).write_all(GET).unwrap();
                http_expect_ok(&mut r);
                s
            })
            .collect();
        // A third is accepted but waits: its request gets no answer.
        let third = server.connect();
        (&third).write_all(GET).unwrap();
        let stats = server.wait_for("the third connection to be queued", |s| s.conns_waiting == 1);
        assert_eq!((stats.conns_accepted, stats.conns_open, stats.requests), (3, 3, 2));
        third.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut r3 = BufReader::new(third.try_clone().unwrap());
        let mut probe = [0u8; 1];
        let waited = std::io::Read::read(&mut r3, &mut probe);
        assert!(waited.is_err(), "a queued connection must not be answered, got {waited:?}");
        // Closing one held connection frees a worker, which takes the third.
        third.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        drop(held);
        http_expect_ok(&mut r3);
        drop(r3);
        drop(third);
        let stats = server.wait_for("every connection to close", |s| s.conns_open == 0);
        assert_eq!((stats.conns_waiting, stats.conns_waiting_max, stats.requests), (0, 1, 3), "{stats:?}");
        server.stop();
    }
}

/// Heavy tests, run only with `RINGSIDE_HEAVY=1` (CI sets it): thousands of
/// connections at once. Without it they print that they were skipped.
mod heavy {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::thread;

    use super::support::*;

    fn enabled(name: &str) -> bool {
        let on = std::env::var_os("RINGSIDE_HEAVY").is_some_and(|v| v == "1");
        if !on {
            skipped(&format!("heavy::{name}"), "set RINGSIDE_HEAVY=1 to run it");
        }
        on
    }

    /// Enough descriptors for both ends of every connection; the server,
    /// started afterwards, inherits the limit.
    fn raise_fd_limit(needed: u64) {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        if soft < needed {
            assert!(hard >= needed, "RLIMIT_NOFILE hard limit {hard} is below the {needed} this test needs");
            setrlimit(Resource::RLIMIT_NOFILE, needed, hard).expect("setrlimit");
        }
    }

    /// 2,000 echo connections open at once, each sending 20 messages of
    /// 1 KiB and reading them back; every byte must return, in order, and
    /// the server must count no error.
    fn two_thousand_echo_connections(args: &[&str]) {
        const CONNS: usize = 2000;
        const ROUNDS: usize = 20;
        const SIZE: usize = 1024;
        raise_fd_limit(3 * CONNS as u64 + 100);
        let mut all = args.to_vec();
        all.extend(["--protocol", "echo"]);
        let server = Server::start(&all);
        let streams: Vec<TcpStream> = (0..CONNS).map(|_| server.connect()).collect();
        let open = server.wait_for("every connection to be accepted", |s| s.conns_open == CONNS as u64);
        assert_eq!(open.conns_accepted, CONNS as u64);
        thread::scope(|scope| {
            for (i, mut s) in streams.into_iter().enumerate() {
                thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, move || {
                        for round in 0..ROUNDS {
                            let msg = bytes((i * ROUNDS + round) as u64, SIZE);
                            s.write_all(&msg).unwrap();
                            let mut back = vec![0; SIZE];
                            s.read_exact(&mut back).unwrap();
                            assert!(back == msg, "connection {i} round {round}: echo differs");
                        }
                        s.shutdown(std::net::Shutdown::Write).unwrap();
                        assert_eq!(read_to_eof(&mut s), b"");
                    })
                    .expect("client thread");
            }
        });
        let stats = server.wait_for("every connection to close", |s| s.conns_open == 0);
        let n = (CONNS * ROUNDS * SIZE) as u64;
        assert_eq!((stats.bytes_in, stats.bytes_out), (n, n), "{stats:?}");
        assert_eq!((stats.conns_closed_error, stats.conns_reset), (0, 0), "{stats:?}");
        server.stop();
    }

    #[test]
    fn epoll_2000_echo_connections() {
        if enabled("epoll_2000_echo_connections") {
            two_thousand_echo_connections(&["--backend", "epoll", "--threads", "1"]);
        }
    }

    #[test]
    fn io_uring_2000_echo_connections() {
        if enabled("io_uring_2000_echo_connections") {
            two_thousand_echo_connections(&["--backend", "io-uring", "--threads", "1"]);
        }
    }
}

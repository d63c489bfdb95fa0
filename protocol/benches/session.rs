//! What the protocol core costs a server per request, without any I/O: one
//! `Session::process` call on one whole request, writing its response, as a
//! server does it for a closed-loop client. The requests are what
//! ringside-loadgen and wrk send (http), what curl sends, and a 128-byte
//! echo message. Server CPU per request on loopback is 3-4 µs
//! (docs/PERFORMANCE.md), nearly all of it the kernel's: this is the part
//! that is ringside's own.
//!
//! `cargo bench -p protocol --bench session`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::{Config, Host, Next, Protocol, Session, Stats, Work};

struct NoHost;

impl Host for NoHost {
    fn work(&mut self, _: Work) {}
    fn stats(&mut self) -> Stats {
        Stats::default()
    }
}

fn one_request(c: &mut Criterion, name: &str, protocol: Protocol, request: &[u8]) {
    let config = Config::new(protocol);
    let mut session = Session::new(&config);
    let mut out = vec![0u8; 64 * 1024];
    let mut host = NoHost;
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let p = session.process(black_box(request), &mut out, &mut host);
            debug_assert_eq!(p.consumed, request.len());
            debug_assert_eq!(p.next, Next::Read);
            black_box(p.written)
        })
    });
    group.finish();
}

fn sessions(c: &mut Criterion) {
    // ringside-loadgen's request, and wrk's.
    one_request(c, "http GET, 2 lines", Protocol::Http, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n");
    one_request(
        c,
        "http GET from curl, 4 lines",
        Protocol::Http,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    );
    one_request(c, "echo 128 bytes", Protocol::Echo, &[0x5A; 128]);
}

criterion_group!(benches, sessions);
criterion_main!(benches);

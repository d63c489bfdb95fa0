//! The session allocates nothing per request in steady state: after a first
//! request has set a connection up, thousands more (pipelined, split at odd
//! places, with bodies and payloads) go through without one allocation.
//!
//! `allocation-counter` replaces the global allocator of the test binaries
//! it is linked into with one that counts per thread; this measures only the
//! calls inside `measure`.

use protocol::rr::RequestHeader;
use protocol::{Config, Host, Next, Protocol, Session, Stats, Work};

struct NoWork;

impl Host for NoWork {
    fn work(&mut self, _: Work) {}
    fn stats(&mut self) -> Stats {
        Stats::default()
    }
}

/// Feed `input` to `session` in `chunk`-byte reads through a 4 KiB output
/// buffer, as a backend would; return the bytes produced.
fn drive(session: &mut Session, input: &[u8], chunk: usize, out: &mut [u8]) -> usize {
    let mut produced = 0;
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        loop {
            let p = session.process(rest, out, &mut NoWork);
            produced += p.written;
            rest = &rest[p.consumed..];
            match p.next {
                Next::Read => break,
                Next::Write => {}
                Next::Close => panic!("unexpected close"),
            }
        }
    }
    produced
}

fn steady_state_allocations(protocol: Protocol, one_request: &[u8]) -> usize {
    let input = one_request.repeat(2000);
    let mut out = vec![0u8; 4096];
    let mut session = Session::new(&Config::new(protocol));
    // Set the connection up.
    assert!(drive(&mut session, one_request, 7, &mut out) > 0);
    let mut produced = 0;
    let info = allocation_counter::measure(|| produced = drive(&mut session, &input, 1000, &mut out));
    assert!(produced > 0);
    info.count_total as usize
}

#[test]
fn steady_state_requests_do_not_allocate() {
    let live = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8])));
    assert_eq!(live.count_total, 1, "the allocation counter is not counting");
    let mut rr =
        RequestHeader { payload_len: 100, response_len: 5000, ..RequestHeader::request(1) }.encode().to_vec();
    rr.extend_from_slice(&[1; 100]);
    let cases: [(Protocol, &[u8]); 4] = [
        (Protocol::Echo, b"0123456789abcdef"),
        (Protocol::Rr, &rr),
        (Protocol::Http, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\nAccept: */*\r\n\r\n"),
        (
            Protocol::Http,
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\nhello world!",
        ),
    ];
    for (protocol, request) in cases {
        let n = steady_state_allocations(protocol, request);
        assert_eq!(n, 0, "{protocol}: {n} allocations for 2000 requests");
    }
}

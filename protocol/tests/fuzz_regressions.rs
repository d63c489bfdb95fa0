//! Inputs that once broke the protocol core, or that the session fuzzer found
//! interesting, kept as ordinary tests; and the invariant checks the fuzz
//! target (`fuzz/fuzz_targets/session.rs`) runs on every input. The target
//! includes this file with `#[path]`, so a find fails here exactly as it
//! failed there. Everything goes through the public API only.
//!
//! To add a find, `cargo fuzz fmt session <artifact>` in `fuzz/` prints it as
//! a row for [`CASES`]; see `fuzz/README.md`.

use std::fmt;

use protocol::rr::{MAGIC, REQUEST_HEADER_LEN, write_payload_pattern};
use protocol::{
    CloseReason, Config, Host, Next, Protocol, ProtocolError, STATS_SCHEMA, Session, Stats, Work,
};

/// One input, as the fuzz target runs it.
#[derive(Clone, Copy)]
pub(crate) struct Case<'a> {
    pub(crate) name: &'a str,
    pub(crate) protocol: Protocol,
    pub(crate) max_frame: u32,
    /// The output buffer given to every `process` call of the split run.
    pub(crate) out_size: usize,
    /// Where the input is cut into reads: strictly ascending offsets inside
    /// the input (neither 0 nor its length).
    pub(crate) cuts: &'a [usize],
    pub(crate) input: &'a [u8],
}

/// Prints the case as a row of [`CASES`], which is what `cargo fuzz fmt`
/// shows.
impl fmt::Debug for Case<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input: String =
            self.input.iter().flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
        writeln!(f, "Case {{")?;
        writeln!(f, "    name: {:?},", self.name)?;
        writeln!(f, "    protocol: Protocol::{:?},", self.protocol)?;
        writeln!(f, "    max_frame: {},", self.max_frame)?;
        writeln!(f, "    out_size: {},", self.out_size)?;
        writeln!(f, "    cuts: &{:?},", self.cuts)?;
        writeln!(f, "    input: b\"{input}\",")?;
        write!(f, "}},")
    }
}

/// A host that records the work it is asked for, without doing it (never
/// sleep or spin in a fuzzer), and serves counters that are all zero.
#[derive(Default)]
struct RecordingHost {
    work: Vec<Work>,
}

impl Host for RecordingHost {
    fn work(&mut self, work: Work) {
        self.work.push(work);
    }
    fn stats(&mut self) -> Stats {
        zero_stats()
    }
}

fn zero_stats() -> Stats {
    Stats { schema: STATS_SCHEMA, ..Stats::default() }
}

/// Everything one run of a session produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) output: Vec<u8>,
    pub(crate) requests: u32,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) work: Vec<Work>,
    pub(crate) mid_request: bool,
}

/// Feed the case's input cut at `cuts` through an output buffer of `out_size`
/// bytes, following the [`Next`] contract exactly as a backend must, and
/// check each `process` call against that contract.
pub(crate) fn run(case: &Case<'_>, cuts: &[usize], out_size: usize) -> Run {
    let input = case.input;
    assert!(
        cuts.windows(2).all(|w| w[0] < w[1]) && cuts.iter().all(|&c| c > 0 && c < input.len()),
        "{}: cuts {cuts:?} are not ascending offsets inside a {}-byte input",
        case.name,
        input.len()
    );
    let mut session = Session::new(&Config { max_frame: case.max_frame, ..Config::new(case.protocol) });
    let mut host = RecordingHost::default();
    let mut out = vec![0u8; out_size];
    let mut output = Vec::new();
    let mut requests = 0u32;
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        pieces.push(&input[start..c]);
        start = c;
    }
    let mut pieces = pieces.into_iter();
    let mut closed = false;
    let mut calls = 0u64;
    'pieces: for piece in pieces.by_ref() {
        let mut rest = piece;
        loop {
            calls += 1;
            let p = session.process(rest, &mut out, &mut host);
            let at =
                format!("{}: call {calls} (out_size {out_size}, cuts {cuts:?}) returned {p:?}", case.name);
            assert!(p.consumed <= rest.len(), "{at}: consumed more than the {} bytes offered", rest.len());
            assert!(p.written <= out.len(), "{at}: wrote more than the output buffer");
            output.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
            requests += p.requests;
            match p.next {
                Next::Read => {
                    assert!(rest.is_empty(), "{at}: Next::Read with {} bytes unconsumed", rest.len());
                    break;
                }
                Next::Write => assert!(p.written > 0 || p.consumed > 0, "{at}: Next::Write without progress"),
                Next::Close => {
                    closed = true;
                    break 'pieces;
                }
            }
        }
    }
    let reason = session.close_reason();
    assert_eq!(closed, reason.is_some(), "{}: close_reason {reason:?} disagrees with Next", case.name);
    if closed {
        // A backend stops here, but the contract says later calls consume and
        // discard their input: check it with whatever input is left, and with
        // none.
        let work = host.work.len();
        for piece in pieces.chain(std::iter::once(&[][..])) {
            let p = session.process(piece, &mut out, &mut host);
            let want =
                protocol::Progress { consumed: piece.len(), written: 0, requests: 0, next: Next::Close };
            assert_eq!(p, want, "{}: a call after Next::Close", case.name);
            assert_eq!(session.close_reason(), reason, "{}: close_reason changed after the close", case.name);
        }
        assert_eq!(host.work.len(), work, "{}: work ran after Next::Close", case.name);
    }
    Run { output, requests, closed: reason, work: host.work, mid_request: session.mid_request() }
}

/// The fuzz target's checks: the `Next` contract (in [`run`]), the same
/// result whole and split, and what the output must be for the protocol.
pub(crate) fn check(case: &Case<'_>) {
    let whole = run(case, &[], 64 * 1024);
    let split = run(case, case.cuts, case.out_size);
    assert_same(case, "split run (cuts and out_size as given)", &split, "whole run (64 KiB output)", &whole);
    for w in &whole.work {
        match *w {
            Work::Spin { ns } => {
                assert!(ns <= protocol::rr::MAX_SPIN_NS, "{}: host asked to {w:?}", case.name)
            }
            Work::Sleep { us } => {
                assert!(us <= protocol::rr::MAX_SLEEP_US, "{}: host asked to {w:?}", case.name)
            }
        }
    }
    match case.protocol {
        Protocol::Echo => {
            let want = Run {
                output: case.input.to_vec(),
                requests: 0,
                closed: None,
                work: vec![],
                mid_request: false,
            };
            assert_same(case, "echo", &whole, "the input", &want);
        }
        Protocol::Rr => assert_same(case, "rr", &whole, "the model", &rr_model(case.input, case.max_frame)),
        Protocol::Http => check_http(case, &whole),
    }
}

/// Compare two runs field by field, showing where outputs first differ rather
/// than both of them whole.
fn assert_same(case: &Case<'_>, a_name: &str, a: &Run, b_name: &str, b: &Run) {
    if a.output != b.output {
        let at = a.output.iter().zip(&b.output).take_while(|(x, y)| x == y).count();
        let window = |o: &[u8]| o[at.saturating_sub(16)..o.len().min(at + 48)].escape_ascii().to_string();
        panic!(
            "{}: output of the {a_name} ({} bytes) differs from the {b_name} ({} bytes) at byte {at}:\n  {a_name}: \"{}\"\n  {b_name}: \"{}\"",
            case.name,
            a.output.len(),
            b.output.len(),
            window(&a.output),
            window(&b.output),
        );
    }
    let fields = |r: &Run| (r.requests, r.closed, r.work.clone(), r.mid_request);
    assert_eq!(
        fields(a),
        fields(b),
        "{}: (requests, closed, work, mid_request) of the {a_name} differ from the {b_name}",
        case.name
    );
}

/// What an rr server must do with `input` received whole, written from
/// `docs/PROTOCOL.md` section 2 independently of the server's parser.
fn rr_model(input: &[u8], max_frame: u32) -> Run {
    let mut run = Run { output: vec![], requests: 0, closed: None, work: vec![], mid_request: false };
    let frame = |output: &mut Vec<u8>, kind: u8, code: u16, id: u64, payload: &[u8]| {
        output.extend_from_slice(&[MAGIC, kind]);
        output.extend_from_slice(&code.to_le_bytes());
        output.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        output.extend_from_slice(&id.to_le_bytes());
        output.extend_from_slice(payload);
    };
    let mut at = 0;
    while at < input.len() {
        if input[at] != MAGIC {
            let e = ProtocolError::BadMagic;
            frame(&mut run.output, 0xFF, e.code(), 0, e.message().as_bytes());
            run.closed = Some(CloseReason::Error(e));
            return run;
        }
        let Some(h) = input.get(at..at + REQUEST_HEADER_LEN) else {
            run.mid_request = true;
            return run;
        };
        at += REQUEST_HEADER_LEN;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (kind, work_kind, payload_len, response_len, amount) =
            (h[1], h[2], u32_at(4), u32_at(16), u32_at(20));
        let id = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
        let error = if kind != 0x01 && kind != 0x02 {
            Some(ProtocolError::BadType)
        } else if h[3] != 0 || (work_kind == 0 && amount != 0) || work_kind > 2 {
            Some(ProtocolError::BadHeader)
        } else if (work_kind == 1 && amount > 1_000_000_000) || (work_kind == 2 && amount > 10_000_000) {
            Some(ProtocolError::WorkTooLarge)
        } else if payload_len > max_frame || response_len > max_frame {
            Some(ProtocolError::TooLarge)
        } else {
            None
        };
        if let Some(e) = error {
            frame(&mut run.output, 0xFF, e.code(), id, e.message().as_bytes());
            run.closed = Some(CloseReason::Error(e));
            return run;
        }
        if input.len() - at < payload_len as usize {
            run.mid_request = true;
            return run;
        }
        at += payload_len as usize;
        if kind == 0x01 {
            match work_kind {
                1 => run.work.push(Work::Spin { ns: amount }),
                2 => run.work.push(Work::Sleep { us: amount }),
                _ => {}
            }
            let mut payload = vec![0; response_len as usize];
            write_payload_pattern(0, &mut payload);
            frame(&mut run.output, 0x81, 0, id, &payload);
            run.requests += 1;
        } else {
            frame(&mut run.output, 0x82, 0, id, &zero_stats().to_json());
        }
    }
    run
}

/// What can be said of an http run without a second parser: one plain-text
/// 200 per request served, no work, and a close announced by the last
/// response (`docs/PROTOCOL.md` section 4).
fn check_http(case: &Case<'_>, run: &Run) {
    const OK_TEXT: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    let oks = run.output.windows(OK_TEXT.len()).filter(|w| *w == OK_TEXT).count();
    assert_eq!(oks, run.requests as usize, "{}: plain-text 200 responses vs requests served", case.name);
    assert!(run.work.is_empty(), "{}: http asked the host for work", case.name);
    let Some(reason) = run.closed else { return };
    let last = (0..run.output.len())
        .rev()
        .find(|&i| run.output[i..].starts_with(b"HTTP/1.1 "))
        .map(|i| &run.output[i..])
        .unwrap_or_else(|| panic!("{}: closed ({reason:?}) without a response", case.name));
    let status = match reason {
        CloseReason::Requested => 200,
        CloseReason::Error(e) => e.http_status(),
    };
    let head = last.split(|&b| b == b'\n').take_while(|line| *line != b"\r").collect::<Vec<_>>();
    assert!(
        last.starts_with(format!("HTTP/1.1 {status} ").as_bytes())
            && head.contains(&&b"Connection: close\r"[..]),
        "{}: closed ({reason:?}) but the last response is \"{}\"",
        case.name,
        last.escape_ascii()
    );
}

/// Inputs the fuzzer found, broken or interesting. Each also runs cut in two
/// at every byte and with a one-byte output buffer. The first five come from
/// the first fuzzing corpus (no find), chosen for reaching deep states.
const CASES: &[Case<'static>] = &[
    Case {
        name: "http: Expect 100-continue, a body, odd header names",
        protocol: Protocol::Http,
        max_frame: 100,
        out_size: 256,
        cuts: &[],
        input: b"GET / HTTP/1.1\r\nHost:st: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\nCo:\n\r\nabc",
    },
    Case {
        name: "http: pipelined GET, then POST /stats with close; the rest is discarded",
        protocol: Protocol::Http,
        max_frame: 100,
        out_size: 256,
        cuts: &[],
        input: b"GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /stats HTTP/1.1\r\nHost: h100\r\nConnection: close\r\n\r\nabc",
    },
    Case {
        name: "http: empty lines, /stats with close, four reads through 50 bytes",
        protocol: Protocol::Http,
        max_frame: 100,
        out_size: 50,
        cuts: &[4, 46, 71, 72],
        input: b"\r\n\r\nPOST /stats HTTP/1.1\r\nHost: h\r\nCotnent-Lt: h\r\nConnection: close\r\n\r\n\x02c\x00\xff\x00GET / HTTP/1.1\r\nH\t\t\t\t\t\t\t\t\t\t1.0\r\nc",
    },
    Case {
        name: "rr: a request with spin and payload, STATS, then a bad magic byte",
        protocol: Protocol::Rr,
        max_frame: 100,
        out_size: 60,
        cuts: &[],
        input: b"\xa5\x01\x01\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\xe8\x03\x00\x00`bc\xa5\x02\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00)",
    },
    Case {
        name: "rr: two requests with work, cut inside headers, then a bad magic byte",
        protocol: Protocol::Rr,
        max_frame: 2148,
        out_size: 70,
        cuts: &[40, 59],
        input: b"\xa5\x01\x01\x00\x03\x00\x00\x00\xf5\xc5\xff\xff\x00\n\x00\x00\xdd\x00\x00\x00\x00\x00\x00\x04\x00k`\xa5\x01\x01\x00\x03\x00\x00\x00\x01:\x00\x00\x00\n\x00\x00]\x00\x00\x00\x00\x00\x00\x04\x00\xff\xff\xff\xff\xff\xff\xff\xff\xffkA`",
    },
];

#[test]
fn fuzz_regressions() {
    let failed: Vec<&str> = CASES
        .iter()
        .filter(|case| {
            std::panic::catch_unwind(|| {
                check(case);
                for cut in 1..case.input.len() {
                    check(&Case { cuts: &[cut], out_size: 64 * 1024, ..**case });
                }
                check(&Case { cuts: &[], out_size: 1, ..**case });
            })
            .is_err()
        })
        .map(|case| case.name)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed (messages above): {failed:?}",
        failed.len(),
        CASES.len()
    );
}

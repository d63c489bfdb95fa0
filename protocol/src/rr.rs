//! rr: a framed binary request/response protocol, specified byte by byte in
//! `docs/PROTOCOL.md`.
//!
//! A request carries an id, a payload (read and discarded), the length of the
//! response payload it wants and optional server-side [`Work`]. The response
//! echoes the id and carries the payload pattern ([`payload_matches`]). A
//! STATS request is answered with the server counters as JSON. A malformed or
//! oversized frame is answered with an ERROR frame and the connection closes.
//!
//! This module holds both sides of the format: the encoders and decoders a
//! client (the load generator, tests) uses, and [`Server`], the streaming
//! state machine a [`Session`](crate::Session) runs.

use crate::out::{self, Body, Parse, Pending};
use crate::{CloseReason, Host, Progress, ProtocolError, Work};

/// Fill a buffer with the response payload pattern starting at an offset
/// (for clients that want to compare whole chunks).
pub use crate::out::fill_pattern as write_payload_pattern;

/// First byte of every frame, both directions.
pub const MAGIC: u8 = 0xA5;
/// Length of a request header.
pub const REQUEST_HEADER_LEN: usize = 24;
/// Length of a response header.
pub const RESPONSE_HEADER_LEN: usize = 16;
/// Largest spin a request may ask for: one second.
pub const MAX_SPIN_NS: u32 = 1_000_000_000;
/// Largest sleep a request may ask for: ten seconds.
pub const MAX_SLEEP_US: u32 = 10_000_000;

const TYPE_REQUEST: u8 = 0x01;
const TYPE_STATS: u8 = 0x02;
const TYPE_RESPONSE: u8 = 0x81;
const TYPE_STATS_RESPONSE: u8 = 0x82;
const TYPE_ERROR: u8 = 0xFF;

const WORK_NONE: u8 = 0;
const WORK_SPIN: u8 = 1;
const WORK_SLEEP: u8 = 2;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// An ordinary request: do the work, answer with the payload pattern.
    Request,
    /// Answer with the server counters as JSON.
    Stats,
}

/// A decoded request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub kind: RequestKind,
    /// Echoed in the response.
    pub id: u64,
    /// Bytes of payload following this header; the server discards them.
    pub payload_len: u32,
    /// Bytes of payload wanted in the response.
    pub response_len: u32,
    /// Server-side work before responding.
    pub work: Option<Work>,
}

impl RequestHeader {
    /// An ordinary request with no payload, no work and an empty response.
    pub fn request(id: u64) -> Self {
        RequestHeader { kind: RequestKind::Request, id, payload_len: 0, response_len: 0, work: None }
    }

    /// A STATS request.
    pub fn stats(id: u64) -> Self {
        RequestHeader { kind: RequestKind::Stats, ..Self::request(id) }
    }

    pub fn encode(&self) -> [u8; REQUEST_HEADER_LEN] {
        let mut b = [0u8; REQUEST_HEADER_LEN];
        b[0] = MAGIC;
        b[1] = match self.kind {
            RequestKind::Request => TYPE_REQUEST,
            RequestKind::Stats => TYPE_STATS,
        };
        let (kind, amount) = match self.work {
            None => (WORK_NONE, 0),
            Some(Work::Spin { ns }) => (WORK_SPIN, ns),
            Some(Work::Sleep { us }) => (WORK_SLEEP, us),
        };
        b[2] = kind;
        b[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16..20].copy_from_slice(&self.response_len.to_le_bytes());
        b[20..24].copy_from_slice(&amount.to_le_bytes());
        b
    }

    /// Decode and check a request header against the server's `max_frame`.
    pub fn decode(b: &[u8; REQUEST_HEADER_LEN], max_frame: u32) -> Result<Self, ProtocolError> {
        if b[0] != MAGIC {
            return Err(ProtocolError::BadMagic);
        }
        let kind = match b[1] {
            TYPE_REQUEST => RequestKind::Request,
            TYPE_STATS => RequestKind::Stats,
            _ => return Err(ProtocolError::BadType),
        };
        let payload_len = u32_at(b, 4);
        let id = u64::from_le_bytes(b[8..16].try_into().expect("8-byte slice"));
        let response_len = u32_at(b, 16);
        let amount = u32_at(b, 20);
        if b[3] != 0 {
            return Err(ProtocolError::BadHeader);
        }
        let work = match (b[2], amount) {
            (WORK_NONE, 0) => None,
            (WORK_SPIN, ns) if ns <= MAX_SPIN_NS => Some(Work::Spin { ns }),
            (WORK_SLEEP, us) if us <= MAX_SLEEP_US => Some(Work::Sleep { us }),
            (WORK_SPIN | WORK_SLEEP, _) => return Err(ProtocolError::WorkTooLarge),
            _ => return Err(ProtocolError::BadHeader),
        };
        if payload_len > max_frame || response_len > max_frame {
            return Err(ProtocolError::TooLarge);
        }
        Ok(RequestHeader { kind, id, payload_len, response_len, work })
    }
}

/// What a response frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseKind {
    /// Answer to a request: `payload_len` bytes of the payload pattern.
    Response,
    /// Answer to STATS: the counters as UTF-8 JSON.
    Stats,
    /// The request was refused; the payload is a UTF-8 message and the
    /// server closes the connection after this frame.
    Error,
}

/// A decoded response header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    pub kind: ResponseKind,
    /// For ERROR frames, the [`ProtocolError::code`]; otherwise 0.
    pub code: u16,
    pub payload_len: u32,
    /// The id of the request answered (0 in an ERROR frame whose header had
    /// no magic byte).
    pub id: u64,
}

impl ResponseHeader {
    pub fn encode(&self) -> [u8; RESPONSE_HEADER_LEN] {
        let mut b = [0u8; RESPONSE_HEADER_LEN];
        b[0] = MAGIC;
        b[1] = match self.kind {
            ResponseKind::Response => TYPE_RESPONSE,
            ResponseKind::Stats => TYPE_STATS_RESPONSE,
            ResponseKind::Error => TYPE_ERROR,
        };
        b[2..4].copy_from_slice(&self.code.to_le_bytes());
        b[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b
    }

    /// Decode a response header. Clients check the payload length against
    /// their own limit.
    pub fn decode(b: &[u8; RESPONSE_HEADER_LEN]) -> Result<Self, ProtocolError> {
        if b[0] != MAGIC {
            return Err(ProtocolError::BadMagic);
        }
        let kind = match b[1] {
            TYPE_RESPONSE => ResponseKind::Response,
            TYPE_STATS_RESPONSE => ResponseKind::Stats,
            TYPE_ERROR => ResponseKind::Error,
            _ => return Err(ProtocolError::BadType),
        };
        let code = u16::from_le_bytes([b[2], b[3]]);
        let payload_len = u32_at(b, 4);
        let id = u64::from_le_bytes(b[8..16].try_into().expect("8-byte slice"));
        Ok(ResponseHeader { kind, code, payload_len, id })
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4-byte slice"))
}

/// Whether `bytes`, found at `offset` in a response payload, are the payload
/// pattern (byte `i` is `i mod 256`).
pub fn payload_matches(offset: usize, bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| b == (offset + i) as u8)
}

/// The server side of one rr connection. See [`crate::Session`] for the call
/// contract.
#[derive(Debug)]
pub struct Server {
    max_frame: u32,
    /// Work added to every answered request (`Config::request_work`).
    request_work: Option<Work>,
    /// The request header being received.
    header: [u8; REQUEST_HEADER_LEN],
    have: usize,
    /// A request whose payload is being discarded, and how much is left.
    current: Option<RequestHeader>,
    skip: u32,
    /// A received request whose work waits until earlier answers are sent.
    deferred: Option<RequestHeader>,
    pending: Pending,
    closing: Option<CloseReason>,
}

impl Server {
    pub(crate) fn new(max_frame: u32, request_work: Option<Work>) -> Self {
        Server {
            max_frame,
            request_work,
            header: [0; REQUEST_HEADER_LEN],
            have: 0,
            current: None,
            skip: 0,
            deferred: None,
            pending: Pending::IDLE,
            closing: None,
        }
    }

    pub(crate) fn mid_request(&self) -> bool {
        self.have > 0 || self.current.is_some()
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.closing
    }

    pub(crate) fn process(&mut self, input: &[u8], out: &mut [u8], host: &mut impl Host) -> Progress {
        out::drive(self, input, out, host)
    }

    /// A request has been received whole: answer it now, or defer it if it
    /// has work. Return 1 if it was answered and counts as served.
    fn received(&mut self, request: RequestHeader, host: &mut impl Host) -> u32 {
        if request.work.is_some() && request.kind == RequestKind::Request {
            self.deferred = Some(request);
            return 0;
        }
        self.complete(request, host)
    }

    /// Answer a fully received request; return 1 if it counts as served.
    fn complete(&mut self, request: RequestHeader, host: &mut impl Host) -> u32 {
        match request.kind {
            RequestKind::Request => {
                if let Some(work) = request.work {
                    host.work(work);
                }
                if let Some(work) = self.request_work {
                    host.work(work);
                }
                let header = ResponseHeader {
                    kind: ResponseKind::Response,
                    code: 0,
                    payload_len: request.response_len,
                    id: request.id,
                };
                self.pending = Pending::new(&header.encode(), Body::Pattern(request.response_len as usize));
                1
            }
            RequestKind::Stats => {
                let json = host.stats().to_json();
                let header = ResponseHeader {
                    kind: ResponseKind::Stats,
                    code: 0,
                    payload_len: u32::try_from(json.len()).unwrap_or(u32::MAX),
                    id: request.id,
                };
                self.pending = Pending::new(&header.encode(), Body::Owned(json));
                0
            }
        }
    }

    fn fail(&mut self, error: ProtocolError, id: u64) {
        let message = error.message().as_bytes();
        let header = ResponseHeader {
            kind: ResponseKind::Error,
            code: error.code(),
            payload_len: message.len() as u32,
            id,
        };
        self.pending = Pending::new(&header.encode(), Body::Static(message));
        self.closing = Some(CloseReason::Error(error));
        self.have = 0;
        self.current = None;
    }
}

impl Parse for Server {
    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }

    fn closing(&self) -> Option<CloseReason> {
        self.closing
    }

    fn parse(&mut self, rest: &[u8], host: &mut impl Host) -> (usize, u32) {
        if let Some(request) = self.current {
            let n = rest.len().min(self.skip as usize);
            self.skip -= n as u32;
            if self.skip > 0 {
                return (n, 0);
            }
            self.current = None;
            return (n, self.received(request, host));
        }
        let n = rest.len().min(REQUEST_HEADER_LEN - self.have);
        self.header[self.have..self.have + n].copy_from_slice(&rest[..n]);
        self.have += n;
        // Refuse garbage at its first byte rather than waiting for a whole
        // header that may never come.
        if self.header[0] != MAGIC {
            self.fail(ProtocolError::BadMagic, 0);
            return (n, 0);
        }
        if self.have < REQUEST_HEADER_LEN {
            return (n, 0);
        }
        self.have = 0;
        match RequestHeader::decode(&self.header, self.max_frame) {
            Err(e) => {
                let id = u64::from_le_bytes(self.header[8..16].try_into().expect("8-byte slice"));
                self.fail(e, id);
                (n, 0)
            }
            Ok(request) if request.payload_len > 0 => {
                self.current = Some(request);
                self.skip = request.payload_len;
                (n, 0)
            }
            Ok(request) => (n, self.received(request, host)),
        }
    }

    fn has_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    fn run_deferred(&mut self, host: &mut impl Host) -> u32 {
        match self.deferred.take() {
            Some(request) => self.complete(request, host),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Run, run_every_split};
    use crate::{Config, Protocol, Stats};

    fn req(id: u64, payload_len: u32, response_len: u32, work: Option<Work>) -> Vec<u8> {
        let h = RequestHeader { kind: RequestKind::Request, id, payload_len, response_len, work };
        let mut v = h.encode().to_vec();
        v.extend((0..payload_len).map(|i| (i * 7) as u8));
        v
    }

    fn resp(id: u64, len: u32) -> Vec<u8> {
        let h = ResponseHeader { kind: ResponseKind::Response, code: 0, payload_len: len, id };
        let mut v = h.encode().to_vec();
        v.extend((0..len).map(|i| i as u8));
        v
    }

    fn error(id: u64, e: ProtocolError) -> Vec<u8> {
        let m = e.message().as_bytes();
        let h = ResponseHeader { kind: ResponseKind::Error, code: e.code(), payload_len: m.len() as u32, id };
        let mut v = h.encode().to_vec();
        v.extend_from_slice(m);
        v
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn raw(f: impl FnOnce(&mut [u8; REQUEST_HEADER_LEN])) -> Vec<u8> {
        let mut h = RequestHeader::request(9).encode();
        f(&mut h);
        h.to_vec()
    }

    /// One row: input, expected output, served requests, close, work done.
    struct Case {
        name: &'static str,
        input: Vec<u8>,
        output: Vec<u8>,
        requests: u32,
        closed: Option<ProtocolError>,
        work: Vec<Work>,
    }

    fn check(cases: Vec<Case>) {
        let config = Config { max_frame: 4096, ..Config::new(Protocol::Rr) };
        for c in cases {
            let Run { output, requests, closed, work, mid_request } = run_every_split(&config, &c.input);
            assert_eq!(output, c.output, "{}: output", c.name);
            assert_eq!(requests, c.requests, "{}: requests", c.name);
            assert_eq!(closed, c.closed.map(CloseReason::Error), "{}: close", c.name);
            assert_eq!(work, c.work, "{}: work", c.name);
            assert!(!mid_request || c.closed.is_some(), "{}: left mid-request", c.name);
        }
    }

    #[test]
    fn requests_are_answered_in_order() {
        let spin = Some(Work::Spin { ns: 500 });
        let sleep = Some(Work::Sleep { us: 20 });
        check(vec![
            Case {
                name: "empty request",
                input: req(1, 0, 0, None),
                output: resp(1, 0),
                requests: 1,
                closed: None,
                work: vec![],
            },
            Case {
                name: "payload discarded, response sized as asked",
                input: req(u64::MAX, 100, 300, None),
                output: resp(u64::MAX, 300),
                requests: 1,
                closed: None,
                work: vec![],
            },
            Case {
                name: "pipelined with work",
                input: cat(&[req(1, 3, 1, spin), req(2, 0, 0, None), req(3, 10, 5, sleep)]),
                output: cat(&[resp(1, 1), resp(2, 0), resp(3, 5)]),
                requests: 3,
                closed: None,
                work: vec![Work::Spin { ns: 500 }, Work::Sleep { us: 20 }],
            },
            Case {
                name: "frames at max_frame are allowed",
                input: req(4, 4096, 4096, None),
                output: resp(4, 4096),
                requests: 1,
                closed: None,
                work: vec![],
            },
        ]);
    }

    #[test]
    fn bad_frames_get_an_error_frame_then_close() {
        use ProtocolError::*;
        check(vec![
            Case {
                name: "garbage is refused at its first byte",
                input: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                output: error(0, BadMagic),
                requests: 0,
                closed: Some(BadMagic),
                work: vec![],
            },
            Case {
                name: "answers before the error still go out; input after it is discarded",
                input: cat(&[req(1, 0, 2, None), vec![0x00], req(2, 0, 0, None)]),
                output: cat(&[resp(1, 2), error(0, BadMagic)]),
                requests: 1,
                closed: Some(BadMagic),
                work: vec![],
            },
            Case {
                name: "unknown type",
                input: raw(|h| h[1] = 0x7F),
                output: error(9, BadType),
                requests: 0,
                closed: Some(BadType),
                work: vec![],
            },
            Case {
                name: "unknown work kind",
                input: raw(|h| h[2] = 9),
                output: error(9, BadHeader),
                requests: 0,
                closed: Some(BadHeader),
                work: vec![],
            },
            Case {
                name: "reserved byte set",
                input: raw(|h| h[3] = 1),
                output: error(9, BadHeader),
                requests: 0,
                closed: Some(BadHeader),
                work: vec![],
            },
            Case {
                name: "work amount without a kind",
                input: raw(|h| h[20] = 1),
                output: error(9, BadHeader),
                requests: 0,
                closed: Some(BadHeader),
                work: vec![],
            },
            Case {
                name: "payload over max_frame",
                input: req(5, 4097, 0, None)[..REQUEST_HEADER_LEN].to_vec(),
                output: error(5, TooLarge),
                requests: 0,
                closed: Some(TooLarge),
                work: vec![],
            },
            Case {
                name: "response over max_frame",
                input: req(6, 0, 4097, None),
                output: error(6, TooLarge),
                requests: 0,
                closed: Some(TooLarge),
                work: vec![],
            },
            Case {
                name: "sleep over the bound",
                input: req(7, 0, 0, Some(Work::Sleep { us: MAX_SLEEP_US + 1 })),
                output: error(7, WorkTooLarge),
                requests: 0,
                closed: Some(WorkTooLarge),
                work: vec![],
            },
            Case {
                name: "spin over the bound",
                input: req(8, 0, 0, Some(Work::Spin { ns: MAX_SPIN_NS + 1 })),
                output: error(8, WorkTooLarge),
                requests: 0,
                closed: Some(WorkTooLarge),
                work: vec![],
            },
        ]);
    }

    #[test]
    fn answers_before_a_request_with_work_are_sent_before_the_work_runs() {
        use crate::testing::RecordingHost;
        use crate::{Next, Session};
        let config = Config { max_frame: 4096, ..Config::new(Protocol::Rr) };
        let mut session = Session::new(&config);
        let mut host = RecordingHost::default();
        let sleep = Some(Work::Sleep { us: 7 });
        let input = cat(&[req(1, 0, 2, None), req(2, 0, 3, sleep), req(3, 0, 0, None)]);
        let mut out = [0u8; 1024];
        // First call: answer 1 goes out before request 2's work is run.
        let p = session.process(&input, &mut out, &mut host);
        assert_eq!((p.next, &out[..p.written]), (Next::Write, &resp(1, 2)[..]));
        assert!(host.work.is_empty(), "work ran before the earlier answer was sent");
        // Second call: the work, then answers 2 and 3.
        let p2 = session.process(&input[p.consumed..], &mut out, &mut host);
        assert_eq!((p2.next, &out[..p2.written]), (Next::Read, &cat(&[resp(2, 3), resp(3, 0)])[..]));
        assert_eq!(host.work, vec![Work::Sleep { us: 7 }]);
        assert_eq!(p.requests + p2.requests, 3);
    }

    #[test]
    fn request_work_is_added_to_every_answered_request_after_its_own() {
        let added = Work::Spin { ns: 900 };
        let config = Config { max_frame: 4096, request_work: Some(added), ..Config::new(Protocol::Rr) };
        let own = Some(Work::Sleep { us: 5 });
        let mut input = cat(&[req(1, 3, 2, None), req(2, 0, 0, own)]);
        input.extend(RequestHeader::stats(3).encode());
        input.extend(req(4, 0, 0, None));
        let run = run_every_split(&config, &input);
        assert_eq!(run.requests, 3);
        // STATS gets none; request 2 does its own work first.
        assert_eq!(run.work, vec![added, Work::Sleep { us: 5 }, added, added]);
        // An error answer gets none either.
        let mut bad = req(5, 0, 0, None);
        bad[0] = 0;
        let run = run_every_split(&config, &cat(&[req(4, 0, 0, None), bad]));
        assert_eq!((run.requests, run.work), (1, vec![added]));
    }

    #[test]
    fn stats_request_returns_the_hosts_counters_as_json() {
        let config = Config { max_frame: 4096, ..Config::new(Protocol::Rr) };
        let mut input = RequestHeader::stats(42).encode().to_vec();
        input.extend(req(1, 0, 0, None));
        let run = run_every_split(&config, &input);
        let (head, rest) = run.output.split_at(RESPONSE_HEADER_LEN);
        let h = ResponseHeader::decode(head.try_into().unwrap()).unwrap();
        assert_eq!((h.kind, h.id, h.code), (ResponseKind::Stats, 42, 0));
        let (json, tail) = rest.split_at(h.payload_len as usize);
        assert_eq!(Stats::from_json(json).unwrap().schema, crate::STATS_SCHEMA);
        assert_eq!(tail, resp(1, 0));
        assert_eq!(run.requests, 1, "STATS requests are not counted as served");
    }

    #[test]
    fn truncated_request_is_mid_request() {
        let config = Config { max_frame: 4096, ..Config::new(Protocol::Rr) };
        let input = req(1, 10, 0, None);
        for cut in 1..input.len() {
            let run = crate::testing::run(&config, &input[..cut], &[], 64);
            assert!(run.mid_request, "cut at {cut}");
            assert!(run.output.is_empty());
        }
    }

    #[test]
    fn headers_round_trip() {
        let h = RequestHeader {
            kind: RequestKind::Request,
            id: 0x0102_0304_0506_0708,
            payload_len: 7,
            response_len: 9,
            work: Some(Work::Sleep { us: 3 }),
        };
        assert_eq!(RequestHeader::decode(&h.encode(), 100), Ok(h));
        let r = ResponseHeader { kind: ResponseKind::Error, code: 4, payload_len: 3, id: 77 };
        assert_eq!(ResponseHeader::decode(&r.encode()), Ok(r));
        assert!(payload_matches(250, &[250, 251, 252, 253, 254, 255, 0, 1]));
        assert!(!payload_matches(0, &[0, 2]));
    }
}

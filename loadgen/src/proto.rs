//! The client side of the three protocols, sans I/O: the bytes of each
//! request, and a streaming check of the responses, in order.
//!
//! Every response is validated, not just counted: echo bytes must equal the
//! bytes sent; an rr response must carry the id of the oldest outstanding
//! request, the length it asked for and the payload pattern; an http response
//! must be `200` with a well-formed `Content-Length` body. A mismatch ends the
//! connection as a bad response.
//!
//! Nothing here allocates per request: request bytes are written into the
//! caller's buffer, and parsers keep a few dozen bytes of state.

use std::fmt;

use protocol::rr::{
    REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader, ResponseKind, payload_matches,
};
use protocol::{Protocol, Work};

/// What every request of a run looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub protocol: Protocol,
    /// echo: message length; rr: payload length; http: ignored (a GET).
    pub request_bytes: u32,
    /// rr: response payload length asked for; echo and http: ignored.
    pub response_bytes: u32,
    /// rr: server-side work per request.
    pub work: Option<Work>,
    /// http: the `Host` header value.
    pub host: String,
}

impl Shape {
    /// Bytes one request puts on the wire.
    pub fn request_len(&self) -> usize {
        match self.protocol {
            Protocol::Echo => self.request_bytes as usize,
            Protocol::Rr => REQUEST_HEADER_LEN + self.request_bytes as usize,
            Protocol::Http => http_request(&self.host).len(),
        }
    }
}

fn http_request(host: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

/// Writes the bytes of successive requests on one connection.
#[derive(Debug)]
pub struct Requests {
    shape: Shape,
    /// The constant request of http, or the constant payload of rr.
    template: Box<[u8]>,
}

impl Requests {
    pub fn new(shape: &Shape) -> Self {
        let template: Box<[u8]> = match shape.protocol {
            Protocol::Http => http_request(&shape.host).into_bytes().into(),
            Protocol::Rr => vec![0x5A; shape.request_bytes as usize].into(),
            Protocol::Echo => Box::new([]),
        };
        Requests { shape: shape.clone(), template }
    }

    /// Append request `seq` (the connection's request number) to `out`.
    pub fn write(&self, seq: u64, out: &mut Vec<u8>) {
        match self.shape.protocol {
            Protocol::Http => out.extend_from_slice(&self.template),
            Protocol::Rr => {
                let header = RequestHeader {
                    payload_len: self.shape.request_bytes,
                    response_len: self.shape.response_bytes,
                    work: self.shape.work,
                    ..RequestHeader::request(seq)
                };
                out.extend_from_slice(&header.encode());
                out.extend_from_slice(&self.template);
            }
            Protocol::Echo => {
                let start = out.len();
                out.resize(start + self.shape.request_bytes as usize, 0);
                echo_fill(seq, &mut out[start..]);
            }
        }
    }
}

/// The echo message for request `seq`: a pattern that depends on `seq` and
/// on the offset, so a byte out of place or from another message shows.
fn echo_fill(seq: u64, buf: &mut [u8]) {
    echo_fill_at(seq, 0, buf);
}

/// Why a response was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadResponse {
    /// Bytes arrived with no request outstanding.
    Unsolicited,
    /// echo: a byte differs from what was sent.
    EchoMismatch { seq: u64, offset: usize },
    /// rr: not a response header, or the server's ERROR frame.
    RrFrame(String),
    /// rr: the response answers another request.
    RrId { expected: u64, got: u64 },
    /// rr: the payload has the wrong length or content.
    RrPayload { seq: u64 },
    /// http: not a `200` response with a valid `Content-Length`.
    Http(String),
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadResponse::Unsolicited => write!(f, "bytes arrived with no request outstanding"),
            BadResponse::EchoMismatch { seq, offset } => {
                write!(f, "echo of request {seq} differs at byte {offset}")
            }
            BadResponse::RrFrame(why) => write!(f, "rr: {why}"),
            BadResponse::RrId { expected, got } => {
                write!(f, "rr: response for request {got}, expected {expected}")
            }
            BadResponse::RrPayload { seq } => write!(f, "rr: payload of response {seq} is wrong"),
            BadResponse::Http(why) => write!(f, "http: {why}"),
        }
    }
}

/// Checks one connection's responses as the bytes arrive. `seq` numbers
/// come from the caller's queue of outstanding requests, oldest first.
#[derive(Debug)]
pub struct Responses {
    shape: Shape,
    state: State,
    /// http: the bytes of the first response that passed the full check,
    /// while it is being captured, then for good. Later responses equal to
    /// it byte for byte are accepted with one comparison; anything else goes
    /// through the full check. Only small responses are kept.
    known: Known,
}

#[derive(Debug)]
enum Known {
    Capturing(Vec<u8>),
    Response(Box<[u8]>),
    /// Too large to keep, or not http.
    None,
}

/// Largest http response kept for the fast comparison.
const KNOWN_MAX: usize = 4096;

#[derive(Debug)]
enum State {
    /// echo: bytes of the current message already checked.
    Echo {
        done: usize,
    },
    /// rr: the header being read, then the payload.
    RrHeader {
        have: usize,
        header: [u8; RESPONSE_HEADER_LEN],
    },
    RrPayload {
        left: u32,
        offset: usize,
    },
    /// http: the head, line by line (only the status line and
    /// Content-Length matter), then the body.
    HttpHead(HttpHead),
    HttpBody {
        left: u64,
    },
}

#[derive(Debug, Default)]
struct HttpHead {
    /// Bytes of the current line kept (only the start of a line matters).
    line: [u8; 32],
    line_len: usize,
    /// Whole line length, beyond what is kept.
    line_total: usize,
    lines: u32,
    head_bytes: usize,
    status_ok: bool,
    content_length: Option<u64>,
}

/// Longest response head accepted.
const MAX_HTTP_HEAD: usize = 16 * 1024;

/// What [`Responses::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// All input consumed; no response completed.
    More,
    /// The oldest outstanding response completed after `consumed` bytes.
    Done { consumed: usize },
}

impl Responses {
    pub fn new(shape: &Shape) -> Self {
        let known = if shape.protocol == Protocol::Http { Known::Capturing(Vec::new()) } else { Known::None };
        let mut r = Responses { shape: shape.clone(), state: State::Echo { done: 0 }, known };
        r.reset();
        r
    }

    /// http: feed `input` to the full check, capturing the first response's
    /// bytes; then take the fast path where it applies.
    fn feed_http(&mut self, seq: u64, input: &[u8]) -> Result<Fed, BadResponse> {
        if let (Known::Response(known), State::HttpHead(head)) = (&self.known, &self.state)
            && head.head_bytes == 0
            && input.starts_with(known)
        {
            return Ok(Fed::Done { consumed: known.len() });
        }
        let fed = self.feed_slow(seq, input)?;
        if let Known::Capturing(bytes) = &mut self.known {
            let n = match fed {
                Fed::More => input.len(),
                Fed::Done { consumed } => consumed,
            };
            bytes.extend_from_slice(&input[..n]);
            if bytes.len() > KNOWN_MAX {
                self.known = Known::None;
            } else if let Fed::Done { .. } = fed {
                self.known = Known::Response(std::mem::take(bytes).into_boxed_slice());
            }
        }
        Ok(fed)
    }

    fn reset(&mut self) {
        self.state = match self.shape.protocol {
            Protocol::Echo => State::Echo { done: 0 },
            Protocol::Rr => State::RrHeader { have: 0, header: [0; RESPONSE_HEADER_LEN] },
            Protocol::Http => State::HttpHead(HttpHead::default()),
        };
    }

    /// Whether part of a response has arrived (the tests' check that
    /// their input ends between responses).
    #[cfg(test)]
    fn mid_response(&self) -> bool {
        match &self.state {
            State::Echo { done } => *done > 0,
            State::RrHeader { have, .. } => *have > 0,
            State::RrPayload { .. } | State::HttpBody { .. } => true,
            State::HttpHead(h) => h.head_bytes > 0,
        }
    }

    /// Consume `input`, which continues the response to request `seq`; stop
    /// at the end of that response. Call again with the rest (and the next
    /// outstanding `seq`) after `Done`.
    pub fn feed(&mut self, seq: u64, input: &[u8]) -> Result<Fed, BadResponse> {
        if self.shape.protocol == Protocol::Http {
            return self.feed_http(seq, input);
        }
        self.feed_slow(seq, input)
    }

    /// The full, streaming check.
    fn feed_slow(&mut self, seq: u64, input: &[u8]) -> Result<Fed, BadResponse> {
        let shape_response = self.shape.response_bytes;
        let request_bytes = self.shape.request_bytes as usize;
        match &mut self.state {
            State::Echo { done } => {
                let n = input.len().min(request_bytes - *done);
                let mut expected = [0u8; 256];
                let mut checked = 0;
                while checked < n {
                    let chunk = (n - checked).min(expected.len());
                    echo_fill_at(seq, *done + checked, &mut expected[..chunk]);
                    if input[checked..checked + chunk] != expected[..chunk] {
                        let at = (0..chunk).find(|&i| input[checked + i] != expected[i]).unwrap_or(0);
                        return Err(BadResponse::EchoMismatch { seq, offset: *done + checked + at });
                    }
                    checked += chunk;
                }
                *done += n;
                if *done == request_bytes {
                    self.reset();
                    return Ok(Fed::Done { consumed: n });
                }
                Ok(Fed::More)
            }
            State::RrHeader { have, header } => {
                let n = input.len().min(RESPONSE_HEADER_LEN - *have);
                header[*have..*have + n].copy_from_slice(&input[..n]);
                *have += n;
                if *have < RESPONSE_HEADER_LEN {
                    return Ok(Fed::More);
                }
                let h = ResponseHeader::decode(header).map_err(|e| BadResponse::RrFrame(e.to_string()))?;
                if h.kind != ResponseKind::Response {
                    return Err(BadResponse::RrFrame(format!(
                        "{:?} frame (code {}) instead of a response",
                        h.kind, h.code
                    )));
                }
                if h.id != seq {
                    return Err(BadResponse::RrId { expected: seq, got: h.id });
                }
                if h.payload_len != shape_response {
                    return Err(BadResponse::RrPayload { seq });
                }
                if h.payload_len == 0 {
                    self.reset();
                    return Ok(Fed::Done { consumed: n });
                }
                self.state = State::RrPayload { left: h.payload_len, offset: 0 };
                match self.feed_slow(seq, &input[n..])? {
                    Fed::More => Ok(Fed::More),
                    Fed::Done { consumed } => Ok(Fed::Done { consumed: n + consumed }),
                }
            }
            State::RrPayload { left, offset } => {
                let n = input.len().min(*left as usize);
                if !payload_matches(*offset, &input[..n]) {
                    return Err(BadResponse::RrPayload { seq });
                }
                *left -= n as u32;
                *offset += n;
                if *left == 0 {
                    self.reset();
                    return Ok(Fed::Done { consumed: n });
                }
                Ok(Fed::More)
            }
            State::HttpHead(head) => {
                for (i, &b) in input.iter().enumerate() {
                    head.head_bytes += 1;
                    if head.head_bytes > MAX_HTTP_HEAD {
                        return Err(BadResponse::Http("response head over 16 KiB".into()));
                    }
                    if b != b'\n' {
                        if head.line_len < head.line.len() {
                            head.line[head.line_len] = b;
                            head.line_len += 1;
                        }
                        head.line_total += 1;
                        continue;
                    }
                    let line = &head.line[..head.line_len];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let blank = head.line_total <= 1 && line.is_empty();
                    if head.lines == 0 {
                        if !(line.starts_with(b"HTTP/1.1 ") || line.starts_with(b"HTTP/1.0 ")) {
                            return Err(BadResponse::Http(format!(
                                "bad status line {:?}",
                                String::from_utf8_lossy(line)
                            )));
                        }
                        if line.get(9..12) != Some(b"200") {
                            return Err(BadResponse::Http(format!(
                                "status {}",
                                String::from_utf8_lossy(line.get(9..12).unwrap_or(b"?"))
                            )));
                        }
                        head.status_ok = true;
                    } else if blank {
                        let Some(length) = head.content_length else {
                            return Err(BadResponse::Http("no Content-Length".into()));
                        };
                        if length == 0 {
                            self.reset();
                            return Ok(Fed::Done { consumed: i + 1 });
                        }
                        self.state = State::HttpBody { left: length };
                        return match self.feed_slow(seq, &input[i + 1..])? {
                            Fed::More => Ok(Fed::More),
                            Fed::Done { consumed } => Ok(Fed::Done { consumed: i + 1 + consumed }),
                        };
                    } else if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
                        let value = std::str::from_utf8(&line[15..]).unwrap_or("").trim();
                        let length = value
                            .parse::<u64>()
                            .map_err(|_| BadResponse::Http(format!("Content-Length {value:?}")))?;
                        if head.content_length.is_some_and(|l| l != length) {
                            return Err(BadResponse::Http("conflicting Content-Length".into()));
                        }
                        head.content_length = Some(length);
                    }
                    head.lines += 1;
                    head.line_len = 0;
                    head.line_total = 0;
                }
                debug_assert!(head.status_ok || head.lines == 0);
                Ok(Fed::More)
            }
            State::HttpBody { left } => {
                let n = (input.len() as u64).min(*left);
                *left -= n;
                if *left == 0 {
                    self.reset();
                    return Ok(Fed::Done { consumed: n as usize });
                }
                Ok(Fed::More)
            }
        }
    }
}

/// Bytes `offset..offset + out.len()` of echo message `seq`.
fn echo_fill_at(seq: u64, offset: usize, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let at = offset + i;
        *b = (seq as u8).wrapping_mul(31).wrapping_add(at as u8).wrapping_add((at >> 8) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(protocol: Protocol, request_bytes: u32, response_bytes: u32) -> Shape {
        Shape { protocol, request_bytes, response_bytes, work: None, host: "h".into() }
    }

    /// Feed `input` (all responses to requests 0, 1, ...) in pieces of
    /// `piece` bytes; return how many responses completed, or the error.
    fn run(shape: &Shape, input: &[u8], piece: usize) -> Result<u64, BadResponse> {
        let mut r = Responses::new(shape);
        let mut seq = 0;
        for chunk in input.chunks(piece.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() {
                match r.feed(seq, rest)? {
                    Fed::More => break,
                    Fed::Done { consumed } => {
                        seq += 1;
                        rest = &rest[consumed..];
                    }
                }
            }
        }
        assert!(!r.mid_response(), "input ended inside a response");
        Ok(seq)
    }

    fn server_answers(shape: &Shape, n: u64) -> Vec<u8> {
        // The real server core answers the requests `Requests` writes.
        let mut requests = Vec::new();
        let maker = Requests::new(shape);
        for seq in 0..n {
            maker.write(seq, &mut requests);
        }
        let config = protocol::Config::new(shape.protocol);
        let mut session = protocol::Session::new(&config);
        struct NoHost;
        impl protocol::Host for NoHost {
            fn work(&mut self, _: Work) {}
            fn stats(&mut self) -> protocol::Stats {
                protocol::Stats::default()
            }
        }
        let mut out = vec![0u8; 1 << 16];
        let mut answers = Vec::new();
        let mut rest = &requests[..];
        loop {
            let p = session.process(rest, &mut out, &mut NoHost);
            answers.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
            if p.next == protocol::Next::Read {
                break;
            }
        }
        answers
    }

    #[test]
    fn answers_of_the_real_server_core_validate_however_split() {
        for shape in [
            shape(Protocol::Echo, 1, 0),
            shape(Protocol::Echo, 1000, 0),
            shape(Protocol::Rr, 0, 0),
            shape(Protocol::Rr, 100, 3000),
            shape(Protocol::Http, 0, 0),
        ] {
            let answers = server_answers(&shape, 20);
            for piece in [1, 2, 7, 100, 1 << 20] {
                assert_eq!(run(&shape, &answers, piece), Ok(20), "{shape:?} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn wrong_answers_are_refused() {
        let echo = shape(Protocol::Echo, 8, 0);
        let mut a = server_answers(&echo, 2);
        a[11] ^= 1;
        assert_eq!(run(&echo, &a, 3), Err(BadResponse::EchoMismatch { seq: 1, offset: 3 }));

        let rr = shape(Protocol::Rr, 0, 4);
        let mut a = server_answers(&rr, 2);
        a[8] = 7; // the first response's id
        assert_eq!(run(&rr, &a, 5), Err(BadResponse::RrId { expected: 0, got: 7 }));
        let mut a = server_answers(&rr, 1);
        a[RESPONSE_HEADER_LEN + 2] ^= 0xFF;
        assert_eq!(run(&rr, &a, 64), Err(BadResponse::RrPayload { seq: 0 }));
        let other_len = shape(Protocol::Rr, 0, 5);
        assert_eq!(run(&other_len, &server_answers(&rr, 1), 64), Err(BadResponse::RrPayload { seq: 0 }));

        let http = shape(Protocol::Http, 0, 0);
        let cases: [(&[u8], &str); 5] = [
            (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "status 400"),
            (b"HTTP/1.1 200 OK\r\n\r\n", "no Content-Length"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
            (b"SSH-2.0-OpenSSH\r\n", "bad status line"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", "conflicting"),
        ];
        for (input, want) in cases {
            match run(&http, input, 4) {
                Err(BadResponse::Http(why)) => assert!(why.contains(want), "{why:?} lacks {want:?}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn http_fast_path_accepts_only_exact_repeats() {
        let http = shape(Protocol::Http, 0, 0);
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let other = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n\r\nhey";
        let mut input = Vec::new();
        for _ in 0..3 {
            input.extend_from_slice(ok);
        }
        input.extend_from_slice(other);
        input.extend_from_slice(ok);
        assert_eq!(run(&http, &input, 1 << 20), Ok(5), "repeats, then a different valid answer");
        let mut bad = ok.repeat(2);
        bad.extend_from_slice(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nhi");
        match run(&http, &bad, 1 << 20) {
            Err(BadResponse::Http(why)) => assert!(why.contains("500"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_lengths() {
        assert_eq!(shape(Protocol::Echo, 128, 0).request_len(), 128);
        assert_eq!(shape(Protocol::Rr, 100, 0).request_len(), 124);
        assert_eq!(shape(Protocol::Http, 0, 0).request_len(), "GET / HTTP/1.1\r\nHost: h\r\n\r\n".len());
    }
}

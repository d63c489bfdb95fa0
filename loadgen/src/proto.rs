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
    /// http: the request target, `/` or a path with its query as given.
    pub path: String,
    /// http: more header lines, `Name: value` each (a `Host` among them
    /// replaces the default one).
    pub headers: Vec<String>,
}

impl Shape {
    /// Bytes one request puts on the wire.
    pub fn request_len(&self) -> usize {
        match self.protocol {
            Protocol::Echo => self.request_bytes as usize,
            Protocol::Rr => REQUEST_HEADER_LEN + self.request_bytes as usize,
            Protocol::Http => http_request(self).len(),
        }
    }
}

/// The GET request of `shape`: its path, `Host`, then the extra headers.
fn http_request(shape: &Shape) -> String {
    let mut r = format!("GET {} HTTP/1.1\r\n", shape.path);
    let has_host = shape
        .headers
        .iter()
        .any(|h| h.split(':').next().is_some_and(|n| n.trim().eq_ignore_ascii_case("host")));
    if !has_host {
        r.push_str(&format!("Host: {}\r\n", shape.host));
    }
    for h in &shape.headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

/// A header line as `-H` gives it, `Name: value`, or why not.
pub fn parse_header(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("bad header `{s}`: {why} (expected `Name: value`)");
    let (name, value) = s.split_once(':').ok_or_else(|| bad("no colon"))?;
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(bad("the name must be a token (letters, digits, -)"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7F) {
        return Err(bad("control characters in the value"));
    }
    Ok(format!("{name}: {}", value.trim()))
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
            Protocol::Http => http_request(shape).into_bytes().into(),
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
    Response(Box<[u8]>, Answer),
    /// Too large to keep, ends at the close, or not http.
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
    /// http: the head, line by line (the status line, Content-Length,
    /// Transfer-Encoding and Connection matter), then the body: of a
    /// length, chunked, or up to the close.
    HttpHead(HttpHead),
    HttpBody {
        left: u64,
        answer: Answer,
    },
    /// A chunk-size line: its hex digits so far, and whether an extension
    /// (`;...`) began.
    HttpChunkSize {
        size: u64,
        digits: u32,
        extension: bool,
        answer: Answer,
    },
    HttpChunkData {
        left: u64,
        answer: Answer,
    },
    /// The CRLF after a chunk's data: bytes of it seen.
    HttpChunkEnd {
        seen: u8,
        answer: Answer,
    },
    /// After the last chunk: trailer lines up to a blank one (bytes of the
    /// current line).
    HttpTrailer {
        line: usize,
        answer: Answer,
    },
    /// A body that ends when the server closes the connection.
    HttpUntilClose {
        answer: Answer,
    },
}

#[derive(Debug)]
struct HttpHead {
    /// Bytes of the current line kept (only the start of a line matters).
    line: [u8; 64],
    line_len: usize,
    /// Whole line length, beyond what is kept.
    line_total: usize,
    lines: u32,
    head_bytes: usize,
    status: u16,
    http10: bool,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

impl Default for HttpHead {
    fn default() -> Self {
        HttpHead {
            line: [0; 64],
            line_len: 0,
            line_total: 0,
            lines: 0,
            head_bytes: 0,
            status: 0,
            http10: false,
            content_length: None,
            chunked: false,
            close: false,
            keep_alive: false,
        }
    }
}

/// Whether the comma-separated header value `value` lists `token`.
fn lists(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Longest response head accepted.
const MAX_HTTP_HEAD: usize = 16 * 1024;

/// What [`Responses::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// All input consumed; no response completed.
    More,
    /// The oldest outstanding response completed after `consumed` bytes.
    Done { consumed: usize, answer: Answer },
}

/// What a complete response said beyond its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// http: the status code; echo and rr: 200.
    pub status: u16,
    /// http: the server closes the connection after it (`Connection:
    /// close`, or HTTP/1.0 without keep-alive, or a body that ends at the
    /// close).
    pub close: bool,
}

impl Answer {
    /// A good answer of echo or rr, or an http 2xx that keeps the connection.
    pub const OK: Answer = Answer { status: 200, close: false };

    /// A 2xx answer (echo and rr are always one).
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status class, 1 to 5 (`4` for 404).
    pub fn class(&self) -> usize {
        usize::from(self.status / 100).clamp(1, 5)
    }
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
        if let (Known::Response(known, answer), State::HttpHead(head)) = (&self.known, &self.state)
            && head.head_bytes == 0
            && input.starts_with(known)
        {
            return Ok(Fed::Done { consumed: known.len(), answer: *answer });
        }
        let fed = self.feed_slow(seq, input)?;
        if let Known::Capturing(bytes) = &mut self.known {
            let n = match fed {
                Fed::More => input.len(),
                Fed::Done { consumed, .. } => consumed,
            };
            bytes.extend_from_slice(&input[..n]);
            if bytes.len() > KNOWN_MAX || matches!(self.state, State::HttpUntilClose { .. }) {
                self.known = Known::None;
            } else if let Fed::Done { answer, .. } = fed {
                self.known = Known::Response(std::mem::take(bytes).into_boxed_slice(), answer);
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
            State::RrPayload { .. }
            | State::HttpBody { .. }
            | State::HttpChunkSize { .. }
            | State::HttpChunkData { .. }
            | State::HttpChunkEnd { .. }
            | State::HttpTrailer { .. }
            | State::HttpUntilClose { .. } => true,
            State::HttpHead(h) => h.head_bytes > 0,
        }
    }

    /// The server closed the connection: a body that ends at the close is
    /// complete now (its answer), anything else partial was cut.
    pub fn at_close(&mut self) -> Option<Answer> {
        if let State::HttpUntilClose { answer } = self.state {
            self.reset();
            return Some(answer);
        }
        None
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
                    return Ok(Fed::Done { consumed: n, answer: Answer::OK });
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
                    return Ok(Fed::Done { consumed: n, answer: Answer::OK });
                }
                self.state = State::RrPayload { left: h.payload_len, offset: 0 };
                Ok(self.feed_slow(seq, &input[n..])?.after(n))
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
                    return Ok(Fed::Done { consumed: n, answer: Answer::OK });
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
                        let (http10, http11) =
                            (line.starts_with(b"HTTP/1.0 "), line.starts_with(b"HTTP/1.1 "));
                        let code = line.get(9..12).filter(|c| c.iter().all(u8::is_ascii_digit));
                        let (Some(code), true) = (code, http10 || http11) else {
                            return Err(BadResponse::Http(format!(
                                "bad status line {:?}",
                                String::from_utf8_lossy(line)
                            )));
                        };
                        head.status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
                        head.http10 = http10;
                        if !(100..600).contains(&head.status) || head.status == 101 {
                            return Err(BadResponse::Http(format!("status {}", head.status)));
                        }
                    } else if blank {
                        let rest = &input[i + 1..];
                        return match self.body_after_head()? {
                            None => Ok(self.feed_slow(seq, rest)?.after(i + 1)),
                            Some(Fed::Done { answer, .. }) => Ok(Fed::Done { consumed: i + 1, answer }),
                            Some(Fed::More) => Ok(self.feed_slow(seq, rest)?.after(i + 1)),
                        };
                    } else if let Some(value) = header_value(line, b"content-length:") {
                        let value = std::str::from_utf8(value).unwrap_or("").trim();
                        let length = value
                            .parse::<u64>()
                            .map_err(|_| BadResponse::Http(format!("Content-Length {value:?}")))?;
                        if head.content_length.is_some_and(|l| l != length) {
                            return Err(BadResponse::Http("conflicting Content-Length".into()));
                        }
                        head.content_length = Some(length);
                    } else if let Some(value) = header_value(line, b"transfer-encoding:") {
                        head.chunked |= lists(value, b"chunked");
                    } else if let Some(value) = header_value(line, b"connection:") {
                        head.close |= lists(value, b"close");
                        head.keep_alive |= lists(value, b"keep-alive");
                    }
                    head.lines += 1;
                    head.line_len = 0;
                    head.line_total = 0;
                }
                Ok(Fed::More)
            }
            State::HttpBody { left, answer } => {
                let n = (input.len() as u64).min(*left);
                *left -= n;
                if *left == 0 {
                    let answer = *answer;
                    self.reset();
                    return Ok(Fed::Done { consumed: n as usize, answer });
                }
                Ok(Fed::More)
            }
            State::HttpChunkSize { size, digits, extension, answer } => {
                for (i, &b) in input.iter().enumerate() {
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return Err(BadResponse::Http("chunk without a size".into()));
                            }
                            let (size, answer) = (*size, *answer);
                            self.state = if size == 0 {
                                State::HttpTrailer { line: 0, answer }
                            } else {
                                State::HttpChunkData { left: size, answer }
                            };
                            return Ok(self.feed_slow(seq, &input[i + 1..])?.after(i + 1));
                        }
                        b'\r' => {}
                        _ if *extension => {}
                        b';' => *extension = true,
                        _ => {
                            let Some(d) = (b as char).to_digit(16) else {
                                return Err(BadResponse::Http(format!("bad chunk size byte {b:#04x}")));
                            };
                            *digits += 1;
                            if *digits > 15 {
                                return Err(BadResponse::Http("chunk size over 15 hex digits".into()));
                            }
                            *size = *size * 16 + u64::from(d);
                        }
                    }
                }
                Ok(Fed::More)
            }
            State::HttpChunkData { left, answer } => {
                let n = (input.len() as u64).min(*left);
                *left -= n;
                if *left == 0 {
                    self.state = State::HttpChunkEnd { seen: 0, answer: *answer };
                    return Ok(self.feed_slow(seq, &input[n as usize..])?.after(n as usize));
                }
                Ok(Fed::More)
            }
            State::HttpChunkEnd { seen, answer } => {
                for (i, &b) in input.iter().enumerate() {
                    match (*seen, b) {
                        (0, b'\r') => *seen = 1,
                        (0 | 1, b'\n') => {
                            self.state = State::HttpChunkSize {
                                size: 0,
                                digits: 0,
                                extension: false,
                                answer: *answer,
                            };
                            return Ok(self.feed_slow(seq, &input[i + 1..])?.after(i + 1));
                        }
                        _ => return Err(BadResponse::Http("chunk data longer than its size".into())),
                    }
                }
                Ok(Fed::More)
            }
            State::HttpTrailer { line, answer } => {
                for (i, &b) in input.iter().enumerate() {
                    match b {
                        b'\n' if *line == 0 => {
                            let answer = *answer;
                            self.reset();
                            return Ok(Fed::Done { consumed: i + 1, answer });
                        }
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
                Ok(Fed::More)
            }
            State::HttpUntilClose { .. } => Ok(Fed::More),
        }
    }

    /// The head is complete: what comes next. `Some(Done)`: the response
    /// has no body (1xx heads are skipped: the real head follows);
    /// `Some(More)`: a body state was entered; `None`: a 1xx head was
    /// skipped and the next head begins.
    fn body_after_head(&mut self) -> Result<Option<Fed>, BadResponse> {
        let State::HttpHead(head) = &self.state else { unreachable!("called at the end of a head") };
        let close = head.close || (head.http10 && !head.keep_alive);
        let answer = Answer { status: head.status, close };
        if (100..200).contains(&head.status) {
            self.state = State::HttpHead(HttpHead::default());
            return Ok(None);
        }
        if head.status == 204 || head.status == 304 {
            self.reset();
            return Ok(Some(Fed::Done { consumed: 0, answer }));
        }
        self.state = match (head.chunked, head.content_length) {
            (true, _) => State::HttpChunkSize { size: 0, digits: 0, extension: false, answer },
            (false, Some(0)) => {
                self.reset();
                return Ok(Some(Fed::Done { consumed: 0, answer }));
            }
            (false, Some(left)) => State::HttpBody { left, answer },
            (false, None) => State::HttpUntilClose { answer: Answer { close: true, ..answer } },
        };
        Ok(Some(Fed::More))
    }
}

impl Fed {
    /// The same, `n` bytes later in the input.
    fn after(self, n: usize) -> Fed {
        match self {
            Fed::More => Fed::More,
            Fed::Done { consumed, answer } => Fed::Done { consumed: n + consumed, answer },
        }
    }
}

/// The value of header `line` if its name is `name` (with the colon, lower
/// case), ignoring case.
fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    (line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)).then(|| &line[name.len()..])
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
        Shape {
            protocol,
            request_bytes,
            response_bytes,
            work: None,
            host: "h".into(),
            path: "/".into(),
            headers: Vec::new(),
        }
    }

    /// Feed `input` (all responses to requests 0, 1, ...) in pieces of
    /// `piece` bytes; return how many responses completed, or the error.
    fn run(shape: &Shape, input: &[u8], piece: usize) -> Result<u64, BadResponse> {
        answers(shape, input, piece).map(|a| a.len() as u64)
    }

    /// The answers `input` holds, fed in pieces of `piece` bytes, then the
    /// close (which ends a body that runs to it).
    fn answers(shape: &Shape, input: &[u8], piece: usize) -> Result<Vec<Answer>, BadResponse> {
        let mut r = Responses::new(shape);
        let mut answers = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() {
                match r.feed(answers.len() as u64, rest)? {
                    Fed::More => break,
                    Fed::Done { consumed, answer } => {
                        answers.push(answer);
                        rest = &rest[consumed..];
                    }
                }
            }
        }
        answers.extend(r.at_close());
        assert!(!r.mid_response(), "input ended inside a response");
        Ok(answers)
    }

    #[test]
    fn http_bodies_of_every_framing_and_statuses_by_class() {
        let http = shape(Protocol::Http, 0, 0);
        let ok = Answer::OK;
        let (close, status) =
            (|status| Answer { status, close: true }, |status| Answer { status, close: false });
        // (responses on one connection, the answers they make)
        let table: [(&[u8], Vec<Answer>); 9] = [
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", vec![ok]),
            (b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", vec![ok, ok]),
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", vec![status(404), status(503)]),
            (b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n", vec![status(301)]),
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", vec![close(200)]),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", vec![close(200)]),
            (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", vec![ok]),
            (b"HTTP/1.1 200 OK\r\n\r\nthe body runs to the close", vec![close(200)]),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", vec![status(204)]),
        ];
        for (input, expected) in table {
            for piece in [1, 3, 1 << 20] {
                assert_eq!(
                    answers(&http, input, piece),
                    Ok(expected.clone()),
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        assert!(!status(404).ok() && status(404).class() == 4 && ok.ok() && status(204).ok());
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
        let cases: [(&[u8], &str); 7] = [
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "status 101"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
            (b"SSH-2.0-OpenSSH\r\n", "bad status line"),
            (b"HTTP/1.1 2x0 OK\r\n", "bad status line"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", "conflicting"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "longer than its size"),
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
        let mut other_status = ok.repeat(2);
        other_status.extend_from_slice(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nhi");
        let a = answers(&http, &other_status, 1 << 20).unwrap();
        assert_eq!(
            a.iter().map(|a| a.status).collect::<Vec<_>>(),
            [200, 200, 500],
            "the fast path keeps the status"
        );
    }

    #[test]
    fn request_lengths() {
        assert_eq!(shape(Protocol::Echo, 128, 0).request_len(), 128);
        assert_eq!(shape(Protocol::Rr, 100, 0).request_len(), 124);
        assert_eq!(shape(Protocol::Http, 0, 0).request_len(), "GET / HTTP/1.1\r\nHost: h\r\n\r\n".len());
        let custom = Shape {
            path: "/a?b=c".into(),
            headers: vec!["Accept: */*".into(), "X-Y: z".into()],
            ..shape(Protocol::Http, 0, 0)
        };
        assert_eq!(http_request(&custom), "GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Y: z\r\n\r\n");
        let host = Shape { headers: vec!["host: other".into()], ..shape(Protocol::Http, 0, 0) };
        assert_eq!(
            http_request(&host),
            "GET / HTTP/1.1\r\nhost: other\r\n\r\n",
            "a Host given replaces ours"
        );
        assert_eq!(parse_header("X-A:  b c "), Ok("X-A: b c".into()));
        for bad in ["nocolon", ": v", "Bad Name: v", "X: a\r\nInjected: 1"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }
}

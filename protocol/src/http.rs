//! http: enough HTTP/1.1 for real clients (wrk, curl, h2load --h1).
//!
//! `GET`, `HEAD` or `POST` of any path answers `200 OK` with a
//! `text/plain` body `Hello, World!`; `/stats` (with or without a query)
//! answers the server counters as JSON. Keep-alive is the default for
//! HTTP/1.1, `Connection: close` is honoured, HTTP/1.0 keeps the connection
//! only with `Connection: keep-alive`, and pipelined requests are answered in
//! order. An HTTP/1.1 request must carry exactly one `Host` header (RFC
//! 9112 3.2; its value is not checked). A body announced by
//! `Content-Length` is read and discarded, up to
//! `--max-frame` bytes (413 beyond); `Expect: 100-continue` gets its interim
//! response. Errors answer with a status and close: malformed request line
//! or header, or a missing or repeated `Host` 400, request line plus headers over 8 KiB 431, another method
//! 405, `Transfer-Encoding` 501, a version other than 1.0/1.1 505.
//!
//! The parser is a byte-at-a-time state machine that keeps only what it needs
//! (method, whether the target is `/stats`, the few headers that matter), so a
//! connection's state stays a few dozen bytes however the request is split,
//! and the caller never has to keep unconsumed input. Responses carry no
//! `Date` header: the core has no clock.

use crate::out::{self, Body, Parse, Pending};
use crate::{CloseReason, Host, Progress, ProtocolError, Work};

/// Longest request line plus header section, including the line ends and the
/// empty line that ends it.
pub const MAX_HEAD: usize = 8 * 1024;

/// The body of every ordinary response.
pub const HELLO: &str = "Hello, World!";

macro_rules! hello {
    ($extra:literal) => {
        concat!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n",
            $extra,
            "\r\nHello, World!"
        )
    };
}

const OK_KEEP_ALIVE: &str = hello!("");
const OK_CLOSE: &str = hello!("Connection: close\r\n");
const OK_KEEP_ALIVE_10: &str = hello!("Connection: keep-alive\r\n");
const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";

/// Which connection behaviour a response announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persist {
    /// HTTP/1.1 default: no header needed.
    KeepAlive,
    /// HTTP/1.0 client that asked to keep the connection.
    KeepAlive10,
    Close,
}

impl Persist {
    fn header(self) -> &'static str {
        match self {
            Persist::KeepAlive => "",
            Persist::KeepAlive10 => "Connection: keep-alive\r\n",
            Persist::Close => "Connection: close\r\n",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between requests; empty lines are skipped here.
    Start,
    Method,
    Target,
    Version,
    /// At the start of a header line, or of the empty line ending the head.
    LineStart,
    Name,
    /// After the colon, skipping whitespace.
    ValueStart,
    Value,
    /// A CR was seen; a LF must follow, then `after`.
    Lf(AfterLf),
    /// Discarding `body_left` bytes of body.
    Body,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterLf {
    Start,
    RequestLine,
    Header,
    Head,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
}

/// The headers whose values matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Header {
    ContentLength,
    Connection,
    Expect,
    Host,
    TransferEncoding,
    Other,
}

/// Whether the target seen so far can still be `/stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatsPath {
    Maybe,
    Yes,
    No,
}

const NAME_CAP: usize = 20;
const WORD_CAP: usize = 16;

/// What the parser keeps about the request being received; reset between
/// requests.
#[derive(Clone, Copy, Debug)]
struct Request {
    head_len: usize,
    word: [u8; WORD_CAP],
    word_len: usize,
    method: Method,
    target_len: usize,
    stats: StatsPath,
    http10: bool,
    name: [u8; NAME_CAP],
    name_len: usize,
    header: Header,
    /// Current Content-Length value and its digit count.
    value: u64,
    digits: u32,
    /// Whitespace ended the value's digits or current token; only more
    /// whitespace (or, in a token list, a comma) may follow.
    value_done: bool,
    content_length: Option<u64>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    transfer_encoding: bool,
    hosts: u32,
}

impl Request {
    const NEW: Request = Request {
        head_len: 0,
        word: [0; WORD_CAP],
        word_len: 0,
        method: Method::Get,
        target_len: 0,
        stats: StatsPath::Maybe,
        http10: false,
        name: [0; NAME_CAP],
        name_len: 0,
        header: Header::Other,
        value: 0,
        digits: 0,
        value_done: false,
        content_length: None,
        close: false,
        keep_alive: false,
        expect_continue: false,
        transfer_encoding: false,
        hosts: 0,
    };

    fn persist(&self) -> Persist {
        match (self.http10, self.close, self.keep_alive) {
            (_, true, _) | (true, false, false) => Persist::Close,
            (true, false, true) => Persist::KeepAlive10,
            (false, false, _) => Persist::KeepAlive,
        }
    }

    /// Add a byte to the current word (method, version, or a lowercased
    /// token of a Connection or Expect value); a word too long to be one we
    /// know is marked by a length past the cap.
    fn push_word(&mut self, b: u8) {
        if self.word_len < WORD_CAP {
            self.word[self.word_len] = b;
        }
        self.word_len = self.word_len.saturating_add(1);
    }

    fn word(&self) -> &[u8] {
        if self.word_len <= WORD_CAP { &self.word[..self.word_len] } else { &[] }
    }

    fn value_byte(&mut self, b: u8) -> Result<(), ProtocolError> {
        let r = self;
        match r.header {
            Header::ContentLength => match b {
                b'0'..=b'9' if !r.value_done => {
                    r.value = r
                        .value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(b - b'0')))
                        .ok_or(ProtocolError::BadRequest)?;
                    r.digits += 1;
                }
                b' ' | b'\t' if r.digits > 0 => r.value_done = true,
                _ => return Err(ProtocolError::BadRequest),
            },
            Header::Connection | Header::Expect => match b {
                b',' => r.end_token(),
                b' ' | b'\t' => r.value_done = r.word_len > 0,
                // Text after whitespace inside one token: not a token we know.
                _ if r.value_done => r.word_len = usize::MAX,
                b => r.push_word(b.to_ascii_lowercase()),
            },
            Header::Host | Header::TransferEncoding | Header::Other => {}
        }
        Ok(())
    }

    fn end_value(&mut self) -> Result<(), ProtocolError> {
        let r = self;
        match r.header {
            Header::ContentLength => {
                if r.digits == 0 {
                    return Err(ProtocolError::BadRequest);
                }
                if r.content_length.is_some_and(|v| v != r.value) {
                    return Err(ProtocolError::BadRequest);
                }
                r.content_length = Some(r.value);
            }
            Header::Connection | Header::Expect => r.end_token(),
            Header::Host => r.hosts += 1,
            Header::TransferEncoding | Header::Other => {}
        }
        Ok(())
    }

    /// The end of a comma-separated token in a Connection or Expect value.
    fn end_token(&mut self) {
        match (self.header, self.word()) {
            (Header::Connection, b"close") => self.close = true,
            (Header::Connection, b"keep-alive") => self.keep_alive = true,
            (Header::Expect, b"100-continue") => self.expect_continue = true,
            _ => {}
        }
        self.word_len = 0;
        self.value_done = false;
    }
}

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// `is_tchar` as a table: token characters (RFC 9110 5.6.2).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Visible characters and obs-text: what a target may hold.
fn is_vchar(b: u8) -> bool {
    b > 0x20 && b != 0x7F
}

/// What a header value may hold.
fn is_field_char(b: u8) -> bool {
    is_vchar(b) || b == b' ' || b == b'\t'
}

/// The server side of one http connection. See [`crate::Session`] for the
/// call contract.
#[derive(Debug)]
pub struct Server {
    max_body: u64,
    /// Work added to every answered request (`Config::request_work`).
    request_work: Option<Work>,
    state: State,
    request: Request,
    body_left: u64,
    pending: Pending,
    closing: Option<CloseReason>,
}

impl Server {
    pub(crate) fn new(max_frame: u32, request_work: Option<Work>) -> Self {
        Server {
            max_body: u64::from(max_frame),
            request_work,
            state: State::Start,
            request: Request::NEW,
            body_left: 0,
            pending: Pending::IDLE,
            closing: None,
        }
    }

    pub(crate) fn mid_request(&self) -> bool {
        !matches!(self.state, State::Start | State::Lf(AfterLf::Start))
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.closing
    }

    pub(crate) fn process(&mut self, input: &[u8], out: &mut [u8], host: &mut impl Host) -> Progress {
        out::drive(self, input, out, host)
    }

    fn fail(&mut self, error: ProtocolError) {
        let status = error.http_status();
        let reason = match status {
            400 => "Bad Request",
            405 => "Method Not Allowed",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            505 => "HTTP Version Not Supported",
            _ => "Error",
        };
        let allow = if error == ProtocolError::MethodNotAllowed { "Allow: GET, HEAD, POST\r\n" } else { "" };
        let body = format!("{}\n", error.message());
        // A response to HEAD has no content (RFC 9110 9.3.2); before the
        // method is known it is taken to be GET.
        let content = if self.request.method == Method::Head { "" } else { &body };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{content}",
            body.len()
        );
        self.pending = Pending::new(&[], Body::Owned(response.into_bytes()));
        self.closing = Some(CloseReason::Error(error));
    }

    /// The head is complete: check it, then answer or start on the body.
    /// Returns the number of requests served (0 or 1).
    fn end_head(&mut self, host: &mut impl Host) -> Result<u32, ProtocolError> {
        let r = &self.request;
        if r.hosts > 1 || (r.hosts == 0 && !r.http10) {
            return Err(ProtocolError::BadRequest);
        }
        if r.transfer_encoding {
            return Err(ProtocolError::NotImplemented);
        }
        let length = r.content_length.unwrap_or(0);
        if length > self.max_body {
            return Err(ProtocolError::TooLarge);
        }
        if length > 0 {
            self.body_left = length;
            self.state = State::Body;
            if r.expect_continue && !r.http10 {
                self.pending = Pending::new(&[], Body::Static(CONTINUE.as_bytes()));
            }
            return Ok(0);
        }
        Ok(self.respond(host))
    }

    /// Answer the request just received and get ready for the next one.
    fn respond(&mut self, host: &mut impl Host) -> u32 {
        let r = self.request;
        let persist = r.persist();
        let served = if r.stats == StatsPath::Yes {
            let json = host.stats().to_json();
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
                json.len(),
                persist.header()
            )
            .into_bytes();
            if r.method != Method::Head {
                response.extend_from_slice(&json);
            }
            self.pending = Pending::new(&[], Body::Owned(response));
            0
        } else {
            if let Some(work) = self.request_work {
                host.work(work);
            }
            let full = match persist {
                Persist::KeepAlive => OK_KEEP_ALIVE,
                Persist::KeepAlive10 => OK_KEEP_ALIVE_10,
                Persist::Close => OK_CLOSE,
            }
            .as_bytes();
            let bytes = if r.method == Method::Head { &full[..full.len() - HELLO.len()] } else { full };
            self.pending = Pending::new(&[], Body::Static(bytes));
            1
        };
        if persist == Persist::Close {
            self.closing = Some(CloseReason::Requested);
        }
        self.request = Request::NEW;
        self.state = State::Start;
        served
    }

    /// Parse bytes until a response is ready, an error, or the end of `rest`.
    fn step(&mut self, rest: &[u8], host: &mut impl Host) -> Result<(usize, u32), ProtocolError> {
        if self.state == State::Body {
            let n = (rest.len() as u64).min(self.body_left);
            self.body_left -= n;
            if self.body_left > 0 {
                return Ok((n as usize, 0));
            }
            return Ok((n as usize, self.respond(host)));
        }
        let r = &mut self.request;
        let mut i = 0;
        while i < rest.len() {
            // Runs the byte-at-a-time machine below would take through to
            // the same state, taken in one step: the usual request line's
            // start (`GET `) and end (`HTTP/1.1` CRLF), each only when whole
            // in this input (split, it goes byte by byte), and the bytes of a
            // header value nothing is read from, as many as there are.
            let run = match self.state {
                State::Start if rest[i..].starts_with(b"GET ") => {
                    r.method = Method::Get;
                    (4, State::Target)
                }
                State::Version if r.word_len == 0 && rest[i..].starts_with(b"HTTP/1.1\r\n") => {
                    r.http10 = false;
                    (10, State::LineStart)
                }
                State::ValueStart | State::Value
                    if matches!(r.header, Header::Host | Header::TransferEncoding | Header::Other) =>
                {
                    // value_byte ignores these headers' bytes, and a value
                    // that is only whitespace ends as one with text does.
                    let n = rest[i..].iter().take_while(|&&b| is_field_char(b)).count();
                    (n, State::Value)
                }
                _ => (0, self.state),
            };
            if run.0 > 0 {
                r.head_len += run.0;
                if r.head_len > MAX_HEAD {
                    return Err(ProtocolError::HeadTooLarge);
                }
                self.state = run.1;
                i += run.0;
                continue;
            }
            let b = rest[i];
            i += 1;
            // Empty lines before a request count too, so they cannot go on
            // for ever.
            r.head_len += 1;
            if r.head_len > MAX_HEAD {
                return Err(ProtocolError::HeadTooLarge);
            }
            self.state = match (self.state, b) {
                (State::Lf(after), b'\n') => match after {
                    AfterLf::Start => State::Start,
                    AfterLf::RequestLine => State::LineStart,
                    AfterLf::Header => State::LineStart,
                    AfterLf::Head => {
                        let served = self.end_head(host)?;
                        return Ok((i, served));
                    }
                },
                (State::Lf(_), _) => return Err(ProtocolError::BadRequest),

                // Empty lines before a request are ignored (RFC 9112 2.2).
                (State::Start, b'\r') => State::Lf(AfterLf::Start),
                (State::Start, b'\n') => State::Start,
                (State::Start, b) if is_tchar(b) => {
                    r.push_word(b);
                    State::Method
                }
                (State::Method, b) if is_tchar(b) => {
                    r.push_word(b);
                    State::Method
                }
                (State::Method, b' ') => {
                    // Methods are case-sensitive (RFC 9110 9.1).
                    r.method = match r.word() {
                        b"GET" => Method::Get,
                        b"HEAD" => Method::Head,
                        b"POST" => Method::Post,
                        _ => return Err(ProtocolError::MethodNotAllowed),
                    };
                    r.word_len = 0;
                    State::Target
                }
                (State::Target, b' ') if r.target_len > 0 => {
                    if r.stats == StatsPath::Maybe {
                        r.stats = if r.target_len == 6 { StatsPath::Yes } else { StatsPath::No };
                    }
                    State::Version
                }
                (State::Target, b) if is_vchar(b) => {
                    if r.stats == StatsPath::Maybe {
                        r.stats = match r.target_len {
                            0..6 if b == b"/stats"[r.target_len] => StatsPath::Maybe,
                            6 if b == b'?' => StatsPath::Yes,
                            _ => StatsPath::No,
                        };
                    }
                    r.target_len += 1;
                    State::Target
                }
                (State::Version, b'\r' | b'\n') => {
                    r.http10 = match r.word() {
                        b"HTTP/1.1" => false,
                        b"HTTP/1.0" => true,
                        [b'H', b'T', b'T', b'P', b'/', d1, b'.', d2]
                            if d1.is_ascii_digit() && d2.is_ascii_digit() =>
                        {
                            return Err(ProtocolError::VersionNotSupported);
                        }
                        _ => return Err(ProtocolError::BadRequest),
                    };
                    r.word_len = 0;
                    if b == b'\r' { State::Lf(AfterLf::RequestLine) } else { State::LineStart }
                }
                (State::Version, b) if is_vchar(b) => {
                    r.push_word(b);
                    State::Version
                }
                (State::LineStart, b'\r') => State::Lf(AfterLf::Head),
                (State::LineStart, b'\n') => {
                    let served = self.end_head(host)?;
                    return Ok((i, served));
                }
                (State::LineStart | State::Name, b) if is_tchar(b) => {
                    if r.name_len < NAME_CAP {
                        r.name[r.name_len] = b.to_ascii_lowercase();
                    }
                    r.name_len = r.name_len.saturating_add(1);
                    State::Name
                }
                (State::Name, b':') => {
                    let name = if r.name_len <= NAME_CAP { &r.name[..r.name_len] } else { &[] };
                    r.header = match name {
                        b"content-length" => Header::ContentLength,
                        b"connection" => Header::Connection,
                        b"expect" => Header::Expect,
                        b"host" => Header::Host,
                        b"transfer-encoding" => Header::TransferEncoding,
                        _ => Header::Other,
                    };
                    r.name_len = 0;
                    r.value = 0;
                    r.digits = 0;
                    r.value_done = false;
                    r.word_len = 0;
                    if r.header == Header::TransferEncoding {
                        r.transfer_encoding = true;
                    }
                    State::ValueStart
                }
                (State::ValueStart, b' ' | b'\t') => State::ValueStart,
                (State::ValueStart | State::Value, b'\r' | b'\n') => {
                    r.end_value()?;
                    if b == b'\r' { State::Lf(AfterLf::Header) } else { State::LineStart }
                }
                (State::ValueStart | State::Value, b) if is_field_char(b) => {
                    r.value_byte(b)?;
                    State::Value
                }
                // Anything else: a control character, whitespace in the wrong
                // place, a line folded onto the next (obs-fold).
                _ => return Err(ProtocolError::BadRequest),
            };
        }
        Ok((rest.len(), 0))
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
        match self.step(rest, host) {
            Ok(done) => done,
            Err(error) => {
                self.fail(error);
                (rest.len(), 0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_every_split;
    use crate::{Config, Protocol, Stats};

    /// What a case expects back.
    enum Want {
        /// Exactly these bytes, and the connection stays open.
        Bytes(&'static [&'static str]),
        /// Exactly these bytes, then a requested close.
        BytesThenClose(&'static [&'static str]),
        /// Responses (exact), then an error response with this status and a
        /// close.
        Error(&'static [&'static str], u16),
    }

    fn check(cases: &[(&str, &str, u32, Want)]) {
        let config = Config { max_frame: 100, ..Config::new(Protocol::Http) };
        for (name, input, requests, want) in cases {
            let run = run_every_split(&config, input.as_bytes());
            let output = String::from_utf8(run.output).unwrap();
            assert_eq!(run.requests, *requests, "{name}: requests");
            match want {
                Want::Bytes(parts) => {
                    assert_eq!(output, parts.concat(), "{name}");
                    assert_eq!(run.closed, None, "{name}");
                    assert!(!run.mid_request, "{name}: left mid-request");
                }
                Want::BytesThenClose(parts) => {
                    assert_eq!(output, parts.concat(), "{name}");
                    assert_eq!(run.closed, Some(CloseReason::Requested), "{name}");
                }
                Want::Error(parts, status) => {
                    let ok = parts.concat();
                    assert!(output.starts_with(&ok), "{name}: {output:?}");
                    let error = &output[ok.len()..];
                    assert!(
                        error.starts_with(&format!("HTTP/1.1 {status} ")),
                        "{name}: want {status}, got {error:?}"
                    );
                    assert!(error.contains("\r\nConnection: close\r\n"), "{name}: {error:?}");
                    let (head, body) = error.split_once("\r\n\r\n").unwrap();
                    if !input.starts_with("HEAD ") {
                        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
                    }
                    match run.closed {
                        Some(CloseReason::Error(e)) => assert_eq!(e.http_status(), *status, "{name}"),
                        other => panic!("{name}: closed {other:?}"),
                    }
                }
            }
        }
    }

    const OK: &str = OK_KEEP_ALIVE;
    const HEAD_OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n";

    #[test]
    fn answers_and_keep_alive() {
        check(&[
            ("minimal", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1, Want::Bytes(&[OK])),
            ("wrk's request", "GET / HTTP/1.1\r\nHost: 127.0.0.1:7878\r\n\r\n", 1, Want::Bytes(&[OK])),
            (
                "curl's request, any path",
                "GET /a/b?c=d HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "pipelined requests answered in order",
                "GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n",
                3,
                Want::Bytes(&[OK, HEAD_OK, OK]),
            ),
            ("bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", 1, Want::Bytes(&[OK])),
            (
                "empty lines before a request are skipped",
                "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "a token with inner whitespace is not `close`",
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: clo se\r\n\r\n",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "HTTP/1.0 needs no Host",
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                1,
                Want::Bytes(&[OK_KEEP_ALIVE_10]),
            ),
            (
                "Connection: keep-alive on 1.1 changes nothing",
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "HTTP/1.0 with keep-alive",
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nconnection:KEEP-ALIVE\r\n\r\n",
                2,
                Want::Bytes(&[OK_KEEP_ALIVE_10, OK_KEEP_ALIVE_10]),
            ),
            (
                "POST body read and discarded",
                "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                2,
                Want::Bytes(&[OK, OK]),
            ),
            ("GET with a body at the bound", &const_format_body(), 1, Want::Bytes(&[OK])),
            (
                "repeated equal Content-Length",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2 \r\n\r\nab",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "Expect: 100-continue",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
                1,
                Want::Bytes(&[CONTINUE, OK]),
            ),
            (
                "long header names and values are skipped",
                "GET / HTTP/1.1\r\nHost: h\r\nX-A-Very-Long-Header-Name-Indeed: 1\r\nX: a b\tc\r\n\r\n",
                1,
                Want::Bytes(&[OK]),
            ),
            (
                "/statsx and /stat are ordinary paths",
                "GET /statsx HTTP/1.1\r\nHost: h\r\n\r\nGET /stat HTTP/1.1\r\nHost: h\r\n\r\n",
                2,
                Want::Bytes(&[OK, OK]),
            ),
        ]);
    }

    fn const_format_body() -> String {
        format!("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{}", "b".repeat(100))
    }

    #[test]
    fn close_is_honoured_and_later_input_discarded() {
        check(&[
            (
                "Connection: close",
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                1,
                Want::BytesThenClose(&[OK_CLOSE]),
            ),
            (
                "close among other tokens",
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                1,
                Want::BytesThenClose(&[OK_CLOSE]),
            ),
            ("HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", 1, Want::BytesThenClose(&[OK_CLOSE])),
            (
                "HEAD with close",
                "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                1,
                Want::BytesThenClose(&[
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n",
                ]),
            ),
        ]);
    }

    #[test]
    fn errors_answer_with_a_status_then_close() {
        let big_head = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        check(&[
            ("no version", "GET /\r\n\r\n", 0, Want::Error(&[], 400)),
            ("two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 0, Want::Error(&[], 400)),
            ("leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, Want::Error(&[], 400)),
            ("trailing junk", "GET / HTTP/1.1 x\r\n\r\n", 0, Want::Error(&[], 400)),
            ("not HTTP", "GET / FTP/1.1\r\n\r\n", 0, Want::Error(&[], 400)),
            ("binary garbage", "\u{1}\u{2}\u{3}", 0, Want::Error(&[], 400)),
            ("CR without LF", "GET / HTTP/1.1\rX", 0, Want::Error(&[], 400)),
            ("header without colon", "GET / HTTP/1.1\r\nHost: h\r\nHost\r\n\r\n", 0, Want::Error(&[], 400)),
            ("space before colon", "GET / HTTP/1.1\r\nHost: h\r\nHost : x\r\n\r\n", 0, Want::Error(&[], 400)),
            ("empty header name", "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", 0, Want::Error(&[], 400)),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 0, Want::Error(&[], 400)),
            (
                "control char in value",
                "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            (
                "bad Content-Length",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            (
                "empty Content-Length",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            (
                "Content-Length list",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            (
                "conflicting Content-Length",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            (
                "Content-Length overflow",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                0,
                Want::Error(&[], 400),
            ),
            ("unsupported method", "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 0, Want::Error(&[], 405)),
            ("methods are case-sensitive", "get / HTTP/1.1\r\nHost: h\r\n\r\n", 0, Want::Error(&[], 405)),
            (
                "body over max_frame",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
                0,
                Want::Error(&[], 413),
            ),
            (
                "chunked bodies are not implemented",
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                0,
                Want::Error(&[], 501),
            ),
            ("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 0, Want::Error(&[], 505)),
            ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 0, Want::Error(&[], 400)),
            ("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 0, Want::Error(&[], 400)),
            ("blank lines count toward the head limit", &"\r\n".repeat(MAX_HEAD), 0, Want::Error(&[], 431)),
            ("head over 8 KiB", &big_head, 0, Want::Error(&[], 431)),
            (
                "answers before an error still go out",
                "GET / HTTP/1.1\r\nHost: h\r\n\r\nBREW / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                1,
                Want::Error(&[OK], 405),
            ),
        ]);
    }

    #[test]
    fn error_answers_to_head_have_no_content() {
        let config = Config { max_frame: 100, ..Config::new(Protocol::Http) };
        let run = crate::testing::run(&config, b"HEAD / HTTP/1.1\r\nX: a\0\r\n\r\n", &[], 4096);
        let output = String::from_utf8(run.output).unwrap();
        assert!(output.starts_with("HTTP/1.1 400 "), "{output}");
        assert!(output.ends_with("Connection: close\r\n\r\n"), "no content after the head: {output:?}");
    }

    #[test]
    fn head_of_exactly_8_kib_is_accepted() {
        let fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".len();
        let fits = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD - fixed));
        assert_eq!(fits.len(), MAX_HEAD);
        let config = Config { max_frame: 100, ..Config::new(Protocol::Http) };
        let run = crate::testing::run(&config, fits.as_bytes(), &[], 4096);
        assert_eq!(run.output, OK.as_bytes());
        let over = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD - fixed + 1));
        let run = crate::testing::run(&config, over.as_bytes(), &[], 4096);
        assert!(run.output.starts_with(b"HTTP/1.1 431 "));
    }

    #[test]
    fn request_work_is_added_to_every_answered_request() {
        let added = Work::Sleep { us: 3 };
        let config = Config { max_frame: 100, request_work: Some(added), ..Config::new(Protocol::Http) };
        let input = "GET / HTTP/1.1\r\nHost: h\r\n\r\n\
                     GET /stats HTTP/1.1\r\nHost: h\r\n\r\n\
                     POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab\
                     HEAD / HTTP/1.1\r\nHost: h\r\n\r\n\
                     BREW / HTTP/1.1\r\nHost: h\r\n\r\n";
        let run = run_every_split(&config, input.as_bytes());
        // Three answered; /stats and the 405 get no work.
        assert_eq!((run.requests, run.work), (3, vec![added; 3]));
        assert_eq!(run.closed, Some(CloseReason::Error(ProtocolError::MethodNotAllowed)));
    }

    #[test]
    fn stats_path_returns_the_hosts_counters() {
        let config = Config { max_frame: 100, ..Config::new(Protocol::Http) };
        for (input, served_after) in [
            ("GET /stats HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET /stats?pretty HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
        ] {
            let run = run_every_split(&config, input.as_bytes());
            let output = String::from_utf8(run.output).unwrap();
            let (head, rest) = output.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"));
            let len: usize =
                head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
            let (json, tail) = rest.split_at(len);
            assert_eq!(Stats::from_json(json.as_bytes()).unwrap().schema, crate::STATS_SCHEMA);
            if served_after {
                assert_eq!(tail, OK);
                assert_eq!(run.requests, 1, "/stats is not counted as a served request");
            } else {
                assert_eq!(tail, "");
                assert_eq!(run.closed, Some(CloseReason::Requested));
            }
        }
    }

    #[test]
    fn truncated_request_is_mid_request() {
        let config = Config { max_frame: 100, ..Config::new(Protocol::Http) };
        let input = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab";
        for cut in 1..input.len() {
            let run = crate::testing::run(&config, &input.as_bytes()[..cut], &[], 64);
            assert!(run.mid_request, "cut at {cut}");
        }
        let run = crate::testing::run(&config, b"\r\n", &[], 64);
        assert!(!run.mid_request, "empty lines alone are not a request");
    }
}

//! protocol: the sans-I/O protocol core every ringside backend serves — echo,
//! rr and http — fed received bytes, yielding bytes to send.
//!
//! This crate never touches a socket, a clock or a thread. A backend owns the
//! I/O; it hands each connection's received bytes to a [`Session`] and sends
//! what the session writes into the backend's own output buffer. Because every
//! backend drives this same code, a difference between two results is the I/O
//! model, not the protocol code.
//!
//! Things the core cannot do itself come in through [`Host`]: performing a
//! request's server-side [`Work`] (spinning needs a clock, sleeping blocks a
//! thread) and reading the server's counters for a STATS request.
//!
//! The wire formats are specified byte by byte in `docs/PROTOCOL.md`; the
//! [`rr`] module also holds the encoders and decoders a client needs.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

mod echo;
pub mod http;
mod out;
pub mod rr;
mod stats;

pub use stats::{STATS_SCHEMA, Stats};

/// The default bound on an rr frame's payload, an rr response's length and an
/// http request body: 1 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 1 << 20;

/// Which protocol a server speaks; one per server run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Every byte received goes back, in order.
    Echo,
    /// Framed binary request/response (see `docs/PROTOCOL.md`).
    Rr,
    /// HTTP/1.1 "Hello, World!" with keep-alive and pipelining.
    Http,
}

impl Protocol {
    /// Every protocol, in the order the CLI and docs list them.
    pub const ALL: [Protocol; 3] = [Protocol::Echo, Protocol::Rr, Protocol::Http];

    /// The name used on command lines, in counters and in CSV.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Rr => "rr",
            Protocol::Http => "http",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown protocol `{s}`: expected one of echo, rr, http"))
    }
}

/// What a session needs to know, fixed for the server's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The protocol every connection speaks.
    pub protocol: Protocol,
    /// Upper bound, in bytes, on an rr request payload, an rr response length
    /// and an http request body. A larger one is answered with an error and the
    /// connection is closed.
    pub max_frame: u32,
    /// Work added to every rr and http request the session answers (not to
    /// STATS, `/stats` or error answers), performed through [`Host::work`]
    /// just before the response is written, after any work an rr request
    /// asks for itself; `None` normally. It makes the server's request
    /// handling slower by a known amount, as a slower handler would: it is
    /// done inline, not deferred behind earlier answers as an rr request's
    /// own work is. Echo has no request boundaries and ignores it.
    pub request_work: Option<Work>,
}

impl Config {
    /// A configuration with the default frame bound and no added work.
    pub fn new(protocol: Protocol) -> Self {
        Config { protocol, max_frame: DEFAULT_MAX_FRAME, request_work: None }
    }
}

/// Server-side work an rr request asks for, performed by the [`Host`] before
/// the response is produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Burn CPU for this many nanoseconds (busy loop on the serving thread).
    Spin { ns: u32 },
    /// Block the serving thread for this many microseconds (a blocking call,
    /// such as a synchronous database query, simulated by a sleep).
    Sleep { us: u32 },
}

impl fmt::Display for Work {
    /// `spin:<ns>ns` or `sleep:<us>us`, as the results CSV's `work` column
    /// and `--request-work` write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::Spin { ns } => write!(f, "spin:{ns}ns"),
            Work::Sleep { us } => write!(f, "sleep:{us}us"),
        }
    }
}

impl FromStr for Work {
    type Err = String;

    /// `spin:<ns>ns` (at most [`rr::MAX_SPIN_NS`]) or `sleep:<us>us` (at
    /// most [`rr::MAX_SLEEP_US`]), the bounds an rr request has.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("bad work `{s}`: expected spin:<N>ns or sleep:<N>us, e.g. spin:500ns");
        let amount = |n: &str, max: u32, unit: &str| -> Result<u32, String> {
            let n: u64 = n.parse().map_err(|_| bad())?;
            u32::try_from(n)
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("work `{s}` is over the limit of {max}{unit}"))
        };
        if let Some(n) = s.strip_prefix("spin:").and_then(|n| n.strip_suffix("ns")) {
            return Ok(Work::Spin { ns: amount(n, rr::MAX_SPIN_NS, "ns")? });
        }
        if let Some(n) = s.strip_prefix("sleep:").and_then(|n| n.strip_suffix("us")) {
            return Ok(Work::Sleep { us: amount(n, rr::MAX_SLEEP_US, "us")? });
        }
        Err(bad())
    }
}

/// What the core asks of the server it runs in.
pub trait Host {
    /// Perform `work` now, on the calling thread, and return when it is done.
    /// Called while a request is being handled, before its response is
    /// written; a backend that calls [`Session::process`] from an event loop
    /// therefore stalls that loop for the duration, which is the point of the
    /// `Sleep` case.
    fn work(&mut self, work: Work);

    /// The server's counters as of now, for an rr STATS request or
    /// `GET /stats`.
    fn stats(&mut self) -> Stats;
}

/// What the caller must do after [`Session::process`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Every byte of input was consumed and every response it completed was
    /// written: send the output, then read more.
    Read,
    /// Send the output now, then call `process` again with the input it did
    /// not consume (possibly none) and fresh output space. Either the buffer
    /// is full, or the answers in it must go out before the session runs the
    /// next request's work.
    Write,
    /// Send the output, then close the connection. See
    /// [`Session::close_reason`] for why. Later calls consume and discard
    /// their input.
    Close,
}

/// What one [`Session::process`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Progress {
    /// Bytes of input consumed; the rest must be offered again.
    pub consumed: usize,
    /// Bytes written at the start of the output buffer, to be sent in order.
    pub written: usize,
    /// Requests completed by this call and answered (their answers are in
    /// the output), not counting STATS requests or error responses. Echo has
    /// no request boundaries and always reports 0.
    pub requests: u32,
    /// What to do next.
    pub next: Next,
}

/// Why a session wants its connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer asked for it (`Connection: close`, or HTTP/1.0 without
    /// keep-alive). Not an error.
    Requested,
    /// The peer broke the protocol; an error response was written first.
    Error(ProtocolError),
}

/// A protocol violation by the peer. Each one is answered with an error
/// response (rr: an ERROR frame with [`ProtocolError::code`]; http: the status
/// of [`ProtocolError::http_status`]) and then the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// rr: the first byte of a frame is not the magic byte.
    BadMagic,
    /// rr: the frame type is not a request type.
    BadType,
    /// rr: the work kind is unknown or a reserved byte is not zero.
    BadHeader,
    /// rr: payload or requested response length over `--max-frame`; http:
    /// body over `--max-frame`.
    TooLarge,
    /// rr: work amount over the bound in `docs/PROTOCOL.md`.
    WorkTooLarge,
    /// http: malformed request line or header.
    BadRequest,
    /// http: request line and headers together over 8 KiB.
    HeadTooLarge,
    /// http: a method other than GET, HEAD or POST.
    MethodNotAllowed,
    /// http: a `Transfer-Encoding` the server does not implement.
    NotImplemented,
    /// http: an HTTP version other than 1.0 or 1.1.
    VersionNotSupported,
}

impl ProtocolError {
    /// The rr ERROR frame code (`docs/PROTOCOL.md`).
    pub fn code(self) -> u16 {
        match self {
            ProtocolError::BadMagic => 1,
            ProtocolError::BadType => 2,
            ProtocolError::BadHeader => 3,
            ProtocolError::TooLarge => 4,
            ProtocolError::WorkTooLarge => 5,
            ProtocolError::BadRequest => 400,
            ProtocolError::HeadTooLarge => 431,
            ProtocolError::MethodNotAllowed => 405,
            ProtocolError::NotImplemented => 501,
            ProtocolError::VersionNotSupported => 505,
        }
    }

    /// The HTTP status that answers this error.
    pub fn http_status(self) -> u16 {
        match self {
            ProtocolError::TooLarge => 413,
            ProtocolError::BadMagic
            | ProtocolError::BadType
            | ProtocolError::BadHeader
            | ProtocolError::WorkTooLarge => 400,
            other => other.code(),
        }
    }

    /// A short description, also the text of rr ERROR frames.
    pub fn message(self) -> &'static str {
        match self {
            ProtocolError::BadMagic => "bad magic byte: not an rr frame",
            ProtocolError::BadType => "unknown frame type",
            ProtocolError::BadHeader => "unknown work kind or non-zero reserved field",
            ProtocolError::TooLarge => "frame or body larger than --max-frame",
            ProtocolError::WorkTooLarge => "work amount over the limit",
            ProtocolError::BadRequest => "malformed request",
            ProtocolError::HeadTooLarge => "request header section over 8 KiB",
            ProtocolError::MethodNotAllowed => "method not allowed",
            ProtocolError::NotImplemented => "transfer-encoding not implemented",
            ProtocolError::VersionNotSupported => "HTTP version not supported",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// One connection's protocol state.
///
/// # Call order
///
/// * Input: after each read, call [`process`](Self::process) with the bytes
///   received (plus any the previous call did not consume) and an empty
///   output buffer; send the `written` bytes; then do what
///   [`Next`] says. When the peer closes its side, call
///   [`mid_request`](Self::mid_request) to tell a clean end from a truncated
///   request.
/// * Output: only through `process`, into the caller's buffer. The session
///   never allocates per request in steady state; it keeps a few dozen bytes
///   of parser state and the position in the response being written.
/// * Getters: [`close_reason`](Self::close_reason), `mid_request`.
///
/// The session consumes every input byte it is offered except when it
/// returns [`Next::Write`]: then the caller keeps the unconsumed tail (with
/// the connection, if the output cannot be sent at once) and offers it again
/// after sending. Incomplete frames are held inside the session, so a backend
/// never keeps input for any other reason.
#[derive(Debug)]
pub struct Session {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Echo,
    Rr(rr::Server),
    Http(http::Server),
}

impl Session {
    /// A fresh session for a newly accepted connection.
    pub fn new(config: &Config) -> Self {
        let inner = match config.protocol {
            Protocol::Echo => Inner::Echo,
            Protocol::Rr => Inner::Rr(rr::Server::new(config.max_frame, config.request_work)),
            Protocol::Http => Inner::Http(http::Server::new(config.max_frame, config.request_work)),
        };
        Session { inner }
    }

    /// Consume received bytes from `input` and write the bytes to send into
    /// `out`, in order. Requests with [`Work`] have it performed by `host`
    /// before their response is written.
    ///
    /// # Panics
    ///
    /// If `out` is empty: no progress would be possible.
    pub fn process(&mut self, input: &[u8], out: &mut [u8], host: &mut impl Host) -> Progress {
        assert!(!out.is_empty(), "Session::process needs output space");
        match &mut self.inner {
            Inner::Echo => echo::process(input, out),
            Inner::Rr(s) => s.process(input, out, host),
            Inner::Http(s) => s.process(input, out, host),
        }
    }

    /// Whether part of a request has been received but not all of it, or a
    /// response is still being produced. An end of stream now truncates a
    /// request, which a backend counts as a connection closed on error.
    pub fn mid_request(&self) -> bool {
        match &self.inner {
            Inner::Echo => false,
            Inner::Rr(s) => s.mid_request(),
            Inner::Http(s) => s.mid_request(),
        }
    }

    /// Why the session returned [`Next::Close`], or `None` if it has not.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match &self.inner {
            Inner::Echo => None,
            Inner::Rr(s) => s.close_reason(),
            Inner::Http(s) => s.close_reason(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_written_and_read_as_the_results_csv_writes_it() {
        for (text, work) in [
            ("spin:500ns", Ok(Work::Spin { ns: 500 })),
            ("sleep:20us", Ok(Work::Sleep { us: 20 })),
            ("spin:1000000000ns", Ok(Work::Spin { ns: rr::MAX_SPIN_NS })),
            ("spin:1000000001ns", Err("over the limit of 1000000000ns")),
            ("sleep:99999999999us", Err("over the limit of 10000000us")),
            ("spin:500", Err("expected spin:<N>ns or sleep:<N>us")),
            ("spin:-1ns", Err("expected spin:<N>ns")),
            ("none", Err("bad work `none`")),
        ] {
            match (text.parse::<Work>(), work) {
                (Ok(parsed), Ok(want)) => {
                    assert_eq!(parsed, want, "{text}");
                    assert_eq!(parsed.to_string(), text);
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}

/// Test support: a host that records work and serves fixed stats, and a
/// driver that feeds input in given pieces and collects all output.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) struct RecordingHost {
        pub(crate) work: Vec<Work>,
        pub(crate) stats: Stats,
    }

    impl Default for RecordingHost {
        fn default() -> Self {
            RecordingHost { work: Vec::new(), stats: Stats { schema: STATS_SCHEMA, ..Stats::default() } }
        }
    }

    impl Host for RecordingHost {
        fn work(&mut self, work: Work) {
            self.work.push(work);
        }
        fn stats(&mut self) -> Stats {
            self.stats.clone()
        }
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

    /// Feed `input` cut at `cuts` (ascending offsets), with an output buffer
    /// of `out_size` bytes, following the `Next` contract exactly as a backend
    /// must.
    pub(crate) fn run(config: &Config, input: &[u8], cuts: &[usize], out_size: usize) -> Run {
        let mut session = Session::new(config);
        let mut host = RecordingHost::default();
        let mut out = vec![0u8; out_size];
        let mut output = Vec::new();
        let mut requests = 0;
        let mut closed = false;
        let mut pieces = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            pieces.push(&input[start..c]);
            start = c;
        }
        'pieces: for piece in pieces {
            let mut rest = piece;
            loop {
                let p = session.process(rest, &mut out, &mut host);
                assert!(p.consumed <= rest.len());
                assert!(p.written <= out.len());
                output.extend_from_slice(&out[..p.written]);
                rest = &rest[p.consumed..];
                requests += p.requests;
                match p.next {
                    Next::Read => {
                        assert!(rest.is_empty(), "Next::Read with unconsumed input");
                        break;
                    }
                    Next::Write => {
                        assert!(p.written > 0 || p.consumed > 0, "Next::Write without progress");
                    }
                    Next::Close => {
                        closed = true;
                        break 'pieces;
                    }
                }
            }
        }
        let reason = session.close_reason();
        assert_eq!(closed, reason.is_some(), "close_reason disagrees with Next::Close");
        Run { output, requests, closed: reason, work: host.work, mid_request: session.mid_request() }
    }

    /// Run `input` whole, then cut in two at every byte boundary, then with a
    /// one-byte output buffer, and check all runs agree; return the whole run.
    pub(crate) fn run_every_split(config: &Config, input: &[u8]) -> Run {
        let whole = run(config, input, &[], 64 * 1024);
        for cut in 1..input.len() {
            let split = run(config, input, &[cut], 64 * 1024);
            assert_eq!(split, whole, "input split at byte {cut} of {} differs", input.len());
        }
        let tiny = run(config, input, &[], 1);
        assert_eq!(tiny, whole, "a one-byte output buffer changes the result");
        whole
    }
}

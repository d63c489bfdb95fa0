//! Serving one connection on a blocking socket: the loop both thread-based
//! backends run on the thread that owns the connection.
//!
//! Read, hand the bytes to the session, write everything it produced before
//! reading again. A blocking `write_all` is the backpressure: a slow reader
//! stops this thread from reading more, and TCP flow control then stops the
//! writer. Nothing here may be shared between threads.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Both, TcpStream};
use std::time::Instant;

use protocol::{CloseReason, Next};

use crate::backend::{Context, LINGER, ServerHost};
use crate::counters::{Closed, Recorder};

/// Stack of a thread that serves connections. The loop's frames and its
/// small buffers ([`SMALL`] × 2) fit in a few pages of it; a small stack keeps
/// thread-per-connection at thousands of threads cheap, which is part of
/// what is measured.
pub(crate) const STACK_SIZE: usize = 128 * 1024;

/// Bytes of each of the two buffers every connection starts with, kept in
/// the serving thread's own frame.
///
/// Small messages are the common case, and with hundreds of threads taking
/// turns on a CPU every thread's memory is cold when it runs again: each
/// request pays for the pages and cache lines it touches. Buffers in the
/// frame share pages with the stack the thread touches anyway, as a C
/// server's stack buffer does (what it bought: docs/PERFORMANCE.md).
const SMALL: usize = 2 * 1024;

/// Bytes of each of the two heap buffers a connection moves to once a read
/// fills the small input buffer or a response fills the small output buffer
/// (large messages: fewer, larger system calls).
const LARGE: usize = 16 * 1024;

/// A serving thread's buffers, reused across the connections it serves:
/// the small pair in the thread's frame (the value lives where `new` is
/// called), the large pair allocated the first time a connection needs it.
pub(crate) struct Buffers {
    small_input: [u8; SMALL],
    small_output: [u8; SMALL],
    large: Option<Large>,
}

struct Large {
    input: Box<[u8]>,
    output: Box<[u8]>,
}

impl Buffers {
    pub(crate) fn new() -> Self {
        Buffers { small_input: [0; SMALL], small_output: [0; SMALL], large: None }
    }

    /// The input and output buffers, small or large.
    fn pair(&mut self, large: bool) -> (&mut [u8], &mut [u8]) {
        if large {
            let l = self.large.get_or_insert_with(|| Large {
                input: vec![0; LARGE].into_boxed_slice(),
                output: vec![0; LARGE].into_boxed_slice(),
            });
            (&mut l.input, &mut l.output)
        } else {
            (&mut self.small_input, &mut self.small_output)
        }
    }
}

/// Serve `stream` until it closes, then count its closing.
pub(crate) fn serve(
    stream: TcpStream,
    ctx: &Context,
    host: &mut ServerHost,
    recorder: &Recorder,
    buffers: &mut Buffers,
) {
    let how = match pump(&stream, ctx, host, recorder, buffers) {
        Ok(End::Eof { mid_request: false }) => Closed::Clean,
        Ok(End::Eof { mid_request: true }) => Closed::Error,
        Ok(End::Close(reason)) => {
            linger(&stream, &mut buffers.small_input, recorder);
            if reason == CloseReason::Requested { Closed::Clean } else { Closed::Error }
        }
        Err(_) => Closed::Reset,
    };
    ctx.counters().closed(how);
}

enum End {
    /// The peer closed its side; a request may have been cut short.
    Eof { mid_request: bool },
    /// The session asked to close.
    Close(CloseReason),
}

fn pump(
    mut stream: &TcpStream,
    ctx: &Context,
    host: &mut ServerHost,
    recorder: &Recorder,
    buffers: &mut Buffers,
) -> io::Result<End> {
    let mut session = ctx.session();
    // Set for good once a read fills the small input buffer or a response
    // fills the small output buffer; switched only between reads, when
    // neither buffer holds anything.
    let mut large = false;
    loop {
        let (input, output) = buffers.pair(large);
        let n = match stream.read(input) {
            Ok(0) => return Ok(End::Eof { mid_request: session.mid_request() }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        recorder.record(0, n, 0);
        large |= n == input.len();
        let mut rest = &input[..n];
        loop {
            let p = session.process(rest, output, host);
            rest = &rest[p.consumed..];
            // Requests before their answers go out, so whoever holds an
            // answer sees it counted; bytes once the kernel has them.
            recorder.record(p.requests, 0, 0);
            if p.written > 0 {
                stream.write_all(&output[..p.written])?;
                recorder.record(0, 0, p.written);
                large |= p.written == output.len();
            }
            match p.next {
                Next::Read => break,
                Next::Write => {}
                Next::Close => {
                    let reason = session.close_reason().unwrap_or(CloseReason::Requested);
                    return Ok(End::Close(reason));
                }
            }
        }
    }
}

/// Shut down the write side, then discard input until the peer closes or
/// [`LINGER`] passes: closing with unread input would send a reset that can
/// destroy the last response before the peer reads it.
fn linger(mut stream: &TcpStream, scratch: &mut [u8], recorder: &Recorder) {
    if stream.shutdown(Both::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => recorder.record(0, n, 0),
        }
    }
}

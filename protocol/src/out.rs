//! Output shared by the framed protocols (rr, http): the response being
//! copied into the caller's output buffers, possibly over several `process`
//! calls when a buffer is smaller than the response, and [`drive`], the loop
//! that alternates between flushing it and parsing more input.
//!
//! Responses are a short fixed head plus a body that is static, synthesised
//! (the rr payload pattern) or, for STATS and errors only, owned. Nothing here
//! allocates.

use crate::{CloseReason, Host, Next, Progress};

/// A framed protocol's parser, as [`drive`] sees it.
pub(crate) trait Parse {
    /// The response being written, [`Pending::IDLE`] when there is none.
    fn pending(&mut self) -> &mut Pending;
    /// Set once the connection must close after the pending response.
    fn closing(&self) -> Option<CloseReason>;
    /// Consume a non-empty prefix of `rest` (which is not empty). Stop after
    /// completing at most one response (stored in `pending`) or deferring
    /// one request. Return bytes consumed and requests served.
    fn parse(&mut self, rest: &[u8], host: &mut impl Host) -> (usize, u32);
    /// Whether a fully received request waits for its work to be run.
    fn has_deferred(&self) -> bool {
        false
    }
    /// Run the deferred request's work and answer it (into `pending`);
    /// return requests served.
    fn run_deferred(&mut self, _host: &mut impl Host) -> u32 {
        0
    }
}

/// The `Session::process` contract for a framed protocol: flush the pending
/// response; once it is out, close if closing; run deferred work, but only
/// with nothing written yet, so the answers before it are sent first rather
/// than held back by it; return if out of input, else parse more.
pub(crate) fn drive(p: &mut impl Parse, input: &[u8], out: &mut [u8], host: &mut impl Host) -> Progress {
    let mut consumed = 0;
    let mut written = 0;
    let mut requests = 0;
    loop {
        written += p.pending().write_into(&mut out[written..]);
        if !p.pending().is_done() {
            return Progress { consumed, written, requests, next: Next::Write };
        }
        if p.closing().is_some() {
            // Whatever follows a fatal error or a requested close is discarded.
            return Progress { consumed: input.len(), written, requests, next: Next::Close };
        }
        if p.has_deferred() {
            if written > 0 {
                return Progress { consumed, written, requests, next: Next::Write };
            }
            requests += p.run_deferred(host);
            continue;
        }
        if consumed == input.len() {
            return Progress { consumed, written, requests, next: Next::Read };
        }
        let (n, served) = p.parse(&input[consumed..], host);
        debug_assert!(n > 0, "parse made no progress");
        consumed += n;
        requests += served;
    }
}

/// Bytes of the payload pattern: byte `i` of every rr response payload is
/// `i mod 256` (see `docs/PROTOCOL.md`). 4096 is a multiple of 256, so the
/// table can be copied from at `i mod 4096`.
static PATTERN: [u8; 4096] = {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < t.len() {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// Write the payload pattern for offsets `start..start + dst.len()` into `dst`.
pub fn fill_pattern(start: usize, dst: &mut [u8]) {
    let mut done = 0;
    while done < dst.len() {
        let at = (start + done) % PATTERN.len();
        let n = (PATTERN.len() - at).min(dst.len() - done);
        dst[done..done + n].copy_from_slice(&PATTERN[at..at + n]);
        done += n;
    }
}

/// The body that follows a response head.
#[derive(Debug)]
pub(crate) enum Body {
    Empty,
    Static(&'static [u8]),
    Owned(Vec<u8>),
    /// `len` bytes of the payload pattern.
    Pattern(usize),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Static(b) => b.len(),
            Body::Owned(b) => b.len(),
            Body::Pattern(n) => *n,
        }
    }
}

/// The longest fixed head: an rr response header.
const HEAD_CAP: usize = 16;

/// A response and how much of it has been written.
#[derive(Debug)]
pub(crate) struct Pending {
    head: [u8; HEAD_CAP],
    head_len: usize,
    body: Body,
    /// Bytes of head and body already written.
    pos: usize,
}

impl Pending {
    /// Nothing to write.
    pub(crate) const IDLE: Pending = Pending { head: [0; HEAD_CAP], head_len: 0, body: Body::Empty, pos: 0 };

    pub(crate) fn new(head: &[u8], body: Body) -> Pending {
        let mut p = Pending { head: [0; HEAD_CAP], head_len: head.len(), body, pos: 0 };
        p.head[..head.len()].copy_from_slice(head);
        p
    }

    pub(crate) fn is_done(&self) -> bool {
        self.pos == self.head_len + self.body.len()
    }

    /// Copy as much of the rest of the response as fits into `out`; return
    /// how many bytes were written.
    pub(crate) fn write_into(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        if self.pos < self.head_len {
            let n = (self.head_len - self.pos).min(out.len());
            out[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            written = n;
            if self.pos < self.head_len {
                return written;
            }
        }
        let at = self.pos - self.head_len;
        let n = (self.body.len() - at).min(out.len() - written);
        if n > 0 {
            let dst = &mut out[written..written + n];
            match &self.body {
                Body::Empty => {}
                Body::Static(b) => dst.copy_from_slice(&b[at..at + n]),
                Body::Owned(b) => dst.copy_from_slice(&b[at..at + n]),
                Body::Pattern(_) => fill_pattern(at, dst),
            }
            self.pos += n;
            written += n;
        }
        if self.is_done() {
            // Drop an owned body now rather than with the next response.
            self.body = Body::Empty;
            self.head_len = 0;
            self.pos = 0;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_offset_mod_256_from_any_start() {
        for start in [0, 1, 255, 256, 4095, 4096, 10_000] {
            let mut buf = vec![0u8; 9000];
            fill_pattern(start, &mut buf);
            for (i, b) in buf.iter().enumerate() {
                assert_eq!(*b, (start + i) as u8, "start {start} offset {i}");
            }
        }
    }

    #[test]
    fn pending_writes_head_then_body_across_small_buffers() {
        for out_size in [1, 2, 3, 7, 100] {
            let mut p = Pending::new(b"HEAD", Body::Pattern(300));
            let mut all = Vec::new();
            let mut out = vec![0u8; out_size];
            while !p.is_done() {
                let n = p.write_into(&mut out);
                assert!(n > 0);
                all.extend_from_slice(&out[..n]);
            }
            let mut want = b"HEAD".to_vec();
            want.extend((0..300).map(|i| i as u8));
            assert_eq!(all, want, "output buffer of {out_size}");
        }
    }
}

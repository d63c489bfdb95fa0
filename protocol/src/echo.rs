//! echo: every byte received goes back, in order, however it was split.
//!
//! There are no request boundaries, so echo reports no requests; a load
//! generator counts its own messages and the server counts bytes.

use crate::{Next, Progress};

pub(crate) fn process(input: &[u8], out: &mut [u8]) -> Progress {
    let n = input.len().min(out.len());
    out[..n].copy_from_slice(&input[..n]);
    let next = if n < input.len() { Next::Write } else { Next::Read };
    Progress { consumed: n, written: n, requests: 0, next }
}

#[cfg(test)]
mod tests {
    use crate::testing::run_every_split;
    use crate::{Config, Protocol};

    #[test]
    fn echo_returns_every_byte_in_order() {
        let config = Config::new(Protocol::Echo);
        let cases: &[&[u8]] = &[b"", b"x", b"hello world", &[0, 255, 13, 10, 0], &[7; 3000]];
        for input in cases {
            let run = run_every_split(&config, input);
            assert_eq!(run.output, *input);
            assert_eq!(run.requests, 0);
            assert_eq!(run.closed, None);
            assert!(!run.mid_request);
        }
    }
}

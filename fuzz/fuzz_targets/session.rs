//! Fuzz `protocol::Session`: any protocol, any frame bound, any way of cutting
//! the input into reads, any output buffer size.
//!
//! The first bytes of the fuzz input choose the setup, the rest is what the
//! peer sends (see [`Input::decode`]). The checks themselves live in
//! `protocol/tests/fuzz_regressions.rs`, included here, so a find that is
//! added to that file's table fails there exactly as it failed here.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use protocol::Protocol;

#[path = "../../protocol/tests/fuzz_regressions.rs"]
#[allow(dead_code)] // the file's table and its #[test] are for `cargo test`
mod regressions;

/// Most reads a run is cut into, less one.
const MAX_CUTS: usize = 8;

/// A fuzz input decoded.
struct Input {
    protocol: Protocol,
    max_frame: u32,
    out_size: usize,
    cuts: Vec<usize>,
    data: Vec<u8>,
}

impl Input {
    /// The layout, every field taken as 0 where the input is too short:
    ///
    /// | byte | meaning |
    /// |---|---|
    /// | 0 | protocol: `% 3` picks echo, rr, http |
    /// | 1, 2 | `max_frame` = 1 + (u16 LE % 4096) |
    /// | 3 | output buffer size = 1 + byte (1..=256) |
    /// | 4 | number of cuts = byte % 9 |
    /// | 2 per cut | a cut: u16 LE % (data length + 1); cuts are then sorted, and 0, the length and repeats dropped |
    /// | the rest | the data the peer sends |
    fn decode(bytes: &[u8]) -> Input {
        let mut rest = bytes;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            let mut b = [0u8; 2];
            b[..head.len()].copy_from_slice(head);
            u16::from_le_bytes(b)
        };
        let protocol = Protocol::ALL[usize::from(take(1)) % 3];
        let max_frame = 1 + u32::from(take(2) % 4096);
        let out_size = 1 + usize::from(take(1));
        let ncuts = usize::from(take(1)) % (MAX_CUTS + 1);
        let raw: Vec<u16> = (0..ncuts).map(|_| take(2)).collect();
        let data = rest.to_vec();
        let mut cuts: Vec<usize> = raw
            .iter()
            .map(|&c| usize::from(c) % (data.len() + 1))
            .filter(|&c| c > 0 && c < data.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Input { protocol, max_frame, out_size, cuts, data }
    }

    fn case(&self) -> regressions::Case<'_> {
        regressions::Case {
            name: "fuzz find: say what it breaks",
            protocol: self.protocol,
            max_frame: self.max_frame,
            out_size: self.out_size,
            cuts: &self.cuts,
            input: &self.data,
        }
    }
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input::decode(u.bytes(u.len())?))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input::decode(u.take_rest()))
    }
}

/// `cargo fuzz fmt` prints this: a row for the regression table.
impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.case().fmt(f)
    }
}

fuzz_target!(|input: Input| {
    regressions::check(&input.case());
});

//! Command-line values both binaries take, parsed and listed in `--help`
//! the same way.
//!
//! The protocol's parser lives here rather than beside [`Protocol`]: the
//! protocol core is sans-I/O and knows nothing of command lines (nor
//! should the fuzzer that builds it compile clap). CPU lists are in
//! [`crate::cpus`].

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use protocol::Protocol;

/// `echo`, `rr`, `http`, each listed in `--help` with what it is.
pub fn protocol_parser() -> impl TypedValueParser<Value = Protocol> {
    PossibleValuesParser::new([
        PossibleValue::new("echo").help("every byte received goes back"),
        PossibleValue::new("rr").help("framed binary request/response (docs/PROTOCOL.md)"),
        PossibleValue::new("http").help("HTTP/1.1 Hello, World! with keep-alive and pipelining"),
    ])
    .try_map(|s| s.parse::<Protocol>())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[arg(long, value_parser = protocol_parser())]
        protocol: Protocol,
    }

    #[test]
    fn every_protocol_parses_and_nothing_else() {
        for p in Protocol::ALL {
            assert_eq!(Cli::try_parse_from(["x", "--protocol", p.name()]).unwrap().protocol, p);
        }
        let e = Cli::try_parse_from(["x", "--protocol", "ftp"]).err().unwrap().to_string();
        assert!(e.contains("invalid value 'ftp'"), "{e}");
    }
}

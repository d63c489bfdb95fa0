//! ringside-server: run one server design until SIGINT/SIGTERM.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;

use platform::exit;

use servers::backends;
use servers::config;

fn main() -> ExitCode {
    // clap prints help, version and usage errors itself (exit::USAGE).
    let matches = config::command(backends::ALL).get_matches();
    match run(&matches) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("ringside-server: {e:#}");
            if e.downcast_ref::<platform::Unsupported>().is_some() {
                ExitCode::from(platform::Unsupported::EXIT_CODE)
            } else {
                ExitCode::from(exit::ERROR)
            }
        }
    }
}

fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    if matches.get_flag("list_backends") {
        let mut out = io::stdout().lock();
        // A closed stdout (`| head -1`) is not an error.
        return match out.write_all(config::list_backends(backends::ALL).as_bytes()).and_then(|()| out.flush())
        {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        };
    }
    let (config, backend) = config::build(backends::ALL, matches)?;
    servers::serve(config, backend)
}

//! ringside-server: run one server design until SIGINT/SIGTERM.

use std::process::ExitCode;

use servers::backends;
use servers::config;

fn main() -> ExitCode {
    // clap prints help, version and usage errors itself (exit code 2).
    let matches = config::command(backends::ALL).get_matches();
    match run(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringside-server: {e:#}");
            if e.downcast_ref::<platform::Unsupported>().is_some() {
                ExitCode::from(platform::Unsupported::EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let (config, backend) = config::build(backends::ALL, matches)?;
    servers::serve(config, backend)
}

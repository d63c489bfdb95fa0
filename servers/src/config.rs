//! The server's command line and the configuration a backend runs with.
//!
//! Flags every backend shares are the [`Cli`] struct; each backend adds its
//! own through its [`Registration`](crate::backend::Registration), shown
//! under its own heading in `--help`. A backend flag given with another
//! backend is an error, never silently ignored.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser};
use platform::cli::protocol_parser;
use platform::cpus::{CpuList, check_cores, parse_cores};
use protocol::{DEFAULT_MAX_FRAME, Protocol, Work};

use crate::backend::{Backend, Registration};

/// What a backend runs with, fixed for the server's run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `--backend` name.
    pub backend: &'static str,
    /// Protocol and frame bound every session uses.
    pub protocol: protocol::Config,
    pub listen: SocketAddr,
    /// `--threads` if given; each backend documents its default.
    pub threads: Option<usize>,
    /// CPUs to pin threads to, in order; empty means no pinning.
    pub cores: Vec<usize>,
    /// Where to serve the counters besides in-band, if anywhere.
    pub stats_listen: Option<SocketAddr>,
}

const ABOUT: &str = "Serve echo, rr or http with one of ringside's server designs.";

const LONG_ABOUT: &str = "\
Serve echo, rr or http with one of ringside's server designs.

Prints exactly one line `listening on <addr>` on stdout once it accepts
connections (wait for it; do not sleep), serves until SIGINT or SIGTERM, then
prints `stopped: <counters as JSON>` on stdout and exits 0 (the exit statuses
are at the end of --help). The counters are also readable while it runs: an rr
STATS request, GET /stats, or any HTTP request to --stats-listen (printed first
as `stats on <addr>`).";

/// Flags every backend takes.
#[derive(Parser, Debug)]
#[command(
    name = "ringside-server",
    version = platform::VERSION,
    about = ABOUT,
    long_about = LONG_ABOUT,
    override_usage = "ringside-server [OPTIONS] --backend <BACKEND>\n       ringside-server --list-backends",
    after_help = platform::exit::TABLE
)]
pub struct Cli {
    /// Server design to run.
    #[arg(long, short)]
    pub backend: String,

    /// Print the backends this build has, one a line as `name<TAB>summary`,
    /// and exit 0; nothing else goes to stdout. For scripts: read the list
    /// here, not from --help.
    #[arg(long, exclusive = true)]
    pub list_backends: bool,

    /// Protocol to serve.
    #[arg(long, short, default_value = "http", value_parser = protocol_parser())]
    pub protocol: Protocol,

    /// Address to listen on; port 0 picks a free port (read it from the
    /// `listening on` line).
    #[arg(long, short, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Number of server threads (pool workers, event loops). Each backend
    /// states its default and whether it applies.
    #[arg(long, short)]
    pub threads: Option<usize>,

    /// CPUs to pin the server's threads to, as a list such as `0`, `0,2` or
    /// `0-3`; threads are assigned round robin. Default: no pinning.
    #[arg(long, short, value_parser = parse_cores, value_name = "LIST")]
    pub cores: Option<CpuList>,

    /// Also serve the counters as JSON over HTTP on this address, from a
    /// thread outside the backend (the way to read an echo server's
    /// counters). Prints `stats on <addr>` before `listening on`.
    #[arg(long, value_name = "ADDR")]
    pub stats_listen: Option<SocketAddr>,

    /// Largest rr payload, rr response and http body accepted, in bytes;
    /// larger frames get an error response and the connection is closed.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME, value_name = "BYTES")]
    pub max_frame: u32,

    /// Add this work to every rr and http request the server answers:
    /// `spin:<N>ns` (busy loop) or `sleep:<N>us` (a blocking sleep), done by
    /// the serving thread just before the response, as a slower request
    /// handler would. For measuring the measurement: a known slowdown that
    /// a regression gate must catch. Reported in the counters' `options` as
    /// `request_work=...`. Not for echo, which has no requests.
    #[arg(long, value_name = "WORK", value_parser = |s: &str| s.parse::<Work>())]
    pub request_work: Option<Work>,
}

/// The full command: shared flags plus every registered backend's.
pub fn command(backends: &[Registration]) -> Command {
    let values: Vec<PossibleValue> =
        backends.iter().map(|b| PossibleValue::new(b.name).help(b.summary)).collect();
    let mut cmd = Cli::command().mut_arg("backend", |a| a.value_parser(PossibleValuesParser::new(values)));
    for b in backends {
        cmd = (b.args)(cmd);
    }
    cmd
}

/// `--list-backends`: one line per backend, `name<TAB>summary`, in the
/// order `--help` lists them.
pub fn list_backends(backends: &[Registration]) -> String {
    backends.iter().map(|b| format!("{}\t{}\n", b.name, b.summary)).collect()
}

/// Turn parsed arguments into a configuration and the chosen backend.
pub fn build(
    backends: &'static [Registration],
    matches: &ArgMatches,
) -> anyhow::Result<(Config, Box<dyn Backend>)> {
    let cli = Cli::from_arg_matches(matches)?;
    let chosen = backends
        .iter()
        .find(|b| b.name == cli.backend)
        .with_context(|| format!("unknown backend `{}`", cli.backend))?;
    // A flag of another backend would be silently ignored: refuse it.
    for other in backends.iter().filter(|b| b.name != chosen.name) {
        let own = (other.args)(Command::new(other.name));
        for arg in own.get_arguments() {
            let id = arg.get_id().as_str();
            if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
                && !(chosen.args)(Command::new(chosen.name)).get_arguments().any(|a| a.get_id() == id)
            {
                bail!(
                    "--{} is a flag of --backend {}, not of --backend {}",
                    arg.get_long().unwrap_or(id),
                    other.name,
                    chosen.name
                );
            }
        }
    }
    if cli.max_frame == 0 {
        bail!("--max-frame must be at least 1 byte");
    }
    if cli.request_work.is_some() && cli.protocol == Protocol::Echo {
        bail!(
            "--request-work adds work to each request, and echo has no requests (its bytes have no \
             boundaries): use --protocol rr or http, or drop --request-work"
        );
    }
    let cores = cli.cores.map(|c| c.0).unwrap_or_default();
    check_cores("--cores", &cores)?;
    if cli.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let config = Config {
        backend: chosen.name,
        protocol: protocol::Config {
            protocol: cli.protocol,
            max_frame: cli.max_frame,
            request_work: cli.request_work,
        },
        listen: cli.listen,
        threads: cli.threads,
        cores,
        stats_listen: cli.stats_listen,
    };
    let backend = (chosen.build)(matches, &config)?;
    Ok((config, backend))
}

/// Flag group for backends without flags of their own.
pub fn no_args(cmd: Command) -> Command {
    cmd
}

/// Parse a backend's own flags from the full matches.
pub fn backend_args<A: Args + FromArgMatches>(matches: &ArgMatches) -> anyhow::Result<A> {
    Ok(A::from_arg_matches(matches)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<(Config, Box<dyn Backend>)> {
        let argv = std::iter::once("ringside-server").chain(args.iter().copied());
        let matches = command(crate::backends::ALL).try_get_matches_from(argv)?;
        build(crate::backends::ALL, &matches)
    }

    #[test]
    fn command_is_consistent() {
        command(crate::backends::ALL).debug_assert();
    }

    #[test]
    fn backends_are_listed_one_a_line_and_need_no_backend() {
        let list = list_backends(crate::backends::ALL);
        let names: Vec<&str> =
            list.lines().map(|l| l.split_once('\t').expect("name<TAB>summary").0).collect();
        let all: Vec<&str> = crate::backends::ALL.iter().map(|b| b.name).collect();
        assert_eq!(names, all);
        assert!(list.lines().all(|l| !l.ends_with('\t')), "every backend has a summary: {list}");
        let matches =
            command(crate::backends::ALL).try_get_matches_from(["ringside-server", "--list-backends"]);
        assert!(matches.unwrap().get_flag("list_backends"));
        // Alone: with anything else it is a usage error.
        let both = command(crate::backends::ALL).try_get_matches_from([
            "ringside-server",
            "--list-backends",
            "--backend",
            "epoll",
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn command_lines() {
        let (c, b) = parse(&["-b", "thread-pool", "-p", "rr", "-c", "0", "-t", "3", "--queue", "5"]).unwrap();
        assert_eq!(
            (c.backend, c.protocol.protocol, c.cores, c.threads),
            ("thread-pool", Protocol::Rr, vec![0], Some(3))
        );
        assert_eq!(b.options(), "threads=3 queue=5 stack=131072");
        let (c, _) =
            parse(&["-b", "thread-per-conn", "--listen", "127.0.0.1:0", "--max-frame", "10"]).unwrap();
        assert_eq!((c.listen.port(), c.protocol.max_frame, c.protocol.protocol), (0, 10, Protocol::Http));
        assert_eq!(c.protocol.request_work, None);
        let (c, _) = parse(&["-b", "epoll", "-p", "rr", "--request-work", "spin:1500ns"]).unwrap();
        assert_eq!(c.protocol.request_work, Some(Work::Spin { ns: 1500 }));
        for (args, error) in [
            (&["-b", "thread-per-conn", "--queue", "3"][..], "--queue is a flag of --backend thread-pool"),
            (&["-b", "thread-per-conn", "-t", "2"], "--threads does not apply"),
            (&["-b", "thread-pool", "-t", "0"], "--threads must be at least 1"),
            (&["-b", "thread-pool", "--max-frame", "0"], "--max-frame must be at least 1"),
            (&["-b", "thread-pool", "--cores", "1000"], "CPU 1000 is not available"),
            (&["-b", "thread-pool", "--cores", "0-4000000000"], "CPU numbers go up to 1023"),
            (&["-b", "thread-pool", "--queue", "100000000000"], "--queue must be between"),
            (&["-b", "thread-pool", "-t", "100000000"], "--threads must be at most"),
            (&["-b", "thread-pool", "--cores", "x"], "bad CPU list"),
            (&["-b", "epoll", "-p", "echo", "--request-work", "spin:1ns"], "echo has no requests"),
            (&["-b", "epoll", "--request-work", "spin:1us"], "expected spin:<N>ns or sleep:<N>us"),
            (&["-b", "epoll", "--request-work", "sleep:10000001us"], "over the limit"),
            (&["-b", "nope"], "invalid value 'nope'"),
            (&["-b", "thread-pool", "-p", "ftp"], "invalid value 'ftp'"),
        ] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} was accepted"));
            assert!(format!("{e:#}").contains(error), "{args:?}: {e:#}");
        }
    }
}

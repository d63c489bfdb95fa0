//! `ringside-results compare`: results files side by side with statistics,
//! as Go's benchstat does it.
//!
//! Rows are grouped into comparisons: by default each file is a side and
//! the rows of one [`Workload`] are compared across files; with
//! `--across backend` each file is compared within itself, each backend a
//! side, over the workloads [`Workload::without_backend`] makes comparable.
//! Either way the first side is the baseline, and for every metric a table
//! gives each side's median with its 95% confidence interval and, for the
//! later sides, the change against the baseline and the Mann–Whitney p-value
//! ([`crate::stats`]).
//!
//! This module groups and computes; `render` only lays the figures out. It
//! reads whole files before printing anything, so bad input is an error and
//! never half a report, and it never writes to a file.

mod json;
mod render;

pub(crate) use render::{interval, number, percent};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::Row;
use crate::stats::{self, Summary};
use crate::workload::{Metric, Workload};

/// The flags of `ringside-results compare`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Compare results files with statistics (medians, 95% intervals, Mann-Whitney p), as benchstat does",
    long_about = LONG_ABOUT,
    after_long_help = format!("{AFTER_LONG_HELP}\n\n{}", json::FIELDS)
)]
pub struct Args {
    /// Results files. Each is one side, labelled by its file name; the first is the baseline the
    /// others are compared against. With --across, each file is compared within itself.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Compare within each file instead of across files: every backend against the --baseline
    /// backend, over workloads that are the same but for the backend. A backend run with several
    /// option sets in one workload counts once per set, labelled `backend (options)` with the
    /// options that differ between its sets.
    #[arg(long, value_enum, value_name = "WHAT", requires = "baseline")]
    pub across: Option<Across>,

    /// With --across backend: the backend the others are compared against, e.g. `epoll` (or a
    /// label such as `epoll (threads=1)` when it ran with several option sets; the label with all
    /// of the set's options, as its rows spell them, is accepted too).
    #[arg(long, value_name = "BACKEND", requires = "across")]
    pub baseline: Option<String>,

    /// Only this metric (repeat for more): throughput, offered (open loop's offered load, shown
    /// without a better direction), capacity (a capacity search's result), p50, p99, p99.9,
    /// server_cpu, server_switches, server_syscalls. Default: all of them that some row has (so no capacity table
    /// without capacity rows); each table leaves out the workloads it does not apply to.
    #[arg(long = "metric", value_name = "NAME", value_parser = parse_metric)]
    pub metrics: Vec<Metric>,

    /// Output: aligned text tables, markdown pipe tables, long-format CSV or one JSON document
    /// (columns and fields below).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// The runs were interleaved (A B, B A, ... as `scripts/ci-gate.sh --baseline-server`,
    /// `scripts/perf-vs-references.sh` or an A/B started in turn run them): pair each side's
    /// i-th run of a workload with the baseline's i-th, in file order. Delta is then the median of
    /// the paired ratios and p the two-sided Wilcoxon signed-rank p-value of their logs, which the
    /// machine's drift during the runs does not blur as it blurs the unpaired test. A workload
    /// whose sides have different run counts is not tested (a note says so), and a file with
    /// incomplete runs is refused (leaving them out would shift the pairs after them);
    /// significance needs at least 6 pairs.
    #[arg(long)]
    pub paired: bool,

    /// Compare rows of phase = probe too (runs a capacity search made only to find the capacity),
    /// which are otherwise left out with a line saying how many.
    #[arg(long)]
    pub with_probes: bool,

    /// Pool rows of different builds (`git_rev`) in one workload as if they
    /// were repetitions of one measurement (refused otherwise: two sweeps of
    /// different builds in one file must not silently pool).
    #[arg(long)]
    pub allow_mixed: bool,
}

/// What `--across` compares within a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Across {
    /// Backends (and their option sets) against the --baseline backend.
    Backend,
}

/// The form of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, one table per metric, notes under each table.
    Text,
    /// Pipe tables under `###` headings, notes as lists.
    Markdown,
    /// One row per (metric, workload, side); see below.
    Csv,
    /// One document: the same figures, the notes, and each workload's fields; see below.
    Json,
}

const LONG_ABOUT: &str = "\
Compare results files with statistics, as Go's benchstat does: for each metric a table with a row \
per workload (complete runs only, grouped by everything that defines what was measured) and a column \
group per file, the first file being the baseline.

Each cell is the median of the runs, ± the half-width of its 95% confidence interval as a share of \
the median (±∞ when there are fewer than 6 runs, too few for a 95% interval), and n, the number of \
runs. Medians rather than means, because benchmark runs are skewed: one run slowed by a neighbour \
moves a mean, not a median. For each later file, delta is the change of the median against the \
baseline and p the two-sided Mann-Whitney U p-value: how likely a difference at least this large \
would be if both sides' runs came from one distribution. Delta reads `~` when p >= 0.05, a \
difference within the noise. With 3 runs against 3 the smallest p possible is 0.1, so a difference \
can be significant only with at least 4 runs on each side (¹ marks a side that, against the baseline, has too few). The geomean \
line compares the geometric means of the medians over the workloads a side and the baseline both have.

With --paired (for runs interleaved with the baseline's, as an A/B run in turn is), each side's i-th run \
of a workload is paired with the baseline's i-th: delta is the median of the paired ratios and p the \
two-sided Wilcoxon signed-rank p-value of their logs. A drift of the machine during the runs moves both \
runs of a pair alike, so it does not hide a small difference from the paired test as it does from the \
unpaired one; 6 pairs at least are needed for p < 0.05.

Rows of phase = probe (the runs of a capacity search) are left out unless --with-probes, and a note \
says how many. A capacity search's results (phase = capacity) form a workload per objective, e.g. \
`capacity p99<=1000us`, so that --across backend compares the backends' capacities; the capacity \
table holds those workloads only, and the throughput and offered tables leave them out. Rows of \
phase = count (a sweep's runs made only to count system calls, which counting slows) belong to the \
workload of the runs they count for and give its server_syscalls figure alone: every other table \
leaves them out, n included, and --paired never pairs them with a run.";

const AFTER_LONG_HELP: &str = "\
--format csv columns, one row per (metric, workload, side), plus `geomean` rows (the baseline's, and
one per side with a geomean against it) where the table has a geomean line:
  metric       throughput, offered, capacity, p50, p99, p99.9, server_cpu, server_switches or server_syscalls
  within       with --across: the file compared within; empty otherwise
  workload     the workload (without the backend with --across), or `geomean`
  side         the file's label, or with --across the backend's
  median       median of the runs (on geomean rows, the geometric mean of the medians; empty for
               the baseline when the sides share different workloads with it); empty if none
  ci_low       low end of the median's 95% confidence interval; empty if too few runs
  ci_high      high end of that interval
  n            runs with this figure (empty on geomean rows)
  delta_pct    median against the baseline's, percent (--paired: the median of the paired ratios);
               empty on the baseline side
  p_value      Mann-Whitney U two-sided p-value against the baseline (--paired: Wilcoxon
               signed-rank); empty if not computable
  significant  true if p_value < 0.05; empty on the baseline side

Examples:
  ringside-results compare before.csv after.csv
  ringside-results compare --metric throughput --metric p99 before.csv after.csv
  ringside-results compare --across backend --baseline epoll sweep.csv
  ringside-results compare --paired ringside-ci.baseline.csv ringside-ci.csv
  ringside-results compare --format csv before.csv after.csv > delta.csv
  ringside-results compare --format json before.csv after.csv | jq '.sections[0].metrics[0]'";

fn parse_metric(s: &str) -> Result<Metric, String> {
    Metric::parse(s).ok_or_else(|| {
        let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        format!("no metric `{s}`: use one of {}", names.join(", "))
    })
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (inputs, probes_note, mixed_notes) = load(&args.files, args.with_probes, args.allow_mixed)?;
    // Pairs are made by order; a run left out would shift every pair after
    // it onto the wrong partner.
    if args.paired
        && let Some(input) = inputs.iter().find(|i| i.incomplete_runs > 0)
    {
        anyhow::bail!(
            "--paired pairs runs by their order, and {} has {} incomplete run(s), left out of any \
             comparison, which would pair the runs after them with the wrong partners; compare \
             without --paired, or remove those runs and their partners from both sides",
            input.label,
            input.incomplete_runs
        );
    }
    let metrics = if args.metrics.is_empty() { default_metrics(&inputs) } else { args.metrics.clone() };
    let mut report = match (args.across, &args.baseline) {
        (Some(Across::Backend), Some(baseline)) => across_backend(&inputs, baseline)?,
        // clap makes --across and --baseline require each other.
        (None, _) | (_, None) => by_file(&inputs),
    };
    report.notes.splice(0..0, probes_note.into_iter().chain(mixed_notes));
    for section in &mut report.sections {
        section.paired = args.paired;
    }
    let out = match args.format {
        Format::Text => render::text(&report, &metrics),
        Format::Markdown => render::markdown(&report, &metrics),
        Format::Csv => {
            // CSV has no room for notes, and they matter (runs left out, a
            // missing baseline): they go to stderr.
            let mut stderr = io::stderr().lock();
            for note in render::notes(&report) {
                let _ = writeln!(stderr, "note: {note}");
            }
            render::csv(&report, &metrics)
        }
        Format::Json => json::document(&report, &metrics),
    };
    // The whole output at once, after every file was read: an error never
    // leaves half a report. A BrokenPipe goes up as an io::Error, which
    // main treats as success.
    let mut stdout = io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One results file as read: its label, its complete rows and how many
/// incomplete ones were left out.
#[derive(Debug)]
struct Input {
    label: String,
    rows: Vec<Row>,
    incomplete: usize,
    /// Of those, the measured runs: what `--paired` pairs (a counting
    /// run, phase `count`, is never paired, so its loss shifts no pair).
    incomplete_runs: usize,
}

/// Every file, read whole and checked (an error names the file, line and
/// column), labelled by its file name, or by as much of its path as tells
/// it apart where two files share a name (`base/a.csv`, `new/a.csv`); probe
/// rows left out unless `with_probes`, with the note that says so.
/// Rows pooling several builds in one workload are refused unless
/// `allow_mixed`; such pooling, and rows of several sweeps, get notes.
fn load(paths: &[PathBuf], with_probes: bool, allow_mixed: bool) -> anyhow::Result<LoadedInputs> {
    let labels = crate::file_labels(&paths.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let mut inputs = Vec::new();
    let mut left_out = Vec::new();
    let mut mixed = Vec::new();
    for (path, label) in paths.iter().zip(labels) {
        let rows = crate::read(path)?;
        anyhow::ensure!(
            !rows.is_empty(),
            "{} has no rows, only a header: nothing to compare; give a file the load generator has \
             written runs to",
            path.display()
        );
        let rows = crate::workload::without_probes(rows, with_probes, &mut left_out);
        mixed.extend(crate::workload::check_mixed(&label, &rows, allow_mixed)?);
        inputs.push(Input::new(label, rows));
    }
    Ok((inputs, crate::workload::probes_note(&left_out), mixed))
}

/// The inputs, the note on probe rows left out, the notes on pooled runs.
type LoadedInputs = (Vec<Input>, Option<String>, Vec<String>);

/// The metrics compared when none is asked for: every one that applies to
/// some row (no capacity table for files without a capacity search, no
/// offered-load table for closed loop alone), in [`Metric::ALL`]'s order.
fn default_metrics(inputs: &[Input]) -> Vec<Metric> {
    let rows = || inputs.iter().flat_map(|i| &i.rows);
    let metrics: Vec<Metric> = Metric::ALL.into_iter().filter(|m| rows().any(|r| m.applies(r))).collect();
    // Nothing complete to go by: every table, each saying it has no figure.
    if metrics.is_empty() { Metric::ALL.to_vec() } else { metrics }
}

impl Input {
    fn new(label: String, rows: Vec<Row>) -> Input {
        let all = rows.len();
        let incomplete_runs = rows.iter().filter(|r| !r.complete && r.phase != crate::Phase::Count).count();
        let rows: Vec<Row> = rows.into_iter().filter(|r| r.complete).collect();
        Input { label, incomplete: all - rows.len(), incomplete_runs, rows }
    }
}

/// What `compare` prints: notes about the input as a whole, then one or
/// more comparisons (one per file with `--across`).
#[derive(Debug)]
struct Report {
    notes: Vec<String>,
    sections: Vec<Section>,
}

/// One comparison: sides (columns; the first is the baseline) over
/// workloads (rows).
#[derive(Debug)]
struct Section {
    /// With `--across`: the file compared within.
    within: Option<String>,
    /// What the section compares, in a line.
    heading: String,
    notes: Vec<String>,
    sides: Vec<String>,
    lines: Vec<Line>,
    /// `--paired`: each side's runs of a workload paired with the
    /// baseline's, in order.
    paired: bool,
}

/// A workload and its complete runs on each side (empty where the side has
/// none).
#[derive(Debug)]
struct Line {
    label: String,
    runs: Vec<Vec<Row>>,
}

/// A workload in the order a reader looks for it in a table: backend,
/// protocol, connections and the rest, the backend's options last (the
/// sweep sizes thread-pool's threads by the connection count, and
/// `threads=500` must not sort `c=500` before `c=50`).
#[derive(Debug, PartialEq, Eq)]
struct Ordered(Workload);

impl Ordered {
    #[allow(clippy::type_complexity, reason = "a sort key, used once")]
    fn key(&self) -> (&str, &str, u32, u32, &str, u64, u64, &str, &str) {
        let w = &self.0;
        (
            &w.backend,
            &w.protocol,
            w.connections,
            w.pipeline,
            &w.load,
            w.request_bytes,
            w.response_bytes,
            &w.work,
            &w.backend_options,
        )
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The default comparison: each file a side, rows grouped by [`Workload`].
fn by_file(inputs: &[Input]) -> Report {
    let mut groups: BTreeMap<Ordered, Vec<Vec<Row>>> = BTreeMap::new();
    for (side, input) in inputs.iter().enumerate() {
        for row in &input.rows {
            groups.entry(Ordered(Workload::of(row))).or_insert_with(|| vec![Vec::new(); inputs.len()])[side]
                .push(row.clone());
        }
    }
    let labels = labels(groups.keys().map(|o| &o.0));
    let sides: Vec<String> = inputs.iter().map(|i| i.label.clone()).collect();

    let mut notes = incomplete_note(inputs);
    for (label, runs) in labels.iter().zip(groups.values()) {
        let missing: Vec<&str> =
            runs.iter().zip(&sides).filter(|(r, _)| r.is_empty()).map(|(_, s)| s.as_str()).collect();
        if missing.is_empty() {
            continue;
        }
        let present: Vec<&str> =
            runs.iter().zip(&sides).filter(|(r, _)| !r.is_empty()).map(|(_, s)| s.as_str()).collect();
        notes.push(if present.len() == 1 {
            format!("`{label}` is only in {}", present[0])
        } else {
            format!("`{label}` is not in {}", missing.join(", "))
        });
    }

    let heading = match sides.split_first() {
        Some((base, [])) => format!("{base}, alone"),
        Some((base, rest)) => format!("{} against {base}", rest.join(", ")),
        None => String::new(),
    };
    let lines =
        labels.into_iter().zip(groups.into_values()).map(|(label, runs)| Line { label, runs }).collect();
    Report {
        notes,
        sections: vec![Section { within: None, heading, notes: Vec::new(), sides, lines, paired: false }],
    }
}

/// `--across backend --baseline B`: within each file, every backend (each
/// option set of it apart) against B, over the workloads that differ only
/// in the backend.
/// Beyond this many workloads without the baseline, `across_backend` says
/// so in one note.
const MAX_UNMATCHED_NOTES: usize = 4;

fn across_backend(inputs: &[Input], baseline: &str) -> anyhow::Result<Report> {
    let mut found = BTreeSet::new();
    let mut in_any = false;
    for input in inputs {
        for row in &input.rows {
            found.insert(row.backend.as_str());
            in_any |= row.backend == baseline;
        }
        in_any |= backend_sides(&input.rows).iter().any(|s| s.label == baseline || s.full_label == baseline);
    }
    if !in_any {
        let files: Vec<&str> = inputs.iter().map(|i| i.label.as_str()).collect();
        let found: Vec<&str> =
            found.into_iter().map(|b| if b.is_empty() { UNKNOWN_BACKEND } else { b }).collect();
        anyhow::bail!(
            "--baseline {baseline}: no complete run of that backend in {}; backends found: {}",
            files.join(", "),
            if found.is_empty() { "none".to_string() } else { found.join(", ") }
        );
    }

    let mut sections = Vec::new();
    for input in inputs {
        sections.push(within_file(input, baseline)?);
    }
    Ok(Report { notes: incomplete_note(inputs), sections })
}

/// What a backend with unknown name (counters not read) is called.
const UNKNOWN_BACKEND: &str = "(unknown backend)";

/// A backend, or one of its option sets, as a side of `--across backend`.
#[derive(Debug, PartialEq, Eq)]
struct BackendSide {
    backend: String,
    /// `Some` where the backend ran with several option sets in one
    /// workload, so that each set is a side of its own.
    options: Option<String>,
    label: String,
    /// `backend (all its options)`, which `--baseline` also accepts, where
    /// `label` names only the options that differ between the sets.
    full_label: String,
}

impl BackendSide {
    fn has(&self, row: &Row) -> bool {
        self.backend == row.backend && self.options.as_ref().is_none_or(|o| *o == row.backend_options)
    }
}

/// The backends of `rows` in order of first appearance (a sweep's backend
/// order), labelled by name. A backend that ran with several option sets in
/// one workload is a side per set, labelled `backend (options)` with only
/// the options that differ between its sets (`io-uring (buf_ring=off
/// multishot_recv=off)`, not the dozen it always reports); one whose
/// options only differ between workloads (the sweep sizes thread-pool's
/// threads by the connection count) stays one side, so that it is compared
/// in every workload.
fn backend_sides(rows: &[Row]) -> Vec<BackendSide> {
    let mut sets: BTreeMap<(&str, Workload), BTreeSet<&str>> = BTreeMap::new();
    for row in rows {
        sets.entry((row.backend.as_str(), Workload::of(row).without_backend()))
            .or_default()
            .insert(row.backend_options.as_str());
    }
    let split = |backend: &str| sets.iter().any(|((b, _), options)| *b == backend && options.len() > 1);
    let mut sides: Vec<BackendSide> = Vec::new();
    for row in rows {
        if sides.iter().any(|s| s.has(row)) {
            continue;
        }
        let name = if row.backend.is_empty() { UNKNOWN_BACKEND } else { &row.backend };
        let (options, label, full_label) = if split(&row.backend) {
            let o = &row.backend_options;
            let full = if o.is_empty() { format!("{name} (no options)") } else { format!("{name} ({o})") };
            let all_sets =
                rows.iter().filter(|r| r.backend == row.backend).map(|r| r.backend_options.as_str());
            let label = match differing_options(o, all_sets) {
                Some(d) => format!("{name} ({d})"),
                None => full.clone(),
            };
            (Some(o.clone()), label, full)
        } else {
            (None, name.to_string(), name.to_string())
        };
        sides.push(BackendSide { backend: row.backend.clone(), options, label, full_label });
    }
    sides
}

/// The `key=value` words of `options` that not every one of `all` (a
/// backend's option sets) has, in `options`' order; `None` if that leaves
/// nothing to tell the sets apart by (options that are not such words).
pub(crate) fn differing_options<'a>(options: &str, all: impl Iterator<Item = &'a str>) -> Option<String> {
    let sets: Vec<Vec<&str>> = all.map(|o| o.split_whitespace().collect()).collect();
    let differ: Vec<&str> =
        options.split_whitespace().filter(|w| !sets.iter().all(|set| set.contains(w))).collect();
    let mine: Vec<&str> = options.split_whitespace().collect();
    // Tells the sets apart only if no other set has all of these words
    // (a set that is a superset of this one, say).
    let distinct = sets.iter().filter(|set| **set != mine).all(|set| !differ.iter().all(|w| set.contains(w)));
    (!differ.is_empty() && distinct).then(|| differ.join(" "))
}

/// One file's backends against the baseline.
fn within_file(input: &Input, baseline: &str) -> anyhow::Result<Section> {
    let mut sides = backend_sides(&input.rows);
    let base = match sides.iter().position(|s| s.label == baseline || s.full_label == baseline) {
        Some(i) => Some(i),
        None => {
            let matching: Vec<usize> = (0..sides.len()).filter(|&i| sides[i].backend == baseline).collect();
            if matching.len() > 1 {
                let labels: Vec<String> = matching.iter().map(|&i| format!("'{}'", sides[i].label)).collect();
                anyhow::bail!(
                    "--baseline {baseline}: {} has runs of {baseline} with {} option sets; name one: --baseline {}",
                    input.label,
                    matching.len(),
                    labels.join(" or --baseline ")
                );
            }
            matching.first().copied()
        }
    };
    let within = Some(input.label.clone());
    let Some(base) = base else {
        let labels: Vec<&str> = sides.iter().map(|s| s.label.as_str()).collect();
        return Ok(Section {
            within,
            heading: format!("{}: backends against {baseline}", input.label),
            notes: vec![format!(
                "{} has no complete run of {baseline}, so nothing in it is compared (backends in it: {})",
                input.label,
                if labels.is_empty() { "none".to_string() } else { labels.join(", ") }
            )],
            sides: Vec::new(),
            lines: Vec::new(),
            paired: false,
        });
    };
    let base_side = sides.remove(base);
    sides.insert(0, base_side);

    let mut groups: BTreeMap<Ordered, Vec<Vec<Row>>> = BTreeMap::new();
    for row in &input.rows {
        let side = sides.iter().position(|s| s.has(row)).expect("backend_sides has a side for every row");
        groups
            .entry(Ordered(Workload::of(row).without_backend()))
            .or_insert_with(|| vec![Vec::new(); sides.len()])[side]
            .push(row.clone());
    }
    let labels = labels(groups.keys().map(|o| &o.0));
    let base_label = &sides[0].label;
    let unmatched: Vec<&String> = labels
        .iter()
        .zip(groups.values())
        .filter(|(_, runs)| runs[0].is_empty())
        .map(|(label, _)| label)
        .collect();
    // One note per workload, or one for all when there are many (a
    // capacity search's runs at shares of each backend's own capacity are
    // a workload each).
    let mut notes: Vec<String> = if unmatched.len() <= MAX_UNMATCHED_NOTES {
        unmatched
            .iter()
            .map(|label| format!("no {base_label} runs for `{label}`: its backends are not compared there"))
            .collect()
    } else {
        vec![format!(
            "no {base_label} runs for {} workloads (`{}`, `{}`, ...): their backends are not compared there",
            unmatched.len(),
            unmatched[0],
            unmatched[1]
        )]
    };
    for side in sides.iter().filter(|s| s.options.is_none()) {
        let mut sets: Vec<&str> = Vec::new();
        for row in input.rows.iter().filter(|r| side.has(r)) {
            if !sets.contains(&row.backend_options.as_str()) {
                sets.push(&row.backend_options);
            }
        }
        if sets.len() > 1 {
            notes.push(format!(
                "{} ran with options that differ between workloads ({}): each workload compares the set \
                 it ran with",
                side.label,
                sets.iter()
                    .map(|o| if o.is_empty() { "no options" } else { o })
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    let lines =
        labels.into_iter().zip(groups.into_values()).map(|(label, runs)| Line { label, runs }).collect();
    Ok(Section {
        within,
        heading: format!("{}: backends against {base_label}", input.label),
        notes,
        sides: sides.into_iter().map(|s| s.label).collect(),
        lines,
        paired: false,
    })
}

/// Each workload's short name, with the backend's options added where two
/// workloads would otherwise read the same.
fn labels<'a>(workloads: impl Iterator<Item = &'a Workload> + Clone) -> Vec<String> {
    let short: Vec<String> = workloads.clone().map(Workload::short).collect();
    workloads
        .zip(&short)
        .map(|(w, s)| {
            if short.iter().filter(|t| *t == s).count() > 1 {
                format!(
                    "{s} ({})",
                    if w.backend_options.is_empty() { "no options" } else { &w.backend_options }
                )
            } else {
                s.clone()
            }
        })
        .collect()
}

fn incomplete_note(inputs: &[Input]) -> Vec<String> {
    let total: usize = inputs.iter().map(|i| i.incomplete).sum();
    if total == 0 {
        return Vec::new();
    }
    let per_file: Vec<String> = inputs
        .iter()
        .filter(|i| i.incomplete > 0)
        .map(|i| format!("{} in {}", i.incomplete, i.label))
        .collect();
    vec![format!(
        "left out {total} incomplete run{} (complete = false, cut short): {}",
        if total == 1 { "" } else { "s" },
        per_file.join(", ")
    )]
}

/// One metric of one section, computed.
#[derive(Debug)]
struct MetricTable {
    lines: Vec<TableLine>,
    /// Per side after the baseline (index `side - 1`): its geomean line.
    geomeans: Vec<Geomean>,
}

#[derive(Debug)]
struct TableLine {
    label: String,
    /// Per side: the summary of its runs' values, `None` if it has none.
    cells: Vec<Option<Summary>>,
    /// Per side: against the baseline (`None` for the baseline itself).
    versus: Vec<Option<Versus>>,
}

/// A side against the baseline for one workload.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Versus {
    /// `median / baseline median - 1`; `None` if either side has no value
    /// (or the baseline's median is 0).
    delta: Option<f64>,
    /// Mann–Whitney U two-sided p-value; `None` if either side has no value.
    p: Option<f64>,
    /// Whether these two sample sizes can give p < α at all (3 against 3,
    /// or 4 against 3, cannot; 3 against 6 can); true when a side has no
    /// values (there is nothing to test).
    can_be_significant: bool,
}

impl Versus {
    fn significant(&self) -> bool {
        self.p.is_some_and(|p| p < stats::ALPHA)
    }
}

/// A side's geometric mean against the baseline's, over the workloads
/// both have a value for (pairwise, so that a backend missing from one
/// workload does not take the geomean from the others).
#[derive(Clone, Debug, PartialEq)]
enum Geomean {
    /// Fewer than 2 workloads have a value on both sides.
    TooFew,
    /// A median is 0 (or negative): no geometric mean.
    NotPositive,
    /// The geometric means of the baseline's and this side's medians over
    /// `workloads` (indices into the table's lines).
    Of { base: f64, this: f64, workloads: Vec<usize> },
}

impl Geomean {
    /// This side's geomean against the baseline's, as `ratio - 1`.
    fn delta(&self) -> Option<f64> {
        match self {
            Geomean::Of { base, this, .. } => Some(this / base - 1.0),
            _ => None,
        }
    }
}

/// Fewer pairs than this cannot give a signed-rank p below α: with 5, the
/// smallest p possible is 2/32 = 0.0625.
pub(crate) const FEW_PAIRS: usize = 6;

/// `--paired`: a side's runs of a workload against the baseline's, the i-th
/// with the i-th (pairs where either lacks the figure are left out). Delta
/// is the median of the ratios minus 1, p the signed-rank p of their logs.
/// Different run counts pair nothing: no delta, no p.
fn paired_versus(base: &[Row], this: &[Row], metric: Metric) -> Versus {
    // Only the rows the metric applies to are paired: a counting run
    // (phase `count`) is no partner of a measured run, and one side's
    // counting run must not shift the other's pairs.
    let (base, this) = (applying(base, metric), applying(this, metric));
    // Nothing to pair: a side without runs (marked `—`), or different
    // counts (a note names them).
    if base.is_empty() || base.len() != this.len() {
        return Versus { delta: None, p: None, can_be_significant: true };
    }
    let ratios: Vec<f64> = base
        .iter()
        .zip(&this)
        .filter_map(|(b, t)| match (metric.value(b), metric.value(t)) {
            (Some(b), Some(t)) if b > 0.0 && t > 0.0 => Some(t / b),
            _ => None,
        })
        .collect();
    let logs: Vec<f64> = ratios.iter().map(|q| q.ln()).collect();
    Versus {
        delta: Summary::of(&ratios).map(|s| s.median - 1.0),
        p: stats::signed_rank_p(&logs),
        can_be_significant: ratios.is_empty() || ratios.len() >= FEW_PAIRS,
    }
}

/// The rows of `runs` that `metric` applies to, in order.
fn applying(runs: &[Row], metric: Metric) -> Vec<&Row> {
    runs.iter().filter(|r| metric.applies(r)).collect()
}

/// The rows of `runs` that are measured runs, not counting runs (phase
/// `count`, which only count system calls): what `--paired` pairs for
/// every metric but the system calls.
pub(crate) fn measured_runs(runs: &[Row]) -> usize {
    runs.iter().filter(|r| r.phase != crate::Phase::Count).count()
}

fn tabulate(section: &Section, metric: Metric) -> MetricTable {
    // A workload's rows are of one kind but for its counting runs (which
    // share the workload of the runs they count for, and apply to the
    // system calls alone): the line is the metric's if any row is.
    let applies = |line: &&Line| {
        let mut rows = line.runs.iter().flatten().peekable();
        rows.peek().is_none() || rows.any(|r| metric.applies(r))
    };
    let lines: Vec<TableLine> = section
        .lines
        .iter()
        .filter(applies)
        .map(|line| {
            let values: Vec<Vec<f64>> =
                line.runs.iter().map(|runs| runs.iter().filter_map(|r| metric.value(r)).collect()).collect();
            let cells: Vec<Option<Summary>> = values.iter().map(|v| Summary::of(v)).collect();
            let versus = (0..values.len())
                .map(|side| {
                    (side > 0).then(|| {
                        if section.paired {
                            return paired_versus(&line.runs[0], &line.runs[side], metric);
                        }
                        let delta = match (cells[0], cells[side]) {
                            (Some(base), Some(this)) if base.median != 0.0 => {
                                Some(this.median / base.median - 1.0)
                            }
                            _ => None,
                        };
                        Versus {
                            delta,
                            p: stats::mann_whitney_p(&values[0], &values[side]),
                            // A side with no values is marked `—`, not `¹`.
                            can_be_significant: values[0].is_empty()
                                || values[side].is_empty()
                                || crate::gate::can_be_significant(values[0].len(), values[side].len()),
                        }
                    })
                })
                .collect();
            TableLine { label: line.label.clone(), cells, versus }
        })
        .collect();

    let geomeans = (1..section.sides.len())
        .map(|side| {
            let workloads: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].cells[0].is_some() && lines[i].cells[side].is_some())
                .collect();
            if workloads.len() < 2 {
                return Geomean::TooFew;
            }
            let medians = |side: usize| -> Vec<f64> {
                workloads.iter().filter_map(|&i| lines[i].cells[side]).map(|s| s.median).collect()
            };
            match (stats::geomean(&medians(0)), stats::geomean(&medians(side))) {
                (Some(base), Some(this)) => Geomean::Of { base, this, workloads },
                _ => Geomean::NotPositive,
            }
        })
        .collect();
    MetricTable { lines, geomeans }
}

impl MetricTable {
    /// The baseline's geomean, if every side's geomean line covers the same
    /// workloads (always so with two sides); otherwise each pair has its
    /// own baseline figure and there is no one to show.
    fn base_geomean(&self) -> Option<f64> {
        let mut of = self.geomeans.iter().filter_map(|g| match g {
            Geomean::Of { base, workloads, .. } => Some((*base, workloads)),
            _ => None,
        });
        let (base, workloads) = of.next()?;
        of.all(|(_, w)| w == workloads).then_some(base)
    }

    /// Whether any side of any workload has a value: a table without one is
    /// not worth drawing.
    fn has_values(&self) -> bool {
        self.lines.iter().any(|l| l.cells.iter().any(Option::is_some))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::clean;

    /// A complete closed-loop http run of `backend` with `connections`,
    /// whose every metric is `value` (throughput `value`, latencies `value`
    /// µs, server CPU `value` µs and switches `value` per request).
    fn run(backend: &str, connections: u32, value: f64) -> Row {
        Row {
            response_bytes: 0,
            achieved_rate: value,
            lat_p50_us: value,
            lat_p99_us: value,
            lat_p999_us: value,
            server_cpu_user_us: value / 2.0,
            server_cpu_sys_us: value / 2.0,
            server_vcs: value,
            server_ics: 0.0,
            ..clean(backend, connections)
        }
    }

    pub(super) fn runs(backend: &str, connections: u32, values: &[f64]) -> Vec<Row> {
        values.iter().map(|&v| run(backend, connections, v)).collect()
    }

    pub(super) fn input(label: &str, rows: Vec<Row>) -> Input {
        Input::new(label.into(), rows)
    }

    fn only_table(report: &Report, metric: Metric) -> MetricTable {
        assert_eq!(report.sections.len(), 1);
        tabulate(&report.sections[0], metric)
    }

    #[test]
    fn groups_complete_runs_by_workload_and_counts_the_rest() {
        let mut a = runs("epoll", 50, &[10.0, 11.0, 12.0, 13.0]);
        a.extend(runs("epoll", 500, &[20.0, 21.0, 22.0, 23.0]));
        a.push(Row { complete: false, ..run("epoll", 50, 99.0) });
        let b = runs("epoll", 50, &[10.5, 11.5, 12.5, 13.5]);
        let report = by_file(&[input("a.csv", a), input("b.csv", b)]);
        let s = &report.sections[0];
        assert_eq!(s.sides, ["a.csv", "b.csv"]);
        let labels: Vec<&str> = s.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["epoll http c=50", "epoll http c=500"]);
        assert_eq!(
            s.lines[0].runs.iter().map(Vec::len).collect::<Vec<_>>(),
            [4, 4],
            "the incomplete run is out"
        );
        assert_eq!(s.lines[1].runs.iter().map(Vec::len).collect::<Vec<_>>(), [4, 0]);
        assert!(
            report.notes.iter().any(|n| n.contains("left out 1 incomplete run") && n.contains("1 in a.csv"))
        );
        // Listed, not dropped: the workload only one file has.
        assert!(
            report.notes.iter().any(|n| n == "`epoll http c=500` is only in a.csv"),
            "{:?}",
            report.notes
        );
        let t = only_table(&report, Metric::Throughput);
        assert_eq!(t.lines[1].cells[1], None);
        assert_eq!(t.lines[1].versus[1], Some(Versus { delta: None, p: None, can_be_significant: true }));
    }

    #[test]
    fn workloads_differing_only_in_options_get_their_options_in_the_label() {
        let one = Row { backend_options: "threads=8".into(), ..run("thread-pool", 50, 1.0) };
        let two = Row { backend_options: "threads=64".into(), ..run("thread-pool", 50, 1.0) };
        let report = by_file(&[input("a.csv", vec![one, two])]);
        let labels: Vec<&str> = report.sections[0].lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["thread-pool http c=50 (threads=64)", "thread-pool http c=50 (threads=8)"]);
    }

    #[test]
    fn workloads_sort_by_connections_before_options() {
        // As a sweep writes them: thread-pool's threads follow the connections.
        let sized = |c: u32| Row { backend_options: format!("threads={c}"), ..run("thread-pool", c, 1.0) };
        let rows = vec![sized(500), sized(50), run("epoll", 500, 1.0), run("epoll", 50, 1.0)];
        let report = by_file(&[input("a.csv", rows)]);
        let labels: Vec<&str> = report.sections[0].lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            ["epoll http c=50", "epoll http c=500", "thread-pool http c=50", "thread-pool http c=500"]
        );
    }

    #[test]
    fn deltas_and_significance() {
        // Check each case: (baseline, other, expected delta, significant).
        let cases: [(&[f64], &[f64], f64, bool); 4] = [
            // 4 against 4 fully separated: p = 2/70 < 0.05.
            (&[100.0, 101.0, 102.0, 103.0], &[110.0, 111.0, 112.0, 113.0], 111.5 / 101.5 - 1.0, true),
            // Interleaved: noise.
            (&[100.0, 102.0, 104.0, 106.0], &[101.0, 103.0, 105.0, 107.0], 104.0 / 103.0 - 1.0, false),
            // 3 against 3, however far apart, cannot be significant.
            (&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0], 9.0, false),
            // Lower.
            (&[10.0, 10.0, 10.0, 10.0, 10.0], &[5.0, 5.0, 5.0, 5.0, 5.0], -0.5, true),
        ];
        for (base, other, delta, significant) in cases {
            let report =
                by_file(&[input("a", runs("epoll", 50, base)), input("b", runs("epoll", 50, other))]);
            let t = only_table(&report, Metric::P99);
            let v = t.lines[0].versus[1].unwrap();
            assert!((v.delta.unwrap() - delta).abs() < 1e-12, "{base:?} {other:?}: {v:?}");
            assert_eq!(v.significant(), significant, "{base:?} {other:?}: {v:?}");
            assert_eq!(t.lines[0].versus[0], None);
        }
    }

    #[test]
    fn geomean_over_the_workloads_both_sides_have() {
        let mut a = runs("epoll", 50, &[100.0; 4]);
        a.extend(runs("epoll", 500, &[400.0; 4]));
        a.extend(runs("epoll", 5000, &[7.0; 4]));
        let mut b = runs("epoll", 50, &[200.0; 4]);
        b.extend(runs("epoll", 500, &[200.0; 4]));
        let t = only_table(&by_file(&[input("a", a), input("b", b)]), Metric::Throughput);
        // c=5000 is only in a: the geomean covers c=50 and c=500.
        let Geomean::Of { base, this, workloads } = &t.geomeans[0] else { panic!("{:?}", t.geomeans) };
        assert_eq!(*workloads, [0, 1]);
        assert!((base - 200.0).abs() < 1e-9 && (this - 200.0).abs() < 1e-9, "{base} {this}");
        assert!(t.geomeans[0].delta().unwrap().abs() < 1e-12);
        assert_eq!(t.base_geomean(), Some(*base));

        // One workload in common: no geomean line.
        let t = only_table(
            &by_file(&[input("a", runs("epoll", 50, &[1.0; 4])), input("b", runs("epoll", 50, &[2.0; 4]))]),
            Metric::Throughput,
        );
        assert_eq!(t.geomeans, [Geomean::TooFew]);
        assert_eq!(t.base_geomean(), None);

        // A median of 0 has no logarithm.
        let mut a = runs("epoll", 50, &[0.0; 4]);
        a.extend(runs("epoll", 500, &[1.0; 4]));
        let mut b = runs("epoll", 50, &[1.0; 4]);
        b.extend(runs("epoll", 500, &[1.0; 4]));
        let t = only_table(&by_file(&[input("a", a), input("b", b)]), Metric::P50);
        assert_eq!(t.geomeans, [Geomean::NotPositive]);

        // A file alone has nothing to compare against.
        let mut a = runs("epoll", 50, &[1.0; 4]);
        a.extend(runs("epoll", 500, &[2.0; 4]));
        assert!(only_table(&by_file(&[input("a", a)]), Metric::P50).geomeans.is_empty());
    }

    #[test]
    fn geomean_is_pairwise_with_more_than_two_sides() {
        // io-uring has every workload, thread-pool only two: each is
        // compared with epoll over the workloads it shares with it.
        let mut rows = runs("epoll", 50, &[100.0; 4]);
        rows.extend(runs("epoll", 500, &[100.0; 4]));
        rows.extend(runs("epoll", 5000, &[100.0; 4]));
        rows.extend(runs("io-uring", 50, &[200.0; 4]));
        rows.extend(runs("io-uring", 500, &[200.0; 4]));
        rows.extend(runs("io-uring", 5000, &[200.0; 4]));
        rows.extend(runs("thread-pool", 50, &[50.0; 4]));
        rows.extend(runs("thread-pool", 500, &[50.0; 4]));
        let report = across_backend(&[input("a.csv", rows)], "epoll").unwrap();
        let t = tabulate(&report.sections[0], Metric::Throughput);
        assert_eq!(t.geomeans.len(), 2);
        assert!(matches!(&t.geomeans[0], Geomean::Of { workloads, .. } if *workloads == [0, 1, 2]));
        assert!(matches!(&t.geomeans[1], Geomean::Of { workloads, .. } if *workloads == [0, 1]));
        assert!((t.geomeans[0].delta().unwrap() - 1.0).abs() < 1e-12);
        assert!((t.geomeans[1].delta().unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(t.base_geomean(), None, "the pairs cover different workloads");
    }

    #[test]
    fn unmeasured_figures_are_no_values() {
        let unmeasured = Row { server_cpu_user_us: 0.0, server_cpu_sys_us: 0.0, ..run("epoll", 50, 1.0) };
        let report = by_file(&[input("a", vec![unmeasured])]);
        assert!(!only_table(&report, Metric::ServerCpu).has_values());
        assert!(only_table(&report, Metric::Throughput).has_values());
    }

    #[test]
    fn across_backend_compares_within_each_file() {
        let mut rows = runs("io-uring", 50, &[120.0, 121.0, 122.0, 123.0]);
        rows.extend(runs("epoll", 50, &[100.0, 101.0, 102.0, 103.0]));
        rows.extend(runs("epoll", 500, &[90.0; 4]));
        rows.extend(runs("io-uring", 500, &[90.0; 4]));
        rows.extend(runs("thread-pool", 5000, &[5.0; 4]));
        let report = across_backend(&[input("a.csv", rows)], "epoll").unwrap();
        let s = &report.sections[0];
        assert_eq!(s.within.as_deref(), Some("a.csv"));
        assert_eq!(s.sides, ["epoll", "io-uring", "thread-pool"], "baseline first, then as they appear");
        let labels: Vec<&str> = s.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["http c=50", "http c=500", "http c=5000"]);
        assert_eq!(s.notes, ["no epoll runs for `http c=5000`: its backends are not compared there"]);
        let t = tabulate(s, Metric::Throughput);
        let v = t.lines[0].versus[1].unwrap();
        assert!(v.significant() && (v.delta.unwrap() - (121.5 / 101.5 - 1.0)).abs() < 1e-12);
        assert_eq!(t.lines[1].versus[1].unwrap().delta, Some(0.0));
        assert!(!t.lines[1].versus[1].unwrap().significant());
        assert_eq!(t.lines[2].versus[2], Some(Versus { delta: None, p: None, can_be_significant: true }));
    }

    #[test]
    fn across_backend_labels_option_sets_and_needs_one_named_as_baseline() {
        let mut rows = runs("epoll", 50, &[100.0; 4]);
        rows.extend(
            runs("thread-pool", 50, &[50.0; 4])
                .into_iter()
                .map(|r| Row { backend_options: "threads=8".into(), ..r }),
        );
        rows.extend(
            runs("thread-pool", 50, &[60.0; 4])
                .into_iter()
                .map(|r| Row { backend_options: "threads=64".into(), ..r }),
        );
        let report = across_backend(&[input("a.csv", rows.clone())], "epoll").unwrap();
        assert_eq!(
            report.sections[0].sides,
            ["epoll", "thread-pool (threads=8)", "thread-pool (threads=64)"]
        );

        let e = across_backend(&[input("a.csv", rows.clone())], "thread-pool").unwrap_err().to_string();
        assert!(e.contains("2 option sets") && e.contains("--baseline 'thread-pool (threads=64)'"), "{e}");
        let report = across_backend(&[input("a.csv", rows)], "thread-pool (threads=64)").unwrap();
        assert_eq!(report.sections[0].sides[0], "thread-pool (threads=64)");
    }

    #[test]
    fn paired_sees_through_drift_that_hides_a_difference_from_the_unpaired_test() {
        // The machine speeds up run after run; the other side is 2% faster
        // than the baseline in every pair.
        let base: Vec<f64> = (0..8).map(|i| 100.0 + 4.0 * f64::from(i)).collect();
        let other: Vec<f64> = base.iter().map(|v| v * 1.02).collect();
        let inputs = [input("a.csv", runs("epoll", 50, &base)), input("b.csv", runs("epoll", 50, &other))];

        let unpaired = by_file(&inputs);
        let v = only_table(&unpaired, Metric::Throughput).lines[0].versus[1].unwrap();
        assert!(!v.significant(), "{v:?}");

        let mut paired = by_file(&inputs);
        paired.sections[0].paired = true;
        let v = only_table(&paired, Metric::Throughput).lines[0].versus[1].unwrap();
        assert!((v.delta.unwrap() - 0.02).abs() < 1e-9, "{v:?}");
        assert_eq!(v.p, Some(2.0 / 256.0));
        assert!(v.significant() && v.can_be_significant);

        // 5 pairs cannot be significant; different run counts pair nothing.
        let five =
            [input("a.csv", runs("epoll", 50, &base[..5])), input("b.csv", runs("epoll", 50, &other[..5]))];
        let mut report = by_file(&five);
        report.sections[0].paired = true;
        let v = only_table(&report, Metric::Throughput).lines[0].versus[1].unwrap();
        assert!(!v.can_be_significant && !v.significant(), "{v:?}");
        let uneven =
            [input("a.csv", runs("epoll", 50, &base)), input("b.csv", runs("epoll", 50, &other[..7]))];
        let mut report = by_file(&uneven);
        report.sections[0].paired = true;
        let v = only_table(&report, Metric::Throughput).lines[0].versus[1].unwrap();
        assert_eq!((v.delta, v.p), (None, None));
        let text = render::text(&report, &[Metric::Throughput]);
        assert!(text.contains("has 7 runs on b.csv and 8 on a.csv: not paired"), "{text}");
    }

    /// A sweep's counting run (phase `count`) of a workload, whose figures
    /// are all `value` (as a slowed run's would be) and whose system calls
    /// per request are `calls`.
    pub(super) fn count(backend: &str, connections: u32, value: f64, calls: f64) -> Row {
        Row {
            phase: crate::Phase::Count,
            server_syscalls: Some(calls),
            server_syscalls_by_name: format!("read={} write={}", calls / 2.0, calls / 2.0),
            ..run(backend, connections, value)
        }
    }

    #[test]
    fn counting_runs_give_the_system_calls_and_nothing_else() {
        // As `sweep --syscalls once` writes them: the counting run first, then
        // the runs, which count nothing; the counting run's other figures
        // are slowed by counting, and must not be any table's.
        let mut a = vec![count("epoll", 50, 1.0, 2.0)];
        a.extend(runs("epoll", 50, &[100.0, 101.0, 102.0, 103.0]));
        let inputs = [input("a.csv", a)];
        let report = by_file(&inputs);
        let s = &report.sections[0];
        assert_eq!(s.lines.len(), 1, "one workload: {:?}", s.lines);
        assert_eq!(s.lines[0].label, "epoll http c=50");
        for metric in [Metric::Throughput, Metric::P50, Metric::P99, Metric::P999, Metric::ServerCpu] {
            let t = only_table(&report, metric);
            let cell = t.lines[0].cells[0].unwrap();
            assert_eq!(cell.n, 4, "{metric}: the runs only, not the counting run");
            assert!(cell.median > 50.0, "{metric}: {cell:?}");
        }
        let calls = only_table(&report, Metric::ServerSyscalls);
        assert_eq!(calls.lines[0].cells[0].map(|c| (c.median, c.n)), Some((2.0, 1)));
        assert!(default_metrics(&inputs).contains(&Metric::ServerSyscalls));
        assert!(!default_metrics(&inputs).contains(&Metric::Offered));

        // `--across backend`: the same, backend by backend.
        let mut rows = vec![count("epoll", 50, 1.0, 2.0), count("io-uring", 50, 1.0, 0.05)];
        rows.extend(runs("epoll", 50, &[100.0; 4]));
        rows.extend(runs("io-uring", 50, &[110.0; 4]));
        let report = across_backend(&[input("a.csv", rows)], "epoll").unwrap();
        let t = only_table(&report, Metric::ServerSyscalls);
        assert_eq!(t.lines[0].cells.iter().map(|c| c.unwrap().median).collect::<Vec<_>>(), [2.0, 0.05]);
        let t = only_table(&report, Metric::Throughput);
        assert_eq!(t.lines[0].cells.iter().map(|c| c.unwrap().n).collect::<Vec<_>>(), [4, 4]);
    }

    #[test]
    fn paired_leaves_counting_runs_out_of_the_pairs() {
        // One side counted once (a counting run first), the other in every
        // run: the runs still pair one to one.
        let base: Vec<f64> = (0..8).map(|i| 100.0 + 4.0 * f64::from(i)).collect();
        let other: Vec<f64> = base.iter().map(|v| v * 1.02).collect();
        let mut b = vec![count("epoll", 50, 1.0, 2.0)];
        b.extend(runs("epoll", 50, &other));
        let inputs = [input("a.csv", runs("epoll", 50, &base)), input("b.csv", b)];
        let mut report = by_file(&inputs);
        report.sections[0].paired = true;
        let v = only_table(&report, Metric::Throughput).lines[0].versus[1].unwrap();
        assert!((v.delta.unwrap() - 0.02).abs() < 1e-9, "{v:?}");
        assert_eq!(v.p, Some(2.0 / 256.0));
        let text = render::text(&report, &[Metric::Throughput]);
        assert!(!text.contains("not paired"), "{text}");
    }

    #[test]
    fn option_sets_are_labelled_by_the_options_that_differ() {
        let with = |options: &str, v: f64| {
            runs("io-uring", 50, &[v; 4])
                .into_iter()
                .map(|r| Row { backend_options: options.into(), ..r })
                .collect::<Vec<_>>()
        };
        let default = "threads=1 multishot_recv=on buf_ring=on batching=on ring_entries=1024";
        let no_ring = "threads=1 multishot_recv=off buf_ring=off batching=on ring_entries=1024";
        let mut rows = with(default, 100.0);
        rows.extend(with(no_ring, 90.0));
        let report =
            across_backend(&[input("a.csv", rows.clone())], "io-uring (multishot_recv=off buf_ring=off)")
                .unwrap();
        assert_eq!(
            report.sections[0].sides,
            ["io-uring (multishot_recv=off buf_ring=off)", "io-uring (multishot_recv=on buf_ring=on)"]
        );
        // The whole label, as the rows spell it, is accepted too.
        let report = across_backend(&[input("a.csv", rows)], &format!("io-uring ({default})")).unwrap();
        assert_eq!(report.sections[0].sides[0], "io-uring (multishot_recv=on buf_ring=on)");

        // A set whose every word the other has too keeps its whole options.
        assert_eq!(differing_options("a=1", ["a=1", "a=1 b=2"].into_iter()), None);
        assert_eq!(differing_options("a=1 b=2", ["a=1", "a=1 b=2"].into_iter()).as_deref(), Some("b=2"));
        assert_eq!(differing_options("", ["", "a=1"].into_iter()), None);
    }

    #[test]
    fn across_backend_keeps_a_backend_whole_whose_options_differ_only_between_workloads() {
        let sized =
            |c: u32, v: f64| Row { backend_options: format!("threads={c}"), ..run("thread-pool", c, v) };
        let mut rows = runs("epoll", 50, &[100.0; 4]);
        rows.extend(runs("epoll", 500, &[100.0; 4]));
        rows.extend((0..4).map(|_| sized(50, 50.0)));
        rows.extend((0..4).map(|_| sized(500, 25.0)));
        let report = across_backend(&[input("a.csv", rows)], "epoll").unwrap();
        let s = &report.sections[0];
        assert_eq!(s.sides, ["epoll", "thread-pool"]);
        assert_eq!(
            s.notes,
            ["thread-pool ran with options that differ between workloads (threads=50; threads=500): \
              each workload compares the set it ran with"]
        );
        let t = tabulate(s, Metric::Throughput);
        assert_eq!(t.lines[0].versus[1].unwrap().delta, Some(-0.5));
        assert_eq!(t.lines[1].versus[1].unwrap().delta, Some(-0.75));
        assert!(matches!(t.geomeans[0], Geomean::Of { .. }));
    }

    #[test]
    fn across_backend_with_a_missing_baseline() {
        let a = input("a.csv", runs("epoll", 50, &[1.0; 4]));
        let b = input("b.csv", runs("io-uring", 50, &[1.0; 4]));
        let e = across_backend(&[a, b], "tokio").unwrap_err().to_string();
        assert!(e.contains("--baseline tokio") && e.contains("backends found: epoll, io-uring"), "{e}");

        // Present in one file: the other says so and compares nothing.
        let a = input("a.csv", runs("epoll", 50, &[1.0; 4]));
        let b = input("b.csv", runs("io-uring", 50, &[1.0; 4]));
        let report = across_backend(&[a, b], "epoll").unwrap();
        assert_eq!(report.sections[1].lines.len(), 0);
        assert!(report.sections[1].notes[0].contains("b.csv has no complete run of epoll"));
        assert!(report.sections[1].notes[0].contains("backends in it: io-uring"));
    }

    #[test]
    fn files_with_one_name_are_labelled_by_their_paths_ends() {
        let dir = std::env::temp_dir().join(format!("ringside-compare-labels-{}", std::process::id()));
        let (x, y) = (dir.join("x"), dir.join("y"));
        std::fs::create_dir_all(&x).unwrap();
        std::fs::create_dir_all(&y).unwrap();
        for d in [&x, &y] {
            crate::append(&d.join("r.csv"), &run("epoll", 50, 1.0)).unwrap();
        }
        crate::append(&dir.join("s.csv"), &run("epoll", 50, 1.0)).unwrap();
        let (inputs, _, _) =
            load(&[x.join("r.csv"), y.join("r.csv"), dir.join("s.csv")], false, false).unwrap();
        let labels: Vec<&str> = inputs.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, ["x/r.csv", "y/r.csv", "s.csv"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A sweep with a capacity search: runs, probes and one capacity per
    /// backend and repetition. Probes are left out (and counted); the
    /// capacities meet in one workload per objective across backends, in
    /// the capacity table alone; throughput leaves them out.
    #[test]
    fn capacity_rows_compare_across_backends_and_probes_are_left_out() {
        use crate::Phase;
        let capacity = |backend: &str, rate: f64| Row {
            phase: Phase::Capacity,
            slo: "p99<=1000us".into(),
            mode: crate::Mode::Open,
            arrival: crate::Arrival::Poisson,
            target_rate: rate,
            offered_rate: rate,
            ..run(backend, 50, 700.0)
        };
        let probe = |backend: &str, rate: f64| Row {
            phase: Phase::Probe,
            ..Row { mode: crate::Mode::Open, target_rate: rate, ..run(backend, 50, rate) }
        };
        let mut rows = Vec::new();
        for (i, rate) in [1000.0, 1100.0, 1050.0, 990.0].into_iter().enumerate() {
            rows.push(run("epoll", 50, 10.0 + i as f64));
            rows.push(run("io-uring", 50, 12.0 + i as f64));
            rows.extend([probe("epoll", 500.0), probe("epoll", rate), probe("io-uring", 2.0 * rate)]);
            rows.push(capacity("epoll", rate));
            rows.push(capacity("io-uring", 2.0 * rate));
        }
        let dir = std::env::temp_dir().join(format!("ringside-compare-capacity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sweep.csv");
        let _ = std::fs::remove_file(&path);
        for row in &rows {
            crate::append(&path, row).unwrap();
        }
        let (inputs, note, _) = load(std::slice::from_ref(&path), false, false).unwrap();
        assert_eq!(
            note.as_deref(),
            Some(
                "left out 12 probe rows (phase = probe: runs a capacity search made only to find the capacity); --with-probes keeps them"
            )
        );
        assert_eq!(inputs[0].rows.len(), 16);
        assert_eq!(load(std::slice::from_ref(&path), true, false).unwrap().0[0].rows.len(), 28);
        assert_eq!(
            default_metrics(&inputs),
            [
                Metric::Throughput,
                Metric::Capacity,
                Metric::P50,
                Metric::P99,
                Metric::P999,
                Metric::ServerCpu,
                Metric::ServerSwitches
            ],
            "no open-loop run, so no offered load"
        );

        let report = across_backend(&inputs, "epoll").unwrap();
        let labels = |metric: Metric| -> Vec<String> {
            only_table(&report, metric).lines.into_iter().map(|l| l.label).collect()
        };
        assert_eq!(labels(Metric::Capacity), ["http c=50 capacity p99<=1000us"]);
        assert_eq!(labels(Metric::Throughput), ["http c=50"]);
        assert_eq!(labels(Metric::Offered), Vec::<String>::new());
        assert_eq!(labels(Metric::P99), ["http c=50 capacity p99<=1000us", "http c=50"]);
        let t = only_table(&report, Metric::Capacity);
        let line = &t.lines[0];
        assert_eq!(line.cells[0].unwrap().median, 1025.0);
        assert_eq!(line.cells[1].unwrap().median, 2050.0);
        assert!((line.versus[1].unwrap().delta.unwrap() - 1.0).abs() < 1e-9);
        let text = render::text(&report, &default_metrics(&inputs));
        assert!(text.contains("capacity under the latency objective (req/s); higher is better"), "{text}");
        assert!(!text.contains("offered load"), "{text}");
        let text = render::text(&report, &[Metric::Offered]);
        assert!(
            text.contains(
                "offered load (req/s); a setting, neither better nor worse\nno run has this figure"
            ),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn closed_loop_files_get_the_tables_they_always_had() {
        let inputs = [input("a.csv", runs("epoll", 50, &[1.0, 2.0]))];
        assert_eq!(
            default_metrics(&inputs),
            [
                Metric::Throughput,
                Metric::P50,
                Metric::P99,
                Metric::P999,
                Metric::ServerCpu,
                Metric::ServerSwitches
            ]
        );
    }
}

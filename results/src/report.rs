//! `ringside-results report`: a self-contained HTML page, and an SVG file
//! per chart, from one or more results CSVs.
//!
//! The page's parts, each only where the rows give it something to draw:
//! throughput against connections (one chart per protocol, or per protocol
//! and sizes, pipeline, load and work when those vary); for open loop, the
//! latency–throughput curve (one per base workload, the workload without
//! its rate: each run's p99 against the throughput it achieved, the
//! objective as a line) and the capacity found under a latency objective
//! (bars, one chart per base workload and objective); a latency percentile
//! spectrum and the server's cost per request for each cell (a workload at
//! one connection count); and the environment the runs came from. Charts
//! show complete rows only, as medians over their repetitions (the curves
//! also draw every run); incomplete rows are listed with their notes, and
//! rows whose server figures were not measured (0 CPU per request) are left
//! out of the cost charts, which say how many. `report/curve.rs` says which
//! rows make a curve and a capacity bar.
//!
//! Open loop at a single connection count gets no throughput chart: its
//! throughput is the offered rate while the server keeps up, and the
//! curve's x when it does not. A capacity search's runs at a share of the
//! capacity it found (`slo` set, phase `run`) are charted by that share
//! (`open poisson at 50% of capacity p99<=1000us`), all backends in one
//! cell, since each backend's rate is its own.
//!
//! Rows of phase `probe` (a capacity search's runs) are left out of the
//! throughput, latency and cost charts unless `--with-probes`, and a note
//! says how many; the curves draw them regardless, as they are the data a
//! curve is made of. Rows of phase `count` (a sweep's runs made to count
//! system calls, `--syscalls once`) are in the system call charts only,
//! which take their calls from them: counting slowed their every other
//! figure. A capacity search's results (phase `capacity`) have no
//! throughput of their own: they get capacity bars and no throughput
//! chart, and their cells' latency spectra and costs (the probe's at the
//! capacity) are drawn like any other.
//!
//! Several files go into the same charts, each series labelled
//! `backend (file)`: files given together are usually to be compared (a
//! change against its base, one machine against another), and a comparison
//! reads best on one set of axes. A backend keeps its colour in every chart
//! and every file; the file is told by the line's dash (and the bars'
//! dashed outline), so a backend's runs from two files sit side by side in
//! the same colour. Separate sections per file would put the figures to be
//! compared pages apart.
//!
//! A backend run with different options in one cell of one file (e.g.
//! io-uring with and without `--sqpoll`) gets a series per option set,
//! labelled with the options that tell its sets apart (`[sqpoll=on]`, not
//! every option the backend reports); options that only change with the
//! connection count (the sweep sizes the thread pool by it) stay one series.
//!
//! It must never write half a report or write into a directory that holds
//! something else: everything is drawn before anything is written, each
//! file goes through a temporary file renamed into place, `index.html`
//! last, and a non-empty directory without a report of ours is refused
//! unless `--force`. The page holds no script and refers to nothing outside
//! itself but the SVG files it also inlines.

mod axis;
mod calls;
mod chart;
mod curve;
mod page;
mod svg;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::stats::Summary;
use crate::workload::{Metric, Workload};
use crate::{Mode, Phase, Row, read};
use chart::{Costs, Stack, Style, Whisker};

/// The flags of `ringside-results report`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Draw an HTML page with SVG charts (throughput, latency-throughput curves, capacity, latency spectra, \
             server cost) from results CSVs"
)]
pub struct Args {
    /// Results CSV files (as `ringside-loadgen` writes them). Several go into
    /// the same charts, each series labelled `backend (file)`.
    #[arg(required = true, value_name = "CSV")]
    pub files: Vec<PathBuf>,
    /// Directory to write `index.html` and the `.svg` charts into; created if
    /// missing. A report written there before is replaced.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write into DIR even if it is not empty and holds no report of ours
    /// (files of the same names are replaced; others are left alone).
    #[arg(long)]
    pub force: bool,
    /// Chart rows of phase = probe (runs a capacity search made only to find
    /// the capacity) in every chart. Without it they are left out, with a
    /// note saying how many, of all but the latency–throughput curves,
    /// which always draw them.
    #[arg(long)]
    pub with_probes: bool,

    /// Pool rows of different builds (`git_rev`) in one workload as if they
    /// were repetitions of one measurement (refused otherwise: two sweeps of
    /// different builds in one file must not silently pool).
    #[arg(long)]
    pub allow_mixed: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let inputs = args
        .files
        .iter()
        .map(|path| Ok(Input { path: path.clone(), rows: read(path)? }))
        .collect::<Result<Vec<_>, crate::Error>>()?;
    let mut mixed = Vec::new();
    for input in &inputs {
        mixed.extend(crate::workload::check_mixed(
            &input.path.display().to_string(),
            &input.rows,
            args.allow_mixed,
        )?);
    }
    let mut report = Report::of(&inputs, args.with_probes)?;
    report.notes.extend(mixed);
    let files = report.files();
    write_dir(&args.out, &files, args.force)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "wrote {} and {} charts ({} complete rows of {})",
        args.out.join(INDEX).display(),
        files.len() - 1,
        report.complete_rows,
        report.rows
    )?;
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One results file and its rows.
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) rows: Vec<Row>,
}

/// A chart, drawn.
pub(crate) struct Chart {
    /// Its file name in the output directory, which is also its element id
    /// in the page without `.svg`.
    file: String,
    title: String,
    svg: String,
    /// What the reader should know about what it leaves out.
    caption: String,
}

impl Chart {
    fn id(&self) -> &str {
        self.file.trim_end_matches(".svg")
    }
}

/// Everything the page shows.
pub(crate) struct Report {
    inputs: Vec<InputSummary>,
    throughput: Vec<Chart>,
    /// Latency against achieved throughput, per base workload.
    curves: Vec<Chart>,
    /// Capacity under an objective, per base workload and objective.
    capacity: Vec<Chart>,
    latency: Vec<Chart>,
    costs: Vec<Chart>,
    /// The server's system calls per request by name, per cell that counted them.
    syscalls: Vec<Chart>,
    /// One per series: its label and colour, for the key at the top.
    key: Vec<Style>,
    /// Page-wide remarks (rows left out and why), also printed by `run`.
    notes: Vec<String>,
    rows: usize,
    complete_rows: usize,
    environment: String,
}

/// The name and rows of an input, for the page's heading.
struct InputSummary {
    label: String,
    rows: usize,
    complete: usize,
}

/// The colours of the backends, in the order they first appear (a
/// colour-blind-safe palette, Tableau 10).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1", "#edc948", "#9c755f", "#ff9da7",
    "#bab0ac",
];
/// The dash of each input file's lines, in the order given.
const DASHES: [&str; 4] = ["", "7 4", "2 3", "10 3 2 3"];

/// A series: one backend (with one set of options, if it ran with several
/// in a cell) from one file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    /// Order of the backend's first appearance, then the file, then options.
    backend_rank: usize,
    file: usize,
    options: Option<String>,
}

impl Report {
    /// Summarises and draws everything; an error if there is nothing to
    /// draw (no rows, none complete, or only probes while `with_probes` is
    /// off and no curve draws them). Probe rows are charted everywhere
    /// only `with_probes`, on the curves always.
    ///
    /// In steps: the rows checked for something to chart
    /// ([`check_rows`]), sorted into series ([`Grouping`]) and cells
    /// ([`Grouping::cells`]); the charts, in the order their file names
    /// are given out: throughput ([`throughput_charts`]), the curves and
    /// capacities (`curve.rs`), each cell's latency and cost
    /// ([`cell_charts`]); then the notes ([`page_notes`]) and the
    /// environment (`page.rs`).
    pub(crate) fn of(inputs: &[Input], with_probes: bool) -> anyhow::Result<Report> {
        let names: Vec<String> = inputs.iter().map(|i| i.path.display().to_string()).collect();
        let (rows, complete_rows) = check_rows(inputs, &names)?;
        let file_labels = file_labels(inputs);
        let charted = |r: &Row| with_probes || r.phase != Phase::Probe;
        let grouping = Grouping::new(inputs, &file_labels);
        let styles = grouping.styles(inputs);
        let left_out: Vec<usize> =
            inputs.iter().map(|i| i.rows.iter().filter(|r| !charted(r)).count()).collect();
        // Counting runs give the system calls alone: the figures' charts
        // leave them out, the system call charts take them.
        let measured = |r: &Row| charted(r) && r.phase != Phase::Count;
        let (groups, by_cell) = grouping.cells(inputs, &measured);
        let (_, calls_by_cell) = grouping.cells(inputs, &charted);

        let mut slugs = Slugs::default();
        let throughput = throughput_charts(&groups, &by_cell, &styles, &mut slugs);
        let key_of = |f: usize, r: &Row| grouping.key_of(f, r);
        let share_of = |f: usize, r: &Row| grouping.share_of(f, r);
        let data = curve::Data { inputs, key_of: &key_of, styles: &styles, share_of: &share_of };
        let curves = data.curves(&mut slugs);
        let capacity = data.capacities(&mut slugs);
        let (latency, costs, unmeasured) = cell_charts(&by_cell, &styles, &mut slugs);
        let notes = page_notes(unmeasured, &left_out, &curves, rows - complete_rows);
        let mut syscalls = Vec::new();
        for ((_, _, cell), series_rows) in &calls_by_cell {
            syscalls.extend(calls::chart(&cell.short(), series_rows, &styles, &mut slugs));
        }

        if throughput.len() + curves.len() + capacity.len() + latency.len() + syscalls.len() == 0 {
            bail!(
                "{} {} no complete rows but probes (a capacity search's runs) and nothing open-loop at two rates \
                 or more to draw a curve from: add --with-probes to chart the probes",
                names.join(", "),
                if names.len() == 1 { "has" } else { "have" }
            );
        }
        let environment = page::environment(inputs, &file_labels);
        let inputs = inputs
            .iter()
            .zip(&names)
            .map(|(i, label)| InputSummary {
                label: label.clone(),
                rows: i.rows.len(),
                complete: i.rows.iter().filter(|r| r.complete).count(),
            })
            .collect();
        Ok(Report {
            inputs,
            throughput,
            curves,
            capacity,
            latency,
            costs,
            syscalls,
            key: styles.into_values().collect(),
            notes,
            rows,
            complete_rows,
            environment,
        })
    }

    /// The files of the report, `index.html` last: (name, contents).
    pub(crate) fn files(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> =
            self.charts().map(|c| (c.file.clone(), c.svg.clone())).collect();
        files.push((INDEX.to_string(), page::html(self)));
        files
    }

    fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.throughput
            .iter()
            .chain(&self.curves)
            .chain(&self.capacity)
            .chain(&self.latency)
            .chain(&self.costs)
            .chain(&self.syscalls)
    }
}

/// The rows and the complete rows of the inputs; an error if there are no
/// rows or none is complete.
fn check_rows(inputs: &[Input], names: &[String]) -> anyhow::Result<(usize, usize)> {
    let rows: usize = inputs.iter().map(|i| i.rows.len()).sum();
    let complete_rows = inputs.iter().flat_map(|i| &i.rows).filter(|r| r.complete).count();
    if rows == 0 {
        bail!(
            "{} {} no rows, only a header: nothing to report; give a file the load generator has written runs to",
            names.join(", "),
            if names.len() == 1 { "has" } else { "have" }
        );
    }
    if complete_rows == 0 {
        bail!(
            "none of the {rows} rows of {} is complete (every run was cut short; their notes say why): nothing to \
             chart; run the sweep again",
            names.join(", ")
        );
    }
    Ok((rows, complete_rows))
}

/// Rows by cell (group index, connections, workload) and series.
type Cells<'a> = BTreeMap<(usize, u32, Workload), BTreeMap<SeriesKey, Vec<&'a Row>>>;

/// How rows are sorted into cells and series, and how each series looks;
/// made once from every input.
struct Grouping<'a> {
    /// The capacity each search found, to chart the search's runs at
    /// shares of it together ([`Grouping::cell_of`]).
    found: HashMap<Search<'a>, f64>,
    /// Backends in order of first appearance, which gives the colours.
    backends: Vec<&'a str>,
    /// (file, backend) pairs that ran with several option sets in one
    /// cell: they get a series per option set.
    split: Vec<(usize, &'a str)>,
    /// Every option set of a split (file, backend), to label each set by
    /// the options that tell it from the others.
    sets_of: HashMap<(usize, &'a str), Vec<&'a str>>,
    file_labels: &'a [String],
    many: bool,
}

impl<'a> Grouping<'a> {
    fn new(inputs: &'a [Input], file_labels: &'a [String]) -> Grouping<'a> {
        let mut found: HashMap<Search<'_>, f64> = HashMap::new();
        for (f, input) in inputs.iter().enumerate() {
            for row in input.rows.iter().filter(|r| r.phase == Phase::Capacity && r.target_rate > 0.0) {
                found.insert(search_of(f, row), row.target_rate);
            }
        }
        let mut backends: Vec<&str> = Vec::new();
        for row in inputs.iter().flat_map(|i| &i.rows) {
            if !backends.contains(&row.backend.as_str()) {
                backends.push(&row.backend);
            }
        }
        let mut grouping = Grouping {
            found,
            backends,
            split: Vec::new(),
            sets_of: HashMap::new(),
            file_labels,
            many: inputs.len() > 1,
        };
        let mut options_in_cell: HashMap<(usize, &str, Workload), Vec<&str>> = HashMap::new();
        for (f, input) in inputs.iter().enumerate() {
            for row in input.rows.iter().filter(|r| r.complete) {
                let set =
                    options_in_cell.entry((f, row.backend.as_str(), grouping.cell_of(f, row))).or_default();
                if !set.contains(&row.backend_options.as_str()) {
                    set.push(&row.backend_options);
                }
            }
        }
        let split: Vec<(usize, &str)> =
            options_in_cell.iter().filter(|(_, o)| o.len() > 1).map(|((f, b, _), _)| (*f, *b)).collect();
        let mut sets_of: HashMap<(usize, &str), Vec<&str>> = HashMap::new();
        for ((f, b, _), sets) in &options_in_cell {
            if split.contains(&(*f, *b)) {
                let all = sets_of.entry((*f, *b)).or_default();
                all.extend(sets.iter().filter(|s| !all.contains(s)).collect::<Vec<_>>());
            }
        }
        grouping.split = split;
        grouping.sets_of = sets_of;
        grouping
    }

    /// The share (0.5) of the capacity its search found that a capacity
    /// search's run was offered, if it is one.
    fn share_of(&self, f: usize, r: &Row) -> Option<f64> {
        let capacity_run = r.phase == Phase::Run && r.mode == Mode::Open && !r.slo.is_empty();
        capacity_run.then(|| self.found.get(&search_of(f, r)).map(|c| r.target_rate / c)).flatten()
    }

    /// A row's cell: its workload without the backend, except that a
    /// capacity search's runs at a share of the capacity found are charted
    /// by that share (each backend's rate differs, so by rate each would be
    /// a cell of its own).
    fn cell_of(&self, f: usize, r: &Row) -> Workload {
        let cell = Workload::of(r).without_backend();
        match self.share_of(f, r) {
            Some(share) => Workload {
                load: format!(
                    "{} at {:.0}% of capacity {}",
                    curve::open_load(r.arrival),
                    share * 100.0,
                    r.slo
                ),
                ..cell
            },
            None => cell,
        }
    }

    /// A row's series.
    fn key_of(&self, f: usize, row: &Row) -> SeriesKey {
        SeriesKey {
            backend_rank: self.backends.iter().position(|b| *b == row.backend).unwrap_or(self.backends.len()),
            file: f,
            options: self.split.contains(&(f, row.backend.as_str())).then(|| row.backend_options.clone()),
        }
    }

    /// A series' label, colour and dash.
    fn style_of(&self, key: &SeriesKey, backend: &str) -> Style {
        let mut label =
            if backend.is_empty() { "(unknown backend)".to_string() } else { backend.to_string() };
        if let Some(options) = &key.options {
            let all = self.sets_of.get(&(key.file, backend)).map(Vec::as_slice).unwrap_or_default();
            let shown = crate::compare::differing_options(options, all.iter().copied());
            let shown = shown.as_deref().unwrap_or(if options.is_empty() { "no options" } else { options });
            label.push_str(&format!(" [{shown}]"));
        }
        if self.many {
            label.push_str(&format!(" ({})", self.file_labels[key.file]));
        }
        Style {
            label,
            colour: PALETTE[key.backend_rank % PALETTE.len()],
            dash: DASHES[key.file % DASHES.len()],
        }
    }

    /// Every complete row's series and its style (the curves draw probes
    /// even when the other charts leave them out).
    fn styles(&self, inputs: &[Input]) -> BTreeMap<SeriesKey, Style> {
        let mut styles: BTreeMap<SeriesKey, Style> = BTreeMap::new();
        for (f, input) in inputs.iter().enumerate() {
            for row in input.rows.iter().filter(|r| r.complete) {
                let key = self.key_of(f, row);
                styles.entry(key.clone()).or_insert_with(|| self.style_of(&key, &row.backend));
            }
        }
        styles
    }

    /// The complete `charted` rows by group (a throughput chart: the cell
    /// without its connections, in order of first appearance), cell and
    /// series.
    fn cells<'r>(&self, inputs: &'r [Input], charted: &dyn Fn(&Row) -> bool) -> (Vec<Workload>, Cells<'r>) {
        let mut groups: Vec<Workload> = Vec::new();
        let mut by_cell: Cells<'r> = BTreeMap::new();
        for (f, input) in inputs.iter().enumerate() {
            for row in input.rows.iter().filter(|r| r.complete && charted(r)) {
                let cell = self.cell_of(f, row);
                let group = Workload { connections: 0, ..cell.clone() };
                let g = match groups.iter().position(|x| *x == group) {
                    Some(g) => g,
                    None => {
                        groups.push(group);
                        groups.len() - 1
                    }
                };
                let key = self.key_of(f, row);
                by_cell.entry((g, row.connections, cell)).or_default().entry(key).or_default().push(row);
            }
        }
        (groups, by_cell)
    }
}

/// A throughput-against-connections chart per group, except for a capacity
/// search's results (no throughput of their own) and open loop at one
/// connection count (its throughput is the offered rate or the curve's x).
fn throughput_charts(
    groups: &[Workload],
    by_cell: &Cells<'_>,
    styles: &BTreeMap<SeriesKey, Style>,
    slugs: &mut Slugs,
) -> Vec<Chart> {
    let mut throughput = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let counts = by_cell.keys().filter(|(cg, _, _)| *cg == g).count();
        if group.is_capacity() || (group.load.starts_with("open") && counts < 2) {
            continue;
        }
        let mut series: BTreeMap<&SeriesKey, Vec<Whisker>> = BTreeMap::new();
        for ((_, connections, _), cell) in by_cell.iter().filter(|((cg, _, _), _)| *cg == g) {
            for (key, rows) in cell {
                let values: Vec<f64> = rows.iter().filter_map(|r| Metric::Throughput.value(r)).collect();
                if let Some(w) = whisker(f64::from(*connections), &values) {
                    series.entry(key).or_default().push(w);
                }
            }
        }
        let name = group_title(group);
        let title = format!("{name}: throughput against connections");
        let file = slugs.file("throughput", &name);
        let series: Vec<(Style, Vec<Whisker>)> =
            series.into_iter().map(|(k, w)| (styles[k].clone(), w)).collect();
        let svg = chart::throughput(file.trim_end_matches(".svg"), &title, &series);
        let caption =
            "Median requests per second over the repetitions; whiskers from the slowest to the fastest."
                .to_string();
        throughput.push(Chart { file, title, svg, caption });
    }
    throughput
}

/// Each cell's latency spectrum and server cost chart, and how many
/// complete rows the cost charts leave out (their server figures were not
/// measured).
fn cell_charts(
    by_cell: &Cells<'_>,
    styles: &BTreeMap<SeriesKey, Style>,
    slugs: &mut Slugs,
) -> (Vec<Chart>, Vec<Chart>, usize) {
    let mut latency = Vec::new();
    let mut costs = Vec::new();
    let mut unmeasured_total = 0;
    for ((_, _, cell), series_rows) in by_cell {
        let name = cell.short();
        latency.push(latency_chart(&name, series_rows, styles, slugs));
        let (chart, unmeasured) = cost_chart(&name, series_rows, styles, slugs);
        costs.push(chart);
        unmeasured_total += unmeasured;
    }
    (latency, costs, unmeasured_total)
}

/// A cell's latency by percentile: per series, the medians of the rows that
/// completed requests.
fn latency_chart(
    name: &str,
    series_rows: &BTreeMap<SeriesKey, Vec<&Row>>,
    styles: &BTreeMap<SeriesKey, Style>,
    slugs: &mut Slugs,
) -> Chart {
    let mut spectra = Vec::new();
    for (key, rows) in series_rows {
        let with_requests: Vec<&Row> = rows.iter().copied().filter(|r| r.requests > 0).collect();
        let percentiles: [fn(&Row) -> f64; 6] = [
            |r| r.lat_p50_us,
            |r| r.lat_p90_us,
            |r| r.lat_p99_us,
            |r| r.lat_p999_us,
            |r| r.lat_p9999_us,
            |r| r.lat_max_us,
        ];
        let medians = percentiles.map(|p| median(&with_requests.iter().map(|r| p(r)).collect::<Vec<_>>()));
        if let [Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)] = medians {
            spectra.push((styles[key].clone(), [a, b, c, d, e, f]));
        }
    }
    let title = format!("{name}: latency by percentile");
    let file = slugs.file("latency", name);
    let svg = chart::spectrum(file.trim_end_matches(".svg"), &title, &spectra);
    let caption = "Latency from the intended send time at each percentile, the median over the repetitions \
                           of each run's figure."
        .to_string();
    Chart { file, title, svg, caption }
}

/// A cell's server cost per request: per series, the medians of the rows
/// whose server figures were measured; and how many rows had none.
fn cost_chart(
    name: &str,
    series_rows: &BTreeMap<SeriesKey, Vec<&Row>>,
    styles: &BTreeMap<SeriesKey, Style>,
    slugs: &mut Slugs,
) -> (Chart, usize) {
    let mut bars = Vec::new();
    let mut unmeasured = 0;
    let mut runs = 0;
    for (key, rows) in series_rows {
        let measured: Vec<&Row> =
            rows.iter().copied().filter(|r| Metric::ServerCpu.value(r).is_some()).collect();
        runs += rows.len();
        unmeasured += rows.len() - measured.len();
        let m = |f: fn(&Row) -> f64| median(&measured.iter().map(|r| f(r)).collect::<Vec<_>>());
        let c = match (
            m(|r| r.server_cpu_user_us),
            m(|r| r.server_cpu_sys_us),
            m(|r| r.server_vcs),
            m(|r| r.server_ics),
        ) {
            (Some(user), Some(sys), Some(vcs), Some(ics)) => Some(Costs {
                cpu: Stack { lower: user, upper: sys },
                switches: Stack { lower: vcs, upper: ics },
                n: measured.len(),
            }),
            _ => None,
        };
        bars.push((styles[key].clone(), c));
    }
    let title = format!("{name}: server cost per request");
    let file = slugs.file("cost", name);
    let svg = chart::costs(file.trim_end_matches(".svg"), &title, &bars);
    let mut caption = "Medians over the repetitions of the server's CPU time and context switches per \
                               request, the whole process."
        .to_string();
    if unmeasured > 0 {
        caption.push_str(&format!(
            " {unmeasured} of {runs} complete runs are left out: the server's figures were not measured \
             (0 CPU per request; their notes, under Environment, say why)."
        ));
    }
    (Chart { file, title, svg, caption }, unmeasured)
}

/// The page-wide notes, in order: probe rows left out (per input), rows
/// without server figures, incomplete rows.
fn page_notes(unmeasured: usize, left_out: &[usize], curves: &[Chart], incomplete: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(note) = crate::workload::probes_note(left_out) {
        // The curves draw them all the same.
        let drawn = curves.iter().any(|c| c.caption.contains("probe"));
        notes.push(if drawn {
            format!("{note}; the latency–throughput curves draw them all the same")
        } else {
            note
        });
    }
    if unmeasured > 0 {
        notes.push(format!(
            "{} no server figures (0 CPU per request) and {} left out of the server cost charts",
            count(unmeasured, "complete row has", "complete rows have"),
            if unmeasured == 1 { "is" } else { "are" }
        ));
    }
    if incomplete > 0 {
        notes.push(format!(
            "{} left out of every chart; the page lists {}",
            count(incomplete, "incomplete row is", "incomplete rows are"),
            if incomplete == 1 { "it" } else { "them" }
        ));
    }
    notes
}

/// One capacity search: file, run id, repetition, backend, its options,
/// objective, and the workload without its load.
type Search<'a> = (usize, &'a str, u32, &'a str, &'a str, &'a str, Workload);

fn search_of(f: usize, r: &Row) -> Search<'_> {
    (f, &r.run_id, r.repetition, &r.backend, &r.backend_options, &r.slo, curve::base(r))
}

/// How each input is named in series labels ([`crate::file_labels`]).
fn file_labels(inputs: &[Input]) -> Vec<String> {
    crate::file_labels(&inputs.iter().map(|i| i.path.as_path()).collect::<Vec<_>>())
}

/// A group of cells, the workload without backend and connections, in few
/// words: `http`, `echo req=1024B`, `rr pipeline=8 req=128B resp=128B`.
fn group_title(group: &Workload) -> String {
    let short = group.short();
    short.replacen(&format!(" c={}", group.connections), "", 1)
}

/// `n` and the noun (with its verb) in the singular or the plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn median(values: &[f64]) -> Option<f64> {
    Summary::of(values).map(|s| s.median)
}

fn whisker(x: f64, values: &[f64]) -> Option<Whisker> {
    let s = Summary::of(values)?;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(Whisker { x, median: s.median, min, max, n: s.n })
}

/// File names for charts, unique within a report: `latency-http-c50.svg`.
#[derive(Default)]
struct Slugs {
    used: Vec<String>,
}

impl Slugs {
    fn file(&mut self, kind: &str, name: &str) -> String {
        let base = slug(&format!("{kind} {name}"));
        let mut candidate = base.clone();
        let mut n = 1;
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        self.used.push(candidate.clone());
        format!("{candidate}.svg")
    }
}

/// Lower-case letters, digits and single dashes: `http c=50` → `http-c50`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == '.' && out.chars().last().is_some_and(|l| l.is_ascii_digit()) {
            out.push('.');
        } else if c != '=' && !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches(['-', '.']).to_string()
}

/// The page's file name.
const INDEX: &str = "index.html";
/// The `<meta name>` marking a page as a report of ours, and the one
/// listing its charts (so that writing a report again removes those the
/// new one does not have).
pub(crate) const MARK: &str = "ringside-results-report";
pub(crate) const MARK_FILES: &str = "ringside-results-report-files";

/// Writes `files` into `dir` as the module doc says: each through a
/// temporary file renamed into place, in order (`index.html` comes last);
/// then removes the charts of the report written there before that this
/// one does not have.
fn write_dir(dir: &Path, files: &[(String, String)], force: bool) -> anyhow::Result<()> {
    let index = dir.join(INDEX);
    let mut previous = Vec::new();
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} is not a directory: give --out a directory (it is created if missing)", dir.display());
        }
        let old = fs::read_to_string(&index).ok();
        let ours = old.as_deref().is_some_and(|h| h.contains(&format!("<meta name=\"{MARK}\"")));
        if let Some(old) = old.as_deref().filter(|_| ours) {
            previous = page::listed_files(old);
        }
        let empty =
            fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?.next().is_none();
        if !empty && !ours && !force {
            bail!(
                "{} is not empty and holds no report of ours (no index.html written by `ringside-results report`): \
                 give --out a new or empty directory, or add --force to write into it anyway",
                dir.display()
            );
        }
    } else {
        fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    for (name, contents) in files {
        write_file(&dir.join(name), contents.as_bytes())?;
    }
    for stale in previous.iter().filter(|p| !files.iter().any(|(n, _)| n == *p)) {
        // Only names this module could have made: no path can be smuggled in
        // through an edited page.
        if stale.ends_with(".svg") && stale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            match fs::remove_file(dir.join(stale)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| {
                        format!("cannot remove the old chart {}", dir.join(stale).display())
                    });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Writes `path` whole or not at all: into a temporary file beside it, then
/// renamed over it.
fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(contents)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::clean;
    use protocol::Protocol;

    /// A complete closed-loop row of `backend` at `connections` with
    /// throughput `rate` and latencies growing from `p50`.
    pub(crate) fn row(backend: &str, protocol: Protocol, connections: u32, rate: f64, p50: f64) -> Row {
        Row {
            protocol,
            request_bytes: 128,
            response_bytes: 128,
            achieved_rate: rate,
            lat_p50_us: p50,
            lat_p90_us: p50 * 1.5,
            lat_p99_us: p50 * 3.0,
            lat_p999_us: p50 * 5.0,
            lat_p9999_us: p50 * 8.0,
            lat_max_us: p50 * 10.0,
            server_cpu_user_us: 2.0,
            server_cpu_sys_us: 3.0,
            server_vcs: 0.5,
            server_ics: 0.1,
            ..clean(backend, connections)
        }
    }

    fn input(name: &str, rows: Vec<Row>) -> Input {
        Input { path: PathBuf::from(name), rows }
    }

    fn sweep() -> Vec<Row> {
        let mut rows = Vec::new();
        for rep in 1..=3 {
            for (protocol, base) in [(Protocol::Http, 100e3), (Protocol::Echo, 90e3)] {
                for c in [50, 500] {
                    for (i, b) in ["thread-pool", "epoll", "io-uring"].iter().enumerate() {
                        let mut r =
                            row(b, protocol, c, base * (i + 1) as f64 + rep as f64, 100.0 * (3 - i) as f64);
                        r.repetition = rep;
                        rows.push(r);
                    }
                }
            }
        }
        rows
    }

    #[test]
    fn a_chart_per_group_and_per_cell() {
        let report = Report::of(&[input("a.csv", sweep())], false).unwrap();
        let files: Vec<String> = report.files().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            files,
            [
                "throughput-http.svg",
                "throughput-echo-req128b.svg",
                "latency-http-c50.svg",
                "latency-http-c500.svg",
                "latency-echo-c50-req128b.svg",
                "latency-echo-c500-req128b.svg",
                "cost-http-c50.svg",
                "cost-http-c500.svg",
                "cost-echo-c50-req128b.svg",
                "cost-echo-c500-req128b.svg",
                "index.html"
            ]
        );
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert_eq!(
            report.key.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["thread-pool", "epoll", "io-uring"]
        );
        // Every chart is well-formed and has a group per series.
        for c in report.charts() {
            chart::tests::elements(&c.svg);
            let groups = c.svg.matches(r#"class="series""#).count();
            assert_eq!(groups, if c.file.starts_with("cost") { 6 } else { 3 }, "{}", c.file);
        }
        // The throughput medians: the second of 3 repetitions.
        let t = &report.throughput[0].svg;
        assert!(t.contains("epoll, 50 connections: 200,002 req/s (min 200,001, max 200,003, 3 runs)"), "{t}");
    }

    #[test]
    fn several_files_share_colours_by_backend_and_dash_by_file() {
        let a = input("base/a.csv", sweep());
        let b = input("new/a.csv", sweep().into_iter().filter(|r| r.backend != "thread-pool").collect());
        let report = Report::of(&[a, b], false).unwrap();
        let key: Vec<(&str, &str, &str)> =
            report.key.iter().map(|s| (s.label.as_str(), s.colour, s.dash)).collect();
        assert_eq!(
            key,
            [
                ("thread-pool (base/a.csv)", PALETTE[0], ""),
                ("epoll (base/a.csv)", PALETTE[1], ""),
                ("epoll (new/a.csv)", PALETTE[1], DASHES[1]),
                ("io-uring (base/a.csv)", PALETTE[2], ""),
                ("io-uring (new/a.csv)", PALETTE[2], DASHES[1]),
            ]
        );
        let labels =
            |paths: &[&str]| file_labels(&paths.iter().map(|p| input(p, vec![])).collect::<Vec<_>>());
        assert_eq!(labels(&["x/a.csv", "b.csv"]), ["a.csv", "b.csv"]);
        assert_eq!(
            labels(&["/tmp/base/a.csv", "/tmp/new/a.csv", "c.csv"]),
            ["base/a.csv", "new/a.csv", "c.csv"]
        );
        assert_eq!(labels(&["a/x/r.csv", "b/x/r.csv"]), ["a/x/r.csv", "b/x/r.csv"]);
    }

    #[test]
    fn options_split_a_series_only_within_a_cell() {
        let mut rows = sweep();
        // The thread pool sized by connections: still one series.
        for r in rows.iter_mut().filter(|r| r.backend == "thread-pool") {
            r.backend_options = format!("threads={}", r.connections.max(64));
        }
        // io-uring with and without sqpoll in the same cells: two.
        let mut sqpoll: Vec<Row> = rows.iter().filter(|r| r.backend == "io-uring").cloned().collect();
        for r in &mut sqpoll {
            r.backend_options = "sqpoll=on".into();
        }
        rows.extend(sqpoll);
        let report = Report::of(&[input("a.csv", rows)], false).unwrap();
        let labels: Vec<&str> = report.key.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["thread-pool", "epoll", "io-uring [no options]", "io-uring [sqpoll=on]"]);

        // Sets that share most of their options are labelled by the rest.
        let mut rows = sweep();
        rows.retain(|r| r.backend == "io-uring");
        let mut other = rows.clone();
        for r in &mut rows {
            r.backend_options = "threads=1 buf_ring=on batching=on".into();
        }
        for r in &mut other {
            r.backend_options = "threads=1 buf_ring=off batching=on".into();
        }
        rows.extend(other);
        let report = Report::of(&[input("a.csv", rows)], false).unwrap();
        let labels: Vec<&str> = report.key.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["io-uring [buf_ring=off]", "io-uring [buf_ring=on]"]);
    }

    #[test]
    fn unmeasured_and_incomplete_rows_are_left_out_and_said_so() {
        let mut rows = sweep();
        rows[0].server_cpu_user_us = 0.0;
        rows[0].server_cpu_sys_us = 0.0;
        rows[0].note = "server counters unreadable".into();
        rows[1].complete = false;
        rows[1].note = "the server died".into();
        let report = Report::of(&[input("a.csv", rows)], false).unwrap();
        assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
        assert!(report.notes[0].starts_with("1 complete row has no server figures"), "{:?}", report.notes);
        let cost = report.costs.iter().find(|c| c.file == "cost-http-c50.svg").unwrap();
        assert!(cost.caption.contains("1 of 8 complete runs are left out"), "{}", cost.caption);
        let html = page::html(&report);
        assert!(html.contains("the server died") && html.contains("server counters unreadable"));
        assert!(html.contains("None: every complete run answered every connection"));
    }

    #[test]
    fn complete_runs_with_errors_or_unanswered_connections_are_listed() {
        let mut rows = sweep();
        (rows[2].errors_timeout, rows[2].conns_unanswered) = (83, 83);
        let html = page::html(&Report::of(&[input("a.csv", rows.clone())], false).unwrap());
        let section = &html[html.find("Complete runs with errors").unwrap()..];
        let table = &section[..section.find("</table>").unwrap()];
        assert!(table.contains(&rows[2].backend), "{table}");
        assert!(table.contains(&format!("83 of {}", rows[2].connections)), "{table}");
        assert_eq!(table.matches("<tr>").count(), 2, "a header and the one run: {table}");
    }

    #[test]
    fn nothing_to_report_is_an_error() {
        let err = Report::of(&[input("empty.csv", vec![])], false).err().unwrap().to_string();
        assert!(err.contains("empty.csv has no rows"), "{err}");
        let mut r = sweep().remove(0);
        r.complete = false;
        let err = Report::of(&[input("cut.csv", vec![r])], false).err().unwrap().to_string();
        assert!(err.contains("none of the 1 rows of cut.csv is complete"), "{err}");
    }

    #[test]
    fn slugs_are_file_names() {
        let table = [
            ("latency http c=50", "latency-http-c50"),
            ("cost rr c=500 open poisson 1000.5/s req=128B", "cost-rr-c500-open-poisson-1000.5-s-req128b"),
            ("throughput <échec> ../x", "throughput-chec-x"),
        ];
        for (name, expected) in table {
            assert_eq!(slug(name), expected);
        }
        let mut slugs = Slugs::default();
        assert_eq!(slugs.file("cost", "http c=50"), "cost-http-c50.svg");
        assert_eq!(slugs.file("cost", "http c=50"), "cost-http-c50-2.svg");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ringside-report-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writing_refuses_foreign_directories_and_replaces_its_own_reports() {
        let dir = temp_dir("write");
        let files = |names: &[&str]| -> Vec<(String, String)> {
            let mut f: Vec<(String, String)> =
                names.iter().map(|n| (n.to_string(), "<svg/>".to_string())).collect();
            let listed = names.join(" ");
            f.push((
                INDEX.into(),
                format!("<meta name=\"{MARK}\"><meta name=\"{MARK_FILES}\" content=\"{listed}\">"),
            ));
            f
        };
        write_dir(&dir, &files(&["a.svg", "b.svg"]), false).unwrap();
        assert!(dir.join("a.svg").exists() && dir.join("b.svg").exists() && dir.join(INDEX).exists());
        // Again, with one chart fewer: the old one goes, a foreign file stays.
        fs::write(dir.join("mine.txt"), "x").unwrap();
        write_dir(&dir, &files(&["a.svg"]), false).unwrap();
        assert!(dir.join("a.svg").exists() && !dir.join("b.svg").exists() && dir.join("mine.txt").exists());
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!left.iter().any(|n| n.ends_with(".tmp")), "{left:?}");

        let foreign = temp_dir("foreign");
        fs::create_dir_all(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let err = write_dir(&foreign, &files(&["a.svg"]), false).unwrap_err().to_string();
        assert!(err.contains("is not empty and holds no report of ours") && err.contains("--force"), "{err}");
        assert!(!foreign.join("a.svg").exists() && !foreign.join(INDEX).exists());
        write_dir(&foreign, &files(&["a.svg"]), true).unwrap();
        assert!(foreign.join("a.svg").exists() && foreign.join("notes.txt").exists());

        let file = foreign.join("notes.txt");
        let err = write_dir(&file, &files(&[]), true).unwrap_err().to_string();
        assert!(err.contains("is not a directory"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&foreign).unwrap();
    }

    /// A capacity search's results (one per backend) beside the runs: no
    /// throughput chart of their own; capacity bars, and a latency and
    /// cost chart for their cell like any other.
    #[test]
    fn capacity_rows_get_capacity_bars_latency_and_cost_charts() {
        let mut rows = sweep();
        for b in ["epoll", "io-uring"] {
            rows.push(Row {
                phase: crate::Phase::Capacity,
                slo: "p99<=1000us".into(),
                mode: crate::Mode::Open,
                arrival: crate::Arrival::Poisson,
                target_rate: 1e5,
                ..row(b, Protocol::Http, 50, 99e3, 100.0)
            });
        }
        let report = Report::of(&[input("a.csv", rows)], false).unwrap();
        let files: Vec<String> = report.files().into_iter().map(|(n, _)| n).collect();
        let capacity: Vec<&String> = files.iter().filter(|f| f.contains("capacity")).collect();
        assert_eq!(
            capacity,
            [
                "capacity-http-c50-p99-1000us.svg",
                "latency-http-c50-capacity-p99-1000us.svg",
                "cost-http-c50-capacity-p99-1000us.svg"
            ],
            "{files:?}"
        );
        assert!(files.iter().filter(|f| f.starts_with("throughput-")).count() == 2, "{files:?}");
        assert!(report.curves.is_empty());
        let bars = &report.capacity[0];
        assert_eq!(bars.title, "http c=50: capacity under p99 ≤ 1ms");
        assert_eq!(bars.svg.matches(r#"class="series""#).count(), 2);
    }

    /// An open-loop row of `backend`, offered `rate`, achieving `achieved`
    /// with p99 `p99` µs.
    fn open(backend: &str, rate: f64, achieved: f64, p99: f64, repetition: u32) -> Row {
        Row {
            mode: crate::Mode::Open,
            arrival: crate::Arrival::Poisson,
            target_rate: rate,
            offered_rate: rate,
            sent_rate: rate,
            rate_shortfall: achieved < 0.98 * rate,
            repetition,
            lat_p99_us: p99,
            ..row(backend, Protocol::Http, 50, achieved, p99 / 3.0)
        }
    }

    fn chart<'a>(charts: &'a [Chart], file: &str) -> &'a Chart {
        charts.iter().find(|c| c.file == file).unwrap_or_else(|| {
            panic!("no {file} in {:?}", charts.iter().map(|c| &c.file).collect::<Vec<_>>())
        })
    }

    /// A sweep's counting run (phase `count`) like `r`: slowed by counting
    /// (a tenth of the throughput, ten times the latency and cost), with
    /// its system calls per request.
    fn counting(r: &Row) -> Row {
        Row {
            phase: Phase::Count,
            repetition: 1,
            achieved_rate: r.achieved_rate / 10.0,
            lat_p50_us: r.lat_p50_us * 10.0,
            lat_p90_us: r.lat_p90_us * 10.0,
            lat_p99_us: r.lat_p99_us * 10.0,
            lat_p999_us: r.lat_p999_us * 10.0,
            lat_p9999_us: r.lat_p9999_us * 10.0,
            lat_max_us: r.lat_max_us * 10.0,
            server_cpu_user_us: r.server_cpu_user_us * 10.0,
            server_vcs: r.server_vcs * 10.0,
            server_syscalls: Some(2.03),
            server_syscalls_by_name: "read=1 write=1 epoll_pwait2=0.03".into(),
            ..r.clone()
        }
    }

    /// Counting runs: in the system call charts, which take their calls
    /// from them, and in no other chart, note or count.
    #[test]
    fn counting_runs_are_charted_for_their_system_calls_only() {
        let rows = sweep();
        let mut with = rows.iter().filter(|r| r.repetition == 1).map(counting).collect::<Vec<_>>();
        with.extend(rows.iter().cloned());
        let plain = Report::of(&[input("a.csv", rows.clone())], false).unwrap();
        let counted = Report::of(&[input("a.csv", with)], false).unwrap();
        assert!(plain.syscalls.is_empty());
        let files: Vec<&str> = counted.syscalls.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "syscalls-http-c50.svg",
                "syscalls-http-c500.svg",
                "syscalls-echo-c50-req128b.svg",
                "syscalls-echo-c500-req128b.svg"
            ]
        );
        let calls = &counted.syscalls[0];
        assert!(
            !calls.caption.contains("left out"),
            "the runs counted nothing on purpose: {}",
            calls.caption
        );
        assert!(calls.svg.contains("epoll_pwait2"), "{}", calls.svg);
        // Every other chart exactly as without them.
        for (a, b) in [
            (&plain.throughput, &counted.throughput),
            (&plain.latency, &counted.latency),
            (&plain.costs, &counted.costs),
        ] {
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(b) {
                assert_eq!((&a.file, &a.svg, &a.caption), (&b.file, &b.svg, &b.caption));
            }
        }
        assert_eq!(counted.notes, plain.notes);
        let html = page::html(&counted);
        assert!(!html.contains("not measured (left out)"), "{html}");

        // An offered-load grid's counting runs are at its rates: no points.
        let mut grid = Vec::new();
        for rep in 1..=3 {
            for rate in [25e3, 50e3, 100e3f64] {
                grid.push(open("epoll", rate, rate - f64::from(rep), 200.0 + f64::from(rep), rep));
            }
        }
        let mut with = grid.iter().filter(|r| r.repetition == 1).map(counting).collect::<Vec<_>>();
        with.extend(grid.iter().cloned());
        let plain = Report::of(&[input("grid.csv", grid)], false).unwrap();
        let counted = Report::of(&[input("grid.csv", with)], false).unwrap();
        assert_eq!(plain.curves.len(), 1);
        assert_eq!(plain.curves[0].svg, counted.curves[0].svg);
        assert_eq!(plain.curves[0].caption, counted.curves[0].caption);
        assert_eq!(counted.syscalls.len(), 3, "one per rate");
    }

    #[test]
    fn an_offered_load_grid_is_a_curve_through_the_medians() {
        let mut rows = Vec::new();
        for rep in 1..=3 {
            for (b, capacity) in [("thread-pool", 60e3), ("epoll", 200e3), ("io-uring", 250e3)] {
                for rate in [25e3, 50e3, 100e3f64] {
                    let achieved = rate.min(capacity) - f64::from(rep);
                    let p99 = if rate > capacity { 50_000.0 } else { 200.0 + f64::from(rep) };
                    rows.push(open(b, rate, achieved, p99, rep));
                }
            }
        }
        let report = Report::of(&[input("grid.csv", rows)], false).unwrap();
        let files: Vec<String> = report.files().into_iter().map(|(n, _)| n).collect();
        // A curve; no throughput against connections (one count, open
        // loop); a latency and cost chart per rate.
        assert_eq!(
            files,
            [
                "curve-http-c50-open-poisson.svg",
                "latency-http-c50-open-poisson-25000-s.svg",
                "latency-http-c50-open-poisson-50000-s.svg",
                "latency-http-c50-open-poisson-100000-s.svg",
                "cost-http-c50-open-poisson-25000-s.svg",
                "cost-http-c50-open-poisson-50000-s.svg",
                "cost-http-c50-open-poisson-100000-s.svg",
                "index.html"
            ]
        );
        let curve = &report.curves[0];
        assert_eq!(curve.title, "http c=50 open poisson: p99 latency against achieved throughput");
        chart::tests::elements(&curve.svg);
        assert_eq!(curve.svg.matches(r#"class="series""#).count(), 3);
        // Every run a point; the thread pool's three at 100k fell short.
        assert_eq!(curve.svg.matches(r#"class="point"#).count(), 27);
        assert_eq!(curve.svg.matches(r#"class="point hollow""#).count(), 3);
        assert!(curve.caption.contains("(3 of 27 points)"), "{}", curve.caption);
        assert!(!curve.caption.contains("probe") && !curve.svg.contains("objective"), "{}", curve.caption);
        // A line per backend, one vertex per offered rate.
        let lines: Vec<&str> = curve.svg.split(r#"class="line" d=""#).skip(1).collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.split('"').next().unwrap().matches('L').count() == 2), "{lines:?}");
        assert!(curve.svg.contains(
            "thread-pool: offered 100,000 req/s, achieved 59,998 req/s (60.0%), p99 50ms; did not keep up (run, \
             repetition 2)"
        ));
        assert!(report.notes.is_empty(), "{:?}", report.notes);
    }

    /// One capacity search per repetition under p99 ≤ 1 ms, as the sweep
    /// writes it: per backend a closed-loop estimate, open-loop probes, the
    /// capacity row (none for a backend that found none) and runs at 50%
    /// and 80% of the capacity.
    fn capacity_search() -> Vec<Row> {
        let mut rows = Vec::new();
        let slo = |r: Row, phase| Row { phase, slo: "p99<=1000us".into(), ..r };
        for rep in 1..=2u32 {
            for (b, capacity) in [("epoll", Some(200e3 + f64::from(rep) * 1e3)), ("thread-pool", None)] {
                rows.push(slo(
                    Row { repetition: rep, ..row(b, Protocol::Http, 50, 250e3, 100.0) },
                    crate::Phase::Probe,
                ));
                for rate in [100e3, 150e3, 200e3 + f64::from(rep) * 1e3, 250e3] {
                    let passes = capacity.is_some_and(|c| rate <= c);
                    let p99 = if passes { 500.0 } else { 5000.0 };
                    rows.push(slo(open(b, rate, rate, p99, rep), crate::Phase::Probe));
                }
                if let Some(c) = capacity {
                    rows.push(slo(open(b, c, c, 500.0, rep), crate::Phase::Capacity));
                    for share in [0.5, 0.8] {
                        rows.push(slo(open(b, c * share, c * share, 300.0, rep), crate::Phase::Run));
                    }
                }
            }
        }
        rows
    }

    #[test]
    fn a_capacity_search_draws_probes_on_the_curve_and_says_none_found() {
        let report = Report::of(&[input("search.csv", capacity_search())], false).unwrap();
        let files: Vec<String> = report.files().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            files,
            [
                "curve-http-c50-open-poisson.svg",
                "capacity-http-c50-p99-1000us.svg",
                "latency-http-c50-capacity-p99-1000us.svg",
                "latency-http-c50-open-poisson-at-50-of-capacity-p99-1000us.svg",
                "latency-http-c50-open-poisson-at-80-of-capacity-p99-1000us.svg",
                "cost-http-c50-capacity-p99-1000us.svg",
                "cost-http-c50-open-poisson-at-50-of-capacity-p99-1000us.svg",
                "cost-http-c50-open-poisson-at-80-of-capacity-p99-1000us.svg",
                "index.html"
            ]
        );
        // The curve: every open-loop probe and run (not the estimates, not
        // the capacity rows), under the objective's line.
        let curve = &report.curves[0];
        chart::tests::elements(&curve.svg);
        assert_eq!(curve.svg.matches(r#"class="series""#).count(), 2);
        assert_eq!(curve.svg.matches(r#"class="point"#).count(), 2 * (4 + 4 + 2));
        assert_eq!(curve.svg.matches(r#"class="objective""#).count(), 1);
        assert!(curve.svg.contains(">objective: p99 ≤ 1ms</text>"));
        assert!(
            curve
                .caption
                .contains("16 capacity-search probes and runs at 50% and 80% of each capacity found"),
            "{}",
            curve.caption
        );
        assert!(curve.svg.contains("(run at 80% of the capacity found, repetition 2)"), "{}", curve.svg);
        // The capacity bars: epoll's median of 201k and 202k; the thread
        // pool's searches found none.
        let bars = chart(&report.capacity, "capacity-http-c50-p99-1000us.svg");
        chart::tests::elements(&bars.svg);
        assert_eq!(bars.svg.matches(r#"class="series""#).count(), 2);
        assert_eq!(bars.svg.matches(r#"class="bar""#).count(), 1);
        assert!(bars.svg.contains(">201,500</text>"), "{}", bars.svg);
        assert!(bars.svg.contains("thread-pool: no capacity found in 2 searches</title>none found</text>"));
        assert!(bars.caption.contains("2 searches found no capacity"), "{}", bars.caption);
        // The runs at a share of the capacity: one chart per share, both
        // repetitions in it.
        let half = chart(&report.latency, "latency-http-c50-open-poisson-at-50-of-capacity-p99-1000us.svg");
        assert_eq!(
            half.title,
            "http c=50 open poisson at 50% of capacity p99<=1000us: latency by percentile"
        );
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(report.notes[0].starts_with("left out 20 probe rows"), "{:?}", report.notes);
        assert!(report.notes[0].ends_with("the latency–throughput curves draw them all the same"));

        // --with-probes: no note, and the probes get cells of their own.
        let report = Report::of(&[input("search.csv", capacity_search())], true).unwrap();
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert!(report.latency.len() > 3);
    }

    /// An objective on p99.9 puts p99.9 on the curve, so that its line
    /// bounds what is drawn; two objectives on different percentiles leave
    /// p99 and say which objective is not drawn.
    #[test]
    fn the_curve_plots_the_percentile_its_objective_names() {
        let on = |slo: &str, rows: Vec<Row>| -> Vec<Row> {
            rows.into_iter()
                .map(|r| if r.slo.is_empty() { r } else { Row { slo: slo.into(), lat_p999_us: 700.0, ..r } })
                .collect()
        };
        let report = Report::of(&[input("a.csv", on("p99.9<=2000us", capacity_search()))], false).unwrap();
        let curve = &report.curves[0];
        assert_eq!(curve.title, "http c=50 open poisson: p99.9 latency against achieved throughput");
        assert!(curve.svg.contains(">objective: p99.9 ≤ 2ms</text>") && curve.svg.contains(", p99.9 700µs"));
        assert_eq!(report.capacity[0].title, "http c=50: capacity under p99.9 ≤ 2ms");

        let mut rows = on("p99.9<=2000us", capacity_search());
        rows.extend(capacity_search().into_iter().map(|r| Row { run_id: "sweep-2".into(), ..r }));
        let report = Report::of(&[input("a.csv", rows)], false).unwrap();
        let curve = &report.curves[0];
        assert!(curve.title.contains(": p99 latency") && curve.svg.contains(">objective: p99 ≤ 1ms</text>"));
        assert!(curve.caption.contains("Not drawn: the objective p99.9 ≤ 2ms"), "{}", curve.caption);
        assert_eq!(report.capacity.len(), 2);
    }

    #[test]
    fn only_probes_and_no_curve_is_an_error_saying_what_to_do() {
        let rows: Vec<Row> = capacity_search()
            .into_iter()
            .filter(|r| r.phase == crate::Phase::Probe && r.mode == crate::Mode::Closed)
            .collect();
        let err = Report::of(&[input("estimates.csv", rows.clone())], false).err().unwrap().to_string();
        assert!(
            err.contains("estimates.csv has no complete rows but probes") && err.contains("--with-probes"),
            "{err}"
        );
        assert!(Report::of(&[input("estimates.csv", rows)], true).is_ok());
    }
}

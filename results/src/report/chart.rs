//! The report's six kinds of chart, each a complete SVG document: lines
//! with whiskers (throughput against connections), a latency–throughput
//! curve (runs as points, hollow where the server fell behind, under a
//! latency objective), bars with whiskers (capacity under an objective), a
//! latency percentile spectrum, paired panels of stacked bars (the
//! server's cost per request), and bars stacked by system call (the
//! server's system calls per request).
//!
//! A chart is given figures already summarised (medians, ranges) and a
//! [`Style`] per series; it decides nothing about the data. Every series is
//! one `<g class="series" data-series="…">` holding its marks, so a test (or
//! a reader of the markup) finds each one. Text widths are estimated, not
//! measured (there is no font here): labels are kept short and given room.

use super::axis::{self, Axis, Scale, Tick};
use super::svg::{Num, Svg};

/// How a series looks: colour by backend, dash by input file.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Style {
    pub(super) label: String,
    pub(super) colour: &'static str,
    /// An SVG `stroke-dasharray`, empty for a solid line.
    pub(super) dash: &'static str,
}

/// One point of a line: the median of the repetitions at `x`, and their
/// range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Whisker {
    pub(super) x: f64,
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) n: usize,
}

/// The percentiles of a latency spectrum, in order, with their labels.
pub(super) const PERCENTILES: [(&str, f64); 6] =
    [("50%", 0.5), ("90%", 0.9), ("99%", 0.99), ("99.9%", 0.999), ("99.99%", 0.9999), ("max", 1.0)];

/// Two parts of a bar, drawn one on the other: the solid lower part and
/// the pale upper part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Stack {
    pub(super) lower: f64,
    pub(super) upper: f64,
}

/// A series' server costs per request, medians over `n` measured runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Costs {
    /// User (lower) and system (upper) CPU time, µs.
    pub(super) cpu: Stack,
    /// Voluntary (lower) and involuntary (upper) context switches.
    pub(super) switches: Stack,
    pub(super) n: usize,
}

/// A series' system calls per request by name, each the median over `n`
/// runs that counted them, in the order they are stacked (bottom first).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Calls {
    pub(super) parts: Vec<(String, f64)>,
    pub(super) n: usize,
}

/// One run on a latency–throughput curve.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct CurvePoint {
    /// Requests per second offered (the schedule) and achieved (answers in
    /// the window).
    pub(super) offered: f64,
    pub(super) achieved: f64,
    /// The latency plotted, µs.
    pub(super) latency: f64,
    /// Whether the server kept up with the load offered; a point where it
    /// did not is drawn hollow.
    pub(super) kept_up: bool,
    /// What the run was, for its tooltip: `probe, repetition 2`.
    pub(super) what: String,
}

/// A series of a latency–throughput curve: its runs, and the line through
/// them, (achieved, latency) in the order of the load offered.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Curve {
    pub(super) style: Style,
    pub(super) line: Vec<(f64, f64)>,
    pub(super) points: Vec<CurvePoint>,
}

/// A latency objective drawn across a curve: `p99 ≤ 1ms` at 1000 µs.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Objective {
    pub(super) label: String,
    pub(super) bound_us: f64,
}

/// A series' capacities under one objective, over its searches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Capacities {
    /// Median, smallest and largest capacity found, req/s (`x` unused);
    /// `None` if no search found one.
    pub(super) found: Option<Whisker>,
    /// Searches run, and of them those that did not converge.
    pub(super) searches: usize,
    pub(super) unconverged: usize,
}

const CHAR_WIDTH: f64 = 7.0;
const LEGEND_ROW: f64 = 20.0;
const GRID: &str = "#e4e4e4";
const AXIS: &str = "#555";
const MUTED: &str = "#666";
const OBJECTIVE: &str = "#333";
const OBJECTIVE_DASH: &str = "6 4";

/// Where the data goes inside a chart.
#[derive(Clone, Copy, Debug)]
struct Plot {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Plot {
    fn px(&self, axis: &Axis, v: f64) -> f64 {
        self.x + axis.frac(v) * self.w
    }

    fn py(&self, axis: &Axis, v: f64) -> f64 {
        self.y + self.h - axis.frac(v) * self.h
    }

    fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Throughput against connections: a line per series through the medians,
/// a whisker from the smallest to the largest repetition at each point.
/// The x axis is logarithmic when the connection counts span a factor of
/// ten or more, ticked at the counts measured.
pub(super) fn throughput(id: &str, title: &str, series: &[(Style, Vec<Whisker>)]) -> String {
    let width = 1100.0;
    let xs: Vec<f64> = sorted_unique(series.iter().flat_map(|(_, p)| p.iter().map(|w| w.x)));
    let (lo, hi) = (xs.first().copied().unwrap_or(1.0), xs.last().copied().unwrap_or(1.0));
    let ticks: Vec<Tick> = xs.iter().map(|&value| Tick { value, label: axis::figure(value) }).collect();
    // Half a tick's room either side of the first and last counts.
    let x_axis = if lo > 0.0 && hi / lo >= 10.0 {
        let pad = (hi / lo).powf(0.06);
        Axis { scale: Scale::Log { min: lo / pad, max: hi * pad }, ticks }
    } else {
        let pad = if hi > lo { (hi - lo) * 0.08 } else { lo.max(1.0) * 0.5 };
        Axis { scale: Scale::Linear { min: lo - pad, max: hi + pad }, ticks }
    };
    let tops: Vec<f64> = series.iter().flat_map(|(_, p)| p.iter().map(|w| w.max)).collect();
    let y_axis = Axis::linear_from_zero(&tops, 6, axis::count_label);

    let legend = Legend::new(series.iter().map(|(s, _)| s), width - 90.0, Swatch::Line);
    let plot = Plot { x: 80.0, y: 40.0, w: width - 110.0, h: 300.0 };
    let height = plot.bottom() + 50.0 + legend.height + 10.0;
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    y_frame(&mut svg, &plot, &y_axis, "requests per second (median; whiskers: min–max)");
    x_frame(&mut svg, &plot, &x_axis, "connections");
    for (style, points) in series {
        series_group(&mut svg, style);
        let mut points = points.clone();
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
        let line: Vec<(f64, f64)> =
            points.iter().map(|p| (plot.px(&x_axis, p.x), plot.py(&y_axis, p.median))).collect();
        polyline(&mut svg, &line, style, 2.0);
        for p in &points {
            let x = plot.px(&x_axis, p.x);
            whisker(&mut svg, x, plot.py(&y_axis, p.max), plot.py(&y_axis, p.min), style.colour);
            let tip = format!(
                "{}, {} connections: {} req/s (min {}, max {}, {} runs)",
                style.label,
                axis::figure(p.x),
                axis::figure(p.median),
                axis::figure(p.min),
                axis::figure(p.max),
                p.n
            );
            marker(&mut svg, x, plot.py(&y_axis, p.median), style, &tip);
        }
        svg.close();
    }
    legend.draw(&mut svg, 80.0, plot.bottom() + 50.0);
    svg.finish()
}

/// A latency–throughput curve: x the achieved throughput (linear, from 0),
/// y the latency `percentile` (`p99`) on a log scale; per series a line
/// through `Curve::line` and a marker per run, filled where the server kept
/// up and hollow where it did not; each objective a dashed horizontal line,
/// labelled. A glossary under the legend says what the markers and the
/// dashed line are.
pub(super) fn curve(
    id: &str,
    title: &str,
    percentile: &str,
    series: &[Curve],
    objectives: &[Objective],
) -> String {
    let width = 1100.0;
    let achieved: Vec<f64> = series
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.achieved).chain(c.line.iter().map(|l| l.0)))
        .collect();
    let x_axis = Axis::linear_from_zero(&achieved, 8, axis::count_label);
    let latencies: Vec<f64> = series
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.latency).chain(c.line.iter().map(|l| l.1)))
        .chain(objectives.iter().map(|o| o.bound_us))
        .collect();
    let y_axis = Axis::log(&latencies, axis::micros_label)
        .unwrap_or(Axis { scale: Scale::Log { min: 1.0, max: 10.0 }, ticks: Vec::new() });

    let legend = Legend::new(series.iter().map(|c| &c.style), width - 90.0, Swatch::Line);
    let plot = Plot { x: 80.0, y: 40.0, w: width - 110.0, h: 380.0 };
    let glossary_top = plot.bottom() + 50.0 + legend.height;
    let height = glossary_top + LEGEND_ROW + 10.0;
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    y_frame(&mut svg, &plot, &y_axis, &format!("{percentile} latency (log scale)"));
    x_frame(&mut svg, &plot, &x_axis, "achieved throughput (requests per second)");
    for c in series {
        series_group(&mut svg, &c.style);
        let line: Vec<(f64, f64)> =
            c.line.iter().map(|&(x, y)| (plot.px(&x_axis, x), plot.py(&y_axis, y))).collect();
        // The line goes through medians (of a grid's rates, or of a
        // capacity search's shares of its capacity), the summary a reader
        // follows; the runs around it are the data.
        svg.open("g", &[("stroke-opacity", &0.9)]);
        polyline(&mut svg, &line, &c.style, 2.5);
        svg.close();
        for p in &c.points {
            let tip = format!(
                "{}: offered {} req/s, achieved {} req/s ({:.1}%), {percentile} {}{} ({})",
                c.style.label,
                axis::figure(p.offered),
                axis::figure(p.achieved),
                100.0 * p.achieved / p.offered.max(1e-9),
                micros(p.latency),
                if p.kept_up { "" } else { "; did not keep up" },
                p.what
            );
            let (x, y) = (plot.px(&x_axis, p.achieved), plot.py(&y_axis, p.latency));
            if p.kept_up {
                marker(&mut svg, x, y, &c.style, &tip);
            } else {
                hollow_marker(&mut svg, x, y, c.style.colour, &tip);
            }
        }
        svg.close();
    }
    // The objectives over the data, labelled at the right end above the
    // line, on a white halo so that points under the label do not hide it.
    for o in objectives {
        let y = plot.py(&y_axis, o.bound_us);
        svg.open("g", &[("class", &"objective")]);
        svg.open(
            "path",
            &[
                ("d", &format!("M{} {}H{}", Num(plot.x), Num(y), Num(plot.x + plot.w))),
                ("stroke", &OBJECTIVE),
                ("stroke-width", &1.5),
                ("stroke-dasharray", &OBJECTIVE_DASH),
            ],
        );
        svg.text("title", &[], &format!("objective: {}", o.label));
        svg.close();
        svg.text(
            "text",
            &[
                ("x", &Num(plot.x + plot.w - 6.0)),
                ("y", &Num(y - 6.0)),
                ("text-anchor", &"end"),
                ("font-weight", &"bold"),
                ("fill", &OBJECTIVE),
                ("stroke", &"#fff"),
                ("stroke-width", &4),
                ("paint-order", &"stroke"),
            ],
            &format!("objective: {}", o.label),
        );
        svg.close();
    }
    legend.draw(&mut svg, 80.0, plot.bottom() + 50.0);
    glossary(&mut svg, 80.0, glossary_top, !objectives.is_empty());
    svg.finish()
}

/// What a curve's marks mean, in a row under its legend.
fn glossary(svg: &mut Svg, left: f64, top: f64, objective: bool) {
    svg.open("g", &[("class", &"glossary"), ("fill", &MUTED)]);
    let y = top + 6.0;
    svg.leaf(
        "circle",
        &[("cx", &Num(left + 5.0)), ("cy", &Num(y)), ("r", &3.5), ("fill", &MUTED), ("stroke", &"#fff")],
    );
    let mut x = left + 14.0;
    let kept = "a run that kept up";
    svg.text("text", &[("x", &Num(x)), ("y", &Num(y + 4.0))], kept);
    x += kept.chars().count() as f64 * CHAR_WIDTH + 24.0;
    svg.leaf(
        "circle",
        &[
            ("cx", &Num(x + 5.0)),
            ("cy", &Num(y)),
            ("r", &4),
            ("fill", &"#fff"),
            ("stroke", &MUTED),
            ("stroke-width", &1.5),
        ],
    );
    x += 14.0;
    let hollow = "hollow: did not keep up (achieved below 99% of offered)";
    svg.text("text", &[("x", &Num(x)), ("y", &Num(y + 4.0))], hollow);
    x += hollow.chars().count() as f64 * CHAR_WIDTH + 24.0;
    if objective {
        svg.leaf(
            "path",
            &[
                ("d", &format!("M{} {}h28", Num(x), Num(y))),
                ("stroke", &OBJECTIVE),
                ("stroke-width", &1.5),
                ("stroke-dasharray", &OBJECTIVE_DASH),
            ],
        );
        svg.text("text", &[("x", &Num(x + 34.0)), ("y", &Num(y + 4.0))], "latency objective");
    }
    svg.close();
}

/// Capacity under one objective: a bar per series at the median of the
/// capacities its searches found, a whisker from the smallest to the
/// largest, the median written on top; a series whose searches found none
/// gets an empty slot marked `none found`.
pub(super) fn capacity(id: &str, title: &str, series: &[(Style, Capacities)]) -> String {
    let width = 545.0;
    let plot_x = 80.0;
    let plot_w = width - plot_x - 20.0;
    let slot = plot_w / series.len().max(1) as f64;
    let bar = (slot * 0.6).min(60.0);
    let labels = BarLabels::new(series.iter().map(|(s, _)| s), plot_x, slot);
    let plot = Plot { x: plot_x, y: 40.0, w: plot_w, h: 230.0 };
    let height = plot.bottom() + labels.room + 10.0;
    let tops: Vec<f64> = series.iter().filter_map(|(_, c)| c.found.map(|w| w.max)).collect();
    let y_axis = Axis::linear_from_zero(&tops, 5, axis::count_label);
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    y_frame(&mut svg, &plot, &y_axis, "capacity, req/s (whiskers: min–max)");
    svg.leaf(
        "path",
        &[
            ("d", &format!("M{} {}H{}", Num(plot.x), Num(plot.bottom()), Num(plot.x + plot.w))),
            ("stroke", &AXIS),
        ],
    );
    for (k, (style, c)) in series.iter().enumerate() {
        let cx = plot.x + slot * (k as f64 + 0.5);
        series_group(&mut svg, style);
        let missed = c.searches - c.found.map_or(0, |w| w.n);
        let missed_words = match (missed, c.unconverged) {
            (0, _) => String::new(),
            (m, 0) => format!("; none found in {m} of {} searches", c.searches),
            (m, u) => format!("; none found in {m} of {} searches ({u} did not converge)", c.searches),
        };
        match c.found {
            Some(w) => {
                let top = plot.py(&y_axis, w.median);
                let tip = format!(
                    "{}: {} req/s, the median of {} capacities found (min {}, max {}){missed_words}",
                    style.label,
                    axis::figure(w.median),
                    w.n,
                    axis::figure(w.min),
                    axis::figure(w.max),
                );
                rect(&mut svg, cx - bar / 2.0, top, bar, plot.bottom() - top, style, 0.85, &tip);
                let whisker_top = plot.py(&y_axis, w.max);
                whisker(&mut svg, cx, whisker_top, plot.py(&y_axis, w.min), "#222");
                let figure = axis::figure(w.median);
                if figure.chars().count() as f64 * 6.0 <= slot {
                    figure_above(&mut svg, cx, whisker_top.min(top) - 5.0, &figure);
                }
            }
            None => {
                svg.open(
                    "text",
                    &[
                        ("class", &"none-found"),
                        ("x", &Num(cx)),
                        ("y", &Num(plot.bottom() - 6.0)),
                        ("text-anchor", &"middle"),
                        ("font-size", &11),
                        ("fill", &MUTED),
                    ],
                );
                let unconverged = if c.unconverged > 0 {
                    format!(" ({} did not converge)", c.unconverged)
                } else {
                    String::new()
                };
                let tip =
                    format!("{}: no capacity found in {} searches{unconverged}", style.label, c.searches);
                svg.text("title", &[], &tip);
                svg.content("none found");
                svg.close();
            }
        }
        labels.draw(&mut svg, cx, plot.bottom(), &style.label);
        svg.close();
    }
    svg.finish()
}

/// A latency percentile spectrum, as HdrHistogram plots it: x is the
/// percentile on a scale of `1/(1-q)` (each further nine one step right),
/// with the maximum a step after 99.99%; y is the latency on a log scale,
/// which keeps the median readable beside a tail a hundred times longer.
/// `series` holds the latencies (µs) at [`PERCENTILES`], in order.
pub(super) fn spectrum(id: &str, title: &str, series: &[(Style, [f64; 6])]) -> String {
    let width = 545.0;
    let nines = |q: f64| if q >= 1.0 { 5.0 } else { (1.0 / (1.0 - q)).log10() };
    let ticks =
        PERCENTILES.iter().map(|&(label, q)| Tick { value: nines(q), label: label.to_string() }).collect();
    let x_axis = Axis { scale: Scale::Linear { min: nines(0.5) - 0.2, max: 5.2 }, ticks };
    let values: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let y_axis = Axis::log(&values, axis::micros_label)
        .unwrap_or(Axis { scale: Scale::Log { min: 1.0, max: 10.0 }, ticks: Vec::new() });

    let legend = Legend::new(series.iter().map(|(s, _)| s), width - 94.0, Swatch::Line);
    let plot = Plot { x: 76.0, y: 40.0, w: width - 94.0, h: 230.0 };
    let height = plot.bottom() + 50.0 + legend.height + 10.0;
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    y_frame(&mut svg, &plot, &y_axis, "latency (log scale)");
    x_frame(&mut svg, &plot, &x_axis, "percentile");
    for (style, latencies) in series {
        series_group(&mut svg, style);
        let points: Vec<(f64, f64)> = PERCENTILES
            .iter()
            .zip(latencies)
            .map(|(&(_, q), &v)| (plot.px(&x_axis, nines(q)), plot.py(&y_axis, v)))
            .collect();
        polyline(&mut svg, &points, style, 2.0);
        for ((&(label, _), &v), &(x, y)) in PERCENTILES.iter().zip(latencies).zip(&points) {
            let tip = format!("{}: {label} {}", style.label, micros(v));
            marker(&mut svg, x, y, style, &tip);
        }
        svg.close();
    }
    legend.draw(&mut svg, 76.0, plot.bottom() + 50.0);
    svg.finish()
}

/// The server's cost per request, two panels side by side: CPU time (user
/// solid, system pale) and context switches (voluntary solid, involuntary
/// pale), a stacked bar per series, its total written on top. A series
/// without measured figures (`None`) gets an empty slot marked `n/a`.
pub(super) fn costs(id: &str, title: &str, series: &[(Style, Option<Costs>)]) -> String {
    let width = 1100.0;
    let panel_w = (width - 2.0 * 80.0 - 40.0) / 2.0;
    let slot = panel_w / series.len().max(1) as f64;
    let bar = (slot * 0.7).min(60.0);
    let labels = BarLabels::new(series.iter().map(|(s, _)| s), 80.0, slot);
    let top = 40.0;
    let h = 230.0;
    let height = top + h + labels.room + 24.0;
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    type Part = fn(&Costs) -> Stack;
    let panels: [(&str, Part, &str, &str); 2] = [
        ("server CPU per request (µs)", |c| c.cpu, "user", "system"),
        ("server context switches per request", |c| c.switches, "voluntary", "involuntary"),
    ];
    for (i, (y_label, part, lower_name, upper_name)) in panels.into_iter().enumerate() {
        let plot = Plot { x: 80.0 + i as f64 * (panel_w + 120.0), y: top, w: panel_w, h };
        let totals: Vec<f64> =
            series.iter().filter_map(|(_, c)| c.as_ref()).map(|c| part(c).lower + part(c).upper).collect();
        let y_axis = Axis::linear_from_zero(&totals, 5, axis::plain_label);
        y_frame(&mut svg, &plot, &y_axis, y_label);
        svg.leaf(
            "path",
            &[
                ("d", &format!("M{} {}H{}", Num(plot.x), Num(plot.bottom()), Num(plot.x + plot.w))),
                ("stroke", &AXIS),
            ],
        );
        for (k, (style, c)) in series.iter().enumerate() {
            let cx = plot.x + slot * (k as f64 + 0.5);
            series_group(&mut svg, style);
            match c {
                Some(c) => {
                    let s = part(c);
                    let y_lower = plot.py(&y_axis, s.lower);
                    let y_total = plot.py(&y_axis, s.lower + s.upper);
                    let lower_tip = format!(
                        "{}: {lower_name} {} (median of {} runs)",
                        style.label,
                        axis::figure(s.lower),
                        c.n
                    );
                    let upper_tip = format!(
                        "{}: {upper_name} {} (median of {} runs)",
                        style.label,
                        axis::figure(s.upper),
                        c.n
                    );
                    rect(
                        &mut svg,
                        cx - bar / 2.0,
                        y_lower,
                        bar,
                        plot.bottom() - y_lower,
                        style,
                        1.0,
                        &lower_tip,
                    );
                    rect(&mut svg, cx - bar / 2.0, y_total, bar, y_lower - y_total, style, 0.4, &upper_tip);
                    // The total on top, where it fits in the bar's slot (the
                    // bars' tooltips have it in any case).
                    let total = axis::figure(s.lower + s.upper);
                    if total.chars().count() as f64 * 6.0 <= slot {
                        figure_above(&mut svg, cx, y_total - 4.0, &total);
                    }
                }
                None => not_available(&mut svg, cx, plot.bottom()),
            }
            labels.draw(&mut svg, cx, plot.bottom(), &style.label);
            svg.close();
        }
        svg.text(
            "text",
            &[("x", &Num(plot.x)), ("y", &Num(height - 10.0)), ("font-size", &11), ("fill", &MUTED)],
            &format!("solid: {lower_name}; pale: {upper_name}"),
        );
    }
    svg.finish()
}

/// The colours of the calls in a system call chart, by their place in the
/// chart's order (the most frequent first); `other` is always grey.
const CALL_COLOURS: [&str; 9] =
    ["#1b6ca8", "#e07b00", "#2a9d3f", "#c23b3b", "#7b4fb0", "#8c5a2b", "#d45fa8", "#17a2b8", "#b5a300"];
const OTHER_CALLS: &str = "#9a9a9a";

/// The server's system calls per request by name: a bar per series, its
/// calls stacked (each call one colour in every bar, named in the legend),
/// the total written on top. A series whose calls were not counted
/// (`None`) gets an empty slot marked `n/a`.
pub(super) fn syscalls(id: &str, title: &str, series: &[(Style, Option<Calls>)]) -> String {
    let width = 900.0;
    let left = 80.0;
    let plot_w = width - left - 40.0;
    let slot = plot_w / series.len().max(1) as f64;
    let bar = (slot * 0.6).min(70.0);
    let labels = BarLabels::new(series.iter().map(|(s, _)| s), left, slot);
    // Every name, in the order of its first appearance (each series lists
    // its own largest first), so a call has one colour throughout.
    let mut names: Vec<&str> = Vec::new();
    for (_, c) in series {
        for (name, _) in c.iter().flat_map(|c| &c.parts) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let keys: Vec<Style> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Style {
            label: (*name).to_string(),
            colour: if *name == "other" { OTHER_CALLS } else { CALL_COLOURS[i % CALL_COLOURS.len()] },
            dash: "",
        })
        .collect();
    let legend = Legend::new(keys.iter(), width - left - 20.0, Swatch::Block);
    let top = 40.0 + legend.height + 10.0;
    let h = 260.0;
    let height = top + h + labels.room + 10.0;
    let mut svg = Svg::new(id, width, height, title);
    heading(&mut svg, title, width);
    legend.draw(&mut svg, left, 36.0);
    let plot = Plot { x: left, y: top, w: plot_w, h };
    let totals: Vec<f64> =
        series.iter().filter_map(|(_, c)| c.as_ref()).map(|c| c.parts.iter().map(|p| p.1).sum()).collect();
    let y_axis = Axis::linear_from_zero(&totals, 5, axis::plain_label);
    y_frame(&mut svg, &plot, &y_axis, "system calls per request");
    svg.leaf(
        "path",
        &[
            ("d", &format!("M{} {}H{}", Num(plot.x), Num(plot.bottom()), Num(plot.x + plot.w))),
            ("stroke", &AXIS),
        ],
    );
    for (k, (style, c)) in series.iter().enumerate() {
        let cx = plot.x + slot * (k as f64 + 0.5);
        series_group(&mut svg, style);
        match c {
            Some(c) => {
                let mut sum = 0.0;
                for (name, v) in &c.parts {
                    let key = keys.iter().find(|s| s.label == *name).expect("every name has a key");
                    let (y0, y1) = (plot.py(&y_axis, sum), plot.py(&y_axis, sum + v));
                    let tip = format!(
                        "{}: {name} {} per request (median of {} runs)",
                        style.label,
                        axis::figure(*v),
                        c.n
                    );
                    rect(&mut svg, cx - bar / 2.0, y1, bar, y0 - y1, key, 1.0, &tip);
                    sum += v;
                }
                let total = axis::figure(sum);
                if total.chars().count() as f64 * 6.0 <= slot {
                    figure_above(&mut svg, cx, plot.py(&y_axis, sum) - 4.0, &total);
                }
            }
            None => not_available(&mut svg, cx, plot.bottom()),
        }
        labels.draw(&mut svg, cx, plot.bottom(), &style.label);
        svg.close();
    }
    svg.finish()
}

/// The series' labels under a row of bars, turned 40° (their width
/// reaching cos 40° ≈ 0.77 of it leftwards, their height sin 40° ≈ 0.64 of
/// it down) unless they would then reach past the first bar's neighbour on
/// the left or the chart's edge; then upright (90°).
struct BarLabels {
    angle: u32,
    /// The height they take under the bars.
    room: f64,
}

impl BarLabels {
    /// Labels for bars in slots `slot` wide, the first slot starting `left`
    /// pixels from the chart's edge.
    fn new<'a>(styles: impl Iterator<Item = &'a Style>, left: f64, slot: f64) -> BarLabels {
        // 11-pixel labels: about 6.2 pixels a character.
        let longest = styles.map(|s| s.label.chars().count()).max().unwrap_or(0) as f64 * 6.2;
        let upright = longest * 0.77 > left + slot / 2.0 - 10.0;
        let (angle, room) = if upright { (90, longest + 20.0) } else { (40, longest * 0.64 + 20.0) };
        BarLabels { angle, room: room.max(40.0) }
    }

    /// `label` under the bar centred at `cx` on a baseline at `bottom`.
    fn draw(&self, svg: &mut Svg, cx: f64, bottom: f64, label: &str) {
        let ly = bottom + if self.angle == 90 { 8.0 } else { 14.0 };
        svg.text(
            "text",
            &[
                ("x", &Num(cx)),
                ("y", &Num(ly)),
                ("text-anchor", &"end"),
                ("font-size", &11),
                ("transform", &format!("rotate(-{} {} {})", self.angle, Num(cx), Num(ly))),
            ],
            label,
        );
    }
}

/// The chart's background and its title, in 15-pixel bold, smaller if it
/// would not fit the width (about 8.6 pixels a character at 15; no smaller
/// than 10, where the file name still tells the chart).
fn heading(svg: &mut Svg, title: &str, width: f64) {
    svg.leaf("rect", &[("width", &Num(width)), ("height", &"100%"), ("fill", &"#fff")]);
    let fits = (width - 32.0) / (title.chars().count().max(1) as f64 * 8.6 / 15.0);
    let size = fits.clamp(10.0, 15.0).floor();
    svg.text("text", &[("x", &16), ("y", &22), ("font-size", &Num(size)), ("font-weight", &"bold")], title);
}

/// Horizontal grid lines at the y ticks, their labels, and the y axis'
/// label turned upright along it.
fn y_frame(svg: &mut Svg, plot: &Plot, y: &Axis, label: &str) {
    svg.open("g", &[("class", &"y-axis")]);
    for t in &y.ticks {
        let py = plot.py(y, t.value);
        svg.leaf(
            "path",
            &[("d", &format!("M{} {}H{}", Num(plot.x), Num(py), Num(plot.x + plot.w))), ("stroke", &GRID)],
        );
        svg.text(
            "text",
            &[("x", &Num(plot.x - 6.0)), ("y", &Num(py + 4.0)), ("text-anchor", &"end"), ("font-size", &11)],
            &t.label,
        );
    }
    svg.leaf(
        "path",
        &[("d", &format!("M{} {}V{}", Num(plot.x), Num(plot.y), Num(plot.bottom()))), ("stroke", &AXIS)],
    );
    let (lx, ly) = (plot.x - 58.0, plot.y + plot.h / 2.0);
    svg.text(
        "text",
        &[
            ("x", &Num(lx)),
            ("y", &Num(ly)),
            ("text-anchor", &"middle"),
            ("transform", &format!("rotate(-90 {} {})", Num(lx), Num(ly))),
            ("fill", &MUTED),
        ],
        label,
    );
    svg.close();
}

/// The x axis: its line, a tick and label at each tick value, and its
/// label under them.
fn x_frame(svg: &mut Svg, plot: &Plot, x: &Axis, label: &str) {
    svg.open("g", &[("class", &"x-axis")]);
    let bottom = plot.bottom();
    svg.leaf(
        "path",
        &[("d", &format!("M{} {}H{}", Num(plot.x), Num(bottom), Num(plot.x + plot.w))), ("stroke", &AXIS)],
    );
    for t in &x.ticks {
        let px = plot.px(x, t.value);
        svg.leaf(
            "path",
            &[("d", &format!("M{} {}V{}", Num(px), Num(bottom), Num(bottom + 5.0))), ("stroke", &AXIS)],
        );
        svg.leaf(
            "path",
            &[("d", &format!("M{} {}V{}", Num(px), Num(plot.y), Num(bottom))), ("stroke", &GRID)],
        );
        svg.text(
            "text",
            &[("x", &Num(px)), ("y", &Num(bottom + 18.0)), ("text-anchor", &"middle"), ("font-size", &11)],
            &t.label,
        );
    }
    svg.text(
        "text",
        &[
            ("x", &Num(plot.x + plot.w / 2.0)),
            ("y", &Num(bottom + 36.0)),
            ("text-anchor", &"middle"),
            ("fill", &MUTED),
        ],
        label,
    );
    svg.close();
}

fn series_group(svg: &mut Svg, style: &Style) {
    svg.open("g", &[("class", &"series"), ("data-series", &style.label)]);
}

fn polyline(svg: &mut Svg, points: &[(f64, f64)], style: &Style, width: f64) {
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        d.push_str(&format!("{}{} {}", if i == 0 { 'M' } else { 'L' }, Num(*x), Num(*y)));
    }
    if points.len() > 1 {
        svg.leaf(
            "path",
            &[
                ("class", &"line"),
                ("d", &d),
                ("fill", &"none"),
                ("stroke", &style.colour),
                ("stroke-width", &width),
                ("stroke-dasharray", &dash(style)),
            ],
        );
    }
}

fn marker(svg: &mut Svg, x: f64, y: f64, style: &Style, tip: &str) {
    svg.open(
        "circle",
        &[
            ("class", &"point"),
            ("cx", &Num(x)),
            ("cy", &Num(y)),
            ("r", &3.5),
            ("fill", &style.colour),
            ("stroke", &"#fff"),
        ],
    );
    svg.text("title", &[], tip);
    svg.close();
}

/// A run that did not keep up: a ring in the series' colour.
fn hollow_marker(svg: &mut Svg, x: f64, y: f64, colour: &str, tip: &str) {
    svg.open(
        "circle",
        &[
            ("class", &"point hollow"),
            ("cx", &Num(x)),
            ("cy", &Num(y)),
            ("r", &4),
            ("fill", &"#fff"),
            ("stroke", &colour),
            ("stroke-width", &1.5),
        ],
    );
    svg.text("title", &[], tip);
    svg.close();
}

#[allow(clippy::too_many_arguments, reason = "a rectangle is four numbers; the rest is how it looks")]
fn rect(svg: &mut Svg, x: f64, y: f64, w: f64, h: f64, style: &Style, opacity: f64, tip: &str) {
    svg.open(
        "rect",
        &[
            ("class", &"bar"),
            ("x", &Num(x)),
            ("y", &Num(y)),
            ("width", &Num(w)),
            ("height", &Num(h.max(0.0))),
            ("fill", &style.colour),
            ("fill-opacity", &opacity),
            ("stroke", &if style.dash.is_empty() { "none" } else { "#222" }),
            ("stroke-dasharray", &dash(style)),
        ],
    );
    svg.text("title", &[], tip);
    svg.close();
}

/// A whisker at `x` from `top` to `bottom` (pixels), with short caps.
fn whisker(svg: &mut Svg, x: f64, top: f64, bottom: f64, stroke: &str) {
    let d = format!(
        "M{} {}V{}M{} {}H{}M{} {}H{}",
        Num(x),
        Num(top),
        Num(bottom),
        Num(x - 4.0),
        Num(top),
        Num(x + 4.0),
        Num(x - 4.0),
        Num(bottom),
        Num(x + 4.0)
    );
    svg.leaf("path", &[("class", &"whisker"), ("d", &d), ("stroke", &stroke), ("fill", &"none")]);
}

fn dash(style: &Style) -> &str {
    if style.dash.is_empty() { "none" } else { style.dash }
}

/// A latency in the unit that reads best, about three significant digits.
fn micros(us: f64) -> String {
    if us >= 1e3 { format!("{}ms", axis::figure(us / 1e3)) } else { format!("{}µs", axis::figure(us)) }
}

fn sorted_unique(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// What a legend entry shows beside its label.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    Line,
    /// A filled square: the colour of a part of a stacked bar.
    Block,
}

/// The series' labels in rows that wrap at the chart's width.
struct Legend<'a> {
    items: Vec<(&'a Style, f64, f64)>,
    height: f64,
    swatch: Swatch,
}

impl<'a> Legend<'a> {
    fn new(styles: impl Iterator<Item = &'a Style>, width: f64, swatch: Swatch) -> Legend<'a> {
        let (mut x, mut y) = (0.0, 0.0);
        let mut items = Vec::new();
        for style in styles {
            let w = 34.0 + style.label.chars().count() as f64 * CHAR_WIDTH + 18.0;
            if x > 0.0 && x + w > width {
                x = 0.0;
                y += LEGEND_ROW;
            }
            items.push((style, x, y));
            x += w;
        }
        let height = if items.is_empty() { 0.0 } else { y + LEGEND_ROW };
        Legend { items, height, swatch }
    }

    fn draw(&self, svg: &mut Svg, left: f64, top: f64) {
        svg.open("g", &[("class", &"legend")]);
        for (style, x, y) in &self.items {
            let (x, y) = (left + x, top + y);
            match self.swatch {
                Swatch::Block => svg.leaf(
                    "rect",
                    &[
                        ("x", &Num(x + 8.0)),
                        ("y", &Num(y)),
                        ("width", &12),
                        ("height", &12),
                        ("fill", &style.colour),
                    ],
                ),
                Swatch::Line => {
                    svg.leaf(
                        "path",
                        &[
                            ("d", &format!("M{} {}h28", Num(x), Num(y + 6.0))),
                            ("stroke", &style.colour),
                            ("stroke-width", &2.5),
                            ("stroke-dasharray", &dash(style)),
                        ],
                    );
                    svg.leaf(
                        "circle",
                        &[
                            ("cx", &Num(x + 14.0)),
                            ("cy", &Num(y + 6.0)),
                            ("r", &3.5),
                            ("fill", &style.colour),
                        ],
                    );
                }
            }
            svg.text("text", &[("x", &Num(x + 34.0)), ("y", &Num(y + 10.0))], &style.label);
        }
        svg.close();
    }
}

/// A bar's figure, centred on `cx` with its baseline at `y`.
fn figure_above(svg: &mut Svg, cx: f64, y: f64, text: &str) {
    svg.text(
        "text",
        &[("x", &Num(cx)), ("y", &Num(y)), ("text-anchor", &"middle"), ("font-size", &11)],
        text,
    );
}

/// `n/a` where a bar would be, above the plot's bottom: nothing measured.
fn not_available(svg: &mut Svg, cx: f64, bottom: f64) {
    svg.text(
        "text",
        &[
            ("x", &Num(cx)),
            ("y", &Num(bottom - 6.0)),
            ("text-anchor", &"middle"),
            ("font-size", &11),
            ("fill", &MUTED),
        ],
        "n/a",
    );
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Parses `markup` as XML and returns its elements' names in document
    /// order; panics (naming the position) if it is not well-formed.
    pub(crate) fn elements(markup: &str) -> Vec<String> {
        use quick_xml::Reader;
        use quick_xml::events::Event;
        let mut reader = Reader::from_str(markup);
        reader.config_mut().check_end_names = true;
        let mut names = Vec::new();
        let mut depth = 0i32;
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    depth += 1;
                    names.push(e.name().0.to_string());
                }
                Ok(Event::Empty(e)) => names.push(e.name().0.to_string()),
                Ok(Event::End(_)) => depth -= 1,
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed at byte {}: {e}\n{markup}", reader.buffer_position()),
            }
        }
        assert_eq!(depth, 0, "unclosed elements in\n{markup}");
        names
    }

    pub(crate) fn style(label: &str, colour: &'static str, dash: &'static str) -> Style {
        Style { label: label.to_string(), colour, dash }
    }

    fn count(markup: &str, needle: &str) -> usize {
        markup.matches(needle).count()
    }

    #[test]
    fn throughput_chart_is_well_formed_with_a_group_per_series() {
        let w = |x, median| Whisker { x, median, min: median * 0.9, max: median * 1.1, n: 3 };
        let series = [
            (style("epoll", "#4e79a7", ""), vec![w(500.0, 120e3), w(50.0, 110e3)]),
            (style("thread-pool <&> (a.csv)", "#f28e2b", "7 4"), vec![w(50.0, 17e3), w(500.0, 5e3)]),
        ];
        let markup = throughput("t-http", "http: throughput", &series);
        let names = elements(&markup);
        assert_eq!(names[0], "svg");
        assert_eq!(count(&markup, r#"class="series""#), 2);
        assert_eq!(count(&markup, r#"class="line""#), 2);
        assert_eq!(count(&markup, r#"class="whisker""#), 4);
        assert_eq!(count(&markup, r#"class="point""#), 4);
        assert!(markup.contains(r#"data-series="thread-pool &lt;&amp;&gt; (a.csv)""#), "{markup}");
        assert!(markup.contains(r#"stroke-dasharray="7 4""#));
        // 50 and 500 span a factor of ten: a log axis ticked at both.
        assert!(markup.contains(">50</text>") && markup.contains(">500</text>"), "{markup}");
        assert!(markup.contains(">100k</text>"), "{markup}");
    }

    #[test]
    fn spectrum_chart_has_every_percentile_on_a_log_latency_axis() {
        let series = [
            (style("epoll", "#4e79a7", ""), [3000.0, 4000.0, 8000.0, 9000.0, 12000.0, 12500.0]),
            (style("io-uring", "#e15759", ""), [2000.0, 2500.0, 5000.0, 9000.0, 15000.0, 20000.0]),
        ];
        let markup = spectrum("lat-http-c50", "http c=50: latency", &series);
        elements(&markup);
        assert_eq!(count(&markup, r#"class="series""#), 2);
        assert_eq!(count(&markup, r#"class="point""#), 12);
        for label in ["50%", "90%", "99%", "99.9%", "99.99%", "max", "2ms", "5ms", "10ms", "20ms"] {
            assert!(markup.contains(&format!(">{label}</text>")), "no tick {label} in {markup}");
        }
    }

    #[test]
    fn syscall_chart_stacks_each_call_in_one_colour_and_marks_uncounted_series() {
        let calls = |parts: &[(&str, f64)]| Calls {
            parts: parts.iter().map(|&(n, v)| (n.to_string(), v)).collect(),
            n: 3,
        };
        let series = [
            (
                style("epoll", "#111", ""),
                Some(calls(&[("read", 1.0), ("write", 1.0), ("epoll_pwait2", 0.03)])),
            ),
            (style("io-uring", "#222", ""), Some(calls(&[("io_uring_enter", 0.05)]))),
            (
                style("thread-pool", "#333", ""),
                Some(calls(&[("recvfrom", 1.0), ("sendto", 1.0), ("write", 0.001), ("other", 0.01)])),
            ),
            (style("nginx", "#444", ""), None),
        ];
        let markup = syscalls("calls-http-c50", "http c=50: system calls per request", &series);
        elements(&markup);
        assert_eq!(count(&markup, "class=\"bar\""), 8, "{markup}");
        assert_eq!(count(&markup, "data-series="), 4);
        assert!(markup.contains(">n/a<"), "{markup}");
        // write is one colour in both bars that have it, other is grey.
        let fill = |tip: &str| {
            let at = markup.find(tip).unwrap();
            let start = markup[..at].rfind("fill=\"").unwrap() + 6;
            markup[start..start + 7].to_string()
        };
        assert_eq!(fill("epoll: write"), fill("thread-pool: write"));
        assert_eq!(fill("thread-pool: other"), OTHER_CALLS);
        assert!(markup.contains(">2.03<"), "the total on top: {markup}");
    }

    #[test]
    fn cost_chart_stacks_two_parts_and_marks_unmeasured_series() {
        let c = Costs {
            cpu: Stack { lower: 3.0, upper: 12.0 },
            switches: Stack { lower: 0.95, upper: 0.2 },
            n: 3,
        };
        let series = [(style("thread-pool", "#f28e2b", ""), Some(c)), (style("epoll", "#4e79a7", ""), None)];
        let markup = costs("cost-http-c50", "http c=50: server cost", &series);
        elements(&markup);
        // Two panels, each with a group per series.
        assert_eq!(count(&markup, r#"class="series""#), 4);
        assert_eq!(count(&markup, r#"class="bar""#), 4);
        assert_eq!(count(&markup, ">n/a</text>"), 2);
        assert!(markup.contains(">15</text>") && markup.contains(">1.15</text>"), "{markup}");
    }

    fn point(offered: f64, achieved: f64, latency: f64) -> CurvePoint {
        CurvePoint {
            offered,
            achieved,
            latency,
            kept_up: achieved >= 0.99 * offered,
            what: "run, repetition 1".into(),
        }
    }

    /// The y positions of the labelled ticks in `markup`'s y axis, by label.
    fn y_ticks(markup: &str) -> Vec<(String, f64)> {
        let axis = &markup[markup.find(r#"<g class="y-axis">"#).unwrap()..];
        let axis = &axis[..axis.find("</g>").unwrap()];
        axis.split("<text ")
            .skip(1)
            .filter(|t| t.contains(r#"text-anchor="end""#))
            .map(|t| {
                let y = t.split("y=\"").nth(1).unwrap().split('"').next().unwrap().parse::<f64>().unwrap();
                let label = t.split('>').nth(1).unwrap().trim_end_matches("</text").to_string();
                (label, y)
            })
            .collect()
    }

    #[test]
    fn curve_has_a_log_latency_axis_an_objective_and_hollow_runs_that_did_not_keep_up() {
        let epoll = Curve {
            style: style("epoll", "#4e79a7", ""),
            line: vec![(25e3, 250.0), (50e3, 300.0), (100e3, 900.0), (150e3, 40_000.0)],
            points: vec![
                point(25e3, 25e3, 250.0),
                point(50e3, 50e3, 300.0),
                point(100e3, 100e3, 900.0),
                point(200e3, 150e3, 40_000.0),
            ],
        };
        let pool = Curve {
            style: style("thread-pool <&>", "#f28e2b", "7 4"),
            line: vec![(25e3, 280.0), (48e3, 180_000.0)],
            points: vec![point(25e3, 25e3, 280.0), point(50e3, 48e3, 180_000.0)],
        };
        let objective = Objective { label: "p99 ≤ 1ms".into(), bound_us: 1000.0 };
        let markup =
            curve("curve-http", "http c=50: p99 against throughput", "p99", &[epoll, pool], &[objective]);
        let names = elements(&markup);
        assert_eq!(names[0], "svg");
        assert_eq!(count(&markup, r#"class="series""#), 2);
        assert_eq!(count(&markup, r#"class="line""#), 2);
        assert!(markup.contains(r#"data-series="thread-pool &lt;&amp;&gt;""#), "{markup}");
        // Every run a marker; the two that fell short (achieved under 99%
        // of offered) hollow, the rest filled.
        assert_eq!(count(&markup, r#"class="point""#), 4);
        assert_eq!(count(&markup, r#"class="point hollow""#), 2);
        assert!(markup.contains(
            "epoll: offered 200,000 req/s, achieved 150,000 req/s (75.0%), p99 40ms; did not keep up"
        ));
        assert!(markup.contains(
            "epoll: offered 25,000 req/s, achieved 25,000 req/s (100.0%), p99 250µs (run, repetition 1)"
        ));
        // The objective: a dashed line and its label.
        assert_eq!(count(&markup, r#"class="objective""#), 1);
        assert_eq!(count(&markup, ">objective: p99 ≤ 1ms</text>"), 1);
        assert!(markup.contains(&format!(r#"stroke-dasharray="{OBJECTIVE_DASH}""#)));
        assert!(markup.contains(">hollow: did not keep up (achieved below 99% of offered)</text>"));
        // 180 µs to 180 ms spans four decades: ticks at the powers of ten,
        // evenly spaced from the bottom up.
        let ticks = y_ticks(&markup);
        let labels: Vec<&str> = ticks.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["100µs", "1ms", "10ms", "100ms", "1s"]);
        let gaps: Vec<f64> = ticks.windows(2).map(|w| w[0].1 - w[1].1).collect();
        assert!(gaps.iter().all(|g| (g - gaps[0]).abs() < 0.02 && *g > 0.0), "{gaps:?}");
        // The x axis: achieved throughput from 0.
        assert!(markup.contains(">0</text>") && markup.contains(">160k</text>"), "{markup}");
        assert!(markup.contains(">achieved throughput (requests per second)</text>"));
        assert!(markup.contains(">p99 latency (log scale)</text>"));
    }

    #[test]
    fn curve_without_an_objective_says_nothing_of_one() {
        let one = Curve {
            style: style("epoll", "#4e79a7", ""),
            line: vec![(25e3, 250.0), (50e3, 300.0)],
            points: vec![point(25e3, 25e3, 250.0), point(50e3, 50e3, 300.0)],
        };
        let markup = curve("c", "grid", "p99", &[one], &[]);
        elements(&markup);
        assert_eq!(count(&markup, r#"class="objective""#), 0);
        assert!(!markup.contains("latency objective"));
        assert_eq!(count(&markup, r#"class="point hollow""#), 0);
    }

    #[test]
    fn capacity_bars_have_whiskers_and_say_none_found() {
        let found = |median: f64, n| Capacities {
            found: Some(Whisker { x: 0.0, median, min: median * 0.8, max: median * 1.1, n }),
            searches: 2,
            unconverged: 0,
        };
        let series = [
            (style("epoll", "#4e79a7", ""), found(160e3, 2)),
            (style("io-uring", "#e15759", ""), found(200e3, 1)),
            (style("thread-pool", "#f28e2b", ""), Capacities { found: None, searches: 2, unconverged: 1 }),
        ];
        let markup = capacity("capacity-http", "http c=50: capacity under p99 ≤ 1ms", &series);
        elements(&markup);
        assert_eq!(count(&markup, r#"class="series""#), 3);
        assert_eq!(count(&markup, r#"class="bar""#), 2);
        assert_eq!(count(&markup, r#"class="whisker""#), 2);
        assert_eq!(count(&markup, "none found</text>"), 1);
        assert!(markup.contains(">160,000</text>") && markup.contains(">200,000</text>"), "{markup}");
        assert!(markup.contains(
            "epoll: 160,000 req/s, the median of 2 capacities found (min 128,000, max 176,000)</title>"
        ));
        assert!(markup.contains("io-uring: 200,000 req/s, the median of 1 capacities found (min 160,000, max 220,000); none found in 1 of 2 searches</title>"), "{markup}");
        assert!(markup.contains("thread-pool: no capacity found in 2 searches (1 did not converge)</title>"));
        assert!(markup.contains(">200k</text>"), "{markup}");
    }

    #[test]
    fn charts_without_data_are_still_documents() {
        elements(&throughput("a", "empty", &[]));
        elements(&spectrum("b", "empty", &[]));
        elements(&costs("c", "empty", &[]));
        elements(&curve("e", "empty", "p99", &[], &[]));
        elements(&capacity("f", "empty", &[]));
        let single =
            [(style("x", "#000", ""), vec![Whisker { x: 50.0, median: 0.0, min: 0.0, max: 0.0, n: 1 }])];
        let markup = throughput("d", "one point", &single);
        assert!(!markup.contains("NaN"), "{markup}");
    }
}

//! The report's HTML page: the charts inlined, each linked to its SVG
//! file, and the environment the runs came from as tables.
//!
//! The page is one file that needs nothing else: no script, no stylesheet,
//! font or image from anywhere (the charts are inline SVG, the style is in
//! the page). Every text from a CSV goes through [`escape`].

use std::fmt::Write;

use super::axis::figure;
use super::chart::Style;
use super::svg::escape;
use super::{Chart, Input, MARK, MARK_FILES, Report};
use crate::Row;
use crate::workload::Workload;

const STYLE: &str = "
body { font-family: sans-serif; color: #222; margin: 24px auto; max-width: 1120px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 36px; }
nav a { margin-right: 16px; }
figure { margin: 16px 0; display: inline-block; vertical-align: top; }
figure svg { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { font-size: 13px; color: #555; max-width: 540px; }
figure.wide figcaption { max-width: 1100px; }
.notes li { color: #8a4b00; }
.key span { display: inline-block; margin-right: 18px; white-space: nowrap; }
.key svg { vertical-align: middle; margin-right: 4px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 13px; }
";

/// The whole page.
pub(super) fn html(report: &Report) -> String {
    let mut h = String::new();
    let files: Vec<&str> = report.charts().map(|c| c.file.as_str()).collect();
    let sources: Vec<String> =
        report.inputs.iter().map(|i| format!("<code>{}</code>", escape(&i.label))).collect();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ringside-results report\">\n\
         <meta name=\"{MARK}\" content=\"1\">\n<meta name=\"{MARK_FILES}\" content=\"{}\">\n\
         <title>ringside report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>ringside report</h1>\n",
        escape(&files.join(" ")),
        escape(&report.inputs.iter().map(|i| i.label.as_str()).collect::<Vec<_>>().join(", ")),
    );
    h.push_str("<p>From ");
    for (k, (i, source)) in report.inputs.iter().zip(&sources).enumerate() {
        if k > 0 {
            h.push_str(if k + 1 == report.inputs.len() { " and " } else { ", " });
        }
        let _ = write!(h, "{source} ({} rows, {} complete)", i.rows, i.complete);
    }
    h.push_str(". Each figure is the median over the repetitions of a configuration");
    if !report.curves.is_empty() {
        h.push_str(" (the latency–throughput curves also draw every run as a point)");
    }
    h.push_str("; only complete runs are charted.");
    if report.inputs.len() > 1 {
        h.push_str(" Series from several files are labelled <em>backend (file)</em>: a backend has one colour throughout, each file its own line dash.");
    }
    h.push_str("</p>\n");
    if !report.notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for note in &report.notes {
            let _ = writeln!(h, "<li>{}.</li>", escape(note));
        }
        h.push_str("</ul>\n");
    }
    key(&mut h, &report.key);
    // The chart sections that have charts, numbered in order, then the
    // environment.
    let sections: [(&str, &str, &str, &[Chart], bool); 6] = [
        (
            "throughput",
            "Throughput against connections",
            "Requests per second the load generator completed in each run's measured window.",
            &report.throughput,
            true,
        ),
        (
            "curve",
            "Latency against throughput",
            "Open loop: the load generator offers requests on a schedule (the offered rate) whether or not the \
             server keeps up, and counts the answers that arrive in the measured window (the achieved rate). \
             Each point is one run at one offered rate, placed at the throughput the server achieved and the \
             latency its requests saw, measured from when each was due to leave, so waiting to be sent counts. \
             While a server keeps up, achieved equals offered and its latency rises slowly with the load; once \
             it falls behind, achieved stays short of offered (hollow points) and latency grows by orders of \
             magnitude, hence the log scale. Where a latency objective was set, the dashed line is its bound: \
             a backend's capacity is the highest load it keeps up with below that line.",
            &report.curves,
            true,
        ),
        (
            "capacity",
            "Capacity under a latency objective",
            "What each backend's capacity searches found: the highest offered rate it kept up with (achieved \
             at least 99% of offered) while its latency met the objective.",
            &report.capacity,
            false,
        ),
        (
            "latency",
            "Latency by percentile",
            "Each run's latency percentiles, measured from when each request was due to leave, as HdrHistogram \
             plots them: each step right is one more nine (90%, 99%, 99.9%…), the maximum last; latency on a log \
             scale.",
            &report.latency,
            false,
        ),
        (
            "cost",
            "Server cost per request",
            "The server process's CPU time and context switches over the window, divided by the requests it served.",
            &report.costs,
            true,
        ),
        (
            "syscalls",
            "Server system calls per request",
            "The server's system calls over the window by name, divided by the answers received in it: what \
             each design asks of the kernel per request.",
            &report.syscalls,
            false,
        ),
    ];
    let shown: Vec<_> = sections.iter().filter(|s| !s.3.is_empty()).collect();
    h.push_str("<nav>");
    for (n, (id, title, ..)) in shown.iter().enumerate() {
        let _ = write!(h, "<a href=\"#{id}\">{}. {}</a>", n + 1, escape(title));
    }
    let _ = writeln!(h, "<a href=\"#environment\">{}. Environment</a></nav>", shown.len() + 1);
    for (n, (id, title, intro, charts, wide)) in shown.iter().enumerate() {
        section(&mut h, id, &format!("{}. {title}", n + 1), intro, charts, *wide);
    }
    let _ = writeln!(h, "<section id=\"environment\">\n<h2>{}. Environment</h2>", shown.len() + 1);
    h.push_str(&report.environment);
    h.push_str("</section>\n</body>\n</html>\n");
    h
}

/// The series' colours and dashes, once for the whole page.
fn key(h: &mut String, key: &[Style]) {
    h.push_str("<p class=\"key\">");
    for s in key {
        let dash = if s.dash.is_empty() { "none" } else { s.dash };
        let _ = write!(
            h,
            "<span><svg class=\"swatch\" width=\"30\" height=\"10\" aria-hidden=\"true\"><path d=\"M1 5h28\" \
             stroke=\"{}\" stroke-width=\"3\" stroke-dasharray=\"{}\"/></svg>{}</span>",
            s.colour,
            dash,
            escape(&s.label)
        );
    }
    h.push_str("</p>\n");
}

fn section(h: &mut String, id: &str, title: &str, intro: &str, charts: &[Chart], wide: bool) {
    let _ = write!(h, "<section id=\"{id}\">\n<h2>{}</h2>\n<p>{}</p>\n", escape(title), escape(intro));
    for c in charts {
        let _ = writeln!(
            h,
            "<figure id=\"fig-{}\" aria-label=\"{}\"{}>\n{}\n<figcaption>{} <a href=\"{}\">{}</a></figcaption>\n</figure>",
            escape(c.id()),
            escape(&c.title),
            if wide { " class=\"wide\"" } else { "" },
            c.svg,
            escape(&c.caption),
            escape(&c.file),
            escape(&c.file),
        );
    }
    h.push_str("</section>\n");
}

/// The files a page of ours lists as its charts (empty if it lists none).
pub(super) fn listed_files(html: &str) -> Vec<String> {
    let start = format!("<meta name=\"{MARK_FILES}\" content=\"");
    html.find(&start)
        .and_then(|i| {
            let rest = &html[i + start.len()..];
            rest.find('"').map(|end| rest[..end].split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// The environment section's tables: the runs (where, what, when and the
/// context-switch calibration), the incomplete rows and the notes of the
/// complete ones. Each table in its own step, all written by one
/// [`Tables`].
pub(super) fn environment(inputs: &[Input], file_labels: &[String]) -> String {
    let t = Tables { file_labels, many: inputs.len() > 1 };
    let mut h = String::new();
    t.runs(&mut h, inputs);
    let all = || inputs.iter().enumerate().flat_map(|(f, i)| i.rows.iter().map(move |r| (f, r)));
    t.incomplete(&mut h, &all().filter(|(_, r)| !r.complete).collect::<Vec<_>>());
    // Complete runs can still have broken connections (a timeout breaks its
    // connection) or connections never answered (a thread pool's queue):
    // the charts' medians do not show them, so the page lists them.
    let troubled: Vec<(usize, &Row)> =
        all().filter(|(_, r)| r.complete && (errors(r) > 0 || r.conns_unanswered > 0)).collect();
    t.troubled(&mut h, &troubled);
    t.noted(&mut h, &all().filter(|(_, r)| r.complete && !r.note.is_empty()).collect::<Vec<_>>());
    h
}

/// A row's errors, of every kind.
fn errors(r: &Row) -> u64 {
    r.errors_total()
}

/// Writes the environment's tables; with several inputs, each table's
/// first column names the file.
struct Tables<'a> {
    file_labels: &'a [String],
    many: bool,
}

impl Tables<'_> {
    /// `<table>`, the header row opened, the file's column if there are
    /// several files.
    fn open(&self, h: &mut String) {
        h.push_str("<table>\n<tr>");
        if self.many {
            h.push_str("<th>file</th>");
        }
    }

    /// A row opened, with its file's cell if there are several files.
    fn row(&self, h: &mut String, f: usize) {
        h.push_str("<tr>");
        if self.many {
            cell(h, &self.file_labels[f]);
        }
    }

    /// One line per run id of each file, in order of first appearance.
    fn runs(&self, h: &mut String, inputs: &[Input]) {
        let mut runs: Vec<(usize, &str, Vec<&Row>)> = Vec::new();
        for (f, input) in inputs.iter().enumerate() {
            for row in &input.rows {
                match runs.iter_mut().find(|(rf, id, _)| *rf == f && *id == row.run_id) {
                    Some((_, _, rows)) => rows.push(row),
                    None => runs.push((f, &row.run_id, vec![row])),
                }
            }
        }
        h.push_str("<h3>Runs</h3>\n");
        self.open(h);
        for head in [
            "run id",
            "host",
            "kernel",
            "CPU model",
            "git revision",
            "server cores",
            "client cores",
            "first window",
            "last window",
            "context switch, same CPU (ns)",
            "context switch, across CPUs (ns)",
            "rows",
            "complete",
        ] {
            let _ = write!(h, "<th>{head}</th>");
        }
        h.push_str("</tr>\n");
        for (f, id, rows) in &runs {
            self.row(h, *f);
            cell(h, id);
            let fields: [fn(&Row) -> &str; 6] = [
                |r| &r.host,
                |r| &r.kernel,
                |r| &r.cpu_model,
                |r| &r.git_rev,
                |r| &r.server_cores,
                |r| &r.client_cores,
            ];
            for field in fields {
                cell(h, &distinct(rows.iter().map(|r| field(r))));
            }
            let first = rows.iter().map(|r| r.timestamp.as_str()).min().unwrap_or("");
            let last = rows.iter().map(|r| r.timestamp.as_str()).max().unwrap_or("");
            cell(h, first);
            cell(h, last);
            for ns in [|r: &Row| r.ctxsw_same_cpu_ns, |r: &Row| r.ctxsw_cross_cpu_ns] {
                let measured: Vec<f64> = rows.iter().map(|r| ns(r)).filter(|v| *v > 0.0).collect();
                match super::median(&measured) {
                    Some(m) => num(h, &figure(m)),
                    None => cell(h, "not measured"),
                }
            }
            num(h, &rows.len().to_string());
            num(h, &rows.iter().filter(|r| r.complete).count().to_string());
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }

    /// Rows listed with their notes: incomplete ones with how long their
    /// window ran, complete ones with whether their server figures were
    /// measured.
    fn listed(&self, h: &mut String, rows: &[(usize, &Row)], incomplete: bool) {
        let extra = if incomplete { "<th>window</th>" } else { "<th>server figures</th>" };
        self.open(h);
        let _ = writeln!(
            h,
            "<th>run id</th><th>repetition</th><th>backend</th><th>workload</th>{extra}<th>note</th></tr>"
        );
        for (f, r) in rows {
            self.row(h, *f);
            cell(h, &r.run_id);
            num(h, &r.repetition.to_string());
            cell(h, &r.backend);
            cell(h, &Workload::of(r).without_backend().short());
            if incomplete {
                let _ = write!(h, "<td class=\"num\">{} s</td>", figure(r.duration_s));
            } else if r.phase == crate::Phase::Count {
                cell(h, "counting run (only its system calls charted)");
            } else {
                let measured = r.server_cpu_user_us + r.server_cpu_sys_us > 0.0;
                cell(h, if measured { "measured" } else { "not measured (left out)" });
            }
            cell(h, &r.note);
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }

    /// The incomplete rows, or a line saying there are none.
    fn incomplete(&self, h: &mut String, incomplete: &[(usize, &Row)]) {
        h.push_str("<h3>Incomplete rows</h3>\n");
        if incomplete.is_empty() {
            h.push_str("<p>None: every run completed.</p>\n");
        } else {
            let _ = writeln!(
                h,
                "<p>{} cut short and left out of every chart.</p>",
                super::count(incomplete.len(), "run was", "runs were")
            );
            self.listed(h, incomplete, true);
        }
    }

    /// Complete runs with errors or unanswered connections, or a line
    /// saying there are none.
    fn troubled(&self, h: &mut String, troubled: &[(usize, &Row)]) {
        h.push_str("<h3>Complete runs with errors or unanswered connections</h3>\n");
        if troubled.is_empty() {
            h.push_str("<p>None: every complete run answered every connection, without errors.</p>\n");
            return;
        }
        self.open(h);
        h.push_str(
            "<th>run id</th><th>repetition</th><th>backend</th><th>workload</th><th>connect</th>\
             <th>reset</th><th>timeout</th><th>bad response</th><th>http 3xx/4xx/5xx</th>\
             <th>connections never answered</th></tr>\n",
        );
        for (f, r) in troubled {
            self.row(h, *f);
            cell(h, &r.run_id);
            num(h, &r.repetition.to_string());
            cell(h, &r.backend);
            cell(h, &Workload::of(r).without_backend().short());
            for n in [r.errors_connect, r.errors_reset, r.errors_timeout, r.errors_bad_response] {
                num(h, &n.to_string());
            }
            num(h, &format!("{}/{}/{}", r.errors_http_3xx, r.errors_http_4xx, r.errors_http_5xx));
            num(h, &format!("{} of {}", r.conns_unanswered, r.connections));
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }

    /// Complete rows that carry a note, folded away; or "None."
    fn noted(&self, h: &mut String, noted: &[(usize, &Row)]) {
        h.push_str("<h3>Notes on complete rows</h3>\n");
        if noted.is_empty() {
            h.push_str("<p>None.</p>\n");
        } else {
            let _ = writeln!(
                h,
                "<details><summary>{} a note (a warning about a figure)</summary>",
                super::count(noted.len(), "complete run carries", "complete runs carry")
            );
            self.listed(h, noted, false);
            h.push_str("</details>\n");
        }
    }
}

fn cell(h: &mut String, text: &str) {
    let _ = write!(h, "<td>{}</td>", escape(text));
}

fn num(h: &mut String, text: &str) {
    let _ = write!(h, "<td class=\"num\">{}</td>", escape(text));
}

/// The distinct values, in order of first appearance, joined by commas;
/// `–` if all are empty.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !v.is_empty() && !seen.contains(&v) {
            seen.push(v);
        }
    }
    if seen.is_empty() { "–".to_string() } else { seen.join(", ") }
}

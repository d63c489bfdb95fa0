//! Results files on disk: appending a row, checking a file before a run,
//! reading rows back.
//!
//! A results file is CSV: one header line ([`COLUMNS`]), then one line per
//! row (a cell with a newline in it, such as a multi-line `note`, is quoted
//! and spans lines). Appending builds the whole row first and hands it to
//! the kernel in one `write_all` on a file opened with `O_APPEND`, so a
//! crash cannot leave half a row, and concurrent appenders do not
//! interleave. Nothing here ever truncates or rewrites a file. Two writers
//! creating the same new file at the same moment could both write a header;
//! give each invocation its own file or run them one after another.
//!
//! Files of schema 2 (the layout before [`SCHEMA_VERSION`] 3) are still
//! read, each row mapped into a [`Row`] as its doc says; rows are never
//! appended to them, since a file holds one layout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use csv::{ByteRecord, ReaderBuilder, StringRecord, WriterBuilder};
use protocol::Protocol;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Arrival, COLUMNS, COLUMNS_V2, Error, Mode, Phase, Row, SCHEMA_VERSION};

/// A header line longer than this is not ours (ours is about 700 bytes).
const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// Append `row` to the results file at `path`, creating the file (with the
/// header) if it does not exist, and writing the header first if it is
/// empty.
///
/// Refuses, without writing anything, a file whose header is not this
/// schema's (a schema-2 file included: new rows need a new file), or whose
/// last line is incomplete. The `schema` column is
/// always written as [`SCHEMA_VERSION`]. A non-finite number (NaN,
/// infinity) is written as 0 and named in `note`, so the file holds only
/// numbers a reader can use and the run is not lost.
pub fn append(path: &Path, row: &Row) -> Result<(), Error> {
    let mut row = row.clone();
    row.schema = SCHEMA_VERSION;
    replace_non_finite(&mut row);

    let file = open_for_append(path, true)?;
    let empty = check_existing(path, &file)?;

    let mut bytes = Vec::new();
    {
        let mut writer = WriterBuilder::new().has_headers(false).from_writer(&mut bytes);
        // Writing plain strings and numbers into a Vec cannot fail: csv
        // errors come only from the underlying writer or from serialising
        // maps and nested structures, which Row does not have.
        if empty {
            writer.write_record(COLUMNS).expect("CSV header into a Vec");
        }
        writer.serialize(&row).expect("CSV row into a Vec");
        writer.flush().expect("flush into a Vec");
    }
    (&file).write_all(&bytes).map_err(|e| io_error(path, "append to", e))?;
    // One fsync per run: the row outlives a power cut, not just a crash.
    file.sync_data().map_err(|e| io_error(path, "sync", e))
}

/// Check, before a run, that [`append`] will be able to write its row to
/// `path`: the directory exists; if the file exists, it can be opened for
/// appending, has this schema's header (not schema 2's) and ends with a
/// complete line; if it
/// does not, a file can be created in the directory (checked by creating
/// and removing a hidden probe file). Creates nothing else and changes no
/// file.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::NotAFile { path: path.to_path_buf() });
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        return Err(Error::NoDirectory { dir });
    }
    if path.exists() {
        let file = open_for_append(path, false)?;
        check_existing(path, &file)?;
        return Ok(());
    }

    static PROBES: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map_or_else(|| "results".into(), |n| n.to_string_lossy());
    let probe = dir.join(format!(
        ".{name}.ringside-probe.{}.{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::Relaxed)
    ));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|source| Error::DirectoryNotWritable { dir: dir.clone(), source })?;
    fs::remove_file(&probe).map_err(|e| io_error(&probe, "remove the probe file", e))
}

/// Every row of the results file at `path`, in file order. A file with only
/// the header has none. The header must be this schema's or schema 2's,
/// every row must have every column of it, with a value of the column's
/// type (numbers finite), and `schema` must be the header's version. Rows of
/// a schema-2 file come back with `schema` 2 and the newer columns filled
/// as [`Row`]'s doc says.
pub fn read(path: &Path) -> Result<Vec<Row>, Error> {
    if path.is_dir() {
        return Err(Error::NotAFile { path: path.to_path_buf() });
    }
    let bytes = fs::read(path).map_err(|e| io_error(path, "read", e))?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Err(Error::PartialLastLine { path: path.to_path_buf() });
    }
    // Flexible, so a row with the wrong number of cells reaches `parse_row`,
    // which names the missing column.
    let mut reader = ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&bytes[..]);
    let mut records = reader.byte_records();
    let Some(layout) = check_header(path, &mut records)? else {
        return Err(Error::Empty { path: path.to_path_buf() });
    };
    records.map(|record| parse_row(path, layout, record.map_err(|e| csv_error(path, e))?)).collect()
}

/// Every row of every file, in the order given; stops at the first error.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for path in paths {
        rows.extend(read(path)?);
    }
    Ok(rows)
}

/// How each results file is named in tables and charts: its file name, or,
/// where two files share it, as many of the path's last components as tell
/// them apart (`base/a.csv`, `new/a.csv`).
pub fn labels(paths: &[&Path]) -> Vec<String> {
    let tail = |p: &Path, k: usize| {
        let parts: Vec<String> =
            p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        parts[parts.len().saturating_sub(k)..].join("/")
    };
    let deepest = paths.iter().map(|p| p.components().count()).max().unwrap_or(1);
    paths
        .iter()
        .map(|path| {
            let others: Vec<&Path> = paths.iter().copied().filter(|p| p != path).collect();
            (1..=deepest)
                .map(|k| tail(path, k))
                .find(|label| others.iter().all(|o| tail(o, label.matches('/').count() + 1) != *label))
                .unwrap_or_else(|| path.display().to_string())
        })
        .collect()
}

/// The column layouts a file can have: this schema's, or schema 2's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Current,
    V2,
}

impl Layout {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Current => &COLUMNS,
            Layout::V2 => &COLUMNS_V2,
        }
    }

    fn version(self) -> u32 {
        match self {
            Layout::Current => SCHEMA_VERSION,
            Layout::V2 => 2,
        }
    }
}

/// One data row of a file of `layout`, checked cell by cell.
fn parse_row(path: &Path, layout: Layout, record: ByteRecord) -> Result<Row, Error> {
    let line = record.position().map_or(0, |p| p.line());
    let malformed = |column: &str, problem: String| Error::Malformed {
        path: path.to_path_buf(),
        line,
        column: column.to_string(),
        problem,
    };
    let columns = layout.columns();
    let cells = record.len();
    if cells < columns.len() {
        let problem = format!("missing: the row has {cells} cells, the header {}", columns.len());
        return Err(malformed(columns[cells], problem));
    }
    if cells > columns.len() {
        let problem = format!("the row has {cells} cells, the header only {}", columns.len());
        return Err(malformed(&format!("cell {}", columns.len() + 1), problem));
    }
    let record = StringRecord::from_byte_record(record).map_err(|e| {
        let at = e.utf8_error().field();
        malformed(columns[at.min(columns.len() - 1)], "not UTF-8 text".into())
    })?;

    // `schema` first: in a row of another version, the other cells may mean
    // something else, and their errors would mislead.
    match record[0].parse::<u32>() {
        Ok(v) if v == layout.version() => {}
        Ok(_) => {
            return Err(Error::UnknownSchema { path: path.to_path_buf(), line, found: record[0].into() });
        }
        Err(_) => return Err(malformed("schema", format!("`{}` is not a schema version", &record[0]))),
    }

    for (column, check) in CHOICES {
        // A column the layout lacks (`phase` in schema 2) is filled below.
        let Some(at) = columns.iter().position(|c| *c == column) else { continue };
        if let Some(problem) = check(&record[at]) {
            return Err(malformed(column, format!("cannot read `{}`: {problem}", &record[at])));
        }
    }
    let record = match layout {
        Layout::Current => record,
        Layout::V2 => upgrade_v2(&record),
    };
    let mut row: Row = record.deserialize(None).map_err(|e| match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let at = err.field().and_then(|f| usize::try_from(f).ok()).filter(|&f| f < COLUMNS.len());
            let column = at.map_or("?", |f| COLUMNS[f]);
            let cell = at.and_then(|f| record.get(f)).unwrap_or("");
            malformed(column, format!("cannot read `{cell}`: {}", err.kind()))
        }
        other => malformed("?", format!("{other:?}")),
    })?;
    for (column, value) in row.floats_mut() {
        if !value.is_finite() {
            let problem = format!(
                "`{value}` is not a finite number (an unmeasured value is written as 0, with a note)"
            );
            return Err(malformed(column, problem));
        }
    }
    for (column, value) in row.optional_floats_mut() {
        if let Some(v) = value.filter(|v| !v.is_finite()) {
            return Err(malformed(
                column,
                format!("`{v}` is not a finite number (an unmeasured one is empty)"),
            ));
        }
    }
    for (column, cell) in [
        ("server_syscalls_by_name", &row.server_syscalls_by_name),
        ("client_syscalls_by_name", &row.client_syscalls_by_name),
    ] {
        crate::syscalls::parse(cell)
            .map_err(|problem| malformed(column, format!("cannot read it: {problem}")))?;
    }
    // Files written before the totals could be empty held 0 beside an
    // empty breakdown for calls not counted: not a count, so empty.
    if row.server_syscalls_by_name.is_empty() {
        row.server_syscalls = None;
    }
    if row.client_syscalls_by_name.is_empty() {
        row.client_syscalls = None;
    }
    Ok(row)
}

/// A schema-2 row's cells (already checked: the right count, UTF-8, a
/// valid `mode`) as a schema-3 row's, the added columns filled as a
/// schema-2 run would have had them (see [`Row`]). The cells keep their
/// positions in the sense that every column of schema 2 keeps its name, so
/// errors found after this still name the right column.
fn upgrade_v2(v2: &StringRecord) -> StringRecord {
    let cell = |column: &str| {
        let at = COLUMNS_V2.iter().position(|c| *c == column).expect("a schema-2 column");
        &v2[at]
    };
    let open = cell("mode") == "open";
    COLUMNS
        .iter()
        .map(|&column| match column {
            "phase" => "run",
            "slo" => "",
            "offered_rate" | "sent_rate" if open => cell("target_rate"),
            "offered_rate" | "sent_rate" => cell("achieved_rate"),
            "answered_late" | "errors_http_3xx" | "errors_http_4xx" | "errors_http_5xx" | "reconnects" => "0",
            "drain_s" | "send_lag_p50_us" | "send_lag_p99_us" | "send_lag_max_us" => "0",
            // Not measured then: 0 and an empty breakdown.
            "server_syscalls" | "client_syscalls" => "0",
            "server_syscalls_by_name" | "client_syscalls_by_name" => "",
            other => cell(other),
        })
        .collect()
}

/// The columns with a fixed set of values, checked one cell at a time before
/// the whole row: serde reports a value outside the set as a message, to
/// which csv attaches no column, and the error must name one. (A test checks
/// that every column of a type other than a number, a boolean or text is
/// here.)
const CHOICES: [(&str, CellCheck); 4] = [
    ("phase", check_cell::<Phase>),
    ("protocol", check_cell::<ProtocolCell>),
    ("mode", check_cell::<Mode>),
    ("arrival", check_cell::<Arrival>),
];

/// Why a cell is not a valid value of its column, if it is not.
type CellCheck = fn(&str) -> Option<String>;

/// A protocol cell, deserialized the way [`Row`] deserializes it.
#[derive(Deserialize)]
#[expect(dead_code, reason = "only deserialized, to check the cell")]
struct ProtocolCell(#[serde(with = "crate::row::protocol_name")] Protocol);

/// Why `cell` is not a `T`, if it is not.
fn check_cell<T: DeserializeOwned>(cell: &str) -> Option<String> {
    let record = StringRecord::from(vec![cell]);
    match record.deserialize::<T>(None) {
        Ok(_) => None,
        Err(e) => Some(match e.kind() {
            csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
            other => format!("{other:?}"),
        }),
    }
}

/// Open `path` for reading and appending (reads start at offset 0; writes
/// always go to the end), creating it only if `create`.
fn open_for_append(path: &Path, create: bool) -> Result<File, Error> {
    if path.is_dir() {
        return Err(Error::NotAFile { path: path.to_path_buf() });
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        return Err(Error::NoDirectory { dir });
    }
    let existed = path.exists();
    OpenOptions::new().read(true).append(true).create(create).open(path).map_err(|source| {
        match source.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem if existed => {
                Error::FileNotWritable { path: path.to_path_buf(), source }
            }
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                Error::DirectoryNotWritable { dir, source }
            }
            _ => io_error(path, "open", source),
        }
    })
}

/// Check a results file that is open for appending: `Ok(true)` if it is
/// empty (the header is yet to be written), `Ok(false)` if it has this
/// schema's header and ends with a complete line. A schema-2 file is
/// refused: it can be read, not appended to.
fn check_existing(path: &Path, file: &File) -> Result<bool, Error> {
    let len = file.metadata().map_err(|e| io_error(path, "inspect", e))?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8];
    file.read_exact_at(&mut last, len - 1).map_err(|e| io_error(path, "read", e))?;
    if last[0] != b'\n' {
        return Err(Error::PartialLastLine { path: path.to_path_buf() });
    }
    let mut reader =
        ReaderBuilder::new().has_headers(false).flexible(true).from_reader(file.take(MAX_HEADER_BYTES));
    match check_header(path, &mut reader.byte_records())? {
        None => Ok(true),
        Some(Layout::Current) => Ok(false),
        Some(Layout::V2) => Err(Error::OlderSchema { path: path.to_path_buf(), version: 2 }),
    }
}

/// Read the first record of a results file, its header, and check that it is
/// this schema's or schema 2's: which one. `Ok(None)` if there is none (the
/// file holds nothing but blank lines).
fn check_header<R: Read>(
    path: &Path,
    records: &mut csv::ByteRecordsIter<'_, R>,
) -> Result<Option<Layout>, Error> {
    let Some(header) = records.next().transpose().map_err(|e| csv_error(path, e))? else {
        return Ok(None);
    };
    if header.iter().eq(COLUMNS_V2.iter().map(|c| c.as_bytes())) {
        return Ok(Some(Layout::V2));
    }
    let Some((column, difference)) = header_difference(&header) else {
        return Ok(Some(Layout::Current));
    };
    // A file of another schema version has another header; say that, rather
    // than which columns differ.
    let first = records.next().transpose().map_err(|e| csv_error(path, e))?;
    let schema_at = header.iter().position(|name| name == b"schema");
    if let (Some(row), Some(at)) = (first, schema_at) {
        let found = row.get(at).map(String::from_utf8_lossy).unwrap_or_default();
        if found.parse::<u32>().is_ok_and(|v| v != SCHEMA_VERSION && v != 2) {
            let line = row.position().map_or(2, |p| p.line());
            return Err(Error::UnknownSchema { path: path.to_path_buf(), line, found: found.into() });
        }
    }
    Err(Error::HeaderMismatch { path: path.to_path_buf(), column, difference })
}

/// How `found` differs from this schema's header, if it does: the first
/// column that differs, and a description for the user.
fn header_difference(found: &ByteRecord) -> Option<(String, String)> {
    let found: Vec<String> = found.iter().map(|cell| String::from_utf8_lossy(cell).into_owned()).collect();
    let first = (0..found.len().max(COLUMNS.len()))
        .find(|&i| found.get(i).map(String::as_str) != COLUMNS.get(i).copied())?;
    let column = COLUMNS.get(first).map_or_else(|| found[first].clone(), |c| c.to_string());

    let missing: Vec<&str> = COLUMNS.iter().copied().filter(|c| !found.iter().any(|f| f == c)).collect();
    let unknown: Vec<&str> = found.iter().map(String::as_str).filter(|f| !COLUMNS.contains(f)).collect();
    let repeated: Vec<&str> =
        found.iter().enumerate().filter(|(i, f)| found[..*i].contains(f)).map(|(_, f)| f.as_str()).collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", name_list(&missing)));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown {}", name_list(&unknown)));
    }
    if !repeated.is_empty() {
        parts.push(format!("repeated {}", name_list(&repeated)));
    }
    if parts.is_empty() {
        parts.push(format!(
            "the same columns in another order: column {} is `{}`, expected `{column}`",
            first + 1,
            found[first]
        ));
    }
    Some((column, parts.join("; ")))
}

/// `a`, `b`, `c`, `d` and 5 more.
fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 4;
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    let mut list = shown.join(", ");
    if names.len() > SHOWN {
        list.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    list
}

/// Replace each NaN or infinity by 0, and say so in `note`.
fn replace_non_finite(row: &mut Row) {
    let mut replaced = Vec::new();
    for (column, value) in row.floats_mut() {
        if !value.is_finite() {
            replaced.push(format!("{column} was {value}, written as 0"));
            *value = 0.0;
        }
    }
    for (column, value) in row.optional_floats_mut() {
        if let Some(v) = value.filter(|v| !v.is_finite()) {
            replaced.push(format!("{column} was {v}, written as empty"));
            *value = None;
        }
    }
    if !replaced.is_empty() {
        let added = replaced.join("; ");
        row.note = if row.note.is_empty() { added } else { format!("{}; {added}", row.note) };
    }
}

/// The directory a results file lives in (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => PathBuf::from("."),
        Some(dir) => dir.to_path_buf(),
        None => path.to_path_buf(),
    }
}

fn io_error(path: &Path, doing: &'static str, source: io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), doing, source }
}

/// A csv error while reading raw records: only I/O can fail there (records
/// are bytes and flexible), and reading from memory does not.
fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    Error::Malformed { path: path.to_path_buf(), line, column: "?".into(), problem: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::sample;
    use std::os::unix::fs::PermissionsExt;

    /// An expected error position: (line, column), or none.
    type Position = Option<(u64, &'static str)>;
    /// The cells of a row, to edit before it is written.
    type Cells = Vec<Vec<u8>>;

    /// A fresh directory under the system's temporary directory, removed
    /// (permissions restored first) when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            static DIRS: AtomicU64 = AtomicU64::new(0);
            let n = DIRS.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("ringside-results-{test}-{}-{n}", std::process::id()));
            fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// True if this process can create files in `dir` despite its
    /// permissions (root, or CAP_DAC_OVERRIDE): then a read-only directory
    /// or file cannot be refused, because it is not read-only for us.
    fn ignores_permissions(dir: &Path) -> bool {
        let probe = dir.join("probe-by-test");
        let created = File::create(&probe).is_ok();
        let _ = fs::remove_file(&probe);
        created
    }

    fn header_line() -> String {
        format!("{}\n", COLUMNS.join(","))
    }

    /// `row` as one CSV line; `edit` may change its cells first.
    fn row_line(row: &Row, edit: impl FnOnce(&mut Cells)) -> Vec<u8> {
        let mut writer = WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        writer.serialize(row).unwrap();
        let line = writer.into_inner().unwrap();
        let record = ReaderBuilder::new().has_headers(false).from_reader(&line[..]).byte_records().next();
        let mut cells: Cells = record.unwrap().unwrap().iter().map(<[u8]>::to_vec).collect();
        edit(&mut cells);
        let mut writer = WriterBuilder::new().has_headers(false).flexible(true).from_writer(Vec::new());
        writer.write_record(&cells).unwrap();
        writer.into_inner().unwrap()
    }

    /// A sample row without newlines in its cells, so it is one line.
    fn one_line_row(run: u32) -> Row {
        Row { note: String::new(), ..sample(run) }
    }

    fn set(column: &'static str, value: &'static str) -> impl FnOnce(&mut Cells) {
        move |cells| {
            let at = COLUMNS.iter().position(|c| *c == column).unwrap();
            cells[at] = value.as_bytes().to_vec();
        }
    }

    #[test]
    fn rows_round_trip() {
        let dir = TempDir::new("round-trip");
        let path = dir.path("results.csv");
        // The first sample's note has a newline, a quote and a comma.
        let rows = vec![sample(1), sample(2), Row { phase: Phase::Count, ..sample(3) }];
        for row in &rows {
            append(&path, row).unwrap();
        }
        assert_eq!(read(&path).unwrap(), rows);
        // Each phase as its CSV value.
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(",sweep-3,3,count,p99<=1000us,"), "{text}");
    }

    #[test]
    fn calls_not_counted_are_empty_cells_not_zeros() {
        let dir = TempDir::new("uncounted");
        let path = dir.path("results.csv");
        // sample(): the server's calls not counted, the load threads' counted.
        let row = one_line_row(1);
        assert_eq!((row.server_syscalls, row.client_syscalls), (None, Some(0.05)));
        append(&path, &row).unwrap();
        let record = |path: &Path| {
            let mut reader = csv::Reader::from_path(path).unwrap();
            reader.records().next().unwrap().unwrap()
        };
        let at = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
        let cells = record(&path);
        assert_eq!((&cells[at("server_syscalls")], &cells[at("server_syscalls_by_name")]), ("", ""));
        assert_eq!(
            (&cells[at("client_syscalls")], &cells[at("client_syscalls_by_name")]),
            ("0.05", "io_uring_enter=0.05")
        );
        assert_eq!(read(&path).unwrap(), std::slice::from_ref(&row));
        // A file written when uncounted totals were 0: read as not counted.
        let mut old: Vec<String> = cells.iter().map(String::from).collect();
        old[at("server_syscalls")] = "0".into();
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_path(&path).unwrap();
        writer.write_record(COLUMNS).unwrap();
        writer.write_record(&old).unwrap();
        writer.flush().unwrap();
        drop(writer);
        assert_eq!(read(&path).unwrap(), [row]);
    }

    #[test]
    fn the_header_is_written_once_and_rows_are_only_appended() {
        let dir = TempDir::new("header-once");
        let new = dir.path("new.csv");
        let empty = dir.path("empty.csv");
        File::create(&empty).unwrap();
        for path in [&new, &empty] {
            for run in 1..=3 {
                append(path, &one_line_row(run)).unwrap();
            }
            let text = fs::read_to_string(path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 4, "{text}");
            assert_eq!(format!("{}\n", lines[0]), header_line());
            assert_eq!(text.matches("schema,timestamp").count(), 1);
            assert_eq!(read(path).unwrap(), (1..=3).map(one_line_row).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_header_only_file_has_no_rows() {
        let dir = TempDir::new("header-only");
        let path = dir.path("results.csv");
        fs::write(&path, header_line()).unwrap();
        assert_eq!(read(&path).unwrap(), vec![]);
        check_writable(&path).unwrap();
    }

    #[test]
    fn non_finite_numbers_are_written_as_zero_with_a_note() {
        let dir = TempDir::new("non-finite");
        let path = dir.path("results.csv");
        let row = Row { lat_p99_us: f64::NAN, switch_share_pct: f64::INFINITY, schema: 7, ..one_line_row(1) };
        append(&path, &row).unwrap();
        let back = read(&path).unwrap().remove(0);
        assert_eq!((back.lat_p99_us, back.switch_share_pct, back.schema), (0.0, 0.0, SCHEMA_VERSION));
        assert_eq!(back.note, "lat_p99_us was NaN, written as 0; switch_share_pct was inf, written as 0");
    }

    /// Files that are not this schema's: append, check_writable and read
    /// must each refuse them with the same error, and change nothing.
    #[test]
    fn another_header_or_a_cut_short_line_is_refused() {
        let ours = COLUMNS.join(",");
        let renamed = ours.replace("hlog", "hdr_log");
        let swapped = ours.replace("lat_p50_us,lat_p90_us", "lat_p90_us,lat_p50_us");
        let extra = format!("{ours},server_rss_kib");
        let twice = ours.replace("work,", "work,work,").replace(",hlog", "");
        let cut = format!("{ours}\n{}", String::from_utf8(row_line(&one_line_row(1), |_| ())).unwrap());
        let cut = &cut[..cut.len() - 10];
        // (file contents, the error's position, a fragment of its message)
        let table: [(&str, Position, &str); 7] = [
            (
                "name,value\nx,1\n",
                Some((1, "schema")),
                "missing `schema`, `timestamp`, `run_id`, `repetition` and 76 more; unknown `name`, `value`",
            ),
            (&format!("{renamed}\n"), Some((1, "hlog")), "missing `hlog`; unknown `hdr_log`"),
            (
                &format!("{swapped}\n"),
                Some((1, "lat_p50_us")),
                "another order: column 47 is `lat_p90_us`, expected `lat_p50_us`",
            ),
            (&format!("{extra}\n"), Some((1, "server_rss_kib")), "unknown `server_rss_kib`"),
            (&format!("{twice}\n"), Some((1, "warmup_s")), "missing `hlog`; repeated `work`"),
            (cut, None, "does not end with a newline"),
            (&ours, None, "does not end with a newline"),
        ];
        let dir = TempDir::new("refused");
        let path = dir.path("old.csv");
        for (contents, position, fragment) in table {
            fs::write(&path, contents).unwrap();
            let errors = [
                append(&path, &sample(1)).unwrap_err(),
                check_writable(&path).unwrap_err(),
                read(&path).unwrap_err(),
            ];
            for error in errors {
                let message = error.to_string();
                assert_eq!(error.position(), position, "{message}");
                assert!(message.contains(fragment), "{message}\n  should contain: {fragment}");
                assert!(message.contains(&*path.to_string_lossy()), "{message}");
                if position.is_some() {
                    assert!(message.contains("start a new results file"), "{message}");
                }
            }
            assert_eq!(fs::read_to_string(&path).unwrap(), contents, "the file must not change");
        }
    }

    #[test]
    fn check_writable_accepts_what_append_can_write_and_creates_nothing() {
        let dir = TempDir::new("writable");
        check_writable(&dir.path("new.csv")).unwrap();
        assert_eq!(dir.entries(), Vec::<String>::new(), "neither the file nor the probe may remain");

        let path = dir.path("results.csv");
        append(&path, &sample(1)).unwrap();
        let before = fs::read(&path).unwrap();
        check_writable(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(dir.entries(), ["results.csv"]);
    }

    #[test]
    fn check_writable_refuses_a_missing_directory_or_a_directory_path() {
        let dir = TempDir::new("missing");
        let missing = dir.path("no/such/dir/results.csv");
        let error = check_writable(&missing).unwrap_err();
        assert!(matches!(&error, Error::NoDirectory { dir } if dir.ends_with("no/such/dir")), "{error}");
        assert!(error.to_string().contains("does not exist"), "{error}");
        assert!(matches!(append(&missing, &sample(1)), Err(Error::NoDirectory { .. })));

        // A file where the directory should be stops root too.
        fs::write(dir.path("file"), "").unwrap();
        let error = check_writable(&dir.path("file/results.csv")).unwrap_err();
        assert!(matches!(error, Error::NoDirectory { .. }), "{error}");

        let error = check_writable(&dir.0).unwrap_err();
        assert!(matches!(error, Error::NotAFile { .. }), "{error}");
        assert!(matches!(read(&dir.0), Err(Error::NotAFile { .. })));
        assert_eq!(dir.entries(), ["file"]);
    }

    #[test]
    fn check_writable_refuses_a_read_only_directory_or_file_unless_permissions_do_not_apply() {
        let dir = TempDir::new("read-only");
        let existing = dir.path("existing.csv");
        append(&existing, &sample(1)).unwrap();
        fs::set_permissions(&existing, fs::Permissions::from_mode(0o444)).unwrap();
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o555)).unwrap();
        let new = dir.path("new.csv");

        if ignores_permissions(&dir.0) {
            // Running as root: the directory and the file are writable for
            // this process, so refusing them would be wrong. What can be
            // checked is that both are accepted and nothing is left behind.
            eprintln!(
                "note: permissions do not apply to this process (root?); read-only refusal not testable"
            );
            check_writable(&new).unwrap();
            check_writable(&existing).unwrap();
            assert_eq!(dir.entries(), ["existing.csv"]);
            return;
        }
        let error = check_writable(&new).unwrap_err();
        assert!(matches!(error, Error::DirectoryNotWritable { .. }), "{error}");
        assert!(error.to_string().contains("cannot create files in"), "{error}");
        assert!(matches!(append(&new, &sample(1)), Err(Error::DirectoryNotWritable { .. })));
        let error = check_writable(&existing).unwrap_err();
        assert!(matches!(error, Error::FileNotWritable { .. }), "{error}");
        assert!(matches!(append(&existing, &sample(1)), Err(Error::FileNotWritable { .. })));
        assert_eq!(dir.entries(), ["existing.csv"]);
    }

    #[test]
    fn bad_files_are_errors_naming_the_line_and_column() {
        let header = header_line().into_bytes();
        let good = row_line(&one_line_row(1), |_| ());
        /// The header and one row, edited.
        fn bad(edit: impl FnOnce(&mut Cells)) -> Vec<u8> {
            [header_line().as_bytes(), &row_line(&one_line_row(1), edit)].concat()
        }
        let multi_line = row_line(&Row { note: "first\nsecond".into(), ..one_line_row(2) }, |_| ());

        // (what, file contents, the error's (line, column), a fragment of its message)
        let table: Vec<(&str, Vec<u8>, Position, &str)> = vec![
            ("empty file", vec![], None, "is empty"),
            ("only a blank line", b"\n".to_vec(), None, "is empty"),
            ("a foreign header", b"name,value\nx,1\n".to_vec(), Some((1, "schema")), "missing `schema`"),
            (
                "cells missing",
                bad(|c| c.truncate(78)),
                Some((2, "switch_share_pct")),
                "the row has 78 cells, the header 80",
            ),
            ("a cell too many", bad(|c| c.push(b"x".to_vec())), Some((2, "cell 81")), "the row has 81 cells"),
            (
                "schema 1",
                bad(set("schema", "1")),
                Some((2, "schema")),
                "version 1, but this ringside reads only versions 2 to 3",
            ),
            (
                "schema not a number",
                bad(set("schema", "one")),
                Some((2, "schema")),
                "`one` is not a schema version",
            ),
            ("a schema 4 file", b"schema,size\n4,7\n".to_vec(), Some((2, "schema")), "version 4"),
            (
                "letters in an integer",
                bad(set("requests", "12a")),
                Some((2, "requests")),
                "cannot read `12a`: invalid digit",
            ),
            (
                "a negative count",
                bad(set("errors_reset", "-1")),
                Some((2, "errors_reset")),
                "cannot read `-1`",
            ),
            ("an empty integer", bad(set("connections", "")), Some((2, "connections")), "cannot read ``"),
            (
                "a word for a number",
                bad(set("lat_p99_us", "fast")),
                Some((2, "lat_p99_us")),
                "cannot read `fast`",
            ),
            ("NaN", bad(set("raw_max_us", "NaN")), Some((2, "raw_max_us")), "`NaN` is not a finite number"),
            (
                "infinity",
                bad(set("target_rate", "inf")),
                Some((2, "target_rate")),
                "`inf` is not a finite number",
            ),
            ("a boolean as yes", bad(set("complete", "yes")), Some((2, "complete")), "cannot read `yes`"),
            (
                "an unknown mode",
                bad(set("mode", "half-open")),
                Some((2, "mode")),
                "unknown variant `half-open`",
            ),
            (
                "an unknown arrival",
                bad(set("arrival", "bursty")),
                Some((2, "arrival")),
                "unknown variant `bursty`",
            ),
            (
                "an unknown protocol",
                bad(set("protocol", "smtp")),
                Some((2, "protocol")),
                "unknown protocol `smtp`",
            ),
            (
                "bytes that are not UTF-8",
                bad(|c| c[45] = b"\xff\xfe".to_vec()),
                Some((2, "note")),
                "not UTF-8 text",
            ),
            (
                "a bad row after a good one",
                [&bad(|_| ())[..], &row_line(&one_line_row(2), set("pipeline", "x"))].concat(),
                Some((3, "pipeline")),
                "cannot read `x`",
            ),
            (
                "a bad row after a two-line note",
                [&header[..], &good, &multi_line, &row_line(&one_line_row(3), set("hlog", "a"))[..40], b"\n"]
                    .concat(),
                Some((5, "slo")),
                "the row has",
            ),
            (
                "the last line cut short",
                [&header[..], &good[..good.len() - 1]].concat(),
                None,
                "does not end with a newline",
            ),
        ];

        let dir = TempDir::new("malformed");
        let path = dir.path("bad.csv");
        for (what, contents, position, fragment) in table {
            fs::write(&path, &contents).unwrap();
            let error = read(&path).expect_err(what);
            let message = error.to_string();
            assert_eq!(error.position(), position, "{what}: {message}");
            assert!(message.contains(fragment), "{what}: {message}\n  should contain: {fragment}");
            assert!(message.contains(&*path.to_string_lossy()), "{what}: {message}");
            if let Some((line, column)) = position {
                assert!(
                    message.contains(&format!("line {line}, column `{column}`")) || line == 1,
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn every_column_of_a_set_of_values_is_checked_by_name() {
        let plain = ["u32", "u64", "f64", "Option<f64>", "bool", "String"];
        let chosen: Vec<String> = crate::row::tests::declared_fields()
            .into_iter()
            .filter(|(_, ty, _)| !plain.contains(&ty.as_str()))
            .map(|(name, _, _)| name)
            .collect();
        assert_eq!(chosen, CHOICES.map(|(name, _)| name));
        // Every value the row can hold passes its check.
        let values = [
            ("phase", vec!["run", "probe", "capacity", "count"]),
            ("protocol", vec!["echo", "rr", "http"]),
            ("mode", vec!["closed", "open"]),
            ("arrival", vec!["", "poisson", "uniform"]),
        ];
        for ((column, check), (same, good)) in CHOICES.into_iter().zip(values) {
            assert_eq!(column, same);
            for value in good {
                assert_eq!(check(value), None, "{column} = {value:?}");
            }
            assert!(check("Closed").is_some(), "{column}");
        }
    }

    #[test]
    fn read_all_reads_files_in_order_and_names_the_bad_one() {
        let dir = TempDir::new("read-all");
        let (first, second) = (dir.path("a.csv"), dir.path("b.csv"));
        append(&first, &sample(1)).unwrap();
        append(&second, &sample(2)).unwrap();
        append(&second, &sample(3)).unwrap();
        let both = [first.clone(), second.clone()];
        assert_eq!(read_all(&both).unwrap(), vec![sample(1), sample(2), sample(3)]);

        fs::write(&second, "").unwrap();
        let error = read_all(&both).unwrap_err();
        assert!(matches!(&error, Error::Empty { path } if *path == second), "{error}");
    }

    /// A results file the schema-2 load generator wrote (a closed-loop run
    /// and an open-loop one): read as rows of schema 2 with the newer
    /// columns filled in, and never appended to.
    #[test]
    fn schema_2_files_are_read_and_refuse_new_rows() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata/schema2.csv");
        let rows = read(&fixture).unwrap();
        assert_eq!(rows.len(), 2);
        let (closed, open) = (&rows[0], &rows[1]);
        for row in &rows {
            assert_eq!((row.schema, row.phase, row.slo.as_str()), (2, Phase::Run, ""));
            assert_eq!((row.answered_late, row.drain_s), (0, 0.0));
            assert_eq!((row.send_lag_p50_us, row.send_lag_p99_us, row.send_lag_max_us), (0.0, 0.0, 0.0));
            assert_eq!((row.backend.as_str(), row.run_id.as_str()), ("epoll", "fixture-v2"));
        }
        // Closed loop offered what it achieved; open loop, its target.
        assert_eq!((closed.mode, closed.requests, closed.lat_p99_us), (Mode::Closed, 44_870, 155.0));
        assert_eq!((closed.offered_rate, closed.sent_rate), (closed.achieved_rate, closed.achieved_rate));
        assert_eq!((open.mode, open.arrival, open.target_rate), (Mode::Open, Arrival::Uniform, 2000.0));
        assert_eq!(
            (open.offered_rate, open.sent_rate, open.hlog.as_str()),
            (2000.0, 2000.0, "schema2-open.hlog")
        );
        // Read together with a schema-3 file.
        let dir = TempDir::new("v2");
        let new = dir.path("new.csv");
        append(&new, &sample(1)).unwrap();
        assert_eq!(read_all(&[fixture.clone(), new]).unwrap().len(), 3);

        // Appending refuses, naming the file, and changes nothing.
        let old = dir.path("old.csv");
        fs::copy(&fixture, &old).unwrap();
        let before = fs::read(&old).unwrap();
        for error in [append(&old, &sample(1)).unwrap_err(), check_writable(&old).unwrap_err()] {
            let message = error.to_string();
            assert!(matches!(error, Error::OlderSchema { version: 2, .. }), "{message}");
            assert!(message.contains(&*old.to_string_lossy()), "{message}");
            assert!(
                message.contains("holds schema-2 rows") && message.contains("need a new file"),
                "{message}"
            );
        }
        assert_eq!(fs::read(&old).unwrap(), before);
    }

    #[test]
    fn schema_2_rows_are_checked_against_their_own_header() {
        let header = format!("{}\n", COLUMNS_V2.join(","));
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata/schema2.csv");
        let text = fs::read_to_string(fixture).unwrap();
        let row = text.lines().nth(1).unwrap();
        let at = |column: &str| COLUMNS_V2.iter().position(|c| *c == column).unwrap();
        let edit = |column: &str, value: &str| {
            let mut cells: Vec<&str> = row.split(',').collect();
            // The fixture's cells hold no commas but in backend_options,
            // which has none; check that.
            assert_eq!(cells.len(), COLUMNS_V2.len());
            cells[at(column)] = value;
            format!("{header}{}\n", cells.join(","))
        };
        let dir = TempDir::new("v2-bad");
        let path = dir.path("old.csv");
        // (file, error position, a piece of the message)
        let table: [(String, Position, &str); 4] = [
            (edit("mode", "half-open"), Some((2, "mode")), "unknown variant `half-open`"),
            (edit("schema", "3"), Some((2, "schema")), "version 3"),
            (edit("requests", "x"), Some((2, "requests")), "cannot read `x`"),
            (format!("{header}2,x\n"), Some((2, "run_id")), "the row has 2 cells, the header 63"),
        ];
        for (contents, position, fragment) in table {
            fs::write(&path, &contents).unwrap();
            let error = read(&path).unwrap_err();
            let message = error.to_string();
            assert_eq!(error.position(), position, "{message}");
            assert!(message.contains(fragment), "{message}\n  should contain: {fragment}");
        }
    }
}

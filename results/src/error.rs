//! What can go wrong with a results file, each variant saying what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::SCHEMA_VERSION;

/// An error reading, checking or appending to a results file. Its message
/// names the file (and, for bad content, the line and column) and says what
/// to do next.
#[derive(Debug)]
pub enum Error {
    /// The directory the results file goes in does not exist (or is not a
    /// directory).
    NoDirectory { dir: PathBuf },
    /// Files cannot be created in the directory (permissions, a read-only
    /// file system).
    DirectoryNotWritable { dir: PathBuf, source: io::Error },
    /// The path names a directory, not a file.
    NotAFile { path: PathBuf },
    /// The file exists but cannot be opened for appending.
    FileNotWritable { path: PathBuf, source: io::Error },
    /// Any other I/O failure: `doing` is what was being done, e.g. "read".
    Io { path: PathBuf, doing: &'static str, source: io::Error },
    /// The file's header is not this schema's. `column` is the first column
    /// that differs; `difference` says how the headers differ.
    HeaderMismatch { path: PathBuf, column: String, difference: String },
    /// A row of the file was written with another schema version.
    UnknownSchema { path: PathBuf, line: u64, found: String },
    /// The file holds rows of an older schema this ringside reads but does
    /// not append to (only [`append`](crate::append) and
    /// [`check_writable`](crate::check_writable) refuse this).
    OlderSchema { path: PathBuf, version: u32 },
    /// The file does not end with a newline, so its last line may be a row
    /// cut short by a crash (or by an editor).
    PartialLastLine { path: PathBuf },
    /// The file is empty: it has no header (only [`read`](crate::read)
    /// refuses this; appending to an empty file writes the header).
    Empty { path: PathBuf },
    /// A row is malformed: `column` is a column name (or `cell N` for a
    /// cell beyond the last column), `problem` what is wrong with it.
    Malformed { path: PathBuf, line: u64, column: String, problem: String },
}

impl Error {
    /// Where in the file the problem is, for content errors: the line
    /// (from 1) and the column name. `None` for the rest.
    pub fn position(&self) -> Option<(u64, &str)> {
        match self {
            Error::HeaderMismatch { column, .. } => Some((1, column)),
            Error::UnknownSchema { line, .. } => Some((*line, "schema")),
            Error::OlderSchema { .. } => Some((1, "schema")),
            Error::Malformed { line, column, .. } => Some((*line, column)),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDirectory { dir } => write!(
                f,
                "directory {} does not exist (or is not a directory): create it, or write the results elsewhere",
                dir.display()
            ),
            Error::DirectoryNotWritable { dir, source } => write!(
                f,
                "cannot create files in {} ({source}): make it writable, or write the results elsewhere",
                dir.display()
            ),
            Error::NotAFile { path } => {
                write!(
                    f,
                    "{} is a directory: give the path of a results file (e.g. {}/results.csv)",
                    path.display(),
                    path.display()
                )
            }
            Error::FileNotWritable { path, source } => write!(
                f,
                "cannot append to {} ({source}): make it writable, or write the results to another file",
                path.display()
            ),
            Error::Io { path, doing, source } => write!(f, "cannot {doing} {}: {source}", path.display()),
            Error::HeaderMismatch { path, difference, .. } => write!(
                f,
                "{} line 1: the header is not that of results schema {SCHEMA_VERSION} ({difference}): \
                 start a new results file, or move this one aside",
                path.display()
            ),
            Error::UnknownSchema { path, line, found } => write!(
                f,
                "{} line {line}, column `schema`: written with results schema version {found}, but this ringside \
                 reads only versions 2 to {SCHEMA_VERSION}: read it with the ringside that wrote it, \
                 and start a new file for new results",
                path.display()
            ),
            Error::OlderSchema { path, version } => write!(
                f,
                "{} holds schema-{version} rows (written by an older ringside), and new rows are schema \
                 {SCHEMA_VERSION}: a file holds one layout, so new rows need a new file; give another \
                 path (the tools read both kinds of file together), or move this one aside",
                path.display()
            ),
            Error::PartialLastLine { path } => write!(
                f,
                "{} does not end with a newline, so its last row may have been cut short (a crash while \
                 writing, or an editor): if the last line is a complete row, add a newline after it; \
                 otherwise delete it",
                path.display()
            ),
            Error::Empty { path } => write!(
                f,
                "{} is empty, so it has no header: it is not a results file; delete it or give another file",
                path.display()
            ),
            Error::Malformed { path, line, column, problem } => write!(
                f,
                "{} line {line}, column `{column}`: {problem}; correct or delete that row",
                path.display()
            ),
        }
    }
}

/// No `source`: every message already includes its cause (an `io::Error`
/// in parentheses or after a colon), and a chain printed by `{:#}` would say
/// it twice.
impl std::error::Error for Error {}

//! results: the results CSV of ringside — one row per run, its schema, and
//! appending and reading it safely.
//!
//! The load generator appends a [`Row`] per run with [`append`] (after
//! [`check_writable`] before the run, so a run never fails after measuring);
//! the tools that compare, gate, merge and report read rows back with
//! [`read`] / [`read_all`] (and [`summarize`] gives a plain `label,value`
//! table, figures that are no rows, the same statistics). This crate is the one definition of the columns:
//! [`Row`]'s field docs document them, and `results/SCHEMA.md` renders those
//! docs as a table. It is also the one home of the HdrHistogram formats
//! ([`hdr`]) that the load generator and `merge` write and read.
//!
//! It must never overwrite or truncate a results file, never leave half a
//! row in one, and never panic on what it reads: bad input is an [`Error`]
//! naming the file, the line and the column.

#![forbid(unsafe_code)]

pub mod compare;
mod error;
pub mod export;
mod file;
pub mod gate;
pub mod hdr;
pub mod merge;
pub mod report;
mod row;
pub mod stats;
pub mod summarize;
pub mod syscalls;
pub mod workload;

pub use error::Error;
pub use file::{append, check_writable, labels as file_labels, read, read_all};
pub use row::{
    Arrival, COLUMNS, COLUMNS_V2, Mode, Phase, Row, SCHEMA_VERSION, parse_timestamp_utc, timestamp_utc,
};

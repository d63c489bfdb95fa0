//! results: the results CSV of ringside — one row per run, its schema, and
//! appending and reading it safely.
//!
//! This crate is the one definition of the columns: [`Row`]'s field docs
//! document them, and `results/SCHEMA.md` renders those docs as a table.

#![forbid(unsafe_code)]

mod row;

pub use row::{Arrival, COLUMNS, Mode, Row, SCHEMA_VERSION, timestamp_utc};

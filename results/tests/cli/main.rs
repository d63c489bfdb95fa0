//! `ringside-results` as users run it: the binary on results files written
//! with `results::append` (or by real load generators), judged by its
//! output, its exit status and the files it leaves. One module per
//! subcommand; `support` holds what they share.

mod compare;
mod gate;
mod merge;
mod report;
mod summarize;
mod support;

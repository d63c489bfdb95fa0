//! What recording one latency costs: the two clock reads around a request
//! (at send and at answer) and the histogram updates, exactly as the load
//! threads do it. The target is at most 50 ns; the `Instant` variant shows
//! what the TSC clock saves.
//!
//! `cargo bench -p loadgen --bench record` (see scripts/loadgen-bench.sh).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use loadgen::engine::{Latencies, new_histogram};

fn record(c: &mut Criterion) {
    let clock = quanta::Clock::new();
    let mut latencies = Latencies::new(&clock);
    c.bench_function("record one latency (TSC clock: 2 reads + 2 histograms)", |b| {
        b.iter(|| {
            let sent = clock.raw();
            let now = black_box(clock.raw());
            latencies.record(sent, sent, now);
        })
    });
    let mut h = new_histogram();
    c.bench_function("for comparison: Instant::now twice + 1 histogram", |b| {
        b.iter(|| {
            let sent = Instant::now();
            let ns = black_box(Instant::now()).duration_since(sent).as_nanos() as u64;
            h.saturating_record(ns.max(1));
        })
    });
}

criterion_group!(benches, record);
criterion_main!(benches);

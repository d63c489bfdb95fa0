//! Axes: where a value goes along a chart's side, and which ticks to label.
//!
//! Ticks are round numbers a reader can interpolate between: on a linear
//! axis, steps of 1, 2 or 5 times a power of ten, the axis widened to whole
//! steps; on a log axis, powers of ten (with 2 and 5 between them when the
//! axis spans few decades). Labels are short (`200k`, `1.5ms`): a chart's
//! title or axis label gives the unit. This module draws nothing.

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Scale {
    Linear {
        min: f64,
        max: f64,
    },
    /// Base-10 logarithmic; `min` and `max` are positive.
    Log {
        min: f64,
        max: f64,
    },
}

/// A labelled mark on an axis.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tick {
    pub(super) value: f64,
    pub(super) label: String,
}

/// An axis: its scale and its ticks (all within the scale's range).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Axis {
    pub(super) scale: Scale,
    pub(super) ticks: Vec<Tick>,
}

impl Axis {
    /// Where `v` falls, from 0 (the axis' start) to 1 (its end); values
    /// outside the range fall outside 0..=1, and a value a log axis cannot
    /// show (0 or less) falls at its start.
    pub(super) fn frac(&self, v: f64) -> f64 {
        let (a, b, x) = match self.scale {
            Scale::Linear { min, max } => (min, max, v),
            Scale::Log { min, max } => {
                (min.log10(), max.log10(), if v > 0.0 { v.log10() } else { min.log10() })
            }
        };
        if b > a { (x - a) / (b - a) } else { 0.5 }
    }

    /// A linear axis from 0 (or from below 0, if a value is negative) to a
    /// round number at or above the largest value, with about `target`
    /// ticks labelled by `label`.
    pub(super) fn linear_from_zero(values: &[f64], target: usize, label: fn(f64, f64) -> String) -> Axis {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let lo = finite.clone().fold(0.0, f64::min);
        let hi = finite.fold(0.0, f64::max);
        Axis::linear(lo, hi, target, label)
    }

    /// A linear axis covering `lo..=hi`, widened to whole steps of a round
    /// size, about `target` steps; `label(value, step)` writes each tick.
    pub(super) fn linear(lo: f64, hi: f64, target: usize, label: fn(f64, f64) -> String) -> Axis {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else if lo == 0.0 {
            (0.0, 1.0)
        } else {
            // One value: show it in the middle of a range around it.
            (lo - lo.abs() / 2.0, lo + lo.abs() / 2.0)
        };
        let step = nice_step((hi - lo) / target.max(1) as f64);
        // The tolerance keeps a value a hair past a step (from rounding)
        // from adding a whole step of empty axis.
        let first = (lo / step + 1e-9).floor();
        let last = (hi / step - 1e-9).ceil();
        // `first..=last` counts whole steps, so the ticks are exact multiples
        // of the step (no drift from adding it up).
        let ticks = (first as i64..=last as i64)
            .map(|i| {
                let value = i as f64 * step;
                Tick { value, label: label(value, step) }
            })
            .collect();
        Axis { scale: Scale::Linear { min: first * step, max: last * step }, ticks }
    }

    /// A log axis covering the positive values among `values`, widened to
    /// ticks at 1, 2 and 5 times powers of ten (only powers of ten when the
    /// values span more than three decades, every other one beyond eight).
    /// `None` if no value is positive.
    pub(super) fn log(values: &[f64], label: fn(f64) -> String) -> Option<Axis> {
        let positive = values.iter().copied().filter(|v| *v > 0.0 && v.is_finite());
        let lo = positive.clone().fold(f64::INFINITY, f64::min);
        let hi = positive.fold(0.0, f64::max);
        if hi <= 0.0 {
            return None;
        }
        let (dlo, dhi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let decades = dhi - dlo;
        let (mantissas, decade_step): (&[f64], usize) = match decades {
            0..=3 => (&[1.0, 2.0, 5.0], 1),
            4..=8 => (&[1.0], 1),
            _ => (&[1.0], 2),
        };
        // Candidates from the decade below the lowest to the one above the
        // highest, so there is always one at or below `lo` and one at or
        // above `hi`.
        let candidates: Vec<f64> = (dlo - 1..=dhi + 1)
            .step_by(decade_step)
            .flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d)))
            .collect();
        let below =
            |v: f64| candidates.iter().copied().filter(|c| *c <= v * (1.0 + 1e-9)).fold(f64::NAN, f64::max);
        let above =
            |v: f64| candidates.iter().copied().filter(|c| *c >= v * (1.0 - 1e-9)).fold(f64::NAN, f64::min);
        let (mut min, mut max) = (below(lo), above(hi));
        if min >= max {
            // A single value that is itself a tick: one tick either side.
            min = below(lo * (1.0 - 1e-6));
            max = above(hi * (1.0 + 1e-6));
        }
        let ticks = candidates
            .iter()
            .copied()
            .filter(|c| *c >= min * (1.0 - 1e-9) && *c <= max * (1.0 + 1e-9))
            .map(|value| Tick { value, label: label(value) })
            .collect();
        Some(Axis { scale: Scale::Log { min, max }, ticks })
    }
}

/// The round step (1, 2 or 5 times a power of ten) nearest above `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = raw / magnitude;
    let nice = if m <= 1.0 + 1e-9 {
        1.0
    } else if m <= 2.0 + 1e-9 {
        2.0
    } else if m <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A count or rate as a tick label: `0`, `0.25`, `750`, `20k`, `1.5M`, with
/// as many decimals as `step` needs to tell neighbouring ticks apart.
pub(super) fn count_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    // The suffix follows the step, not the value, so that one axis does not
    // mix `500` and `1.0k`.
    let (scaled, scaled_step, suffix) = if step >= 5e5 {
        (v / 1e6, step / 1e6, "M")
    } else if step >= 5e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    format!("{}{suffix}", fixed(scaled, decimals_for(scaled_step)))
}

/// A plain number with the decimals `step` needs: `0.5`, `12`, `0.001`.
pub(super) fn plain_label(v: f64, step: f64) -> String {
    fixed(v, decimals_for(step))
}

/// A latency in microseconds as a tick label in the unit that reads best:
/// `500µs`, `2ms`, `1.5s`.
pub(super) fn micros_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", trim(us / 1e3))
    } else {
        format!("{}µs", trim(us))
    }
}

/// A figure as the page prints it, about three significant digits, whole
/// numbers whole: `123,457`, `50`, `45.7`, `3.42`, `0.0123`.
pub(crate) fn figure(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let a = v.abs();
    if a >= 1000.0 || (v.fract() == 0.0 && a < 1e15) {
        let digits = format!("{:.0}", a);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{}{grouped}", if v < 0.0 { "-" } else { "" })
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        // Three significant digits below 1.
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 9) as usize;
        format!("{v:.decimals$}")
    }
}

fn decimals_for(step: f64) -> usize {
    if step >= 1.0 || step.is_nan() || step <= 0.0 {
        0
    } else {
        (-(step.log10().floor()) as i32).clamp(0, 9) as usize
    }
}

fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".to_string() } else { s }
}

/// Up to two decimals, trailing zeros dropped: `2`, `1.5`, `0.25`.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(axis: &Axis) -> Vec<f64> {
        axis.ticks.iter().map(|t| t.value).collect()
    }

    fn labels(axis: &Axis) -> Vec<&str> {
        axis.ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn nice_steps() {
        let table = [
            (0.7, 1.0),
            (1.0, 1.0),
            (1.3, 2.0),
            (2.5, 5.0),
            (7.0, 10.0),
            (23_000.0, 50_000.0),
            (0.013, 0.02),
            (0.0, 1.0),
            (f64::NAN, 1.0),
        ];
        for (raw, step) in table {
            let got = nice_step(raw);
            assert!((got - step).abs() <= step * 1e-12, "nice_step({raw}) = {got}, expected {step}");
        }
    }

    #[test]
    fn linear_ticks_are_round_and_cover_the_values() {
        // (values, target, expected ticks, expected labels)
        let axis = Axis::linear_from_zero(&[17_006.7, 121_487.0, 98_000.0], 5, count_label);
        assert_eq!(values(&axis), [0.0, 50e3, 100e3, 150e3]);
        assert_eq!(labels(&axis), ["0", "50k", "100k", "150k"]);
        assert_eq!(axis.scale, Scale::Linear { min: 0.0, max: 150e3 });

        let axis = Axis::linear_from_zero(&[0.95, 1.2, 0.003], 5, plain_label);
        assert_eq!(labels(&axis), ["0", "0.5", "1.0", "1.5"]);

        let axis = Axis::linear_from_zero(&[2.6e6], 4, count_label);
        assert_eq!(labels(&axis), ["0", "1M", "2M", "3M"]);

        let axis = Axis::linear_from_zero(&[2_500.0], 5, count_label);
        assert_eq!(labels(&axis), ["0", "500", "1000", "1500", "2000", "2500"]);

        let axis = Axis::linear_from_zero(&[1.4e6], 3, count_label);
        assert_eq!(labels(&axis), ["0", "0.5M", "1.0M", "1.5M"]);

        // Nothing but zeros still gives an axis.
        let axis = Axis::linear_from_zero(&[0.0, 0.0], 5, plain_label);
        assert_eq!(axis.scale, Scale::Linear { min: 0.0, max: 1.0 });

        // Ticks are exact multiples of the step, however many there are.
        let axis = Axis::linear(0.0, 0.7, 7, plain_label);
        assert_eq!(labels(&axis), ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]);
    }

    #[test]
    fn log_ticks_are_decades_with_2_and_5_when_few() {
        let axis = Axis::log(&[3_529.0, 12_559.0, 850.0], micros_label).unwrap();
        assert_eq!(values(&axis), [500.0, 1e3, 2e3, 5e3, 1e4, 2e4]);
        assert_eq!(labels(&axis), ["500µs", "1ms", "2ms", "5ms", "10ms", "20ms"]);
        assert_eq!(axis.scale, Scale::Log { min: 500.0, max: 2e4 });

        // Five decades: powers of ten only.
        let axis = Axis::log(&[20.0, 700_000.0], micros_label).unwrap();
        assert_eq!(labels(&axis), ["10µs", "100µs", "1ms", "10ms", "100ms", "1s"]);

        // A single value that is a tick gets one either side.
        let axis = Axis::log(&[100.0], micros_label).unwrap();
        assert_eq!(values(&axis), [50.0, 100.0, 200.0]);

        // Zero and negative values cannot go on a log axis.
        assert!(Axis::log(&[0.0, -1.0], micros_label).is_none());
        let axis = Axis::log(&[0.0, 40.0, 60.0], micros_label).unwrap();
        assert_eq!(values(&axis), [20.0, 50.0, 100.0]);
    }

    #[test]
    fn positions_on_an_axis() {
        let linear = Axis { scale: Scale::Linear { min: 0.0, max: 200.0 }, ticks: Vec::new() };
        assert_eq!(linear.frac(50.0), 0.25);
        let log = Axis { scale: Scale::Log { min: 10.0, max: 1000.0 }, ticks: Vec::new() };
        assert!((log.frac(100.0) - 0.5).abs() < 1e-12);
        assert_eq!(log.frac(0.0), 0.0);
        let flat = Axis { scale: Scale::Linear { min: 3.0, max: 3.0 }, ticks: Vec::new() };
        assert_eq!(flat.frac(3.0), 0.5);
    }

    #[test]
    fn labels_and_figures() {
        type Label = fn(f64) -> String;
        let table: [(Label, f64, &str); 6] = [
            (micros_label, 250.0, "250µs"),
            (micros_label, 1_500.0, "1.5ms"),
            (micros_label, 2e6, "2s"),
            (figure, 123_456.7, "123,457"),
            (figure, 3.4167, "3.42"),
            (figure, 0.012_345, "0.0123"),
        ];
        for (f, v, expected) in table {
            assert_eq!(f(v), expected, "{v}");
        }
        assert_eq!(figure(45.67), "45.7");
        assert_eq!(figure(50.0), "50");
        assert_eq!(figure(15.0), "15");
        assert_eq!(figure(0.0), "0");
        assert_eq!(figure(f64::NAN), "–");
        assert_eq!(count_label(-0.0, 1.0), "0");
    }
}

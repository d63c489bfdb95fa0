//! The `server_syscalls_by_name` and `client_syscalls_by_name` columns:
//! system calls per request by name, as `name=value` pairs separated by
//! spaces, the most frequent first (`read=1 write=1 epoll_pwait2=0.03104
//! other=0.0004123`). An empty cell is a run that counted
//! none, which is how a row says its syscall columns were not measured.
//!
//! The load generator writes them with [`format`]; the tools read them
//! with [`parse`] (a cell that is not such a list is an error naming the
//! column, checked when the row is read).

/// The name of the calls not counted by name.
pub const OTHER: &str = "other";

/// A breakdown as its cell: the pairs in the order given, each value with
/// 4 significant digits and no trailing zeros.
pub fn format(by_name: &[(String, f64)]) -> String {
    by_name.iter().map(|(name, v)| format!("{name}={}", value(*v))).collect::<Vec<_>>().join(" ")
}

/// A cell as its pairs, in its order; `Err` says what is wrong with it.
pub fn parse(cell: &str) -> Result<Vec<(String, f64)>, String> {
    cell.split_whitespace()
        .map(|pair| {
            let (name, v) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not name=value"))?;
            let v: f64 = v.parse().map_err(|_| format!("`{pair}`: `{v}` is not a number"))?;
            if name.is_empty() || !v.is_finite() || v < 0.0 {
                return Err(format!("`{pair}` is not a name and a finite number of at least 0"));
            }
            Ok((name.to_string(), v))
        })
        .collect()
}

/// Breakdowns averaged with weights (each run's share of the requests),
/// most frequent first: what several load generators' rows give together.
pub fn weighted(cells: &[(&str, f64)]) -> String {
    let total: f64 = cells.iter().map(|&(_, w)| w).sum();
    if total <= 0.0 || cells.iter().any(|(c, _)| c.is_empty()) {
        return String::new();
    }
    let mut sums: Vec<(String, f64)> = Vec::new();
    for &(cell, w) in cells {
        for (name, v) in parse(cell).unwrap_or_default() {
            match sums.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => *s += v * w / total,
                None => sums.push((name, v * w / total)),
            }
        }
    }
    sums.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    format(&sums)
}

/// A breakdown with every value multiplied by `factor`.
pub fn scaled(cell: &str, factor: f64) -> String {
    let pairs: Vec<(String, f64)> =
        parse(cell).unwrap_or_default().into_iter().map(|(n, v)| (n, v * factor)).collect();
    format(&pairs)
}

/// `v` with 4 significant digits, as short as it goes: `1`, `0.03104`,
/// `12.35`, `0`.
fn value(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_with_four_digits() {
        let pairs = vec![
            ("read".to_string(), 1.000_213),
            ("write".to_string(), 1.0),
            ("epoll_pwait2".to_string(), 0.031_04),
            ("other".to_string(), 0.000_412_3),
            ("futex".to_string(), 12.345_6),
            ("close".to_string(), 0.0),
        ];
        let cell = format(&pairs);
        assert_eq!(cell, "read=1 write=1 epoll_pwait2=0.03104 other=0.0004123 futex=12.35 close=0");
        let back = parse(&cell).unwrap();
        assert_eq!(back.len(), 6);
        assert_eq!(back[0], ("read".to_string(), 1.0));
        assert_eq!(parse("").unwrap(), []);
        for bad in ["read", "read=x", "=1", "read=-1", "read=inf"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(weighted(&[("read=1 other=0.2", 1.0), ("read=2", 3.0)]), "read=1.75 other=0.05");
        assert_eq!(weighted(&[("read=1", 1.0), ("", 1.0)]), "", "one unmeasured: unmeasured");
    }
}

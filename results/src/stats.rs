//! The statistics `compare` and `gate` rest on, as Go's benchstat does them:
//! medians with distribution-free 95% confidence intervals, and the
//! Mann–Whitney U test for whether two sets of runs differ.
//!
//! Nothing here assumes a normal distribution: benchmark samples are skewed
//! (a run can be slowed down by a neighbour, rarely sped up) and few (3 to
//! 10 repetitions). With so few, the figures are honest about what they
//! cannot tell: a confidence interval that needs more samples than there
//! are is `None`, and the smallest p-value 3 runs against 3 can give is
//! 0.1, never significant at α = 0.05.

/// The significance level `compare` and `gate` use.
pub const ALPHA: f64 = 0.05;

/// The confidence level of [`Summary::ci`].
pub const CONFIDENCE: f64 = 0.95;

/// A sample's median and the 95% confidence interval of that median.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    /// `(low, high)`: order statistics `x(j)` and `x(n+1-j)` with the
    /// largest `j` for which `P(x(j) <= true median <= x(n+1-j)) >= 95%`
    /// (the binomial method: it holds for any continuous distribution).
    /// `None` when the sample is too small for 95% (fewer than 6 values).
    pub ci: Option<(f64, f64)>,
}

impl Summary {
    /// `None` for an empty sample or one holding a NaN.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut x = values.to_vec();
        x.sort_by(f64::total_cmp);
        let n = x.len();
        let median = if n % 2 == 1 { x[n / 2] } else { (x[n / 2 - 1] + x[n / 2]) / 2.0 };
        let ci = median_ci_rank(n).map(|j| (x[j - 1], x[n - j]));
        Some(Summary { n, median, ci })
    }

    /// The interval's half-width as a share of the median (`± x%`), if
    /// there is an interval and the median is not 0.
    pub fn ci_relative(&self) -> Option<f64> {
        let (lo, hi) = self.ci?;
        (self.median != 0.0).then(|| (hi - lo) / 2.0 / self.median.abs())
    }
}

/// The rank `j` (1-based) of the lower end of the median's 95% interval for
/// a sample of `n`, or `None` if even `(x(1), x(n))` covers less than 95%.
fn median_ci_rank(n: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    // P(x(j) <= m <= x(n+1-j)) = 1 - 2 * P(Binomial(n, 1/2) <= j - 1).
    // P(B = k) in logs, each from the one before (ln P(0) = -n ln 2;
    // P(k) = P(k-1) (n-k+1)/k), so a large n costs O(n), not O(n^2), and
    // does not overflow.
    let mut best = None;
    let mut tail = 0.0; // P(B <= j - 1)
    let mut ln_p = -(n as f64) * std::f64::consts::LN_2; // ln P(B = j - 1)
    for j in 1..=n.div_ceil(2) {
        if j > 1 {
            let k = (j - 1) as f64;
            ln_p += (n as f64 - k + 1.0).ln() - k.ln();
        }
        tail += ln_p.exp();
        if 1.0 - 2.0 * tail >= CONFIDENCE {
            best = Some(j);
        } else {
            break;
        }
    }
    best
}

/// The geometric mean of positive values (`None` if any is not positive,
/// or there are none): the mean of ratios, which an arithmetic mean would
/// bias towards the largest.
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|&v| v <= 0.0 || !v.is_finite()) {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// The two-sided p-value of the Mann–Whitney U test (Wilcoxon rank-sum):
/// the probability, if `a` and `b` came from the same distribution, of a
/// rank sum at least as far from its mean as the one seen. Ties get mid
/// ranks. Exact (the permutation distribution of the rank sum, ties
/// included) up to 50 values in all; beyond, the normal approximation with
/// the tie correction and a continuity correction. `None` if either side is
/// empty or holds a NaN.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|v| v.is_nan()) {
        return None;
    }
    let (n1, n2) = (a.len(), b.len());
    let n = n1 + n2;
    // Mid ranks, doubled so that they are integers.
    let mut all: Vec<(f64, bool)> =
        a.iter().map(|&v| (v, true)).chain(b.iter().map(|&v| (v, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank2 = vec![0usize; n];
    let mut tie_groups = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1; their mean doubled is i + j + 2.
        for r in &mut rank2[i..=j] {
            *r = i + j + 2;
        }
        tie_groups.push(j - i + 1);
        i = j + 1;
    }
    let observed2: usize = (0..n).filter(|&k| all[k].1).map(|k| rank2[k]).sum();
    // Under the null hypothesis the rank sum of `a` has mean n1 (n + 1) / 2.
    let mean2 = n1 * (n + 1); // doubled
    let distance2 = observed2.abs_diff(mean2);
    if distance2 == 0 {
        return Some(1.0);
    }
    if n <= 50 {
        return Some(exact_two_sided(&rank2, n1, mean2, distance2));
    }
    let ties: f64 = tie_groups.iter().map(|&t| (t * t * t - t) as f64).sum();
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        return Some(1.0);
    }
    let z = ((distance2 as f64 / 2.0) - 0.5).max(0.0) / variance.sqrt();
    Some((2.0 * normal_upper_tail(z)).min(1.0))
}

/// `P(|S - mean| >= distance)` for `S` the (doubled) rank sum of `n1`
/// values drawn without replacement from `rank2`, every subset equally
/// likely: counts subsets by size and sum.
fn exact_two_sided(rank2: &[usize], n1: usize, mean2: usize, distance2: usize) -> f64 {
    let max_sum: usize = {
        let mut r = rank2.to_vec();
        r.sort_unstable_by(|x, y| y.cmp(x));
        r[..n1].iter().sum()
    };
    // ways[k][s]: subsets of size k of the values seen so far with sum s, as
    // f64 (up to C(50, 25) ~ 1.3e14, exact in an f64's 53 bits).
    let mut ways = vec![vec![0f64; max_sum + 1]; n1 + 1];
    ways[0][0] = 1.0;
    for &r in rank2 {
        for k in (1..=n1).rev() {
            let (lower, upper) = ways.split_at_mut(k);
            let (from, to) = (&lower[k - 1], &mut upper[0]);
            for s in (r..=max_sum).rev() {
                to[s] += from[s - r];
            }
        }
    }
    let total: f64 = ways[n1].iter().sum();
    let extreme: f64 =
        ways[n1].iter().enumerate().filter(|(s, _)| s.abs_diff(mean2) >= distance2).map(|(_, w)| w).sum();
    (extreme / total).min(1.0)
}

/// The two-sided p-value of the Wilcoxon signed-rank test that paired
/// differences `d` (e.g. the logs of paired ratios) are centred on 0: the
/// probability, if each difference were as likely positive as negative, of
/// a sum of the positive ones' ranks at least as far from its mean as the
/// one seen. Zeros are dropped (Pratt's rule is not used); ties get mid
/// ranks. Exact (every assignment of signs, ties included) up to 50
/// non-zero differences; beyond, the normal approximation with the tie and
/// continuity corrections. `Some(1.0)` if every difference is 0; `None` if there are
/// none or one is NaN.
pub fn signed_rank_p(d: &[f64]) -> Option<f64> {
    if d.is_empty() || d.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n = nonzero.len();
    if n == 0 {
        return Some(1.0);
    }
    nonzero.sort_by(|x, y| x.abs().total_cmp(&y.abs()));
    // Mid ranks of |d|, doubled so that they are integers.
    let mut rank2 = vec![0usize; n];
    let mut ties = 0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        for r in &mut rank2[i..=j] {
            *r = i + j + 2;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let observed2: usize = (0..n).filter(|&k| nonzero[k] > 0.0).map(|k| rank2[k]).sum();
    let total2: usize = rank2.iter().sum();
    // Under the null hypothesis the positive ranks' sum has mean total / 2;
    // doubled, total2 / 2, which may be a half: compare twice the distances.
    let distance4 = (2 * observed2).abs_diff(total2);
    if distance4 == 0 {
        return Some(1.0);
    }
    if n <= 50 {
        // ways[s]: sign assignments whose positive ranks sum (doubled) to s.
        let mut ways = vec![0f64; total2 + 1];
        ways[0] = 1.0;
        for &r in &rank2 {
            for s in (r..=total2).rev() {
                ways[s] += ways[s - r];
            }
        }
        let all: f64 = ways.iter().sum();
        let extreme: f64 = ways
            .iter()
            .enumerate()
            .filter(|(s, _)| (2 * s).abs_diff(total2) >= distance4)
            .map(|(_, w)| w)
            .sum();
        return Some((extreme / all).min(1.0));
    }
    Some(signed_rank_normal(n, ties, distance4))
}

/// The signed-rank test's normal approximation: `n` differences, `ties` the
/// sum of t³ - t over groups of tied ranks, `distance4` four times the
/// distance of the positive ranks' sum from its mean. With a continuity
/// correction, as [`mann_whitney_p`]'s.
fn signed_rank_normal(n: usize, ties: f64, distance4: usize) -> f64 {
    let nf = n as f64;
    let variance = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - ties / 48.0;
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((distance4 as f64 / 4.0) - 0.5).max(0.0) / variance.sqrt();
    (2.0 * normal_upper_tail(z)).min(1.0)
}

/// `P(Z > z)` for a standard normal `Z` (Abramowitz & Stegun 7.1.26 through
/// erfc; absolute error below 1.5e-7, plenty for a p-value).
fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let r = poly * (-x * x).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn signed_rank_p_values() {
        // All 5 positive: only that assignment and its mirror are as far
        // out, 2 of 32.
        assert_eq!(signed_rank_p(&[0.1, 0.2, 0.3, 0.4, 0.5]), Some(2.0 / 32.0));
        assert_eq!(signed_rank_p(&[0.1; 6]), Some(2.0 / 64.0));
        // 8 differences, the negatives of ranks 2 and 4: W- = 6, and
        // P(W <= 6) = 14 / 256 for n = 8, so p = 28 / 256.
        let d = [0.00995, 0.0198, -0.01005, 0.0296, 0.0488, 0.0392, -0.0202, 0.0583];
        assert!(close(signed_rank_p(&d).unwrap(), 28.0 / 256.0, 1e-12));
        // Symmetric: p = 1; zeros dropped; nothing, or a NaN: no p.
        assert_eq!(signed_rank_p(&[1.0, -1.0]), Some(1.0));
        assert_eq!(signed_rank_p(&[0.0, 0.0]), Some(1.0));
        assert_eq!(signed_rank_p(&[0.0, 0.1, 0.2, 0.3, 0.4, 0.5]), Some(2.0 / 32.0));
        assert_eq!(signed_rank_p(&[]), None);
        assert_eq!(signed_rank_p(&[1.0, f64::NAN]), None);
        // The normal approximation used past 50 agrees with the exact
        // figure at 50: ranks 1..=50, every third negative.
        let d: Vec<f64> = (1..=50).map(|i| if i % 3 == 0 { -(i as f64) } else { i as f64 }).collect();
        let exact = signed_rank_p(&d).unwrap();
        let positive: usize = (1..=50).filter(|i| i % 3 != 0).sum();
        let approx = signed_rank_normal(50, 0.0, (4 * positive).abs_diff(2 * 50 * 51 / 2));
        assert!(close(exact, approx, 0.002), "{exact} {approx}");
        assert!(signed_rank_p(&[d.clone(), d].concat()).unwrap() < exact, "more pairs, same shift: lower p");
    }

    #[test]
    fn medians_and_their_intervals() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.n, s.median, s.ci), (3, 2.0, None), "3 values cannot give 95%");
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
        // n = 5: (x1, x5) covers 1 - 2/32 = 93.75% < 95%.
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap().ci, None);
        // n = 6: (x1, x6) covers 1 - 2/64 = 96.9%.
        let six = Summary::of(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]).unwrap();
        assert_eq!((six.median, six.ci), (3.5, Some((1.0, 6.0))));
        // The ranks of the classic table (e.g. Conover): n=10 -> (x2, x9),
        // n=20 -> (x6, x15), n=30 -> (x10, x21).
        for (n, j) in [(8, 1), (9, 2), (10, 2), (12, 3), (20, 6), (30, 10), (100, 40)] {
            assert_eq!(median_ci_rank(n), Some(j), "n = {n}");
        }
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert_eq!(six.ci_relative(), Some(2.5 / 3.5));
    }

    #[test]
    fn geometric_means() {
        assert!(close(geomean(&[1.0, 4.0]).unwrap(), 2.0, 1e-12));
        assert!(close(geomean(&[1.1, 0.9, 1.0]).unwrap(), (1.1f64 * 0.9).powf(1.0 / 3.0), 1e-12));
        assert_eq!(geomean(&[]), None);
        assert_eq!(geomean(&[1.0, 0.0]), None);
        assert_eq!(geomean(&[1.0, -2.0]), None);
    }

    #[test]
    #[allow(clippy::approx_constant, reason = "3.14 is a measurement in R's example data, not pi")]
    fn mann_whitney_exact_small_samples() {
        // Fully separated 3 vs 3: one subset of C(6,3) = 20 at each extreme.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!(close(p, 0.1, 1e-12), "{p}");
        // 4 vs 4 separated: 2/70.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]).unwrap();
        assert!(close(p, 2.0 / 70.0, 1e-12), "{p}");
        assert!(p < ALPHA);
        // 5 vs 5 separated: 2/252.
        let p = mann_whitney_p(&[10.0, 11.0, 12.0, 13.0, 14.0], &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!(close(p, 2.0 / 252.0, 1e-12), "{p}");
        // Interleaved: no evidence.
        let p = mann_whitney_p(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]).unwrap();
        assert!(p > 0.5, "{p}");
        // Identical samples.
        assert_eq!(mann_whitney_p(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]), Some(1.0));
        // R's wilcox.test example data, two ties in y: the exact
        // permutation p-value with mid ranks, counted by brute force over
        // all C(18, 9) = 48,620 splits, is 0.129905.
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        let p = mann_whitney_p(&x, &y).unwrap();
        assert!(close(p, 0.129_905_388_7, 1e-9), "{p}");
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
        assert_eq!(mann_whitney_p(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn mann_whitney_is_symmetric_and_the_approximation_agrees_with_the_exact() {
        let a: Vec<f64> = (0..25).map(|i| 100.0 + (i * 7 % 25) as f64).collect();
        let b: Vec<f64> = (0..25).map(|i| 104.0 + (i * 11 % 25) as f64).collect();
        let exact = mann_whitney_p(&a, &b).unwrap();
        assert_eq!(exact, mann_whitney_p(&b, &a).unwrap());
        // 26 vs 25 takes the normal approximation: close to the exact value.
        let mut a2 = a.clone();
        a2.push(112.5);
        let approx = mann_whitney_p(&a2, &b).unwrap();
        assert!(close(exact, approx, 0.03), "exact {exact}, approximate {approx}");
        assert!(exact > 0.01 && exact < 0.2, "{exact}");
    }

    #[test]
    fn normal_tail() {
        assert!(close(normal_upper_tail(0.0), 0.5, 1e-7));
        assert!(close(normal_upper_tail(1.959_964), 0.025, 1e-6));
        assert!(close(normal_upper_tail(-1.0), 0.841_344_7, 1e-6));
    }
}

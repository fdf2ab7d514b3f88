//! How concentrated the positive importance mass is: top-q share, normalised entropy, Gini
//! coefficient, Lorenz curve and per-group (layer, expert) shares (DESIGN.md section 2.4).

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Number of units in the top-`q` fraction of `n` units: `ceil(q * n)` clamped to `[1, n]`.
///
/// Returns 0 when `n == 0`. `q` is clamped to `[0, 1]` (NaN counts as 0). The product `q * n` is
/// formed in `f64`, so a decimal `q` such as 0.07 lands a hair above the integer it denotes
/// (0.07 * 100 = 7.000000000000001); products within a relative 1e-12 above an integer count as that
/// integer, so `top_k_count(100, 0.07) == 7`, not 8.
///
/// ```
/// use lpi_stats::top_k_count;
/// assert_eq!(top_k_count(1_048_576, 0.01), 10_486);
/// assert_eq!(top_k_count(100, 0.07), 7);
/// assert_eq!(top_k_count(50, 0.0), 1);
/// assert_eq!(top_k_count(0, 0.5), 0);
/// ```
pub fn top_k_count(n: usize, q: f64) -> usize {
    if n == 0 {
        return 0;
    }
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    let k = (q * n as f64 * (1.0 - 1e-12)).ceil();
    (k as usize).clamp(1, n)
}

/// Concentration statistics of one profile, from [`summarize`] or [`crate::RankedProfile::summary`].
///
/// Degenerate cases (all documented values are exact):
/// - no positive mass (all values `<= 0`, or no units): `top_share`, `entropy` and `gini` are 0;
///   "nothing is concentrated", the same reading as a perfectly even spread for `gini`.
/// - one unit: `entropy` is 0 (`ln 1 = 0` leaves nothing to normalise by), `gini` is 0.
/// - fewer positive units than the top-q count: `top_share` is 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Number of units `n` (all of them, including negative and zero ones).
    pub units: usize,
    /// Sum of the positive parts, `S = sum max(x, 0)`.
    pub positive_mass: f64,
    /// Number of units with a value `> 0`.
    pub positive_units: usize,
    /// Sum of the largest [`top_k_count`]`(n, q)` positive parts divided by `S`, in `[0, 1]`.
    pub top_share: f64,
    /// Normalised entropy `H(p) / ln n` with `p = max(x, 0) / S`, in `[0, 1]` (1 = evenly spread
    /// over all `n` units).
    pub entropy: f64,
    /// Gini coefficient of the positive parts of all `n` units (zeros included), in `[0, 1)`:
    /// `sum_i sum_j |x_i - x_j| / (2 n S)`.
    pub gini: f64,
}

impl ProfileSummary {
    /// The summary of a profile without positive mass (see the degenerate cases above).
    fn massless(units: usize) -> Self {
        Self {
            units,
            positive_mass: 0.0,
            positive_units: 0,
            top_share: 0.0,
            entropy: 0.0,
            gini: 0.0,
        }
    }
}

/// Concentration statistics of `profile` with the top-`q` share (q = 0.01 for the top 1%).
///
/// Sorts the positive parts (`O(m log m)` for `m` positive units); when the profile is ranked anyway,
/// [`crate::RankedProfile::summary`] reuses that order instead. See [`ProfileSummary`] for the
/// definitions and degenerate cases. Values must be finite (checked in debug builds only).
///
/// ```
/// use lpi_stats::summarize;
/// let s = summarize(&[4.0, 0.0, -1.0, 1.0], 0.25);
/// assert_eq!((s.units, s.positive_units, s.positive_mass), (4, 2, 5.0));
/// assert_eq!(s.top_share, 0.8); // the top 1 unit holds 4 of 5
/// ```
pub fn summarize(profile: &[f32], q: f64) -> ProfileSummary {
    let positives = sorted_positive_parts(profile);
    summary_from_descending(positives.iter().copied(), profile.len(), q)
}

/// The positive values of `profile`, in descending order.
fn sorted_positive_parts(profile: &[f32]) -> Vec<f32> {
    debug_assert!(
        profile.iter().all(|x| x.is_finite()),
        "profile must be finite"
    );
    let mut positives: Vec<f32> = profile.iter().copied().filter(|&x| x > 0.0).collect();
    positives.sort_unstable_by(|a, b| b.total_cmp(a));
    positives
}

/// [`ProfileSummary`] from the positive values in descending order (`n` counts all units).
pub(crate) fn summary_from_descending<I>(positives: I, n: usize, q: f64) -> ProfileSummary
where
    I: Iterator<Item = f32> + Clone,
{
    let mut mass = 0.0_f64;
    let mut positive_units = 0_usize;
    for x in positives.clone() {
        mass += f64::from(x);
        positive_units += 1;
    }
    if positive_units == 0 {
        return ProfileSummary::massless(n);
    }
    let k = top_k_count(n, q);
    let ln_n = (n as f64).ln();
    let (mut top, mut neg_entropy, mut gini_sum) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (j, x) in positives.enumerate() {
        let x = f64::from(x);
        if j < k {
            top += x;
        }
        let p = x / mass;
        neg_entropy += p * p.ln();
        // Gini from the sorted values: G = sum_i (2i - n - 1) x_(i) / (n S), i the 1-based
        // ascending rank; the j-th largest value has i = n - j, so its weight is n - 2j - 1.
        gini_sum += (n as f64 - 2.0 * j as f64 - 1.0) * x;
    }
    let entropy = if n > 1 { -neg_entropy / ln_n } else { 0.0 };
    ProfileSummary {
        units: n,
        positive_mass: mass,
        positive_units,
        top_share: (top / mass).clamp(0.0, 1.0),
        entropy: entropy.clamp(0.0, 1.0),
        gini: (gini_sum / (n as f64 * mass)).clamp(0.0, 1.0),
    }
}

/// One point of a Lorenz curve: the bottom `population` fraction of units holds the `mass`
/// fraction of the positive mass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LorenzPoint {
    /// Fraction of units, in `[0, 1]`, counted from the least important.
    pub population: f64,
    /// Fraction of the positive mass those units hold, in `[0, 1]`.
    pub mass: f64,
}

/// Lorenz curve of the positive parts of `profile` at `points` evenly spaced population fractions
/// `j / (points - 1)`, from `(0, 0)` to `(1, 1)`.
///
/// Units are taken in ascending order of their positive part; between unit boundaries the curve is
/// linear. `points` below 2 is raised to 2 (the end points). Without positive mass the curve is the
/// line of equality `mass = population` (matching a Gini coefficient of 0).
///
/// ```
/// use lpi_stats::lorenz_curve;
/// let curve = lorenz_curve(&[0.0, 3.0, -2.0, 1.0], 3);
/// assert_eq!(curve[1].population, 0.5);
/// assert_eq!(curve[1].mass, 0.0); // the bottom half (two non-positive units) holds nothing
/// assert_eq!((curve[2].population, curve[2].mass), (1.0, 1.0));
/// ```
pub fn lorenz_curve(profile: &[f32], points: usize) -> Vec<LorenzPoint> {
    let positives = sorted_positive_parts(profile);
    lorenz_from_descending(positives.iter().copied(), profile.len(), points)
}

/// [`lorenz_curve`] from the positive values in descending order (`n` counts all units).
pub(crate) fn lorenz_from_descending<I>(positives: I, n: usize, points: usize) -> Vec<LorenzPoint>
where
    I: DoubleEndedIterator<Item = f32> + ExactSizeIterator,
{
    let points = points.max(2);
    let population = |j: usize| j as f64 / (points - 1) as f64;
    let m = positives.len();
    if m == 0 {
        return (0..points)
            .map(|j| LorenzPoint {
                population: population(j),
                mass: population(j),
            })
            .collect();
    }
    // cumulative[i] = mass of the i smallest positive values; the n - m non-positive units come first.
    let mut cumulative = Vec::with_capacity(m + 1);
    let mut sum = 0.0_f64;
    cumulative.push(0.0);
    for x in positives.rev() {
        sum += f64::from(x);
        cumulative.push(sum);
    }
    let zeros = n - m;
    let below = |i: usize| {
        if i <= zeros {
            0.0
        } else {
            cumulative[i - zeros]
        }
    };
    (0..points)
        .map(|j| {
            let x = population(j);
            let mass = if j == 0 {
                0.0
            } else if j == points - 1 {
                1.0
            } else {
                let t = x * n as f64;
                let i = (t.floor() as usize).min(n);
                let low = below(i);
                let interpolated = if i < n {
                    low + (t - i as f64) * (below(i + 1) - low)
                } else {
                    low
                };
                (interpolated / sum).clamp(0.0, 1.0)
            };
            LorenzPoint {
                population: x,
                mass,
            }
        })
        .collect()
}

/// Each group's fraction of the total positive mass of `profile` (layer share, expert share).
///
/// Groups are unit ranges; they may overlap or leave units out (the denominator is always the mass
/// of the whole profile, so shares of a partition sum to 1). Without positive mass every share is 0.
///
/// # Panics
/// If a range reaches past the end of `profile` or has `start > end`.
///
/// ```
/// use lpi_stats::group_shares;
/// let shares = group_shares(&[1.0, 3.0, -5.0, 4.0], &[0..2, 2..4]);
/// assert_eq!(shares, vec![0.5, 0.5]);
/// ```
pub fn group_shares(profile: &[f32], groups: &[Range<usize>]) -> Vec<f64> {
    debug_assert!(
        profile.iter().all(|x| x.is_finite()),
        "profile must be finite"
    );
    let positive_sum =
        |values: &[f32]| -> f64 { values.iter().map(|&x| f64::from(x.max(0.0))).sum::<f64>() };
    let total = positive_sum(profile);
    groups
        .iter()
        .map(|g| {
            let part = positive_sum(&profile[g.clone()]);
            if total > 0.0 {
                (part / total).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_count_clamps_and_rounds_decimal_fractions() {
        assert_eq!(top_k_count(0, 0.01), 0);
        assert_eq!(top_k_count(1, 0.01), 1);
        assert_eq!(top_k_count(10, 1.5), 10);
        assert_eq!(top_k_count(10, -1.0), 1);
        assert_eq!(top_k_count(10, f64::NAN), 1);
        assert_eq!(top_k_count(100, 0.07), 7);
        assert_eq!(top_k_count(1000, 0.001), 1);
        assert_eq!(top_k_count(101, 0.01), 2);
    }

    #[test]
    fn massless_profiles_have_zero_concentration() {
        for profile in [&[][..], &[-1.0, -2.0], &[0.0, 0.0, 0.0], &[-0.0]] {
            let s = summarize(profile, 0.01);
            assert_eq!(s, ProfileSummary::massless(profile.len()));
        }
    }

    #[test]
    fn single_unit_has_zero_entropy_and_gini() {
        let s = summarize(&[2.5], 0.01);
        assert_eq!((s.top_share, s.entropy, s.gini), (1.0, 0.0, 0.0));
    }

    #[test]
    fn even_spread_has_entropy_one_and_gini_zero() {
        let s = summarize(&[0.5; 8], 0.25);
        assert!((s.entropy - 1.0).abs() < 1e-15);
        assert_eq!(s.gini, 0.0);
        assert_eq!(s.top_share, 0.25);
    }

    #[test]
    fn one_holder_has_gini_one_minus_one_over_n() {
        let s = summarize(&[0.0, 0.0, 7.0, -1.0], 0.25);
        assert_eq!(s.gini, 0.75);
        assert_eq!(s.entropy, 0.0);
        assert_eq!(s.top_share, 1.0);
    }

    #[test]
    fn lorenz_degenerate_cases() {
        let equality = lorenz_curve(&[-1.0, 0.0], 5);
        assert!(equality.iter().all(|p| p.mass == p.population));
        let ends = lorenz_curve(&[1.0, 2.0], 0);
        assert_eq!(ends.len(), 2);
        assert_eq!((ends[0].population, ends[0].mass), (0.0, 0.0));
        assert_eq!((ends[1].population, ends[1].mass), (1.0, 1.0));
        assert_eq!(lorenz_curve(&[], 3).len(), 3);
    }

    #[test]
    fn group_shares_without_mass_are_zero() {
        assert_eq!(group_shares(&[-1.0, 0.0], &[0..1, 1..2]), vec![0.0, 0.0]);
        assert_eq!(group_shares(&[2.0, 2.0], &[0..0, 0..2]), vec![0.0, 1.0]);
    }
}

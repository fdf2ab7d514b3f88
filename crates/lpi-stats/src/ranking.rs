//! Rank stability between two profiles: Spearman's rho, top-k Jaccard and rank-biased overlap,
//! overall and per group (DESIGN.md section 2.4).
//!
//! The order of a profile is descending by value with ties broken by the lower unit index; Spearman
//! uses average (fractional) ranks for ties, as `scipy.stats.rankdata(method="average")` does.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::concentration::{
    LorenzPoint, ProfileSummary, lorenz_from_descending, summary_from_descending,
};

/// Largest number of units a ranking holds: doubled ranks `2n` and the centred products
/// `(2n)^2` stay inside `u32` and `i64`.
const MAX_UNITS: usize = 1 << 30;

/// Below this many units, a comparison sort beats the radix sort's fixed histogram cost.
const RADIX_THRESHOLD: usize = 1024;

/// A profile's ranking, built once and reused for its summary, Lorenz curve and every comparison.
///
/// Holds the descending order (ties by lower index), each unit's doubled average rank (rank 1 = the
/// largest value; doubling keeps tie averages integral) and the sum of squared centred ranks, so that
/// [`spearman`], [`top_k_jaccard`], [`rank_biased_overlap`] and [`stability`] against a cached
/// previous or reference ranking cost `O(n)` without sorting again. About 12 bytes per unit.
///
/// `-0.0` and `0.0` are the same value (tied). Values must be finite (checked in debug builds only).
#[derive(Debug, Clone)]
pub struct RankedProfile {
    /// `(descending key << 32) | unit`, sorted ascending: the descending order of the values.
    sorted: Vec<u64>,
    /// Per unit: twice its average rank, in `[2, 2n]`.
    doubled_ranks: Vec<u32>,
    /// `sum (2 r_i - (n + 1))^2` over units, the (scaled) variance of the ranks.
    centred_square_sum: i128,
}

/// An order-preserving map of a finite `f32` to `u32`, inverted so that ascending keys are
/// descending values. `-0.0` is folded into `0.0` first so they tie.
#[inline]
fn descending_key(x: f32) -> u32 {
    let bits = (x + 0.0).to_bits();
    let ascending = if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    !ascending
}

/// Inverse of [`descending_key`].
#[inline]
fn value_of_key(key: u32) -> f32 {
    let ascending = !key;
    let bits = if ascending & 0x8000_0000 != 0 {
        ascending & 0x7fff_ffff
    } else {
        !ascending
    };
    f32::from_bits(bits)
}

#[inline]
fn key_of(item: u64) -> u32 {
    (item >> 32) as u32
}

#[inline]
fn unit_of(item: u64) -> usize {
    (item & 0xffff_ffff) as usize
}

/// Sorts `items` by their upper 32 bits, stably: an LSD radix sort in three 11-bit passes, skipping
/// passes whose digit is the same for every item. Items arrive in unit order, so stability breaks
/// ties by the lower unit index.
fn radix_sort_by_key(items: &mut Vec<u64>) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    const PASSES: usize = 3;
    let n = items.len();
    let mut histograms = vec![[0_u32; BUCKETS]; PASSES];
    for &item in items.iter() {
        let key = key_of(item);
        for (pass, histogram) in histograms.iter_mut().enumerate() {
            histogram[((key >> (BITS * pass as u32)) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    let mut scratch = vec![0_u64; n];
    for (pass, histogram) in histograms.iter().enumerate() {
        if histogram.iter().any(|&count| count as usize == n) {
            continue; // every item has the same digit: this pass would not move anything
        }
        let mut offsets = [0_u32; BUCKETS];
        let mut running = 0_u32;
        for (offset, &count) in offsets.iter_mut().zip(histogram.iter()) {
            *offset = running;
            running += count;
        }
        let shift = BITS * pass as u32;
        for &item in items.iter() {
            let digit = ((key_of(item) >> shift) as usize) & (BUCKETS - 1);
            scratch[offsets[digit] as usize] = item;
            offsets[digit] += 1;
        }
        std::mem::swap(items, &mut scratch);
    }
}

/// Sorted `(key << 32) | unit` items of `profile`, descending by value, ties by lower unit.
fn sorted_items(profile: &[f32]) -> Vec<u64> {
    let mut items: Vec<u64> = profile
        .iter()
        .enumerate()
        .map(|(unit, &x)| (u64::from(descending_key(x)) << 32) | unit as u64)
        .collect();
    if items.len() < RADIX_THRESHOLD {
        items.sort_unstable(); // (key, unit) pairs are distinct: same result as a stable key sort
    } else {
        radix_sort_by_key(&mut items);
    }
    items
}

/// Calls `f(start, len)` for every run of equal keys in `sorted`.
#[inline]
fn for_each_tie_run(sorted: &[u64], mut f: impl FnMut(usize, usize)) {
    let mut start = 0;
    while start < sorted.len() {
        let key = key_of(sorted[start]);
        let mut end = start + 1;
        while end < sorted.len() && key_of(sorted[end]) == key {
            end += 1;
        }
        f(start, end - start);
        start = end;
    }
}

impl RankedProfile {
    /// Ranks `profile`: a stable radix sort of order-preserving `u32` keys (about 15 ms for 2^20
    /// units on one core) plus one pass for the average ranks.
    ///
    /// # Panics
    /// If `profile` has more than 2^30 units.
    pub fn new(profile: &[f32]) -> Self {
        assert!(
            profile.len() <= MAX_UNITS,
            "a ranked profile holds at most 2^30 units, got {}",
            profile.len()
        );
        debug_assert!(
            profile.iter().all(|x| x.is_finite()),
            "profile must be finite"
        );
        let sorted = sorted_items(profile);
        let n = sorted.len();
        let mut doubled_ranks = vec![0_u32; n];
        let mut centred_square_sum = 0_i128;
        let centre = n as i64 + 1;
        for_each_tie_run(&sorted, |start, len| {
            // Positions start+1 ..= start+len share the average rank start + (len + 1) / 2.
            let doubled = (2 * start + len + 1) as u32;
            for &item in &sorted[start..start + len] {
                doubled_ranks[unit_of(item)] = doubled;
            }
            let c = i64::from(doubled) - centre;
            centred_square_sum += i128::from(c * c) * len as i128;
        });
        Self {
            sorted,
            doubled_ranks,
            centred_square_sum,
        }
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the profile has no units.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Units in descending order of value, ties by lower index (the order used for top-k sets and
    /// rank-biased overlap).
    pub fn order(&self) -> impl ExactSizeIterator<Item = usize> + DoubleEndedIterator + '_ {
        self.sorted.iter().map(|&item| unit_of(item))
    }

    /// The values in descending order (the profile sorted, `-0.0` shown as `0.0`).
    pub fn sorted_values(&self) -> impl ExactSizeIterator<Item = f32> + DoubleEndedIterator + '_ {
        self.sorted.iter().map(|&item| value_of_key(key_of(item)))
    }

    /// Average rank of `unit`, 1 for the largest value; tied units share the mean of their ranks.
    ///
    /// # Panics
    /// If `unit >= self.len()`.
    pub fn average_rank(&self, unit: usize) -> f64 {
        f64::from(self.doubled_ranks[unit]) / 2.0
    }

    /// Number of units with a value `> 0` (they come first in [`Self::order`]).
    pub fn positive_units(&self) -> usize {
        self.sorted
            .partition_point(|&item| value_of_key(key_of(item)) > 0.0)
    }

    fn positive_values(&self) -> impl ExactSizeIterator<Item = f32> + DoubleEndedIterator + Clone {
        self.sorted[..self.positive_units()]
            .iter()
            .map(|&item| value_of_key(key_of(item)))
    }

    /// Same as [`crate::summarize`] on the ranked profile, without sorting again.
    pub fn summary(&self, q: f64) -> ProfileSummary {
        summary_from_descending(self.positive_values(), self.len(), q)
    }

    /// Same as [`crate::lorenz_curve`] on the ranked profile, without sorting again.
    pub fn lorenz_curve(&self, points: usize) -> Vec<LorenzPoint> {
        lorenz_from_descending(self.positive_values(), self.len(), points)
    }

    /// Ranks within each group (layer, expert), derived from this ranking in `O(n)`; compare two of
    /// them with [`group_spearman`]. A unit's rank within its group is its position among the
    /// group's units in [`Self::order`], averaged over ties as for the whole profile.
    ///
    /// # Panics
    /// If a group reaches past the end of the profile, has `start > end`, or overlaps another group.
    pub fn group_ranks(&self, groups: &[Range<usize>]) -> GroupRanks {
        let n = self.len();
        const NONE: u32 = u32::MAX;
        let mut group_of = vec![NONE; n];
        let mut offsets = Vec::with_capacity(groups.len());
        let mut total = 0_usize;
        for (g, range) in groups.iter().enumerate() {
            assert!(
                range.start <= range.end && range.end <= n,
                "group {g} ({range:?}) does not fit a profile of {n} units"
            );
            for slot in &mut group_of[range.clone()] {
                assert!(
                    *slot == NONE,
                    "group {g} ({range:?}) overlaps group {}; per-group ranks need disjoint groups",
                    *slot
                );
                *slot = g as u32;
            }
            offsets.push(total);
            total += range.len();
        }
        let mut doubled = vec![0_u32; total];
        let mut next = vec![0_u32; groups.len()]; // units of each group ranked so far
        let mut counts = vec![0_u32; groups.len()];
        let slot = |unit: usize, g: usize| offsets[g] + unit - groups[g].start;
        for_each_tie_run(&self.sorted, |start, len| {
            let run = &self.sorted[start..start + len];
            if len == 1 {
                let unit = unit_of(run[0]);
                let g = group_of[unit];
                if g != NONE {
                    let g = g as usize;
                    doubled[slot(unit, g)] = 2 * next[g] + 2;
                    next[g] += 1;
                }
                return;
            }
            // A tie run: within each group its members share the average of their positions.
            for &item in run {
                let g = group_of[unit_of(item)];
                if g != NONE {
                    counts[g as usize] += 1;
                }
            }
            for &item in run {
                let unit = unit_of(item);
                let g = group_of[unit];
                if g != NONE {
                    let g = g as usize;
                    doubled[slot(unit, g)] = 2 * next[g] + counts[g] + 1;
                }
            }
            for &item in run {
                let g = group_of[unit_of(item)];
                if g != NONE && counts[g as usize] != 0 {
                    let g = g as usize;
                    next[g] += counts[g];
                    counts[g] = 0;
                }
            }
        });
        let centred_square_sums = groups
            .iter()
            .zip(&offsets)
            .map(|(range, &offset)| {
                let centre = range.len() as i64 + 1;
                doubled[offset..offset + range.len()]
                    .iter()
                    .map(|&d| {
                        let c = i64::from(d) - centre;
                        i128::from(c * c)
                    })
                    .sum()
            })
            .collect();
        GroupRanks {
            groups: groups.to_vec(),
            offsets,
            doubled,
            centred_square_sums,
        }
    }
}

/// Ranks of a profile within each of a set of disjoint unit groups, from
/// [`RankedProfile::group_ranks`]; compare two with [`group_spearman`].
#[derive(Debug, Clone)]
pub struct GroupRanks {
    groups: Vec<Range<usize>>,
    /// Start of each group's ranks in `doubled`.
    offsets: Vec<usize>,
    /// Doubled within-group average ranks, group after group, units in index order.
    doubled: Vec<u32>,
    centred_square_sums: Vec<i128>,
}

impl GroupRanks {
    /// The groups these ranks were computed for.
    pub fn groups(&self) -> &[Range<usize>] {
        &self.groups
    }
}

/// Pearson correlation of centred doubled ranks, with the constant-ranking conventions of
/// [`spearman`].
fn rank_correlation(a: &[u32], b: &[u32], square_a: i128, square_b: i128) -> f64 {
    match (square_a == 0, square_b == 0) {
        (true, true) => return 1.0,
        (true, false) | (false, true) => return 0.0,
        (false, false) => {}
    }
    let centre = a.len() as i64 + 1;
    let mut covariance = 0_i128;
    // Each product fits i64 for n <= 2^30; summing in i128 keeps the covariance exact for any n.
    for (&ra, &rb) in a.iter().zip(b) {
        covariance += i128::from((i64::from(ra) - centre) * (i64::from(rb) - centre));
    }
    // sqrt(fl(v * v)) == v in binary floating point, so identical rankings give exactly 1.
    let rho = covariance as f64 / (square_a as f64 * square_b as f64).sqrt();
    rho.clamp(-1.0, 1.0)
}

/// Spearman's rank correlation: the Pearson correlation of the average ranks, as
/// `scipy.stats.spearmanr` computes it.
///
/// Where scipy returns NaN because a ranking is constant (every value tied, or fewer than two units):
/// both constant gives 1 (the rankings are identical), exactly one constant gives 0 (no association).
/// The result is in `[-1, 1]`; identical rankings give exactly 1, reversed distinct ones exactly -1.
///
/// # Panics
/// If the profiles have different lengths.
pub fn spearman(a: &RankedProfile, b: &RankedProfile) -> f64 {
    assert_same_len(a, b);
    rank_correlation(
        &a.doubled_ranks,
        &b.doubled_ranks,
        a.centred_square_sum,
        b.centred_square_sum,
    )
}

/// Spearman's rho within each group, in group order (see [`spearman`] for the constant-ranking
/// conventions; an empty or one-unit group gives 1).
///
/// # Panics
/// If the two were computed for different groups.
pub fn group_spearman(a: &GroupRanks, b: &GroupRanks) -> Vec<f64> {
    assert_eq!(
        a.groups, b.groups,
        "group ranks of different groups cannot be compared"
    );
    a.groups
        .iter()
        .enumerate()
        .map(|(g, range)| {
            let span = a.offsets[g]..a.offsets[g] + range.len();
            rank_correlation(
                &a.doubled[span.clone()],
                &b.doubled[span],
                a.centred_square_sums[g],
                b.centred_square_sums[g],
            )
        })
        .collect()
}

/// [`group_spearman`] straight from two profiles (ranks both; cache [`RankedProfile`] and
/// [`GroupRanks`] instead when one side is compared again).
///
/// # Panics
/// If the profiles differ in length, or as [`RankedProfile::group_ranks`].
pub fn group_spearman_slices(a: &[f32], b: &[f32], groups: &[Range<usize>]) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "profiles of different lengths");
    let ranks_a = RankedProfile::new(a).group_ranks(groups);
    let ranks_b = RankedProfile::new(b).group_ranks(groups);
    group_spearman(&ranks_a, &ranks_b)
}

fn assert_same_len(a: &RankedProfile, b: &RankedProfile) {
    assert_eq!(
        a.len(),
        b.len(),
        "rankings of different lengths ({} and {} units) cannot be compared",
        a.len(),
        b.len()
    );
}

/// Bitmap of units seen so far in one ranking.
struct Seen(Vec<u64>);

impl Seen {
    fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }

    #[inline]
    fn insert(&mut self, unit: usize) {
        self.0[unit >> 6] |= 1 << (unit & 63);
    }

    #[inline]
    fn contains(&self, unit: usize) -> bool {
        self.0[unit >> 6] >> (unit & 63) & 1 != 0
    }
}

/// Walks both orders depth by depth, keeping the overlap `X_d = |A[..d] ∩ B[..d]|`, and calls
/// `f(d, X_d)` for `d = 1..=depth`; `f` returns false to stop early.
#[inline]
fn walk_overlap(
    a: &RankedProfile,
    b: &RankedProfile,
    depth: usize,
    mut f: impl FnMut(usize, u64) -> bool,
) {
    let n = a.len();
    let (mut seen_a, mut seen_b) = (Seen::new(n), Seen::new(n));
    let mut overlap = 0_u64;
    for (d, (&ia, &ib)) in a.sorted[..depth].iter().zip(&b.sorted[..depth]).enumerate() {
        let (ua, ub) = (unit_of(ia), unit_of(ib));
        if ua == ub {
            overlap += 1;
        } else {
            overlap += u64::from(seen_b.contains(ua)) + u64::from(seen_a.contains(ub));
        }
        seen_a.insert(ua);
        seen_b.insert(ub);
        if !f(d + 1, overlap) {
            return;
        }
    }
}

/// Jaccard index of the top-`k` sets (by [`RankedProfile::order`]): `|A ∩ B| / |A ∪ B|`.
///
/// `k` is clamped to the number of units; `k == 0` (or empty profiles) gives 1, two empty sets
/// being identical.
///
/// # Panics
/// If the profiles have different lengths.
pub fn top_k_jaccard(a: &RankedProfile, b: &RankedProfile, k: usize) -> f64 {
    assert_same_len(a, b);
    let k = k.min(a.len());
    let mut overlap = 0;
    walk_overlap(a, b, k, |_, x| {
        overlap = x;
        true
    });
    jaccard_from_overlap(overlap, k)
}

fn jaccard_from_overlap(overlap: u64, k: usize) -> f64 {
    if k == 0 {
        1.0
    } else {
        overlap as f64 / (2 * k as u64 - overlap) as f64
    }
}

/// Persistence `p = 1 - 1/k` for [`rank_biased_overlap`]: the expected depth of the RBO user model,
/// `1 / (1 - p)`, is then `k`, the top-1% count (`k` from [`crate::top_k_count`]). `k <= 1` gives
/// `p = 0`, where RBO only asks whether the two top units agree.
///
/// ```
/// assert_eq!(lpi_stats::default_rbo_persistence(100), 0.99);
/// ```
pub fn default_rbo_persistence(k: usize) -> f64 {
    if k <= 1 { 0.0 } else { 1.0 - 1.0 / k as f64 }
}

/// Extrapolated rank-biased overlap of the two full rankings (Webber, Moffat and Zobel 2010,
/// "A similarity measure for indefinite rankings", eq. 32 with equal lengths `l = s = n`):
///
/// `RBO_ext = X_n / n * p^n + (1 - p) / p * sum_{d=1..n} X_d / d * p^d`
///
/// where `X_d` is the overlap of the two top-`d` sets. The second term is computed as
/// `(1 - p) * sum X_d / d * p^(d-1)`, which is also its limit at `p = 0` (then RBO is 1 if the top
/// units agree, else 0). Deeper ranks weigh geometrically less; `p` sets how fast (see
/// [`default_rbo_persistence`]). In `[0, 1]`; identical rankings give 1 (up to rounding of the
/// geometric weights, ~n·1e-16). Empty profiles give 1. `O(n)` with two bitmaps.
///
/// # Panics
/// If the profiles differ in length or `p` is not in `[0, 1)`.
pub fn rank_biased_overlap(a: &RankedProfile, b: &RankedProfile, p: f64) -> f64 {
    stability_pass(a, b, 0, p).1
}

/// Returns `(X_k, RBO_ext)`.
fn stability_pass(a: &RankedProfile, b: &RankedProfile, k: usize, p: f64) -> (u64, f64) {
    assert_same_len(a, b);
    assert!(
        (0.0..1.0).contains(&p),
        "RBO persistence p must be in [0, 1), got {p}"
    );
    let n = a.len();
    if n == 0 {
        return (0, 1.0);
    }
    let k = k.min(n);
    let mut overlap_k = 0;
    let mut overlap_last = 0;
    let mut depth_last = 0;
    let mut weight = 1.0_f64; // p^(d-1)
    let mut sum = 0.0_f64;
    walk_overlap(a, b, n, |d, x| {
        if d == k {
            overlap_k = x;
        }
        sum += x as f64 / d as f64 * weight;
        weight *= p;
        overlap_last = x;
        depth_last = d;
        // Once p^d underflows every later term (and the final p^n term) is exactly 0.
        weight != 0.0 || d < k
    });
    // If the walk stopped early, p^n underflowed to 0 and the final term vanishes.
    let tail = if depth_last == n {
        overlap_last as f64 / n as f64 * weight
    } else {
        0.0
    };
    let rbo = (tail + (1.0 - p) * sum).clamp(0.0, 1.0);
    (overlap_k, rbo)
}

/// Rank stability between two profiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// [`spearman`] rank correlation, in `[-1, 1]`.
    pub spearman: f64,
    /// [`top_k_jaccard`] of the top-k sets, in `[0, 1]`.
    pub jaccard: f64,
    /// [`rank_biased_overlap`], in `[0, 1]`.
    pub rbo: f64,
}

/// Spearman, top-`k` Jaccard and RBO with persistence `p` in two passes over the cached rankings
/// (one for Spearman, one shared by Jaccard and RBO). Symmetric in `a` and `b`.
///
/// # Panics
/// If the profiles differ in length or `p` is not in `[0, 1)`.
pub fn stability(a: &RankedProfile, b: &RankedProfile, k: usize, p: f64) -> Stability {
    let (overlap_k, rbo) = stability_pass(a, b, k, p);
    Stability {
        spearman: spearman(a, b),
        jaccard: jaccard_from_overlap(overlap_k, k.min(a.len())),
        rbo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_values_descending_and_round_trip() {
        let values = [
            f32::MAX,
            3.5,
            1.0,
            f32::MIN_POSITIVE,
            0.0,
            -f32::MIN_POSITIVE,
            -1.0,
            f32::MIN,
        ];
        for pair in values.windows(2) {
            assert!(
                descending_key(pair[0]) < descending_key(pair[1]),
                "{pair:?}"
            );
        }
        for &v in &values {
            assert_eq!(value_of_key(descending_key(v)), v);
        }
        assert_eq!(descending_key(-0.0), descending_key(0.0));
    }

    /// Pseudo-random values with many ties, zeros and negatives (splitmix64).
    fn noisy_profile(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                match z % 4 {
                    0 => 0.0,
                    1 => ((z >> 8) % 50) as f32 - 10.0,
                    _ => f32::from_bits(((z >> 16) as u32) & 0x0fff_ffff | 0x3000_0000),
                }
            })
            .collect()
    }

    #[test]
    fn radix_sort_matches_comparison_sort() {
        for (n, seed) in [(RADIX_THRESHOLD, 1), (100_000, 2), (5_000, 3)] {
            let profile = noisy_profile(n, seed);
            let radix = sorted_items(&profile);
            let mut expected: Vec<u64> = profile
                .iter()
                .enumerate()
                .map(|(u, &x)| (u64::from(descending_key(x)) << 32) | u as u64)
                .collect();
            expected.sort_unstable();
            assert_eq!(radix, expected);
        }
    }

    #[test]
    fn radix_sort_skips_constant_digits() {
        let profile = vec![1.5_f32; 5000];
        let ranked = RankedProfile::new(&profile);
        assert!(ranked.order().eq(0..5000));
        assert_eq!(ranked.average_rank(17), 2500.5);
    }

    #[test]
    fn average_ranks_match_hand_computed() {
        let ranked = RankedProfile::new(&[1.0, 3.0, 1.0, -0.0, 0.0, 3.0]);
        let ranks: Vec<f64> = (0..6).map(|u| ranked.average_rank(u)).collect();
        assert_eq!(ranks, vec![3.5, 1.5, 3.5, 5.5, 5.5, 1.5]);
        assert!(ranked.order().eq([1, 5, 0, 2, 3, 4]));
        assert_eq!(ranked.positive_units(), 4);
    }

    #[test]
    fn constant_and_empty_rankings() {
        let constant = RankedProfile::new(&[2.0, 2.0, 2.0]);
        let varying = RankedProfile::new(&[1.0, 2.0, 3.0]);
        assert_eq!(spearman(&constant, &constant), 1.0);
        assert_eq!(spearman(&constant, &varying), 0.0);
        assert_eq!(spearman(&varying, &constant), 0.0);
        let single = RankedProfile::new(&[5.0]);
        assert_eq!(spearman(&single, &RankedProfile::new(&[-1.0])), 1.0);
        let empty = RankedProfile::new(&[]);
        let s = stability(&empty, &empty, 3, 0.9);
        assert_eq!((s.spearman, s.jaccard, s.rbo), (1.0, 1.0, 1.0));
        assert_eq!(top_k_jaccard(&varying, &constant, 0), 1.0);
    }

    #[test]
    fn rbo_at_zero_persistence_compares_the_top_units() {
        let a = RankedProfile::new(&[3.0, 2.0, 1.0]);
        let b = RankedProfile::new(&[3.0, 1.0, 2.0]);
        let c = RankedProfile::new(&[1.0, 3.0, 2.0]);
        assert_eq!(rank_biased_overlap(&a, &b, 0.0), 1.0);
        assert_eq!(rank_biased_overlap(&a, &c, 0.0), 0.0);
        assert_eq!(default_rbo_persistence(1), 0.0);
        assert_eq!(default_rbo_persistence(0), 0.0);
    }

    #[test]
    fn rbo_hand_computed() {
        // A = [0, 1, 2], B = [1, 0, 2]: X = 0, 2, 3.
        let a = RankedProfile::new(&[3.0, 2.0, 1.0]);
        let b = RankedProfile::new(&[2.0, 3.0, 1.0]);
        let p = 0.5_f64;
        let expected =
            3.0 / 3.0 * p.powi(3) + (1.0 - p) / p * (0.0 + 2.0 / 2.0 * p * p + p.powi(3));
        assert!((rank_biased_overlap(&a, &b, p) - expected).abs() < 1e-15);
    }

    #[test]
    fn rbo_stops_after_underflow_with_the_same_value() {
        let profile = noisy_profile(3000, 9);
        let other = noisy_profile(3000, 10);
        let (a, b) = (RankedProfile::new(&profile), RankedProfile::new(&other));
        let p = 1e-200; // p^2 underflows: the walk stops at depth 2 unless k is deeper
        let (x1, rbo) = stability_pass(&a, &b, 1, p);
        assert!((rbo - x1 as f64).abs() < 1e-150);
        assert_eq!(stability_pass(&a, &b, 2000, p).1, rbo);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_groups_are_rejected() {
        RankedProfile::new(&[1.0, 2.0, 3.0]).group_ranks(&[0..2, 1..3]);
    }

    #[test]
    #[should_panic(expected = "persistence")]
    fn persistence_one_is_rejected() {
        let a = RankedProfile::new(&[1.0, 2.0]);
        rank_biased_overlap(&a, &a, 1.0);
    }

    #[test]
    fn group_ranks_match_ranking_each_group_alone() {
        let profile = noisy_profile(4000, 5);
        let groups = [0..1000, 1000..1500, 2000..4000, 1500..1501];
        let ranks = RankedProfile::new(&profile).group_ranks(&groups);
        for (g, range) in groups.iter().enumerate() {
            let alone = RankedProfile::new(&profile[range.clone()]);
            let span = ranks.offsets[g]..ranks.offsets[g] + range.len();
            assert_eq!(ranks.doubled[span], alone.doubled_ranks[..]);
            assert_eq!(ranks.centred_square_sums[g], alone.centred_square_sum);
        }
    }
}

//! The fused vocabulary log-sum-exp kernel behind exact Gated-LPI on CPUs.
//!
//! Every unit's perturbed logits are an affine mix of two vectors over the vocabulary
//! (DESIGN.md 2.3): `logits = a * z + b * m`, with `z` the probe's raw baseline logits and `m` the
//! unit's raw write-out column. The exact score needs `ln Σ_v exp(a z[v] + b m[v])` for every
//! (probe, unit) pair, which is `P x n x V` exponentials per layer and dominates the cost.
//!
//! This kernel never materialises the `n x V` logits: for one unit column it streams the probes'
//! baseline rows, shifts by an upper bound of the maximum known in advance, evaluates `exp` with a
//! branch-free polynomial that vectorises, and accumulates in registers. The column stays in cache
//! while all probes reuse it. The bound `max(a z) + max(b m)` can exceed the true maximum; when
//! the sum underflows because of that, the pair is recomputed with the exact maximum, so the result
//! is exact (to f32 rounding, about 1e-6 relative) for any input.

/// Lanes of the inner loop: a multiple of every SIMD width we target (SSE 4, AVX2 8, AVX-512 16).
const LANES: usize = 16;

/// Below this the shifted sum has lost too many bits to the loose bound; recompute exactly.
const UNDERFLOW_GUARD: f32 = 1e-20;

/// One baseline row `z` with its extremes, computed once and reused by every unit.
#[derive(Debug, Clone, Copy)]
pub struct BaselineRow<'a> {
    /// Raw baseline logits over the vocabulary.
    pub logits: &'a [f32],
    /// `max(logits)`.
    pub max: f32,
    /// `min(logits)`.
    pub min: f32,
}

impl<'a> BaselineRow<'a> {
    /// Wraps a row and scans it for its extremes.
    pub fn new(logits: &'a [f32]) -> Self {
        let (min, max) = min_max(logits);
        Self { logits, max, min }
    }
}

/// One unit's write-out column over the vocabulary, with its extremes.
#[derive(Debug, Clone, Copy)]
pub struct UnitColumn<'a> {
    /// Raw write-out logits of the unit (`W_U diag(gamma) w`).
    pub logits: &'a [f32],
    /// `max(logits)`.
    pub max: f32,
    /// `min(logits)`.
    pub min: f32,
}

impl<'a> UnitColumn<'a> {
    /// Wraps a column and scans it for its extremes.
    pub fn new(logits: &'a [f32]) -> Self {
        let (min, max) = min_max(logits);
        Self { logits, max, min }
    }
}

/// Returns `(min, max)` of a non-empty slice.
pub fn min_max(values: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for l in 0..LANES {
            lo[l] = if chunk[l] < lo[l] { chunk[l] } else { lo[l] };
            hi[l] = if chunk[l] > hi[l] { chunk[l] } else { hi[l] };
        }
    }
    let mut min = lo.iter().copied().fold(f32::INFINITY, f32::min);
    let mut max = hi.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in tail {
        min = min.min(v);
        max = max.max(v);
    }
    (min, max)
}

/// `ln Σ_v exp(a * row[v] + b * column[v])` for each `(row, a, b)` against one column.
///
/// `rows`, `a`, `b` and `out` have equal length. `a` must be positive (it is `1 / r`, the inverse
/// norm statistic). Pairs with `b == 0` are still evaluated; callers skip them when they can.
pub fn lse_affine(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    debug_assert!(rows.len() == a.len() && a.len() == b.len() && b.len() == out.len());
    dispatch(column, rows, a, b, out);
}

#[cfg(target_arch = "x86_64")]
fn dispatch(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { lse_affine_avx512(column, rows, a, b, out) }
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: as above.
        unsafe { lse_affine_avx2(column, rows, a, b, out) }
    } else {
        lse_affine_portable(column, rows, a, b, out)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn dispatch(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    lse_affine_portable(column, rows, a, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn lse_affine_avx512(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    lse_affine_body::<true>(column, rows, a, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn lse_affine_avx2(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    lse_affine_body::<true>(column, rows, a, b, out)
}

fn lse_affine_portable(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    lse_affine_body::<false>(column, rows, a, b, out)
}

/// The kernel body, inlined into each target-feature wrapper so LLVM vectorises it for that ISA.
/// `FMA` selects fused multiply-adds, which are only fast where the CPU has them.
#[inline(always)]
fn lse_affine_body<const FMA: bool>(
    column: UnitColumn<'_>,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    for (j, row) in rows.iter().enumerate() {
        let (aj, bj) = (a[j], b[j]);
        let bound = aj * row.max
            + if bj >= 0.0 {
                bj * column.max
            } else {
                bj * column.min
            };
        let sum = shifted_exp_sum::<FMA>(row.logits, column.logits, aj, bj, bound);
        out[j] = if sum > UNDERFLOW_GUARD && sum.is_finite() {
            bound + sum.ln()
        } else {
            let exact = exact_max(row.logits, column.logits, aj, bj);
            exact + shifted_exp_sum::<FMA>(row.logits, column.logits, aj, bj, exact).ln()
        };
    }
}

#[inline(always)]
fn shifted_exp_sum<const FMA: bool>(z: &[f32], m: &[f32], a: f32, b: f32, shift: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let zc = z.chunks_exact(LANES);
    let mc = m.chunks_exact(LANES);
    let (zt, mt) = (zc.remainder(), mc.remainder());
    for (zs, ms) in zc.zip(mc) {
        for l in 0..LANES {
            acc[l] += exp_poly::<FMA>(madd::<FMA>(a, zs[l], madd::<FMA>(b, ms[l], -shift)));
        }
    }
    let mut sum = 0.0f32;
    for (&zv, &mv) in zt.iter().zip(mt) {
        sum += exp_poly::<FMA>(madd::<FMA>(a, zv, madd::<FMA>(b, mv, -shift)));
    }
    // Pairwise reduction of the lanes keeps the rounding error small.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + sum
}

#[inline(always)]
fn exact_max(z: &[f32], m: &[f32], a: f32, b: f32) -> f32 {
    z.iter()
        .zip(m)
        .map(|(&zv, &mv)| a * zv + b * mv)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `a * b + c`, fused where the CPU has FMA (a libm call otherwise, so never there).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `exp(x)` for `x <= ~88`, branch-free so it vectorises: Cody-Waite range reduction
/// `x = n ln2 + r`, a degree-6 minimax polynomial for `exp(r)` on `|r| <= ln2 / 2` (Cephes
/// `expf` coefficients, about 1e-7 relative error) and `2^n` built in the exponent bits.
/// Inputs below -87 return `exp(-87)` (about 1.6e-38), negligible against the `exp(0) = 1` term
/// that the shift guarantees in every sum.
#[inline(always)]
pub fn exp_poly<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer in the FPU.
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    let r2 = r * r;
    let mut p = 1.987_569_1e-4;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = madd::<FMA>(p, r, c);
    }
    let e = madd::<FMA>(p, r2, r + 1.0);
    // The low mantissa bits of `shifted` hold n (two's complement); shifting them into the
    // exponent field after adding the bias gives 2^n without a float-to-int conversion.
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    e * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(z: &[f32], m: &[f32], a: f32, b: f32) -> f64 {
        let vals: Vec<f64> = z
            .iter()
            .zip(m)
            .map(|(&zv, &mv)| a as f64 * zv as f64 + b as f64 * mv as f64)
            .collect();
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + vals.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
    }

    fn pseudo_random(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    }

    #[test]
    fn exp_poly_matches_std_exp_over_its_range() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = x.exp();
            let got = exp_poly::<false>(x);
            let fused = exp_poly::<true>(x);
            assert!(
                ((fused - want) / want).abs() < 3e-7,
                "fused exp({x}): {fused} vs {want}"
            );
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}): {got} vs {want}"
            );
            x += 0.013;
        }
    }

    #[test]
    fn lse_matches_f64_reference_including_loose_bounds() {
        // Vocabulary sizes that exercise the tail loop; scales that make the bound loose
        // (argmax of z and of m apart), including one far beyond the f32 exponent range.
        for (v, z_scale, m_scale, b) in [
            (50, 3.0, 1.0, 0.5),
            (1000, 10.0, 10.0, -2.0),
            (4099, 20.0, 20.0, 3.0),
            (333, 5.0, 100.0, 4.0),
            (64, 1.0, 1.0, 0.0),
        ] {
            let z = pseudo_random(v, 7, z_scale);
            let m = pseudo_random(v, 11, m_scale);
            let rows = [BaselineRow::new(&z)];
            let mut out = [0.0];
            lse_affine(UnitColumn::new(&m), &rows, &[0.7], &[b], &mut out);
            let want = reference(&z, &m, 0.7, b);
            let rel = ((out[0] as f64 - want) / want.abs().max(1.0)).abs();
            assert!(rel < 2e-6, "V={v} b={b}: {} vs {want}", out[0]);
        }
    }

    #[test]
    fn portable_and_dispatched_paths_agree() {
        let z = pseudo_random(777, 3, 8.0);
        let m = pseudo_random(777, 5, 8.0);
        let rows = [BaselineRow::new(&z), BaselineRow::new(&m)];
        let (a, b) = ([0.5, 1.5], [1.0, -0.25]);
        let mut fast = [0.0; 2];
        let mut portable = [0.0; 2];
        lse_affine(UnitColumn::new(&m), &rows, &a, &b, &mut fast);
        lse_affine_portable(UnitColumn::new(&m), &rows, &a, &b, &mut portable);
        for (f, p) in fast.iter().zip(portable) {
            assert!((f - p).abs() < 1e-5, "{f} vs {p}");
        }
    }
}

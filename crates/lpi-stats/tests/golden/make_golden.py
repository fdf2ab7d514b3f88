#!/usr/bin/env python3
"""Golden values for lpi-stats, computed independently with numpy and scipy.

Writes golden.json next to this file. Regenerate with
    pip install numpy scipy   # tested with numpy 2.4, scipy 1.17
    python3 crates/lpi-stats/tests/golden/make_golden.py

Every statistic here is computed the direct way, not the way the Rust code does it:
spearman with scipy.stats.spearmanr, entropy with scipy.stats.entropy, Gini from the mean absolute
difference over all pairs, top shares by a full sort, Jaccard with Python sets, RBO_ext with a loop
over the paper's formula (Webber, Moffat, Zobel 2010, eq. 32 with equal lengths), Lorenz curves with
numpy.interp, positive updates and consolidation by plain loops.

Profile values are multiples of 1/1024 below 2^12, so they are exact in f32 and in the JSON text.
"""

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.stats

OUT = Path(__file__).with_name("golden.json")
QS = [0.01, 0.07, 0.1, 0.25, 0.5]
LORENZ_POINTS = [2, 5, 11]
RBO_PS = [0.5, 0.9, 0.99]


def top_k_count(n, q):
    """ceil(q * n) with q read as the decimal it is written as, clamped to [1, n]."""
    if n == 0:
        return 0
    return min(max(math.ceil(Fraction(repr(q)) * n), 1), n)


def quantize(x):
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 1024.0) / 1024.0, -4095.0, 4095.0)


def heavy_tailed(rng, n, zero_fraction, negative_fraction):
    magnitude = np.exp(2.0 * rng.standard_normal(n) - 1.0)
    sign = np.where(rng.random(n) < negative_fraction, -1.0, 1.0)
    x = quantize(sign * magnitude)
    x[rng.random(n) < zero_fraction] = 0.0
    return x


def perturb(rng, x, jitter, swaps):
    y = quantize(x * np.exp(jitter * rng.standard_normal(len(x))))
    for _ in range(swaps):
        i, j = rng.integers(0, len(x), 2)
        y[i], y[j] = y[j], y[i]
    return y


def order_desc(x):
    """Descending order, ties by lower index (-0.0 == 0.0 in Python comparisons)."""
    return sorted(range(len(x)), key=lambda i: (-float(x[i]), i))


def is_constant(x):
    return len(x) < 2 or bool(np.all(x == x[0]))


def spearman(a, b):
    if is_constant(a) and is_constant(b):
        return 1.0
    if is_constant(a) or is_constant(b):
        return 0.0
    return float(scipy.stats.spearmanr(a, b).statistic)


def summary(x, q):
    n = len(x)
    pos = np.maximum(x, 0.0)
    mass = float(pos.sum())
    positive_units = int((x > 0).sum())
    if mass == 0.0:
        return dict(q=q, units=n, positive_mass=0.0, positive_units=0, top_share=0.0, entropy=0.0, gini=0.0)
    k = top_k_count(n, q)
    top = float(np.sort(pos)[::-1][:k].sum())
    entropy = float(scipy.stats.entropy(pos) / np.log(n)) if n > 1 else 0.0
    mean_abs_diff_sum = float(np.abs(pos[:, None] - pos[None, :]).sum())
    gini = mean_abs_diff_sum / (2.0 * n * mass)
    return dict(q=q, units=n, positive_mass=mass, positive_units=positive_units,
                top_share=top / mass, entropy=entropy, gini=gini)


def lorenz(x, points):
    n = len(x)
    pos = np.sort(np.maximum(x, 0.0))
    mass = pos.sum()
    population = [j / (points - 1) for j in range(points)]
    if mass == 0.0:
        return dict(points=points, population=population, mass=population)
    cumulative = np.concatenate([[0.0], np.cumsum(pos)]) / mass
    curve = np.interp(np.array(population), np.arange(n + 1) / n, cumulative)
    return dict(points=points, population=population, mass=[float(v) for v in curve])


def group_shares(x, groups):
    pos = np.maximum(x, 0.0)
    total = pos.sum()
    return [float(pos[s:e].sum() / total) if total > 0 else 0.0 for s, e in groups]


def overlaps(sa, sb):
    """X_d = |S[:d] & T[:d]| for d = 1..n, straight from the definition."""
    return [len(set(sa[:d]) & set(sb[:d])) for d in range(1, len(sa) + 1)]


def rbo_ext(x_d, p):
    """RBO_ext = X_k/k p^k + (1-p)/p sum_{d=1}^{k} X_d/d p^d with k = n (eq. 32, l = s)."""
    k = len(x_d)
    if k == 0:
        return 1.0
    return x_d[k - 1] / k * p ** k + (1 - p) / p * sum(x_d[d - 1] / d * p ** d for d in range(1, k + 1))


def jaccard(sa, sb, k):
    k = min(k, len(sa))
    if k == 0:
        return 1.0
    a, b = set(sa[:k]), set(sb[:k])
    return len(a & b) / len(a | b)


def case(name, profiles, groups):
    n = len(profiles[0])
    assert all(len(p) == n for p in profiles)
    for p in profiles:
        assert np.all(np.float64(np.float32(p)) == p), "values must be exact in f32"
    orders = [order_desc(p) for p in profiles]
    k_1pct = top_k_count(n, 0.01)
    ks = sorted({1, k_1pct, top_k_count(n, 0.1), max(1, n // 3), n, n + 5})
    ps = sorted(set(RBO_PS + [1.0 - 1.0 / k_1pct] if k_1pct > 1 else RBO_PS))
    pairs = []
    for a, b in [(1, 0), (2, 1), (3, 2), (3, 0), (2, 0), (0, 0)]:
        x_d = overlaps(orders[a], orders[b])
        pairs.append(dict(
            a=a, b=b,
            spearman=spearman(profiles[a], profiles[b]),
            group_spearman=[spearman(profiles[a][s:e], profiles[b][s:e]) for s, e in groups],
            jaccard=[dict(k=k, value=jaccard(orders[a], orders[b], k)) for k in ks],
            rbo=[dict(p=p, value=rbo_ext(x_d, p)) for p in ps],
        ))
    accumulated = np.zeros(n)
    for prev, cur in zip(profiles, profiles[1:]):
        accumulated += np.maximum(cur - prev, 0.0)
    acc_total = accumulated.sum()
    acc_sorted = np.sort(accumulated)[::-1]
    updates = dict(
        accumulated=[float(v) for v in accumulated],
        runs=len(profiles),
        top_share=[dict(q=q, value=float(acc_sorted[:top_k_count(n, q)].sum() / acc_total) if acc_total > 0 else 0.0)
                   for q in QS],
    )
    return dict(
        name=name,
        profiles=[[float(v) for v in p] for p in profiles],
        groups=[[s, e] for s, e in groups],
        summaries=[[summary(p, q) for q in QS] for p in profiles],
        lorenz=[[lorenz(p, m) for m in LORENZ_POINTS] for p in profiles],
        group_shares=[group_shares(p, groups) for p in profiles],
        orders=[o[: min(n, 50)] for o in orders],
        pairs=pairs,
        updates=updates,
    )


def consolidation_case(rng, tau, window, runs):
    stabilities = [float(v) for v in np.round(rng.uniform(0.75, 1.0, runs), 4)]
    steps = [100 * (i + 1) for i in range(runs)]
    first = next((i for i in range(runs - window + 1)
                  if all(s >= tau for s in stabilities[i:i + window])), None)
    expected, streaks, drifted = [], [], []
    for t in range(runs):
        known = first is not None and t >= first + window - 1
        expected.append(steps[first] if known else None)
        streak = 0
        while streak <= t and stabilities[t - streak] >= tau:
            streak += 1
        streaks.append(streak)
        drifted.append(known and stabilities[t] < tau)
    return dict(tau=tau, window=window, steps=steps, stabilities=stabilities,
                consolidated_at=expected, streak=streaks, drifted=drifted)


def main():
    rng = np.random.default_rng(20240611)
    cases = []

    small = np.array([1.0, 0.5, 0.0, -0.25, 0.5, 2.0, -0.0, 0.0, 1.0, -1.0, 0.125, 0.5])
    cases.append(case("small_ties", [small, perturb(rng, small, 0.0, 3), perturb(rng, small, 0.5, 1),
                                     np.where(small > 0, 0.5, small)], [(0, 4), (4, 8), (9, 12)]))

    negative = -np.abs(heavy_tailed(rng, 10, 0.0, 0.0)) - 1.0 / 1024
    cases.append(case("all_negative", [negative, perturb(rng, negative, 0.3, 2),
                                       heavy_tailed(rng, 10, 0.3, 0.3), negative],
                      [(0, 5), (5, 10)]))

    constant = np.full(16, 0.75)
    cases.append(case("constant", [constant, constant.copy(), heavy_tailed(rng, 16, 0.2, 0.1),
                                   np.full(16, -2.0)], [(0, 8), (8, 15), (15, 16)]))

    cases.append(case("all_zero", [np.zeros(20), np.zeros(20), heavy_tailed(rng, 20, 0.5, 0.2), np.zeros(20)],
                      [(0, 10), (10, 20)]))

    distinct = quantize(rng.permutation(97) / 8.0 - 3.0)
    cases.append(case("distinct", [distinct, perturb(rng, distinct, 0.0, 10), -distinct,
                                   perturb(rng, distinct, 0.0, 30)], [(0, 30), (30, 60), (60, 97)]))

    sparse = heavy_tailed(rng, 300, 0.7, 0.15)
    cases.append(case("sparse_300", [sparse, perturb(rng, sparse, 0.3, 5), perturb(rng, sparse, 0.6, 20),
                                     heavy_tailed(rng, 300, 0.7, 0.15)],
                      [(0, 100), (100, 200), (200, 300)]))

    big = heavy_tailed(rng, 2000, 0.6, 0.15)
    big1 = perturb(rng, big, 0.2, 10)
    big2 = perturb(rng, big1, 0.2, 10)
    big3 = perturb(rng, big2, 0.4, 50)
    cases.append(case("heavy_2000", [big, big1, big2, big3], [(i * 250, (i + 1) * 250) for i in range(8)]))

    consolidation = [consolidation_case(rng, tau, window, 40)
                     for tau, window in [(0.9, 1), (0.9, 2), (0.85, 3), (0.9, 3), (0.95, 2), (0.8, 5)]]

    top_k = [[n, q, top_k_count(n, q)] for n in [1, 7, 10, 100, 101, 300, 1000, 2000, 1048576] for q in QS + [0.0, 1.0]]

    OUT.write_text(json.dumps(dict(cases=cases, consolidation=consolidation, top_k_count=top_k),
                              separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

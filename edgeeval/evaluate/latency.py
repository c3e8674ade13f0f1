"""Latency statistics: LoadGen percentiles and distribution-free intervals for them.

Percentile p of n sorted values is `sorted[min(n-1, floor(n*p))]` (MLPerf LoadGen's rule,
no interpolation). Its interval is the order-statistic interval: with B ~ Binomial(n, p)
the number of runs at or below the true quantile q_p,
P(X_(a+1) <= q_p <= X_(b+1)) = F(b) - F(a) for 0-based ranks a < b, which holds for any
continuous distribution; scipy.stats computes F.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

CI_METHOD = "order-statistic (binomial), distribution-free"
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}


def percentile(sorted_ns: Sequence[float] | np.ndarray, p: float):
    """LoadGen's percentile of already-sorted values: sorted[min(n-1, floor(n*p))]."""
    n = len(sorted_ns)
    if n == 0:
        raise ValueError("percentile of an empty sample is undefined")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"percentile p must be within [0, 1], got {p}")
    return sorted_ns[min(n - 1, math.floor(n * p))]


def binom_cdf(n: int, p: float) -> np.ndarray:
    """CDF of Binomial(n, p) at k = 0..n (scipy.stats)."""
    from scipy.stats import binom

    return np.asarray(binom.cdf(np.arange(n + 1), n, p), dtype=np.float64)


def min_n_for_interval(p: float, confidence: float) -> int:
    """Smallest n for which (min, max) already covers q_p with the wanted confidence."""
    n = 2
    while 1.0 - p**n - (1.0 - p) ** n < confidence:
        n += 1
    return n


@lru_cache(maxsize=256)
def order_statistic_ranks(n: int, p: float, confidence: float = 0.95):
    """0-based ranks (a, b) of the tightest interval with F(b) - F(a) >= confidence.

    Among equally tight candidates the one with the most balanced tails wins, then the one
    centred on floor(n*p).
    Returns None when n is too small for the confidence even with (min, max).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"an interval needs 0 < p < 1, got {p}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    if n < 2:
        return None
    cdf = binom_cdf(n, p)
    a = np.arange(n + 1)
    b = np.searchsorted(cdf, cdf + confidence, side="left")
    # searchsorted compares against a rounded sum; step b up where the difference falls short
    inside = b <= n
    short = inside.copy()
    short[inside] = cdf[b[inside]] - cdf[inside] < confidence
    b[short] += 1
    valid = (b <= n - 1) & (a < b)
    if not valid.any():
        return None
    a, b = a[valid], b[valid]
    width = b - a
    tight = width == width.min()
    a, b = a[tight], b[tight]
    # balanced tails first (rounded: rounding noise must not decide a mathematical tie),
    # then centred on the point estimate's rank
    imbalance = np.round(np.abs(cdf[a] - (1.0 - cdf[b])), 9)
    off_centre = np.abs(a + b - 2 * math.floor(n * p))
    i = int(np.lexsort((off_centre, imbalance))[0])
    return int(a[i]), int(b[i]), float(cdf[b[i]] - cdf[a[i]])


def percentile_ci(sorted_ns: Sequence[float] | np.ndarray, p: float, confidence: float = 0.95):
    """(lo, hi, method) bounding the p-quantile with >= confidence; (None, None, reason) if n is too small."""
    n = len(sorted_ns)
    ranks = order_statistic_ranks(n, float(p), float(confidence))
    if ranks is None:
        need = min_n_for_interval(float(p), float(confidence))
        return None, None, (f"n={n} is too small for a {confidence:.0%} interval of the "
                            f"{p:g} quantile: needs n >= {need}")
    a, b, _ = ranks
    return sorted_ns[a], sorted_ns[b], CI_METHOD


def _ms(ns) -> float:
    return float(ns) / 1e6


def latency_stats(latencies_ns, *, confidence: float = 0.95, wall_seconds: float | None = None) -> dict:
    """Summary of timed runs (ns in, ms out: every time field is in `unit` = "ms").

    JSON-serialisable; a None value has its reason in `reasons[key]`.
    """
    arr = np.asarray([] if latencies_ns is None else latencies_ns, dtype=np.float64).ravel()
    n = int(arr.size)
    out: dict = {"n": n, "unit": "ms", "confidence": confidence, "ci_method": CI_METHOD,
                 "reasons": {}}
    keys = [k for name in PERCENTILES for k in (name, f"{name}_ci")]
    keys += ["mean", "std", "min", "max", "cv", "throughput_ips", "throughput_wall_ips",
             "outliers", "outlier_threshold"]
    if n == 0:
        out.update({k: None for k in keys})
        out["reasons"] = {k: "no timed runs" for k in keys}
        return out
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise ValueError("latencies must be finite, non-negative nanoseconds")
    s = np.sort(arr)
    for name, p in PERCENTILES.items():
        out[name] = _ms(percentile(s, p))
        lo, hi, how = percentile_ci(s, p, confidence)
        if lo is None:
            out[f"{name}_ci"] = None
            out["reasons"][f"{name}_ci"] = how
        else:
            out[f"{name}_ci"] = [_ms(lo), _ms(hi)]
    mean = float(s.mean())
    out["mean"] = _ms(mean)
    out["std"] = out["cv"] = None
    if n < 2:
        out["reasons"]["std"] = out["reasons"]["cv"] = "one timed run: no standard deviation"
    else:
        std = float(s.std(ddof=1))
        out["std"] = _ms(std)
        if mean > 0:
            out["cv"] = std / mean
        else:
            out["reasons"]["cv"] = "mean latency is 0"
    out["min"], out["max"] = _ms(s[0]), _ms(s[-1])
    total_s = float(s.sum()) / 1e9
    out["throughput_ips"] = n / total_s if total_s > 0 else None
    if total_s <= 0:
        out["reasons"]["throughput_ips"] = "all latencies are 0 ns"
    out["throughput_wall_ips"] = None
    if wall_seconds is None:
        out["reasons"]["throughput_wall_ips"] = "wall time of the timed phase not reported"
    elif wall_seconds > 0:
        out["throughput_wall_ips"] = n / float(wall_seconds)
    else:
        out["reasons"]["throughput_wall_ips"] = f"wall time {wall_seconds} s is not positive"
    # Outliers are counted, never dropped: a slow tail is part of what the board does.
    q1, q3 = float(percentile(s, 0.25)), float(percentile(s, 0.75))
    threshold = q3 + 3.0 * (q3 - q1)
    out["outliers"] = int(np.count_nonzero(s > threshold))
    out["outlier_threshold"] = _ms(threshold)
    return out

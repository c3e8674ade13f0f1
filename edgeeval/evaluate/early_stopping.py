"""MLPerf LoadGen's early-stopping percentile estimate, implemented from its math.

LoadGen (loadgen/early_stopping.cc, results.cc) asks: with h queries under a latency and t
over it, is the chance of seeing at most t over-latency queries — if the true p-quantile
were that latency — below 1 - c?  That chance is P(X <= t) with X ~ Binomial(h + t, 1 - p)
(tolerance d = 0), the regularised incomplete beta I_p(h, t + 1). For n queries LoadGen
takes the largest t >= 1 with n >= h_min(t) + t and reports the t-th largest latency,
sorted[n - t] (it "would discard t - 1 highest latency queries").

Because P(X <= t) falls as h grows, n >= h_min(t) + t is the same as
P(Binomial(n, 1 - p) <= t) < 1 - c, so t is read off one binomial CDF of n trials:
t = max{ i >= 1 : F_n(i) < 1 - c }. No t exists when F_n(1) >= 1 - c: too few queries
(64 for p90 at c = 0.99, 662 for p99).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .latency import binom_cdf

CONFIDENCE = 0.99  # LoadGen's hard-coded early-stopping confidence
TOLERANCE = 0.0    # LoadGen's hard-coded tolerance d


def overlatency_allowed(n: int, p: float, confidence: float = CONFIDENCE,
                        tolerance: float = TOLERANCE) -> int | None:
    """t: how many of the highest latencies the estimate may sit among; None if n is too small."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"percentile must be within (0, 1), got {p}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    if not 0.0 <= tolerance < p:
        raise ValueError(f"tolerance must be within [0, p), got {tolerance}")
    if n < 2:
        return None
    cdf = binom_cdf(int(n), 1.0 - (p - tolerance))  # P(at most i over-latency queries of n)
    ok = np.nonzero(cdf < 1.0 - confidence)[0]
    ok = ok[ok >= 1]
    if ok.size == 0:
        return None
    # cdf is increasing, so the passing i form a prefix: the last one is the largest
    return int(ok[-1])


def min_queries(p: float, confidence: float = CONFIDENCE, tolerance: float = TOLERANCE) -> int:
    """Fewest queries for which an early-stopping estimate exists (F_n(1) < 1 - c)."""
    from scipy.stats import binom

    q = p - tolerance
    n = max(2, math.ceil(math.log(1.0 - confidence) / math.log(q)))  # F_n(0) = q^n alone
    while binom.cdf(1, n, 1.0 - q) >= 1.0 - confidence:
        n += 1
    return n


def early_stopping_estimate(latencies: Sequence[float] | np.ndarray, p: float = 0.90,
                            confidence: float = CONFIDENCE) -> dict:
    """{"value", "t", "discarded", "n", "min_queries", "percentile", "confidence", "reason"}.

    `value` is sorted[n - t] in the input's unit, or None (with `reason`) below the minimum
    query count.
    """
    s = np.sort(np.asarray(latencies, dtype=np.float64).ravel())
    n = int(s.size)
    need = min_queries(p, confidence)
    out = {"value": None, "t": None, "discarded": None, "n": n, "min_queries": need,
           "percentile": p, "confidence": confidence, "reason": None,
           "method": "MLPerf LoadGen early stopping (binomial, tolerance 0)"}
    t = overlatency_allowed(n, p, confidence) if n else None
    if t is None:
        out["reason"] = (f"{n} queries are too few for the early-stopping {p:g} estimate at "
                         f"confidence {confidence:g}: needs at least {need}")
        return out
    out.update(value=float(s[n - t]), t=t, discarded=t - 1)
    return out

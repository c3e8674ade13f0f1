"""MLPerf early stopping against an independent transcription of LoadGen's procedure and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeeval.evaluate.early_stopping import early_stopping_estimate, min_queries, overlatency_allowed


def _odds(h: int, t: int, p: float) -> float:
    """P(at most t over-latency queries among h + t | over-latency rate 1 - p), summed term by term."""
    n = h + t
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
                        + (n - x) * math.log(p) + x * math.log1p(-p)) for x in range(t + 1))


def _min_passing(t: int, p: float, c: float) -> int:
    """LoadGen's search: the least h with odds(h, t) < 1 - c (odds fall as h grows)."""
    lo, hi = 1, 2
    while _odds(hi, t, p) >= 1 - c:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if _odds(mid, t, p) < 1 - c:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _loadgen_t(n: int, p: float, c: float = 0.99):
    """LoadGen's SingleStream loop: t = i - 1 for the first i with n < h(i) + i; None below h(1) + 1."""
    if n < _min_passing(1, p, c) + 1:
        return None
    t = 1
    for i in range(2, n + 1):
        if n < _min_passing(i, p, c) + i:
            return i - 1
    return t


def test_minimum_query_counts_are_loadgens():
    assert min_queries(0.90) == 64      # "at least 64 queries" for the p90 estimate
    assert min_queries(0.99) == 662     # MultiStream's min_query_count in mlperf.conf
    assert overlatency_allowed(63, 0.90) is None and overlatency_allowed(64, 0.90) == 1


@pytest.mark.parametrize("n", [64, 65, 100, 257, 1000, 2500])
def test_matches_loadgen_procedure_p90(n):
    assert overlatency_allowed(n, 0.90) == _loadgen_t(n, 0.90)


@pytest.mark.parametrize("n", [661, 662, 1000, 3000])
def test_matches_loadgen_procedure_p99(n):
    assert overlatency_allowed(n, 0.99) == _loadgen_t(n, 0.99)


def test_estimate_is_sorted_n_minus_t_on_known_input():
    lat = np.arange(1, 1001, dtype=float)[::-1]     # 1..1000, unsorted on purpose
    es = early_stopping_estimate(lat, 0.90)
    t = _loadgen_t(1000, 0.90)
    assert es["t"] == t and es["discarded"] == t - 1
    assert es["value"] == 1000 - t + 1              # sorted[n - t] of 1..n
    assert es["value"] > 900                        # above the plain p90 (sorted[900] = 901)


def test_too_few_queries_is_none_with_reason():
    es = early_stopping_estimate(np.ones(50), 0.90)
    assert es["value"] is None and "needs at least 64" in es["reason"]

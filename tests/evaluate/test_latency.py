"""Percentiles, order-statistic intervals (with a coverage simulation) and latency_stats."""

import json
import math

import numpy as np
import pytest

from edgeeval.evaluate import latency as L


def test_percentile_is_loadgens_rule():
    s = list(range(10, 110, 10))  # 10 values: 10..100
    assert L.percentile(s, 0.5) == 60  # floor(10*0.5)=5 -> 6th value, no interpolation
    assert L.percentile(s, 0.9) == 100
    assert L.percentile(s, 0.99) == 100  # min(n-1, floor(9.9)=9)
    assert L.percentile(s, 0.0) == 10
    assert L.percentile(s, 1.0) == 100  # clamps to n-1
    assert L.percentile(list(range(1000)), 0.99) == 990
    assert L.percentile([7], 0.5) == 7
    with pytest.raises(ValueError):
        L.percentile([], 0.5)
    with pytest.raises(ValueError):
        L.percentile([1, 2], 1.5)


def test_ranks_are_valid_and_tight():
    for n, p in [(50, 0.5), (300, 0.9), (299, 0.99), (1000, 0.99), (10, 0.5)]:
        a, b, cov = L.order_statistic_ranks(n, p, 0.95)
        cdf = L.binom_cdf(n, p)
        assert cdf[b] - cdf[a] >= 0.95 and cov >= 0.95
        assert a <= math.floor(n * p) <= b
        # tightest: no narrower pair reaches 95 %
        w = b - a
        assert all(cdf[x + w - 1] - cdf[x] < 0.95 for x in range(0, n - w + 1))
    assert L.order_statistic_ranks(300, 0.9, 0.95)[:2] == (259, 280)
    assert L.order_statistic_ranks(300, 0.5, 0.95)[:2] == (133, 167)


def test_ci_too_small_n_is_none_with_reason():
    lo, hi, why = L.percentile_ci(list(range(20)), 0.99)
    assert lo is None and hi is None
    assert "n=20" in why and "n >= 299" in why
    lo, hi, why = L.percentile_ci(list(range(5)), 0.5)
    assert lo is None and "needs n >= 6" in why
    lo, hi, how = L.percentile_ci(list(range(299)), 0.99)
    assert (lo, hi, how) == (288, 298, L.CI_METHOD)


def test_ci_coverage_simulation():
    """95 % intervals of p50 and p90 cover the true lognormal quantile in 93-99 % of runs."""
    rng = np.random.default_rng(20240601)
    reps, n, sigma = 1000, 300, 0.5
    true = {p: math.exp(sigma * q) for p, q in [(0.5, 0.0), (0.9, 1.2815515655446004)]}
    hits = {p: 0 for p in true}
    for _ in range(reps):
        s = np.sort(rng.lognormal(0.0, sigma, n))
        for p, q in true.items():
            lo, hi, how = L.percentile_ci(s, p, 0.95)
            assert how == L.CI_METHOD
            hits[p] += lo <= q <= hi
    for p in true:
        cover = hits[p] / reps
        assert 0.93 <= cover <= 0.99, (p, cover)


def test_latency_stats_known_values():
    ns = [1_000_000 * k for k in range(1, 401)]  # 1..400 ms
    st = L.latency_stats(ns, wall_seconds=100.0)
    assert st["n"] == 400
    assert st["p50"] == 201.0 and st["p90"] == 361.0 and st["p99"] == 397.0
    assert st["min"] == 1.0 and st["max"] == 400.0 and st["unit"] == "ms"
    assert st["mean"] == pytest.approx(200.5)
    assert st["std"] == pytest.approx(np.std(np.arange(1, 401), ddof=1))
    assert st["throughput_ips"] == pytest.approx(400 / (sum(ns) / 1e9))
    assert st["throughput_wall_ips"] == 4.0
    lo, hi = st["p50_ci"]
    assert lo <= 201.0 <= hi
    assert st["p99_ci"] is not None and st["outliers"] == 0
    assert st["ci_method"] == "order-statistic (binomial), distribution-free"
    json.dumps(st, allow_nan=False)


def test_latency_stats_outliers_counted_not_dropped():
    ns = [1_000_000] * 300 + [2_000_000] * 100 + [50_000_000] * 3
    st = L.latency_stats(ns)
    assert st["n"] == 403 and st["outliers"] == 3 and st["max"] == 50.0
    assert st["mean"] == pytest.approx(sum(ns) / 403 / 1e6)


def test_latency_stats_small_and_empty():
    st = L.latency_stats([3_000_000])
    assert st["p50"] == 3.0 and st["std"] is None and "std" in st["reasons"]
    assert st["p99_ci"] is None and "too small" in st["reasons"]["p99_ci"]
    assert st["throughput_wall_ips"] is None and "throughput_wall_ips" in st["reasons"]
    empty = L.latency_stats([])
    assert empty["n"] == 0 and empty["p50"] is None and empty["reasons"]["p50"] == "no timed runs"
    with pytest.raises(ValueError):
        L.latency_stats([1, -5, 3])

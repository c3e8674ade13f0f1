"""Interval coverage by simulation (known lognormal latencies), server early stopping, scenario summaries."""

from __future__ import annotations

import math

import numpy as np

from edgeeval.evaluate.latency import percentile, percentile_ci
from edgeeval.evaluate.scenarios import scenario_summary, server_early_stopping, throughput_ci

MU, SIGMA = math.log(1e6), 0.35        # median 1 ms, in ns: the synthetic runtime's distribution
REPS, N = 2000, 400


def _true_quantile(p):
    from statistics import NormalDist
    return math.exp(MU + SIGMA * NormalDist().inv_cdf(p))


def test_percentile_intervals_cover_the_true_quantile_93_to_97_percent():
    rng = np.random.default_rng(12345)
    draws = np.sort(rng.lognormal(MU, SIGMA, size=(REPS, N)), axis=1)
    for p in (0.5, 0.9):
        q = _true_quantile(p)
        hits = 0
        for row in draws:
            lo, hi, _ = percentile_ci(row, p, 0.95)
            hits += lo <= q <= hi
        assert 0.93 <= hits / REPS <= 0.97, (p, hits / REPS)


def test_throughput_interval_covers_the_true_rate_93_to_97_percent():
    rng = np.random.default_rng(54321)
    true_rate = 1e9 / math.exp(MU + SIGMA ** 2 / 2)   # samples/s = 1 / E[latency]
    hits = 0
    for _ in range(REPS):
        ci = throughput_ci(rng.lognormal(MU, SIGMA, N), 1)["ci"]
        hits += ci[0] <= true_rate <= ci[1]
    assert 0.93 <= hits / REPS <= 0.97, hits / REPS


def test_throughput_counts_samples_per_call_and_refuses_tiny_samples():
    t = throughput_ci([2e6] * 40, 8)
    assert abs(t["value"] - 4000.0) < 1e-6 and t["n_samples"] == 320
    assert throughput_ci([1e6] * 3, 1)["ci"] is None


def test_server_early_stopping_threshold():
    # with no query over the bound, LoadGen needs 0.99^n < 0.01: n >= 459
    assert server_early_stopping([1e6] * 459, 2e6)["passed"]
    assert not server_early_stopping([1e6] * 458, 2e6)["passed"]
    over = server_early_stopping([1e6] * 990 + [3e6] * 10, 2e6)
    assert over["overlatency"] == 10 and not over["passed"]   # 1% over: cannot claim p99 <= bound


def test_offline_summary_headline_is_best_batch_with_interval():
    ev = {"scenario": {"name": "offline", "batch_sizes": [1, 4]}, "batch_size": 1,
          "latencies_ns": [1e6] * 50,
          "offline": [{"batch_size": 1, "latencies_ns": [1e6] * 50},
                      {"batch_size": 4, "latencies_ns": list(np.linspace(1.9e6, 2.1e6, 50))}]}
    s = scenario_summary(ev)
    h = s["headline"]
    assert s["best_batch_size"] == 4 and h["metric"] == "samples_per_s"
    assert abs(h["value"] - 2000.0) < 1.0 and h["ci"][0] < 2000.0 < h["ci"][1] and h["n"] == 200


def test_single_stream_summary_carries_early_stopping_and_cold_start():
    lat = list(np.random.default_rng(0).lognormal(MU, SIGMA, 500))
    s = scenario_summary({"latencies_ns": lat, "warmup_ns": [5e6, 1e6], "load_ms": 12.0,
                          "first_inference_ms": 5.0})
    assert s["name"] == "single-stream" and s["headline"]["metric"] == "p90_ms"
    assert s["headline"]["value"] == percentile(np.sort(lat), 0.9) / 1e6
    assert s["early_stopping"]["value_ms"] >= s["headline"]["value"]
    assert s["cold_start"] == {"session_ms": 12.0, "first_inference_ms": 5.0, "warmup_mean_ms": 3.0,
                               "warmup_n": 2}


def test_sustained_uses_thermal_samples_when_present():
    from edgeeval.evaluate.scenarios import sustained_summary

    lat = [1e6] * 100 + [1.2e6] * 100
    s = sustained_summary(lat, [100, 200], 10.0)
    assert abs(s["drift_p50"] - 0.2) < 1e-9 and s["burst"]["p50_ms"] == 1.0 and "latency drift" in s["criterion"]
    sec = 1_000_000_000
    thermal = {"t_ns": [i * sec for i in range(100)], "temp_mc": [50000 + min(i, 20) * 100 for i in range(100)],
               "phases": [["warmup", 0], ["timed", 5 * sec], ["accuracy", 95 * sec]]}
    s = sustained_summary(lat, [100, 200], 10.0, thermal)
    th = s["thermal"]
    assert "thermal sampler" in s["criterion"] and th["steady"] is True
    assert th["temp_start_c"] == 50.5 and th["temp_end_c"] == 52.0 and th["samples"] == 91

import math

import numpy as np
import pytest

from edgeeval.regress import stats
from edgeeval.regress.stats import Rule, verdict


@pytest.mark.parametrize("ci,rule,want", [
    ([1.05, 1.09], Rule("up", 0.03), "regressed"),
    ([0.90, 0.95], Rule("up", 0.03), "improved"),
    ([0.99, 1.02], Rule("up", 0.03), "unchanged"),
    ([1.00, 1.06], Rule("up", 0.03), "inconclusive"),
    ([0.90, 0.95], Rule("down", 0.03), "regressed"),       # throughput fell
    ([-2.0, -0.7], Rule("down", 0.5, "diff"), "regressed"),  # accuracy points
    ([-0.3, 0.2], Rule("down", 0.5, "diff"), "unchanged"),
    ([-0.9, 0.1], Rule("down", 0.5, "diff"), "inconclusive"),
    (None, Rule("up", 0.03), "not compared"),
])
def test_verdict_rule(ci, rule, want):
    assert verdict(ci, rule) == want


def test_percentile_ratio_interval_covers_the_true_ratio():
    """Two independent log-normal samples whose true p90 ratio is 1.05: the 95% interval covers it in
    about 95% of 300 trials (binomial sd 1.3 points; the bounds leave 4 sd)."""
    rng = np.random.default_rng(7)
    hits = 0
    for t in range(300):
        a = rng.lognormal(0.0, 0.2, 1500)
        b = rng.lognormal(np.log(1.05), 0.2, 1500)
        r = stats.percentile_ratio(a, b, 0.9, seed=t, m=1000)
        hits += r["ci"][0] <= 1.05 <= r["ci"][1]
    assert 0.89 <= hits / 300 <= 0.995


def test_serial_correlation_widens_the_percentile_interval():
    rng = np.random.default_rng(3)
    e = rng.normal(size=20000)
    ar = np.empty_like(e)
    ar[0] = e[0]
    for i in range(1, e.size):
        ar[i] = 0.9 * ar[i - 1] + e[i] * np.sqrt(1 - 0.81)
    iid = rng.normal(size=20000)
    assert stats.autocorrelation_factor(iid, float(np.quantile(iid, 0.9)), 0.9) < 1.5
    assert stats.autocorrelation_factor(ar, float(np.quantile(ar, 0.9)), 0.9) > 4
    wide = stats.percentile_ratio(np.exp(ar * 0.1), np.exp(ar * 0.1), 0.9)["ci"]
    narrow = stats.percentile_ratio(np.exp(iid * 0.1), np.exp(iid * 0.1), 0.9)["ci"]
    assert wide[1] - wide[0] > 1.8 * (narrow[1] - narrow[0])


def test_mcnemar_counts_only_discordant_pairs():
    a = np.ones(1000, bool)
    b = a.copy()
    b[:12] = False          # 12 samples lost
    r = stats.paired_accuracy(a, b)
    assert (r["lost"], r["won"]) == (12, 0)
    assert r["diff"] == pytest.approx(-1.2)
    assert r["p_value"] == pytest.approx(2 * 0.5 ** 12)    # exact binomial, two-sided
    assert r["ci"][1] < 0
    same = stats.paired_accuracy(a, a)
    assert same["ci"] == [0.0, 0.0] and same["p_value"] == 1.0


def test_run_to_run_noise_widens_a_ratio_in_log_space():
    ci = stats.widen_ratio(1.04, [1.03, 1.05], 0.02)
    assert ci[0] < 1.0 < 1.05 < ci[1]          # 2% per-run noise swamps a 4% change seen in one pair of runs
    assert stats.widen_ratio(1.04, [1.03, 1.05], None) == [1.03, 1.05]
    # a 5-run calibration's cv is an estimate with 4 degrees of freedom: Student's t widens further
    t4 = stats.widen_ratio(1.04, [1.03, 1.05], 0.02, df=4)
    assert t4[0] < ci[0] and t4[1] > ci[1]
    assert math.log(t4[1] / 1.04) == pytest.approx(math.hypot(math.log(1.05 / 1.04), 2.776 * math.sqrt(2) * math.log1p(0.02)), rel=1e-3)

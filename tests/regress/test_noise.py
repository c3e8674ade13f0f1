import math

import numpy as np
import pytest

from edgeeval.regress import noise


def test_spread_separates_run_to_run_noise_from_sampling():
    rng = np.random.default_rng(0)
    vals = np.exp(rng.normal(0, 0.02, 400) + rng.normal(0, 0.01, 400))   # 2% run-to-run + 1% sampling
    sp = noise.spread(list(vals), [0.01] * 400)          # each run's own interval says 1%
    assert sp["cv_total"] == pytest.approx(math.expm1(math.hypot(0.02, 0.01)), rel=0.1)
    assert sp["cv_run"] == pytest.approx(0.02, rel=0.15)
    quiet = noise.spread([1.0, 1.001, 0.999], [0.05] * 3)   # spread below the runs' own noise
    assert quiet["cv_run"] == 0.0


def test_detectable_change_and_run_length_follow_the_noise():
    assert noise.mde_pct(0.0, 0.01) == pytest.approx(100 * math.expm1(3.605 * math.sqrt(2) * math.log1p(0.01)), rel=1e-3)
    # sampling dominates: a 4x longer run halves it, so the factor is what brings the total under the need
    rl = noise.run_length(3.0, 0.01, 0.0, 10.0)
    assert rl["repeats"] == 1 and rl["factor"] > 1 and rl["timed_s"] == pytest.approx(10.0 * rl["factor"])
    assert noise.mde_pct(0.01 / math.sqrt(rl["factor"]), 0.0) == pytest.approx(3.0, rel=0.02)
    # run-to-run noise dominates: no run length helps, several runs per side do
    rl = noise.run_length(3.0, 0.0, 0.02, 10.0)
    assert rl["factor"] is None and rl["repeats"] > 1 and "exceeds" in rl["reason"]
    assert noise.mde_pct(0.0, 0.02 / math.sqrt(rl["repeats"])) <= 3.0
    assert noise.floor_pct(0.03, 0.0, 0.0) == pytest.approx(3.0)
    assert noise.floor_pct(0.03, 0.0, 0.01) > 5.0

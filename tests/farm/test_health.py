"""The health check on the built-in `local` board (the real agent in a subprocess)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.devices.inventory import builtin_local
from edgeeval.farm import health
from edgeeval.farm.plan import Health


@pytest.fixture(scope="module")
def first():
    out = health.check(builtin_local(), Health(), None)
    assert out.passed, out.reason
    return out


def test_a_healthy_board_passes_and_reports_what_was_checked(first):
    d = first.detail
    assert first.p50_ms > 0 and d["runs"] >= 60 and d["max_abs_error"] < 1e-4
    assert d["free_mb"] > 0 and abs(d["clock_skew_s"]) < 5
    assert first.fault is None


def test_the_known_model_is_the_same_bytes_every_time(tmp_path):
    a, _ = health.known_model(tmp_path / "a")
    b, _ = health.known_model(tmp_path / "b")
    assert a.sha256 == b.sha256 and a.path.read_bytes() == b.path.read_bytes()


def test_a_p50_outside_the_band_fails_with_both_figures(first):
    out = health.check(builtin_local(), Health(latency_band=2.0), first.p50_ms * 50)
    assert not out.passed and "outside the board's band" in out.reason
    assert f"{first.p50_ms * 50:.3f}" in out.reason
    ok = health.check(builtin_local(), Health(latency_band=20.0), first.p50_ms)
    assert ok.passed, ok.reason


def test_too_little_free_disk_fails_before_the_model_runs():
    out = health.check(builtin_local(), Health(min_free_mb=10_000_000), None)
    assert not out.passed and "MB free" in out.reason and out.p50_ms is None


def test_wrong_outputs_and_wrong_shapes_fail():
    want = health.expected_outputs().astype(np.float32)
    assert health.output_problems(want, {}) == []
    bad = want.copy()
    bad[3, 2] += 0.01
    assert "differ from the controller's" in health.output_problems(bad, {})[0]
    assert "shape" in health.output_problems(want[:10], {})[0]
    assert "shape" in health.output_problems(None, {})[0]
    nan = want.copy()
    nan[0, 0] = np.nan
    assert health.output_problems(nan, {})


@pytest.mark.parametrize("offset, bad", [(0.0, False), (-30.0, False), (600.0, True), (-600.0, True)])
def test_clock_skew_beyond_the_bound_fails(offset, bad):
    now = 1_800_000_000.0
    facts = {"disk": {"free_bytes": 2**40}, "clock_unix_s": now + offset}
    problems = health._facts_problems(facts, Health(max_clock_skew_s=120), now - 0.1, now + 0.1, {})
    assert bool(problems) == bad, problems
    if bad:
        assert "NTP" in problems[0]

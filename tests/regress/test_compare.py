"""`results compare` on real stores: synthetic runs with known truth, compared from their raw data."""

import json

import numpy as np
import pytest

from edgeeval.errors import UserInputError
from edgeeval.regress import compare
from edgeeval.regress.select import resolve

from .conftest import FACTS, put_run


def _m(doc, metric, variant=0):
    return next(m for m in doc["variants"][variant]["metrics"] if m["metric"] == metric)


def test_a_slower_less_accurate_run_is_regressed_and_an_equal_one_unchanged(store, names):
    recipe, board = names
    good = np.ones(1000, bool)
    good[::50] = False                           # 98.0%
    worse = good.copy()
    worse[1::40] = False                         # 25 more wrong: 95.5%
    a = put_run(store, recipe, board, correct=good, seed=1)
    same = put_run(store, recipe, board, correct=good, seed=2)
    slow = put_run(store, recipe, board, correct=worse, scale=1.10, seed=3)

    doc = compare.compare_runs(store, a, slow)
    p90 = _m(doc, "p90_ms")
    assert p90["verdict"] == "regressed" and 1.06 < p90["ci"][0] <= p90["change"] <= p90["ci"][1] < 1.14
    assert _m(doc, "throughput")["verdict"] == "regressed"
    top1 = _m(doc, "top1")
    assert top1["verdict"] == "regressed" and (top1["lost"], top1["won"]) == (25, 0)
    assert top1["change"] == pytest.approx(-2.5) and top1["p_value"] < 1e-6
    assert _m(doc, "cosine_mean")["verdict"] == "regressed"
    assert _m(doc, "energy_mj")["verdict"] == "not compared"
    assert doc["verdict"] == "regressed" and compare.exit_code(doc) == 1

    doc = compare.compare_runs(store, a, same)
    assert _m(doc, "p50_ms")["verdict"] == "unchanged"
    assert _m(doc, "top1")["ci"] == [0.0, 0.0] and _m(doc, "top1")["verdict"] == "unchanged"
    assert doc["verdict"] in ("unchanged", "inconclusive") and compare.exit_code(doc) == 0
    json.dumps(doc, allow_nan=False)             # the --json document is strict JSON


def test_noisy_windows_and_other_hardware_are_never_regressions(store, names):
    recipe, board = names
    a = put_run(store, recipe, board, seed=1)
    noisy = put_run(store, recipe, board, scale=1.2, noisy=True, seed=2)
    doc = compare.compare_runs(store, a, noisy)
    p90 = _m(doc, "p90_ms")
    assert p90["verdict"] == "noisy" and p90["verdict_raw"] == "regressed" and "steal" in p90["reason"]
    assert compare.exit_code(doc) == 0

    other = put_run(store, recipe, board, facts={**FACTS, "cpu": {"model": "Cortex-A55", "logical_cores": 4}})
    with pytest.raises(UserInputError, match="different hardware.*cpu Cortex-A76 → Cortex-A55"):
        compare.compare_runs(store, a, other)
    mixed = compare.compare_runs(store, a, other, allow_mixed=True)
    assert mixed["mixed_hardware"] == [{"field": "cpu", "a": "Cortex-A76", "b": "Cortex-A55"}]

    upgraded = put_run(store, recipe, board, runtime_version="1.21.0", seed=5)
    doc = compare.compare_runs(store, a, upgraded)
    assert {"field": "runtime", "a": "onnxruntime 1.20.0", "b": "onnxruntime 1.21.0"} in doc["variants"][0]["software_changes"]


def test_selectors_pick_the_last_good_run(store, names):
    recipe, board = names
    first = put_run(store, recipe, board, seed=1)
    put_run(store, recipe, board, noisy=True, seed=2)          # not good: a noisy window
    put_run(store, recipe, board, status="gate_failed", seed=3)
    latest = put_run(store, recipe, board, seed=4)
    assert resolve(store, "last-good", "latest", recipe=recipe, device=board) == (first, latest)
    assert resolve(store, "previous", "latest", recipe=recipe, device=board) == (latest - 1, latest)
    assert resolve(store, "last-good", str(first + 1), recipe=None, device=None) == (first, first + 1)
    with pytest.raises(UserInputError, match="no earlier good run"):
        resolve(store, "last-good", str(first), recipe=None, device=None)
    with pytest.raises(UserInputError, match="needs --recipe"):
        resolve(store, "previous", "latest", recipe=None, device=None)


def test_a_calibrated_board_widens_the_interval(store, names):
    from edgeeval.regress import identity, noise

    recipe, board = names
    a = put_run(store, recipe, board, seed=1)
    b = put_run(store, recipe, board, scale=1.04, seed=2)      # +4%: past 3% within one pair of runs
    assert _m(compare.compare_runs(store, a, b), "p50_ms")["verdict"] == "regressed"
    run = store.get_run(a)
    cal = {"p50_ms": {"cv_run": 0.03, "floor_pct": 12.0}, "p90_ms": {"cv_run": 0.03, "floor_pct": 12.0}}
    noise.save(store.engine, [run], "int8", cal)
    assert noise.latest(store.engine, board, recipe=recipe, variant="int8",
                        hardware_digest=identity.key_digest(identity.hardware_key(run)))["match"] == "this job"
    doc = compare.compare_runs(store, a, b)
    assert _m(doc, "p50_ms")["verdict"] == "inconclusive"     # 3% run-to-run noise: 4% is not shown
    assert doc["variants"][0]["calibration"]["cv_run"]["p50_ms"] == 0.03

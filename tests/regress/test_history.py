"""`results history` on real stores: a step in a nightly series is found at the run where it begins
(and tied to the software change there); noisy and other-hardware runs are excluded, not used."""

import numpy as np
import pytest

from edgeeval.regress import history

from .conftest import FACTS, put_run


def _nights(st, recipe, board, n, *, step_at=None, step=1.0, seed=0, **kw):
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        after = step_at is not None and i >= step_at
        ids.append(put_run(st, recipe, board, n=400, scale=float(np.exp(rng.normal(0, 0.008))) * (step if after else 1.0),
                           seed=seed * 1000 + i, runtime_version="1.21.0" if after else "1.20.0", **kw))
    return ids


def test_a_step_is_found_where_it_begins_and_tied_to_the_software_change(store, names):
    recipe, board = names
    ids = _nights(store, recipe, board, 21, step_at=20, step=1.08, seed=1)
    assert history.nightly_check(store, ids[-1]) == {}     # one slow night: not confirmed, no alarm
    ids.append(put_run(store, recipe, board, n=400, scale=1.08, seed=1021, runtime_version="1.21.0"))
    doc = history.history(store, recipe, board, metric="p50_ms")
    v = doc["variants"][0]
    assert v["used"] == 22
    a = v["alarm"]
    assert a is not None and a["run_id"] == ids[20] and 5 < a["change_pct"] < 11
    assert {"field": "runtime", "a": "onnxruntime 1.20.0", "b": "onnxruntime 1.21.0"} in a["software_changes"]
    assert history.nightly_check(store, ids[-1])["int8"]["regressed"][0].startswith("p50_ms +")
    # an improvement is a change point, never an alarm
    fast = _nights(store, recipe + "-fast", board, 22, step_at=20, step=0.9, seed=2)
    v = history.history(store, recipe + "-fast", board, metric="p50_ms")["variants"][0]
    assert v["alarm"] is None and [c["direction"] for c in v["change_points"]] == ["improvement"]
    assert history.nightly_check(store, fast[-1]) == {}


def test_quiet_noisy_and_foreign_runs(store, names):
    recipe, board = names
    ids = _nights(store, recipe, board, 12, seed=3)
    noisy = put_run(store, recipe, board, scale=1.5, noisy=True, n=400)
    other = put_run(store, recipe, board, scale=2.0, n=400, facts={**FACTS, "memory": {"total_kb": 4_000_000}})
    ids.append(put_run(store, recipe, board, n=400, seed=77))
    v = history.history(store, recipe, board)["variants"][0]
    excluded = {p["run_id"]: p["excluded"] for p in v["points"] if p["excluded"]}
    assert "steal" in excluded[noisy] and excluded[other].startswith("other hardware")
    assert v["used"] == 13 and v["change_points"] == [] and v["alarm"] is None
    with pytest.raises(Exception, match="use one of p50_ms"):
        history.history(store, recipe, board, metric="p95")


def test_two_slow_nights_the_quiet_past_already_matched_are_no_alarm():
    rng = np.random.default_rng(4)
    quiet = list(1.0 + rng.normal(0, 0.004, 30))
    for i in (5, 14, 23):                  # a bimodal board: now and then a night 25% slower
        quiet[i] = 1.25
    twice = quiet + [1.25, 1.25]
    cps = history.change_points(twice, "p90_ms")
    assert history.alarm(cps, len(twice)) is None
    (c,) = cps                             # otava's t-test does see a step at night 30 ...
    assert c["index"] == 30 and c["p_value"] < history.MAX_PVALUE and c["direction"] == "regression"
    assert not c["beyond_range"] and not c["confirmed"]      # ... that the past already matched
    step = list(1.0 + rng.normal(0, 0.004, 30)) + [1.06, 1.061]
    cps = history.change_points(step, "p90_ms")
    a = history.alarm(cps, len(step))
    assert a is not None and a["index"] == 30 and a["confirmed"] and a["nights_after"] == 2
    # improvements and one-night blips never alarm
    assert history.alarm(history.change_points(step[:-1], "p90_ms"), 31) is None
    assert history.alarm(history.change_points([2 - v for v in step], "p90_ms"), 32) is None

"""The adaptation stage: claimed only on evidence, with the reason the next one was not reached."""

from edgeeval.report.stage import adaptation

from .conftest import gate

RUN = {"device_facts": {"memory": {"total_kb": 4_000_000}}}


def _v(**kw):
    v = {"status": "ok", "latency": {"n": 500, "p50": 2.0, "p90": 2.5},
         "fidelity": {"logits": {"cosine_mean": 0.999}, "primary": {"cosine_mean": 0.999}},
         "gates": [gate("accuracy_drop_pt", 1.0, 0.3), gate("p90_ms", 5.0, 2.5)],
         "noise": {"noisy": False}, "thermal": {"throttled": False}, "peak_rss_mb": 100.0,
         "scenario": {"name": "single-stream", "early_stopping": {"value_ms": 2.6}}}
    v.update(kw)
    return v


def test_each_stage_and_why_not_the_next():
    assert adaptation(_v(), RUN) == {"stage": 3, "name": "fits the scenario", "next": None, "reason": None}
    a = adaptation(_v(status="error", latency=None, error="board fault: connection reset"), RUN)
    assert a["stage"] == 0 and "connection reset" in a["reason"]
    a = adaptation(_v(fidelity={"logits": {"cosine_mean": float("nan"), "max_abs_error": None}}), RUN)
    assert a["stage"] == 0 and "not finite" in a["reason"]
    a = adaptation(_v(gates=[gate("p90_ms", 5.0, 2.5)]), RUN)
    assert (a["stage"], a["next"]) == (1, "aligned") and "no accuracy or fidelity gate" in a["reason"]
    a = adaptation(_v(gates=[gate("accuracy_drop_pt", 1.0, 2.4), gate("p90_ms", 5.0, 2.5)]), RUN)
    assert a["stage"] == 1 and a["reason"] == "accuracy_drop_pt 2.4 against 1"
    a = adaptation(_v(gates=[gate("accuracy_drop_pt", 1.0, 0.3), gate("p90_ms", 2.0, 2.5)]), RUN)
    assert a["stage"] == 1 and a["reason"].startswith("p90_ms 2.5 against 2")


def test_fitting_the_scenario_needs_evidence():
    a = adaptation(_v(thermal=None), RUN)
    assert (a["stage"], a["next"]) == (2, "fits the scenario") and "no thermal data" in a["reason"]
    assert "throttled" in adaptation(_v(thermal={"throttled": True}), RUN)["reason"]
    assert "noisy" in adaptation(_v(noise={"noisy": True, "noisy_reasons": ["steal 9%"]}), RUN)["reason"]
    assert "exceeds the board's 3906 MiB" in adaptation(_v(peak_rss_mb=5000.0), RUN)["reason"]
    a = adaptation(_v(scenario={"name": "single-stream", "early_stopping": {"value_ms": 5.4}}), RUN)
    assert a["stage"] == 2 and "early-stopping p90 estimate 5.4 ms exceeds the 5 ms target" in a["reason"]
    a = adaptation(_v(scenario={"name": "single-stream", "early_stopping": {"value_ms": None, "reason": "40 queries are too few"}}), RUN)
    assert a["stage"] == 2 and "too few" in a["reason"]
    srv = {"name": "server", "server": {"latency_bound_ms": 10.0, "target_qps": 50,
                                        "early_stopping": {"passed": False, "overlatency": 31, "n": 2000}}}
    a = adaptation(_v(scenario=srv), RUN)
    assert a["stage"] == 2 and "p99 not shown within 10 ms at 50 QPS" in a["reason"]
    srv["server"]["early_stopping"]["passed"] = True
    assert adaptation(_v(scenario=srv), RUN)["stage"] == 3
    sus = {"name": "single-stream", "early_stopping": {"value_ms": 2.6}, "sustained": {"stop": "max_seconds (not steady)"}}
    assert "steady state not reached" in adaptation(_v(scenario=sus), RUN)["reason"]

"""Gates (pass, fail, unknown metric) and the per-variant summary."""

import json

import numpy as np
import pytest

from edgeeval.evaluate import GATES, all_passed, check_gates, summarize_variant
from edgeeval.evaluate.summary import recompute
from edgeeval.rawdata import split_event


def test_gate_pass_and_fail():
    res = check_gates({"p50_ms": 2.0, "min_accuracy": 0.9, "accuracy_drop_pt": 1.0},
                      {"p50_ms": 1.5, "top1": 0.85, "accuracy_drop_pt": 1.0})
    by = {r.name: r for r in res}
    assert by["p50_ms"].passed is True and by["p50_ms"].op == "<="
    assert by["min_accuracy"].passed is False and by["min_accuracy"].metric == "top1"
    assert "not >=" in by["min_accuracy"].reason
    assert by["accuracy_drop_pt"].passed is True  # equal to the limit passes
    assert not all_passed(res)
    assert all_passed(res[:1]) and all_passed([])


def test_unknown_metric_fails_with_reason():
    res = check_gates({"max_peak_rss_mb": 100, "min_psnr_db": 30},
                      {"peak_rss_mb": None, "psnr_db": float("nan")},
                      {"peak_rss_mb": "board has no resource module"})
    assert [r.passed for r in res] == [False, False]
    assert res[1].reason == "metric not measured: board has no resource module"
    assert res[0].reason.startswith("metric not measured")
    assert res[0].value is None


def test_unknown_gate_name_and_bad_limit():
    with pytest.raises(ValueError, match="p95_ms"):
        check_gates({"p95_ms": 1.0}, {})
    with pytest.raises(ValueError, match="finite number"):
        check_gates({"p50_ms": "fast"}, {"p50_ms": 1.0})
    assert len(GATES) == 17   # + min_retrieval_agreement (embedding tasks), 4 for language models


def _event(rng, n=400):
    return {"event": "result", "latencies_ns": (rng.lognormal(0, 0.3, n) * 2e6).astype(int).tolist(),
            "warmup_ns": [4_000_000, 3_000_000], "load_ms": 20.0, "first_inference_ms": 5.0,
            "peak_rss_kb": 102400, "timed_wall_s": 1.2,
            "runtime": {"name": "onnxruntime", "version": "1.32.0"},
            "accuracy": {"samples": 100, "output_names": ["logits", "feat"]}}


def _outputs(rng):
    ref = {"logits": rng.normal(size=(100, 10)).astype(np.float32),
           "feat": rng.normal(size=(100, 4, 4)).astype(np.float32)}
    dev = {k: v + rng.normal(scale=0.05, size=v.shape).astype(np.float32) for k, v in ref.items()}
    labels = ref["logits"].argmax(1)
    labels[:10] = (labels[:10] + 1) % 10  # baseline accuracy 0.9
    return dev, ref, labels


def test_summary_full_and_json():
    rng = np.random.default_rng(7)
    ev = _event(rng)
    dev, ref, labels = _outputs(rng)
    gates = {"accuracy_drop_pt": 1.0, "p50_ms": 100.0, "min_cosine": 0.99, "max_peak_rss_mb": 50}
    s = summarize_variant(ev, dev, ref, labels, None, gates)
    json.dumps(s, allow_nan=False)
    assert s["latency"]["n"] == 400 and s["warmup"] == {"n": 2, "mean_ms": 3.5}
    assert s["peak_rss_mb"] == 100.0 and s["load_ms"] == 20.0
    acc = s["accuracy"]
    assert acc["baseline_top1"] == pytest.approx(0.9) and acc["baseline_source"] == "baseline outputs"
    assert acc["drop_pt"] == pytest.approx((acc["baseline_top1"] - acc["top1"]) * 100)
    fid = s["fidelity"]
    assert set(fid) == {"logits", "feat", "primary"} and fid["primary"]["output"] == "logits"
    assert fid["primary"] == {"output": "logits", **fid["logits"]}
    assert fid["feat"]["top1_agreement"] is None and fid["logits"]["top1_agreement"] > 0.9
    assert s["gate_metrics"]["cosine_mean"] == fid["logits"]["cosine_mean"]
    assert s["latency"]["p50"] == s["gate_metrics"]["p50_ms"]
    by = {g["name"]: g for g in s["gates"]}
    assert by["max_peak_rss_mb"]["passed"] is False and by["p50_ms"]["passed"] is True
    assert s["passed"] is False


def test_summary_without_labels_or_outputs():
    rng = np.random.default_rng(8)
    ev = _event(rng)
    del ev["peak_rss_kb"]
    s = summarize_variant(ev, None, None, None, 0.97, {"min_accuracy": 0.5, "min_cosine": 0.9,
                                                       "max_peak_rss_mb": 10, "p99_ms": 1e6})
    assert s["accuracy"]["top1"] is None and s["accuracy"]["reason"] == "the eval set has no labels"
    assert s["accuracy"]["baseline_top1"] == 0.97
    assert s["peak_rss_mb"] is None and "peak_rss_mb" in s["reasons"]
    by = {g["name"]: g for g in s["gates"]}
    assert by["min_accuracy"]["reason"] == "metric not measured: the eval set has no labels"
    assert by["min_cosine"]["reason"] == "metric not measured: no baseline outputs"
    assert by["max_peak_rss_mb"]["passed"] is False and by["p99_ms"]["passed"] is True
    assert s["passed"] is False
    json.dumps(s, allow_nan=False)


def test_recompute_from_split_event_is_identical():
    rng = np.random.default_rng(9)
    ev = _event(rng)
    dev, ref, labels = _outputs(rng)
    gates = {"p90_ms": 50.0, "min_top1_agreement": 0.9}
    s = summarize_variant(ev, dev, ref, labels, 0.95, gates)
    scalars, raw = split_event(ev)
    assert "latencies_ns" not in scalars and raw["latencies_ns"].dtype == np.dtype("<i8")
    stored = json.loads(json.dumps({"event": scalars, "gates": gates, "baseline_accuracy": 0.95}))
    stored["raw"] = dict(raw, device_outputs=dev, baseline_outputs=ref, labels=labels)
    assert recompute(stored) == json.loads(json.dumps(s))


def test_drop_of_exactly_the_limit_passes():
    ev = {"latencies_ns": [1_000_000] * 10, "accuracy": {"output_names": ["y"]}}
    labels = np.arange(100) % 10
    scores = np.eye(10, dtype=np.float32)[labels]
    dev = scores.copy()
    dev[0] = np.roll(dev[0], 1)  # one miss in 100: 0.99 vs 1.0, exactly 1 point
    s = summarize_variant(ev, {"y": dev}, {"y": scores}, labels, None, {"accuracy_drop_pt": 1.0})
    assert s["accuracy"]["drop_pt"] == 1.0 and s["passed"] is True

"""Stored runs for the report tests, on a real SQLite file and the real PostgreSQL of .ci/run: variants
with the summary blocks a deploy stores (latency with intervals, accuracy, fidelity, gates, noise,
power and thermal where the board measured them) and the inventory's declared facts."""

import uuid

import numpy as np
import pytest

from tests.regress.conftest import store  # noqa: F401  (the same real SQLite / PostgreSQL pair)


@pytest.fixture
def recipe():
    """A recipe name no other test (or earlier run on the shared PostgreSQL) uses."""
    return f"rep-{uuid.uuid4().hex[:8]}"


def gate(name, limit, value, op="<="):
    ok = None if value is None else (value <= limit if op == "<=" else value >= limit)
    return {"name": name, "metric": name, "op": op, "limit": limit, "value": value, "passed": bool(ok),
            "reason": "" if value is not None else "metric not measured: no labels"}


def put(st, recipe, device, *, p50=2.0, top1=0.958, base=0.96, cosine=0.999, power=None, throttled=None,
        noisy=False, declared=None, variants=("fp32", "int8-static"), gates=True, status="ok", seed=0,
        mem_kb=8_000_000, scenario="single-stream", campaign=None, n=2000):
    """One stored run on `device`; int8 variants run at 0.6x the fp32 latency."""
    rng = np.random.default_rng(seed)
    settings = {"scenario": {"name": scenario}, "declared_facts": declared if declared is not None else {}}
    if campaign:
        settings["farm"] = {"campaign": campaign, "job_key": uuid.uuid4().hex}
    rid = st.begin_run(recipe_name=recipe, device_name=device, settings=settings, agent_sha256="a" * 64,
                       dataset_sha256="d" * 64, git_sha="0123456789abcdef0123456789abcdef01234567",
                       device_facts={"arch": "aarch64", "cpu": {"model": f"{device}-cpu"},
                                     "memory": {"total_kb": mem_kb}})
    for name in variants:
        scale = 0.6 if name.startswith("int8") else 1.0
        lat = rng.lognormal(np.log(p50 * scale * 1e6), 0.08, n).astype(np.int64)
        q = np.quantile(lat, [0.5, 0.9, 0.99]) / 1e6
        acc_top1 = top1 - (0.004 if name.startswith("int8") else 0.0)
        summary = {
            "passed": True,
            "latency": {"n": n, "p50": q[0], "p90": q[1], "p99": q[2], "p50_ci": [q[0] * 0.99, q[0] * 1.01],
                        "p90_ci": [q[1] * 0.98, q[1] * 1.02], "throughput_ips": 1e9 * n / lat.sum()},
            "load_ms": 40.0, "first_inference_ms": 3.0, "peak_rss_mb": 120.0,
            "scenario": {"name": scenario, "early_stopping": {"value_ms": q[1] * 1.01, "n": n},
                         "throughput": {"value": 1e9 * n / lat.sum(), "ci": [0.98e9 * n / lat.sum(), 1.02e9 * n / lat.sum()]}},
            "accuracy": {"top1": acc_top1, "baseline_top1": base, "drop_pt": round((base - acc_top1) * 100, 9),
                         "samples": 360},
            "fidelity": {"logits": {"cosine_mean": cosine}, "primary": {"output": "logits", "cosine_mean": cosine}},
            "noise": {"noisy": noisy, "noisy_reasons": ["steal 12% of the window"] if noisy else []},
            "gates": ([gate("accuracy_drop_pt", 1.0, round((base - acc_top1) * 100, 9)),
                       gate("p90_ms", 50.0, q[1])] if gates else []),
        }
        if power is not None:
            e = power * p50 * scale               # mJ per inference at `power` W
            summary["power"] = {"e_total_mj": {"mean": e, "ci": [e * 0.97, e * 1.03]},
                                "inferences_per_j": {"mean": 1e3 / e, "ci": [1e3 / e / 1.03, 1e3 / e / 0.97]},
                                "p_active_w": {"mean": power, "ci": [power * 0.98, power * 1.02]}}
        if throttled is not None:
            summary["thermal"] = {"throttled": throttled}
        st.add_variant(rid, name, summary=summary, raw={"latencies_ns": lat}, model_sha256="m" * 64,
                       precision=name, model_size_bytes=400_000 if name.startswith("int8") else 1_600_000,
                       runtime={"name": "onnxruntime", "version": "1.20.0"})
    st.finish_run(rid, status)
    return rid

"""Stored runs for the comparison tests: a real SQLite file and the real PostgreSQL of .ci/run, with
variants carrying raw latencies, labels and outputs as a deploy stores them."""

import os
import uuid

import numpy as np
import pytest

PG_URL = os.environ.get("EDGEEVAL_TEST_PG_URL")
FACTS = {"arch": "aarch64", "cpu": {"model": "Cortex-A76", "logical_cores": 4}, "memory": {"total_kb": 8_000_000},
         "kernel": {"release": "6.1.0"}, "python": {"version": "3.11.2"}, "numpy": {"version": "1.26.4"}}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from edgeeval.store.store import Store

    if request.param == "postgresql" and not PG_URL:
        pytest.skip("set EDGEEVAL_TEST_PG_URL to run on PostgreSQL")
    url = f"sqlite:///{tmp_path / 'results.db'}" if request.param == "sqlite" else PG_URL
    with Store(url) as st:
        yield st


@pytest.fixture
def names():
    """A recipe and board name no other test (or earlier run on the shared PostgreSQL) uses."""
    tag = uuid.uuid4().hex[:8]
    return f"rec-{tag}", f"board-{tag}"


def put_run(st, recipe, device, *, lat_ms=2.0, n=2000, scale=1.0, correct=None, facts=None, status="ok",
            noisy=False, seed=0, runtime_version="1.20.0", variants=("int8",), scenario="single-stream"):
    """One stored run: per variant `n` log-normal latencies around lat_ms*scale, and (with `correct`,
    a bool array) 10-class outputs whose argmax is right exactly where `correct` is."""
    rng = np.random.default_rng(seed)
    rid = st.begin_run(recipe_name=recipe, device_name=device, device_facts=facts or FACTS,
                       settings={"scenario": {"name": scenario}}, agent_sha256="a" * 64, dataset_sha256="d" * 64,
                       git_sha="g1")
    for name in variants:
        lat = rng.lognormal(np.log(lat_ms * 1e6 * scale), 0.1, n).astype(np.int64)
        q = np.quantile(lat, [0.5, 0.9, 0.99]) / 1e6
        summary = {"passed": True, "latency": {"p50": q[0], "p90": q[1], "p99": q[2], "n": n,
                                               "p50_ci": [q[0] * 0.99, q[0] * 1.01], "p90_ci": [q[1] * 0.98, q[1] * 1.02],
                                               "throughput_ips": 1e9 * n / lat.sum()},
                   "scenario": {"name": scenario},
                   "scoring": {"scores": "logits"}, "fidelity": {"primary": {"output": "logits"}},
                   "noise": {"noisy": noisy, "noisy_reasons": ["steal 12% of the window"] if noisy else []}}
        raw = {"latencies_ns": lat}
        if correct is not None:
            labels = np.arange(correct.size) % 10
            logits = np.zeros((correct.size, 10), np.float32)
            logits[np.arange(correct.size), np.where(correct, labels, (labels + 1) % 10)] = 5.0
            base = np.zeros_like(logits)
            base[np.arange(correct.size), labels] = 5.0
            raw.update(labels=labels, device_outputs={"logits": logits}, baseline_outputs={"logits": base})
        st.add_variant(rid, name, summary=summary, raw=raw, model_sha256="m" * 64,
                       runtime={"name": "onnxruntime", "version": runtime_version, "providers_used": ["CPUExecutionProvider"]},
                       extra={"dataset_sha256": "d" * 64})
    st.finish_run(rid, status)
    return rid

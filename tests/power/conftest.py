"""Fake power boards: a scratch work dir with the tiny MLP, a fake sysfs tree, fake tools."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.testing.agent import run_agent  # noqa: F401  (the power tests' runner)
from edgeeval.testing.models import make_job, tiny_mlp, write_eval_npz

SHORT = {"sample_interval_s": 0.005, "idle_s": 0.5, "warmup_max_s": 0.4, "window_min_s": 0.6, "windows": 3}


def power_job(root, **power):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", warmup=2, min_runs=20, min_seconds=0.05,
                   accuracy=False)
    job["power"] = {"sysfs_root": str(root), **SHORT, **power}
    return job


@pytest.fixture
def board(tmp_path):
    rng = np.random.default_rng(1)
    tiny_mlp(tmp_path / "cache" / "mlp.onnx")
    write_eval_npz(tmp_path / "cache" / "mlp.npz", {"input": rng.standard_normal((16, 64)).astype(np.float32)},
                   labels=rng.integers(0, 10, 16))
    (tmp_path / "root").mkdir()
    return tmp_path


def result_of(events):
    assert events, "no events"
    last = events[-1]
    assert last["event"] == "result", last
    return last

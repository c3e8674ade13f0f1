"""Shared fixtures for the agent's scenario tests."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.testing.models import tiny_mlp, write_eval_npz


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A board work directory with a tiny MLP and a 37-sample eval set in its cache."""
    d = tmp_path_factory.mktemp("scenario-board")
    tiny_mlp(d / "cache" / "mlp.onnx")
    x = np.random.default_rng(1).standard_normal((37, 64)).astype(np.float32)
    write_eval_npz(d / "cache" / "mlp.npz", {"input": x}, labels=np.zeros(37, dtype=np.int64))
    return d

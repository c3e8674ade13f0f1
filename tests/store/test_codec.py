"""The latency codec: lossless on every int64 series, and at most 2 bytes per sample on real runs."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.store.codec import decode_latencies, encode_latencies


@pytest.mark.parametrize("series", [
    [], [7], [7, 3], [2**63 - 1, -2**63, 0, 2**63 - 1, -1],
    list(range(0, 10_000, 3)),
])
def test_round_trip_is_exact_at_the_edges(series):
    a = np.asarray(series, dtype=np.int64)
    back = decode_latencies(encode_latencies(a))
    assert back.dtype == np.int64 and np.array_equal(back, a)


def test_round_trip_is_exact_on_random_series():
    rng = np.random.default_rng(1)
    for a in (rng.integers(-2**62, 2**62, 5000), rng.lognormal(11, 0.4, 20_000).astype(np.int64),
              np.repeat(rng.integers(1, 10**9, 50), 40)):
        assert np.array_equal(decode_latencies(encode_latencies(a)), a)


def test_a_real_run_compresses_below_two_bytes_per_sample():
    """The agent's own timer around a real onnxruntime session: what a store holds."""
    import tempfile
    import time
    from pathlib import Path

    import onnxruntime as ort

    from edgeeval.testing.models import tiny_mlp

    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "m.onnx"
        tiny_mlp(path)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
        x = {name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        lat = []
        for _ in range(20_000):
            t0 = time.perf_counter_ns()
            sess.run(None, x)
            lat.append(time.perf_counter_ns() - t0)
    a = np.asarray(lat, dtype=np.int64)
    blob = encode_latencies(a)
    assert np.array_equal(decode_latencies(blob), a)
    assert len(blob) / a.size <= 2.0, len(blob) / a.size


def test_refuses_what_is_not_a_latency_series():
    with pytest.raises(ValueError):
        encode_latencies(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError):
        encode_latencies(np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        decode_latencies(b"XXXX" + bytes(17))

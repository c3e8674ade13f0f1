"""Embedding metrics: mean pooling over the mask, per-sample cosine, nearest-neighbour retrieval agreement."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.evaluate.embeddings import embedding_metrics, mean_pool, neighbours
from edgeeval.evaluate.summary import recompute, summarize_variant


def _clusters(n_per=5, clusters=4, L=6, D=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, D)) * 5
    h = np.concatenate([centres[c] + rng.normal(size=(n_per, L, D)) * 0.3 for c in range(clusters)])
    mask = np.ones(h.shape[:2], dtype=np.int64)
    mask[::3, 4:] = 0       # some samples are shorter: their padding must not count
    return h.astype(np.float32), mask


def test_mean_pool_ignores_padding():
    h = np.zeros((1, 3, 2), np.float32)
    h[0, 0], h[0, 1], h[0, 2] = [1, 0], [3, 2], [100, 100]
    np.testing.assert_allclose(mean_pool(h, np.array([[1, 1, 0]])), [[2.0, 1.0]])
    with pytest.raises(ValueError):
        mean_pool(h, np.ones((1, 2)))


def test_identical_outputs_agree_fully_and_padding_noise_is_ignored():
    h, mask = _clusters()
    dev = h.copy()
    dev[mask == 0] += 50.0   # garbage at padded positions changes nothing after pooling
    m = embedding_metrics(dev, h, mask)
    assert m["cosine_min"] == pytest.approx(1.0) and m["retrieval"]["top1_agreement"] == 1.0
    assert m["retrieval"]["topk_overlap"] == 1.0 and m["retrieval"]["k"] == 5


def test_shuffled_device_embeddings_lose_retrieval_and_cosine():
    h, mask = _clusters()
    rng = np.random.default_rng(1)
    dev = h[rng.permutation(len(h))]           # every sample gets another sentence's embedding
    m = embedding_metrics(dev, h, np.ones(h.shape[:2], np.int64))
    assert m["retrieval"]["top1_agreement"] < 0.5
    assert m["cosine_mean"] < 0.6 and m["cosine_p5"] <= m["cosine_mean"]


def test_neighbours_excludes_self():
    e = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]])
    assert neighbours(e, 1)[:, 0].tolist() == [1, 0, 1]


def _event():
    return {"latencies_ns": [1_000_000] * 20, "warmup_ns": [1_000_000], "load_ms": 1.0,
            "first_inference_ms": 1.0, "peak_rss_kb": 1024, "accuracy": {"output_names": ["last_hidden_state"]}}


def test_summary_block_gates_and_recompute():
    h, mask = _clusters()
    noisy = h + np.random.default_rng(2).normal(size=h.shape).astype(np.float32) * 0.05
    gates = {"min_cosine": 0.99, "min_retrieval_agreement": 0.9}
    s = summarize_variant(_event(), {"last_hidden_state": noisy}, {"last_hidden_state": h}, None, None, gates,
                          embedding_mask=mask)
    assert s["accuracy"]["top1"] is None and s["accuracy"]["reason"] == "no labels: embedding task"
    emb = s["embeddings"]
    assert s["gate_metrics"]["cosine_mean"] == emb["cosine_mean"]
    assert s["gate_metrics"]["retrieval_top1_agreement"] == emb["retrieval"]["top1_agreement"]
    assert [g["name"] for g in s["gates"]] == ["min_cosine", "min_retrieval_agreement"]
    assert all(g["passed"] for g in s["gates"])
    stored = {"event": _event(), "gates": gates, "baseline_accuracy": None,
              "raw": {"device_outputs": {"last_hidden_state": noisy}, "baseline_outputs": {"last_hidden_state": h},
                      "embedding_mask": mask}}
    assert recompute(stored)["embeddings"] == emb
    # a failing retrieval gate fails the variant
    bad = summarize_variant(_event(), {"last_hidden_state": h[::-1].copy()}, {"last_hidden_state": h}, None, None,
                            gates, embedding_mask=mask)
    assert bad["passed"] is False


def test_retrieval_gate_is_not_measured_without_embeddings():
    s = summarize_variant(_event(), {"y": np.eye(3)}, {"y": np.eye(3)}, None, None, {"min_retrieval_agreement": 0.5})
    g = s["gates"][0]
    assert g["passed"] is False and "not an embedding task" in g["reason"]

"""Deploy-table rows (edgeeval/cli/render.py) from constructed summaries."""

from __future__ import annotations

import numpy as np

from edgeeval.cli.render import variant_rows
from edgeeval.evaluate.embeddings import embedding_metrics


def test_sentence_embedding_rows_show_cosine_and_retrieval():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((12, 5, 8)).astype(np.float32)
    dev = ref + 0.05 * rng.standard_normal(ref.shape).astype(np.float32)
    e = embedding_metrics(dev, ref, np.ones((12, 5), dtype=np.int64))
    rows = dict(variant_rows({"embeddings": {"output": "last_hidden_state", **e}}))
    cos = rows["sentence cosine mean / min / p5 (12 texts)"]
    assert cos.split(" / ")[0] == f"{e['cosine_mean']:.5f}" and cos.split(" / ")[1] == f"{e['cosine_min']:.5f}"
    k = e["retrieval"]["k"]
    assert rows[f"retrieval agreement top-1 / top-{k} overlap"] == (
        f"{e['retrieval']['top1_agreement']:.3f} / {e['retrieval']['topk_overlap']:.3f}")


def test_sentence_embedding_rows_carry_the_reason_when_unknown():
    rows = dict(variant_rows({"embeddings": {"output": "last_hidden_state", "reason": "no baseline outputs"}}))
    assert rows["sentence embeddings"] == "— (no baseline outputs)"
    assert not any(k.startswith("sentence cosine") for k in rows)
    assert "sentence embeddings" not in dict(variant_rows({}))     # classifiers: no embedding rows

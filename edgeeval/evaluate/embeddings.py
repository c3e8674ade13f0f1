"""Embedding-task metrics: sentence embeddings on the device against the server baseline.

Both sides give token embeddings (last_hidden_state [N, L, D], the ONNX export's output, and
the PyTorch baseline's). They are compared like with like: each is mean-pooled over its
sample's attention mask (the model card's pooling for all-MiniLM-L6-v2; the padding tokens
that every sample carries up to the set's longest sentence are left out), then

* cosine per sample between device and server sentence embeddings: mean, min, 5th
  percentile (LoadGen rule, as everywhere). Cosine is scale-free, so the model card's L2
  normalisation changes nothing here.
* retrieval agreement, a task-level check that does not depend on exact values: for each
  sentence, its nearest neighbour among the other sentences of the set (cosine) under the
  device embeddings vs under the server ones — top-1 agreement (same neighbour) and the mean
  overlap of the top-k sets (k = 5, |dev ∩ srv| / k).

The `min_cosine` gate reads this block's cosine_mean for embedding tasks (not the token-level
fidelity, which also scores the padding positions); `min_retrieval_agreement` reads
retrieval top1_agreement. Accuracy is null: there are no labels in an embedding task.
"""

from __future__ import annotations

import numpy as np

from .latency import percentile

POOLING = "mean over attention_mask"
NO_LABELS = "no labels: embedding task"


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[N, L, D] token embeddings, [N, L] mask -> [N, D] (float64); a sample with no tokens gives zeros."""
    h = np.asarray(hidden, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    if h.ndim != 3 or m.shape != h.shape[:2]:
        raise ValueError(f"token embeddings {h.shape} and attention mask {m.shape} do not match ([N, L, D], [N, L])")
    summed = np.einsum("nld,nl->nd", h, m)
    count = m.sum(axis=1, keepdims=True)
    return np.divide(summed, count, out=np.zeros_like(summed), where=count > 0)


def _unit(e: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(e, axis=1, keepdims=True)
    return np.divide(e, n, out=np.zeros_like(e), where=n > 0)


def neighbours(emb: np.ndarray, k: int) -> np.ndarray:
    """Indices [N, k] of each row's k most cosine-similar other rows, best first (ties: lower index)."""
    u = _unit(emb)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def embedding_metrics(device: np.ndarray, baseline: np.ndarray, mask: np.ndarray, k: int = 5) -> dict:
    """The embeddings block (JSON-serialisable); see the module docstring."""
    dev, ref = np.asarray(device), np.asarray(baseline)
    if dev.shape != ref.shape:
        raise ValueError(f"device output {dev.shape} and baseline {ref.shape} differ")
    n_bad = int(np.count_nonzero(~np.isfinite(dev)))
    if n_bad:
        raise ValueError(f"{n_bad} non-finite values in the device output")
    d, r = mean_pool(dev, mask), mean_pool(ref, mask)
    cos = np.sort(np.clip(np.einsum("nd,nd->n", _unit(d), _unit(r)), -1.0, 1.0))
    n = int(d.shape[0])
    out = {"pooling": POOLING, "samples": n, "dim": int(d.shape[1]),
           "cosine_mean": float(cos.mean()), "cosine_min": float(cos[0]),
           "cosine_p5": float(percentile(cos, 0.05)),
           "retrieval": {"k": None, "top1_agreement": None, "topk_overlap": None, "reason": None}}
    if n < 3:
        out["retrieval"]["reason"] = f"{n} sentences; retrieval needs at least 3"
        return out
    kk = min(k, n - 1)
    nd, nr = neighbours(d, kk), neighbours(r, kk)
    overlap = [len(set(a) & set(b)) / kk for a, b in zip(nd.tolist(), nr.tolist())]
    out["retrieval"] = {"k": kk, "top1_agreement": float(np.mean(nd[:, 0] == nr[:, 0])),
                        "topk_overlap": float(np.mean(overlap)), "reason": None}
    return out


def embeddings_block(device_outputs: dict | None, baseline_outputs: dict | None, mask, output: str | None) -> dict:
    """embedding_metrics() for the primary output, or {"reason": ...} when it cannot be computed."""
    if device_outputs is None or output not in (device_outputs or {}):
        return {"output": output, "reason": "no device outputs (accuracy pass disabled or its outputs not fetched)"}
    if baseline_outputs is None or output not in baseline_outputs:
        return {"output": output, "reason": "no baseline outputs"}
    try:
        return {"output": output, **embedding_metrics(device_outputs[output], baseline_outputs[output], mask)}
    except ValueError as exc:
        return {"output": output, "reason": str(exc)}


def gate_metrics(block: dict) -> tuple[dict, dict]:
    """(metrics, reasons) the gates read from the embeddings block: cosine_mean, retrieval_top1_agreement."""
    why = block.get("reason")
    ret = block.get("retrieval") or {}
    m = {"cosine_mean": block.get("cosine_mean"), "retrieval_top1_agreement": ret.get("top1_agreement")}
    reasons = {"cosine_mean": why, "retrieval_top1_agreement": why or ret.get("reason")}
    return m, {k: v for k, v in reasons.items() if v and m.get(k) is None}

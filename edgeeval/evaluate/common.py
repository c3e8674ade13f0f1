"""What every task's summary has (summary.py for classifiers and embeddings, generative.py for
language models): latency of the timed runs with intervals, load, warmup, peak RSS, doubtful values."""

from __future__ import annotations

import numpy as np

from .latency import latency_stats


def _list_or_empty(x):
    return [] if x is None else x


def _num(x) -> float | None:
    return None if x is None else float(x)


def common_summary(ev: dict, confidence: float) -> dict:
    """What every task's summary has: latency of the timed runs, load, warmup, peak RSS, suspicious values."""
    s: dict = {"latency": latency_stats(ev.get("latencies_ns"), confidence=confidence,
                                        wall_seconds=_num(ev.get("timed_wall_s")))}
    reasons: dict = {}
    for k in ("load_ms", "first_inference_ms"):
        s[k] = _num(ev.get(k))
        if s[k] is None:
            reasons[k] = "not reported by the agent"
    warm = np.asarray(_list_or_empty(ev.get("warmup_ns")), dtype=np.float64)
    s["warmup"] = {"n": int(warm.size), "mean_ms": float(warm.mean()) / 1e6 if warm.size else None}
    rss = ev.get("peak_rss_kb")
    s["peak_rss_mb"] = None if rss is None else float(rss) / 1024.0
    if rss is None:
        reasons["peak_rss_mb"] = "peak RSS not reported by the agent (no resource module on the board?)"
    s["reasons"] = reasons
    # doubtful but possible values the controller found in the board's result (boardlimits.py)
    s["suspicious"] = [str(x) for x in ev.get("suspicious") or []]
    return s

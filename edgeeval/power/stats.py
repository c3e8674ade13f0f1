"""Statistics over repeated windows: mean ± std, Student-t interval, coefficient of variation."""

from __future__ import annotations

import math

import numpy as np

CV_FLAG = 0.05  # a result whose windows vary more than this (CV) is flagged


def window_stats(values, confidence: float = 0.95, cv_flag: float = CV_FLAG) -> dict:
    """{n, mean, std, ci [lo, hi], cv, cv_flagged, reasons} of per-window values (None dropped)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    out: dict = {"n": int(x.size), "mean": None, "std": None, "ci": None, "confidence": confidence,
                 "cv": None, "cv_flagged": None, "reasons": {}}
    if x.size == 0:
        out["reasons"]["mean"] = "no window produced a value"
        return out
    out["mean"] = float(x.mean())
    if x.size < 2:
        out["reasons"]["ci"] = "one window only; an interval needs at least 2 (set power.windows >= 3)"
        return out
    from scipy import stats

    sd = float(x.std(ddof=1))
    lo, hi = stats.t.interval(confidence, x.size - 1, loc=out["mean"], scale=sd / math.sqrt(x.size))
    out.update(std=sd, ci=[float(lo), float(hi)])
    if out["mean"] != 0:
        out["cv"] = sd / abs(out["mean"])
        out["cv_flagged"] = out["cv"] > cv_flag
    else:
        out["reasons"]["cv"] = "the mean is 0"
    return out

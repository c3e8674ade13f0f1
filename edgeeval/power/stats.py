"""Statistics over repeated windows: mean ± std, Student-t interval, coefficient of variation."""

from __future__ import annotations

import math

import numpy as np

CV_FLAG = 0.05  # a result whose windows vary more than this (CV) is flagged


def t_quantile(confidence: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2.0, dof))


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
    sd = float(x.std(ddof=1))
    half = t_quantile(confidence, x.size - 1) * sd / math.sqrt(x.size)
    out.update(std=sd, ci=[out["mean"] - half, out["mean"] + half])
    if out["mean"] != 0:
        out["cv"] = sd / abs(out["mean"])
        out["cv_flagged"] = out["cv"] > cv_flag
    else:
        out["reasons"]["cv"] = "the mean is 0"
    return out

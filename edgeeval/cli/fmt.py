"""Small formatting helpers of the terminal tables: numbers, intervals, the scored output's fidelity."""

from __future__ import annotations

import math


def _f(v, fmt="{:.3f}", none="—"):
    if v is None:
        return none
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "inf" if v == math.inf else ("nan" if math.isnan(v) else "-inf")
    return fmt.format(v)


def _ci(ci, fmt="{:.3f}"):
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _primary_fidelity(s: dict) -> dict:
    fid = s.get("fidelity") or {}
    if "primary" in fid and isinstance(fid["primary"], dict):
        return fid["primary"]
    if isinstance(fid, dict) and fid and all(isinstance(v, dict) for v in fid.values()):
        return next(iter(fid.values()))
    return fid

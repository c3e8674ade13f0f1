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


def _ms(x) -> str:
    """A latency in ms with about 3 significant digits (0.0061, 0.612, 6.12, 61.2, 612)."""
    if x is None:
        return "—"
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _size_mb(v: dict) -> str:
    b = v.get("model_size_bytes")
    if b is None:
        return "—"
    mb = b / 1e6      # about 3 significant digits at any size: 0.0047 for a 4.7 kB forest, never 0.00
    return f"{mb:.2g}" if mb < 0.1 else f"{mb:.2f}" if mb < 100 else f"{mb:.0f}"


def _with_ci(value, ci) -> str:
    """The value, and under it its 95% interval as the bounds' distance from it in per cent
    (−0.4 +1.2%): readable at any magnitude, and a narrow interval never prints as lo–lo."""
    if not ci or ci[0] is None or ci[1] is None or not value:
        return _ms(value)
    lo, hi = (ci[0] / value - 1) * 100, (ci[1] / value - 1) * 100
    fmt = (lambda x: f"{x:.1f}") if max(abs(lo), abs(hi)) < 10 else (lambda x: f"{x:.0f}")
    return f"{_ms(value)}\n[dim]{'−' if lo <= 0 else '+'}{fmt(abs(lo))} +{fmt(max(hi, 0.0))}%[/dim]"


def _verdict(v: dict) -> str:
    """The gate cell of a compact table: ERR (no verdict), PASS or FAIL."""
    if v.get("status") == "error" or v.get("passed") is None:
        return "[yellow]ERR[/yellow]"
    return "[green]PASS[/green]" if v.get("passed") else "[red]FAIL[/red]"

"""Was the timed window noisy? The summary's `noise` block from the agent's `noise` object.

The agent reads /proc/stat, its own CPU time and the load average right before and right
after the timed phase (edgeeval/agent/edgeeval_agent/noise.py `noise_figures`); here the shares are checked
against two limits and the run is flagged. Unknown stays None with the reason, never guessed.
"""

from __future__ import annotations

import math

# A hypervisor stealing 5% of the CPU, or other processes keeping 10% of the CPUs busy, moves a
# latency percentile by more than the harness overhead edgeeval promises (<= 2%, README
# "Performance"), so above either limit the figure describes the neighbours as much as the model.
STEAL_LIMIT = 0.05
OTHER_BUSY_LIMIT = 0.10
NO_NOISE_DATA = "agent sent no noise data (older agent)"

_SHARES = ("steal_share", "other_busy_share", "own_cpu_share", "iowait_share")


def pct(x: float) -> str:
    """0.081 -> '8.1%', 0.23 -> '23%' (one decimal below 10%)."""
    v = x * 100.0
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


def _finite(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def noise_summary(noise: dict | None) -> dict:
    """{window_s, cpus, steal_share, other_busy_share, own_cpu_share, iowait_share, loadavg_1m,
    limits, noisy (True/False/None), noisy_reasons [str], reason (why noisy is None), reasons}."""
    s: dict = {"window_s": None, "cpus": None, **{k: None for k in _SHARES}, "loadavg_1m": None,
               "limits": {"steal_share": STEAL_LIMIT, "other_busy_share": OTHER_BUSY_LIMIT},
               "noisy": None, "noisy_reasons": [], "reason": None, "reasons": {}}
    if not isinstance(noise, dict):
        s["reason"] = NO_NOISE_DATA if noise is None else \
            f"the agent's noise data is not an object ({type(noise).__name__})"
        s["reasons"] = {k: s["reason"] for k in (*_SHARES, "loadavg_1m")}
        return s
    s["window_s"] = _finite(noise.get("window_s"))
    cpus = noise.get("cpus")
    s["cpus"] = cpus if isinstance(cpus, int) and not isinstance(cpus, bool) else None
    for k in _SHARES:
        s[k] = _finite(noise.get(k))
    la = noise.get("loadavg_1m")
    if isinstance(la, list) and len(la) == 2 and all(_finite(x) is not None for x in la):
        s["loadavg_1m"] = [float(x) for x in la]
    given = noise.get("reasons") if isinstance(noise.get("reasons"), dict) else {}
    whole = noise.get("reason")
    for k in (*_SHARES, "loadavg_1m"):
        if s[k] is None:
            s["reasons"][k] = given.get(k) or whole or "not reported by the agent"

    steal, other = s["steal_share"], s["other_busy_share"]
    if steal is not None and steal > STEAL_LIMIT:
        s["noisy_reasons"].append(f"{pct(steal)} of CPU time stolen by the hypervisor")
    if other is not None and other > OTHER_BUSY_LIMIT:
        s["noisy_reasons"].append(f"other processes used {pct(other)} of the CPUs")
    if s["noisy_reasons"]:
        s["noisy"] = True
    elif steal is not None and other is not None:
        s["noisy"] = False
    else:
        s["reason"] = whole or "; ".join(f"{k}: {s['reasons'][k]}" for k in ("steal_share", "other_busy_share")
                                         if k in s["reasons"])
    return s

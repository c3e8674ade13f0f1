"""The `power` and `thermal` blocks of a variant's summary, from the agent's result event.

Power (all energies from board samples inside the phase windows the agent stamped):
    sensor, rails, kind, estimate, notes, update_interval_s, sample_interval_s
    samples {reads, repeats_dropped, used, achieved_rate_hz}
    idle    {t_s, p_mean_w (time-weighted), p_std_w (samples), n_samples}
    windows [{t_s, n_inferences, energy_j, p_mean_w, p_std_w, n_samples, rate_hz,
              e_total_mj, e_dynamic_mj, inferences_per_j, edge_error_rel}]
    e_total_mj, e_dynamic_mj, p_active_w, inferences_per_j: window_stats() over the R windows
    cv_flagged: CV of e_total_mj > 5 %;  reasons: why a value is None
Thermal: per zone start/max/end °C, per policy warm/min kHz, throttle bits, throttled flag.
"""

from __future__ import annotations

import math

import numpy as np

from .energy import counter_energy, dedupe, hold_points, integrate, unwrap
from .stats import window_stats

FREQ_DROP = 0.05  # throttled: a policy's frequency more than 5 % below its warm value


def _nulls(power: dict, reason: str) -> dict:
    out = {k: power.get(k) for k in ("sensor", "rails", "estimate", "notes")}
    for k in ("p_idle_w", "p_active_w", "e_total_mj", "e_dynamic_mj", "inferences_per_j", "windows"):
        out[k] = None
    out["reason"] = reason
    out.update({k: power[k] for k in ("source", "clock") if k in power})
    return out


def _series(power: dict):
    """(t_s, P_w per sample, cumulative J or None, repeats) after de-duplication."""
    s = power["samples"]
    t_ns, v, repeats = dedupe(s["t_ns"], s["values"], s.get("seq"))
    t = (t_ns - (t_ns[0] if t_ns.size else 0)).astype(np.float64) / 1e9
    origin = int(t_ns[0]) if t_ns.size else 0
    if power.get("kind") == "energy":
        ranges = power.get("max_range_uj") or [2 ** 63] * v.shape[1]
        cols = [unwrap(v[:, i].astype(np.int64), r) for i, r in enumerate(ranges)]  # exact below 2**53
        e_j = np.sum(cols, axis=0).astype(np.float64) / 1e6
        p = np.diff(e_j) / np.diff(t) if t.size > 1 else np.zeros(0)
        tp = (t[1:] + t[:-1]) / 2 if t.size > 1 else np.zeros(0)
        return t, tp, p, e_j, repeats, origin, None
    ok = ~np.any(np.isnan(v), axis=1)
    th_ns, hv = hold_points(s["t_ns"], s["values"], s.get("seq"))
    hok = ~np.any(np.isnan(hv), axis=1)
    th = (th_ns[hok] - origin).astype(np.float64) / 1e9
    return t[ok], t[ok], v[ok].sum(axis=1), None, repeats, origin, (th, hv[hok].sum(axis=1))


def summarize_power(power: dict | None, confidence: float = 0.95) -> dict | None:
    """See the module docstring; None when the job had no power measurement."""
    if not power:
        return None
    if power.get("sensor") == "none" or "samples" not in power:
        return _nulls(power, power.get("reason") or "no power samples were taken")
    t, tp, p, e_j, repeats, origin, held = _series(power)
    out = {k: power.get(k) for k in ("sensor", "kind", "rails", "estimate", "notes",
                                     "update_interval_s", "sample_interval_s")}
    out.update({k: power[k] for k in ("source", "clock") if k in power})  # host meters (power/host.py)
    reads = len(power["samples"]["t_ns"])
    span = float(t[-1] - t[0]) if t.size > 1 else 0.0
    out["samples"] = {"reads": reads, "repeats_dropped": repeats, "used": int(t.size),
                      "achieved_rate_hz": (t.size - 1) / span if span > 0 else None,
                      "read_errors": power.get("read_errors"), "first_error": power.get("first_error")}
    reasons: dict = {}
    if p.size < 2:
        return {**_nulls(power, f"only {p.size} distinct power samples (sensor stuck or too slow)"), **out}

    def rel(ns):
        return (int(ns) - origin) / 1e9

    def energy(t0, t1):
        return counter_energy(t, e_j, t0, t1) if e_j is not None else integrate(held[0], held[1], t0, t1)

    def in_win(t0, t1):
        return p[(tp >= t0) & (tp <= t1)]

    i0, i1 = rel(power["idle"][0]), rel(power["idle"][1])
    idle_p = in_win(i0, i1)
    p_idle = energy(i0, i1) / (i1 - i0) if i1 > i0 else None
    out["idle"] = {"t_s": i1 - i0, "p_mean_w": p_idle, "n_samples": int(idle_p.size),
                   "p_std_w": float(idle_p.std(ddof=1)) if idle_p.size > 1 else None}
    if idle_p.size < 2:
        reasons["idle"] = f"{idle_p.size} samples in the idle window; the mean is interpolated"
    med_dt = float(np.median(np.diff(tp))) if tp.size > 1 else None
    wins = []
    for w in power.get("windows") or []:
        t0, t1, n = rel(w["t0_ns"]), rel(w["t1_ns"]), w["n"]  # a meter's trimmed window: a fraction
        T = t1 - t0
        e = energy(t0, t1)
        wp = in_win(t0, t1)
        pm = e / T if T > 0 else None
        wins.append({"t_s": T, "n_inferences": n, "energy_j": e, "p_mean_w": pm,
                     "p_std_w": float(wp.std(ddof=1)) if wp.size > 1 else None,
                     "n_samples": int(wp.size), "rate_hz": wp.size / T if T > 0 else None,
                     "e_total_mj": e / n * 1e3,
                     "e_dynamic_mj": (pm - p_idle) * T / n * 1e3 if (pm is not None and p_idle is not None) else None,
                     "inferences_per_j": n / e if e > 0 else None,
                     "edge_error_rel": (med_dt / T) if (med_dt and T > 0) else None,
                     "covered": bool((held[0] if held else tp)[0] <= t0 and (held[0] if held else tp)[-1] >= t1)})
    out["windows"] = wins
    out["inferences_per_window"] = power.get("inferences_per_window")
    out["window_target_s"] = power.get("window_target_s")
    out["warmup"] = power.get("warmup")
    out["p_idle_w"] = p_idle
    for key, src in (("p_active_w", "p_mean_w"), ("e_total_mj", "e_total_mj"),
                     ("e_dynamic_mj", "e_dynamic_mj"), ("inferences_per_j", "inferences_per_j")):
        out[key] = window_stats([w[src] for w in wins], confidence)
    out["cv_flagged"] = out["e_total_mj"]["cv_flagged"]
    target = power.get("window_target_s")
    for w in wins:
        w["short"] = bool(target and w["t_s"] < target)
    if any(w["short"] for w in wins):
        reasons["windows_short"] = (f"a window lasted less than its target {target:.3g} s (the inference "
                                    "rate fell after the warmup); its edge error is larger")
    if any(not w["covered"] for w in wins):
        reasons["windows"] = "a window edge lies outside the samples; its power is held flat there"
    if power.get("estimate"):
        reasons["estimate"] = "this sensor does not cover the whole board; the figures are an estimate"
    out["reasons"] = reasons
    return out


def _period(phases, name):
    """[(t0_ns, t1_ns)] of every phase `name`, each ending at the next phase event."""
    out = []
    for i, (n, t) in enumerate(phases):
        if n == name:
            out.append((t, phases[i + 1][1] if i + 1 < len(phases) else math.inf))
    return out


def summarize_thermal(thermal: dict | None) -> dict | None:
    """Temperatures, clocks and the throttled flag (computed here, from the 1 s series)."""
    if not thermal:
        return None
    t = np.asarray(thermal.get("t_ns") or [], dtype=np.float64)
    temps = np.asarray([[np.nan if x is None else x for x in row] for row in thermal.get("temp_mc") or []],
                       dtype=np.float64).reshape(t.size, -1)
    freqs = np.asarray([[np.nan if x is None else x for x in row] for row in thermal.get("freq_khz") or []],
                       dtype=np.float64).reshape(t.size, -1)
    phases = [tuple(p) for p in thermal.get("phases") or []]
    out: dict = {"samples": int(t.size), "interval_s": thermal.get("interval_s"),
                 "governors": thermal.get("governors"), "governors_end": thermal.get("governors_end"),
                 "nvpmodel": thermal.get("nvpmodel"), "zones": {}, "policies": {}, "reasons": {}}
    for k in ("zones_reason", "policies_reason", "throttle_reason", "nvpmodel_reason"):
        if thermal.get(k):
            out["reasons"][k.replace("_reason", "")] = thermal[k]
    for j, z in enumerate(thermal.get("zones") or []):
        col = temps[:, j] / 1000.0 if t.size else np.zeros(0)
        col = col[~np.isnan(col)]
        out["zones"][z] = ({"start_c": float(col[0]), "max_c": float(col.max()), "end_c": float(col[-1])}
                           if col.size else {"reason": "no readable sample"})
    # warm reference: the power warmup if there was one, else the latency phase; checked: the
    # power windows, else the latency phase
    warm = _period(phases, "power_warmup") or _period(phases, "timed")
    check = _period(phases, "power_window") or _period(phases, "timed")
    flags, why = [], []
    for j, pol in enumerate(thermal.get("policies") or []):
        col = freqs[:, j] if t.size else np.zeros(0)
        ref = np.concatenate([col[(t >= a) & (t <= b)] for a, b in warm]) if warm else np.zeros(0)
        chk = np.concatenate([col[(t >= a) & (t <= b)] for a, b in check]) if check else np.zeros(0)
        ref, chk = ref[~np.isnan(ref)], chk[~np.isnan(chk)]
        if ref.size == 0 or chk.size == 0:
            out["policies"][pol] = {"warm_khz": None, "min_khz": None,
                                    "reason": "no frequency sample inside the warm or the measured phase"}
            why.append(f"{pol}: no frequency samples in the phases")
            continue
        warm_khz, low = float(np.median(ref)), float(chk.min())
        drop = low < (1.0 - FREQ_DROP) * warm_khz
        out["policies"][pol] = {"warm_khz": warm_khz, "min_khz": low, "below_warm": drop}
        flags.append(drop)
    bits = thermal.get("throttled")
    if bits is not None:
        vals = [b for b in bits if b is not None]
        now = any(b & 0xF for b in vals)
        sticky = len({(b >> 16) & 0xF for b in vals}) > 1
        out["throttle_bits"] = {"first": hex(vals[0]) if vals else None, "last": hex(vals[-1]) if vals else None,
                                "under_voltage_or_throttling_now": now, "new_since_start": sticky}
        flags.append(now or sticky)
    if flags:
        out["throttled"] = any(flags)
    else:
        out["throttled"] = None
        out["reasons"]["throttled"] = "; ".join(why) or "no cpufreq policy and no throttle bits on this board"
    return out

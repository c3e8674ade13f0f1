"""Per-scenario summaries (MLPerf-style single-stream, multi-stream, offline, server) with intervals.

Every figure carries its interval and the count behind it:
* percentiles: the order-statistic (binomial) interval of latency.py, distribution-free;
* throughput: batch means — the timed calls are cut into contiguous blocks (default 20), the
  per-sample time of each block is one observation, a Student-t interval on their mean is
  inverted into samples/s. Contiguous blocks soak up short-range correlation between calls.
* early stopping: LoadGen's estimate (early_stopping.py).
Outliers are counted (latency_stats), never dropped.
"""

from __future__ import annotations

import numpy as np

from .early_stopping import CONFIDENCE, early_stopping_estimate, overlatency_allowed
from .latency import latency_stats, percentile, percentile_ci

THROUGHPUT_CI_METHOD = "batch means (contiguous blocks, Student t), inverted to samples/s"
HEADLINE = {"single-stream": "p90_ms", "multi-stream": "p99_ms", "server": "p99_ms",
            "offline": "samples_per_s"}
def throughput_ci(call_ns, samples_per_call: int, *, confidence: float = 0.95, blocks: int = 20) -> dict:
    """{"value", "ci", "n_calls", "n_samples", "blocks", "method", "reason"} in samples/s.

    `value` is all samples over the summed timed calls; the interval comes from `blocks`
    contiguous blocks of calls (batch means).
    """
    x = np.asarray(call_ns, dtype=np.float64).ravel()
    n = int(x.size)
    out = {"value": None, "ci": None, "n_calls": n, "n_samples": n * int(samples_per_call),
           "samples_per_call": int(samples_per_call), "blocks": None, "confidence": confidence,
           "method": THROUGHPUT_CI_METHOD, "reason": None, "unit": "samples/s"}
    total_s = float(x.sum()) / 1e9
    if n == 0 or total_s <= 0:
        out["reason"] = "no timed calls" if n == 0 else "all timed calls took 0 ns"
        return out
    out["value"] = n * samples_per_call / total_s
    k = min(int(blocks), n // 2)
    if k < 2:
        out["reason"] = f"{n} timed calls are too few for an interval: needs at least 4"
        return out
    from scipy import stats

    per_sample_s = np.array([b.mean() / 1e9 / samples_per_call for b in np.array_split(x, k)])
    m = float(per_sample_s.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2.0, k - 1)) * float(stats.sem(per_sample_s))
    out["blocks"] = k
    out["ci"] = [1.0 / (m + half), (1.0 / (m - half)) if m - half > 0 else None]
    if out["ci"][1] is None:
        out["reason"] = "the upper bound is unbounded (block times too spread)"
    return out


def server_early_stopping(latencies_ns, bound_ns: float, p: float = 0.99,
                          confidence: float = CONFIDENCE) -> dict:
    """LoadGen's Server check: with t queries over the bound, are n queries enough to say q_p <= bound?"""
    x = np.asarray(latencies_ns, dtype=np.float64).ravel()
    n, t = int(x.size), int(np.count_nonzero(x > bound_ns))
    from .latency import binom_cdf

    # n >= h_min(t) + t  <=>  P(Binomial(n, 1 - p) <= t) < 1 - c
    ok = bool(n > t and float(binom_cdf(n, 1.0 - p)[t]) < 1.0 - confidence) if n else False
    return {"passed": ok, "n": n, "overlatency": t, "percentile": p, "confidence": confidence,
            "bound_ms": bound_ns / 1e6, "method": "MLPerf LoadGen early stopping (Server)"}


def _headline(name: str, lat: dict, tput: dict) -> dict:
    metric = HEADLINE[name]
    if metric == "samples_per_s":
        return {"metric": metric, "value": tput.get("value"), "ci": tput.get("ci"),
                "n": tput.get("n_samples"), "ci_method": tput.get("method"), "unit": "samples/s"}
    key = metric[:-3]
    return {"metric": metric, "value": lat.get(key), "ci": lat.get(f"{key}_ci"), "n": lat.get("n"),
            "ci_method": lat.get("ci_method"), "unit": "ms",
            "reason": (lat.get("reasons") or {}).get(f"{key}_ci")}


def _p99_ci(latencies_ns, confidence) -> list | None:
    s = np.sort(np.asarray(latencies_ns, dtype=np.float64))
    if not s.size:
        return None
    lo, hi, _ = percentile_ci(s, 0.99, confidence)
    return None if lo is None else [lo / 1e6, hi / 1e6]


def _ms_or_none(v):
    return None if v is None else v / 1e6


def sustained_summary(latencies_ns, window_ends, window_s: float | None, thermal=None, agent=None) -> dict:
    """Burst (first window) vs sustained (last window) latency and the drift of window medians.

    `agent`: the result event's sustained fields (`sustained_criterion`, `sustained_slope_*`,
    `sustained_thermal`, `scenario`): the criterion the agent stopped on, the final max-zone
    temperature slope and the temperature per window (first and last here)."""
    x = np.asarray(latencies_ns, dtype=np.float64)
    ends = [int(e) for e in (window_ends or []) if 0 < int(e) <= x.size]
    out: dict = {"windows": [], "window_s": window_s, "criterion": None, "reason": None}
    if len(ends) < 2:
        out["reason"] = "fewer than 2 windows: no drift can be measured"
        out.update(_agent_sustained(agent or {}, []))
        return out
    start = 0
    for i, e in enumerate(ends):
        s = np.sort(x[start:e])
        if s.size:
            out["windows"].append({"i": i, "n": int(s.size), "p50_ms": percentile(s, 0.5) / 1e6,
                                   "p90_ms": percentile(s, 0.9) / 1e6})
        start = e
    first, last = out["windows"][0], out["windows"][-1]
    out["burst"] = {"p50_ms": first["p50_ms"], "p90_ms": first["p90_ms"], "n": first["n"]}
    out["sustained"] = {"p50_ms": last["p50_ms"], "p90_ms": last["p90_ms"], "n": last["n"]}
    out["drift_p50"] = last["p50_ms"] / first["p50_ms"] - 1.0 if first["p50_ms"] else None
    th = thermal_during_timed(thermal)
    out.update(_agent_sustained(agent or {}, out["windows"]))
    if out["stop_criterion"] is not None:
        out["criterion"] = _criterion_text(out["stop_criterion"], (agent or {}).get("scenario"))
    elif th.get("samples"):
        out["criterion"] = ("thermal sampler (result key `thermal`): steady when the temperature "
                            f"range over the last {THERMAL_STEADY_S:g} s of the timed phase is "
                            f"<= {THERMAL_STEADY_C:g} °C; the agent stopped on latency drift")
    else:
        out["criterion"] = "latency drift: the last window medians agree within the stated tolerance"
    out["thermal"] = th
    return out


THERMAL_STEADY_S, THERMAL_STEADY_C = 60.0, 1.0


def _agent_sustained(ev: dict, windows: list) -> dict:
    """The agent's stop criterion, final slope and first/last window temperatures (null + reason
    when unknown); each window gains its temperature and slope."""
    crit = ev.get("sustained_criterion")
    if crit is None:
        why = "not reported by the agent (an agent older than the thermal stop: it stopped on latency drift)"
        return {"stop_criterion": None, "slope_c_per_min": None, "slope_reason": why,
                "temp_first_window_c": None, "temp_last_window_c": None, "temp_reason": why}
    st = ev.get("sustained_thermal") or {}
    temps = st.get("window_temp_c") or []
    slopes = st.get("window_slope_c_per_min") or []
    for w in windows:
        i = w["i"]
        w["temp_c"] = temps[i] if i < len(temps) else None
        w["slope_c_per_min"] = slopes[i] if i < len(slopes) else None
    first = temps[0] if temps else None
    last = temps[-1] if temps else None
    temp_reason = None
    if not temps:
        temp_reason = st.get("reason") or "no thermal readings in the result"
    elif first is None or last is None:
        temp_reason = "no thermal reading at the first or last window (sampler read errors)"
    return {"stop_criterion": crit, "slope_c_per_min": ev.get("sustained_slope_c_per_min"),
            "slope_reason": ev.get("sustained_slope_reason"), "temp_first_window_c": first,
            "temp_last_window_c": last, "temp_reason": temp_reason}


def _criterion_text(crit: str, sc: dict | None) -> str:
    sus = (sc or {}).get("sustained") or {}
    if crit == "thermal+latency":
        return (f"thermal+latency: steady when the max-zone temperature slope over the last "
                f"{sus.get('slope_window_s')} s is within ±{sus.get('slope_c_per_min')} °C/min "
                f"and the last window medians agree within the stated tolerance")
    return f"latency drift: the last window medians agree within the stated tolerance; agent: {crit}"


def thermal_during_timed(thermal) -> dict:
    """Temperatures the power/thermal sampler read during the timed phase, and whether they settled."""
    if not isinstance(thermal, dict) or not thermal.get("t_ns") or not thermal.get("temp_mc"):
        return {"samples": 0, "reason": "no thermal samples in the result (no power job or no thermal zone)"}
    marks = [(p, int(t)) for p, t in (thermal.get("phases") or [])]
    start = next((t for p, t in marks if p == "timed"), None)
    end = next((t for p, t in marks if start is not None and t > start), None)
    pts = [(int(t), v) for t, v in zip(thermal["t_ns"], thermal["temp_mc"]) if v is not None
           and (start is None or t >= start) and (end is None or t <= end)]
    if not pts:
        return {"samples": 0, "reason": "no thermal sample fell inside the timed phase"}
    last = [v for t, v in pts if t >= pts[-1][0] - THERMAL_STEADY_S * 1e9]
    span_s = (pts[-1][0] - pts[0][0]) / 1e9
    return {"samples": len(pts), "temp_start_c": pts[0][1] / 1000.0, "temp_end_c": pts[-1][1] / 1000.0,
            "steady": span_s >= THERMAL_STEADY_S and (max(last) - min(last)) / 1000.0 <= THERMAL_STEADY_C,
            "span_s": span_s}


def scenario_summary(ev: dict, *, confidence: float = 0.95) -> dict:
    """The scenario block of a variant's summary, from the agent's result event."""
    sc = dict(ev.get("scenario") or {"name": "single-stream"})
    name = sc.get("name", "single-stream")
    lat_ns = ev.get("latencies_ns")
    lat = latency_stats(lat_ns, confidence=confidence)
    out: dict = {"name": name, "settings": {k: v for k, v in sc.items() if k != "name"},
                 "profile": sc.get("profile"), "seeds": {k: v for k, v in sc.items() if "seed" in k}}
    warm = np.asarray([] if ev.get("warmup_ns") is None else ev["warmup_ns"], dtype=np.float64).ravel()
    out["cold_start"] = {"session_ms": ev.get("load_ms"), "first_inference_ms": ev.get("first_inference_ms"),
                         "warmup_mean_ms": float(warm.mean()) / 1e6 if warm.size else None,
                         "warmup_n": int(warm.size)}
    spc = int(sc.get("samples_per_query") or ev.get("batch_size") or 1)
    tput = throughput_ci(lat_ns if lat_ns is not None else [], spc, confidence=confidence)
    if name == "single-stream":
        es = early_stopping_estimate(np.asarray(lat_ns if lat_ns is not None else []), 0.90)
        es["value_ms"] = _ms_or_none(es.pop("value"))
        out["early_stopping"] = es
    elif name == "multi-stream":
        es = early_stopping_estimate(np.asarray(lat_ns if lat_ns is not None else []), 0.99)
        es["value_ms"] = _ms_or_none(es.pop("value"))
        out["early_stopping"] = es
        out["p99_per_query_ms"], out["p99_per_query_ci"] = lat.get("p99"), lat.get("p99_ci")
    elif name == "offline":
        sweep = []
        for row in ev.get("offline") or []:
            rl = row.get("latencies_ns")
            rl = [] if rl is None else rl
            t = throughput_ci(rl, int(row["batch_size"]), confidence=confidence)
            b = latency_stats(rl, confidence=confidence)
            sweep.append({"batch_size": row["batch_size"], "samples_per_s": t["value"], "ci": t["ci"],
                          "n_batches": t["n_calls"], "n_samples": t["n_samples"],
                          "batch_latency_p50_ms": b["p50"], "batch_latency_p90_ms": b["p90"],
                          "reason": t["reason"]})
        out["sweep"] = sweep
        out["batch_size"] = ev.get("batch_size")
    elif name == "server":
        srv = ev.get("server") or {}
        bound_ms = sc.get("latency_bound_ms")
        out["server"] = {k: srv.get(k) for k in ("target_qps", "achieved_qps", "scheduled_s") if k in srv}
        # LoadGen's two rates: scheduled (arrivals issued over the schedule's span) and completed
        # (queries finished over the timed wall time, first arrival to last completion)
        n = 0 if lat_ns is None else len(lat_ns)
        wall = ev.get("timed_wall_s")
        out["server"]["scheduled_queries"] = n
        out["server"]["scheduled_qps"] = srv.get("achieved_qps")
        out["server"]["completed_queries"] = n
        out["server"]["completed_qps"] = n / float(wall) if wall and n else None
        if out["server"]["completed_qps"] is None:
            out["server"]["completed_qps_reason"] = "no timed wall time or no queries reported"
        if bound_ms is not None and lat_ns is not None and len(lat_ns):
            out["server"]["latency_bound_ms"] = bound_ms
            out["server"]["p99_meets_bound"] = (lat.get("p99") is not None and lat["p99"] <= bound_ms)
            out["server"]["early_stopping"] = server_early_stopping(lat_ns, bound_ms * 1e6, 0.99)
        if srv.get("trials"):
            out["server"]["find_max_qps"] = {"trials": srv["trials"], "max_qps": srv.get("max_qps"),
                                             "reason": srv.get("max_qps_reason")}
    if name == "server":  # latencies include queueing: n / sum(latency) is no rate; the rate is completed_qps
        done = out["server"].get("completed_qps")
        tput = {"value": done, "ci": None, "n_calls": tput["n_calls"],
                "method": "completed queries / timed wall time (LoadGen's completed samples per second)",
                "reason": None if done is not None else out["server"].get("completed_qps_reason")}
    out["throughput"] = tput
    if ev.get("window_ends"):
        out["sustained"] = sustained_summary(lat_ns, ev.get("window_ends"), sc.get("window_s"),
                                             ev.get("thermal"), agent=ev)
        if ev.get("sustained_stop"):
            out["sustained"]["stop"] = ev["sustained_stop"]
    out["headline"] = _headline(name, lat, _offline_headline(out) if name == "offline" else tput)
    return out


def _offline_headline(out: dict) -> dict:
    """Offline's headline: the batch size of the best throughput in the sweep."""
    rows = [r for r in out.get("sweep") or [] if r["samples_per_s"] is not None]
    if not rows:
        return {"value": None, "ci": None, "n_samples": 0, "method": THROUGHPUT_CI_METHOD}
    best = max(rows, key=lambda r: r["samples_per_s"])
    out["best_batch_size"] = best["batch_size"]
    return {"value": best["samples_per_s"], "ci": best["ci"], "n_samples": best["n_samples"],
            "method": THROUGHPUT_CI_METHOD}


__all__ = ["scenario_summary", "throughput_ci", "server_early_stopping", "sustained_summary",
           "overlatency_allowed"]

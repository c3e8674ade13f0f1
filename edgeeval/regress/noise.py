"""A board's own noise, from an A/A calibration: the same job run several times in a row.

For each metric the spread of the run values (cv_total, relative) is split into what one run's own
sampling explains (cv_within, from each run's stored 95% interval) and what is left: the run-to-run
part (cv_run: a different boot, page cache, clock state, neighbours), which no single run's interval
shows. Comparisons add cv_run to their intervals (stats.widen_ratio); from cv_run and cv_within
follow the smallest change a comparison of two runs detects at 95% power (mde_pct), the change below
which a regression can never be declared on this board (floor_pct), and how long a run must be to
detect a given change (run_length).
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import insert, select

from ..store.schema import board_noise
from ..store.store import scrub, utc_now
from . import identity

Z95 = 1.959963984540054        # two-sided 95%
Z_POWER95 = 1.6448536269514722  # one-sided 95% power
METRICS = ("p50_ms", "p90_ms", "p99_ms", "throughput", "energy_mj")
MIN_RUNS = 3


def _se_log(value, ci) -> float | None:
    if value is None or not ci or ci[0] is None or ci[1] is None or min(ci[0], ci[1], value) <= 0:
        return None
    return (math.log(ci[1]) - math.log(ci[0])) / (2 * Z95)


def run_values(variant: dict) -> dict:
    """{metric: (value, within-run se of its log or None)} of one stored variant."""
    s = variant.get("summary") or {}
    lat = s.get("latency") or {}
    out = {}
    for m, key in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")):
        if lat.get(key) is not None:
            out[m] = (lat[key], _se_log(lat[key], lat.get(f"{key}_ci")))
    sc = s.get("scenario") or {}
    if sc.get("name") == "offline":
        h = sc.get("headline") or {}
        if h.get("value") is not None:
            out["throughput"] = (h["value"], _se_log(h["value"], h.get("ci")))
    elif sc.get("name") != "server" and lat.get("throughput_ips"):
        out["throughput"] = (lat["throughput_ips"], None)
    e = (s.get("power") or {}).get("e_total_mj") or {}
    if e.get("mean") is not None:
        out["energy_mj"] = (e["mean"], _se_log(e["mean"], e.get("ci")))
    return out


def spread(values: list[float], within: list[float | None]) -> dict:
    """cv_total, cv_within, cv_run (all relative sd of one run) from the run values and their own se."""
    v = np.asarray(values, np.float64)
    logs = np.log(v)
    sd_total = float(logs.std(ddof=1))
    w = [x for x in within if x is not None]
    sd_within = float(np.sqrt(np.mean(np.square(w)))) if len(w) == len(values) else None
    sd_run = math.sqrt(max(0.0, sd_total ** 2 - (sd_within or 0.0) ** 2))
    return {"values": [float(x) for x in v], "cv_total": math.expm1(sd_total),
            "cv_within": None if sd_within is None else math.expm1(sd_within), "cv_run": math.expm1(sd_run)}


def q95(df: int | None) -> float:
    """The two-sided 95% quantile of a spread estimated with `df` degrees of freedom (normal without)."""
    if not df:
        return Z95
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def mde_pct(cv_within: float | None, cv_run: float, df: int | None = None) -> float:
    """Smallest true change (in %) a comparison of two single runs finds at 95% power, 5% two-sided."""
    sd = math.sqrt(2.0) * math.hypot(math.log1p(cv_within or 0.0), math.log1p(cv_run))
    return 100.0 * math.expm1((q95(df) + Z_POWER95) * sd)


def floor_pct(threshold: float, cv_within: float | None, cv_run: float, df: int | None = None) -> float:
    """The change (in %) below which a comparison can only say inconclusive on this board: the interval's
    lower end reaches past the threshold only when the change exceeds the threshold by its half-width."""
    half = q95(df) * math.sqrt(2.0) * math.hypot(math.log1p(cv_within or 0.0), math.log1p(cv_run))
    return 100.0 * math.expm1(math.log1p(threshold) + half)


def run_length(target_pct: float, cv_within: float | None, cv_run: float, timed_s: float | None) -> dict:
    """How much longer (factor ×) a run must be for a two-run comparison to detect `target_pct` at 95%
    power; within-run sampling shrinks as 1/sqrt(length), run-to-run noise does not. When run-to-run
    noise alone is too large, `repeats` is how many runs per side (compared by their mean) it takes."""
    need = math.log1p(target_pct / 100.0) / (Z95 + Z_POWER95) / math.sqrt(2.0)   # allowed sd of one side's log
    run = math.log1p(cv_run)
    within = math.log1p(cv_within or 0.0)
    if run >= need:
        return {"factor": None, "timed_s": None, "repeats": math.ceil((run ** 2 + within ** 2) / need ** 2),
                "reason": f"run-to-run noise {cv_run:.2%} per run exceeds the {math.expm1(need):.2%} that detecting "
                          f"{target_pct:g}% allows: no run length reaches it with one run per side"}
    if within == 0:
        return {"factor": 1.0, "timed_s": timed_s, "repeats": 1, "reason": None}
    factor = max(1.0, within ** 2 / (need ** 2 - run ** 2))
    return {"factor": factor, "timed_s": None if timed_s is None else timed_s * factor, "repeats": 1, "reason": None}


def calibration(runs: list[dict], variant: str, *, threshold: float = 0.03, target_pct: float = 3.0) -> dict:
    """The metrics document of an A/A calibration of `variant` from its stored runs (same board, same job)."""
    per = [run_values(v) for r in runs for v in r["variants"] if v["name"] == variant and v.get("summary")]
    timed = [((v.get("summary") or {}).get("latency") or {}).get("n") for r in runs for v in r["variants"]
             if v["name"] == variant]
    lats = [(v.get("summary") or {}).get("latency") or {} for r in runs for v in r["variants"] if v["name"] == variant]
    wall = [lat["n"] / lat["throughput_wall_ips"] for lat in lats if lat.get("n") and lat.get("throughput_wall_ips")]
    out = {}
    for m in METRICS:
        got = [p[m] for p in per if m in p]
        if len(got) < MIN_RUNS or len(got) < len(per):
            continue
        sp = spread([g[0] for g in got], [g[1] for g in got])
        sp["mde_pct"] = mde_pct(sp["cv_within"], sp["cv_run"], len(got) - 1)
        sp["floor_pct"] = floor_pct(threshold, sp["cv_within"], sp["cv_run"], len(got) - 1)
        ok_wall = [w for w in wall if isinstance(w, (int, float))]
        sp["run_length_for"] = {"target_pct": target_pct, **run_length(
            target_pct, sp["cv_within"], sp["cv_run"], float(np.median(ok_wall)) if ok_wall else None)}
        sp["timed_runs_median"] = float(np.median([t for t in timed if t])) if any(timed) else None
        out[m] = sp
    return out


def save(engine, run_list: list[dict], variant: str, metrics: dict, detail: dict | None = None) -> int:
    first = run_list[0]
    row = dict(device_name=first["device_name"], hardware_digest=identity.key_digest(identity.hardware_key(first)),
               recipe_name=first["recipe_name"], variant=variant, created_at=utc_now(), runs=len(run_list),
               run_ids=[r["id"] for r in run_list], metrics=scrub(metrics), detail=scrub(detail or {}))
    with engine.begin() as conn:
        return int(conn.execute(insert(board_noise).values(**row)).inserted_primary_key[0])


def latest(engine, device: str, *, recipe: str | None = None, variant: str | None = None,
           hardware_digest: str | None = None) -> dict | None:
    """The newest calibration of `device` for this recipe and variant, else for any job on the board
    (its cv_run is the board's, approximately); None if the board was never calibrated."""
    with engine.connect() as conn:
        q = select(board_noise).where(board_noise.c.device_name == device).order_by(board_noise.c.id.desc())
        rows = [dict(r._mapping) for r in conn.execute(q.limit(200))]
    if hardware_digest is not None:
        rows = [r for r in rows if r["hardware_digest"] == hardware_digest]
    for r in rows:
        if r["recipe_name"] == recipe and r["variant"] == variant:
            return {**r, "match": "this job"}
    return {**rows[0], "match": f"another job ({rows[0]['recipe_name']}/{rows[0]['variant']})"} if rows else None


def run_df(cal: dict | None) -> dict:
    """{metric: degrees of freedom of its cv_run} (calibration runs - 1) for stats.widen_ratio."""
    if not cal:
        return {}
    return {m: len(v["values"]) - 1 for m, v in (cal.get("metrics") or {}).items() if len(v.get("values") or []) > 1}


def run_cv(cal: dict | None) -> dict:
    """{metric: cv_run} for stats.widen_ratio."""
    if not cal:
        return {}
    return {m: v["cv_run"] for m, v in (cal.get("metrics") or {}).items() if v.get("cv_run") is not None}


def all_calibrations(engine, device: str | None = None, limit: int = 50) -> list[dict]:
    with engine.connect() as conn:
        q = select(board_noise).order_by(board_noise.c.id.desc()).limit(limit)
        if device is not None:
            q = q.where(board_noise.c.device_name == device)
        return [dict(r._mapping) for r in conn.execute(q)]

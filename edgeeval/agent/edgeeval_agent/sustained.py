"""Sustained single-stream: windows until latency and (when a zone is readable) temperature
are steady, or max_seconds."""

import time

from .loops import _p, timed_loop
from .power.sampler import _linear_slope
from .power.sensors.base import _read_num, _sys
from .power.thermal import THERMAL_INTERVAL_S, ThermalSampler


def sustained_loop(fn, arg, feeds, timing, sus, interval_s, thermal=None):
    """Single-stream in windows of window_s until steady and the minimums are met, or max_seconds.

    Steady: the last `windows` window medians agree within `tolerance` (latency drift) and, when
    `thermal` (a running ThermalSampler with a readable zone) is given, also the max-zone
    temperature slope over the last `slope_window_s` is within +-`slope_c_per_min` (a board can be
    thermally flat yet still settling a governor, or latency-flat while still heating up).
    Returns (latencies_ns, wall_s, stop, window_ends, per-window thermal record)."""
    lat, ends = [], []
    win = {"min_runs": 1, "max_runs": timing["max_runs"], "min_seconds": sus["window_s"],
           "max_seconds": sus["window_s"]}
    rec = {"t_ns": [], "temp_c": [], "slope_c_per_min": []}
    span_ns = int(sus["slope_window_s"] * 1e9)
    start = time.perf_counter()
    medians = []
    while True:
        w, _, _ = timed_loop(fn, arg, feeds, win, interval_s)
        lat.extend(w)
        ends.append(len(lat))
        medians.append(_p(w, 0.5))
        elapsed = time.perf_counter() - start
        tail = medians[-sus["windows"]:]
        steady = (len(tail) == sus["windows"]
                  and (max(tail) - min(tail)) <= sus["tolerance"] * (sum(tail) / len(tail)))
        now = time.monotonic_ns()
        rec["t_ns"].append(now)
        if thermal is not None:  # outside the timed region: between windows
            pts = _max_temp_points(thermal, now - span_ns, now)
            last = _max_temp_points(thermal, now - 10 * int(THERMAL_INTERVAL_S * 1e9), now)
            rec["temp_c"].append(last[-1][1] if last else None)
            slope = None
            if elapsed >= sus["slope_window_s"] and len(pts) >= 3:
                slope = _linear_slope([t / 1e9 for t, _ in pts], [c for _, c in pts]) * 60.0
            rec["slope_c_per_min"].append(slope)
            steady = steady and slope is not None and abs(slope) < sus["slope_c_per_min"]  # cooling too
        if steady and len(lat) >= timing["min_runs"] and elapsed >= timing["min_seconds"]:
            return lat, time.perf_counter() - start, "steady", ends, rec
        if elapsed >= sus["max_seconds"] or len(lat) >= timing["max_runs"]:
            return lat, time.perf_counter() - start, "max_seconds (not steady)", ends, rec


def _max_temp_points(thermal, t0_ns, t1_ns):
    """[(t_ns, max zone degC)] of a ThermalSampler's readings with t0_ns <= t <= t1_ns."""
    out = []
    for t, v in zip(list(thermal.sampler.t_ns), list(thermal.sampler.values)):
        temps = [x for x in v[0] if x is not None]
        if temps and t0_ns <= t <= t1_ns:
            out.append((t, max(temps) / 1000.0))
    return out


def sustained_thermal(power, sysfs_root):
    """(ThermalSampler or None, owned, info) for the sustained loop's thermal criterion.

    The power job's sampler when the job has power, else an own one on `sysfs_root` (started
    here; the caller stops it). None, with info["reason"], when no thermal zone can be read."""
    owned = power is None
    ts = power.thermal if power is not None else ThermalSampler(sysfs_root)
    where = _sys(ts.info["sysfs_root"], "sys/class/thermal")
    info = {"source": "agent thermal sampler (no power job)" if owned else "the power job's thermal sampler",
            "sysfs_root": ts.info["sysfs_root"], "zones": [z for z, _ in ts.zones], "reason": None}
    if not ts.zones:
        info["reason"] = "no thermal zone under %s" % where
    else:
        errors = []
        for _, path in ts.zones:
            try:
                _read_num(path)
                break
            except (OSError, ValueError) as e:
                errors.append("%s: %s" % (path, e))
        else:
            info["reason"] = "no readable thermal zone under %s (%s)" % (where, errors[0])
    if info["reason"] is not None:
        return None, False, info
    if owned:
        ts.start()
        deadline = time.monotonic() + 2 * THERMAL_INTERVAL_S
        while not ts.sampler.t_ns and time.monotonic() < deadline:  # the first reading, before t0
            time.sleep(0.01)
    return ts, owned, info


def run_sustained(fn, arg, feeds, timing, sus, interval, power, sysfs_root):
    """sustained_loop with its thermal source; returns (latencies_ns, wall_s, stop, extra fields)."""
    ts, owned, info = sustained_thermal(power, sysfs_root)
    t0 = time.monotonic_ns()
    try:
        lat, wall, stop, ends, rec = sustained_loop(fn, arg, feeds, timing, sus, interval, ts)
    finally:
        if owned:
            ts.sampler.stop()
    t1 = time.monotonic_ns()
    slope, why = None, info["reason"]
    if ts is None:
        criterion = "latency-drift (%s)" % info["reason"]
        rec["temp_c"] = rec["slope_c_per_min"] = None
    else:
        criterion = "thermal+latency"
        slope = rec["slope_c_per_min"][-1]
        if slope is None:
            n = len(_max_temp_points(ts, t1 - int(sus["slope_window_s"] * 1e9), t1))
            why = ("the run (%.1f s) was shorter than the slope window (%g s)" % (wall, sus["slope_window_s"])
                   if wall < sus["slope_window_s"] else
                   "%d thermal reading(s) in the last %g s; a slope needs 3%s" % (
                       n, sus["slope_window_s"],
                       "" if ts.sampler.first_error is None else " (read error: %s)" % ts.sampler.first_error))
        pts = [(t, [x for x in v[0] if x is not None], v[2])
               for t, v in zip(list(ts.sampler.t_ns), list(ts.sampler.values)) if t0 <= t <= t1]
        info["t_ns"] = [t for t, _, _ in pts]  # board CLOCK_MONOTONIC, like the phase events
        info["max_temp_c"] = [max(temps) / 1000.0 if temps else None for _, temps, _ in pts]
        info["throttled"] = [thr for _, _, thr in pts] if ts.vcgencmd else None
    info.update(window_t_ns=rec["t_ns"], window_temp_c=rec["temp_c"],
                window_slope_c_per_min=rec["slope_c_per_min"])
    return lat, wall, stop, {"window_ends": ends, "sustained_stop": stop, "sustained_criterion": criterion,
                             "sustained_slope_c_per_min": slope, "sustained_slope_reason": why,
                             "sustained_thermal": info}

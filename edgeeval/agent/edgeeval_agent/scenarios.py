"""MLPerf-style scenarios (settings come resolved from the controller):
single-stream (default): one sample per query, the next when the last returns (timed_loop);
multi-stream: one query = samples_per_query samples issued together as one batch;
offline: every sample available at once, run in batches (a list of sizes is a sweep);
server: queries arrive as a Poisson process at target_qps (seeded); latency counts queueing."""

from .data import TIMED_FEED_SAMPLES, _fixed_batch, index_feeds
from .loops import _p, _run_warm, find_max_qps, server_loop, timed_loop
from .power.thermal import THERMAL_INTERVAL_S
from .protocol import JobError, _int, _need, _num
from .sustained import run_sustained

SCENARIOS = ("single-stream", "multi-stream", "offline", "server")


def check_scenario(job):
    """job["scenario"] validated (the controller sends every setting); absent means single-stream."""
    sc = job.get("scenario")
    if sc is None:
        sc = {"name": "single-stream"}
    if not isinstance(sc, dict) or sc.get("name") not in SCENARIOS:
        raise JobError("job.scenario.name is %r; use one of %s"
                       % (sc.get("name") if isinstance(sc, dict) else sc, ", ".join(SCENARIOS)))
    out = dict(sc)
    name = out["name"]
    if name == "multi-stream":
        out["samples_per_query"] = _int(_need(out, "samples_per_query", "scenario.samples_per_query"), "scenario.samples_per_query", 1)
    if name == "offline":
        sizes = _need(out, "batch_sizes", "scenario.batch_sizes")
        if not isinstance(sizes, list) or not sizes:
            raise JobError("scenario.batch_sizes must be a list of integers >= 1")
        out["batch_sizes"] = [_int(b, "scenario.batch_sizes[]", 1) for b in sizes]
    if name == "server":
        out["seed"] = _int(_need(out, "seed", "scenario.seed"), "scenario.seed", 0)
        out["find_max_qps"] = bool(_need(out, "find_max_qps", "scenario.find_max_qps"))
        out["search_steps"] = _int(_need(out, "search_steps", "scenario.search_steps"), "scenario.search_steps", 1, 64)
        if out.get("target_qps") is None and not out["find_max_qps"]:
            raise JobError("scenario.target_qps is required for the server scenario "
                           "(or set find_max_qps with latency_bound_ms)")
        if out.get("target_qps") is not None:
            out["target_qps"] = _num(out["target_qps"], "scenario.target_qps")
            if out["target_qps"] <= 0:
                raise JobError("scenario.target_qps must be > 0")
        if out.get("latency_bound_ms") is not None:
            out["latency_bound_ms"] = _num(out["latency_bound_ms"], "scenario.latency_bound_ms")
        elif out["find_max_qps"]:
            raise JobError("scenario.find_max_qps needs scenario.latency_bound_ms")
        out["trial_seconds"] = _num(_need(out, "trial_seconds", "scenario.trial_seconds"), "scenario.trial_seconds")
    sus = out.get("sustained")
    if sus:
        if name != "single-stream":
            raise JobError("scenario.sustained applies to single-stream only")
        if not isinstance(sus, dict):
            raise JobError("scenario.sustained must be an object")
        f = "scenario.sustained."
        out["sustained"] = {
            "window_s": _num(_need(sus, "window_s", f + "window_s"), f + "window_s"),
            "windows": _int(_need(sus, "windows", f + "windows"), f + "windows", 2),
            "tolerance": _num(_need(sus, "tolerance", f + "tolerance"), f + "tolerance"),
            "max_seconds": _num(_need(sus, "max_seconds", f + "max_seconds"), f + "max_seconds")}
        slope = _num(_need(sus, "slope_c_per_min", f + "slope_c_per_min"), f + "slope_c_per_min")
        if slope <= 0:
            raise JobError("scenario.sustained.slope_c_per_min is %r; it must be a number > 0 (degC/min)" % slope)
        window = _num(_need(sus, "slope_window_s", f + "slope_window_s"), f + "slope_window_s")
        if window < 3 * THERMAL_INTERVAL_S:
            raise JobError("scenario.sustained.slope_window_s is %r; it must be >= %g s (the thermal "
                           "sampler reads every %g s and a slope needs 3 readings)"
                           % (window, 3 * THERMAL_INTERVAL_S, THERMAL_INTERVAL_S))
        out["sustained"].update(slope_c_per_min=slope, slope_window_s=window)
    return out


class Bench(object):
    """What every timed loop of one job shares: the bound runtime call (one inference is
    fn(arg, feed)), the eval set as loaded, the job's timing and progress interval, and where the
    sustained loop reads temperatures (the power job's sampler, else the sysfs root)."""

    def __init__(self, fn, arg, arrays, samples, declared, timing, interval_s, power=None, sysfs_root="/"):
        self.fn, self.arg = fn, arg
        self.arrays, self.samples, self.declared = arrays, samples, declared
        self.timing, self.interval_s = timing, interval_s
        self.power, self.sysfs_root = power, sysfs_root


def scenario_feeds(sc, bench, default_feeds):
    """The feeds the scenario's queries use (warm-up runs on the same ones)."""
    arrays, samples = bench.arrays, bench.samples
    fixed = _fixed_batch(bench.declared)
    if sc["name"] == "multi-stream":
        n = sc["samples_per_query"]
        return index_feeds(arrays, samples, n, max(1, TIMED_FEED_SAMPLES // n), fixed)
    if sc["name"] == "offline":
        b = sc["batch_sizes"][0]
        return index_feeds(arrays, samples, b, max(1, TIMED_FEED_SAMPLES // b), fixed)
    return default_feeds


def run_scenario(sc, bench, feeds, warm_ns):
    """Timed phase of the scenario; returns (latencies_ns, wall_s, stop, extra result fields)."""
    fn, arg, timing, interval = bench.fn, bench.arg, bench.timing, bench.interval_s
    arrays, samples, declared = bench.arrays, bench.samples, bench.declared
    power, sysfs_root = bench.power, bench.sysfs_root
    name = sc["name"]
    extra = {"scenario": sc}
    if name == "single-stream" and sc.get("sustained"):
        lat, wall, stop, sus_extra = run_sustained(fn, arg, feeds, timing, sc["sustained"], interval,
                                                   power, sysfs_root)
        extra.update(sus_extra)
        sc["window_s"] = sc["sustained"]["window_s"]
        return lat, wall, stop, extra
    if name in ("single-stream", "multi-stream"):
        lat, wall, stop = timed_loop(fn, arg, feeds, timing, interval)
        return lat, wall, stop, extra
    if name == "offline":
        sweep = []
        fixed = _fixed_batch(declared)
        min_samples = int(sc.get("min_samples") or 0)
        for j, b in enumerate(sc["batch_sizes"]):
            fb = feeds if j == 0 else index_feeds(arrays, samples, b,
                                                  max(1, TIMED_FEED_SAMPLES // b), fixed)
            if j:
                _run_warm(fn, arg, fb, max(1, min(10, timing["warmup"])))
            t = dict(timing)
            t["min_runs"] = max(timing["min_runs"] if j == 0 and not min_samples else 1,
                                -(-min_samples // b))
            lat, wall, stop = timed_loop(fn, arg, fb, t, interval)
            sweep.append({"batch_size": b, "latencies_ns": lat, "wall_s": wall, "stop": stop,
                          "samples": len(lat) * b})
        extra["offline"] = sweep
        first = sweep[0]
        extra["batch_size"] = first["batch_size"]
        return first["latencies_ns"], first["wall_s"], first["stop"], extra
    # server
    srv = {}
    qps = sc.get("target_qps")
    if sc["find_max_qps"]:
        best, why, trials = find_max_qps(fn, arg, feeds, sc, warm_ns, interval)
        srv.update(trials=trials, max_qps=best, max_qps_reason=why)
        if best is not None:
            qps = best
        elif qps is None:
            qps = trials[-1]["qps"]
    lat, svc, wall, stop, scheduled_s = server_loop(fn, arg, feeds, timing, qps, sc["seed"], interval)
    srv.update(target_qps=qps, scheduled_s=scheduled_s,
               achieved_qps=(len(lat) - 1) / scheduled_s if scheduled_s > 0 and len(lat) > 1 else None,
               service_p50_ms=_p(svc, 0.5) / 1e6)
    extra["server"] = srv
    return lat, wall, stop, extra

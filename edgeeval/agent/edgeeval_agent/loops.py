"""The timed loops. Each keeps the timed region to the runtime call and the timer; scheduling,
sleeping and bookkeeping happen outside it."""

import time

from .data import batch_feed, dense_output
from .protocol import _import, emit

np = _import("numpy")


def timed_loop(fn, arg, feeds, timing, interval_s):
    """Timed runs cycling through `feeds`; returns (latencies_ns, wall_s, stop_reason)."""
    perf = time.perf_counter_ns
    lat = []
    append = lat.append
    nfeeds = len(feeds)
    min_runs, max_runs = timing["min_runs"], timing["max_runs"]
    interval = int(interval_s * 1e9)
    start = perf()
    min_end = start + int(timing["min_seconds"] * 1e9)
    max_end = start + int(timing["max_seconds"] * 1e9)
    next_progress = start + interval
    k = 0
    i = 0
    while True:
        feed = feeds[i]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841 - frees the outputs outside the timed region
        append(t1 - t0)
        k += 1
        i += 1
        if i == nfeeds:
            i = 0
        if t1 >= next_progress:
            emit("progress", phase="timed", done=k, total=None, elapsed_s=(t1 - start) / 1e9)
            next_progress = t1 + interval
        if k >= max_runs:
            reason = "max_runs"
            break
        if t1 >= max_end:
            reason = "max_seconds"
            break
        if k >= min_runs and t1 >= min_end:
            reason = "min_reached"
            break
    return lat, (perf() - start) / 1e9, reason


def accuracy_pass(fn, arg, names, arrays, samples, batch_size, pad, interval_s):
    """Every sample, in order; returns {output name: concatenated array}."""
    parts = dict((n, []) for n in names)
    start = time.perf_counter()
    next_progress = start + interval_s
    for s in range(0, samples, batch_size):
        n = min(batch_size, samples - s)
        outs = fn(arg, batch_feed(arrays, s, batch_size, pad))
        for name, o in zip(names, outs):
            o = dense_output(o, name)
            parts[name].append(o[:n] if (pad and n < batch_size and o.ndim) else o)
        now = time.perf_counter()
        if now >= next_progress:
            emit("progress", phase="accuracy", done=s + n, total=samples, elapsed_s=now - start)
            next_progress = now + interval_s
    out = {}
    for name, chunks in parts.items():
        out[name] = np.concatenate(chunks) if chunks[0].ndim else np.stack(chunks)
    return out


def _run_warm(fn, arg, feeds, count):
    for w in range(count):
        out = fn(arg, feeds[w % len(feeds)])
        out = None  # noqa: F841


def server_loop(fn, arg, feeds, timing, qps, seed, interval_s):
    """Poisson arrivals at `qps` (seeded); returns (latency_ns, service_ns, wall_s, stop, scheduled_s).

    Latency is completion minus the query's scheduled arrival, so it includes queueing when
    the board falls behind. The wait for the next arrival happens before t0.
    """
    import random
    rng = random.Random(seed)
    perf = time.perf_counter_ns
    sleep = time.sleep
    lat, svc = [], []
    nfeeds = len(feeds)
    min_runs, max_runs = timing["min_runs"], timing["max_runs"]
    interval = int(interval_s * 1e9)
    start = perf()
    min_end = start + int(timing["min_seconds"] * 1e9)
    max_end = start + int(timing["max_seconds"] * 1e9)
    next_progress = start + interval
    arrival = start
    k = i = 0
    while True:
        arrival += int(rng.expovariate(qps) * 1e9)
        now = perf()
        while now < arrival:
            if arrival - now > 2000000:
                sleep((arrival - now - 1000000) / 1e9)
            now = perf()
        feed = feeds[i]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841
        lat.append(t1 - arrival)
        svc.append(t1 - t0)
        k += 1
        i = (i + 1) % nfeeds
        if t1 >= next_progress:
            emit("progress", phase="timed", done=k, total=None, elapsed_s=(t1 - start) / 1e9)
            next_progress = t1 + interval
        if k >= max_runs:
            reason = "max_runs"
            break
        if arrival >= max_end or t1 >= max_end:  # wall time too: an overloaded board lags its schedule
            reason = "max_seconds"
            break
        if k >= min_runs and arrival >= min_end:
            reason = "min_reached"
            break
    return lat, svc, (perf() - start) / 1e9, reason, (arrival - start) / 1e9


def _p(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def find_max_qps(fn, arg, feeds, sc, warm_ns, interval_s):
    """Bisect the Poisson rate for the highest QPS whose p99 latency meets the bound.

    Upper end: 1 / median warm-up service time (the board busy all the time). Each trial runs
    trial_seconds with its own seed (seed + trial number), recorded.
    """
    bound_ns = sc["latency_bound_ms"] * 1e6
    med = _p(warm_ns, 0.5) if warm_ns else None
    if not med:
        return None, "no warm-up runs to size the search; set warmup >= 1", []
    hi, lo = 1e9 / med, 0.0
    trials = []
    timing = {"min_runs": 50, "max_runs": 10000000, "min_seconds": sc["trial_seconds"],
              "max_seconds": max(sc["trial_seconds"] * 4, 1.0)}
    best = None
    for step in range(sc["search_steps"]):
        qps = hi if step == 0 else (lo + hi) / 2.0
        lat, _, _, _, _ = server_loop(fn, arg, feeds, timing, qps, sc["seed"] + 1 + step, interval_s)
        p99 = _p(lat, 0.99)
        met = p99 <= bound_ns
        trials.append({"qps": qps, "p99_ms": p99 / 1e6, "n": len(lat), "met": met,
                       "seed": sc["seed"] + 1 + step})
        if met:
            best = qps if best is None or qps > best else best
            lo = qps
            if step == 0:
                break
        else:
            hi = qps
    if best is None:
        return None, ("no tried rate met p99 <= %g ms (lowest tried %.3g QPS); the bound is below "
                      "what this board reaches" % (sc["latency_bound_ms"], trials[-1]["qps"])), trials
    return best, None, trials

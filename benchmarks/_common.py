"""Helpers shared by the benchmarks: the closing JSON line and the percentile rule."""

from __future__ import annotations

import json
import math
import os


def emit(metric: str, value: float, target: str, **detail) -> None:
    """Print the benchmark's last line: one JSON object with metric, value, target and details."""
    print(json.dumps({"metric": metric, "value": value, "target": target, **detail}, default=str))


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def pctl(sorted_xs, p):
    """LoadGen's rule: sorted[floor(n*p)] (no interpolation)."""
    return sorted_xs[min(len(sorted_xs) - 1, int(math.floor(len(sorted_xs) * p)))]


def pin_to_last_cpu() -> None:
    """Run this process on the last CPU (a preexec_fn for measured children): no migration, and
    every harness compared shares the same core while the others keep the parent's work."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def paired_bootstrap_ci(e, g, reps: int = 4000, seed: int = 0, confidence: float = 0.95) -> list:
    """95% interval of mean(e)/mean(g) by the paired bootstrap over rounds (scipy.stats.bootstrap,
    BCa): a round's two figures are resampled together, so what a round shares (the machine's
    state at that moment) cancels in the ratio."""
    import numpy as np
    from scipy.stats import bootstrap

    e, g = np.asarray(e, dtype=float), np.asarray(g, dtype=float)
    res = bootstrap((e, g), lambda a, b, axis: a.mean(axis=axis) / b.mean(axis=axis), paired=True,
                    vectorized=True, n_resamples=reps, confidence_level=confidence, method="BCa",
                    random_state=np.random.default_rng(seed))
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def rotated(kinds: list[str], r: int) -> list[str]:
    """The kinds' order in round r: rotated by one each round, reversed every other cycle, so no
    kind always runs first, last or after the same neighbour."""
    n = len(kinds)
    order = kinds[r % n:] + kinds[:r % n]
    return order[::-1] if (r // n) % 2 else order


def interleaved(kinds: list[str], rounds: int, measure, log=None) -> list[dict]:
    """Run measure(kind) for every kind in each of `rounds` rounds, order rotated; returns rows
    {"round", "order", kind: figure}. Each measure call should start a fresh process pinned to
    one CPU (pin_to_last_cpu) so kinds share a core and never a warmed-up interpreter."""
    rows = []
    for r in range(rounds):
        order = rotated(list(kinds), r)
        row = {"round": r, "order": "/".join(order)}
        for kind in order:
            row[kind] = measure(kind)
        rows.append(row)
        if log is not None:
            log(row)
    return rows


def ratio_of_means(rows: list[dict], a: str, b: str, key=None) -> dict:
    """mean(a)/mean(b) over the rounds with its paired-bootstrap 95% interval, and the median of
    the per-round ratios (a check on the mean)."""
    import numpy as np

    get = key or (lambda v: v)
    va = np.array([get(r[a]) for r in rows], dtype=float)
    vb = np.array([get(r[b]) for r in rows], dtype=float)
    return {"ratio": float(va.mean() / vb.mean()), "ci95": paired_bootstrap_ci(va, vb),
            "median_round_ratio": median((va / vb).tolist()), "rounds": len(rows)}


# Memory-layout randomisation (docs/decisions.md, "Harness comparisons are decomposed"): a process's
# fixed heap layout moved a memory-bound model's latency by ~5%, the same way in every run, so two
# harnesses can differ by layout luck alone. With shuffling on, every measured process (the agent
# included, through a wrapper that runs the unchanged agent file) first shifts its heap by a
# random amount, and the comparison averages over layouts.
SHUFFLE_ENV = "EDGEEVAL_BENCH_SHUFFLE"

_AGENT_WRAPPER = """
import random, runpy, sys
rnd = random.Random()
_pad = (bytearray(rnd.randrange(0, 1 << 20)), [object() for _ in range(rnd.randrange(0, 20000))])
path = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(path, run_name="__main__")
"""


def shift_heap():
    """Keep the returned object alive for the measurement: a random-size buffer, a random number
    of small objects and a random numpy block, so later allocations land at other offsets."""
    import random

    import numpy as np

    rnd = random.Random()
    return (bytearray(rnd.randrange(0, 1 << 20)), [object() for _ in range(rnd.randrange(0, 20000))],
            np.empty(rnd.randrange(1, 1 << 18), dtype=np.uint8))


def agent_argv(python: str, agent_path, shuffle: bool) -> list[str]:
    """The command that runs the agent file (`run`), directly or with its heap shifted first."""
    if shuffle:
        return [python, "-c", _AGENT_WRAPPER, str(agent_path), "run"]
    return [python, str(agent_path), "run"]

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


def paired_bootstrap_ci(e, g, reps: int = 4000, seed: int = 0) -> list:
    """95% percentile-bootstrap interval of mean(e)/mean(g), resampling rounds (pairs kept)."""
    import numpy as np

    e, g = np.asarray(e, dtype=float), np.asarray(g, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(e), (reps, len(e)))
    ratios = np.sort(e[idx].mean(axis=1) / g[idx].mean(axis=1))
    return [float(ratios[int(0.025 * reps)]), float(ratios[int(0.975 * reps) - 1])]


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

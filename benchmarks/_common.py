"""Helpers shared by the benchmarks: the closing JSON line and the percentile rule."""

from __future__ import annotations

import json
import math


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

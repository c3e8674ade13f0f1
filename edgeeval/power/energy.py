"""Energy from samples: de-duplication, counter wraparound, trapezoidal integration."""

from __future__ import annotations

import numpy as np


def counter_delta(e1: int, e2: int, max_range: int) -> int:
    """e2 - e1 for a cumulative counter that wraps to 0 at `max_range` (RAPL energy_uj)."""
    e1, e2, max_range = int(e1), int(e2), int(max_range)
    return e2 - e1 if e2 >= e1 else e2 + max_range - e1


def unwrap(values, max_range: int) -> np.ndarray:
    """A wrapping counter made monotonic (int64; one wrap at most between two reads)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return v
    steps = np.diff(v)
    steps = np.where(steps < 0, steps + int(max_range), steps)
    return np.concatenate([[0], np.cumsum(steps)]) + v[0]


def dedupe(t_ns, values, seq=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep the first read of each sensor update; repeats (polling faster than the sensor
    converts) are dropped, never counted. An update is a new `seq` when the sensor gives one,
    else a change of any rail value. Returns (t_ns, values, repeats dropped)."""
    t = np.asarray(t_ns, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if t.size == 0:
        return t, v.reshape(0, v.shape[1] if v.ndim == 2 else 0), 0
    if seq is not None and any(s is not None for s in seq):
        key = np.asarray([-1 if s is None else s for s in seq], dtype=np.int64)
        new = np.concatenate([[True], key[1:] != key[:-1]])
    else:
        same = np.all((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])), axis=1)
        new = np.concatenate([[True], ~same])
    return t[new], v[new], int(t.size - new.sum())


def hold_points(t_ns, values, seq=None) -> tuple[np.ndarray, np.ndarray]:
    """Points for integration: the first AND the last read of each update. The last read is
    not a new sample, but it shows the value still held then, so a value that stays put for
    a while is integrated as held, not ramped towards the next update."""
    t = np.asarray(t_ns, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if t.size < 2:
        return t, v
    if seq is not None and any(s is not None for s in seq):
        key = np.asarray([-1 if s is None else s for s in seq], dtype=np.int64)
        change = key[1:] != key[:-1]
    else:
        change = ~np.all((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])), axis=1)
    first = np.concatenate([[True], change])
    last = np.concatenate([change, [True]])
    keep = first | last
    return t[keep], v[keep]


def integrate(t_s: np.ndarray, p_w: np.ndarray, t0: float, t1: float) -> float:
    """∫ P dt over [t0, t1] (J) by the trapezoid rule on the samples, the edges linearly
    interpolated (held flat beyond the first/last sample)."""
    inside = (t_s > t0) & (t_s < t1)
    ts = np.concatenate([[t0], t_s[inside], [t1]])
    ps = np.concatenate([[np.interp(t0, t_s, p_w)], p_w[inside], [np.interp(t1, t_s, p_w)]])
    return float(np.sum((ps[1:] + ps[:-1]) * np.diff(ts)) / 2.0)


def counter_energy(t_s: np.ndarray, e_j: np.ndarray, t0: float, t1: float) -> float:
    """E(t1) - E(t0) of a monotonic cumulative counter (J), linearly interpolated at the edges."""
    return float(np.interp(t1, t_s, e_j) - np.interp(t0, t_s, e_j))

"""The raw data of a result: which parts of the agent's result event leave its JSON and are stored
as arrays (latency lists, power samples, the thermal series), and the way back. Every summary is
recomputed from these (evaluate/summary.py `recompute`), so the split is lossless."""

from __future__ import annotations

import math

import numpy as np

RAW_EVENT_KEYS = ("latencies_ns", "warmup_ns")  # kept as blobs, not in the event JSON
POWER_BLOB, THERMAL_BLOB = "power_samples", "thermal"


def split_event(result_event: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """(event without the raw lists, {kind: array or dict of arrays}) — what the store keeps."""
    scalars = {k: v for k, v in result_event.items() if k not in RAW_EVENT_KEYS}
    raw = {k: np.asarray([] if result_event.get(k) is None else result_event[k], dtype="<i8")
           for k in RAW_EVENT_KEYS}
    if "power" in scalars or "thermal" in scalars:  # samples -> blobs "power_samples", "thermal"
        scalars, power_raw = split_power(scalars)
        raw.update(power_raw)
    return scalars, raw


def join_event(event: dict, raw: dict) -> dict:
    """The inverse of split_event: the event as the agent sent it."""
    event = dict(event)
    for k in RAW_EVENT_KEYS:
        if k in raw:
            event[k] = raw[k]
    if "power" in event or "thermal" in event:
        event = join_power(event, raw)
    return event


def split_power(event: dict) -> tuple[dict, dict]:
    """(event without the sample series, {"power_samples": {...}, "thermal": {...}})."""
    raw: dict = {}
    ev = dict(event)
    p = ev.get("power")
    if isinstance(p, dict) and isinstance(p.get("samples"), dict):
        s = p["samples"]
        blob = {"t_ns": np.asarray(s["t_ns"], dtype="<i8"),
                "values": np.asarray(s["values"], dtype=np.int64 if p.get("kind") == "energy" else np.float64)}
        if s.get("seq") is not None:
            blob["seq"] = np.asarray([-1 if q is None else q for q in s["seq"]], dtype="<i8")
        raw[POWER_BLOB] = blob
        ev["power"] = {k: v for k, v in p.items() if k != "samples"}
    th = ev.get("thermal")
    if isinstance(th, dict) and th.get("t_ns") is not None:
        n = len(th["t_ns"])
        blob = {"t_ns": np.asarray(th["t_ns"], dtype="<i8"),
                "temp_mc": np.asarray([[np.nan if x is None else x for x in r] for r in th["temp_mc"]],
                                      dtype=np.float64).reshape(n, -1),
                "freq_khz": np.asarray([[np.nan if x is None else x for x in r] for r in th["freq_khz"]],
                                       dtype=np.float64).reshape(n, -1)}
        if th.get("throttled") is not None:
            blob["throttled"] = np.asarray([-1 if b is None else b for b in th["throttled"]], dtype="<i8")
        raw[THERMAL_BLOB] = blob
        ev["thermal"] = {k: v for k, v in th.items() if k not in ("t_ns", "temp_mc", "freq_khz", "throttled")}
        ev["thermal"]["has_throttled"] = th.get("throttled") is not None
    return ev, raw


def _nan_to_none(rows):
    return [[None if (isinstance(x, float) and math.isnan(x)) else x for x in r] for r in rows]


def join_power(event: dict, raw: dict) -> dict:
    """The inverse of split_power: the event as the agent sent it (for recompute)."""
    ev = dict(event)
    if isinstance(ev.get("power"), dict) and POWER_BLOB in raw:
        b = raw[POWER_BLOB]
        seq = b.get("seq")
        ev["power"] = dict(ev["power"], samples={
            "t_ns": np.asarray(b["t_ns"]).tolist(), "values": np.asarray(b["values"]).tolist(),
            "seq": None if seq is None else [None if q < 0 else int(q) for q in np.asarray(seq)]})
    if isinstance(ev.get("thermal"), dict) and THERMAL_BLOB in raw:
        b = raw[THERMAL_BLOB]
        th = {k: v for k, v in ev["thermal"].items() if k != "has_throttled"}
        th.update(t_ns=np.asarray(b["t_ns"]).tolist(), temp_mc=_nan_to_none(np.asarray(b["temp_mc"]).tolist()),
                  freq_khz=_nan_to_none(np.asarray(b["freq_khz"]).tolist()),
                  throttled=None if "throttled" not in b else
                  [None if x < 0 else int(x) for x in np.asarray(b["throttled"])])
        ev["thermal"] = th
    return ev

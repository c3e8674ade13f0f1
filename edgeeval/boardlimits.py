"""What a board may send back for a job: the bounds the controller enforces, and the result check.

A board is untrusted input (a broken agent, a wrapper around python, a hostile machine). The
controller never lets it decide how long, how much or what kind of data it accepts:

    deadline      the job's own limits (warmup bound, max_seconds per timed run, sustained and
                  power phases) doubled, plus a margin for load, the accuracy pass and the fetch
    line length   1 MiB for any event, a bound from the job's max_runs for the one result line
    events        at most EVENTS_BASE + EVENTS_PER_S x deadline (progress comes every 0.25 s)
    text          an error's message 4 KiB and traceback 64 KiB (then scrubbed like all text)
    numbers       every figure the summary reads has its type and a physical range; a value the
                  job cannot produce (a negative or NaN latency, 10**30 ns, an RSS of an exabyte)
                  is a device fault naming the field; a merely suspicious one (a timed wall time
                  shorter than the latencies it contains) is flagged on the result

A violation is BoardProtocolError: exit 3, the run finished as device_error, nothing already
measured lost.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import BoardProtocolError

DEADLINE_MARGIN_S = 600.0
FIND_MAX_QPS_RUNS = 24            # the agent's QPS search runs at most this many server runs
EVENTS_BASE, EVENTS_PER_S = 2_000, 20    # progress comes 4 times a second: 5x headroom
EVENT_LINE_BYTES = 1 << 20
RESULT_LINE_PREFIX = '{"event":"result"'   # how the agent writes its result line (json.dumps, event first)
RESULT_BYTES_PER_RUN = 80         # latencies and per-query arrays as JSON integers, generously
MAX_RESULT_LINE_BYTES = 1 << 30
MESSAGE_CHARS, TRACEBACK_CHARS = 4096, 65536
MAX_RSS_KB = 1 << 34              # 16 TiB: no board has more memory

def _f(x: Any, default: float) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) and v >= 0 else default


def _default_max_runs() -> float:
    from .jobdefaults import TIMING

    return TIMING["max_runs"]


def deadline_s(job: dict, margin: float = DEADLINE_MARGIN_S) -> float:
    """Seconds the controller waits for a job, whatever the board prints (margin: the device's
    timeouts.job_margin)."""
    from .jobdefaults import POWER_PROFILES, TIMING, Sustained

    t = job.get("timing") or {}
    sc = job.get("scenario") or {}
    timed = _f(t.get("max_seconds"), TIMING["max_seconds"])
    if job.get("task") == "generate":  # pp, tg, the prompt set, the text pass: each bounded by phase_max_seconds
        g = job.get("generate") or {}
        phase = _f(g.get("phase_max_seconds"), timed)
        timed = 4 * phase + 2 * _f(g.get("max_seconds"), phase)
    if sc.get("name") == "offline":
        runs = max(1, len(sc.get("batch_sizes") or [1]))
    elif sc.get("find_max_qps"):
        runs = FIND_MAX_QPS_RUNS
    else:
        runs = 1
    total = _f(t.get("warmup_max_seconds"), TIMING["warmup_max_seconds"]) + timed * runs
    if isinstance(sc.get("sustained"), dict):
        total += _f(sc["sustained"].get("max_seconds"), Sustained.model_fields["max_seconds"].default)
    power = job.get("power")
    if isinstance(power, dict):
        d = POWER_PROFILES.get(power.get("profile"), POWER_PROFILES["default"])
        windows = _f(power.get("windows"), d["windows"])
        total += (_f(power.get("idle_s"), d["idle_s"]) + _f(power.get("warmup_max_s"), d["warmup_max_s"])
                  + windows * max(_f(power.get("window_min_s"), d["window_min_s"]), 1.0) * 2)
    return 2.0 * total + margin


def max_result_line_bytes(job: dict, deadline: float) -> int:
    """The bound of the one line starting RESULT_LINE_PREFIX (`deadline`: deadline_s(job, margin))."""
    from .jobdefaults import POWER_PROFILES, TIMING

    t = job.get("timing") or {}
    runs = _f(t.get("max_runs"), TIMING["max_runs"]) + _f(t.get("warmup"), TIMING["warmup"])
    sc = job.get("scenario") or {}
    mult = max(1, len(sc.get("batch_sizes") or [1])) if sc.get("name") == "offline" else 1
    power_samples = deadline / max(_f((job.get("power") or {}).get("sample_interval_s"),
                                      POWER_PROFILES["default"]["sample_interval_s"]), 1e-3)
    return int(min(MAX_RESULT_LINE_BYTES, EVENT_LINE_BYTES + RESULT_BYTES_PER_RUN * runs * mult
                   + (64 * power_samples if job.get("power") else 0)))


def max_events(deadline: float) -> int:
    return int(EVENTS_BASE + EVENTS_PER_S * deadline)


def cut(text: Any, limit: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit] + f" [... {len(s) - limit:,} more characters]"


def reject_constant(name: str):
    """json.loads(parse_constant=...): NaN and Infinity are not JSON; a board sending them is broken."""
    raise ValueError(f"non-finite number {name} in a protocol line")


# ---- the result event -----------------------------------------------------------------------------

def _bad(device: str | None, field: str, what: str) -> BoardProtocolError:
    return BoardProtocolError(f"the board's result has an impossible {field}: {what}; nothing of this "
                              "variant was stored", device=device,
                              hint="the agent's output was altered or the board is faulty; rerun, and if it "
                                   "repeats, check the board (edgeeval devices check NAME)")


def _number(ev: dict, key: str, device, lo: float, hi: float, *, integer: bool = False, required: bool = False):
    if key not in ev or ev[key] is None:
        if required:
            raise _bad(device, key, "missing")
        return
    v = ev[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise _bad(device, key, f"{type(v).__name__} {cut(v, 60)!r} where a number belongs")
    if isinstance(v, float) and not math.isfinite(v):
        raise _bad(device, key, str(v))
    if not lo <= v <= hi:
        raise _bad(device, key, f"{cut(v, 60)} outside [{lo:g}, {hi:g}]")


def _ns_list(ev: dict, key: str, device, hi_ns: int, *, required: bool) -> list | None:
    v = ev.get(key)
    if v is None:
        if required:
            raise _bad(device, key, "missing")
        return None
    if not isinstance(v, list):
        raise _bad(device, key, f"{type(v).__name__} where a list of nanoseconds belongs")
    if required and not v:
        raise _bad(device, key, "empty: no timed run")
    for i, x in enumerate(v):
        if isinstance(x, bool) or not isinstance(x, int) or not 0 < x <= hi_ns:
            raise _bad(device, f"{key}[{i}]", f"{cut(x, 60)!r} (a latency is an integer of nanoseconds in "
                                              f"(0, {hi_ns:,}])")
    return v


def check_result(ev: dict, job: dict, device: str | None, limit_s: float) -> dict:
    """Raise BoardProtocolError for values the job cannot produce (`limit_s`: the job's deadline);
    return the event with a `suspicious` list (possibly empty) for values possible but doubtful."""
    hi_ns = int(limit_s * 1e9)
    lat = _ns_list(ev, "latencies_ns", device, hi_ns, required=True)
    _ns_list(ev, "warmup_ns", device, hi_ns, required=False)
    t = job.get("timing") or {}
    sc = job.get("scenario") or {}
    max_runs = int(_f(t.get("max_runs"), _default_max_runs())) * (max(1, len(sc.get("batch_sizes") or [1]))
                                                   if sc.get("name") == "offline" else 1)
    if len(lat) > max_runs and not sc.get("find_max_qps"):
        raise _bad(device, "latencies_ns", f"{len(lat):,} timed runs, more than the job's max_runs {max_runs:,}")
    _number(ev, "load_ms", device, 0.0, limit_s * 1e3)
    _number(ev, "first_inference_ms", device, 0.0, limit_s * 1e3)
    _number(ev, "timed_wall_s", device, 0.0, limit_s)
    _number(ev, "peak_rss_kb", device, 0, MAX_RSS_KB, integer=True)
    for key in ("runtime", "accuracy", "noise", "scenario", "power", "thermal"):
        if key in ev and ev[key] is not None and not isinstance(ev[key], dict):
            raise _bad(device, key, f"{type(ev[key]).__name__} where an object belongs")
    if job.get("task") == "generate":
        _check_generate(ev, device, hi_ns)
    acc = ev.get("accuracy") or {}
    if acc.get("outputs_sha256") is not None and not (isinstance(acc["outputs_sha256"], str)
                                                      and len(acc["outputs_sha256"]) == 64):
        raise _bad(device, "accuracy.outputs_sha256", f"{cut(acc['outputs_sha256'], 80)!r}")
    suspicious = []
    wall = ev.get("timed_wall_s")
    if wall is not None and sc.get("name") in (None, "single-stream") and wall < 0.99 * sum(lat) / 1e9:
        suspicious.append(f"timed_wall_s {wall:g} s is shorter than the {sum(lat) / 1e9:g} s of latencies it "
                          "contains (single-stream runs one call at a time)")
    ev["suspicious"] = suspicious
    return ev


def _check_generate(ev: dict, device, hi_ns: int) -> None:
    """A generative result's timings: lists of nanoseconds, token counts, in range."""
    g = ev.get("generate")
    if not isinstance(g, dict):
        raise _bad(device, "generate", "missing or not an object")
    _number(g, "ttft_cold_ns", device, 1, hi_ns, integer=True, required=True)
    for key in ("prefill", "decode"):
        if not isinstance(g.get(key), list):
            raise _bad(device, f"generate.{key}", "not a list")
    for i, t in enumerate(g["prefill"]):
        if not isinstance(t, dict):
            raise _bad(device, f"generate.prefill[{i}]", "not an object")
        _ns_list(t, "ns", device, hi_ns, required=False)
        _number(t, "tokens", device, 1, 1 << 24, integer=True, required=True)
    for i, t in enumerate(g["decode"]):
        if not isinstance(t, dict) or not isinstance(t.get("step_ns"), list):
            raise _bad(device, f"generate.decode[{i}]", "not an object with step_ns")
        for j, rep in enumerate(t["step_ns"]):
            _ns_list({"s": rep}, "s", device, hi_ns, required=False)
    pr = g.get("prompts")
    if not isinstance(pr, dict):
        raise _bad(device, "generate.prompts", "missing or not an object")
    _ns_list(pr, "ttft_ns", device, hi_ns, required=True)
    toks = pr.get("tokens")
    if not isinstance(toks, list) or len(toks) != len(pr["ttft_ns"]) or any(
            isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in toks):
        raise _bad(device, "generate.prompts.tokens", "not one positive token count per prompt")
    if sum(toks) - len(toks) != len(ev.get("latencies_ns") or []):
        raise _bad(device, "latencies_ns", f"{len(ev.get('latencies_ns') or [])} decode steps for "
                                           f"{sum(toks)} tokens over {len(toks)} prompts")

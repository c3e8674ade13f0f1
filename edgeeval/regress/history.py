"""A metric's history per (recipe, variant, board) and its change points, by apache-otava.

The series is keyed by hardware: only runs on the same hardware as the newest one are in it (others
are listed, excluded). Runs measured in a noisy or throttled window are excluded too (listed with the
reason): they say nothing about the model. Software changes (runtime, agent, model, OS) are marked on
the point where they first appear, so a step can be tied to what changed. Change points come from
otava's E-divisive means with a Student t significance test (Hunter, Fleming et al. 2023), with a
minimum relative magnitude per metric and the direction that counts as a regression.

The nightly alarm (`alarm`): a regression change point that is confirmed — `CONFIRM` nights since it
began, every one of them beyond the whole range of the nights before it — and still recent: a step is
reported on its second night and again on its third. One slow night is never a regression, and nor
are two slow nights that the quiet past already matched: on the noisy reference machine the p90 of
separate runs is bimodal, and otava's t-test alone alarmed on ~1.3% of quiet nights. With the most
extreme earlier night left out (one outlier must not mask a month of steps), two quiet nights land
beyond the rest with probability 3/C(32, 2) = 0.6% whatever the distribution, and the alarm needs
otava's test as well (benchmarks/regression_detector.py). An unconfirmed change point is shown, marked, and alarms nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from ..errors import UserInputError
from ..store.schema import runs, variant_results
from . import identity
from .compare import window_flags
from .noise import run_values

BAD = {"p50_ms": "up", "p90_ms": "up", "p99_ms": "up", "throughput": "down", "energy_mj": "up", "top1": "down"}
UNITS = {"p50_ms": "ms", "p90_ms": "ms", "p99_ms": "ms", "throughput": "samples/s", "energy_mj": "mJ", "top1": "%"}
# otava settings, chosen by benchmarks/regression_detector.py (README "Regressions"): window of nights
# compared at once, the significance a change point needs, and the smallest relative change reported
WINDOW = 30
MAX_PVALUE = 0.001
MIN_MAGNITUDE = {"top1": 0.005, "energy_mj": 0.05}
DEFAULT_MIN_MAGNITUDE = 0.03
RECENT = 2
CONFIRM = 2
RANGE_TRIM = 1      # the most extreme night before a step is left out of its range (one outlier)
MIN_POINTS = 5
LIMIT = 365


def _otava():
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        raise UserInputError("change-point detection needs apache-otava: `pip install --no-deps apache-otava==0.8.0` "
                             "(--no-deps: its metadata pins numpy and scipy releases edgeeval does not need; only "
                             "otava.analysis is used, which needs numpy and scipy alone)") from None
    return compute_change_points


def metric_value(variant: dict, metric: str):
    """(value, its 95% interval or None) of `metric` in a stored variant; (None, None) when it has none."""
    if metric == "top1":
        acc = (variant.get("summary") or {}).get("accuracy") or {}
        v = acc.get("top1")
        return (None, None) if v is None else (100.0 * v, None)
    got = run_values(variant).get(metric)
    if got is None:
        return None, None
    s = variant.get("summary") or {}
    lat = s.get("latency") or {}
    key = {"p50_ms": "p50", "p90_ms": "p90", "p99_ms": "p99"}.get(metric)
    return got[0], (lat.get(f"{key}_ci") if key else None)


def _rows(store, recipe: str, device: str, variant: str | None, limit: int) -> list[dict]:
    q = (select(runs.c.id, runs.c.created_at, runs.c.status, runs.c.device_name, runs.c.device_facts,
                runs.c.agent_sha256, runs.c.dataset_sha256, runs.c.git_sha, runs.c.edgeeval_version, runs.c.settings,
                variant_results.c.id.label("variant_id"), variant_results.c.name, variant_results.c.status.label("vstatus"),
                variant_results.c.summary, variant_results.c.runtime, variant_results.c.model_sha256,
                variant_results.c.extra)
         .join(variant_results, variant_results.c.run_id == runs.c.id)
         .where(runs.c.recipe_name == recipe, runs.c.device_name == device)
         .order_by(runs.c.id.desc()).limit(limit * 20))
    if variant is not None:
        q = q.where(variant_results.c.name == variant)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    keep = sorted({r["id"] for r in rows}, reverse=True)[:limit]
    return sorted((r for r in rows if r["id"] in set(keep)), key=lambda r: (r["id"], r["variant_id"]))


def _check_metric(metric: str) -> None:
    if metric not in BAD:
        from ..suggest import did_you_mean

        raise UserInputError(f"--metric {metric!r}{did_you_mean(metric, BAD)} use one of {', '.join(BAD)}")


def series(store, recipe: str, device: str, variant: str | None = None, metric: str = "p90_ms",
           limit: int = LIMIT, rows: list[dict] | None = None) -> dict:
    """{variant: [point]} oldest first; a point is {run_id, created_at, value, ci, excluded, software_changes, ...}.
    `rows` are the series' stored rows when the caller read them already (one read for several metrics)."""
    _check_metric(metric)
    if rows is None:
        rows = _rows(store, recipe, device, variant, limit)
    if not rows:
        raise UserInputError(f"no stored run of recipe {recipe!r} on device {device!r}"
                             + (f" with variant {variant!r}" if variant else "") + "; `edgeeval results list` shows what is there")
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    out = {}
    for name, rs in by.items():
        newest_hw = identity.key_digest(identity.hardware_key(rs[-1]))
        pts, prev_sw = [], None
        for r in rs:
            v = {"summary": r["summary"], "runtime": r["runtime"], "model_sha256": r["model_sha256"], "extra": r["extra"]}
            value, ci = metric_value(v, metric)
            hw = identity.hardware_key(r)
            sw = identity.software_key(r, v)
            excluded = None
            if r["status"] in ("running", "aborted", "error") or r["vstatus"] == "error" or not r["summary"]:
                excluded = f"no result (run {r['status']}, variant {r['vstatus']})"
            elif identity.key_digest(hw) != newest_hw:
                excluded = f"other hardware ({identity.short(hw.get('cpu'))}, {hw.get('memory_gib')} GiB)"
            elif value is None:
                excluded = f"no {metric} in this run"
            else:
                excluded = (window_flags(r["summary"]) or [None])[0]
            p = {"run_id": r["id"], "variant_id": r["variant_id"], "created_at": str(r["created_at"]), "value": value,
                 "ci": ci, "excluded": excluded, "software_changes": [],
                 "campaign": ((r.get("settings") or {}).get("farm") or {}).get("campaign")}
            if excluded is None:
                if prev_sw is not None:
                    p["software_changes"] = identity.differences(prev_sw, sw)
                prev_sw = sw
            pts.append(p)
        out[name] = pts
    return out


def change_points(values: list[float], metric: str, *, window_len: int = WINDOW, max_pvalue: float = MAX_PVALUE,
                  min_magnitude: float | None = None) -> list[dict]:
    """otava's change points of `values`: [{index, before, after, change_pct, p_value, direction}]."""
    if len(values) < MIN_POINTS:
        return []
    compute = _otava()
    mm = MIN_MAGNITUDE.get(metric, DEFAULT_MIN_MAGNITUDE) if min_magnitude is None else min_magnitude
    vals = [float(v) for v in values]
    cps, _weak = compute(vals, window_len=window_len, max_pvalue=max_pvalue, min_magnitude=mm)
    out = []
    idx = [int(c.index) for c in cps]
    for k, c in enumerate(cps):
        up = c.stats.mean_2 > c.stats.mean_1
        worse = up if BAD[metric] == "up" else not up
        i = idx[k]
        before = vals[max(idx[k - 1] if k else 0, i - window_len): i]
        after = vals[i: idx[k + 1] if k + 1 < len(idx) else len(vals)]
        # every point since the step lies beyond the range of the points before it (on the step's
        # side, the most extreme one left out): under no change, m+j exchangeable nights put the
        # newest j there with probability C(j+1, j)/C(m+j, j) whatever their distribution
        ref = sorted(before)[: len(before) - RANGE_TRIM] if up else sorted(before)[RANGE_TRIM:]
        beyond = bool(ref) and (min(after) > max(ref) if up else max(after) < min(ref))
        out.append({"index": i, "before": float(c.stats.mean_1), "after": float(c.stats.mean_2),
                    "change_pct": float(c.stats.forward_change_percent()), "p_value": float(c.stats.pvalue),
                    "direction": "regression" if worse else "improvement", "nights_after": len(after),
                    "beyond_range": beyond, "confirmed": len(after) >= CONFIRM and beyond})
    return out


def history(store, recipe: str, device: str, *, variant: str | None = None, metric: str = "p90_ms",
            limit: int = LIMIT, rows: list[dict] | None = None) -> dict:
    """The document of `results history`: per variant its points and change points (tied to runs)."""
    _check_metric(metric)
    doc = {"recipe": recipe, "device": device, "metric": metric, "unit": UNITS[metric], "bad": BAD[metric],
           "detector": {"method": "apache-otava E-divisive means, Student t significance", "window": WINDOW,
                        "max_pvalue": MAX_PVALUE, "min_magnitude": MIN_MAGNITUDE.get(metric, DEFAULT_MIN_MAGNITUDE)},
           "variants": []}
    for name, pts in series(store, recipe, device, variant, metric, limit, rows).items():
        used = [p for p in pts if p["excluded"] is None]
        cps = change_points([p["value"] for p in used], metric)
        for c in cps:
            at = used[c["index"]]
            c.update(run_id=at["run_id"], created_at=at["created_at"],
                     software_changes=[d for p in used[max(0, c["index"] - 1): c["index"] + 1]
                                       for d in p["software_changes"]])
        doc["variants"].append({"variant": name, "points": pts, "used": len(used), "change_points": cps,
                                "alarm": alarm(cps, len(used)),
                                "note": None if len(used) >= MIN_POINTS else
                                f"{len(used)} usable points: change points need at least {MIN_POINTS}"})
    return doc


def alarm(cps: list[dict], n: int, recent: int = RECENT) -> dict | None:
    """The confirmed regression change point begun no more than `recent` nights before the newest
    one that can be confirmed, if any."""
    hits = [c for c in cps if c["direction"] == "regression" and c["confirmed"]
            and c["index"] >= n - CONFIRM - recent + 1]
    return hits[-1] if hits else None


def nightly_check(store, run_id: int, metrics: tuple[str, ...] | None = None) -> dict:
    """{variant_name: {"regressed": ["p90_ms +5.1% since run 118", ...], "details": [...]}} for a just
    finished run: does its series show a confirmed regression step (`alarm`) this run belongs to?

    Watched by default: p50, p90 and top-1, and throughput where it is measured in its own right (the
    offline scenario); in single-stream it is 1/mean latency, the least robust figure of the run, and
    the p50 and p90 series already carry a change of speed."""
    _otava()  # a missing detector is said, never taken for "no regression"
    run = store.get_run(run_id)
    if metrics is None:
        offline = ((run.get("settings") or {}).get("scenario") or {}).get("name") == "offline"
        metrics = ("p50_ms", "p90_ms", "top1") + (("throughput",) if offline else ())
    out: dict = {}
    rows = _rows(store, run["recipe_name"], run["device_name"], None, LIMIT)   # read once for every metric
    for metric in metrics:
        try:
            doc = history(store, run["recipe_name"], run["device_name"], metric=metric, rows=rows)
        except UserInputError:
            continue
        for v in doc["variants"]:
            a = v["alarm"]
            used_ids = [p["run_id"] for p in v["points"] if p["excluded"] is None]
            if a is None or run_id not in used_ids[-RECENT:]:
                continue
            r = out.setdefault(v["variant"], {"regressed": [], "details": []})
            r["regressed"].append(f"{metric} {a['change_pct']:+.1f}% since run {a['run_id']}")
            why = (" (software changed there: " + identity.describe(a["software_changes"]) + ")"
                   if a["software_changes"] else "")
            r["details"].append(f"{metric}: change point at run {a['run_id']} ({a['created_at'][:10]}): "
                                f"{a['before']:.4g} → {a['after']:.4g} {UNITS[metric]}, p = {a['p_value']:.2g}{why}")
    return out

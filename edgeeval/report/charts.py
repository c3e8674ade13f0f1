"""The report's plots as Vega-Lite specifications (JSON data, rendered in the page by vega-embed).

Every spec carries its own data inline (no URL, no network), a tooltip on every mark, and is
sized for a page column. The figures are the report rows' (rows.py): nothing is computed here
but the layout, the CDF points and the Pareto front.
"""

from __future__ import annotations

import numpy as np

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"   # an identifier vega-embed reads; never fetched
WIDTH = 640
CDF_POINTS = 120


def _base(title: str, height: int = 320) -> dict:
    return {"$schema": SCHEMA, "title": title, "width": WIDTH, "height": height,
            "config": {"view": {"stroke": None}, "axis": {"grid": True, "gridOpacity": 0.35}}}


def series_label(r: dict) -> str:
    return f"{r['device']} · {r['variant']}"


def cdf_points(lat_ms: np.ndarray, n: int = CDF_POINTS) -> list[tuple[float, float]]:
    """The empirical CDF at n quantiles, denser in the tail (where percentiles are read)."""
    x = np.sort(np.asarray(lat_ms, np.float64))
    if x.size == 0:
        return []
    u = np.unique(np.concatenate([np.linspace(0, 0.9, n // 2), 1 - np.geomspace(0.1, 1.0 / max(x.size, 10), n - n // 2)]))
    q = np.quantile(x, np.clip(u, 0, 1), method="inverted_cdf")
    return [(float(f"{a:.5g}"), round(float(b), 5)) for a, b in zip(q, u)]   # 5 digits: finer than any screen


def latency_cdf(rows: list[dict], curves: dict) -> dict | None:
    """CDF per (board, variant) from the raw latencies; the p90 with its 95% interval marked."""
    data, marks = [], []
    for r in rows:
        pts = curves.get((r["run_id"], r["variant"]))
        if not pts:
            continue
        s = series_label(r)
        data += [{"series": s, "latency_ms": a, "cdf": b} for a, b in pts if a > 0]
        if r.get("p90_ms") is not None:
            marks.append({"series": s, "p90_ms": r["p90_ms"], "lo": r.get("p90_ci_low_ms") or r["p90_ms"],
                          "hi": r.get("p90_ci_high_ms") or r["p90_ms"], "y": 0.9})
    if not data:
        return None
    spec = _base("Latency distribution (CDF); p90 with its 95% interval", 340)
    color = {"field": "series", "type": "nominal", "title": "board · variant"}
    spec["layer"] = [
        {"data": {"values": data}, "mark": {"type": "line", "interpolate": "step-after", "strokeWidth": 1.6},
         "encoding": {"x": {"field": "latency_ms", "type": "quantitative", "scale": {"type": "log"}, "title": "latency (ms, log)"},
                      "y": {"field": "cdf", "type": "quantitative", "title": "fraction of inferences ≤ x",
                            "scale": {"domain": [0, 1]}},
                      "color": color,
                      "tooltip": [{"field": "series"}, {"field": "latency_ms", "format": ".4g", "title": "ms"},
                                  {"field": "cdf", "format": ".3f", "title": "quantile"}]}},
        {"data": {"values": marks}, "mark": {"type": "rule", "strokeWidth": 4, "opacity": 0.7},
         "encoding": {"x": {"field": "lo", "type": "quantitative"}, "x2": {"field": "hi"},
                      "y": {"field": "y", "type": "quantitative"}, "color": color,
                      "tooltip": [{"field": "series"}, {"field": "p90_ms", "format": ".4g", "title": "p90 ms"},
                                  {"field": "lo", "format": ".4g", "title": "95% low"},
                                  {"field": "hi", "format": ".4g", "title": "95% high"}]}},
        {"data": {"values": marks}, "mark": {"type": "point", "filled": True, "size": 40},
         "encoding": {"x": {"field": "p90_ms", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"},
                      "color": color, "tooltip": [{"field": "series"}, {"field": "p90_ms", "format": ".4g"}]}},
    ]
    return spec


def _hbars(title: str, data: list[dict], field: str, xtitle: str, tooltip: list[dict]) -> dict | None:
    """A horizontal bar per series, largest first."""
    if not data:
        return None
    spec = _base(title, max(120, 20 * len(data)))
    spec.update({"data": {"values": data}, "mark": {"type": "bar"},
                 "encoding": {"y": {"field": "series", "type": "nominal", "sort": "-x", "title": None},
                              "x": {"field": field, "type": "quantitative", "title": xtitle},
                              "tooltip": [{"field": "series"}, *tooltip]}})
    return spec


def cold_start(rows: list[dict]) -> dict | None:
    data = [{"series": series_label(r), "cold_start_ms": r["cold_start_ms"]} for r in rows if r.get("cold_start_ms") is not None]
    return _hbars("Cold start: session creation + first inference", data, "cold_start_ms", "ms",
                  [{"field": "cold_start_ms", "format": ".4g", "title": "ms"}])


def pareto(points: list[dict], x: str, y: str) -> set[int]:
    """Indexes of the points no other point beats on both (lower x, higher y)."""
    front = set()
    for i, p in enumerate(points):
        if not any((q[x] <= p[x] and q[y] >= p[y]) and (q[x] < p[x] or q[y] > p[y]) for q in points):
            front.add(i)
    return front


def tradeoff(rows: list[dict]) -> dict | None:
    """Accuracy (top-1, else cosine) against p90, energy as the point size where measured; the Pareto front."""
    use = "top1_pct" if any(r.get("top1_pct") is not None for r in rows) else "cosine"
    pts = [r for r in rows if r.get(use) is not None and r.get("p90_ms")]
    if not pts:
        return None
    data = [{"series": series_label(r), "board": r["device"], "precision": r.get("precision") or r["variant"],
             "p90_ms": r["p90_ms"], "acc": r[use], "energy_mj": r.get("energy_mj")} for r in pts]
    for i in pareto(data, "p90_ms", "acc"):
        data[i]["pareto"] = True
    front = sorted((d for d in data if d.get("pareto")), key=lambda d: d["p90_ms"])
    title = "Accuracy vs latency" + (" (point size: energy per inference)" if any(d["energy_mj"] for d in data) else "")
    spec = _base(title + "; line: the Pareto front", 340)
    ytitle = "top-1 (%)" if use == "top1_pct" else "cosine vs server FP32"
    lo, hi = min(d["acc"] for d in data), max(d["acc"] for d in data)
    pad = max((hi - lo) * 0.08, 0.25 if use == "top1_pct" else 0.0005)   # equal accuracies: a band, not a line
    enc = {"x": {"field": "p90_ms", "type": "quantitative", "scale": {"type": "log"}, "title": "p90 latency (ms, log)"},
           "y": {"field": "acc", "type": "quantitative", "scale": {"domain": [lo - pad, hi + pad]}, "title": ytitle}}
    tip = [{"field": "series"}, {"field": "p90_ms", "format": ".4g", "title": "p90 ms"},
           {"field": "acc", "format": ".4g", "title": ytitle}, {"field": "energy_mj", "format": ".4g", "title": "mJ/inf"},
           {"field": "pareto", "title": "on the front"}]
    common = {"color": {"field": "board", "type": "nominal"}, "shape": {"field": "precision", "type": "nominal"}, "tooltip": tip}
    measured = [d for d in data if d["energy_mj"] is not None]
    unmeasured = [d for d in data if d["energy_mj"] is None]
    spec["layer"] = [{"data": {"values": front}, "mark": {"type": "line", "strokeDash": [4, 3], "color": "#555"},
                      "encoding": enc}]
    if measured:
        spec["layer"].append({"data": {"values": measured}, "mark": {"type": "point", "filled": True, "opacity": 0.85},
                              "encoding": {**enc, **common, "size": {"field": "energy_mj", "type": "quantitative",
                                                                     "title": "mJ/inference"}}})
    if unmeasured:   # no energy measured: a fixed hollow mark, never a size of zero
        spec["layer"].append({"data": {"values": unmeasured}, "mark": {"type": "point", "filled": False, "size": 70,
                                                                       "strokeWidth": 2},
                              "encoding": {**enc, **common}})
    return spec


def ranking(entries: list[dict], key: str, title: str, unit: str) -> dict | None:
    data = []
    for e in entries:
        ci = e.get(f"{key}_ci") or [None, None]
        data.append({"board": f"{e['device']} ({e['variant']})", "value": e[key], "lo": ci[0], "hi": ci[1],
                     "rank": f"{e[key + '_rank']}{'=' if e.get(key + '_tied') else ''}",
                     "basis": "÷ TDP (lower bound)" if key == "perf_w" and e.get("perf_w_basis") == "tdp" else "measured"})
    if not data:
        return None
    spec = _base(title, max(120, 22 * len(data)))
    order = [d["board"] for d in sorted(data, key=lambda d: -d["value"])]
    y = {"field": "board", "type": "nominal", "sort": order, "title": None}
    tip = [{"field": "board"}, {"field": "rank"}, {"field": "value", "format": ".4g", "title": unit},
           {"field": "lo", "format": ".4g", "title": "95% low"}, {"field": "hi", "format": ".4g", "title": "95% high"},
           {"field": "basis"}]
    spec["layer"] = [
        {"data": {"values": data}, "mark": {"type": "bar", "opacity": 0.8, "color": "#2e86c1"},
         "encoding": {"y": y, "x": {"field": "value", "type": "quantitative", "title": unit}, "tooltip": tip,
                      **({"color": {"field": "basis", "type": "nominal", "title": "basis",
                                    "scale": {"domain": ["measured", "÷ TDP (lower bound)"], "range": ["#2e86c1", "#aab7c4"]}}}
                         if key == "perf_w" else {})}},
        {"data": {"values": [d for d in data if d["lo"] is not None]}, "mark": {"type": "rule", "strokeWidth": 2},
         "encoding": {"y": y, "x": {"field": "lo", "type": "quantitative"}, "x2": {"field": "hi"}, "tooltip": tip}},
    ]
    return spec


def utilisation(rows: list[dict]) -> dict | None:
    data = [{"series": series_label(r), "pct": r["utilisation_pct"], "achieved": r.get("achieved_gops"),
             "peak": r.get("peak_gops")} for r in rows if r.get("utilisation_pct") is not None]
    return _hbars("Compute utilisation: achieved ÷ declared peak", data, "pct", "% of peak",
                  [{"field": "pct", "format": ".3g", "title": "%"}, {"field": "achieved", "format": ".4g", "title": "Gop/s"},
                   {"field": "peak", "format": ".4g", "title": "peak Gop/s"}])


def history(series: list[dict]) -> dict | None:
    """p90 per night per (board, variant) with the change points marked."""
    data, cps = [], []
    for s in series:
        data += [{"series": s["label"], "when": p["created_at"], "p90_ms": p["value"], "run": p["run_id"]}
                 for p in s["points"]]
        cps += [{"series": s["label"], "when": c["created_at"], "change": f"{c['change_pct']:+.1f}%",
                 "kind": c["direction"], "run": c["run_id"]} for c in s["change_points"]]
    if not data:
        return None
    spec = _base("Nightly p90 with change points (apache-otava)", 300)
    spec["resolve"] = {"scale": {"color": "independent"}}
    spec["layer"] = [
        {"data": {"values": data}, "mark": {"type": "line", "point": True},
         "encoding": {"x": {"field": "when", "type": "temporal", "title": None},
                      "y": {"field": "p90_ms", "type": "quantitative", "scale": {"zero": False}, "title": "p90 (ms)"},
                      "color": {"field": "series", "type": "nominal", "title": "board · variant"},
                      "tooltip": [{"field": "series"}, {"field": "when", "type": "temporal"},
                                  {"field": "p90_ms", "format": ".4g"}, {"field": "run"}]}},
        {"data": {"values": cps}, "mark": {"type": "rule", "strokeDash": [6, 3], "strokeWidth": 2},
         "encoding": {"x": {"field": "when", "type": "temporal"},
                      "color": {"field": "kind", "type": "nominal", "scale": {"domain": ["regression", "improvement"],
                                                                               "range": ["#c0392b", "#27ae60"]},
                                "title": "change point"},
                      "tooltip": [{"field": "series"}, {"field": "change"}, {"field": "kind"}, {"field": "run"}]}},
    ]
    if not cps:
        spec["layer"].pop()
    return spec

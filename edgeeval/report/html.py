"""The report as one self-contained HTML page: jinja2 template, Vega-Lite plots rendered to SVG in
the page by vega-embed, whose JavaScript (Vega, Vega-Lite and vega-embed, from the vl-convert
package) is inlined once. The page makes no network request: every script, style and datum is in
the file. Needs the `report` extra (`pip install -e '.[report]'`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserInputError
from . import charts
from .detector import change_points_many
from .rows import latest_per_board
from .stage import NAMES
from .tables import GENERATION_HEAD, generation_cells, with_ci

VL_VERSION = "6.4"       # the Vega-Lite the specs are written for (charts.SCHEMA); vl-convert bundles it
HISTORY_MIN_POINTS = 5


def _deps():
    try:
        import jinja2
        import vl_convert
    except ImportError as e:
        raise UserInputError(f"--format html needs the report extra ({e.name} is missing): "
                             "pip install -e '.[report]'  (Markdown and CSV need nothing more)") from None
    return jinja2, vl_convert


def js_bundle(cache_dir: Path | None = None) -> str:
    """Vega + Vega-Lite + vega-embed as one script, cached by vl-convert's version."""
    _, vlc = _deps()
    from importlib.metadata import version

    key = f"vega-embed-{version('vl-convert-python')}-vl{VL_VERSION}.js"
    path = (cache_dir / key) if cache_dir else None
    if path is not None and path.is_file():
        return path.read_text(encoding="utf-8")
    versions = getattr(vlc, "get_vegalite_versions", lambda: [])()
    vl = VL_VERSION if not versions or VL_VERSION in versions else versions[-1]
    text = vlc.javascript_bundle(vl_version=vl)
    if path is not None:
        from ..recipes.cache import write_bytes_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, text.encode("utf-8"))
    return text


def latency_curves(store, doc: dict, rows: list[dict]) -> dict:
    """(run_id, variant) -> CDF points from the stored raw latencies of the rows shown."""
    vid = {(r["run_id"], v["name"]): v.get("variant_id") for r in doc["runs"] for v in r["variants"]}
    out = {}
    for r in rows:
        i = vid.get((r["run_id"], r["variant"]))
        if i is None:
            continue
        lat = store.get_raw(i, "latencies_ns")
        if lat is not None and np.asarray(lat).size:
            out[(r["run_id"], r["variant"])] = charts.cdf_points(np.asarray(lat, np.float64) / 1e6)
    return out


def history_series(rows: list[dict], recipe: str, detector=None) -> tuple[list[dict], str | None]:
    """Per (board, variant) of `recipe` with enough nights: its p90 points and change points."""
    by: dict = {}
    for r in rows:
        if r["recipe"] == recipe and r.get("p90_ms") is not None and not r.get("noisy") and not r.get("throttled"):
            by.setdefault((r["device"], r["variant"]), []).append(r)
    keep = []
    for (dev, var), rs in sorted(by.items()):
        if len(rs) >= HISTORY_MIN_POINTS:
            rs.sort(key=lambda r: (r["created_at"] or "", r["run_id"] or 0))
            keep.append((dev, var, rs))
    values = [[r["p90_ms"] for r in rs] for _, _, rs in keep]
    got = detector.submit(change_points_many, values).result() if detector is not None and values else \
        change_points_many(values)
    note = got if isinstance(got, str) else None
    out = []
    for i, (dev, var, rs) in enumerate(keep):
        cps = [] if note else got[i]
        for c in cps:
            c["run_id"], c["created_at"] = rs[c["index"]]["run_id"], rs[c["index"]]["created_at"]
        out.append({"label": f"{dev} · {var}", "points": [{"created_at": r["created_at"], "value": r["p90_ms"],
                                                            "run_id": r["run_id"]} for r in rs],
                    "change_points": cps})
    return out, note


def render(doc: dict, store, *, cache_dir: Path | None = None, detector=None) -> str:
    jinja2, _ = _deps()
    latest = latest_per_board(doc["rows"])
    curves = latency_curves(store, doc, latest)
    models, plots = [], []

    def plot(spec):
        if spec is None:
            return None
        pid = f"plot{len(plots)}"
        plots.append({"id": pid, "spec": spec})
        return pid

    for recipe in sorted({r["recipe"] for r in latest}):
        rs = [r for r in latest if r["recipe"] == recipe]
        proc = next((p for p in doc.get("procurement") or [] if p["recipe"] == recipe), None)
        hist, hist_note = history_series(doc["rows"], recipe, detector)
        models.append({
            "recipe": recipe, "rows": rs, "procurement": proc,
            "cdf": plot(charts.latency_cdf(rs, curves)), "cold": plot(charts.cold_start(rs)),
            "tradeoff": plot(charts.tradeoff(rs)),
            "by_usd": plot(charts.ranking(proc["by_usd"], "perf_usd", "perf/$: inferences per second per USD", "inf/s per $")) if proc else None,
            "by_w": plot(charts.ranking(proc["by_w"], "perf_w", "perf/W: inferences per joule", "inf/J")) if proc else None,
            "util": plot(charts.utilisation(rs)), "history": plot(charts.history(hist)), "history_note": hist_note,
            "history_series": len(hist),
            "generation": [generation_cells(r) for r in rs if r.get("scenario") == "generate"]})
    env = jinja2.Environment(loader=jinja2.PackageLoader("edgeeval.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["f"] = lambda x, fmt="{:.4g}": "—" if x is None else fmt.format(x)
    env.globals["with_ci"] = with_ci
    env.globals["generation_head"] = GENERATION_HEAD
    return env.get_template("report.html.j2").render(
        doc=doc, models=models, plots=plots, stage_names=NAMES, bundle=js_bundle(cache_dir).replace("</script", "<\\/script"))

"""Terminal rendering of a comparison (`results compare`) and of a history (`results history`)."""

from __future__ import annotations

from .fmt import _f

STYLE = {"regressed": "bold red", "improved": "green", "unchanged": "dim", "inconclusive": "yellow",
         "noisy": "magenta", "not compared": "dim"}


def _val(m: dict, which: str) -> str:
    v = m[which]
    if v is None:
        return "—"
    if m["metric"] == "cosine_mean":
        return f"{v:.6f}"
    if m["unit"] == "%":
        return f"{v:.2f}%"
    return _f(v, "{:.4g}")


def print_compare(con, doc: dict) -> None:
    from rich.table import Table

    from ..regress.compare import fmt_change
    from ..regress.identity import describe

    a, b = doc["a"], doc["b"]
    con.print(f"[bold]{b['recipe']}[/bold] on [bold]{b['device']}[/bold]: run {b['run_id']} ({b['created_at'][:19]}) "
              f"against run {a['run_id']} ({a['created_at'][:19]}) — "
              f"[{STYLE.get(doc['verdict'], '')}]{doc['verdict']}[/]")
    if doc["mixed_hardware"]:
        con.print(f"[yellow]mixed hardware (--allow-mixed): {describe(doc['mixed_hardware'])}[/yellow]")
    th = doc["thresholds"]
    con.print(f"[dim]{int(doc['confidence'] * 100)}% intervals; smallest change that matters: latency/throughput "
              f"±{th['perf'] * 100:g}%, energy ±{th['energy'] * 100:g}%, accuracy ±{th['accuracy_pt']:g} pt, cosine "
              f"±{th['cosine']:g}" + ("" if doc["calibrated"] else "; board not calibrated for every variant (`edgeeval devices "
                                                                    "calibrate`): run-to-run noise not in the intervals")
              + "[/dim]")
    for row in doc["variants"]:
        t = Table(title=f"{row['variant']} — {row['verdict']}", title_justify="left")
        for col in ("metric", "A", "B", "change [95% CI]", "verdict", "note"):
            t.add_column(col, overflow="fold")
        for m in row["metrics"]:
            note = m.get("reason") or ""
            if m.get("p_value") is not None and not note:
                note = f"p = {m['p_value']:.3g} ({m.get('lost', 0)} lost, {m.get('won', 0)} won)"
            t.add_row(m["metric"], _val(m, "a"), _val(m, "b"), fmt_change(m),
                      f"[{STYLE.get(m['verdict'], '')}]{m['verdict']}[/]", note)
        con.print(t)
        cal = row.get("calibration")
        if cal:
            cvs = ", ".join(f"{m} {v:.2%}" for m, v in (cal.get("cv_run") or {}).items() if v is not None)
            con.print(f"  [dim]run-to-run noise from calibration {cal['id']} ({cal['match']}, {cal['runs']} runs, "
                      f"{cal['created_at'][:19]}): {cvs}[/dim]", soft_wrap=True)
        if row["software_changes"]:
            con.print(f"  [yellow]software changed:[/yellow] {describe(row['software_changes'])}", soft_wrap=True)
        for f in row["flags"]:
            con.print(f"  [magenta]{f}[/magenta]", soft_wrap=True)
    if doc["only_in_one"]:
        con.print(f"[dim]not in both runs: {', '.join(doc['only_in_one'])}[/dim]")


def calibration_table(doc: dict, cal: dict):
    from rich.table import Table

    t = Table(title=f"{doc['device']}: A/A calibration of {doc['recipe']}/{cal['variant']} over runs "
                    f"{', '.join(map(str, doc['run_ids']))} (stored as calibration {cal['id']})", title_justify="left")
    for col in ("metric", "run values", "spread (cv)", "within a run", "run-to-run", "detectable (95% power)",
                "regression floor", "run length for the target"):
        t.add_column(col, overflow="fold")
    for m, v in cal["metrics"].items():
        rl = v["run_length_for"]
        if rl["factor"] is None:
            length = f"{rl['repeats']} runs per side for {rl['target_pct']:g}% (one run: too noisy)"
        elif rl["timed_s"] is not None:
            length = f"×{rl['factor']:.2g} ({rl['timed_s']:.1f} s timed) for {rl['target_pct']:g}%"
        else:
            length = f"×{rl['factor']:.2g} for {rl['target_pct']:g}%"
        vals = ", ".join(_f(x, "{:.4g}") for x in v["values"][:6]) + (" …" if len(v["values"]) > 6 else "")
        t.add_row(m, vals, f"{v['cv_total']:.2%}", "—" if v["cv_within"] is None else f"{v['cv_within']:.2%}",
                  f"{v['cv_run']:.2%}", f"{v['mde_pct']:.1f}%", f"{v['floor_pct']:.1f}%", length)
    return t


BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo
    return "".join(BARS[0 if span == 0 else min(7, int((v - lo) / span * 8))] for v in values)


def print_history(con, doc: dict, last: int = 15) -> None:
    from rich.table import Table

    from ..regress.identity import describe

    d = doc["detector"]
    con.print(f"[bold]{doc['recipe']}[/bold] on [bold]{doc['device']}[/bold]: {doc['metric']} ({doc['unit']}, "
              f"{'higher' if doc['bad'] == 'up' else 'lower'} is worse) — change points by {d['method']}, window "
              f"{d['window']}, p < {d['max_pvalue']:g}, at least {d['min_magnitude']:.1%}")
    for v in doc["variants"]:
        used = [p for p in v["points"] if p["excluded"] is None]
        cp_idx = {c["index"] for c in v["change_points"]}
        marks = "".join("^" if i in cp_idx else " " for i in range(len(used)))
        status = ("[bold red]REGRESSION[/bold red] " + f"{v['alarm']['change_pct']:+.1f}% at run {v['alarm']['run_id']}"
                  if v["alarm"] else f"{len(v['change_points'])} change point(s)")
        con.print(f"\n[bold]{v['variant']}[/bold]: {v['used']} of {len(v['points'])} runs used — {status}")
        if used:
            con.print(f"  {sparkline([p['value'] for p in used])}  {used[0]['value']:.4g} … {used[-1]['value']:.4g}")
            if cp_idx:
                con.print(f"  [red]{marks}[/red]")
        if v.get("note"):
            con.print(f"  [dim]{v['note']}[/dim]")
        for c in v["change_points"]:
            style = "red" if c["direction"] == "regression" else "green"
            sw = f"; software changed: {describe(c['software_changes'])}" if c["software_changes"] else ""
            con.print(f"  [{style}]{c['direction']}[/{style}] at run {c['run_id']} ({c['created_at'][:19]}): "
                      f"{c['before']:.4g} → {c['after']:.4g} ({c['change_pct']:+.1f}%), p = {c['p_value']:.2g}{sw}",
                      soft_wrap=True)
        t = Table(title=f"last {min(last, len(v['points']))} runs", title_justify="left")
        for col in ("run", "created (UTC)", doc["metric"], "95% CI", "note"):
            t.add_column(col, overflow="fold")
        for p in v["points"][-last:]:
            note = p["excluded"] and f"[magenta]excluded: {p['excluded']}[/magenta]" or ""
            if p["software_changes"]:
                note = (note + " " if note else "") + f"[yellow]{describe(p['software_changes'])}[/yellow]"
            ci = p["ci"]
            t.add_row(str(p["run_id"]), p["created_at"][:19], _f(p["value"], "{:.4g}"),
                      "—" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]", note)
        con.print(t)

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
              f"±{th['cosine']:g}" + ("" if doc["calibrated"] else "; board not calibrated (`edgeeval devices "
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
        if row["software_changes"]:
            con.print(f"  [yellow]software changed:[/yellow] {describe(row['software_changes'])}", soft_wrap=True)
        for f in row["flags"]:
            con.print(f"  [magenta]{f}[/magenta]", soft_wrap=True)
    if doc["only_in_one"]:
        con.print(f"[dim]not in both runs: {', '.join(doc['only_in_one'])}[/dim]")

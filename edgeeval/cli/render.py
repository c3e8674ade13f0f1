"""Terminal rendering: build table, deploy progress and per-variant result tables."""

from __future__ import annotations

import sys

from .fmt import _ci, _f, _ms, _primary_fidelity, _size_mb, _verdict, _with_ci  # noqa: F401  (re-exported)
from .render_detail import _scenario_rows, variant_rows  # noqa: F401  (variant_rows: tests)


def build_table(res):
    from rich.table import Table

    t = Table(title=f"build {res.manifest.get('recipe')}  (recipe {str(res.manifest.get('recipe_hash'))[:12]})")
    for col in ("variant", "precision", "size", "sha256", "cached", "seconds"):
        t.add_column(col)
    for v in res.variants:
        t.add_row(v.name, v.precision, f"{v.size_bytes / 1024:.1f} KiB", v.sha256[:12],
                  "yes" if v.cached else "built", f"{v.seconds:.2f}")
    return t


class DeployProgress:
    """A rich progress display on stderr, fed by deploy's notify(kind, data) callbacks."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def notify(self, kind: str, data: dict) -> None:
        p = self._progress
        # always said, also without a progress display: a wait, or a variant that will not run, is never silent
        if kind in ("lease_wait", "variant_skipped"):
            if kind == "lease_wait":
                from ..store.leases import describe

                msg = f"waiting for the board: {describe(data)} (--no-wait to stop instead)"
            else:
                msg = f"{data['variant']}: skipped: {data['reason']}"
            if p is not None:
                p.console.print(f"[yellow]{msg}[/yellow]")
            else:
                print(msg, file=sys.stderr, flush=True)
            return
        if p is None:
            return
        if kind == "phase":
            p.console.print(f"[dim]· {data.get('phase')} {data.get('device', '')}[/dim]")
        elif kind == "variant_start":
            if self._task is not None:
                p.remove_task(self._task)
            self._task = p.add_task(f"{data['variant']}: load", total=None, info="")
        elif kind == "agent" and self._task is not None:
            ev = data.get("event")
            if ev == "phase":
                p.update(self._task, description=f"{data['variant']}: {data.get('phase')}")
            elif ev == "progress":
                total = data.get("total")
                p.update(self._task, completed=data.get("done", 0), total=total,
                         info=f"{data.get('done', 0)} runs, {data.get('elapsed_s', 0):.1f}s")
        elif kind == "variant_done" and self._task is not None:
            p.remove_task(self._task)
            self._task = None
            s = data["summary"]
            lat = s.get("latency") or {}
            if s.get("task") == "generate":
                from .render_llm import done_line
                p.console.print(f"[green]✓[/green] {done_line(data['variant'], s)}")
                return
            p.console.print(f"[green]✓[/green] {data['variant']}: p50 {_f(lat.get('p50'))} ms, "
                            f"top-1 {_f((s.get('accuracy') or {}).get('top1'), '{:.4f}')}")


def _metric(v: dict) -> tuple[str, str]:
    """(header, value) of the task metric: top-1, or for embeddings the retrieval top-1 agreement."""
    e = v.get("embeddings")
    if isinstance(e, dict) and (v.get("accuracy") or {}).get("top1") is None:
        return "retr@1", _f((e.get("retrieval") or {}).get("top1_agreement"), "{:.3f}")
    return "top-1", _f((v.get("accuracy") or {}).get("top1"), "{:.4f}")


def _cosine(v: dict) -> str:
    e = v.get("embeddings")
    if isinstance(e, dict) and e.get("cosine_mean") is not None:
        return _f(e["cosine_mean"], "{:.4f}")
    return _f(_primary_fidelity(v).get("cosine_mean"), "{:.4f}")


def _energy(v: dict):
    p = v.get("power")
    if not isinstance(p, dict):
        return None
    return (p.get("e_total_mj") or {}).get("mean")


def compact_table(report: dict):
    """One row per variant, the figures people compare first; fits 100 columns (--detail has the rest)."""
    from rich import box
    from rich.table import Table

    variants = report.get("variants") or []
    with_energy = any(_energy(v) is not None for v in variants)
    head = _metric(variants[0])[0] if variants else "top-1"
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    cols = [("variant", "left"), ("MB", "right"), ("p50 ms", "right"), ("p90 ms", "right"), ("inf/s", "right"),
            ("RSS", "right"), (head, "right"), ("drop", "right"), ("cos", "right")]
    cols += [("mJ/inf", "right")] if with_energy else []
    cols += [("gate", "left")]
    for name, justify in cols:
        t.add_column(name, justify=justify, no_wrap=True)
    for v in variants:
        lat, acc = v.get("latency") or {}, v.get("accuracy") or {}
        prec = v.get("precision") or ""
        label = v["name"] if prec in ("", v["name"]) else f"{v['name']}\n[dim]{prec}[/dim]"
        p50, p90 = (_with_ci(lat.get(k), lat.get(f"{k}_ci")) for k in ("p50", "p90"))
        tput = lat.get("throughput_ips")
        row = [label, _size_mb(v), p50, p90, _f(tput, "{:.0f}" if tput and tput >= 100 else "{:.1f}"),
               _f(v.get("peak_rss_mb"), "{:.0f}"), _metric(v)[1], _f(acc.get("drop_pt"), "{:+.2f}"), _cosine(v)]
        if with_energy:
            row.append(_f(_energy(v), "{:.3g}"))
        row.append(_verdict(v))
        t.add_row(*row)
    return t


def _sweep_table(sweeps: list[tuple[str, dict]]):
    """The offline batch-size sweep: a row per (variant, batch size)."""
    from rich import box
    from rich.table import Table

    t = Table(title="offline sweep", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col in ("variant", "batch", "samples/s", "95% CI", "batch p50 ms", "batch p90 ms"):
        t.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    for name, r in sweeps:
        t.add_row(name, str(r.get("batch_size")), _f(r.get("samples_per_s"), "{:.1f}"), _ci(r.get("ci"), "{:.1f}"),
                  _ms(r.get("batch_latency_p50_ms")), _ms(r.get("batch_latency_p90_ms")))
    return t


def _notes(report: dict) -> list[str]:
    """What could disturb or qualify the figures: failed gates, noise, device loss, calibration, throttling."""
    out = []
    for v in report.get("variants") or []:
        name = v["name"]
        for g in v.get("gates") or []:
            if not g.get("passed"):
                out.append(f"{name}: gate {g['name']} failed: {_f(g.get('value'), '{:.4g}', none='unknown')} "
                           f"{g.get('op', '')} {g.get('limit')}" + (f" ({g['reason']})" if g.get("reason") else ""))
        for why in v.get("suspicious") or []:
            out.append(f"{name}: SUSPICIOUS result from the board: {why}")
        n = v.get("noise") or {}
        if n.get("noisy"):
            out.append(f"{name}: NOISY timed window ({'; '.join(n.get('noisy_reasons') or []) or 'steal/other load'}): "
                       "rerun on a quiet board")
        lc = v.get("loss_chain") or {}
        if lc.get("device_loss_flag"):
            out.append(f"{name}: the board loses against the controller-quantized model: "
                       + "; ".join(lc.get("device_loss_reasons") or []))
        cal = v.get("calibration") or {}
        if cal.get("on_eval_set"):
            out.append(f"{name}: calibrated on the eval set ({cal.get('source')}; data.calibrate_on_eval): "
                       "accuracy may be flattered")
        if (v.get("thermal") or {}).get("throttled"):
            out.append(f"{name}: the board THROTTLED (throttle bits or a clock > 5% below its warm value)")
        sc = (v.get("scenario") or {}).get("server") or {}
        if sc.get("p99_meets_bound") is False:
            out.append(f"{name}: server p99 above the {sc.get('latency_bound_ms')} ms bound")
    return out


def print_deploy(console, report: dict, detail: bool = False) -> None:
    """The run's header, one compact comparison table, the notes; `detail`: every figure per variant."""
    base = report.get("baseline") or {}
    facts = report.get("device_facts") or {}
    cpu = facts.get("cpu") or {}
    scoring = report.get("scoring") or {}
    scored = ""
    if scoring.get("label") or scoring.get("scores"):
        scored = "  scored: " + ", ".join(f"{k} {scoring[k]}" for k in ("label", "scores") if scoring.get(k))
    from .render_llm import LEGEND, generative_table, is_generative

    llm = is_generative(report)
    server = (f"server fp32 perplexity {_f(base.get('perplexity'), '{:.3f}')}" if llm
              else f"server FP32 top-1 {_f(base.get('top1'), '{:.4f}')}{scored}")
    console.print(f"[bold]{report['recipe']}[/bold] on [bold]{report['device']}[/bold]  "
                  f"({facts.get('arch', '?')}, {cpu.get('model', '?')}, {cpu.get('logical_cores', '?')} cores)  "
                  f"run {report['run_id']}  {server}", soft_wrap=True)
    if not detail and llm:
        console.print(generative_table(report))
        for line in _notes(report):
            console.print(f"  [yellow]![/yellow] {line}", soft_wrap=True)
        console.print(LEGEND)
        _push_line(console, report)
        return
    if not detail:
        if report.get("variants"):
            console.print(compact_table(report))
        for v in report.get("variants") or []:   # a scenario other than single-stream: its headline figure
            sc = v.get("scenario") or {}
            if sc.get("name") not in (None, "single-stream"):
                rows = _scenario_rows(v)   # the headline, and for server the rates it was achieved at
                for label, value in rows[:1] + [r for r in rows[1:] if r[0].startswith("server QPS")]:
                    console.print(f"  {v['name']}: {label} {value}", soft_wrap=True)
        sweeps = [(v["name"], r) for v in report.get("variants") or []
                  for r in (v.get("scenario") or {}).get("sweep") or [] if len((v["scenario"]["sweep"])) > 1]
        if sweeps:
            console.print(_sweep_table(sweeps))
        for line in _notes(report):
            console.print(f"  [yellow]![/yellow] {line}", soft_wrap=True)
        first = (report.get("variants") or [{}])[0]
        method = (first.get("latency") or {}).get("ci_method")
        console.print("[dim]under p50/p90: their 95% CI (order statistics) as % from the value; RSS: agent peak\n"
                      "MiB; drop: points vs server FP32; cos: cosine vs FP32; --detail: every figure[/dim]" if method else
                      "[dim]--detail: every figure[/dim]")
        _push_line(console, report)
        return
    _detail_tables(console, report)
    _push_line(console, report)


def _push_line(console, report: dict) -> None:
    push = report.get("push") or {}
    if push:
        console.print(f"[dim]push: {push.get('bytes_sent', 0)} bytes sent, "
                      f"{push.get('skipped', 0)}/{push.get('files', 0)} files already on the board[/dim]")


def _detail_tables(console, report: dict) -> None:
    from rich.table import Table

    ci_method = None
    for v in report["variants"]:
        lat = v.get("latency") or {}
        ci_method = ci_method or lat.get("ci_method")
        verdict = "[green]PASS[/green]" if v.get("passed") else "[red]FAIL[/red]"
        rt = v.get("runtime") or {}
        ran = " ".join(str(x) for x in ((rt.get("providers_used") or [rt.get("name")])[0], rt.get("version")) if x)
        t = Table(title=f"{v['name']}  ({v['precision']}, model {v['model_sha256'][:12]}"
                        f"{', ' + ran if ran else ''})  {verdict}",
                  title_justify="left", show_header=False)
        t.add_column("metric", style="dim")
        t.add_column("value")
        for k, val in variant_rows(v):
            t.add_row(k, val)
        for g in v.get("gates") or []:
            mark = "[green]pass[/green]" if g.get("passed") else "[red]fail[/red]"
            value = _f(g.get("value"), "{:.4g}", none="unknown")
            reason = f" ({g['reason']})" if g.get("reason") and not g.get("passed") else ""
            t.add_row(f"gate {g['name']}", f"{mark}  {value} {g.get('op', '')} {g.get('limit')}{reason}")
        console.print(t)
    if ci_method:
        console.print(f"[dim]95% intervals: {ci_method}.[/dim]")

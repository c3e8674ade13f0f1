"""Terminal rendering: build table, deploy progress and per-variant result tables."""

from __future__ import annotations

import math


def _f(v, fmt="{:.3f}", none="—"):
    if v is None:
        return none
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "inf" if v == math.inf else ("nan" if math.isnan(v) else "-inf")
    return fmt.format(v)


def _ci(ci, fmt="{:.3f}"):
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


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
            p.console.print(f"[green]✓[/green] {data['variant']}: p50 {_f(lat.get('p50'))} ms, "
                            f"top-1 {_f((s.get('accuracy') or {}).get('top1'), '{:.4f}')}")


def deploy_report(outcome) -> dict:
    """The JSON shape of a deploy: the same data the tables show."""
    return {
        "run_id": outcome.run_id,
        "recipe": outcome.recipe,
        "device": outcome.device,
        "status": outcome.status,
        "passed": outcome.passed,
        "error": str(outcome.error) if outcome.error else None,
        "baseline": outcome.baseline,
        "push": outcome.push,
        "device_facts": outcome.facts,
        "variants": [{"name": v.name, "precision": v.precision, "model_sha256": v.model_sha256,
                      "variant_id": v.variant_id, **v.summary} for v in outcome.variants],
    }


def _primary_fidelity(s: dict) -> dict:
    fid = s.get("fidelity") or {}
    if "primary" in fid and isinstance(fid["primary"], dict):
        return fid["primary"]
    if isinstance(fid, dict) and fid and all(isinstance(v, dict) for v in fid.values()):
        return next(iter(fid.values()))
    return fid


def variant_rows(s: dict) -> list[tuple[str, str]]:
    lat = s.get("latency") or {}
    acc = s.get("accuracy") or {}
    fid = _primary_fidelity(s)
    n = lat.get("n")
    rows = [
        ("latency p50 ms [95% CI]", f"{_f(lat.get('p50'))} {_ci(lat.get('p50_ci'))}"),
        ("latency p90 ms [95% CI]", f"{_f(lat.get('p90'))} {_ci(lat.get('p90_ci'))}"),
        ("latency p99 ms", _f(lat.get("p99"))),
        ("mean ± std ms", f"{_f(lat.get('mean'))} ± {_f(lat.get('std'))}"),
        ("min / max ms", f"{_f(lat.get('min'))} / {_f(lat.get('max'))}"),
        ("timed runs", f"{n}" + (f" ({lat.get('outliers')} outliers kept)" if lat.get("outliers") else "")),
        ("throughput inf/s", _f(lat.get("throughput_ips"), "{:.1f}")),
        ("model load ms", _f(s.get("load_ms"), "{:.1f}")),
        ("first inference ms", _f(s.get("first_inference_ms"))),
        ("peak RSS MiB", _f(s.get("peak_rss_mb"), "{:.1f}")),
        ("top-1 on device", _f(acc.get("top1"), "{:.4f}", none=f"— ({acc.get('reason', 'no labels')})")),
        ("accuracy drop pt", _f(acc.get("drop_pt"), "{:+.2f}")),
        ("top-1 agreement", _f(fid.get("top1_agreement"), "{:.4f}")),
        ("cosine (mean / min)", f"{_f(fid.get('cosine_mean'), '{:.5f}')} / {_f(fid.get('cosine_min'), '{:.5f}')}"),
        ("max abs error", _f(fid.get("max_abs_error"), "{:.4g}")),
        ("PSNR dB", _f(fid.get("psnr_db"), "{:.1f}")),
    ]
    return rows


def print_deploy(console, report: dict) -> None:
    from rich.table import Table

    base = report.get("baseline") or {}
    facts = report.get("device_facts") or {}
    cpu = facts.get("cpu") or {}
    console.print(f"[bold]{report['recipe']}[/bold] on [bold]{report['device']}[/bold]  "
                  f"({facts.get('arch', '?')}, {cpu.get('model', '?')}, {cpu.get('logical_cores', '?')} cores)  "
                  f"run {report['run_id']}  server FP32 top-1 {_f(base.get('top1'), '{:.4f}')}", soft_wrap=True)
    ci_method = None
    for v in report["variants"]:
        lat = v.get("latency") or {}
        ci_method = ci_method or lat.get("ci_method")
        verdict = "[green]PASS[/green]" if v.get("passed") else "[red]FAIL[/red]"
        t = Table(title=f"{v['name']}  ({v['precision']}, model {v['model_sha256'][:12]})  {verdict}",
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
    push = report.get("push") or {}
    if push:
        console.print(f"[dim]push: {push.get('bytes_sent', 0)} bytes sent, "
                      f"{push.get('skipped', 0)}/{push.get('files', 0)} files already on the board[/dim]")

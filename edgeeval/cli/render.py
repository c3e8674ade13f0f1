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
                      "variant_id": v.variant_id, "runtime": v.runtime, **v.summary} for v in outcome.variants],
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
    rows += _embedding_rows(s) + _loss_chain_rows(s)
    return _scenario_rows(s) + _noise_rows(s) + rows + _power_rows(s)


def _embedding_rows(s: dict) -> list[tuple[str, str]]:
    """Sentence-embedding fidelity (evaluate/embeddings.py): pooled cosine and retrieval agreement."""
    e = s.get("embeddings")
    if not isinstance(e, dict):
        return []
    if e.get("cosine_mean") is None:
        return [("sentence embeddings", f"— ({e.get('reason') or 'not computed'})")]
    ret = e.get("retrieval") or {}
    k = ret.get("k")
    rows = [(f"sentence cosine mean / min / p5 ({e.get('samples')} texts)",
             f"{_f(e.get('cosine_mean'), '{:.5f}')} / {_f(e.get('cosine_min'), '{:.5f}')} / "
             f"{_f(e.get('cosine_p5'), '{:.5f}')}")]
    if ret.get("top1_agreement") is None:
        rows.append(("retrieval agreement", f"— ({ret.get('reason') or 'not computed'})"))
    else:
        rows.append((f"retrieval agreement top-1 / top-{k} overlap",
                     f"{_f(ret.get('top1_agreement'), '{:.3f}')} / {_f(ret.get('topk_overlap'), '{:.3f}')}"))
    return rows


def _noise_rows(s: dict) -> list[tuple[str, str]]:
    """One row: was the timed window quiet (steal, other processes' load)? evaluate/noise.py."""
    from ..evaluate.noise import pct

    n = s.get("noise")
    if not isinstance(n, dict):
        return [("noise", "— (not in this stored summary: older edgeeval)")]
    steal, other = n.get("steal_share"), n.get("other_busy_share")
    if n.get("noisy"):
        parts = ([f"{pct(steal)} steal"] if steal is not None else []) + \
                ([f"other load {pct(other)}"] if other is not None else [])
        return [("noise", f"NOISY: {', '.join(parts)} — rerun on a quiet board")]
    if n.get("noisy") is False:
        return [("noise", f"quiet (steal {pct(steal)}, other load {pct(other)})")]
    return [("noise", f"— ({n.get('reason') or 'unknown'})")]


_HEADLINE_LABEL = {"p90_ms": "p90 ms", "p99_ms": "p99 ms", "samples_per_s": "samples/s"}


def _scenario_rows(s: dict) -> list[tuple[str, str]]:
    """The scenario's headline figure with its interval and count, first in the table."""
    sc = s.get("scenario") or {}
    h = sc.get("headline") or {}
    if not h:
        return []
    fmt = "{:.1f}" if h.get("metric") == "samples_per_s" else "{:.3f}"
    label = f"{sc.get('name')} {_HEADLINE_LABEL.get(h.get('metric'), h.get('metric'))} [95% CI]"
    value = f"{_f(h.get('value'), fmt)} {_ci(h.get('ci'), fmt)}  (n={h.get('n')})"
    rows = [(label, value)]
    if sc.get("best_batch_size") is not None:
        rows.append(("offline best batch size", str(sc["best_batch_size"])))
    es = sc.get("early_stopping") or {}
    if es:
        rows.append((f"early-stopping p{es.get('percentile', 0) * 100:g} ms",
                     _f(es.get("value_ms"), none=f"— ({es.get('reason')})")))
    srv = sc.get("server") or {}
    if srv.get("latency_bound_ms") is not None:
        rows.append(("server QPS target / achieved", f"{_f(srv.get('target_qps'), '{:.1f}')} / "
                     f"{_f(srv.get('achieved_qps'), '{:.1f}')}, p99 bound {srv['latency_bound_ms']} ms "
                     f"{'met' if srv.get('p99_meets_bound') else 'NOT met'}"))
    sus = sc.get("sustained") or {}
    if sus.get("burst"):
        crit = sus.get("stop_criterion")
        if crit == "thermal+latency":
            crit += (f", {_f(sus.get('temp_first_window_c'), '{:.1f}')} → "
                     f"{_f(sus.get('temp_last_window_c'), '{:.1f}')} °C, slope "
                     f"{_f(sus.get('slope_c_per_min'), '{:+.2f}')} °C/min")
        rows.append(("burst / sustained p50 ms", f"{_f(sus['burst']['p50_ms'])} / {_f(sus['sustained']['p50_ms'])} "
                     f"(drift {_f(sus.get('drift_p50'), '{:+.1%}')}, {sus.get('stop', '')}"
                     + (f"; {crit})" if crit else ")")))
    cold = sc.get("cold_start") or {}
    if cold:
        rows.append(("cold start ms: session / first / warmup mean",
                     f"{_f(cold.get('session_ms'), '{:.1f}')} / {_f(cold.get('first_inference_ms'))} / "
                     f"{_f(cold.get('warmup_mean_ms'))} (n={cold.get('warmup_n')})"))
    prof = sc.get("profile")
    if prof:
        rows.append(("scenario profile, seeds", f"{prof}, {sc.get('seeds') or '—'}"))
    return rows


def _power_rows(s: dict) -> list[tuple[str, str]]:
    """Power/energy rows when the run asked for power (no `power` key: no rows at all)."""
    if "power" not in s:
        return []
    p = s.get("power")
    th = s.get("thermal") or {}
    thr = th.get("throttled")
    throttled = [("throttled", "YES" if thr else "no" if thr is False else
                  f"— ({(th.get('reasons') or {}).get('throttled', 'no thermal data')})")] if th else []
    if not p:
        return [("power", "— (requested, but the agent sent no power data)")] + throttled
    source = p.get("source") or f"board: {p.get('sensor')}"
    rails = ", ".join(p.get("rails") or []) or "—"
    head = [("power source, rails", f"{source}; {rails}" + (" (estimate)" if p.get("estimate") else ""))]
    if p.get("p_idle_w") is None and p.get("reason"):
        return head + [("power", f"— ({p['reason']})")] + throttled

    def stat(key):
        return p.get(key) or {}

    idle, pa = p.get("idle") or {}, stat("p_active_w")
    et, ed, ipj = stat("e_total_mj"), stat("e_dynamic_mj"), stat("inferences_per_j")
    sm = p.get("samples") or {}
    cv = et.get("cv")
    cv_txt = "n/a" if cv is None else f"{cv:.1%}" + (" FLAGGED (> 5%)" if et.get("cv_flagged") else "")
    upd = p.get("update_interval_s")
    rows = head + [
        ("P idle W (mean ± std)", f"{_f(p.get('p_idle_w'))} ± {_f(idle.get('p_std_w'))}"),
        (f"P active W (mean ± std, {et.get('n', 0)} windows)", f"{_f(pa.get('mean'))} ± {_f(pa.get('std'))}"),
        ("energy/inf total mJ [95% CI]", f"{_f(et.get('mean'), '{:.4g}')} {_ci(et.get('ci'), '{:.4g}')}"),
        ("energy/inf dynamic mJ [95% CI]", f"{_f(ed.get('mean'), '{:.4g}')} {_ci(ed.get('ci'), '{:.4g}')}"),
        ("inferences per joule", _f(ipj.get("mean"), "{:.1f}")),
        ("energy CV over windows", cv_txt),
        ("power samples / rate", f"{sm.get('used')} used of {sm.get('reads')} reads "
                                 f"({sm.get('repeats_dropped')} repeats dropped), "
                                 f"{_f(sm.get('achieved_rate_hz'), '{:.1f}')} Hz; sensor update "
                                 f"{_f(upd, '{:.3g}', none='not exposed')} s"),
    ]
    clock = p.get("clock")
    if clock:
        rows.append(("meter clock offset", f"± {clock['uncertainty_s'] * 1e3:.1f} ms, guard band "
                                           f"{clock.get('guard_s', 0):.3g} s per edge"))
    for k, why in (p.get("reasons") or {}).items():
        rows.append((f"power note ({k})", why))
    return rows + throttled


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
    push = report.get("push") or {}
    if push:
        console.print(f"[dim]push: {push.get('bytes_sent', 0)} bytes sent, "
                      f"{push.get('skipped', 0)}/{push.get('files', 0)} files already on the board[/dim]")


def _loss_chain_rows(s: dict) -> list[tuple[str, str]]:
    """Quantization loss vs device loss (edgeeval/losschain.py), for quantized variants."""
    lc = s.get("loss_chain")
    if not lc:
        return []
    f = lc.get("device_fidelity") or {}
    flag = {True: "YES: the board loses accuracy the controller does not", False: "no", None: "—"}
    return [("quantization drop pt (fp32 → controller)", _f(lc.get("quantization_drop_pt"), "{:+.2f}")),
            ("device drop pt (controller → board)", _f(lc.get("device_drop_pt"), "{:+.2f}")),
            ("board vs controller: agreement / cosine / max err",
             f"{_f(f.get('top1_agreement'), '{:.4f}')} / {_f(f.get('cosine_mean'), '{:.5f}')} / "
             f"{_f(f.get('max_abs_error'), '{:.4g}')}"),
            ("device loss flag", flag.get(lc.get("device_loss_flag"), "—"))]

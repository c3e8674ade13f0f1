"""Per-variant detail rows (`deploy --detail`, `results show --detail`): every figure of a
summary as (label, value) pairs — latency, fidelity, scenario, sustained, noise, power, loss chain."""

from __future__ import annotations

from .fmt import _ci, _f, _primary_fidelity


def variant_rows(s: dict) -> list[tuple[str, str]]:
    lat = s.get("latency") or {}
    acc = s.get("accuracy") or {}
    fid = _primary_fidelity(s)
    n = lat.get("n")
    rows = [
        ("model size", "—" if s.get("model_size_bytes") is None else
         f"{s['model_size_bytes']:,} bytes ({s['model_size_bytes'] / 1e6:.3f} MB)"),
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
        ("top-1 on device", _f(acc.get("top1"), "{:.4f}", none=f"— ({acc.get('reason', 'no labels')})")
         + (f"  ({acc.get('method')} {acc.get('output')!r})" if acc.get("output") and acc.get("top1") is not None else "")),
        ("accuracy drop pt", _f(acc.get("drop_pt"), "{:+.2f}")),
        ("top-1 agreement", _f(fid.get("top1_agreement"), "{:.4f}")),
        ("cosine (mean / min)", f"{_f(fid.get('cosine_mean'), '{:.5f}')} / {_f(fid.get('cosine_min'), '{:.5f}')}"),
        ("max abs error", _f(fid.get("max_abs_error"), "{:.4g}")),
        ("PSNR dB", _f(fid.get("psnr_db"), "{:.1f}")),
    ]
    cal = s.get("calibration")
    if isinstance(cal, dict):
        rows.append(("calibration", f"{cal.get('source')} ({cal.get('samples')} samples)"
                     + ("  ON THE EVAL SET (data.calibrate_on_eval)" if cal.get("on_eval_set") else "")))
    if s.get("task") == "generate":   # a language model: tokens, not labels (cli/render_llm.py)
        from .render_llm import llm_rows

        rows = [r for r in rows[:11] if r[0] != "throughput inf/s"]
        rows[1:6] = [(k.replace("latency", "decode step"), x) for k, x in rows[1:6]]
        return _noise_rows(s) + rows + llm_rows(s) + _power_rows(s)
    rows += _embedding_rows(s) + _loss_chain_rows(s)
    return _scenario_rows(s) + _noise_rows(s) + rows + _offline_rows(s) + _power_rows(s)


def _offline_rows(s: dict) -> list[tuple[str, str]]:
    """The offline sweep, one row per batch size (samples/s with its interval, batch latency)."""
    sweep = (s.get("scenario") or {}).get("sweep") or []
    if len(sweep) < 2:
        return []
    return [(f"offline batch {r.get('batch_size')}",
             f"{_f(r.get('samples_per_s'), '{:.1f}')} samples/s {_ci(r.get('ci'), '{:.1f}')}, "
             f"batch p50 {_f(r.get('batch_latency_p50_ms'))} ms, p90 {_f(r.get('batch_latency_p90_ms'))} ms")
            for r in sweep]


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
        rows.append(("server QPS target / scheduled / completed", f"{_f(srv.get('target_qps'), '{:.1f}')} / "
                     f"{_f(srv.get('scheduled_qps', srv.get('achieved_qps')), '{:.1f}')} / "
                     f"{_f(srv.get('completed_qps'), '{:.1f}')}, p99 bound {srv['latency_bound_ms']} ms "
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
    if "power" not in s or (s.get("power") is None and s.get("thermal") is None):
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


def _loss_chain_rows(s: dict) -> list[tuple[str, str]]:
    """Quantization loss vs device loss (edgeeval/evaluate/losschain.py), for quantized variants."""
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

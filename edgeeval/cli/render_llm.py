"""The compact table of a language model's deploy: a row per variant with the figures llama-bench and
MLPerf report (TTFT, prefill and decode tokens/s, per-token latency) beside quality against the
server fp32 (perplexity change, token agreement) and energy per token."""

from __future__ import annotations

from .fmt import _f, _size_mb, _verdict, _with_ci


def is_generative(report: dict) -> bool:
    return any(v.get("task") == "generate" for v in report.get("variants") or [])


def _rate(x) -> str:
    return "—" if x is None else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def _rate_ci(x, ci) -> str:
    if x is None:
        return "—"
    if not ci or ci[0] is None or ci[1] is None:
        return _rate(x)
    return f"{_rate(x)}\n[dim]{_rate(ci[0])}–{_rate(ci[1])}[/dim]"


def _largest_prefill(g: dict):
    rows = [r for r in g.get("prefill") or [] if r.get("tokens_per_s") is not None]
    return max(rows, key=lambda r: r["tokens"]) if rows else None


def done_line(name: str, s: dict) -> str:
    g, q = s.get("generate") or {}, s.get("quality") or {}
    d = (g.get("decode_tokens_per_s") or {}).get("value")
    return (f"{name}: decode {_rate(d)} tok/s, TTFT {_f((g.get('ttft') or {}).get('p50'), '{:.1f}')} ms, "
            f"perplexity {_f(q.get('perplexity'), '{:.2f}')}")


def generative_table(report: dict):
    from rich import box
    from rich.table import Table

    variants = report.get("variants") or []
    pp = next(filter(None, (_largest_prefill(v.get("generate") or {}) for v in variants)), None)
    pp_head = f"pp{pp['tokens']} t/s" if pp else "pp t/s"
    energy = any((v.get("generate") or {}).get("energy_per_token_j") is not None for v in variants)
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    cols = ["variant", "MB", "TTFT ms", pp_head, "tg t/s", "TPOT p90", "RSS", "ppl", "Δppl %", "agree"]
    cols += ["J/tok"] if energy else []
    cols += ["gate"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("variant", "gate") else "right", no_wrap=True)
    for v in variants:
        g, q, lat = v.get("generate") or {}, v.get("quality") or {}, v.get("latency") or {}
        prec = v.get("precision") or ""
        label = v["name"] if prec in ("", v["name"]) else f"{v['name']}\n[dim]{prec}[/dim]"
        ttft = g.get("ttft") or {}
        big = next((r for r in g.get("prefill") or [] if pp and r.get("tokens") == pp["tokens"]), None) or {}
        dec = g.get("decode_tokens_per_s") or {}
        dpct = q.get("perplexity_increase_pct")
        dci = q.get("perplexity_increase_ci")
        dtxt = _f(dpct, "{:+.2f}") + (f"\n[dim]{dci[0]:+.1f}…{dci[1]:+.1f}[/dim]" if dci and dpct is not None else "")
        row = [label, _size_mb(v), _with_ci(ttft.get("p50"), ttft.get("p50_ci")),
               _rate_ci(big.get("tokens_per_s"), big.get("ci")), _rate_ci(dec.get("value"), dec.get("ci")),
               _with_ci(lat.get("p90"), lat.get("p90_ci")), _f(v.get("peak_rss_mb"), "{:.0f}"),
               _f(q.get("perplexity"), "{:.2f}"), dtxt, _f(q.get("token_agreement"), "{:.3f}")]
        if energy:
            row.append(_f(g.get("energy_per_token_j"), "{:.3g}"))
        row.append(_verdict(v))
        t.add_row(*row)
    return t


LEGEND = ("[dim]TTFT: warm time to first token (prefill + first token), p50 over the prompts, CI under it; "
          "pp: prefill tokens/s at the longest prompt; tg: decode tokens/s over the prompt set (bootstrap CI); "
          "TPOT p90: token-to-token ms; ppl: perplexity on the text set, Δ vs server fp32 (paired bootstrap CI); "
          "agree: fp32 teacher-forced along this variant's generations picks the same token; --detail: pp/tg "
          "at every length and depth[/dim]")


def _ci_text(ci, fmt: str = "{:.1f}") -> str:
    if not ci or ci[0] is None:
        return ""
    return f"[{fmt.format(ci[0])}, {'∞' if ci[1] is None else fmt.format(ci[1])}]"


def llm_rows(v: dict) -> list[tuple[str, str]]:
    """(label, value) lines of a language model's figures, for --detail: TTFT, llama-bench's pp/tg tests,
    the prompt set's decode rate, KV cache, quality against the server fp32, energy per token."""
    g, q = v.get("generate") or {}, v.get("quality") or {}
    why = q.get("reasons") or {}
    ttft = g.get("ttft") or {}
    dec = g.get("decode_tokens_per_s") or {}
    out = [("TTFT cold (session + prefill + first token)", f"{_f(g.get('ttft_cold_ms'), '{:.1f}')} ms"),
           (f"TTFT warm p50 ms [95% CI] ({ttft.get('n')} prompts)",
            f"{_f(ttft.get('p50'))} {_ci_text(ttft.get('p50_ci'), '{:.4g}')}".rstrip()
            + (f" ({ttft['reasons']['p50_ci']})" if not ttft.get("p50_ci") and (ttft.get("reasons") or {}).get("p50_ci")
               else "")),
           (f"decode tok/s, prompt set ({g.get('prompts')} prompts, {g.get('tokens_generated')} tokens)",
            f"{_rate(dec.get('value'))} {_ci_text(dec.get('ci'))}".rstrip()
            + (f" ({dec['reason']})" if dec.get("reason") else ""))]
    for r in g.get("prefill") or []:
        out.append((f"pp{r['tokens']} tok/s", f"{_rate(r.get('tokens_per_s'))} {_ci_text(r.get('ci'))} "
                                             f"({r.get('runs')} runs){'; ' + r['reason'] if r.get('reason') else ''}"))
    for r in g.get("decode") or []:
        out.append((f"tg{r['tokens']} @ depth {r['depth']} tok/s",
                    f"{_rate(r.get('tokens_per_s'))} {_ci_text(r.get('ci'))} "
                    f"({r.get('repetitions')} reps){'; ' + r['reason'] if r.get('reason') else ''}"))
    kv = g.get("kv_bytes_per_token")
    if kv:
        out.append(("KV cache", f"{kv / 1024:.1f} KiB per token of context"))
    stops = g.get("stops") or {}
    if stops:
        out.append(("generations stopped by", ", ".join(f"{k} {n}" for k, n in stops.items())))
    ppl = q.get("perplexity")
    out.append((f"perplexity board / server fp32 ({q.get('text_tokens')} tokens)",
                f"{_f(ppl, '{:.3f}')} / {_f(q.get('perplexity_fp32'), '{:.3f}')}"
                + (f" ({why.get('perplexity') or why.get('perplexity_fp32')})" if q.get("perplexity_fp32") is None else "")))
    if q.get("perplexity_increase_pct") is not None:
        out.append(("perplexity change % [95% CI]", f"{q['perplexity_increase_pct']:+.2f} "
                                                    f"{_ci_text(q.get('perplexity_increase_ci'), '{:+.2f}')}".rstrip()))
    out.append((f"token agreement with fp32 ({q.get('token_agreement_positions')} positions)",
                _f(q.get("token_agreement"), "{:.4f}", none=f"— ({why.get('token_agreement', 'not computed')})")))
    fd = q.get("first_divergence")
    if fd:
        out.append(("prompts whose greedy output left fp32's", f"{fd['diverged']} of {fd['prompts']}"
                    + (f", median at token {fd['median_position']:g}" if fd.get("median_position") is not None else "")))
    if q.get("text_top1_agreement") is not None:
        out.append(("next-token agreement on the text set", f"{q['text_top1_agreement']:.4f}"))
    lc = q.get("loss_chain")
    if lc:
        out.append(("perplexity chain", f"fp32 {lc['perplexity_fp32']:.3f} → controller {lc['perplexity_controller']:.3f} "
                                        f"→ board {lc['perplexity_board']:.3f}"))
    if g.get("energy_per_token_j") is not None or g.get("energy_reason"):
        out.append(("energy per token J", _f(g.get("energy_per_token_j"), "{:.4g}",
                                             none=f"— ({g.get('energy_reason')})")))
    share = (g.get("harness_overhead") or {}).get("runtime_share")
    if share is not None:
        out.append(("time inside the runtime call", f"{100 * share:.1f}% of the token-to-token time"))
    return out

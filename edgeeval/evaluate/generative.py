"""A language model's numbers, from the agent's generative result (edgeeval_agent/generate.py), its
fetched outputs and the controller's fp32 reference. Pure: the same inputs give the same dict.

Shape: the common block (summary.common_summary: `latency` = the token-to-token decode latency of
the prompt set, its throughput_ips = decode tokens/s) plus
    generate  ttft_cold_ms; ttft (warm, per prompt: latency_stats); prefill [{tokens, tokens_per_s,
              ci, mean/std}] and decode [{depth, tokens_per_s, ci, step latency}] (llama-bench's pp and
              tg); decode_tokens_per_s {value, ci} (prompt set, cluster bootstrap over prompts);
              harness_overhead (time outside the runtime call); kv_bytes_per_token; energy_per_token_j
    quality   perplexity (board) and perplexity_fp32 (controller fp32) over the text set, the
              increase in % with a paired bootstrap interval over text sequences; token_agreement:
              fp32 teacher-forced along the variant's own generations, the share of positions where
              fp32 picks the token the variant picked (one early divergence hides nothing after it);
              text_top1_agreement: argmax agreement over the text set; loss_chain: fp32 -> the same
              variant on the controller -> the board (perplexity at each link)
    gate_metrics, gates, passed, power/thermal (when measured), noise
Every None has a reason beside it.
"""

from __future__ import annotations

import math

import numpy as np

from .common import common_summary
from .gates import all_passed, check_gates
from .latency import latency_stats

BOOTSTRAP = 2000
_SEED = 20261204       # fixed: a stored summary recomputes to the identical dict


def _tps_interval(rep_means_ns: list[float], confidence: float) -> tuple[list | None, str | None]:
    """A t-interval of the mean step time over repetitions, as tokens/s (lo, hi)."""
    from scipy import stats

    m = np.asarray(rep_means_ns, dtype=np.float64)
    if m.size < 2:
        return None, f"{m.size} repetition: an interval needs 2 or more"
    se = m.std(ddof=1) / math.sqrt(m.size)
    half = stats.t.ppf(0.5 + confidence / 2, m.size - 1) * se
    lo, hi = m.mean() - half, m.mean() + half
    return [1e9 / hi, 1e9 / lo if lo > 0 else None], None


def _prefill(tests: list, confidence: float) -> list:
    """llama-bench's pp: tokens ÷ the mean time of one prefill, a t-interval over the runs (as tg's)."""
    out = []
    for t in tests or []:
        ns = np.asarray(t.get("ns") or [], dtype=np.float64)
        row = {"tokens": int(t.get("tokens", 0)), "runs": int(ns.size), "tokens_per_s": None, "ci": None,
               "median_ms": None, "std_tokens_per_s": None, "reason": t.get("skipped")}
        if ns.size:
            rate = row["tokens"] * 1e9 / ns
            row.update(tokens_per_s=float(row["tokens"] * 1e9 / ns.mean()), median_ms=float(np.median(ns)) / 1e6,
                       std_tokens_per_s=float(rate.std(ddof=1)) if ns.size > 1 else None)
            ci, why = _tps_interval(list(ns / row["tokens"]), confidence)
            row["ci"], row["reason"] = ci, row["reason"] or why
        out.append(row)
    return out


def _decode(tests: list, confidence: float) -> list:
    out = []
    for t in tests or []:
        reps = [np.asarray(r, dtype=np.float64) for r in t.get("step_ns") or [] if len(r)]
        row = {"depth": int(t.get("depth", 0)), "tokens": int(t.get("tokens", 0)), "repetitions": len(reps),
               "tokens_per_s": None, "ci": None, "reason": t.get("skipped")}
        if reps:
            steps = np.concatenate(reps)
            row["tokens_per_s"] = float(steps.size * 1e9 / steps.sum())
            row["ci"], why = _tps_interval([r.mean() for r in reps], confidence)
            row["reason"] = row["reason"] or why
            lat = latency_stats(steps, confidence=confidence)
            row["step_ms"] = {k: lat[k] for k in ("p50", "p90", "p99", "p50_ci", "p90_ci")}
        out.append(row)
    return out


def _cluster_rate(tokens: list[int], times_ns: list[float], confidence: float) -> dict:
    """Σtokens / Σtime over prompts, with a bootstrap interval resampling whole prompts."""
    k = np.asarray(tokens, dtype=np.float64)
    t = np.asarray(times_ns, dtype=np.float64)
    keep = t > 0
    k, t = k[keep], t[keep]
    if not t.size:
        return {"value": None, "ci": None, "prompts": 0, "reason": "no decode step was timed"}
    value = float(k.sum() * 1e9 / t.sum())
    if t.size < 5:
        return {"value": value, "ci": None, "prompts": int(t.size),
                "reason": f"{t.size} prompts: the interval needs 5 or more"}
    rng = np.random.default_rng(_SEED)
    idx = rng.integers(0, t.size, (BOOTSTRAP, t.size))
    boot = k[idx].sum(1) * 1e9 / t[idx].sum(1)
    a = (1 - confidence) / 2
    return {"value": value, "ci": [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))],
            "prompts": int(t.size), "reason": None, "ci_method": "bootstrap over prompts (percentile)"}


def _ppl(nll) -> float | None:
    nll = np.asarray(nll, dtype=np.float64)
    return float(np.exp(nll.mean())) if nll.size else None


def paired_ppl_change(nll_v, nll_ref, offsets, confidence: float) -> tuple[list | None, str | None]:
    """Bootstrap over text sequences of 100·(ppl_v / ppl_ref − 1): the change of a variant against the
    server fp32, or of one run against another (regress/compare.py)."""
    if offsets is None or len(offsets) < 3:
        return None, "fewer than 2 text sequences: no interval"
    off = np.asarray(offsets, dtype=np.int64)
    sv = np.add.reduceat(nll_v, off[:-1])
    sr = np.add.reduceat(nll_ref, off[:-1])
    n = np.diff(off).astype(np.float64)
    rng = np.random.default_rng(_SEED)
    idx = rng.integers(0, n.size, (BOOTSTRAP, n.size))
    boot = 100.0 * (np.exp((sv[idx].sum(1) - sr[idx].sum(1)) / n[idx].sum(1)) - 1.0)
    a = (1 - confidence) / 2
    return [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))], None


def _quality(device, baseline, controller, confidence: float) -> dict:
    q: dict = {"perplexity": None, "perplexity_fp32": None, "perplexity_increase_pct": None,
               "perplexity_increase_ci": None, "text_tokens": None, "token_agreement": None,
               "token_agreement_positions": None, "text_top1_agreement": None, "first_divergence": None,
               "reasons": {}}
    why = q["reasons"]
    if device is None or "text_nll" not in device:
        why["perplexity"] = why["token_agreement"] = ("no board outputs (accuracy pass disabled, or the board ran "
                                                      "the synthetic runtime)")
        return q
    nll_v = np.asarray(device["text_nll"], dtype=np.float64)
    q["perplexity"], q["text_tokens"] = _ppl(nll_v), int(nll_v.size)
    if baseline is None or "text_nll" not in baseline:
        why["perplexity_fp32"] = why["token_agreement"] = "no fp32 reference outputs"
        return q
    nll_r = np.asarray(baseline["text_nll"], dtype=np.float64)
    if nll_r.shape != nll_v.shape:
        raise ValueError(f"the board scored {nll_v.size} text tokens, the reference {nll_r.size}")
    q["perplexity_fp32"] = _ppl(nll_r)
    q["perplexity_increase_pct"] = round(100.0 * (q["perplexity"] / q["perplexity_fp32"] - 1.0), 9)
    q["perplexity_increase_ci"], w = paired_ppl_change(nll_v, nll_r, baseline.get("text_offsets"), confidence)
    if w:
        why["perplexity_increase_ci"] = w
    q["text_top1_agreement"] = float(np.mean(np.asarray(device["text_argmax"]) == np.asarray(baseline["text_argmax"])))
    if "gen_argmax" in baseline and "gen_ids" in device:
        gen, ref = np.asarray(device["gen_ids"]), np.asarray(baseline["gen_argmax"])
        if gen.shape != ref.shape:
            raise ValueError(f"{gen.size} generated tokens but {ref.size} fp32 predictions along them")
        same = gen == ref
        q["token_agreement"] = float(same.mean()) if same.size else None
        q["token_agreement_positions"] = int(same.size)
        off = np.asarray(device["gen_offsets"], dtype=np.int64)
        firsts = [int(np.argmin(same[a:b])) if not same[a:b].all() else None for a, b in zip(off[:-1], off[1:])]
        diverged = [f for f in firsts if f is not None]
        q["first_divergence"] = {"prompts": len(firsts), "diverged": len(diverged),
                                 "median_position": float(np.median(diverged)) if diverged else None}
    else:
        why["token_agreement"] = "no fp32 predictions along the board's generations"
    if controller is not None and "text_nll" in controller:
        c = _ppl(controller["text_nll"])
        q["loss_chain"] = {"perplexity_fp32": q["perplexity_fp32"], "perplexity_controller": c,
                           "perplexity_board": q["perplexity"],
                           "quantization_pct": 100.0 * (c / q["perplexity_fp32"] - 1.0),
                           "runtime_pct": 100.0 * (q["perplexity"] / c - 1.0)}
    return q


def _energy_per_token(power: dict | None, tokens_per_call) -> tuple[float | None, str | None]:
    if not power:
        return None, "power not measured (the device has no power: section)"
    e = power.get("e_total_mj") or {}
    if not isinstance(e, dict) or e.get("mean") is None:
        return None, power.get("reason") or "no energy in the power windows"
    if not tokens_per_call:
        return None, "the agent did not say how many tokens one power call generated"
    return e["mean"] / 1e3 / tokens_per_call, None


def generative_summary(ev: dict, device, baseline, controller, gates: dict | None, *,
                       confidence: float = 0.95) -> dict:
    from .noise import noise_summary

    s = common_summary(ev, confidence)
    g = ev.get("generate") or {}
    pr = g.get("prompts") or {}
    s["task"] = "generate"
    s["latency"]["measures"] = "decode: token-to-token time over the prompt set (throughput_ips = tokens/s)"
    ttft = latency_stats(pr.get("ttft_ns"), confidence=confidence)
    decode_tokens = [max(0, int(n) - 1) for n in pr.get("tokens") or []]
    gen = {"ttft_cold_ms": g.get("ttft_cold_ns") / 1e6 if g.get("ttft_cold_ns") else None,
           "ttft": {k: ttft.get(k) for k in ("n", "p50", "p50_ci", "p90", "p90_ci", "mean", "reasons")},
           "prefill": _prefill(g.get("prefill"), confidence),
           "decode": _decode(g.get("decode"), confidence),
           "layers": g.get("layers"), "kv_bytes_per_token": g.get("kv_bytes_per_token"),
           "prompts": len(pr.get("tokens") or []), "tokens_generated": int(sum(pr.get("tokens") or [])),
           "stops": {k: (pr.get("stop") or []).count(k) for k in sorted(set(pr.get("stop") or []))},
           "settings": g.get("settings")}
    # Σ step times per prompt, from the pooled latencies split by each prompt's decode steps
    lat = ev.get("latencies_ns")
    lat = np.asarray([] if lat is None else lat, dtype=np.float64)
    bounds = np.concatenate([[0], np.cumsum(decode_tokens)]).astype(int)
    if bounds[-1] == lat.size:
        per_prompt = [float(lat[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])]
        gen["decode_tokens_per_s"] = _cluster_rate(decode_tokens, per_prompt, confidence)
    else:
        gen["decode_tokens_per_s"] = {"value": s["latency"].get("throughput_ips"), "ci": None,
                                      "reason": "per-prompt token counts do not match the latencies"}
    run_ns = pr.get("run_ns")
    step_total = float(lat.sum()) + float(np.sum(pr.get("ttft_ns") or [0]))
    gen["harness_overhead"] = (None if not run_ns or not step_total else
                               {"runtime_share": float(run_ns) / step_total,
                                "note": "time inside the runtime call / token-to-token time (feeds, argmax, loop)"})
    s["generate"] = gen
    if ev.get("power") is not None or ev.get("thermal") is not None:
        from ..power.summary import summarize_power, summarize_thermal
        s["power"] = summarize_power(ev.get("power"), confidence)
        s["thermal"] = summarize_thermal(ev.get("thermal"))
    gen["energy_per_token_j"], why_e = _energy_per_token(s.get("power"), g.get("power_tokens_per_call"))
    if why_e:
        gen["energy_reason"] = why_e
    s["noise"] = noise_summary(ev.get("noise"))
    s["quality"] = _quality(device, baseline, controller, confidence)
    s["accuracy"] = {"top1": None, "drop_pt": None, "reason": "a language model: see quality (perplexity, agreement)"}
    s["fidelity"] = {"primary": {"output": "logits", "reason": "a language model: see quality.token_agreement"}}
    s["scoring"] = {"scores": None, "label": None, "chosen_by": "generative: teacher-forced next-token scoring"}
    s["scenario"] = {"name": "generate"}
    q = s["quality"]
    m = {"p50_ms": s["latency"].get("p50"), "p90_ms": s["latency"].get("p90"), "p99_ms": s["latency"].get("p99"),
         "mean_ms": s["latency"].get("mean"), "peak_rss_mb": s["peak_rss_mb"], "load_ms": s["load_ms"],
         "perplexity_increase_pct": q["perplexity_increase_pct"], "token_agreement": q["token_agreement"],
         "decode_tokens_per_s": gen["decode_tokens_per_s"]["value"], "ttft_ms": ttft.get("p50"),
         "top1": None, "accuracy_drop_pt": None}
    why = {"perplexity_increase_pct": q["reasons"].get("perplexity_fp32") or q["reasons"].get("perplexity"),
           "token_agreement": q["reasons"].get("token_agreement"),
           "ttft_ms": (ttft.get("reasons") or {}).get("p50"),
           "top1": "a language model has no labels", "accuracy_drop_pt": "a language model has no labels"}
    why = {k: v for k, v in why.items() if v and m.get(k) is None}
    s["gate_metrics"], s["gate_metric_reasons"] = m, why
    results = check_gates(gates or {}, m, why)
    s["gates"] = [r.to_dict() for r in results]
    s["passed"] = all_passed(results)
    return s

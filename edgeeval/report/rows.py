"""One row per variant result, with documented columns: the CSV, the Markdown tables and the HTML
summary all read these rows. Units are in the column names. A figure that was not measured is None
(empty in the CSV) and its reason is in `notes`; nothing is ever zero for unknown.

perf/W is inferences per joule: measured (the power windows' mean) where the board has a sensor,
else throughput ÷ the declared `tdp_w` — an upper bound on power, so a lower bound on efficiency,
labelled `tdp` in `perf_per_w_basis`. perf/$ is inferences per second per declared `price_usd`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    meaning: str


COLUMNS = [Column(*c) for c in (
    ("run_id", "run", "store id of the run"),
    ("created_at", "when", "run start, ISO 8601 UTC"),
    ("campaign", "campaign", "farm campaign the run belongs to (empty for a desk deploy)"),
    ("recipe", "recipe", "recipe name"),
    ("variant", "variant", "variant label"),
    ("precision", "precision", "fp32, fp16, int8-dynamic, int8-static, int8 (TFLite full integer) or int4 (weight-only)"),
    ("device", "board", "inventory name"),
    ("device_cpu", "CPU", "the board's CPU model as probed"),
    ("runtime", "runtime", "runtime and version the board reported"),
    ("status", "status", "ok, failed (a gate failed) or error"),
    ("scenario", "scenario", "single-stream, multi-stream, server, offline, or generate (a language model)"),
    ("model_size_mb", "size MB", "artifact size, 10^6 bytes"),
    ("p50_ms", "p50 ms", "median latency, ms"),
    ("p50_ci_low_ms", "p50 lo", "95% interval of p50, low end, ms"),
    ("p50_ci_high_ms", "p50 hi", "95% interval of p50, high end, ms"),
    ("p90_ms", "p90 ms", "90th percentile latency, ms"),
    ("p90_ci_low_ms", "p90 lo", "95% interval of p90, low end, ms"),
    ("p90_ci_high_ms", "p90 hi", "95% interval of p90, high end, ms"),
    ("p99_ms", "p99 ms", "99th percentile latency, ms"),
    ("throughput_ips", "inf/s", "inferences per second (single-stream: 1/mean latency; offline: best batch; server: completed)"),
    ("throughput_ci_low_ips", "inf/s lo", "95% interval of the throughput, low end (batch means)"),
    ("throughput_ci_high_ips", "inf/s hi", "95% interval of the throughput, high end"),
    ("cold_start_ms", "cold ms", "session creation + first inference, ms"),
    ("energy_mj", "mJ/inf", "energy per inference, mJ (power windows' mean)"),
    ("inferences_per_j", "inf/J", "inferences per joule, measured"),
    ("power_w", "W", "mean power while inferring, W"),
    ("top1_pct", "top-1 %", "top-1 accuracy on the eval set, %"),
    ("baseline_top1_pct", "FP32 %", "the server FP32 model's top-1 on the same samples, %"),
    ("accuracy_drop_pt", "drop pt", "baseline top-1 minus this top-1, percentage points"),
    ("cosine", "cosine", "mean cosine of the scored output against the server FP32 output"),
    ("gates_passed", "gates", "every gate passed (true/false; empty when the recipe has none)"),
    ("failed_gates", "failed", "the gates that failed, with value and limit"),
    ("noisy", "noisy", "the timed window was noisy (steal or other processes busy)"),
    ("throttled", "throttled", "the board throttled (empty: no thermal data)"),
    ("peak_rss_mb", "RSS MiB", "peak resident memory of the runner, MiB"),
    ("price_usd", "$", "the board's declared price, USD"),
    ("tdp_w", "TDP W", "the board's declared TDP, W"),
    ("ips_per_usd", "perf/$", "perf/$: throughput_ips ÷ price_usd"),
    ("perf_per_w", "perf/W", "perf/W: inferences per joule, measured, else throughput ÷ tdp_w"),
    ("perf_per_w_ci_low", "perf/W lo", "95% interval of perf/W, low end (power windows, or throughput's ÷ tdp_w)"),
    ("perf_per_w_ci_high", "perf/W hi", "95% interval of perf/W, high end"),
    ("perf_per_w_basis", "basis", "measured, or tdp (throughput ÷ declared TDP: a lower bound)"),
    ("gops_per_inference", "Gop/inf", "operations per inference, 10^9 (2 x MACs of Conv/Gemm/MatMul, ONNX graph)"),
    ("achieved_gops", "Gop/s", "operations per second achieved: gops_per_inference x throughput_ips"),
    ("peak_gops", "peak Gop/s", "the board's declared peak for this precision (facts: peak_gops)"),
    ("utilisation_pct", "util %", "achieved_gops / peak_gops, %"),
    # language models (task generate): the latency columns above are the decode step (token to token),
    # throughput_ips is decode tokens/s, an "inference" of energy_mj is one generation of power_tokens
    ("ttft_ms", "TTFT ms", "language model: warm time to first token (prefill + first token), p50 over the prompts, ms"),
    ("ttft_cold_ms", "TTFT cold ms", "language model: session creation + prefill + first token, ms"),
    ("decode_tokens_per_s", "tg t/s", "language model: decode tokens per second over the prompt set"),
    ("decode_tokens_per_s_ci_low", "tg lo", "95% interval of decode tokens/s, low end (bootstrap over prompts)"),
    ("decode_tokens_per_s_ci_high", "tg hi", "95% interval of decode tokens/s, high end"),
    ("prefill_tokens", "pp tokens", "language model: the longest prompt length timed for prefill, tokens"),
    ("prefill_tokens_per_s", "pp t/s", "language model: prefill tokens per second at prefill_tokens (median run)"),
    ("perplexity", "ppl", "language model: perplexity of the text set on the board"),
    ("perplexity_increase_pct", "Δppl %", "language model: perplexity change against the server fp32, %"),
    ("perplexity_increase_ci_low_pct", "Δppl lo", "95% interval of the change, low end (paired bootstrap over texts)"),
    ("perplexity_increase_ci_high_pct", "Δppl hi", "95% interval of the change, high end"),
    ("token_agreement", "agree", "language model: share of generated positions where fp32 picks the same token"),
    ("energy_per_token_j", "J/tok", "language model: energy per generated token, J (power windows' mean)"),
    ("stage", "stage", "adaptation stage reached: 0 did not run, 1 runs, 2 aligned, 3 fits the scenario"),
    ("stage_name", "stage name", "the stage's name"),
    ("stage_reason", "why not next", "why the next stage was not reached"),
    ("notes", "notes", "why a figure is empty: column: reason; …"),
)]
KEYS = [c.key for c in COLUMNS]


def _pct(x):
    return None if x is None else 100.0 * x


def _ci(lat: dict, key: str, i: int):
    ci = lat.get(f"{key}_ci")
    return ci[i] if ci and ci[i] is not None else None


def _stat(block: dict | None, key: str):
    v = (block or {}).get(key)
    return v.get("mean") if isinstance(v, dict) else v


def throughput_ci_of(v: dict) -> list | None:
    sc = v.get("scenario") or {}
    ci = ((sc.get("headline") or {}) if sc.get("name") == "offline" else (sc.get("throughput") or {})).get("ci")
    return ci if ci and ci[0] is not None and ci[1] is not None else None


def throughput_of(v: dict) -> float | None:
    """Inferences per second: offline's best batch, server's completed rate, else the latency's."""
    sc = v.get("scenario") or {}
    lat = v.get("latency") or {}
    if sc.get("name") == "offline":
        return (sc.get("headline") or {}).get("value")
    if sc.get("name") == "server":
        return (sc.get("throughput") or {}).get("value")
    return lat.get("throughput_ips")


def variant_row(run: dict, v: dict) -> dict:
    """The row of variant `v` of run document `run` (results_json.run_json)."""
    lat = v.get("latency") or {}
    sc = v.get("scenario") or {}
    acc = v.get("accuracy") or {}
    fid = (v.get("fidelity") or {}).get("primary") or {}
    power = v.get("power")
    th = v.get("thermal")
    facts = run.get("device_facts") or {}
    declared = run.get("declared_facts") or {}
    rt = v.get("runtime") or {}
    stage = v.get("adaptation") or {}
    tput, tci = throughput_of(v), throughput_ci_of(v) or [None, None]
    gates = v.get("gates") or []
    cold = None
    if v.get("load_ms") is not None and v.get("first_inference_ms") is not None:
        cold = v["load_ms"] + v["first_inference_ms"]
    row = {
        "run_id": run.get("run_id"), "created_at": run.get("created_at"),
        "campaign": ((run.get("settings") or {}).get("farm") or {}).get("campaign"),
        "recipe": run.get("recipe"), "variant": v.get("name"), "precision": v.get("precision"),
        "device": run.get("device"), "device_cpu": (facts.get("cpu") or {}).get("model"),
        "runtime": " ".join(str(x) for x in (rt.get("name"), rt.get("version")) if x) or None,
        "status": v.get("status"), "scenario": sc.get("name"), "model_size_mb": v.get("model_size_mb"),
        "p50_ms": lat.get("p50"), "p50_ci_low_ms": _ci(lat, "p50", 0), "p50_ci_high_ms": _ci(lat, "p50", 1),
        "p90_ms": lat.get("p90"), "p90_ci_low_ms": _ci(lat, "p90", 0), "p90_ci_high_ms": _ci(lat, "p90", 1),
        "p99_ms": lat.get("p99"), "throughput_ips": tput, "cold_start_ms": cold,
        "throughput_ci_low_ips": tci[0], "throughput_ci_high_ips": tci[1],
        "energy_mj": _stat(power, "e_total_mj"), "inferences_per_j": _stat(power, "inferences_per_j"),
        "power_w": _stat(power, "p_active_w"),
        "top1_pct": _pct(acc.get("top1")), "baseline_top1_pct": _pct(acc.get("baseline_top1")),
        "accuracy_drop_pt": acc.get("drop_pt"), "cosine": fid.get("cosine_mean"),
        "gates_passed": all(g.get("passed") is True for g in gates) if gates else None,
        "failed_gates": "; ".join(f"{g['name']} {g.get('value')!s} vs {g.get('limit')}" for g in gates
                                  if g.get("passed") is not True) or None,
        "noisy": (v.get("noise") or {}).get("noisy"), "throttled": (th or {}).get("throttled"),
        "peak_rss_mb": v.get("peak_rss_mb"),
        "price_usd": declared.get("price_usd"), "tdp_w": declared.get("tdp_w"),
        "stage": stage.get("stage"), "stage_name": stage.get("name"), "stage_reason": stage.get("reason"),
    }
    u = v.get("utilisation") or {}
    row["gops_per_inference"] = None if u.get("ops_per_inference") is None else u["ops_per_inference"] / 1e9
    row["achieved_gops"], row["peak_gops"] = u.get("achieved_gops"), u.get("peak_gops")
    row["utilisation_pct"] = _pct(u.get("fraction"))
    row.update(_generative(v))
    notes = {}
    row["ips_per_usd"] = tput / row["price_usd"] if tput and row["price_usd"] else None
    if row["ips_per_usd"] is None:
        notes["ips_per_usd"] = "no declared price_usd (devices: facts: price_usd)" if not row["price_usd"] else "no throughput"
    row["perf_per_w_ci_low"] = row["perf_per_w_ci_high"] = None
    if row["inferences_per_j"] is not None:
        row["perf_per_w"], row["perf_per_w_basis"] = row["inferences_per_j"], "measured"
        ci = ((power or {}).get("inferences_per_j") or {}).get("ci")
        if ci and ci[0] is not None and ci[1] is not None:
            row["perf_per_w_ci_low"], row["perf_per_w_ci_high"] = ci
    elif tput and row["tdp_w"]:
        row["perf_per_w"], row["perf_per_w_basis"] = tput / row["tdp_w"], "tdp"
        if row["throughput_ci_low_ips"] is not None and row["throughput_ci_high_ips"] is not None:
            row["perf_per_w_ci_low"] = row["throughput_ci_low_ips"] / row["tdp_w"]
            row["perf_per_w_ci_high"] = row["throughput_ci_high_ips"] / row["tdp_w"]
    else:
        row["perf_per_w"] = row["perf_per_w_basis"] = None
        notes["perf_per_w"] = "no power measured and no declared tdp_w" if tput else "no throughput"
    reasons = v.get("reasons") or {}
    for col, src in (("energy_mj", "power"), ("top1_pct", "accuracy"), ("throttled", "thermal")):
        if row[col] is None:
            notes[col] = (acc.get("reason") if col == "top1_pct" else None) or reasons.get(src) or "not measured"
    if row["utilisation_pct"] is None:
        notes["utilisation_pct"] = u.get("reason") or "not computed"
    elif u.get("lower_bound"):
        notes["utilisation_pct"] = "a lower bound: some operators were not counted"
    if row["p50_ms"] is None:
        notes["p50_ms"] = v.get("error") or reasons.get("latency") or "no latency"
    row["notes"] = "; ".join(f"{k}: {w}" for k, w in notes.items()) or None
    return {k: row.get(k) for k in KEYS}


def _generative(v: dict) -> dict:
    """The language-model columns (evaluate/generative.py); empty for every other model."""
    if v.get("task") != "generate":
        return {}
    g, q = v.get("generate") or {}, v.get("quality") or {}
    dec = g.get("decode_tokens_per_s") or {}
    dci = dec.get("ci") or [None, None]
    pp = [r for r in g.get("prefill") or [] if r.get("tokens_per_s") is not None]
    pp = max(pp, key=lambda r: r["tokens"]) if pp else {}
    pci = q.get("perplexity_increase_ci") or [None, None]
    return {"ttft_ms": (g.get("ttft") or {}).get("p50"), "ttft_cold_ms": g.get("ttft_cold_ms"),
            "decode_tokens_per_s": dec.get("value"), "decode_tokens_per_s_ci_low": dci[0],
            "decode_tokens_per_s_ci_high": dci[1], "prefill_tokens": pp.get("tokens"),
            "prefill_tokens_per_s": pp.get("tokens_per_s"), "perplexity": q.get("perplexity"),
            "perplexity_increase_pct": q.get("perplexity_increase_pct"),
            "perplexity_increase_ci_low_pct": pci[0], "perplexity_increase_ci_high_pct": pci[1],
            "token_agreement": q.get("token_agreement"), "energy_per_token_j": g.get("energy_per_token_j")}


def rows_of(runs: list[dict]) -> list[dict]:
    return [variant_row(r, v) for r in runs for v in r.get("variants") or []]


def latest_per_board(rows: list[dict]) -> list[dict]:
    """The newest row per (recipe, board, variant), in (recipe, board, variant) order."""
    best: dict = {}
    for r in rows:
        k = (r["recipe"], r["device"], r["variant"])
        if k not in best or (r["run_id"] or 0) > (best[k]["run_id"] or 0):
            best[k] = r
    return [best[k] for k in sorted(best, key=lambda k: tuple(str(x) for x in k))]

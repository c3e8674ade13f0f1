"""The adaptation stage a model reached on a board, with the reason it did not reach the next.

The three stages hardware–software adaptation test centres use:

1. **runs** — it builds, deploys and produces valid outputs without errors: the variant finished,
   timed at least one inference, and every output it returned is finite.
2. **aligned** — accuracy within the recipe's gate (at least one accuracy or fidelity gate, all of
   them passed) and latency within the recipe's targets (every latency gate passed).
3. **fits the scenario** — the scenario's requirement holds under realistic conditions: the timed
   window was quiet, the board did not throttle (thermal data is needed to say so), the memory and
   load budgets of the recipe hold and the peak RSS fits the board's memory, and the scenario's own
   test passes (server: p99 within the bound at the target QPS by LoadGen's early stopping;
   single- and multi-stream: enough queries for the early-stopping percentile, and that estimate
   inside the latency gate; a sustained profile: steady state reached).

Stage 0 is "did not run". A stage is claimed only on evidence: what was not measured stops the
climb, and the reason says what to measure.
"""

from __future__ import annotations

import math

NAMES = {0: "did not run", 1: "runs", 2: "aligned", 3: "fits the scenario"}
ACCURACY_GATES = ("accuracy_drop_pt", "min_accuracy", "min_top1_agreement", "min_cosine",
                  "min_retrieval_agreement", "max_abs_error", "min_psnr_db",
                  "max_perplexity_increase_pct", "min_token_agreement")          # language models
LATENCY_GATES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_decode_tokens_per_s", "max_ttft_ms")
BUDGET_GATES = ("max_peak_rss_mb", "max_load_ms")


def _result(stage: int, reason: str | None) -> dict:
    return {"stage": stage, "name": NAMES[stage], "next": None if stage == 3 else NAMES[stage + 1],
            "reason": reason}


def _failed(gates: list[dict], names: tuple[str, ...]) -> list[str]:
    out = []
    for g in gates:
        if g.get("name") in names and g.get("passed") is not True:
            v = g.get("value")
            out.append(f"{g['name']} {'not measured' if v is None else f'{v:.4g}'} against {g.get('limit'):g}"
                       + (f" ({g['reason']})" if v is None and g.get("reason") else ""))
    return out


def _outputs_finite(v: dict) -> bool | None:
    """False when an output compared with the server reference gave a non-finite figure (NaN or inf
    in what the board returned); None when nothing was compared."""
    fid = v.get("fidelity") or {}
    vals = [e.get(k) for name, e in fid.items() if name != "primary" and isinstance(e, dict)
            for k in ("cosine_mean", "max_abs_error")]
    vals = [x for x in vals if x is not None]
    if not vals:
        return None
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in vals)


def adaptation(v: dict, run: dict) -> dict:
    """{stage, name, next, reason} for one variant of a run document (results_json.run_json)."""
    if v.get("status") == "error" or not v.get("latency"):
        why = v.get("error") or (v.get("reasons") or {}).get("latency") or "no result"
        return _result(0, f"it did not run to a result: {why}")
    lat = v.get("latency") or {}
    if not lat.get("n"):
        return _result(0, "no inference was timed")
    finite = _outputs_finite(v)
    if finite is False:
        return _result(0, "an output is not finite (NaN or inf against the server reference)")
    gates = v.get("gates") or []
    names = {g.get("name") for g in gates}
    # stage 1 reached; to 2: accuracy gated and within, latency within its targets
    bad = _failed(gates, LATENCY_GATES) + _failed(gates, ACCURACY_GATES)
    if not names & set(ACCURACY_GATES):
        bad.append("the recipe states no accuracy or fidelity gate (gates: accuracy_drop_pt, min_cosine, "
                   "max_perplexity_increase_pct, …): "
                   "alignment cannot be claimed")
    if bad:
        return _result(1, "; ".join(bad))
    # stage 2 reached; to 3: the scenario's requirement under realistic conditions
    why = _scenario_reason(v, run, gates)
    return _result(2, why) if why else _result(3, None)


def _scenario_reason(v: dict, run: dict, gates: list[dict]) -> str | None:
    noise = v.get("noise") or {}
    if noise.get("noisy"):
        return "the timed window was noisy: " + "; ".join((noise.get("noisy_reasons") or [])[:2])
    th = v.get("thermal") or {}
    if th.get("throttled"):
        return "the board throttled during the run"
    if th.get("throttled") is None:
        return ("no thermal data, so sustained performance is not shown (configure `power:` on the device, "
                "or run the `sustained` profile where the board has a thermal zone)")
    bad = _failed(gates, BUDGET_GATES)
    if bad:
        return "; ".join(bad)
    rss = v.get("peak_rss_mb")
    mem_kb = ((run.get("device_facts") or {}).get("memory") or {}).get("total_kb")
    if rss is not None and mem_kb and rss * 1024 > mem_kb:
        return f"peak RSS {rss:.0f} MiB exceeds the board's {mem_kb / 1024:.0f} MiB"
    sc = v.get("scenario") or {}
    name = sc.get("name") or "single-stream"
    if name == "server":
        srv = sc.get("server") or {}
        if srv.get("latency_bound_ms") is None:
            return "server scenario without a latency bound: nothing to hold"
        es = srv.get("early_stopping") or {}
        if not es.get("passed"):
            return (f"p99 not shown within {srv['latency_bound_ms']:g} ms at {srv.get('target_qps')} QPS by early "
                    f"stopping ({es.get('overlatency')} of {es.get('n')} queries over the bound)")
    elif name in ("single-stream", "multi-stream"):
        es = sc.get("early_stopping") or {}
        if es.get("value_ms") is None:
            return es.get("reason") or "no early-stopping estimate"
        key = "p90_ms" if name == "single-stream" else "p99_ms"
        g = next((g for g in gates if g.get("name") == key), None)
        if g is not None and es["value_ms"] > g["limit"]:
            return (f"the early-stopping {key[:3]} estimate {es['value_ms']:.4g} ms exceeds the {g['limit']:g} ms target "
                    f"(the measured {key[:3]} passed, but too few queries to be sure)")
    sus = sc.get("sustained")
    if sus is not None and sus.get("stop") not in (None, "steady"):
        return f"steady state not reached ({sus.get('stop')})"
    return None

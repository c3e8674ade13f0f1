"""One variant's numbers, from the agent's `result` event and the fetched outputs.

`summarize_variant` is the single path from raw data to the stored summary; the store keeps
that raw data (latencies, outputs, labels, the event's scalars, gates) so `recompute`
gives the identical dict later. Every None in the summary has a reason next to it.

Shape (JSON-serialisable):
    latency       latency_stats(), in ms: n, p50, p90, p99, p50_ci [lo, hi], .., mean, std, ...
    load_ms, first_inference_ms, peak_rss_mb (KiB / 1024), warmup {n, mean_ms}
    scoring       {scores, label, chosen_by}: the outputs scored (evaluate/scoring.py)
    accuracy      {output, method, top1, baseline_top1, baseline_source, drop_pt, samples, reason}
    fidelity      {output name: fidelity() or {reason}, "primary": the scored output's entry + "output"}
    gate_metrics  the flat metrics the gates read (gate_metric_reasons: why one is None)
    gates         [GateResult dicts]; passed: every gate passed
    noise         noise_summary(): steal/other-load shares of the timed window, `noisy` flag
    reasons       why a top-level number is None
"""

from __future__ import annotations

import numpy as np

from .accuracy import accuracy_of
from .common import common_summary
from .fidelity import fidelity, label_fidelity
from .gates import all_passed, check_gates
from .scoring import legacy as legacy_scoring
from .scoring import output_kind, predictions
from .scoring import primary as scoring_primary


def _primary_name(event: dict, device: dict | None, baseline: dict | None) -> str | None:
    names = (event.get("accuracy") or {}).get("output_names") or []
    if names:
        return names[0]
    for outs in (device, baseline):
        if outs:
            return next(iter(outs))
    return None


def _accuracy(scoring: dict, device, baseline, labels, baseline_accuracy) -> dict:
    acc = {"output": scoring_primary(scoring) if scoring.get("label") is None else scoring["label"],
           "method": "predicted label" if scoring.get("label") else "argmax of class scores",
           "top1": None, "baseline_top1": None, "baseline_source": None,
           "drop_pt": None, "samples": None, "reason": None}
    why: list[str] = []
    out = acc["output"]
    if baseline_accuracy is not None:
        acc["baseline_top1"], acc["baseline_source"] = float(baseline_accuracy), "given"
    if labels is None:
        acc["reason"] = "the eval set has no labels"
        return acc
    if device is None:
        why.append("no device outputs (accuracy pass disabled or its outputs not fetched)")
    elif out not in device:
        why.append(f"the board returned no output {out!r} (it returned {', '.join(map(repr, device)) or 'none'}"
                   + ("; a virtual board's synthetic runtime computes no model outputs)" if "synthetic" in device
                      else ")"))
    else:
        try:
            pred = predictions(device, scoring)
            acc["top1"] = accuracy_of(pred, labels, what=f"output {out!r}")
            acc["samples"] = int(pred.shape[0])
        except ValueError as e:
            why.append(f"output {out!r}: {e}")
    if acc["baseline_top1"] is None:
        if baseline is None or out not in baseline:
            why.append("no baseline outputs")
        else:
            try:
                acc["baseline_top1"] = accuracy_of(predictions(baseline, scoring), labels,
                                                   what=f"baseline output {out!r}")
                acc["baseline_source"] = "baseline outputs"
            except ValueError as e:
                why.append(f"baseline output {out!r}: {e}")
    if acc["top1"] is not None and acc["baseline_top1"] is not None:
        # rounded so a drop of exactly 1 point is 1.0, not 1.0000000000000009 (gate limits)
        acc["drop_pt"] = round((acc["baseline_top1"] - acc["top1"]) * 100.0, 9)
    acc["reason"] = "; ".join(why) or None
    return acc


def _fidelity(scoring: dict, device, baseline) -> dict:
    """{output name: fidelity()} plus "primary": the scored output's entry with its "output" name."""
    primary = scoring_primary(scoring)
    fid: dict = {}
    if baseline is None or device is None:
        why = "no baseline outputs" if baseline is None else \
            "no device outputs (accuracy pass disabled or its outputs not fetched)"
        fid["primary"] = {"output": primary, "reason": why}
        return fid
    for name in list(device) + [n for n in baseline if n not in device]:
        if name not in baseline:
            fid[name] = {"reason": f"output {name!r} missing from the baseline outputs"}
        elif name not in device:
            fid[name] = {"reason": f"output {name!r} missing from the device outputs"}
        else:
            try:
                is_label = name == scoring.get("label") or output_kind(baseline[name]) == "label"
                fid[name] = (label_fidelity if is_label else fidelity)(baseline[name], device[name])
            except ValueError as e:
                fid[name] = {"reason": f"output {name!r}: {e}"}
    fid["primary"] = {"output": primary, **fid.get(primary, {"reason": f"no output {primary!r}"})}
    return fid


_LATENCY_GATES = {"p50_ms": "p50", "p90_ms": "p90", "p99_ms": "p99", "mean_ms": "mean"}
_FIDELITY_GATES = ("top1_agreement", "cosine_mean", "max_abs_error", "psnr_db")


def _gate_metrics(s: dict) -> tuple[dict, dict]:
    """The flat metric dict the gates read, and a reason for each None."""
    lat, acc, prim = s["latency"], s["accuracy"], s["fidelity"]["primary"]
    m: dict = {}
    why: dict = {}
    for k, src in _LATENCY_GATES.items():
        m[k], why[k] = lat.get(src), lat["reasons"].get(src)
    m["top1"] = acc["top1"]
    m["accuracy_drop_pt"] = acc["drop_pt"]
    why["top1"] = why["accuracy_drop_pt"] = acc["reason"]
    for k in _FIDELITY_GATES:
        m[k] = prim.get(k)
        why[k] = (prim.get("reasons") or {}).get(k) or prim.get("reason")
    for k in ("peak_rss_mb", "load_ms"):
        m[k], why[k] = s[k], s["reasons"].get(k)
    return m, {k: v for k, v in why.items() if v and m.get(k) is None}


def summarize_variant(result_event: dict, device_outputs: dict[str, np.ndarray] | None,
                      baseline_outputs: dict[str, np.ndarray] | None, labels: np.ndarray | None,
                      baseline_accuracy: float | None, gates: dict | None, *,
                      confidence: float = 0.95, embedding_mask: np.ndarray | None = None,
                      controller_outputs: dict[str, np.ndarray] | None = None,
                      scoring: dict | None = None) -> dict:
    """All numbers for one variant, gates included; see the module docstring for the shape.

    `scoring` (evaluate/scoring.py choose()) names the scored outputs; None scores the first output.

    `embedding_mask` (the eval set's attention mask) marks an embedding task: an `embeddings`
    block is added (evaluate/embeddings.py) and the cosine/retrieval gates read it.
    """
    ev = result_event
    if ev.get("task") == "generate":   # a language model: tokens, perplexity, agreement (evaluate/generative.py)
        from .generative import generative_summary
        return generative_summary(ev, device_outputs, baseline_outputs, controller_outputs, gates,
                                  confidence=confidence)
    s = common_summary(ev, confidence)
    from .scenarios import scenario_summary  # scenario block: headline figure, intervals, early stopping
    s["scenario"] = scenario_summary(ev, confidence=confidence)
    if s["scenario"]["name"] == "server":  # server latency includes queueing: n / sum(latency) is no rate
        lat = s["latency"]
        lat["throughput_ips"] = lat["throughput_wall_ips"] = s["scenario"]["throughput"]["value"]
        lat["throughput_method"] = "server: completed queries / timed wall time"
        lat["reasons"].pop("throughput_ips", None)
        if lat["throughput_ips"] is None:
            lat["reasons"]["throughput_ips"] = s["scenario"]["throughput"]["reason"]
    if scoring is None:
        scoring = legacy_scoring(_primary_name(ev, device_outputs, baseline_outputs))
    scoring = {k: scoring.get(k) for k in ("scores", "label", "chosen_by")}
    primary = scoring_primary(scoring)
    s["scoring"] = scoring
    s["accuracy"] = _accuracy(scoring, device_outputs, baseline_outputs, labels, baseline_accuracy)
    s["fidelity"] = _fidelity(scoring, device_outputs, baseline_outputs)
    if controller_outputs is not None:  # quantized variants: fp32 -> controller -> board (evaluate/losschain.py)
        from .losschain import loss_chain
        s["loss_chain"] = loss_chain(scoring, labels, baseline_outputs, controller_outputs, device_outputs)
    if ev.get("power") is not None or ev.get("thermal") is not None:  # only jobs that measured power
        from ..power.summary import summarize_power, summarize_thermal
        s["power"] = summarize_power(ev.get("power"), confidence)
        s["thermal"] = summarize_thermal(ev.get("thermal"))
    from .noise import noise_summary  # was the timed window noisy (steal, other load)?
    s["noise"] = noise_summary(ev.get("noise"))
    if embedding_mask is not None:  # embedding task: pooled cosine + retrieval agreement, no labels
        from .embeddings import NO_LABELS, embeddings_block
        s["embeddings"] = embeddings_block(device_outputs, baseline_outputs, embedding_mask, primary)
        if labels is None:
            s["accuracy"]["reason"] = NO_LABELS
    metrics, why = _gate_metrics(s)
    metrics.setdefault("retrieval_top1_agreement", None)
    why.setdefault("retrieval_top1_agreement", "not an embedding task (no embeddings block)")
    if "embeddings" in s:
        from .embeddings import gate_metrics as _embedding_gate_metrics
        em, ew = _embedding_gate_metrics(s["embeddings"])
        metrics.update(em)
        for k in em:
            why.pop(k, None)
        why.update(ew)
    s["gate_metrics"], s["gate_metric_reasons"] = metrics, why
    results = check_gates(gates or {}, metrics, why)
    s["gates"] = [r.to_dict() for r in results]
    s["passed"] = all_passed(results)
    return s


def recompute_variant(store, variant_id: int) -> dict:
    """summarize_variant() again on a stored variant's raw data; equals the stored summary."""
    return recompute(store.variant_inputs(variant_id))


def recompute(stored: dict) -> dict:
    """Summary from stored data: {"event", "raw": {kind: array|dict}, "gates", "baseline_accuracy"}."""
    from ..rawdata import join_event

    raw = stored.get("raw") or {}
    event = join_event(stored.get("event") or {}, raw)
    return summarize_variant(event, raw.get("device_outputs"), raw.get("baseline_outputs"),
                             raw.get("labels"), stored.get("baseline_accuracy"), stored.get("gates"),
                             confidence=stored.get("confidence", 0.95),
                             embedding_mask=raw.get("embedding_mask"),
                             controller_outputs=raw.get("controller_outputs"),
                             scoring=stored.get("scoring"))

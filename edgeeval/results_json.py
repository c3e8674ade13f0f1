"""The one JSON document of a run, shared by `deploy --json` and `results show --json`.

Documented in docs/json-schema.md. Every key is always present: a figure that was not measured
is `null` and its reason is in the enclosing `reasons` object (per run or per variant), never a
missing key. `schema_version` changes when a key is removed or changes meaning; keys may be added.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# per-variant blocks that only some runs have (power, embeddings, loss chain ...): always present
_OPTIONAL_BLOCKS = {
    "power": "no power measurement configured for this device (devices: power:)",
    "thermal": "no power measurement configured for this device (thermal is sampled with power)",
    "embeddings": "not an embedding model",
    "loss_chain": "fp32 variant: nothing quantized to trace (the loss chain is for quantized variants)",
    "calibration": "this precision is not calibrated",
}
_SUMMARY_KEYS = ("scoring", "latency", "load_ms", "first_inference_ms", "warmup", "peak_rss_mb", "scenario",
                 "accuracy", "fidelity", "noise", "gate_metrics", "gate_metric_reasons", "gates", "passed")


def variant_json(*, name: str, precision: str | None, model_sha256: str | None, model_size_bytes: int | None,
                 variant_id: int | None, runtime: dict | None, status: str | None, summary: dict | None,
                 calibration: dict | None, error: str | None = None) -> dict:
    s = dict(summary or {})
    reasons = dict(s.pop("reasons", None) or {})
    out: dict = {"name": name, "precision": precision, "model_sha256": model_sha256,
                 "model_size_bytes": model_size_bytes,
                 "model_size_mb": None if model_size_bytes is None else round(model_size_bytes / 1e6, 6),
                 "variant_id": variant_id, "status": status, "error": error, "runtime": runtime}
    if model_size_bytes is None:
        reasons["model_size_bytes"] = reasons["model_size_mb"] = "not stored with this result"
    for k in _SUMMARY_KEYS:
        out[k] = s.pop(k, None)
        if out[k] is None and k not in reasons and summary is not None:
            reasons[k] = "not in this stored summary (recorded by an older edgeeval)"
    if summary is None:
        for k in _SUMMARY_KEYS:
            reasons.setdefault(k, f"the variant did not finish: {error or 'no summary'}")
    s["calibration"] = calibration
    for k, why in _OPTIONAL_BLOCKS.items():
        present = k in s
        out[k] = s.pop(k, None)
        if out[k] is None:
            reasons.setdefault(k, "requested, but the agent sent no data" if present and k != "calibration" else why)
    out.update(s)   # anything else the summary carries, unchanged
    out["reasons"] = reasons
    return out


def run_json(run: dict) -> dict:
    """The document for a stored run (store.get_run()), the same shape a deploy prints."""
    extra = run.get("extra") or {}
    settings = run.get("settings") or {}
    manifest = settings.get("build_manifest") or {}
    reasons: dict = {}
    if run.get("status") == "aborted":
        reasons["status"] = run.get("aborted_reason")
    if not extra.get("push"):
        reasons["push"] = "nothing pushed (the run stopped before the push, or an older edgeeval)"
    variants = []
    for v in run.get("variants") or []:
        vx = v.get("extra") or {}
        variants.append(variant_json(
            name=v["name"], precision=v.get("precision"), model_sha256=v.get("model_sha256"),
            model_size_bytes=v.get("model_size_bytes"), variant_id=v.get("id"), runtime=v.get("runtime"),
            status=v.get("status"), summary=v.get("summary"), calibration=vx.get("calibration"),
            error=v.get("error")))
        # what the summary is recomputed from (event scalars, gates, baseline accuracy, scoring) and the blobs
        variants[-1]["inputs"] = v.get("inputs")
        variants[-1]["raw_kinds"] = v.get("raw_kinds")
        variants[-1]["ops"] = vx.get("ops")
    if settings.get("declared_facts") is None:
        reasons["declared_facts"] = "not stored with this run (recorded by an older edgeeval)"
    baseline = extra.get("baseline")
    if baseline is None:
        top1 = next((v["accuracy"].get("baseline_top1") for v in variants if v.get("accuracy")), None)
        baseline = {"top1": top1}
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.get("id"),
        "uuid": run.get("uuid"),
        "recipe": run.get("recipe_name"),
        "recipe_path": run.get("recipe_path"),
        "device": run.get("device_name"),
        "status": run.get("status"),
        "passed": run.get("status") == "ok",
        "error": run.get("error"),
        "created_at": run.get("created_at"),
        "finished_at": run.get("finished_at"),
        "provenance": {"edgeeval_version": run.get("edgeeval_version"), "git_sha": run.get("git_sha"),
                       "git_sha_reason": run.get("git_sha_reason"), "agent_sha256": run.get("agent_sha256"),
                       "recipe_hash": run.get("recipe_hash"), "dataset_sha256": run.get("dataset_sha256"),
                       "controller": run.get("controller"), "controller_host": run.get("controller_host"),
                       "controller_pid": run.get("controller_pid"), "heartbeat_at": run.get("heartbeat_at"),
                       "build_manifest_keys": manifest.get("keys"),
                       "tool_versions": manifest.get("tool_versions")},
        "settings": {**{k: settings.get(k) for k in ("timing", "scenario", "runtime", "batch_size", "power_sensor",
                                                     "farm")},
                     **({"skipped_variants": settings["skipped_variants"]} if settings.get("skipped_variants") else {})},
        "declared_facts": settings.get("declared_facts"),
        "scoring": extra.get("scoring"),
        "baseline": baseline,
        "push": extra.get("push"),
        "device_facts": run.get("device_facts") or {},
        "variants": variants,
        "reasons": reasons,
    }
    from .evaluate.ops import utilisation
    from .report.rows import throughput_of
    from .report.stage import adaptation

    for v in variants:
        v["adaptation"] = adaptation(v, doc)
        v["utilisation"] = utilisation(v.get("ops"), throughput_of(v), v.get("precision"), doc["declared_facts"])
        if v["ops"] is None:
            v["reasons"].setdefault("ops", "no operation count stored (an older edgeeval)")
    return doc

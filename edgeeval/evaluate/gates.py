"""Pass/fail gates on measured metrics. A gate never passes on a metric that was not measured."""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass

# gate name -> (metric key in the flat metrics dict, comparison)
GATES: dict[str, tuple[str, str]] = {
    "accuracy_drop_pt": ("accuracy_drop_pt", "<="),
    "p50_ms": ("p50_ms", "<="),
    "p90_ms": ("p90_ms", "<="),
    "p99_ms": ("p99_ms", "<="),
    "mean_ms": ("mean_ms", "<="),
    "min_accuracy": ("top1", ">="),
    "min_top1_agreement": ("top1_agreement", ">="),
    "min_cosine": ("cosine_mean", ">="),
    "min_retrieval_agreement": ("retrieval_top1_agreement", ">="),   # embedding tasks
    "max_abs_error": ("max_abs_error", "<="),
    "min_psnr_db": ("psnr_db", ">="),
    "max_peak_rss_mb": ("peak_rss_mb", "<="),
    "max_load_ms": ("load_ms", "<="),
    # generative models (evaluate/generative.py)
    "max_perplexity_increase_pct": ("perplexity_increase_pct", "<="),
    "min_token_agreement": ("token_agreement", ">="),
    "min_decode_tokens_per_s": ("decode_tokens_per_s", ">="),
    "max_ttft_ms": ("ttft_ms", "<="),
}
_OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class GateResult:
    name: str
    metric: str
    op: str
    limit: float
    value: float | None
    passed: bool | None
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def check_gates(gates: dict[str, float], metrics: dict,
                reasons: dict[str, str] | None = None) -> list[GateResult]:
    """Evaluate each gate against metrics[metric]; reasons[metric] explains a None metric."""
    reasons = reasons or {}
    unknown = sorted(set(gates) - set(GATES))
    if unknown:
        raise ValueError(f"unknown gate(s) {', '.join(unknown)}; known: {', '.join(GATES)}")
    results = []
    for name in (g for g in GATES if g in gates):  # canonical order, whatever the input order
        limit = gates[name]
        metric, op = GATES[name]
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit):
            raise ValueError(f"gate {name}: limit must be a finite number, got {limit!r}")
        value = metrics.get(metric)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            why = reasons.get(metric) or ("not reported" if value is None else f"value is {value}")
            results.append(GateResult(name, metric, op, float(limit), None, False,
                                      f"metric not measured: {why}"))
            continue
        value, limit = float(value), float(limit)
        ok = bool(_OPS[op](value, limit))
        why = f"ok: {metric} {value:.6g} {op} {limit:.6g}" if ok else \
            f"failed: {metric} {value:.6g} not {op} {limit:.6g}"
        results.append(GateResult(name, metric, op, limit, value, ok, why))
    return results


def all_passed(results: list[GateResult]) -> bool:
    """True when every gate passed (vacuously True without gates)."""
    return all(r.passed is True for r in results)

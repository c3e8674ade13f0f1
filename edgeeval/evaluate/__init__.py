"""Pure functions that turn raw measurements into numbers: latency, accuracy, fidelity, gates."""

from .accuracy import top1, top1_predictions
from .fidelity import fidelity
from .gates import GATES, GateResult, all_passed, check_gates
from .latency import CI_METHOD, latency_stats, percentile, percentile_ci
from .summary import recompute, recompute_variant, summarize_variant

__all__ = ["CI_METHOD", "GATES", "GateResult", "all_passed", "check_gates", "fidelity",
           "latency_stats", "percentile", "percentile_ci", "recompute", "recompute_variant",
           "summarize_variant", "top1", "top1_predictions"]

"""The summary's noise block: the noisy flag on constructed agent figures, old results, the table row."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.cli.render import variant_rows
from edgeeval.evaluate.noise import NO_NOISE_DATA, noise_summary
from edgeeval.evaluate.summary import recompute, summarize_variant
from edgeeval.rawdata import split_event


def agent_noise(steal=0.003, other=0.012, **kw):
    n = {"window_s": 5.2, "cpus": 2, "steal_share": steal, "other_busy_share": other,
         "own_cpu_share": 0.49, "iowait_share": 0.0, "loadavg_1m": [0.8, 1.1], "reason": None, "reasons": {}}
    n.update(kw)
    return n


def row(summary):
    return dict(variant_rows(summary))["noise"]


def test_quiet_window():
    s = noise_summary(agent_noise())
    assert s["noisy"] is False and s["noisy_reasons"] == [] and s["reason"] is None
    assert s["steal_share"] == 0.003 and s["loadavg_1m"] == [0.8, 1.1] and s["cpus"] == 2
    assert row({"noise": s}) == "quiet (steal 0.3%, other load 1.2%)"


def test_steal_alone_flags_the_run():
    s = noise_summary(agent_noise(steal=0.081))
    assert s["noisy"] is True
    assert s["noisy_reasons"] == ["8.1% of CPU time stolen by the hypervisor"]
    assert row({"noise": s}) == "NOISY: 8.1% steal, other load 1.2% — rerun on a quiet board"


def test_foreign_load_alone_flags_the_run():
    s = noise_summary(agent_noise(other=0.23))
    assert s["noisy"] is True and s["noisy_reasons"] == ["other processes used 23% of the CPUs"]
    # just under both limits: quiet
    assert noise_summary(agent_noise(steal=0.049, other=0.099))["noisy"] is False


@pytest.mark.parametrize("noise, needle", [
    (None, NO_NOISE_DATA),
    (agent_noise(steal=None, other=None, own_cpu_share=None, iowait_share=None, cpus=None,
                 reason="/proc/stat unreadable: [Errno 2] No such file or directory: '/proc/stat'"),
     "/proc/stat unreadable"),
    (agent_noise(steal=None, reasons={"steal_share": "this kernel's /proc/stat has no steal column"}),
     "no steal column"),
])
def test_unknown_is_null_with_the_reason(noise, needle):
    s = noise_summary(noise)
    assert s["noisy"] is None and needle in s["reason"] and s["noisy_reasons"] == []
    assert s["steal_share"] is None and s["reasons"]["steal_share"]
    assert row({"noise": s}) == f"— ({s['reason']})"


def test_a_known_excess_is_noisy_even_when_steal_is_unknown():
    s = noise_summary(agent_noise(steal=None, other=0.4, reasons={"steal_share": "no steal column"}))
    assert s["noisy"] is True and s["reasons"]["steal_share"] == "no steal column"
    assert row({"noise": s}) == "NOISY: other load 40% — rerun on a quiet board"


def _event(noise=...):
    ev = {"event": "result", "latencies_ns": list(range(1_000_000, 1_200_000, 1000)),
          "warmup_ns": [2_000_000], "load_ms": 3.0, "first_inference_ms": 2.0, "peak_rss_kb": 1024,
          "timed_wall_s": 0.3, "accuracy": {"output_names": ["y"]}}
    if noise is not ...:
        ev["noise"] = noise
    return ev


def _stored(ev):
    scalars, raw = split_event(ev)
    return {"event": scalars, "raw": raw, "gates": {"p90_ms": 50}, "baseline_accuracy": None}


def test_summary_and_recompute_carry_the_block():
    ev = _event(agent_noise(other=0.3))
    s = summarize_variant(ev, None, None, None, None, {"p90_ms": 50})
    assert s["noise"]["noisy"] is True and s["noise"]["other_busy_share"] == 0.3
    assert s["passed"] is True                       # a flag, never a gate
    assert recompute(_stored(ev))["noise"] == s["noise"]


def test_old_results_without_noise_still_recompute():
    again = recompute(_stored(_event()))            # an event from an older agent: no "noise" key
    assert again["noise"]["noisy"] is None and again["noise"]["reason"] == NO_NOISE_DATA
    assert again["latency"]["n"] == 200 and np.isclose(again["latency"]["p50"], 1.1)
    assert row(again) == f"— ({NO_NOISE_DATA})"

"""The agent's noise readings: /proc/stat parsing on fixture text, and a real run next to a CPU hog."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from edgeeval.agent.edgeeval_agent import noise as agent  # the board module, imported directly
from edgeeval.evaluate.noise import noise_summary
from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import make_job

MODERN = """cpu  {u} 0 {s} {i} 20 0 10 {st} 0 0
cpu0 50 0 10 400 10 0 5 {st2} 0 0
cpu1 50 0 10 400 10 0 5 {st2} 0 0
intr 12345 0 0
ctxt 999
btime 1700000000
processes 42
"""
OLD_2_6_0 = "cpu  {u} 0 {s} {i} 20 0 10\ncpu0 1 0 1 1 0 0 0\ncpu1 1 0 1 1 0 0 0\nintr 1\n"  # no steal column
LINUX_2_4 = "cpu  {u} 0 {s} {i}\ncpu0 1 0 1 1\ncpu1 1 0 1 1\ncpu2 1 0 1 1\ncpu3 1 0 1 1\n"


def test_parse_proc_stat_modern_and_older_kernels():
    agg, cpus = agent.parse_proc_stat(MODERN.format(u=100, s=20, i=800, st=30, st2=15))
    assert cpus == 2
    assert agg == {"user": 100, "nice": 0, "system": 20, "idle": 800, "iowait": 20, "irq": 0,
                   "softirq": 10, "steal": 30, "guest": 0, "guest_nice": 0}
    agg, cpus = agent.parse_proc_stat(OLD_2_6_0.format(u=1, s=2, i=3))
    assert cpus == 2 and "steal" not in agg and agg["softirq"] == 10
    agg, cpus = agent.parse_proc_stat(LINUX_2_4.format(u=1, s=2, i=3))
    assert cpus == 4 and sorted(agg) == ["idle", "nice", "system", "user"]
    with pytest.raises(ValueError):
        agent.parse_proc_stat("intr 1\nctxt 2\n")


def marks(tmp_path, template, before, after, own_s=(1.0, 1.5), window_s=1.0):
    """Two noise marks read from fixture files, with the clock and own CPU time pinned."""
    out = []
    for k, (vals, own) in enumerate(zip((before, after), own_s)):
        p = tmp_path / f"stat{k}"
        p.write_text(template.format(**vals))
        m = agent.noise_mark(str(p))
        m["t"], m["own_s"] = 10.0 + k * window_s, own
        out.append(m)
    return out


def test_figures_from_fixture_counters(tmp_path):
    hz = os.sysconf("SC_CLK_TCK")
    # 1 s on 2 CPUs = 2*hz jiffies: user +1.2 s, system +0.2 s, softirq 0, steal +0.1 s, idle the rest
    a, b = marks(tmp_path, MODERN, {"u": 0, "s": 0, "i": 0, "st": 0, "st2": 0},
                 {"u": int(1.2 * hz), "s": int(0.2 * hz), "i": int(0.5 * hz), "st": int(0.1 * hz), "st2": 0})
    n = agent.noise_figures(a, b)
    assert n["reason"] is None and n["cpus"] == 2 and n["clk_tck"] == hz
    assert n["steal_share"] == pytest.approx(0.05)              # 0.1 s of 2.0 s of CPU time
    assert n["own_cpu_share"] == pytest.approx(0.25)            # 0.5 s of 2 CPU-seconds
    assert n["other_busy_share"] == pytest.approx((1.4 - 0.5) / 2)
    assert n["iowait_share"] == 0.0 and n["window_s"] == 1.0
    assert len(n["loadavg_1m"]) == 2 and all(x >= 0 for x in n["loadavg_1m"])


def test_own_time_above_machine_busy_clamps_other_load_at_zero(tmp_path):
    hz = os.sysconf("SC_CLK_TCK")
    a, b = marks(tmp_path, MODERN, {"u": 0, "s": 0, "i": 0, "st": 0, "st2": 0},
                 {"u": int(0.4 * hz), "s": 0, "i": int(1.6 * hz), "st": 0, "st2": 0}, own_s=(0.0, 0.5))
    assert agent.noise_figures(a, b)["other_busy_share"] == 0.0


def test_kernel_without_steal_column(tmp_path):
    hz = os.sysconf("SC_CLK_TCK")
    a, b = marks(tmp_path, OLD_2_6_0, {"u": 0, "s": 0, "i": 0}, {"u": hz, "s": 0, "i": hz}, own_s=(0.0, 0.9))
    n = agent.noise_figures(a, b)
    assert n["steal_share"] is None and "no steal column" in n["reasons"]["steal_share"]
    assert n["other_busy_share"] == pytest.approx(0.05) and n["iowait_share"] == 0.0
    assert noise_summary(n)["noisy"] is None                     # steal unknown, other load below its limit


def test_missing_proc_stat_is_null_with_reason(tmp_path):
    missing = str(tmp_path / "no-proc" / "stat")
    n = agent.noise_figures(agent.noise_mark(missing), agent.noise_mark(missing))
    for k in ("cpus", "steal_share", "other_busy_share", "own_cpu_share", "iowait_share"):
        assert n[k] is None, k
    assert missing in n["reason"] and "unreadable" in n["reason"]
    s = noise_summary(n)
    assert s["noisy"] is None and missing in s["reason"]


def test_zero_length_window_is_null_with_reason(tmp_path):
    same = {"u": 5, "s": 5, "i": 5, "st": 0, "st2": 0}
    a, b = marks(tmp_path, MODERN, same, same, window_s=0.001)
    n = agent.noise_figures(a, b)
    assert n["other_busy_share"] is None and "shorter than one clock tick" in n["reason"]


def noise_of_a_run(board):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", warmup=5, min_runs=10, min_seconds=1.5,
                   accuracy=False, runtime={"name": "synthetic", "distribution": "constant",
                                            "median_ms": 1.0, "sigma": 0.0, "seed": 1})
    return run_agent(board, job=job).event("result")["noise"]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc/stat")
def test_a_cpu_hog_during_the_timed_phase_is_flagged(board):
    quiet = noise_of_a_run(board)
    cpus = os.cpu_count() or 1
    hogs = min(cpus, 16)  # one busy loop per CPU: the hog run is the busier one even on a loaded machine
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        time.sleep(0.3)   # the hogs are spinning before the agent starts
        loud = noise_of_a_run(board)
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    assert loud["reason"] is None and loud["cpus"] == quiet["cpus"] >= 1
    assert loud["window_s"] >= 1.5 and loud["own_cpu_share"] > 0
    assert loud["other_busy_share"] > 0.2 * hogs / cpus, loud  # 0.2 on <= 16 CPUs
    assert quiet["other_busy_share"] < loud["other_busy_share"], (quiet, loud)
    s = noise_summary(loud)
    assert s["noisy"] is True and any("other processes used" in r for r in s["noisy_reasons"])

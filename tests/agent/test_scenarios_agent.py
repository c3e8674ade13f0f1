"""The agent's scenarios, run as a subprocess: the synthetic runtime (known latency) and real onnxruntime."""

from __future__ import annotations

import pytest

from edgeeval.evaluate.scenarios import scenario_summary
from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import make_job


def synthetic(**kw):
    return {"name": "synthetic", "distribution": "lognormal", "median_ms": 1.0, "sigma": 0.2,
            "seed": 7, **kw}


def run(board, scenario=None, runtime=None, argv=("run",), **timing):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", warmup=timing.pop("warmup", 5),
                   min_runs=timing.pop("min_runs", 100), min_seconds=timing.pop("min_seconds", 0.2),
                   accuracy=False, runtime=runtime)
    if scenario is not None:
        job["scenario"] = scenario
    return run_agent(board, argv, job).events[-1]


def test_synthetic_single_stream_recovers_the_known_median(board):
    ev = run(board, runtime=synthetic(), min_runs=300)
    assert ev["event"] == "result" and ev["runtime"]["name"] == "synthetic"
    assert ev["scenario"] == {"name": "single-stream"}
    p50 = sorted(ev["latencies_ns"])[len(ev["latencies_ns"]) // 2] / 1e6
    assert 0.95 <= p50 <= 1.25, p50           # spin for the draw + the call's own few microseconds
    s = scenario_summary(ev)
    assert s["headline"]["metric"] == "p90_ms" and s["early_stopping"]["value_ms"] is not None


def test_synthetic_sleep_keeps_the_median_and_leaves_the_cpu_free(board):
    """A virtual board's wait: the same known median (sleep overshoots by ~0.1 ms), a fraction of the CPU."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ev = run(board, runtime=synthetic(median_ms=5.0, sigma=0.05, wait="sleep"), min_runs=100, min_seconds=0.0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    p50 = sorted(ev["latencies_ns"])[len(ev["latencies_ns"]) // 2] / 1e6
    assert 4.9 <= p50 <= 5.8, p50
    assert ev["session_options"]["wait"] == "sleep"
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    timed = ev["timed_wall_s"]
    assert timed >= 0.45
    # the agent's start-up (imports) costs CPU too; the timed loop itself must not spin
    assert cpu < timed * 0.5 + 1.5, (cpu, timed)


def test_synthetic_is_never_the_default(board):
    ev = run(board, min_runs=20, min_seconds=0.0)
    assert ev["runtime"]["name"] == "onnxruntime"


def test_multi_stream_issues_n_samples_per_query(board):
    ev = run(board, {"name": "multi-stream", "samples_per_query": 4},
             synthetic(sigma=0.0, distribution="constant", median_ms=0.25), min_runs=50)
    assert ev["scenario"]["samples_per_query"] == 4
    p50 = sorted(ev["latencies_ns"])[len(ev["latencies_ns"]) // 2] / 1e6
    assert 0.95 <= p50 <= 1.3, p50            # 4 samples x 0.25 ms, issued together
    s = scenario_summary(ev)
    assert s["headline"]["metric"] == "p99_ms" and s["throughput"]["n_samples"] == 4 * len(ev["latencies_ns"])


def test_offline_sweeps_batch_sizes_on_real_onnxruntime(board):
    ev = run(board, {"name": "offline", "batch_sizes": [1, 8], "min_samples": 400}, min_seconds=0.1)
    sweep = ev["offline"]
    assert [r["batch_size"] for r in sweep] == [1, 8]
    assert sweep[0]["samples"] >= 400 and sweep[1]["samples"] >= 400
    s = scenario_summary(ev)
    assert s["headline"]["metric"] == "samples_per_s" and s["headline"]["ci"] is not None
    assert s["best_batch_size"] in (1, 8)


def test_server_poisson_arrivals_at_target_qps(board):
    ev = run(board, {"name": "server", "target_qps": 200, "latency_bound_ms": 5, "seed": 3},
             synthetic(distribution="constant", median_ms=0.5), min_runs=100, min_seconds=0.5)
    srv = ev["server"]
    assert srv["target_qps"] == 200 and 140 <= srv["achieved_qps"] <= 260, srv
    assert min(ev["latencies_ns"]) >= 0.5e6   # latency counts from the scheduled arrival
    s = scenario_summary(ev)
    assert s["server"]["latency_bound_ms"] == 5 and s["seeds"] == {"seed": 3}


def test_server_find_max_qps_records_its_trials(board):
    ev = run(board, {"name": "server", "find_max_qps": True, "latency_bound_ms": 4.0, "seed": 1,
                     "trial_seconds": 0.2, "search_steps": 4},
             synthetic(distribution="constant", median_ms=1.0), min_runs=50, min_seconds=0.2)
    srv = ev["server"]
    assert len(srv["trials"]) >= 1 and all("seed" in t and "p99_ms" in t for t in srv["trials"])
    assert srv["max_qps"] is None or 0 < srv["max_qps"] <= 1000 * 1.05
    assert srv["target_qps"] == (srv["max_qps"] or srv["trials"][-1]["qps"])


def test_sustained_mode_stops_at_latency_steady_state(board):
    ev = run(board, {"name": "single-stream",
                     "sustained": {"window_s": 0.15, "windows": 2, "tolerance": 0.5, "max_seconds": 3}},
             synthetic(distribution="constant", median_ms=0.5), min_runs=10, min_seconds=0.0,
             argv=("run", "--sysfs-root", str(board / "no-sysfs")))  # latency only, whatever this machine has
    assert ev["sustained_stop"] == "steady" and len(ev["window_ends"]) >= 2
    sus = scenario_summary(ev)["sustained"]
    assert sus["burst"]["p50_ms"] > 0 and sus["drift_p50"] is not None and "latency drift" in sus["criterion"]


@pytest.mark.parametrize("scenario, needle", [
    ({"name": "batchy"}, "scenario.name"),
    ({"name": "server"}, "target_qps is required"),
    ({"name": "server", "find_max_qps": True, "latency_bound_ms": None}, "latency_bound_ms"),
    ({"name": "offline", "sustained": {}}, None),
    ({"name": "multi-stream", "sustained": {"window_s": 1}}, "single-stream only"),
])
def test_bad_scenarios_are_job_errors(board, scenario, needle):
    ev = run(board, scenario, synthetic(), min_runs=5, min_seconds=0.0)
    if needle is None:       # an empty sustained block is "off"
        assert ev["event"] == "result"
        return
    assert ev["event"] == "error" and ev["type"] == "JobError" and needle in ev["message"]

"""Null-SUT check of the board agent: its p50 latency against a bare `sess.run` loop.

Same model, machine and session settings (1 intra, 1 inter thread, sequential); rounds
alternate agent (the real agent file in a subprocess) and bare (a loop in this process),
with the order flipped each round so drift hits both kinds alike. Per-kind p50 is the
median of the round p50s; the last stdout line is one JSON object with the ratio.

    PYTHONPATH=. python benchmarks/harness_overhead.py [--rounds 7] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeeval.agent import AGENT_PATH
from edgeeval.testing.models import make_job, mlp, write_eval_npz

IN_FEATURES, HIDDEN, CLASSES = 512, (1024, 1024, 1024), 10  # ~0.2-1 ms per inference, 1 thread
WARMUP, SAMPLES = 50, 64
RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1,
           "graph_optimization_level": "all", "execution_mode": "sequential"}


def p50(values: list[int]) -> int:
    """Percentile rule of docs/architecture.md: sorted[min(n-1, floor(n*p))]."""
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.5))]


def agent_round(workdir: Path, seconds: float) -> tuple[int, int, float]:
    job = make_job("model.onnx", "data.npz", warmup=WARMUP, min_runs=100, min_seconds=seconds,
                   max_seconds=seconds * 3, accuracy=False, runtime=RUNTIME,
                   progress_interval_s=1.0)
    proc = subprocess.run([sys.executable, str(AGENT_PATH), "run"], cwd=workdir,
                          input=json.dumps(job), capture_output=True, text=True, timeout=120)
    last = json.loads(proc.stdout.splitlines()[-1])
    if last["event"] != "result":
        raise SystemExit(f"agent failed: {last.get('type')}: {last.get('message')}\n{proc.stderr}")
    lat = last["latencies_ns"]
    return p50(lat), len(lat), (last["timed_wall_s"] * 1e9 - sum(lat)) / len(lat) / 1e3


def bare_round(workdir: Path, seconds: float) -> tuple[int, int, float]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(workdir / "model.onnx"), so, providers=["CPUExecutionProvider"])
    with np.load(workdir / "data.npz") as z:
        x = z["input"]
    feeds = [{"input": x[i:i + 1]} for i in range(min(SAMPLES, len(x)))]
    names = [o.name for o in sess.get_outputs()]
    for i in range(WARMUP):
        sess.run(names, feeds[i % len(feeds)])
    perf = time.perf_counter_ns
    lat = []
    start = perf()
    end = start + int(seconds * 1e9)
    k = 0
    while True:
        feed = feeds[k % len(feeds)]
        t0 = perf()
        sess.run(names, feed)
        t1 = perf()
        lat.append(t1 - t0)
        k += 1
        if k >= 100 and t1 >= end:
            break
    wall = perf() - start
    return p50(lat), len(lat), (wall - sum(lat)) / len(lat) / 1e3


def null_sut(runs: int = 200_000) -> tuple[float, int]:
    """The agent's own timed loop around a no-op call: (ns per run in all, p50 ns inside t0..t1)."""
    import io

    from edgeeval.agent import agent as agent_module

    agent_module._OUT = io.StringIO()  # progress lines, if any, go nowhere
    timing = {"min_runs": runs, "max_runs": runs, "min_seconds": 0.0, "max_seconds": 60.0}
    lat, wall_s, _ = agent_module.timed_loop(lambda arg, feed: None, None, [{}] * SAMPLES, timing, 1.0)
    return wall_s * 1e9 / len(lat), p50(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per round and kind")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="edgeeval-overhead-") as tmp:
        workdir = Path(tmp)
        mlp(workdir / "model.onnx", IN_FEATURES, HIDDEN, CLASSES, seed=0)
        x = np.random.default_rng(0).standard_normal((SAMPLES, IN_FEATURES)).astype(np.float32)
        write_eval_npz(workdir / "data.npz", {"input": x})
        rounds = []
        for r in range(args.rounds):
            order = ("agent", "bare") if r % 2 == 0 else ("bare", "agent")
            row = {"round": r, "order": "/".join(order)}
            for kind in order:
                fn = agent_round if kind == "agent" else bare_round
                p, n, gap = fn(workdir, args.seconds)
                row[f"{kind}_p50_ms"] = p / 1e6
                row[f"{kind}_runs"] = n
                row[f"{kind}_gap_us"] = round(gap, 3)  # loop time outside the timed region, per run
            rounds.append(row)

    null_per_run_ns, null_p50_ns = null_sut()
    agent = statistics.median(r["agent_p50_ms"] for r in rounds)
    bare = statistics.median(r["bare_p50_ms"] for r in rounds)
    ratio = agent / bare
    agent_gap = statistics.median(r["agent_gap_us"] for r in rounds)
    bare_gap = statistics.median(r["bare_gap_us"] for r in rounds)
    print(f"{'round':>5} {'order':>11} {'agent p50 ms':>13} {'bare p50 ms':>12} {'ratio':>7} {'runs a/b':>12} {'gap us a/b':>12}")
    for r in rounds:
        print(f"{r['round']:>5} {r['order']:>11} {r['agent_p50_ms']:>13.4f} {r['bare_p50_ms']:>12.4f} "
              f"{r['agent_p50_ms'] / r['bare_p50_ms']:>7.4f} {r['agent_runs']:>6}/{r['bare_runs']:<6} {r['agent_gap_us']:>5.2f}/{r['bare_gap_us']:<5.2f}")
    print(f"median p50: agent {agent:.4f} ms, bare {bare:.4f} ms, ratio {ratio:.4f} (target <= 1.02)")
    print(f"null SUT (agent loop around a no-op): {null_per_run_ns:.0f} ns per run, "
          f"{null_p50_ns} ns p50 inside the timed region")
    print(f"loop time outside the timed call, per run: agent {agent_gap:.2f} us, bare {bare_gap:.2f} us")
    print(json.dumps({"metric": "harness_overhead_p50_ratio", "value": round(ratio, 4),
                      "target": "<=1.02", "agent_p50_ms": agent, "bare_p50_ms": bare,
                      "agent_gap_us": agent_gap, "bare_gap_us": bare_gap,
                      "null_sut_ns_per_run": round(null_per_run_ns), "null_sut_p50_ns": null_p50_ns,
                      "rounds": args.rounds, "per_round": rounds}))


if __name__ == "__main__":
    main()

"""Does the board agent read slower than a bare `session.run` loop, and if so, where does it come from?

Three kinds of run, each a fresh process pinned to the same CPU, same model (an MLP of about
4 ms on one x86 core, the model of the LoadGen cross-check), same session settings (1 intra,
1 inter thread, sequential, all graph optimisations), same 64 one-sample feeds:

    agent        the real agent file with a deploy's job (progress events every 0.25 s, the
                 controller's heartbeat on stdin every second and the agent's watchdog thread
                 waiting on it, as `edgeeval deploy` runs it), everything it does: job checks,
                 data loader, runner, warmup, gc off, noise marks, the timed loop, the result event
    agent_loop   a bare process (session and feeds made as below) timed by the agent's own
                 `timed_loop` function, progress events included
    bare         a bare process: `t0; session.run(names, feed); t1` in a loop

agent / bare is the whole harness effect; agent_loop / bare isolates the timing loop;
agent / agent_loop the agent's process set-up (imports, loader, runner, job handling).
Rounds interleave the kinds with the order rotated; each run's p50 and p90 (LoadGen's rule,
sorted[floor(n p)]) are kept; a figure is the ratio of the kinds' means over rounds with a
paired-bootstrap 95% interval (this machine's per-second p90 moves 10-15%: only many short
interleaved runs resolve a few per cent). The null SUT line is the agent loop around a no-op.

    PYTHONPATH=. python benchmarks/harness_overhead.py [--rounds 200] [--seconds 0.5] [--shuffle]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    SHUFFLE_ENV,
    agent_argv,
    emit,
    interleaved,
    pctl,
    pin_to_last_cpu,
    ratio_of_means,
    shift_heap,
)

from edgeeval.agent import AGENT_PATH  # noqa: E402
from edgeeval.agentclient import HEARTBEAT_S, WATCHDOG_S  # noqa: E402
from edgeeval.testing.models import make_job, mlp, write_eval_npz  # noqa: E402

IN_FEATURES, HIDDEN, CLASSES = 1024, (2048, 2048, 2048, 2048), 10   # ~4 ms per inference, 1 thread
SAMPLES, WARMUP = 64, 50
PROGRESS_S = 0.25          # what deploy asks the agent for
RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1,
           "graph_optimization_level": "all", "execution_mode": "sequential"}
KINDS = ("agent", "agent_loop", "bare")


def _figures(lat_ns: list[int]) -> dict:
    s = sorted(lat_ns)
    return {"p50_ms": pctl(s, 0.50) / 1e6, "p90_ms": pctl(s, 0.90) / 1e6, "n": len(s)}


def _env(shuffle: bool) -> dict:
    import os

    return {**os.environ, SHUFFLE_ENV: "1" if shuffle else "0"}


def agent_run(workdir: Path, seconds: float, shuffle: bool = False) -> dict:
    job = make_job("model.onnx", "data.npz", warmup=WARMUP, min_runs=100, min_seconds=seconds,
                   max_seconds=seconds * 4, accuracy=False, runtime=RUNTIME, progress_interval_s=PROGRESS_S)
    job["watchdog_s"] = WATCHDOG_S          # as deploy sends it: the agent's watchdog thread listens
    proc = subprocess.Popen(agent_argv(sys.executable, AGENT_PATH, shuffle), cwd=workdir, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pin_to_last_cpu)
    proc.stdin.write(json.dumps(job).encode() + b"\n")
    proc.stdin.flush()

    def beat():                               # the controller's heartbeat, once a second
        try:
            while proc.poll() is None:
                time.sleep(HEARTBEAT_S)
                proc.stdin.write(b"\n")
                proc.stdin.flush()
        except (OSError, ValueError):
            pass

    import threading
    threading.Thread(target=beat, daemon=True).start()
    errs: list[bytes] = []                    # communicate() would close stdin, and the watchdog with it
    reader = threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)
    reader.start()
    out = proc.stdout.read()
    proc.wait(timeout=seconds * 10 + 60)
    reader.join()
    err = errs[0] if errs else b""
    ev = json.loads(out.decode().splitlines()[-1])
    if ev["event"] != "result":
        raise SystemExit(f"agent failed: {ev.get('type')}: {ev.get('message')}\n{err.decode()}")
    return _figures(ev["latencies_ns"])


def _session_and_feeds(workdir: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(workdir / "model.onnx"), so, providers=["CPUExecutionProvider"])
    with np.load(workdir / "data.npz") as z:
        x = z["input"]
    names = [o.name for o in sess.get_outputs()]
    feeds = [{"input": x[i:i + 1]} for i in range(SAMPLES)]
    for i in range(WARMUP):
        sess.run(names, feeds[i % SAMPLES])
    return sess, names, feeds


def child(kind: str, workdir: Path, seconds: float) -> dict:
    """Runs in the pinned child process: the bare loop, or the agent's timed_loop, around session.run.
    With --shuffle (EDGEEVAL_BENCH_SHUFFLE=1 in the child) the heap is shifted first (_common)."""
    import os

    pad = shift_heap() if os.environ.get(SHUFFLE_ENV) == "1" else None
    sess, names, feeds = _session_and_feeds(workdir)
    if kind == "agent_loop":
        from edgeeval.agent.edgeeval_agent import loops, protocol

        timing = {"min_runs": 100, "max_runs": 10**9, "min_seconds": seconds, "max_seconds": seconds * 4}
        protocol.set_output(sys.stdout)      # progress lines to the pipe, as the agent writes them
        lat, _, _ = loops.timed_loop(sess.run, names, feeds, timing, PROGRESS_S)
        del pad
        return _figures(lat)
    perf = time.perf_counter_ns
    lat = []
    end = perf() + int(seconds * 1e9)
    k = 0
    while True:
        t0 = perf()
        sess.run(names, feeds[k % SAMPLES])
        t1 = perf()
        lat.append(t1 - t0)
        k += 1
        if k >= 100 and t1 >= end:
            break
    del pad
    return _figures(lat)


def child_run(kind: str, workdir: Path, seconds: float, shuffle: bool = False) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(workdir), str(seconds)],
                          capture_output=True, text=True, timeout=seconds * 10 + 120, preexec_fn=pin_to_last_cpu,
                          env=_env(shuffle))
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def null_sut(runs: int = 200_000) -> tuple[float, int]:
    """The agent's own timed loop around a no-op call: (ns per run in all, p50 ns inside t0..t1)."""
    from edgeeval.agent.edgeeval_agent import loops, protocol

    protocol.set_output(io.StringIO())
    timing = {"min_runs": runs, "max_runs": runs, "min_seconds": 0.0, "max_seconds": 60.0}
    lat, wall_s, _ = loops.timed_loop(lambda arg, feed: None, None, [{}] * SAMPLES, timing, 1.0)
    return wall_s * 1e9 / len(lat), pctl(sorted(lat), 0.5)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=0.5, help="timed seconds per run")
    ap.add_argument("--shuffle", action="store_true",
                    help="shift every measured process's heap by a random amount first (layout randomisation)")
    args = ap.parse_args()
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix="edgeeval-overhead-") as tmp:
        workdir = Path(tmp)
        mlp(workdir / "model.onnx", IN_FEATURES, HIDDEN, CLASSES, seed=0)
        x = np.random.default_rng(0).standard_normal((SAMPLES, IN_FEATURES)).astype(np.float32)
        write_eval_npz(workdir / "data.npz", {"input": x})
        def measure(kind):
            return (agent_run(workdir, args.seconds, args.shuffle) if kind == "agent"
                    else child_run(kind, workdir, args.seconds, args.shuffle))

        def log(row):
            print(f"round {row['round']:>3} {row['order']:>22}: p90 ms " + "  ".join(
                f"{k} {row[k]['p90_ms']:.4f}" for k in KINDS) + "  | p50 ms " + "  ".join(
                f"{k} {row[k]['p50_ms']:.4f}" for k in KINDS), flush=True)

        rows = interleaved(list(KINDS), args.rounds, measure, log)
    figs = {}
    for metric in ("p50_ms", "p90_ms"):
        v = {k: np.array([r[k][metric] for r in rows]) for k in KINDS}
        for a, b in (("agent", "bare"), ("agent_loop", "bare"), ("agent", "agent_loop")):
            figs[f"{metric} {a}/{b}"] = ratio_of_means(rows, a, b, key=lambda f, m=metric: f[m])
        figs[f"{metric} means"] = {k: float(v[k].mean()) for k in KINDS}
        figs[f"{metric} run_cv"] = {k: float(v[k].std(ddof=1) / v[k].mean()) for k in KINDS}
    null_per_run, null_p50 = null_sut()
    for k, f in figs.items():
        if "ratio" in f:
            print(f"{k:>26}: {f['ratio']:.4f} [95% CI {f['ci95'][0]:.4f}, {f['ci95'][1]:.4f}]  "
                  f"median per-round {f['median_round_ratio']:.4f}")
        else:
            print(f"{k:>26}: " + ", ".join(f"{n} {x:.4f}" for n, x in f.items()))
    print(f"null SUT (agent loop around a no-op): {null_per_run:.0f} ns per run, {null_p50} ns p50 inside t0..t1; "
          f"{args.rounds} rounds x {args.seconds} s, {time.time() - t_start:.0f} s")
    head = figs["p50_ms agent/bare"]
    emit("harness_overhead_p50_ratio", round(head["ratio"], 4), "<=1.01 (95% upper bound <=1.02)",
         ci95=[round(x, 4) for x in head["ci95"]], passed=bool(head["ratio"] <= 1.01 and head["ci95"][1] <= 1.02), p90_ratio=round(figs["p90_ms agent/bare"]["ratio"], 4),
         p90_ci95=[round(x, 4) for x in figs["p90_ms agent/bare"]["ci95"]], figures=figs,
         null_sut_ns_per_run=round(null_per_run), null_sut_p50_ns=null_p50, rounds=args.rounds,
         seconds=args.seconds, shuffle=args.shuffle, per_round=rows)


if __name__ == "__main__":
    main()

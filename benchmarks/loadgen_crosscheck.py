"""edgeeval's single-stream p90 and offline throughput against MLPerf LoadGen, same model, same machine.

LoadGen (`pip install mlcommons-loadgen`, the `loadgen` extra) drives a SUT that wraps an
onnxruntime session with the agent's settings (1 intra / 1 inter thread, sequential, all graph
optimisations); edgeeval runs the real agent file in a subprocess with the matching scenario.
A bare `session.run` loop runs as a third kind, the harness-free reference.

Design against a noisy shared VM (measured here: the per-second p90 of one loop moves 10-15%
from one second to the next, by host contention that shows as neither steal nor load in the
guest, and the two vCPUs are not correlated, so running harnesses side by side on two CPUs
does not cancel it): many short runs, interleaved. Every run is a fresh process pinned to the
same CPU (the last one), the kinds alternate within each round with the order rotated, and
each harness's figure is the mean over rounds of its per-run figure (p90 of the run, or
samples/s of the run). Both harnesses thereby sample the same machine states; the compared
ratio is mean(edgeeval) / mean(LoadGen), with a paired bootstrap 95% interval over rounds (the
resolution the machine allowed); the median of per-round ratios is printed too. Each run also
records the agent's noise figures (steal, other load) taken around it.
Percentiles on both sides use LoadGen's rule sorted[floor(n*p)]; Offline is compared on
throughput only (LoadGen's Offline per-sample "latencies" are times since the one query).
Traps handled (docs: /work/shared/docs/loadgen-notes.md): clean working directory and a
non-existent audit.config, PerformanceOnly set explicitly, expected latency / QPS set from a
warm-up measurement, the log directory created, no exception may escape issue_query.

    PYTHONPATH=. python benchmarks/loadgen_crosscheck.py [--rounds 60] [--seconds 1] [--no-bare] [--shuffle]
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    median,
    paired_bootstrap_ci,
    pctl,
    pin_to_last_cpu,
    rotated,
    shift_heap,
)

from edgeeval.agent import AGENT_PATH  # noqa: E402
from edgeeval.agent.edgeeval_agent.noise import noise_figures, noise_mark  # noqa: E402
from edgeeval.jobdefaults import complete  # noqa: E402
from edgeeval.testing.models import make_job, mlp, write_eval_npz  # noqa: E402

# ~3 ms per inference on one x86 core: LoadGen's Python SUT adds a fixed ~50-70 us per query
# (C++ -> Python issue_query -> QuerySamplesComplete), which on a 0.3 ms model alone is a 16-20%
# gap (measured: LoadGen p90 = 1.165 x a bare loop); at ~3 ms it is ~2%, so the comparison
# tests the measurement, not the reference harness's own call overhead.
IN_FEATURES, HIDDEN, CLASSES = 1024, (2048, 2048, 2048, 2048), 10
SAMPLES, WARMUP = 64, 50
RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1,
           "graph_optimization_level": "all", "execution_mode": "sequential"}


def session(model: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def _loaded(workdir: Path):
    """(session, output names, one feed per sample): the same for the bare loop and the LoadGen SUT."""
    sess = session(workdir / "model.onnx")
    with np.load(workdir / "data.npz") as z:
        x = z["input"]
    return sess, [o.name for o in sess.get_outputs()], [{"input": x[i:i + 1]} for i in range(SAMPLES)]


def _env(shuffle: bool) -> dict:
    return {**os.environ, SHUFFLE_ENV: "1" if shuffle else "0"}


def edgeeval_round(workdir: Path, scenario: str, seconds: float, shuffle: bool = False) -> dict:
    """{"value": the headline edgeeval reports (p90 ms or samples/s), "noise": ...} from the real agent."""
    from edgeeval.evaluate.scenarios import scenario_summary

    job = make_job("model.onnx", "data.npz", warmup=WARMUP, min_runs=100, min_seconds=seconds,
                   max_seconds=seconds * 4, accuracy=False, runtime=RUNTIME, progress_interval_s=1.0)
    if scenario == "offline":
        job["scenario"] = {"name": "offline", "batch_sizes": [1], "min_samples": 100}
    proc = subprocess.run(agent_argv(sys.executable, AGENT_PATH, shuffle), cwd=workdir, input=json.dumps(complete(job)),
                          capture_output=True, text=True, timeout=seconds * 10 + 60, preexec_fn=pin_to_last_cpu)
    ev = json.loads(proc.stdout.splitlines()[-1])
    if ev["event"] != "result":
        raise SystemExit(f"agent failed: {ev.get('type')}: {ev.get('message')}\n{proc.stderr}")
    head = scenario_summary(ev)["headline"]     # the figure edgeeval reports: p90 ms or samples/s
    assert head["metric"] == ("samples_per_s" if scenario == "offline" else "p90_ms"), head
    return {"value": head["value"], "noise": ev.get("noise")}


def bare_round(workdir: Path, scenario: str, seconds: float) -> float:
    """The reference without any harness: a `session.run` loop in this process (p90 ms or samples/s)."""
    sess, names, feeds = _loaded(workdir)
    for i in range(WARMUP):
        sess.run(names, feeds[i % SAMPLES])
    perf = time.perf_counter_ns
    lat = []
    start = perf()
    end = start + int(seconds * 1e9)
    k = 0
    while True:
        t0 = perf()
        sess.run(names, feeds[k % SAMPLES])
        t1 = perf()
        lat.append(t1 - t0)
        k += 1
        if k >= 100 and t1 >= end:
            break
    if scenario == "offline":
        return len(lat) / ((perf() - start) / 1e9)
    return pctl(sorted(lat), 0.90) / 1e6


def loadgen_round(workdir: Path, scenario: str, seconds: float) -> tuple[float, bool, float]:
    """(p90 ms or samples/s, VALID?, the same figure from a timer around session.run inside the SUT)
    from LoadGen with a SUT wrapping the same session settings. The third number times the very
    queries LoadGen timed, so LoadGen's figure over it is LoadGen's own per-query cost, free of
    the machine's run-to-run noise."""
    import mlperf_loadgen as lg

    sess, names, feeds = _loaded(workdir)
    perf = time.perf_counter_ns
    warm = []
    for i in range(WARMUP):  # LoadGen runs no warm-up of its own
        t0 = perf()
        sess.run(names, feeds[i % SAMPLES])
        warm.append(perf() - t0)
    warm_median = sorted(warm)[len(warm) // 2]
    failure: list[BaseException] = []
    inner: list[tuple[int, int]] = []     # (start, end) of every session.run, in the SUT

    def issue(query_samples):
        try:
            for q in query_samples:
                t0 = perf()
                sess.run(names, feeds[q.index])
                inner.append((t0, perf()))
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])
        except BaseException as e:  # an exception here would leave LoadGen waiting forever
            failure.append(e)
            os._exit(3)

    settings = lg.TestSettings()
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = int(seconds * 1000)
    settings.min_query_count = 100
    if scenario == "offline":
        settings.scenario = lg.TestScenario.Offline
        # 1.5x the warm-up rate: the one query then lasts past min_duration even if the SUT speeds up
        settings.offline_expected_qps = 1.5e9 / warm_median
    else:
        settings.scenario = lg.TestScenario.SingleStream
        settings.single_stream_expected_latency_ns = int(warm_median * 0.5)
    out = Path(tempfile.mkdtemp(prefix="lg-", dir=workdir))
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(SAMPLES, SAMPLES, lambda s: None, lambda s: None)
    cwd = os.getcwd()
    os.chdir(out)  # a stray audit.config in the cwd would silently change the settings
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log, str(out / "no-audit.config"))
    finally:
        os.chdir(cwd)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    text = (out / "mlperf_log_summary.txt").read_text()
    valid = "Result is : VALID" in text
    if scenario == "offline":
        own = len(inner) / ((inner[-1][1] - inner[0][0]) / 1e9)
        return float(re.search(r"Samples per second\s*:\s*([\d.eE+]+)", text).group(1)), valid, own
    m = re.search(r"\n90(?:\.0)?th percentile latency \(ns\)\s*:\s*(\d+)", text)
    return int(m.group(1)) / 1e6, valid, pctl(sorted(b - a for a, b in inner), 0.90) / 1e6


def child_round(kind: str, workdir: Path, scenario: str, seconds: float, shuffle: bool = False) -> dict:
    """One LoadGen or bare run in a fresh process, like the agent: no thread or session of an
    earlier run (LoadGen's logger thread stays alive after a test) competes with it."""
    proc = subprocess.run([sys.executable, __file__, "--child", kind, scenario, str(workdir), str(seconds)],
                          capture_output=True, text=True, timeout=seconds * 10 + 120, preexec_fn=pin_to_last_cpu,
                          env=_env(shuffle))
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        kind, scenario, workdir, seconds = sys.argv[2], sys.argv[3], Path(sys.argv[4]), float(sys.argv[5])
        pad = shift_heap() if os.environ.get(SHUFFLE_ENV) == "1" else None  # noqa: F841 (kept alive)
        if kind == "bare":
            a = noise_mark()
            v = bare_round(workdir, scenario, seconds)
            print(json.dumps({"value": v, "noise": noise_figures(a, noise_mark())}))
        else:
            a = noise_mark()   # around the whole LoadGen run (its session setup included)
            v, valid, own = loadgen_round(workdir, scenario, seconds)
            print(json.dumps({"value": v, "valid": valid, "sut_timer": own, "noise": noise_figures(a, noise_mark())}))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per run")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare session.run reference runs")
    ap.add_argument("--shuffle", action="store_true",
                    help="shift every measured process's heap by a random amount first (layout randomisation)")
    args = ap.parse_args()
    try:
        import mlperf_loadgen  # noqa: F401  (only: is it installed?)
    except ImportError:
        print("SKIPPED: mlperf_loadgen is not installed; pip install -e '.[loadgen]' (x86_64 wheel)")
        emit("loadgen_crosscheck_max_rel_diff", None, "<=0.03", skipped="mlperf_loadgen not installed")
        return

    load = os.getloadavg()[0]
    kinds = ("edgeeval", "loadgen") if args.no_bare else ("edgeeval", "loadgen", "bare")
    scenarios = ("single-stream", "offline")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="edgeeval-lg-") as tmp:
        workdir = Path(tmp)
        mlp(workdir / "model.onnx", IN_FEATURES, HIDDEN, CLASSES, seed=0)
        x = np.random.default_rng(0).standard_normal((SAMPLES, IN_FEATURES)).astype(np.float32)
        write_eval_npz(workdir / "data.npz", {"input": x})
        rows = []
        for r in range(args.rounds):
            order = rotated(list(kinds), r)
            row = {"round": r, "order": "/".join(order)}
            for scenario in scenarios:
                for kind in order:
                    res = (edgeeval_round(workdir, scenario, args.seconds, args.shuffle) if kind == "edgeeval"
                           else child_round(kind, workdir, scenario, args.seconds, args.shuffle))
                    row[f"{scenario}_{kind}"] = res["value"]
                    row[f"{scenario}_{kind}_noise"] = _noise_brief(res.get("noise"))
                    if kind == "loadgen":
                        row[f"{scenario}_loadgen_valid"] = res["valid"]
                        row[f"{scenario}_loadgen_sut_timer"] = res["sut_timer"]
            rows.append(row)
            print(f"round {r} ({row['order']}): p90 ms edgeeval {row['single-stream_edgeeval']:.4f} "
                  f"loadgen {row['single-stream_loadgen']:.4f} | offline samples/s edgeeval "
                  f"{row['offline_edgeeval']:.1f} loadgen {row['offline_loadgen']:.1f}"
                  + ("" if args.no_bare else f" | bare p90 {row['single-stream_bare']:.4f} "
                                             f"offline {row['offline_bare']:.1f}"), flush=True)
    figs = {}
    for scenario, metric in (("single-stream", "p90_ms"), ("offline", "samples_per_s")):
        e = np.array([r[f"{scenario}_edgeeval"] for r in rows])
        g = np.array([r[f"{scenario}_loadgen"] for r in rows])
        f = {"edgeeval_mean": float(e.mean()), "loadgen_mean": float(g.mean()),
             "ratio": float(e.mean() / g.mean()), "ratio_ci95": paired_bootstrap_ci(e, g),
             "median_round_ratio": median((e / g).tolist()),
             "run_cv": {"edgeeval": float(e.std(ddof=1) / e.mean()), "loadgen": float(g.std(ddof=1) / g.mean())},
             "runs": len(rows)}
        own = np.array([r[f"{scenario}_loadgen_sut_timer"] for r in rows])
        f["loadgen_over_its_sut_timer"] = {"median": median((g / own).tolist()), "min": float((g / own).min()),
                                           "max": float((g / own).max())}
        if not args.no_bare:
            b = np.array([r[f"{scenario}_bare"] for r in rows])
            f.update(bare_mean=float(b.mean()), edgeeval_over_bare=float(e.mean() / b.mean()),
                     loadgen_over_bare=float(g.mean() / b.mean()))
        figs[f"{scenario}_{metric}"] = f
    worst = max(abs(f["ratio"] - 1.0) for f in figs.values())
    resolution = max(max(abs(f["ratio_ci95"][0] - 1), abs(f["ratio_ci95"][1] - 1)) for f in figs.values())
    all_valid = all(r[k] for r in rows for k in r if k.endswith("_valid"))
    noises = [n for r in rows for k, n in r.items() if k.endswith("_noise") and n]
    steal = [n["steal_share"] for n in noises if n.get("steal_share") is not None]
    other = [n["other_busy_share"] for n in noises if n.get("other_busy_share") is not None]
    for k, f in figs.items():
        print(f"{k}: mean over {f['runs']} runs edgeeval {f['edgeeval_mean']:.4f}, LoadGen {f['loadgen_mean']:.4f}; "
              f"ratio {f['ratio']:.4f} [95% CI {f['ratio_ci95'][0]:.4f}, {f['ratio_ci95'][1]:.4f}]; "
              f"median per-round ratio {f['median_round_ratio']:.4f}; run-to-run CV edgeeval "
              f"{f['run_cv']['edgeeval']:.3f}, LoadGen {f['run_cv']['loadgen']:.3f}; LoadGen over a timer "
              f"around session.run in its own SUT, same queries: median {f['loadgen_over_its_sut_timer']['median']:.4f} "
              f"[{f['loadgen_over_its_sut_timer']['min']:.4f}, {f['loadgen_over_its_sut_timer']['max']:.4f}]"
              + ("" if args.no_bare else f"; vs bare: edgeeval {f['edgeeval_over_bare']:.4f}, "
                                         f"LoadGen {f['loadgen_over_bare']:.4f}"))
    print(f"largest |ratio - 1| = {worst:.4f} (target <= 0.03); the 95% intervals reach {resolution:.4f}; "
          f"every LoadGen run VALID: {all_valid}; steal per run median {median(steal) if steal else float('nan'):.4f} "
          f"max {max(steal) if steal else float('nan'):.4f}; other load per run median "
          f"{median(other) if other else float('nan'):.4f}; 1-min load average at start {load:.2f}; "
          f"{time.time() - t0:.0f} s")
    worst_fig = max(figs.values(), key=lambda f: abs(f["ratio"] - 1.0))
    ci95 = [round(abs(x - 1.0), 4) for x in worst_fig["ratio_ci95"]]   # |ratio - 1| at the interval's ends
    emit("loadgen_crosscheck_max_rel_diff", round(worst, 4), "<=0.03", ci95=sorted(ci95) if
         worst_fig["ratio_ci95"][0] > 1.0 or worst_fig["ratio_ci95"][1] < 1.0 else [0.0, max(ci95)],
         passed=bool(worst <= 0.03),
         figures=figs, ci95_reach=round(resolution, 4), loadgen_all_valid=all_valid, rounds=args.rounds,
         seconds=args.seconds, shuffle=args.shuffle, cpu_pinned=max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
         steal_share_median=median(steal) if steal else None, steal_share_max=max(steal) if steal else None,
         other_busy_share_median=median(other) if other else None,
         load_average_1m=load, per_round=rows)


def _noise_brief(noise) -> dict | None:
    if not isinstance(noise, dict):
        return None
    return {k: noise.get(k) for k in ("steal_share", "other_busy_share", "reason")}


if __name__ == "__main__":
    main()

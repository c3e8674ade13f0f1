"""Observer effect of the power and thermal samplers on latency, on a simulated sensor.

Two kinds per round, each a fresh agent process pinned to the last CPU: "observed" (the agent
with a fake INA226 hwmon tree, the power sampler at its default 0.05 s and the 1 s thermal
sampler running during the timed phase — the worst case) and "off" (the same job without
"power": nothing runs). Many short rounds, order rotated (benchmarks/_common.py `interleaved`);
the figure is mean(observed p50) / mean(off p50) with its paired-bootstrap 95% interval, and the
target is met when the interval's upper bound is. Last line: JSON.

    PYTHONPATH=. python benchmarks/observer_overhead.py [--rounds 100] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeeval.agent import AGENT_PATH
from edgeeval.jobdefaults import complete
from edgeeval.testing import powerboard as pb
from edgeeval.testing.models import make_job, mlp, write_eval_npz

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, interleaved, pctl, pin_to_last_cpu, ratio_of_means  # noqa: E402

RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
KINDS = ("observed", "off")
TARGET = 1.02


def round_p50(workdir: Path, seconds: float, observed: bool) -> float:
    job = make_job("model.onnx", "data.npz", warmup=50, min_runs=100, min_seconds=seconds,
                   max_seconds=seconds * 3, accuracy=False, runtime=RUNTIME, progress_interval_s=1.0)
    if observed:  # default sample rate; the power sampler also runs during the timed phase (worst case)
        job["power"] = {"sensor": "hwmon", "chip": "ina226", "sysfs_root": str(workdir / "root"),
                        "sample_during_timed": True, "idle_s": 0.0, "warmup_max_s": 0.0,
                        "window_min_s": 0.0, "windows": 1}
    proc = subprocess.run([sys.executable, str(AGENT_PATH), "run"], cwd=workdir, input=json.dumps(complete(job)),
                          capture_output=True, text=True, timeout=300, preexec_fn=pin_to_last_cpu)
    last = json.loads(proc.stdout.splitlines()[-1])
    if last["event"] != "result":
        raise SystemExit(f"agent failed: {last.get('message')}\n{proc.stderr}")
    return pctl(sorted(last["latencies_ns"]), 0.5) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=0.5)
    args = ap.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as td:
        wd = Path(td)
        mlp(wd / "model.onnx", 512, (1024, 1024, 1024), 10)
        rng = np.random.default_rng(0)
        write_eval_npz(wd / "data.npz", {"input": rng.standard_normal((64, 512)).astype(np.float32)},
                       labels=rng.integers(0, 10, 64))
        pb.fake_ina226(wd / "root")
        pb.fake_thermal(wd / "root")
        model = pb.start_model(wd / "root", wd / "model.log")
        try:
            rows = interleaved(list(KINDS), args.rounds, lambda k: round_p50(wd, args.seconds, k == "observed"),
                               lambda row: print(f"round {row['round']:>3} ({row['order']}): observed "
                                                 f"{row['observed']:.1f} us, off {row['off']:.1f} us",
                                                 file=sys.stderr, flush=True))
        finally:
            model.terminate()
    fig = ratio_of_means(rows, "observed", "off")
    print(f"observed/off p50: {fig['ratio']:.4f} [95% CI {fig['ci95'][0]:.4f}, {fig['ci95'][1]:.4f}], "
          f"median per-round {fig['median_round_ratio']:.4f}; {args.rounds} rounds x {args.seconds} s, "
          f"{time.time() - t0:.0f} s", file=sys.stderr)
    emit("observer_overhead_p50_ratio", round(fig["ratio"], 4), f"<={TARGET}", ci95=[round(x, 4) for x in fig["ci95"]],
         passed=bool(fig["ci95"][1] <= TARGET), median_round_ratio=round(fig["median_round_ratio"], 4),
         observed_p50_us=float(np.mean([r["observed"] for r in rows])),
         off_p50_us=float(np.mean([r["off"] for r in rows])), rounds=args.rounds, seconds=args.seconds,
         sampler="hwmon ina226 at the default 0.05 s + thermal 1 s", per_round=rows)


if __name__ == "__main__":
    main()

"""Observer effect of the power and thermal samplers on latency, on a simulated sensor.

Rounds alternate "observed" (the agent with a fake INA226 hwmon tree, the power sampler at its
default rate and the 1 s thermal sampler running during the timed phase) and "off" (the same
job without "power": nothing runs), order flipped each round. The samplers are started for
the whole timed phase via the job's power block; the power phases themselves are skipped by
making the windows tiny. Per-kind p50 is the median of round p50s; last line: JSON, the ratio.

    PYTHONPATH=. python benchmarks/observer_overhead.py [--rounds 6] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeeval.agent import AGENT_PATH
from edgeeval.testing import powerboard as pb
from edgeeval.testing.models import make_job, mlp, write_eval_npz

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit  # noqa: E402

RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}


def p50(values):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.5))]


def round_p50(workdir: Path, seconds: float, observed: bool) -> float:
    job = make_job("model.onnx", "data.npz", warmup=50, min_runs=100, min_seconds=seconds,
                   max_seconds=seconds * 3, accuracy=False, runtime=RUNTIME, progress_interval_s=1.0)
    if observed:  # default sample rate; the power sampler also runs during the timed phase (worst case)
        job["power"] = {"sensor": "hwmon", "chip": "ina226", "sysfs_root": str(workdir / "root"),
                        "sample_during_timed": True, "idle_s": 0.0, "warmup_max_s": 0.0,
                        "window_min_s": 0.0, "windows": 1}
    proc = subprocess.run([sys.executable, str(AGENT_PATH), "run"], cwd=workdir, input=json.dumps(job),
                          capture_output=True, text=True, timeout=300)
    last = json.loads(proc.stdout.splitlines()[-1])
    if last["event"] != "result":
        raise SystemExit(f"agent failed: {last.get('message')}\n{proc.stderr}")
    return p50(last["latencies_ns"]) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        wd = Path(td)
        mlp(wd / "model.onnx", 512, (1024, 1024, 1024), 10)
        rng = np.random.default_rng(0)
        write_eval_npz(wd / "data.npz", {"input": rng.standard_normal((64, 512)).astype(np.float32)},
                       labels=rng.integers(0, 10, 64))
        pb.fake_ina226(wd / "root")
        pb.fake_thermal(wd / "root")
        model = pb.start_model(wd / "root", wd / "model.log")
        obs, off = [], []
        try:
            for r in range(args.rounds):
                order = (True, False) if r % 2 == 0 else (False, True)
                for o in order:
                    (obs if o else off).append(round_p50(wd, args.seconds, o))
                print(f"round {r}: observed {obs[-1]:.1f} us, off {off[-1]:.1f} us", file=sys.stderr)
        finally:
            model.terminate()
    ratio = statistics.median(obs) / statistics.median(off)
    emit("observer_overhead_p50_ratio", round(ratio, 4), "<=1.02",
         observed_p50_us=statistics.median(obs), off_p50_us=statistics.median(off),
         rounds=args.rounds, seconds=args.seconds, sampler="hwmon ina226 at the default 0.05 s + thermal 1 s",
         rounds_observed_us=obs, rounds_off_us=off)


if __name__ == "__main__":
    main()

"""Farm scaling: a campaign on 16 virtual boards ÷ the same per-board work on 1 board (target ≤ 1.25).

16 real sshd boards (edgeeval.farm.lab, the synthetic runtime: each inference sleeps a seeded
lognormal duration, so the boards do not fight over the 2 cores for the model itself; each job is
the default length, ≥ 200 runs and ≥ 5 s timed, as a nightly's standard profile). Per round,
interleaved with the order rotated: a campaign of J jobs on 1 board, and a campaign of 16 × J
jobs on 16 boards (J per board), each a fresh `edgeeval farm run` process with its own store and
campaign, health checks included (one per board). Figure: mean wall time (16 boards) ÷ mean wall
time (1 board) over the rounds, with the paired-bootstrap 95% interval. Also reported: the
controller's CPU-seconds per job (user + sys of the `farm run` process and its children, which
for sshd boards are the controller alone) and the wall time per job.

    PYTHONPATH=. python benchmarks/farm_scaling.py [--rounds 5] [--boards 16] [--median-ms 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, interleaved, median, ratio_of_means  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "digits-cnn.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--boards", type=int, default=16)
    ap.add_argument("--median-ms", type=float, default=2.0)
    ap.add_argument("--variants", default="fp32,int8-static")
    ap.add_argument("--min-seconds", type=float, default=5.0, help="each job's timed phase (the standard profile's 5 s)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgeeval-farm-bench-"))
    env = dict(os.environ, EDGEEVAL_HOME=str(work / "home"), HF_HUB_OFFLINE="1")
    from edgeeval.farm import lab

    subprocess.run([sys.executable, "-m", "edgeeval", "build", str(RECIPE)], env=env, check=True,
                   capture_output=True)
    rec = lab.up(args.boards, work / "lab", synthetic_ms=args.median_ms)
    names = [b["name"] for b in rec["boards"]]
    variants = args.variants.split(",")
    try:
        plans = {}
        for kind, boards in (("one", names[:1]), ("all", names)):
            p = work / f"{kind}.yaml"
            p.write_text(yaml.safe_dump({"name": f"bench-{kind}", "matrix": [{
                "recipe": str(RECIPE), "variants": variants, "devices": boards,
                "timing": {"min_runs": 200, "min_seconds": args.min_seconds, "warmup": 10}}]}))
            plans[kind] = p
        count = {"n": 0}

        def busy_s() -> float:
            """CPU-seconds the whole machine spent busy so far (/proc/stat): the boards' share is this
            minus the controller's, since the virtual boards run on the controller's cores."""
            v = list(map(int, open("/proc/stat").readline().split()[1:]))
            return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")

        def measure(kind: str) -> dict:
            count["n"] += 1
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            b0 = busy_s()
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "edgeeval", "farm", "run", str(plans[kind]), "-i",
                                   rec["inventory"], "--store", str(work / f"r{count['n']}.db"), "--json"],
                                  env=env, capture_output=True, text=True, timeout=3600)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            res = json.loads(proc.stdout)
            jobs = len(res["jobs"])
            bad = [j for j in res["jobs"] if j["status"] not in ("ok", "gate_failed")]   # synthetic: accuracy unknown
            if bad:
                raise SystemExit(f"{kind}: jobs did not run: {bad[:2]}\n{proc.stderr[-2000:]}")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return {"wall_s": wall, "campaign_s": res["wall_s"], "jobs": jobs, "cpu_s": cpu,
                    "boards_cpu_s": busy_s() - b0 - cpu}

        rows = interleaved(["all", "one"], args.rounds, measure,
                           log=lambda r: print(json.dumps({k: v if not isinstance(v, dict) else
                                                           {kk: round(vv, 3) for kk, vv in v.items()}
                                                           for k, v in r.items()}), flush=True))
    finally:
        lab.down(work / "lab")
    stat = ratio_of_means(rows, "all", "one", key=lambda v: v["wall_s"])
    cpu_per_job = median([r["all"]["cpu_s"] / r["all"]["jobs"] for r in rows])
    cpu_per_job_one = median([r["one"]["cpu_s"] / r["one"]["jobs"] for r in rows])
    board_cpu_per_job = median([r["all"]["boards_cpu_s"] / r["all"]["jobs"] for r in rows])
    print(f"{args.boards}-board campaign ÷ 1-board campaign: {stat['ratio']:.3f} {stat['ci95']} "
          f"(median round {stat['median_round_ratio']:.3f}); wall {median([r['all']['wall_s'] for r in rows]):.1f} s "
          f"for {rows[0]['all']['jobs']} jobs vs {median([r['one']['wall_s'] for r in rows]):.1f} s for "
          f"{rows[0]['one']['jobs']}; controller CPU {cpu_per_job:.2f} s per job ({args.boards} boards), "
          f"{cpu_per_job_one:.2f} s (1 board); the virtual boards' own CPU {board_cpu_per_job:.2f} s per job, on "
          f"the same {os.cpu_count()} cores")
    emit(f"farm_wall_ratio_{args.boards}_boards_vs_1", round(stat["ratio"], 4), "<= 1.25 (95% upper bound)",
         ci95=[round(x, 4) for x in stat["ci95"]], median_round_ratio=round(stat["median_round_ratio"], 4),
         rounds=stat["rounds"], boards=args.boards, min_seconds=args.min_seconds, jobs_per_board=len(variants),
         controller_cpu_s_per_job=round(cpu_per_job, 3), controller_cpu_s_per_job_one_board=round(cpu_per_job_one, 3),
         boards_cpu_s_per_job=round(board_cpu_per_job, 3), cores=os.cpu_count(),
         wall_s_all=round(median([r["all"]["wall_s"] for r in rows]), 2),
         wall_s_one=round(median([r["one"]["wall_s"] for r in rows]), 2), synthetic_median_ms=args.median_ms)


if __name__ == "__main__":
    main()

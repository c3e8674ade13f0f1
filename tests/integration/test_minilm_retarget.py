"""optimum's int8 config follows the TARGET device: an arm64 board gets the arm64 config, its own artifact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow   # builds real models / long scenario runs

pytest.importorskip("optimum.onnxruntime", reason="needs the hf extra: pip install -e '.[hf]'")

MINILM = ROOT / "recipes" / "minilm-embeddings.yaml"
ARM = {"arch": "aarch64", "cpu": {"flags": ["asimd", "fp"]}}
AVX2 = {"arch": "x86_64", "cpu": {"flags": ["sse4_2", "avx", "avx2", "fma"]}}   # no avx512, no vnni

_CODE = """
import json
from edgeeval.recipes.build import build
out = {}
for label, facts in (("x86", %r), ("arm", %r), ("arm-again", %r)):
    r = build(%r, only=["int8"], target_facts=facts)
    v = r.variants[0]
    out[label] = {"cfg": v.quantization["optimum_config"], "why": v.quantization["optimum_config_reason"],
                  "weights": v.quantization.get("weights_dtype"), "sha": v.sha256, "key": v.key, "built": r.built}
print(json.dumps(out))
"""


def _build_three(recipe, x86_facts) -> tuple[dict, dict, dict]:
    """int8 built for an x86 target (`x86_facts`; None = this machine), an arm64 board, that board again."""
    proc = subprocess.run([sys.executable, "-c", _CODE % (x86_facts, ARM, ARM, str(recipe))], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return got["x86"], got["arm"], got["arm-again"]


def test_auto_config_follows_the_target_facts(tmp_path):
    # the optimum configs' own weight types (no recipe override): avx2 is u8/u8, arm64 u8/s8
    text = MINILM.read_text()
    assert "weight_type: int8" in text and "path: data/embedding-eval.txt" in text
    text = text.replace(", weight_type: int8", "").replace("path: data/embedding-eval.txt",
                                                          f"path: {ROOT / 'recipes' / 'data' / 'embedding-eval.txt'}")
    recipe = tmp_path / "minilm-config-weights.yaml"
    recipe.write_text(text)
    # an AVX2 target whatever this machine is: two quantizations, two artifacts
    avx2, arm, again = _build_three(recipe, AVX2)
    assert avx2["cfg"] == "avx2" and avx2["why"] == "arch x86_64 with avx2, no avx512" and avx2["weights"] == "QUInt8"
    assert arm["cfg"] == "arm64" and arm["why"] == "arch aarch64" and arm["weights"] == "QInt8"
    assert arm["key"] != avx2["key"] and arm["sha"] != avx2["sha"]
    assert again["built"] == [] and again["sha"] == arm["sha"]      # content-addressed: no rebuild


def test_recipe_weight_type_wins_over_every_config():
    # the shipped recipe pins s8 weights: whatever config the target picks, the quantization is u8/s8, so the
    # bytes are the same; the key still names the config, so the record says which one the board got
    here, arm, again = _build_three(MINILM, None)        # this machine's own facts
    assert arm["cfg"] == "arm64" and here["weights"] == arm["weights"] == "QInt8"
    if here["cfg"] != "arm64":
        assert arm["key"] != here["key"] and arm["sha"] == here["sha"]
    assert again["built"] == [] and again["sha"] == arm["sha"]

"""optimum's int8 config follows the TARGET device: an arm64 board gets the arm64 config, its own artifact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

pytest.importorskip("optimum.onnxruntime", reason="needs the hf extra: pip install -e '.[hf]'")

MINILM = ROOT / "recipes" / "minilm-embeddings.yaml"

_CODE = """
import json
from edgeeval.recipes.build import build
out = {}
for label, facts in (("here", None), ("arm", {"arch": "aarch64", "cpu": {"flags": ["asimd", "fp"]}}),
                     ("arm-again", {"arch": "aarch64", "cpu": {"flags": ["asimd", "fp"]}})):
    r = build(%r, only=["int8"], target_facts=facts)
    v = r.variants[0]
    out[label] = {"cfg": v.quantization["optimum_config"], "why": v.quantization["optimum_config_reason"],
                  "sha": v.sha256, "key": v.key, "built": r.built}
print(json.dumps(out))
"""


def test_auto_config_follows_the_target_facts():
    proc = subprocess.run([sys.executable, "-c", _CODE % str(MINILM)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    here, arm, again = got["here"], got["arm"], got["arm-again"]
    assert arm["cfg"] == "arm64" and arm["why"] == "arch aarch64"
    if here["cfg"] != "arm64":                       # an x86 controller: two configs, two artifacts
        assert arm["key"] != here["key"] and arm["sha"] != here["sha"]
    assert again["built"] == [] and again["sha"] == arm["sha"]      # content-addressed: no rebuild

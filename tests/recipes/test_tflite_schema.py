"""Recipe rules for `format: tflite` variants (no converter needed: these are schema checks)."""

from __future__ import annotations

import pytest

from edgeeval.errors import UserInputError
from edgeeval.recipes.schema import load_recipe
from edgeeval.testing.models import tiny_mlp

VARIANTS = """variants:
  - {name: fp32, precision: fp32}
  - {name: lite, format: tflite, precision: int8}
"""


def _write(tmp_path, source: str, variants: str = VARIANTS):
    p = tmp_path / "r.yaml"
    p.write_text(f"name: t\nsource: {source}\ndata: {{type: npz, path: eval.npz}}\n{variants}")
    (tmp_path / "eval.npz").write_bytes(b"")
    return p


def test_onnx_source_cannot_have_tflite_variants_and_the_line_is_named(tmp_path):
    tiny_mlp(tmp_path / "m.onnx")
    with pytest.raises(UserInputError) as e:
        load_recipe(_write(tmp_path, "{type: onnx, path: m.onnx}"))
    msg = str(e.value)
    assert "r.yaml:6" in msg and "variants.1.format" in msg and "'lite'" in msg and "PyTorch module" in msg


def test_tflite_precisions_and_settings(tmp_path):
    bad = VARIANTS.replace("precision: int8}", "precision: int8-static}")   # an ONNX-only precision
    with pytest.raises(UserInputError) as e:
        load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}", bad))
    assert "format tflite builds precisions fp32 | fp16 | int8 | int8-dynamic" in str(e.value)
    onnx_int8 = VARIANTS.replace("format: tflite, ", "")
    with pytest.raises(UserInputError):
        load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}", onnx_int8))
    r = load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}"))
    assert r.variant("lite").settings() == {"format": "tflite", "precision": "int8", "calibration_samples": None}
    # ONNX variants keep their cache keys: no "format" entry
    assert "format" not in r.variant("fp32").settings()

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


@pytest.mark.parametrize("extra", ["per_channel: true", "reduce_range: true", "optimum_config: avx2",
                                   "op_types_to_quantize: [MatMul]"])
def test_tflite_variant_refuses_onnx_runtime_quantization_settings(tmp_path, extra):
    """int8-dynamic exists for both formats; its ONNX Runtime settings would be silently ignored by
    the TFLite converter, so they are refused on a tflite variant, with the line and the fix."""
    v = VARIANTS.replace("precision: int8}", f"precision: int8-dynamic, {extra}}}")
    with pytest.raises(UserInputError) as e:
        load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}", v))
    msg = str(e.value)
    field = extra.split(":")[0]
    assert "r.yaml:6" in msg and f"variants.1.{field}" in msg
    assert "ONNX Runtime quantization setting" in msg and "remove it" in msg


def test_tflite_int8_keeps_calibration_samples_and_fp16_refuses_keep_io_types(tmp_path):
    ok = VARIANTS.replace("precision: int8}", "precision: int8, calibration_samples: 50}")
    r = load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}", ok))
    assert r.variant("lite").settings()["calibration_samples"] == 50
    bad = VARIANTS.replace("precision: int8}", "precision: fp16, keep_io_types: false}")
    with pytest.raises(UserInputError) as e:
        load_recipe(_write(tmp_path, "{type: python, callable: 'edgeeval.models.mobilenet:build_mobilenet'}", bad))
    assert "variants.1.keep_io_types" in str(e.value)

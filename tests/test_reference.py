"""Server FP32 baseline: real onnxruntime runs over the eval set, cached by (model, dataset) sha256."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeeval import paths
from edgeeval.recipes import build
from edgeeval.source_kinds import server_baseline

RECIPE = """\
name: baseline-test
source: {type: onnx, path: model.onnx}
data: {type: npz, path: eval.npz}
variants:
  - {name: fp32, precision: fp32}
"""


def _project(tmp_path, batch):
    """Gemm + Softmax with a dynamic ("n") or fixed batch axis; 37 samples so chunks do not divide evenly."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(size=(6, 4)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Softmax", ["z"], ["p"], axis=-1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 6])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 4]),
         helper.make_tensor_value_info("p", TensorProto.FLOAT, [batch, 4])], [w])
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9),
                    str(tmp_path / "model.onnx"))
    x = rng.normal(size=(37, 6)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, labels=rng.integers(0, 4, 37))
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    return tmp_path / "recipe.yaml", x


@pytest.mark.parametrize("batch", ["n", 1])
def test_baseline_equals_per_sample_runs_and_is_cached(tmp_path, batch):
    recipe, x = _project(tmp_path, batch)
    res = build(recipe)
    first = server_baseline(res)
    assert not first.cached
    assert first.output_names == ["z", "p"]
    assert first.model_sha256 == res.fp32.sha256 and first.dataset_sha256 == res.eval_set.sha256
    assert first.path.parent == paths.baselines_dir() and first.path.exists()
    assert first.runtime_version == ort.__version__ and first.providers == ["CPUExecutionProvider"]
    assert first.labels is not None and first.labels.shape == (37,)
    sess = ort.InferenceSession(str(res.fp32.path), providers=["CPUExecutionProvider"])
    per_sample = np.concatenate([sess.run(["p"], {"x": x[i:i + 1]})[0] for i in range(len(x))])
    assert first.outputs["p"].shape == (37, 4) and first.outputs["z"].shape == (37, 4)
    np.testing.assert_allclose(first.outputs["p"], per_sample, rtol=1e-5, atol=1e-6)

    again = server_baseline(build(recipe))
    assert again.cached and again.path == first.path and again.output_names == first.output_names
    for name in first.output_names:
        np.testing.assert_array_equal(again.outputs[name], first.outputs[name])


def test_baseline_key_follows_model_and_dataset(tmp_path):
    recipe, x = _project(tmp_path, "n")
    first = server_baseline(build(recipe))
    np.savez(tmp_path / "eval.npz", x=x[:10], labels=np.zeros(10, dtype=np.int64))
    second = server_baseline(build(recipe))
    assert not second.cached and second.path != first.path
    assert second.model_sha256 == first.model_sha256 and second.dataset_sha256 != first.dataset_sha256
    assert second.outputs["p"].shape == (10, 4)
    np.testing.assert_allclose(second.outputs["p"], first.outputs["p"][:10], rtol=1e-5, atol=1e-6)

"""`source: onnx` with two inputs, dynamic axes and external data; npz data; python-file preprocess."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeeval.errors import UserInputError
from edgeeval.recipes import build

RECIPE = """\
name: two-inputs
source: {type: onnx, path: model.onnx}
data:
  type: npz
  path: eval.npz
  labels: y
  preprocess: prep.py:to_float32
  calibrate_on_eval: true      # no calibration split: the static variant calibrates on the eval set, said so
variants:
  - {name: fp32, precision: fp32}
  - {name: fp16, precision: fp16}
  - {name: dyn, precision: int8-dynamic, per_channel: false}
  - {name: static, precision: int8-static, calibration_samples: 64, calibration_method: entropy}
"""

PREP = """\
import numpy as np

def to_float32(split):
    return {k: np.asarray(v, dtype=np.float32) for k, v in split.items()}
"""


def make_two_input_model(folder, seed=0):
    """y = relu(a @ W1 + b @ W2 + c) and softmax(y @ W3), batch axis "n", weights as external data."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("W1", (4, 16)), ("W2", (3, 16)), ("c", (16,)), ("W3", (16, 5)))]
    nodes = [helper.make_node("MatMul", ["a", "W1"], ["m1"]), helper.make_node("MatMul", ["b", "W2"], ["m2"]),
             helper.make_node("Add", ["m1", "m2"], ["s"]), helper.make_node("Add", ["s", "c"], ["t"]),
             helper.make_node("Relu", ["t"], ["hidden"]), helper.make_node("MatMul", ["hidden", "W3"], ["z"]),
             helper.make_node("Softmax", ["z"], ["probs"], axis=-1)]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["n", 16]),
         helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    (folder / "model.onnx.data").unlink(missing_ok=True)     # onnx appends to an existing data file
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    a = rng.normal(size=(300, 4))
    b = rng.normal(size=(300, 3))
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    probs = sess.run(["probs"], {"a": a.astype(np.float32), "b": b.astype(np.float32)})[0]
    np.savez(folder / "eval.npz", a=a, b=b, y=probs.argmax(1))   # float64 on purpose: prep.py converts


@pytest.fixture
def project(tmp_path):
    make_two_input_model(tmp_path)
    (tmp_path / "prep.py").write_text(PREP)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    return tmp_path


def test_two_input_external_data_model_builds_self_contained_variants(project):
    assert (project / "model.onnx.data").exists()
    r = build(project / "recipe.yaml")
    assert r.built == ["fp32", "fp16", "dyn", "static"]
    ev = r.eval_set
    assert ev.inputs == ["a", "b"] and ev.labels == "labels" and ev.samples == 300
    assert ev.calibration_samples == 200 and "first 200" in ev.calibration_from
    with np.load(ev.path) as z:
        feeds = {"a": z["a"], "b": z["b"]}
        labels = z["labels"]
    assert feeds["a"].dtype == np.float32
    ref = None
    for v in r.variants:
        m = onnx.load(str(v.path), load_external_data=False)
        assert not any(t.data_location == TensorProto.EXTERNAL for t in m.graph.initializer), v.name
        assert [i["shape"] for i in v.inputs] == [["n", 4], ["n", 3]]
        assert [o["name"] for o in v.outputs] == ["hidden", "probs"]
        assert all(o["dtype"] == "float32" for o in v.inputs + v.outputs)
        sess = ort.InferenceSession(str(v.path), providers=["CPUExecutionProvider"])
        probs = sess.run(["probs"], feeds)[0]
        if v.precision != "int8-dynamic":   # dynamic quantization scales by the batch's own range
            one = sess.run(["probs"], {k: x[:1] for k, x in feeds.items()})[0]
            np.testing.assert_allclose(one, probs[:1], rtol=1e-5, atol=1e-6)
        ref = probs if v.name == "fp32" else ref
        agree = (probs.argmax(1) == ref.argmax(1)).mean()
        print(v.name, v.size_bytes, "agreement", agree)
        assert agree >= (1.0 if v.name == "fp32" else 0.9), v.name
    assert (ref.argmax(1) == labels).all()
    static = r.variant("static").quantization
    assert static["calibration_method"] == "entropy" and static["calibration_samples_used"] == 64
    assert r.variant("dyn").quantization["per_channel"] is False


def test_external_data_change_rebuilds_and_nothing_else_does(project):
    first = build(project / "recipe.yaml")
    again = build(project / "recipe.yaml")
    assert again.built == [] and again.fp32.sha256 == first.fp32.sha256
    # same .onnx bytes, different weights in the external file: the source hash must see it
    onnx_bytes = (project / "model.onnx").read_bytes()
    make_two_input_model(project, seed=1)
    assert (project / "model.onnx").read_bytes() == onnx_bytes
    third = build(project / "recipe.yaml")
    assert third.built == ["fp32", "fp16", "dyn", "static"]
    assert third.fp32.sha256 != first.fp32.sha256 and third.eval_set.sha256 != first.eval_set.sha256


def test_force_rebuilds_to_the_same_bytes(project):
    first = build(project / "recipe.yaml")
    forced = build(project / "recipe.yaml", force=True)
    assert forced.built == ["fp32", "fp16", "dyn", "static"] and not forced.fp32.cached
    assert [v.sha256 for v in forced.variants] == [v.sha256 for v in first.variants]
    assert forced.eval_set.sha256 == first.eval_set.sha256       # the .npz writer is deterministic


def test_preprocess_change_rebuilds_data(project):
    first = build(project / "recipe.yaml", only=["fp32"])
    (project / "prep.py").write_text(PREP.replace("dtype=np.float32)", "dtype=np.float32) * 1")
                                     + "\n# edited\n")
    second = build(project / "recipe.yaml", only=["fp32"])
    assert second.fp32.cached                               # the model does not depend on the data
    assert second.manifest["keys"]["data"] != first.manifest["keys"]["data"]


def test_data_that_cannot_feed_the_model_is_a_user_error(project):
    text = RECIPE.replace("  preprocess: prep.py:to_float32\n", "")
    (project / "recipe.yaml").write_text(text)
    with pytest.raises(UserInputError) as ei:
        build(project / "recipe.yaml")
    msgs = ei.value.problems
    assert len(msgs) == 2 and all(f"{project / 'recipe.yaml'}:3: field data: input" in m for m in msgs)
    assert "float64 but the model expects float32" in msgs[0]
    (project / "recipe.yaml").write_text(text.replace("  labels: y\n", "  labels: y\n  inputs: [a]\n"))
    with pytest.raises(UserInputError, match=r"provides inputs \['a'\] but the model expects \['a', 'b'\]"):
        build(project / "recipe.yaml")


def test_python_file_data_callable(project):
    (project / "mydata.py").write_text(
        "import numpy as np\n"
        "def load(n=50):\n"
        "    with np.load(__file__.replace('mydata.py', 'eval.npz')) as z:\n"
        "        split = {'a': z['a'][:n], 'b': z['b'][:n], 'labels': z['y'][:n]}\n"
        "    return {'test': split, 'calibration': {k: v[:100] for k, v in split.items()}}\n")
    (project / "recipe.yaml").write_text(
        RECIPE.replace("  type: npz\n  path: eval.npz\n  labels: y\n",
                       "  type: python\n  callable: mydata.py:load\n  params: {n: 120}\n"))
    r = build(project / "recipe.yaml", only=["static"])
    assert r.eval_set.samples == 120 and r.eval_set.calibration_samples == 100
    assert r.eval_set.calibration_from == "calibration split"
    assert r.variant("static").quantization["calibration_samples_used"] == 64


def test_a_failing_preprocess_is_a_user_error_naming_the_line(project):
    (project / "prep.py").write_text("def to_float32(split):\n    raise KeyError('oops')\n")
    with pytest.raises(UserInputError) as ei:
        build(project / "recipe.yaml")
    (msg,) = ei.value.problems
    assert "recipe.yaml:7: field data.preprocess: prep.py:to_float32 raised KeyError" in msg, msg
    assert "prep.py:2" in msg, msg          # the user's own frame, where the fix is


def test_calibrating_on_the_eval_set_is_refused_unless_the_recipe_says_so(project):
    (project / "recipe.yaml").write_text(RECIPE.replace("  calibrate_on_eval: true", "  # no calibration"))
    with pytest.raises(UserInputError) as ei:
        build(project / "recipe.yaml", only=["static"])
    (msg,) = ei.value.problems
    assert "recipe.yaml:13: field variants.3.precision" in msg and "calibrate_on_eval: true" in msg, msg
    assert "calibration: calib.npz" in msg, msg
    # fp32/fp16/dynamic need no calibration: they still build
    assert [v.name for v in build(project / "recipe.yaml", only=["fp32", "dyn"]).variants] == ["fp32", "dyn"]

"""`edgeeval init MODEL.onnx [--data]`: the drafted recipe deploys as written and scores right."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from .conftest import as_json, cli

FAST = ["--min-runs", "20", "--min-seconds", "0.02", "--warmup", "1"]


@pytest.fixture
def forest(tmp_path):
    """A skl2onnx random forest with ZipMap (label int64 [N] first, probabilities as seq(map) second)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    train, test = idx[:100], idx[100:]
    m = RandomForestClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X[train], y[train])
    (tmp_path / "rf.onnx").write_bytes(to_onnx(m, X[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())
    np.savez(tmp_path / "eval.npz", X=X[test], labels=y[test])
    return tmp_path


def test_init_then_deploy_scores_what_onnxruntime_gives(forest, tmp_path):
    proc = cli("init", "rf.onnx", "--data", "eval.npz", cwd=forest)
    assert proc.returncode == 0, proc.stderr
    assert "wrote rf.yaml" in proc.stderr and "edgeeval deploy rf.yaml" in proc.stderr
    text = (forest / "rf.yaml").read_text()
    recipe = yaml.safe_load(text)
    assert recipe["source"] == {"type": "onnx", "path": "rf.onnx"}
    assert recipe["data"]["predicted_label"] == "output_label" and recipe["data"]["labels"] == "labels"
    assert recipe["data"]["scores"] == "output_probability"
    assert "# Model outputs: output_label tensor(int64) [?]; output_probability seq(map(int64,tensor(float)))" in text
    assert "int8-static needs calibration samples" in text      # not offered without calibration data

    proc = cli("deploy", forest / "rf.yaml", "--variant", "fp32", "--json", "--store", tmp_path / "r.db", *FAST)
    assert proc.returncode == 0, proc.stderr
    v = as_json(proc)["variants"][0]
    sess = ort.InferenceSession(str(forest / "rf.onnx"), providers=["CPUExecutionProvider"])
    with np.load(forest / "eval.npz") as z:
        expected = float((sess.run(["output_label"], {"X": z["X"]})[0] == z["labels"]).mean())
    assert v["scoring"]["label"] == "output_label"
    assert round(v["accuracy"]["top1"], 4) == round(expected, 4)


def test_rerun_refuses_to_overwrite_and_force_does(forest):
    assert cli("init", "rf.onnx", "--data", "eval.npz", cwd=forest).returncode == 0
    proc = cli("init", "rf.onnx", "--data", "eval.npz", cwd=forest)
    assert proc.returncode == 2 and "already exists; pass --force" in proc.stderr, proc.stderr
    assert cli("init", "rf.onnx", "--data", "eval.npz", "--force", cwd=forest).returncode == 0


def _two_score_outputs(path):
    """Two float [N, C] outputs: which one is 'the' scores is the user's call, not init's."""
    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["a"]), helper.make_node("MatMul", ["x", "W2"], ["b"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3])], [w1, w2])
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))


def test_ambiguous_outputs_are_left_to_the_user_and_deploy_lists_them(tmp_path):
    _two_score_outputs(tmp_path / "two.onnx")
    np.savez(tmp_path / "eval.npz", x=np.ones((10, 4), np.float32), labels=np.zeros(10, np.int64))
    proc = cli("init", "two.onnx", "--data", "eval.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "two.yaml").read_text()
    assert "  # scores: NAME" in text and "set data.scores" in text
    assert "scores" not in (yaml.safe_load(text)["data"])
    proc = cli("deploy", tmp_path / "two.yaml", "--store", tmp_path / "r.db", *FAST)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "set data.scores" in proc.stderr and "a (tensor(float)" in proc.stderr, proc.stderr
    # naming one makes it deploy
    (tmp_path / "two.yaml").write_text(text.replace("  # scores: NAME", "  scores: b"))
    proc = cli("deploy", tmp_path / "two.yaml", "--variant", "fp32", "--json", "--store", tmp_path / "r.db", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert as_json(proc)["variants"][0]["scoring"]["scores"] == "b"


def test_without_data_it_writes_seeded_synthetic_inputs(tmp_path):
    seq = helper.make_graph(
        [helper.make_node("ReduceMean", ["ids_f"], ["pooled"], axes=[1], keepdims=0),
         helper.make_node("Cast", ["ids"], ["ids_f"], to=TensorProto.FLOAT)], "s",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch"])])
    onnx.save_model(helper.make_model(seq, opset_imports=[helper.make_opsetid("", 17)], ir_version=9),
                    str(tmp_path / "seq.onnx"))
    proc = cli("init", "seq.onnx", "--dim", "sequence=12", "-o", "out/seq.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recipe = yaml.safe_load((tmp_path / "out" / "seq.yaml").read_text())
    assert recipe["source"]["path"] == "../seq.onnx" and recipe["data"]["labels"] is None
    assert "accuracy_drop_pt" not in recipe["gates"]
    with np.load(tmp_path / "out" / recipe["data"]["path"]) as z:
        assert z["ids"].dtype == np.int64 and z["ids"].shape == (64, 12)
    assert "SYNTHETIC" in (tmp_path / "out" / "seq.yaml").read_text()


@pytest.mark.parametrize("args, needle", [
    (["missing.onnx"], "missing.onnx: no such file"),
    (["notonnx.onnx"], "is not a readable ONNX model"),
    (["two.onnx", "--data", "wrongkeys.npz"], "the model's inputs are ['x'] (missing ['x'])"),
    (["two.onnx", "--data", "f64.npz"], "input 'x' is float64 but the model expects float32; save it as float32"),
    (["two.onnx", "--data", "notnpz.npz"], "is not an .npz"),
    (["two.onnx", "--dim", "sequence"], "--dim 'sequence': write NAME=N"),
])
def test_user_mistakes_exit_2_in_one_line(tmp_path, args, needle):
    _two_score_outputs(tmp_path / "two.onnx")
    (tmp_path / "notonnx.onnx").write_text("<html>404</html>")
    (tmp_path / "notnpz.npz").write_text("x,y\n1,2\n")
    np.savez(tmp_path / "wrongkeys.npz", input=np.ones((3, 4), np.float32))
    np.savez(tmp_path / "f64.npz", x=np.ones((3, 4)))
    proc = cli("init", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "two.yaml").exists()

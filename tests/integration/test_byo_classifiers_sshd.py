"""Classifiers as users bring them (skl2onnx, onnx.helper, external data), deployed to a real sshd board.

For each model the accuracy edgeeval reports must equal what onnxruntime gives directly on the
same file and data (to 4 decimals), and the report must say which output was scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from .conftest import FAST, as_json, cli

pytestmark = pytest.mark.sshd

skl2onnx = pytest.importorskip("skl2onnx")


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y.astype(np.int64)


def _sklearn_models(folder: Path) -> dict[str, Path]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _digits()
    out = {}
    specs = [("rf-zipmap", RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0), None),
             ("rf-plain", RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0), {"zipmap": False}),
             ("scaler-logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)), None),
             ("mlp-external", MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0),
              {"zipmap": False})]
    for name, est, opts in specs:
        est.fit(X[:1200], y[:1200])
        kw = {"options": {id(est): opts}} if opts else {}
        model = skl2onnx.to_onnx(est, X[:1], target_opset={"": 17, "ai.onnx.ml": 3}, **kw)
        path = folder / f"{name}.onnx"
        if name == "mlp-external":   # skl2onnx writes float_data; only raw_data tensors go external
            for t in model.graph.initializer:
                t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
            onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=f"{name}.onnx.data", size_threshold=1024)
            assert (folder / f"{name}.onnx.data").stat().st_size > 1000
        else:
            onnx.save_model(model, str(path))
        out[name] = path
    np.savez(folder / "digits-eval.npz", X=X[1200:], labels=y[1200:])
    return out


def _two_input_graph(folder: Path) -> Path:
    """Inputs a [N,4], b [N,3]; outputs embedding [N,8] (float), logits [N,5] (float), label [N] (int64)."""
    rng = np.random.default_rng(3)
    wa, wb = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(3, 8)).astype(np.float32)
    wl = rng.normal(size=(8, 5)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["a", "wa"], ["ha"]), helper.make_node("MatMul", ["b", "wb"], ["hb"]),
             helper.make_node("Add", ["ha", "hb"], ["embedding"]),
             helper.make_node("MatMul", ["embedding", "wl"], ["logits"]),
             helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0)]
    graph = helper.make_graph(
        nodes, "two-input",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 8]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 5]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["n"])],
        [numpy_helper.from_array(wa, "wa"), numpy_helper.from_array(wb, "wb"), numpy_helper.from_array(wl, "wl")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = folder / "two-input.onnx"
    onnx.save_model(model, str(path))
    a, b = rng.normal(size=(400, 4)).astype(np.float32), rng.normal(size=(400, 3)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels = sess.run(["label"], {"a": a, "b": b})[0]
    flip = rng.random(400) < 0.15               # so accuracy is not a trivial 1.0
    labels = np.where(flip, (labels + 1) % 5, labels)
    np.savez(folder / "two-input-eval.npz", a=a, b=b, labels=labels)
    return path


def _recipe(folder: Path, name: str, model: Path, data: str, extra: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nsource: {{type: onnx, path: {model.name}}}\n"
                    f"data:\n  type: npz\n  path: {data}\n  labels: labels\n{extra}"
                    "variants:\n  - {name: fp32, precision: fp32}\n")
    return path


def _direct_accuracy(model: Path, data: Path, label_output: str) -> float:
    """What onnxruntime says, straight on the file: the predicted-label output against the labels."""
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    with np.load(data) as z:
        feeds = {i.name: z[i.name] for i in sess.get_inputs()}
        labels = z["labels"]
    pred = np.asarray(sess.run([label_output], feeds)[0]).reshape(-1)
    return float(np.mean(pred == labels))


@pytest.fixture(scope="module")
def sklearn_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("byo-sklearn")
    return folder, _sklearn_models(folder)


@pytest.fixture(scope="module")
def board(sshd_lab):
    b = sshd_lab.start_board("byo-board")
    yield b
    sshd_lab.remove(b)


def _deploy(sshd_lab, board, recipe: Path, tmp_path: Path):
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    return cli("deploy", recipe, "--device", board.name, "--inventory", inv, "--store", tmp_path / "r.db",
               "--json", *FAST)


@pytest.mark.parametrize("name, label_output, scores_output", [
    ("rf-zipmap", "output_label", "output_probability"),
    ("rf-plain", "label", "probabilities"),
    ("scaler-logreg", "output_label", "output_probability"),
    ("mlp-external", "label", "probabilities"),
])
def test_skl2onnx_classifiers_score_exactly_as_onnxruntime(sshd_lab, board, sklearn_models, tmp_path, name,
                                                           label_output, scores_output):
    folder, models = sklearn_models
    recipe = _recipe(folder, name, models[name], "digits-eval.npz")
    proc = _deploy(sshd_lab, board, recipe, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = as_json(proc)
    v = rep["variants"][0]
    assert v["scoring"] == {"scores": scores_output, "label": label_output, "chosen_by": "auto"}
    assert v["accuracy"]["output"] == label_output and v["accuracy"]["method"] == "predicted label"
    want = _direct_accuracy(models[name], folder / "digits-eval.npz", label_output)
    assert 0.5 < want < 1.0
    assert round(v["accuracy"]["top1"], 4) == round(want, 4)
    assert round(rep["baseline"]["top1"], 4) == round(want, 4)
    assert v["accuracy"]["drop_pt"] == 0.0
    # fidelity on the score output (a ZipMap became a dense [N, C] array in class order)
    prim = v["fidelity"]["primary"]
    assert prim["output"] == scores_output and prim["shape"] == [597, 10]
    assert prim["cosine_mean"] > 0.9999 and prim["top1_agreement"] == 1.0
    assert v["fidelity"][label_output]["label_agreement"] == 1.0


def test_two_input_graph_scores_the_named_output_and_refuses_to_guess(sshd_lab, board, tmp_path):
    model = _two_input_graph(tmp_path)
    # two float [N, C] outputs and no name: exit 2, listing every output and the field to set
    guess = _recipe(tmp_path, "guess", model, "two-input-eval.npz")
    proc = _deploy(sshd_lab, board, guess, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert f"{guess}:" in proc.stderr and "set data.scores" in proc.stderr
    for text in ("embedding (tensor(float), declared ['n', 8]", "logits (tensor(float)", "label (tensor(int64)"):
        assert text in proc.stderr, proc.stderr
    # a misspelt name: exit 2 with did-you-mean
    typo = _recipe(tmp_path, "typo", model, "two-input-eval.npz", "  scores: logit\n")
    proc = _deploy(sshd_lab, board, typo, tmp_path)
    assert proc.returncode == 2 and "did you mean 'logits'?" in proc.stderr, proc.stderr
    # named: accuracy from the label output (output 2), fidelity on the named scores (output 1)
    named = _recipe(tmp_path, "named", model, "two-input-eval.npz", "  scores: logits\n")
    proc = _deploy(sshd_lab, board, named, tmp_path)
    assert proc.returncode == 0, proc.stderr
    v = as_json(proc)["variants"][0]
    assert v["scoring"] == {"scores": "logits", "label": None, "chosen_by": "recipe"}
    want = _direct_accuracy(model, tmp_path / "two-input-eval.npz", "label")
    assert 0.7 < want < 0.95
    assert round(v["accuracy"]["top1"], 4) == round(want, 4)
    assert v["fidelity"]["primary"]["output"] == "logits"
    # the predicted label named instead: the same accuracy, read from output 2 directly
    label = _recipe(tmp_path, "label", model, "two-input-eval.npz", "  predicted_label: label\n  scores: logits\n")
    proc = _deploy(sshd_lab, board, label, tmp_path)
    assert proc.returncode == 0, proc.stderr
    v = as_json(proc)["variants"][0]
    assert v["scoring"]["label"] == "label" and v["accuracy"]["method"] == "predicted label"
    assert round(v["accuracy"]["top1"], 4) == round(want, 4)
    # a stored result recomputes to the same summary, scoring included
    shown = as_json(cli("results", "show", as_json(proc)["run_id"], "--store", tmp_path / "r.db", "--json"))
    assert shown["variants"][0]["scoring"]["label"] == "label"

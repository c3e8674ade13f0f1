"""The real agent file, run as a subprocess in a scratch work directory, against real onnxruntime."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import make_job, tiny_mlp, two_input_model, write_eval_npz


def ort_outputs(model, feeds, batch_size):
    """Reference outputs from a direct onnxruntime session, same settings as the agent's default."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    n = len(next(iter(feeds.values())))
    chunks = [sess.run(None, {k: v[s:s + batch_size] for k, v in feeds.items()})
              for s in range(0, n, batch_size)]
    return {o.name: np.concatenate([c[i] for c in chunks]) for i, o in enumerate(sess.get_outputs())}


@pytest.fixture
def board(tmp_path):
    """A work directory laid out like a board: cache/ holds the tiny MLP and its eval set."""
    rng = np.random.default_rng(1)
    tiny_mlp(tmp_path / "cache" / "mlp.onnx")
    x = rng.standard_normal((37, 64)).astype(np.float32)
    write_eval_npz(tmp_path / "cache" / "mlp.npz", {"input": x}, labels=rng.integers(0, 10, 37))
    return tmp_path


def _assert_nulls_have_reasons(d, where="facts"):
    for k, v in d.items():
        if v is None:
            assert d.get(k + "_reason"), f"{where}.{k} is null without a reason"
        elif isinstance(v, dict):
            _assert_nulls_have_reasons(v, f"{where}.{k}")


def test_probe_reports_real_facts(tmp_path):
    import onnxruntime as ort

    events, rc, err = run_agent(tmp_path, ["probe", "--workdir", str(tmp_path)])
    assert rc == 0, err
    assert len(events) == 1 and events[0]["event"] == "facts"
    f = events[0]
    assert f["agent_protocol"] == 1 and f["agent_version"]
    assert f["arch"] == platform.machine()
    assert f["os"]["system"] == platform.system() and f["kernel"]["release"] == platform.release()
    assert f["python"]["executable"] == sys.executable
    assert f["python"]["version"] == platform.python_version()
    assert f["numpy"] == {"version": np.__version__}
    assert f["runtimes"]["onnxruntime"]["version"] == ort.__version__
    assert "CPUExecutionProvider" in f["runtimes"]["onnxruntime"]["providers"]
    for name in ("ai_edge_litert", "tflite_runtime"):
        assert "version" in f["runtimes"][name] or "error" in f["runtimes"][name]
    assert f["cpu"]["logical_cores"] == os.cpu_count()
    assert f["memory"]["total_kb"] > f["memory"]["available_kb"] > 0
    assert f["disk"]["path"] == str(tmp_path) and f["disk"]["free_bytes"] > 0
    if f["cpu"]["governor"] is None:
        assert f["cpu"]["governor_reason"]
    _assert_nulls_have_reasons(f)


def test_run_tiny_mlp_end_to_end(board):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", batch_size=4, warmup=7, min_runs=50,
                   min_seconds=0.2, progress_interval_s=0.05)
    events, rc, err = run_agent(board, ["run"], job)
    assert rc == 0, err
    kinds = [e["event"] if e["event"] != "phase" else e["phase"] for e in events]
    assert kinds[0] == "hello" and events[0]["protocol"] == 1
    assert [k for k in kinds if k != "progress"] == [
        "hello", "load", "warmup", "timed", "accuracy", "done", "result"]
    timed_progress = [e for e in events if e["event"] == "progress" and e["phase"] == "timed"]
    assert timed_progress, "no progress during 0.2 s of timed runs at a 0.05 s interval"
    assert all(p["done"] > 0 and p["total"] is None for p in timed_progress)
    t_ns = [e["t_ns"] for e in events if e["event"] == "phase"]
    assert t_ns == sorted(t_ns)

    r = events[-1]
    assert r["job_id"] == job["job_id"]
    assert len(r["warmup_ns"]) == 7 and r["first_inference_ms"] == r["warmup_ns"][0] / 1e6
    assert len(r["latencies_ns"]) >= 50 and r["timed_runs"] == len(r["latencies_ns"])
    assert all(isinstance(v, int) and v > 0 for v in r["latencies_ns"])
    assert r["timed_wall_s"] >= 0.2 and r["timed_stop"] == "min_reached"
    assert r["timed_feeds"] == 9  # full batches of 4 from 37 samples
    assert r["load_ms"] > 0
    assert r["peak_rss_kb"] >= r["rss_after_load_kb"] > 0
    assert r["runtime"]["name"] == "onnxruntime"
    assert r["runtime"]["providers_used"] == ["CPUExecutionProvider"]
    assert r["session_options"]["intra_op_num_threads"] == 1
    assert r["session_options"]["graph_optimization_level"] == "all"
    assert r["facts"]["arch"] == platform.machine()

    acc = r["accuracy"]
    out_path = board / acc["outputs_path"]
    assert acc["samples"] == 37 and acc["output_names"] == ["logits"]
    assert hashlib.sha256(out_path.read_bytes()).hexdigest() == acc["outputs_sha256"]
    assert not [p for p in out_path.parent.iterdir() if ".tmp-" in p.name]
    with np.load(board / "cache" / "mlp.npz") as z:
        expected = ort_outputs(board / "cache" / "mlp.onnx", {"input": z["input"]}, 4)
    with np.load(out_path) as got:
        assert list(got.keys()) == ["logits"]
        np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-6, atol=1e-6)


def test_two_inputs_cast_to_declared_dtype(tmp_path):
    rng = np.random.default_rng(2)
    two_input_model(tmp_path / "two.onnx")
    feeds = {"features": rng.standard_normal((10, 16)), "offset": rng.standard_normal((10, 4))}
    write_eval_npz(tmp_path / "two.npz", feeds)  # float64 on disk, float32 in the model
    job = make_job(tmp_path / "two.onnx", tmp_path / "two.npz", ["features", "offset"],
                   warmup=1, min_runs=20, min_seconds=0.0, outputs_path=tmp_path / "o" / "out.npz")
    events, rc, err = run_agent(tmp_path, ["run"], job)
    assert rc == 0, err
    r = events[-1]
    assert r["accuracy"]["output_names"] == ["out", "act"] and r["accuracy"]["samples"] == 10
    assert {i["name"]: i["dtype"] for i in r["model_inputs"]} == {"features": "float32",
                                                                  "offset": "float32"}
    expected = ort_outputs(tmp_path / "two.onnx", {k: v.astype(np.float32) for k, v in feeds.items()}, 1)
    with np.load(tmp_path / "o" / "out.npz") as got:
        for name in ("out", "act"):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6)
        assert (got["act"] >= 0).all() and got["out"].shape == (10, 4)


def test_fixed_batch_model_pads_last_batch(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["y"])], "fixed",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])])
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(tmp_path / "f.onnx"))
    x = np.random.default_rng(3).standard_normal((10, 3)).astype(np.float32)
    write_eval_npz(tmp_path / "f.npz", {"input": x})
    job = make_job("f.onnx", "f.npz", batch_size=4, warmup=0, min_runs=5, min_seconds=0.0)
    events, rc, err = run_agent(tmp_path, ["run"], job)
    assert rc == 0, err
    r = events[-1]
    assert len(r["warmup_ns"]) == 0 and r["first_inference_ms"] == r["latencies_ns"][0] / 1e6
    with np.load(tmp_path / r["accuracy"]["outputs_path"]) as got:
        np.testing.assert_array_equal(got["y"], np.maximum(x, 0))

    job["data"]["batch_size"] = 2
    events, rc, _ = run_agent(tmp_path, ["run"], job)
    assert rc == 1 and events[-1]["type"] == "DataError"
    assert "set data.batch_size: 4" in events[-1]["message"]


def test_missing_model_file_is_an_error_event(board):
    job = make_job("cache/nope.onnx", "cache/mlp.npz", min_runs=1, min_seconds=0.0)
    events, rc, err = run_agent(board, ["run"], job)
    assert rc == 1
    assert events[0]["event"] == "hello" and events[-1]["event"] == "error"
    e = events[-1]
    assert e["type"] == "FileMissingError"
    assert "model cache/nope.onnx not found" in e["message"] and str(board) in e["message"]
    assert "Traceback" in e["traceback"]
    assert not any(ev["event"] == "result" for ev in events)


@pytest.mark.parametrize("which", ["model", "data"])
def test_a_file_whose_sha256_is_not_the_jobs_is_never_loaded(tmp_path, which):
    tiny_mlp(tmp_path / "cache" / "m.onnx")
    write_eval_npz(tmp_path / "cache" / "d.npz", {"input": np.zeros((4, 64), np.float32)})
    digest = {n: hashlib.sha256((tmp_path / "cache" / n).read_bytes()).hexdigest() for n in ("m.onnx", "d.npz")}
    job = make_job("cache/m.onnx", "cache/d.npz", min_runs=1, min_seconds=0.0, model_sha256=digest["m.onnx"])
    job["data"]["sha256"] = digest["d.npz"]
    events, rc, _ = run_agent(tmp_path, ["run"], job)
    assert rc == 0 and events[-1]["event"] == "result"          # the right files: measured
    name = "m.onnx" if which == "model" else "d.npz"
    with open(tmp_path / "cache" / name, "ab") as f:            # changed after the push check
        f.write(b"\0")
    events, rc, _ = run_agent(tmp_path, ["run"], job)
    e = events[-1]
    assert rc == 1 and e["type"] == "FileMismatchError" and "changed on the board after it was pushed" in e["message"]
    assert not (tmp_path / "cache" / name).exists()             # removed: the next push replaces it
    assert not any(ev["event"] in ("result", "phase") and ev.get("phase") == "timed" for ev in events)


def test_input_names_mismatch_lists_both_sets(board):
    write_eval_npz(board / "cache" / "wrong.npz", {"pixels": np.zeros((3, 64), np.float32)})
    job = make_job("cache/mlp.onnx", "cache/wrong.npz", ["pixels"], min_runs=1, min_seconds=0.0)
    events, rc, _ = run_agent(board, ["run"], job)
    assert rc == 1 and events[-1]["type"] == "DataError"
    msg = events[-1]["message"]
    assert "['input']" in msg and "['pixels']" in msg


@pytest.mark.parametrize("stdin, needle", [
    ("", "no job on stdin"),
    ("{not json", "not valid JSON"),
    (json.dumps({"protocol": 2}), "this agent speaks protocol 1"),
])
def test_bad_job_is_a_job_error(tmp_path, stdin, needle):
    events, rc, _ = run_agent(tmp_path, ["run"], stdin)
    assert rc == 1 and [e["event"] for e in events] == ["hello", "error"]
    assert events[-1]["type"] == "JobError" and needle in events[-1]["message"]


def test_bad_timing_field_is_named(board):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", min_runs=0)
    events, rc, _ = run_agent(board, ["run"], job)
    assert rc == 1 and events[-1]["type"] == "JobError"
    assert "timing.min_runs is 0" in events[-1]["message"]


def _numpy_only_pythonpath(tmp_path):
    """A PYTHONPATH holding only numpy (symlinked), for `python -S`: onnxruntime is truly absent."""
    site = Path(np.__file__).resolve().parent.parent
    pp = tmp_path / "pp"
    pp.mkdir()
    for name in ("numpy", "numpy.libs"):
        if (site / name).exists():
            (pp / name).symlink_to(site / name)
    return pp


def test_missing_runtime_says_how_to_install(board, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(_numpy_only_pythonpath(tmp_path)))
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", min_runs=1, min_seconds=0.0)
    events, rc, _ = run_agent(board, ["run"], job, python=(sys.executable, "-S"), env=env)
    assert rc == 1 and events[-1]["type"] == "RuntimeMissingError"
    msg = events[-1]["message"]
    assert f"onnxruntime is not installed for {sys.executable} (ModuleNotFoundError" in msg
    assert f"install it: {sys.executable} -m pip install onnxruntime" in msg

    events, rc, err = run_agent(board, ["probe"], python=(sys.executable, "-S"), env=env)
    assert rc == 0, err
    assert events[0]["numpy"] == {"version": np.__version__}
    assert "ModuleNotFoundError" in events[0]["runtimes"]["onnxruntime"]["error"]


def test_probe_works_without_numpy(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    events, rc, err = run_agent(tmp_path, ["probe"], python=(sys.executable, "-S"), env=env)
    assert rc == 0, err
    assert "No module named 'numpy'" in events[0]["numpy"]["error"]
    assert "error" in events[0]["runtimes"]["onnxruntime"]


OTHER_PYTHONS = [p for p in os.environ.get("EDGEEVAL_AGENT_PYTHONS", "").split(os.pathsep) if p]


@pytest.mark.skipif(not OTHER_PYTHONS, reason="set EDGEEVAL_AGENT_PYTHONS=/path/to/python3.8[:...] "
                    "(each with numpy + onnxruntime) to run the agent under other interpreters")
@pytest.mark.parametrize("python", OTHER_PYTHONS)
def test_run_under_other_python(board, python):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", warmup=2, min_runs=20, min_seconds=0.0)
    events, rc, err = run_agent(board, ["run"], job, python=(python,))
    assert rc == 0, err
    r = events[-1]
    assert r["facts"]["python"]["executable"] and r["timed_runs"] >= 20
    with np.load(board / "cache" / "mlp.npz") as z:
        expected = ort_outputs(board / "cache" / "mlp.onnx", {"input": z["input"]}, 1)
    with np.load(board / r["accuracy"]["outputs_path"]) as got:
        np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-5, atol=1e-5)

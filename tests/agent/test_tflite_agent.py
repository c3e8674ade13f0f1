"""The real agent file on a "legacy" TFLite python (tflite-runtime 2.14 + numpy<2), as a subprocess.

numpy>=2 beside tflite-runtime is made from real packages: `python -S` with PYTHONPATH holding the
legacy venv's tflite_runtime and the board venv's numpy 2 (nothing else, so ai_edge_litert is absent).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeeval.devices.check import tflite_findings
from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import make_job, write_eval_npz

pytest.importorskip("litert_torch", reason="the tflite extra is not installed")


def _site(py: str) -> Path:
    out = subprocess.run([py, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


@pytest.fixture(scope="module")
def pythons(tmp_path_factory):
    """(legacy python, a `python -S` command + env with tflite_runtime 2.14 and numpy 2)."""
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("Debian's /usr/bin/python3 is missing")
    from edgeeval.testing.sshd import board_python, legacy_tflite_python

    legacy, board = legacy_tflite_python(), board_python()
    mixed = tmp_path_factory.mktemp("numpy2-tflite-runtime")
    for name in ["numpy", "numpy.libs"]:
        if (_site(board) / name).exists():
            (mixed / name).symlink_to(_site(board) / name)
    (mixed / "tflite_runtime").symlink_to(_site(legacy) / "tflite_runtime")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(mixed)}
    return legacy, (["/usr/bin/python3", "-S"], env)


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """A float32 Linear(64->10) converted with litert-torch, and a 20-sample eval set."""
    import litert_torch
    import torch

    d = tmp_path_factory.mktemp("tflite-board")
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    with torch.no_grad():
        litert_torch.convert(m, (torch.zeros(1, 1, 8, 8),)).export(str(d / "tiny.tflite"))
    x = np.random.default_rng(0).standard_normal((20, 1, 8, 8)).astype(np.float32)
    write_eval_npz(d / "tiny.npz", {"input": x}, labels=np.zeros(20, dtype=np.int64))
    return d


def _job(d):
    job = make_job(d / "tiny.tflite", d / "tiny.npz", warmup=1, min_runs=5, min_seconds=0.0)
    job["model"]["format"] = "tflite"
    job["model"]["io"] = {"inputs": [{"name": "input"}], "outputs": [{"name": "logits"}]}
    job["runtime"] = {"name": "tflite", "tflite": {"num_threads": 1}}
    return job


def test_legacy_python_runs_tflite_with_tflite_runtime(pythons, tiny_tflite):
    legacy, _ = pythons
    events, rc, err = run_agent(tiny_tflite, ["run"], _job(tiny_tflite), python=(legacy,))
    assert rc == 0, err + str(events[-1:])
    done = events[-1]
    assert done["event"] == "result", done
    assert "tflite_runtime" in str(done), done


def test_tflite_runtime_under_numpy2_is_explained(pythons, tiny_tflite):
    _, (cmd, env) = pythons
    probe = subprocess.run([*cmd, "-c", "import numpy, tflite_runtime, sys; print(numpy.__version__);"
                            "print('ai_edge_litert' in sys.modules)"], env=env, capture_output=True, text=True)
    assert probe.stdout.split()[0].startswith("2."), probe.stderr   # really numpy 2 beside tflite_runtime
    events, rc, err = run_agent(tiny_tflite, ["run"], _job(tiny_tflite), python=tuple(cmd), env=env)
    assert rc != 0
    error = [e for e in events if e["event"] == "error"][-1]
    assert error["type"] == "TFLiteIncompatibleError", error
    assert "needs numpy<2" in error["message"] and "ai-edge-litert" in error["message"], error["message"]


def test_devices_check_warns_for_tflite_runtime_with_numpy2(pythons, tmp_path):
    import json

    legacy, (cmd, env) = pythons

    def facts(python, env=None):
        events, rc, err = run_agent(tmp_path, ["probe", "--workdir", str(tmp_path)], python=python, env=env)
        assert rc == 0, err
        return [e for e in events if e["event"] == "facts"][-1]

    new = facts(tuple(cmd), env)
    assert new["numpy"]["version"].startswith("2.") and new["runtimes"]["tflite_runtime"].get("version")
    found = {f.item: f for f in tflite_findings(new, "/usr/bin/python3")}
    assert found["tflite interpreter"].detail.startswith("tflite_runtime")
    w = found["tflite_runtime + numpy"]
    assert w.status == "warning" and "numpy<2" in w.detail and "ai-edge-litert" in w.fix
    assert found["tflite_runtime + dynamic int8"].status == "warning"
    old = facts((legacy,))
    found = {f.item: f for f in tflite_findings(old, legacy)}
    assert "tflite_runtime + numpy" not in found, json.dumps(old["numpy"])
    assert found["tflite_runtime + dynamic int8"].status == "warning"


def _with_op_version(src: Path, dst: Path, op: str, version: int) -> None:
    """Copy a .tflite with the operator-code table entry of `op` set to `version` (what a newer
    converter writes: TensorFlow >= 2.15 emits FULLY_CONNECTED v12 for per-channel hybrid int8)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    code = getattr(schema.BuiltinOperator, op)
    hits = [oc for oc in m.operatorCodes if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code]
    assert hits, f"{src.name} has no {op}"
    for oc in hits:
        oc.version = version
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))


def test_an_op_version_the_legacy_runtime_lacks_is_explained_not_mismeasured(pythons, tiny_tflite, tmp_path):
    """tflite-runtime 2.14 refuses FULLY_CONNECTED v12 at load; the agent's error names the op
    version, the runtime and the fix. ai-edge-litert runs the same file (v12 is a real version)."""
    legacy, _ = pythons
    d = tmp_path
    _with_op_version(tiny_tflite / "tiny.tflite", d / "tiny.tflite", "FULLY_CONNECTED", 12)
    (d / "tiny.npz").write_bytes((tiny_tflite / "tiny.npz").read_bytes())
    events, rc, err = run_agent(d, ["run"], _job(d), python=(legacy,))
    assert rc != 0 and not [e for e in events if e["event"] == "result"]
    error = [e for e in events if e["event"] == "error"][-1]
    assert error["type"] == "TFLiteIncompatibleError", error
    msg = error["message"]
    assert "tflite-runtime 2.14" in msg and "FULLY_CONNECTED" in msg and "'12'" in msg, msg
    assert "install ai-edge-litert" in msg, msg
    events, rc, err = run_agent(d, ["run"], _job(d))          # the controller's python: ai-edge-litert
    assert rc == 0, err[-2000:] + str(events[-1:])
    assert events[-1]["event"] == "result" and "ai_edge_litert" in str(events[-1]["runtime"]), events[-1]["runtime"]

"""The real agent file on a "legacy" TFLite python (tflite-runtime 2.14 + numpy<2), as a subprocess.

numpy>=2 beside tflite-runtime is made from real packages: `python -S` with PYTHONPATH holding the
legacy venv's tflite_runtime and the board venv's numpy 2 (nothing else, so ai_edge_litert is absent).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeeval.agent import AGENT_PATH
from edgeeval.devices.check import tflite_findings
from edgeeval.testing.models import make_job, write_eval_npz


pytest.importorskip("litert_torch", reason="the tflite extra is not installed")


def run_agent(cwd, args, job=None, python=(sys.executable,), env=None, timeout=60):
    """Run the agent file; returns (events, returncode, stderr) (as tests/agent/test_agent.py does)."""
    import json

    stdin = json.dumps(job) if isinstance(job, dict) else job
    proc = subprocess.run([*python, str(AGENT_PATH), *args], cwd=cwd, input=stdin, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.returncode, proc.stderr


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
    import torch
    import litert_torch

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

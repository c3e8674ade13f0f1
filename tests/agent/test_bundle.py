"""The agent bundle: one zipapp, byte-reproducible, Python 3.8 syntax, only allowed imports."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgeeval.agent import agent_path, bundle
from edgeeval.agent.bundle import SOURCE_DIR, sources
from edgeeval.provenance import agent_sha256, sha256_file

RUNTIMES = {"numpy", "onnxruntime", "onnxruntime_genai", "llama_cpp", "ai_edge_litert", "tflite_runtime", "tensorflow"}

BUILD = ("import sys, hashlib; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
         "from edgeeval.agent.bundle import build; "
         "b = build(Path(sys.argv[2])); sys.stdout.write(hashlib.sha256(b.data).hexdigest())")


def test_two_builds_in_different_environments_and_checkouts_are_identical(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    other = tmp_path / "some" / "other checkout" / "edgeeval_agent"
    shutil.copytree(SOURCE_DIR, other, ignore=shutil.ignore_patterns("__pycache__"))
    for p in other.rglob("*.py"):          # a checkout made later, with another umask
        os.utime(p, (1.7e9, 1.7e9))
        p.chmod(0o600)
    (other / "__pycache__").mkdir()        # bytecode lying around must not be bundled
    (other / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    a = subprocess.run([sys.executable, "-c", BUILD, str(repo), str(SOURCE_DIR)], capture_output=True, text=True,
                       env={**os.environ, "TZ": "UTC", "PYTHONHASHSEED": "1"}, check=True).stdout
    b = subprocess.run(["sh", "-c", 'umask 077 && exec "$@"', "sh", sys.executable, "-c", BUILD, str(repo),
                        str(other)], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "TZ": "Pacific/Kiritimati", "PYTHONHASHSEED": "4242"}, check=True).stdout
    assert a == b == bundle().sha256


def test_entries_are_stored_sorted_and_stamped_alike():
    with zipfile.ZipFile(agent_path()) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert all(n.endswith(".py") and "__pycache__" not in n for n in names)
    assert {(i.compress_type, i.date_time, i.external_attr >> 16, i.create_system) for i in infos} \
        == {(zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 0o100644, 3)}
    assert len(names) == len(sources()) + 1


def test_pushed_file_is_what_provenance_names():
    assert sha256_file(agent_path()) == agent_sha256() == hashlib.sha256(bundle().data).hexdigest()


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield 0, a.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("__import__", "_import")
              and node.args and isinstance(node.args[0], ast.Constant)):
            yield 0, node.args[0].value


@pytest.mark.parametrize("name", [n for n, _ in sources()])
def test_module_is_python38_and_imports_only_stdlib_numpy_runtimes(name):
    text = dict(sources())[name].decode()
    tree = ast.parse(text, feature_version=(3, 8))
    assert "from __future__ import annotations" not in text  # fine on 3.8, but keep the board code plain
    for level, module in _imports(tree):
        if level:
            continue
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names or top in RUNTIMES, f"{name} imports {module}"
        assert top != "edgeeval"


def test_probe_runs_on_the_lab_board_interpreters(tmp_path):
    """The controller's python and Debian's /usr/bin/python3 -S (no site packages: no numpy, no runtime)."""
    pythons = [[sys.executable]]
    if os.path.exists("/usr/bin/python3"):
        pythons.append(["/usr/bin/python3", "-S"])
    for py in pythons:
        out = subprocess.run([*py, str(agent_path()), "probe", "--workdir", str(tmp_path)], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        facts = json.loads(out.stdout)
        assert facts["event"] == "facts" and facts["agent_protocol"] == 1
        if "-S" in py:
            assert "error" in facts["numpy"] and "error" in facts["runtimes"]["onnxruntime"]


def test_a_second_part_under_a_taken_name_fails_at_import():
    from edgeeval.agent.edgeeval_agent.power.sensors.base import SENSORS
    from edgeeval.agent.edgeeval_agent.runners.base import RUNNERS

    assert sorted(RUNNERS) == ["onnxruntime", "synthetic", "tflite"]
    assert sorted(SENSORS) == ["hwmon", "ina3221", "none", "rapl", "rpi5-pmic", "tegrastats"]
    with pytest.raises(RuntimeError, match="two runtime classes are named 'onnxruntime'"):
        @RUNNERS.register
        class Again:
            name = "onnxruntime"

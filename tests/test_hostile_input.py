"""Malformed and hostile input: every case exits 2 within 2 s and 200 MB, naming the file and the fix.

Run through the real CLI in a subprocess; its own peak RSS is read from /proc (VmHWM) at exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

GOOD_MODEL = """
import onnx
from onnx import TensorProto, helper
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
onnx.save_model(m, {path!r})
"""


# The CLI's own peak RSS: VmHWM of the process after exec, written at exit. (os.wait4's ru_maxrss
# would include the pytest process it was forked from: Linux carries the pre-exec peak over.)
_HWM_WRAPPER = """
import atexit, sys
out = sys.argv.pop(1)
def _hwm():
    with open('/proc/self/status') as f:
        kb = next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:'))
    with open(out, 'w') as f:
        f.write(str(kb))
atexit.register(_hwm)
sys.argv[0] = 'edgeeval'
from edgeeval.cli.main import main
main()
"""


def run_cli(*args, cwd: Path) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak RSS MB) of the edgeeval CLI run with ARGS."""
    hwm = cwd / f".hwm-{os.getpid()}-{time.monotonic_ns()}"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _HWM_WRAPPER, str(hwm), *map(str, args)], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    seconds = time.monotonic() - t0
    rss_mb = int(hwm.read_text()) / 1024 if hwm.exists() else float("inf")
    hwm.unlink(missing_ok=True)
    return proc.returncode, proc.stderr.decode("utf-8", "replace"), seconds, rss_mb


def assert_clean_exit_2(args, cwd, *needles):
    code, err, seconds, rss_mb = run_cli(*args, cwd=cwd)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    problems = [ln for ln in err.splitlines() if ln.lower().startswith("error: ")]   # ours, or click's usage error
    assert problems, err            # one line per problem (build progress lines may precede them)
    for n in needles:
        assert n in err, (n, err)
    # never a hang: a whole CLI start (numpy, onnx) and the check; 1.2-2.3 s measured on the 2-core CI box
    assert seconds < 3.0 and rss_mb < 200, (seconds, rss_mb, err)
    return err


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\nname: bomb\n"


@pytest.fixture
def folder(tmp_path):
    subprocess.run([sys.executable, "-c", GOOD_MODEL.format(path=str(tmp_path / "ok.onnx"))], check=True)
    np.savez(tmp_path / "eval.npz", x=np.zeros((4, 3), np.float32), labels=np.zeros(4, np.int64))
    return tmp_path


RECIPE = """name: r
source: {{type: onnx, path: {model}}}
data: {{type: npz, path: {data}}}
variants: [{{name: fp32, precision: fp32}}]
"""


HOSTILE_YAML = {   # name -> (content factory, what the message says); factories keep test ids short
    "bomb.yaml": (_alias_bomb, "expands to more than"),
    "brackets.yaml": (lambda: "name: " + "[" * 20000 + "]" * 20000 + "\n", "nested"),
    "indent.yaml": (lambda: "".join(" " * i + f"k{i}:\n" for i in range(100)) + " " * 100 + "v\n", "nested more than"),
    "latin1.yaml": (lambda: "name: caf\xe9\n".encode("latin-1"), "is not UTF-8"),
    "binary.yaml": (lambda: bytes(range(256)) * 16, "binary file"),
    "huge.yaml": (lambda: "name: " + "x" * 3_000_000 + "\n", "at most 256 KB"),
    "empty.yaml": (lambda: "", "empty"),
    "list.yaml": (lambda: "- a\n- b\n", "expected a mapping"),
}


@pytest.mark.parametrize("name", list(HOSTILE_YAML))
def test_hostile_yaml_is_a_clean_user_error(folder, name):
    make, needle = HOSTILE_YAML[name]
    content = make()
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_clean_exit_2(["build", path], folder, str(path), needle)
    inv = folder / "inv"
    inv.mkdir()
    (inv / name).write_bytes(path.read_bytes())
    assert_clean_exit_2(["devices", "list", "--inventory", inv / name], folder, needle)


@pytest.mark.parametrize("model, data, needle", [
    ("text.onnx", "eval.npz", "is not a readable ONNX model"),
    ("truncated.onnx", "eval.npz", "is not a readable ONNX model"),
    ("adir.onnx", "eval.npz", "is a directory"),
    ("ok.onnx", "fake.npz", "is not an .npz"),
    ("ok.onnx", "adir.npz", "is a directory"),
    ("missing.onnx", "eval.npz", "not found"),
])
def test_bad_model_and_data_files(folder, model, data, needle):
    (folder / "text.onnx").write_text("<html>404 not found</html>")
    (folder / "truncated.onnx").write_bytes((folder / "ok.onnx").read_bytes()[:40])
    (folder / "adir.onnx").mkdir()
    (folder / "adir.npz").mkdir()
    (folder / "fake.npz").write_text("a,b\n1,2\n")
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE.format(model=model, data=data))
    err = assert_clean_exit_2(["build", recipe], folder, needle)
    assert "r.yaml:" in err


@pytest.mark.parametrize("run, needle", [
    ("{warmup: .nan}", "run.warmup: Input should be a finite number"),
    ("{max_seconds: .inf}", "run.max_seconds: Input should be a finite number"),
    ("{min_seconds: 1e12}", "run.min_seconds: Input should be less than or equal to 86400"),
    ("{warmup: 1000000000000}", "run.warmup"),
    ("{max_runs: 99999999999999999999999}", "run.max_runs"),
    ("{warmup_max_seconds: 0}", "run.warmup_max_seconds"),
    ("{batch_size: 10000000}", "run.batch_size"),
    ("{scenario: {name: server, target_qps: .nan}}", "target_qps"),
    ("{scenario: {name: single-stream, sustained: {max_seconds: 1e9}}}", "max_seconds"),
])
def test_numeric_settings_are_bounded(folder, run, needle):
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE.format(model="ok.onnx", data="eval.npz") + f"run: {run}\n")
    assert_clean_exit_2(["build", recipe], folder, "r.yaml:5:", needle)


def test_command_line_numbers_are_bounded(folder):
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE.format(model="ok.onnx", data="eval.npz"))
    assert_clean_exit_2(["deploy", recipe, "--min-seconds", "nan"], folder, "--min-seconds")
    assert_clean_exit_2(["deploy", recipe, "--warmup", "10", "--min-seconds", "inf"], folder, "--min-seconds")
    assert_clean_exit_2(["deploy", recipe, "--max-seconds", "1e300"], folder, "--max-seconds")


def test_ssh_targets_are_checked_by_devices_list(folder):
    inv = folder / "lab.yaml"
    inv.write_text("devices:\n  - name: ok\n    ssh: pi@pi5.lab:22\n"
                   "  - name: pw\n    ssh: 'pi:hunter2@pi5.lab'\n"
                   "  - name: port\n    ssh: pi@pi5.lab:70000\n"
                   "  - name: tilde\n    ssh: pi@pi5.lab\n    workdir: ~bob/x\n"
                   "  - name: url\n    ssh: 'ssh://pi:s3cr3t@pi5.lab:22'\n")
    err = assert_clean_exit_2(["devices", "list", "--inventory", inv], folder,
                              f"{inv}:5: field devices.1.ssh", "password", f"{inv}:7: field devices.2.ssh",
                              "1-65535", "devices.3.workdir", f"{inv}:12: field devices.4.ssh")
    assert "hunter2" not in err and "s3cr3t" not in err


def test_recipe_callables_from_the_standard_library_are_refused(folder):
    recipe = folder / "r.yaml"
    for ref in ("os:system", "subprocess:run", "builtins:exec", "shutil:rmtree"):
        recipe.write_text(f"name: r\nsource: {{type: python, callable: '{ref}'}}\n"
                          "data: {type: npz, path: eval.npz}\nvariants: [{name: fp32, precision: fp32}]\n")
        assert_clean_exit_2(["build", recipe], folder, "r.yaml:2: field source.callable", "standard library")


def test_an_exception_in_the_users_preprocess_is_a_user_error(folder):
    (folder / "prep.py").write_text("def prep(split):\n    return {'x': split['x'] / undefined_name}\n")
    recipe = folder / "r.yaml"
    recipe.write_text("name: r\nsource: {type: onnx, path: ok.onnx}\n"
                      "data: {type: npz, path: eval.npz, preprocess: 'prep.py:prep'}\n"
                      "variants: [{name: fp32, precision: fp32}]\n")
    assert_clean_exit_2(["build", recipe], folder, "r.yaml:3: field data.preprocess", "NameError",
                        "prep.py:2", "undefined_name")


def test_calibration_on_the_eval_set_needs_an_explicit_yes(folder):
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE.format(model="ok.onnx", data="eval.npz").replace(
        "variants: [{name: fp32, precision: fp32}]", "variants: [{name: q, precision: int8-static}]"))
    assert_clean_exit_2(["build", recipe], folder, "r.yaml:4: field variants.0.precision",
                        "no calibration split", "data.calibrate_on_eval: true")

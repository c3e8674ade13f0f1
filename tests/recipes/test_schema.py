"""Recipe validation: every problem is one line naming FILE:LINE, all reported together."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeeval.errors import UserInputError
from edgeeval.recipes.schema import load_recipe

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
name: t
source:
  type: onnx
  path: m.onnx
data:
  type: npz
  path: eval.npz
variants:
  - {name: fp32, precision: fp32}
"""


def _write(tmp_path: Path, text: str, files=("m.onnx", "eval.npz")) -> Path:
    for f in files:
        (tmp_path / f).write_bytes(b"x")
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def _problems(path: Path) -> list[str]:
    with pytest.raises(UserInputError) as ei:
        load_recipe(path)
    return ei.value.problems


def test_shipped_recipe_loads_with_spec_defaults():
    r = load_recipe(REPO / "recipes" / "digits-cnn.yaml")
    assert [v.name for v in r.variants] == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    assert (r.run.warmup, r.run.min_runs, r.run.min_seconds) == (10, 200, 5.0)
    assert r.gates.accuracy_drop_pt == 1.0 and r.gates.p90_ms == 50
    s = r.variant("int8-static").settings()
    assert s["quant_format"] == "qdq" and s["per_channel"] and s["calibration_method"] == "minmax"
    assert r.source_dir == (REPO / "recipes").resolve()
    assert len(r.recipe_hash()) == 64 and r.recipe_hash() == load_recipe(REPO / "recipes/digits-cnn.yaml").recipe_hash()


def test_good_minimal_recipe_and_variant_gate_override(tmp_path):
    p = _write(tmp_path, GOOD.replace("variants:", "gates: {p90_ms: 5, accuracy_drop_pt: 1}\nvariants:")
               + "  - {name: 'int8 / odd name', precision: int8-dynamic, gates: {p90_ms: 9}}\n")
    r = load_recipe(p)
    g = r.gates_for("int8 / odd name")
    assert g.p90_ms == 9 and g.accuracy_drop_pt == 1
    assert r.gates_for("fp32").p90_ms == 5


def test_yaml_syntax_error_is_one_line_with_position(tmp_path):
    p = _write(tmp_path, GOOD.replace("  path: m.onnx", "  path: [m.onnx"))
    (msg,) = _problems(p)
    assert re.match(rf"{re.escape(str(p))}:\d+:\d+: YAML syntax error", msg)


def test_all_problems_reported_together_with_lines(tmp_path):
    text = """\
name: t
colour: blue
source:
  type: onnx
  path: m.onnx
data:
  type: npz
  path: eval.npz
variants:
  - {name: a, precision: fp32}
  - {name: a, precision: int2}
  - name: c
    precision: fp16
    calibration_method: minmax
run:
  min_runs: -3
  min_seconds: -1
  warmup: lots
"""
    problems = _problems(_write(tmp_path, text))
    assert all("\n" not in p for p in problems)
    by_field = {re.search(r"field (\S+):", p).group(1): p for p in problems}
    assert set(by_field) >= {"colour", "variants.1.precision", "variants.2.calibration_method",
                             "run.min_runs", "run.min_seconds", "run.warmup"}, problems
    assert ":2: field colour: unknown field" in by_field["colour"]
    assert ":11: " in by_field["variants.1.precision"]
    assert ":14: " in by_field["variants.2.calibration_method"] and "fp16" in by_field["variants.2.calibration_method"]
    assert ":16: " in by_field["run.min_runs"] and ":17: " in by_field["run.min_seconds"]
    assert ":18: " in by_field["run.warmup"]
    for p in problems:
        assert p.startswith(str(tmp_path / "r.yaml") + ":")


def test_duplicate_names_and_bad_callable(tmp_path):
    text = """\
name: t
source:
  type: python
  callable: not a callable
data:
  type: npz
  path: eval.npz
variants:
  - {name: a, precision: fp32}
  - {name: a, precision: fp16}
"""
    problems = _problems(_write(tmp_path, text))
    assert any(":4: field source.callable" in p and "module:function" in p for p in problems), problems
    assert any(":10: field variants.1.name" in p and "unique" in p for p in problems), problems


def test_run_bounds_and_counts(tmp_path):
    problems = _problems(_write(tmp_path, GOOD + "run: {min_seconds: 10, max_seconds: 5}\n"))
    assert len(problems) == 1 and ":10: field run" in problems[0] and "max_seconds" in problems[0]
    problems = _problems(_write(tmp_path, GOOD.replace("fp32}", "int8-static, calibration_samples: 0}")))
    assert ":9: field variants.0.calibration_samples" in problems[0]


def test_missing_files_name_the_line(tmp_path):
    text = GOOD.replace("path: m.onnx", "path: models/none.onnx") + ""
    text = text.replace("  path: eval.npz", "  path: eval.npz\n  calibration: nope.npz\n  preprocess: prep.py:fix")
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 3, problems
    assert ":4: field source.path: file 'models/none.onnx' not found" in problems[0]
    assert ":8: field data.calibration" in problems[1]
    assert ":9: field data.preprocess: file 'prep.py' not found" in problems[2]


def test_module_callable_not_found_is_user_error(tmp_path):
    from edgeeval.recipes import build

    text = GOOD.replace("  type: onnx\n  path: m.onnx", "  type: python\n  callable: no_such_pkg_xyz.mod:fn")
    p = _write(tmp_path, text)
    with pytest.raises(UserInputError) as ei:
        build(p)
    assert ":4: field source.callable: module 'no_such_pkg_xyz.mod' not found" in str(ei.value)


def test_unknown_variant_in_only(tmp_path):
    from edgeeval.recipes import build

    with pytest.raises(UserInputError, match="no variant named 'nope'"):
        build(REPO / "recipes" / "digits-cnn.yaml", only=["nope"])


def test_fields_of_the_other_source_or_data_type_are_refused(tmp_path):
    text = """\
name: t
source:
  type: onnx
  callable: pkg.mod:fn
data:
  type: python
  path: eval.npz
variants:
  - {name: fp32, precision: fp32}
"""
    problems = _problems(_write(tmp_path, text))
    assert any(":4: field source.callable: only applies to python, not onnx" in p for p in problems), problems
    assert any(":2: field source.path: type onnx needs `path`" in p for p in problems), problems
    assert any(":7: field data.path: only applies to npz or text or tokens, not python" in p for p in problems), problems
    assert any(":5: field data.callable: type python needs `callable`" in p for p in problems), problems

"""The plan file: every mistake one line with FILE:LINE and the fix; selectors expand as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeeval.errors import UserInputError
from edgeeval.farm.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "digits-cnn.yaml"


@pytest.fixture
def inventory(tmp_path) -> Path:
    devs = [{"name": n, "ssh": f"u@127.0.0.1:{2200 + i}", "tags": tags}
            for i, (n, tags) in enumerate([("pi-a", ["arm64", "pi"]), ("pi-b", ["arm64", "pi"]),
                                           ("orin", ["arm64", "jetson"])])]
    p = tmp_path / "devices.yaml"
    p.write_text(yaml.safe_dump({"devices": devs}))
    return p


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(text.replace("RECIPE", str(RECIPE)))
    return p


def problems(path, inventory) -> list[str]:
    with pytest.raises(UserInputError) as ei:
        load_plan(path, inventory)
    return ei.value.problems


def test_devices_expand_to_each_board_and_any_of_to_one_pool_job_per_variant(tmp_path, inventory):
    plan = load_plan(write(tmp_path, """
name: nightly
matrix:
  - recipe: RECIPE
    variants: [fp32, int8-static]
    devices: ["tag:pi", orin]
  - recipe: RECIPE
    variants: [fp16]
    any_of: ["tag:arm64"]
    retries: 3
"""), inventory)
    pinned = [(j.variant, j.candidates) for j in plan.jobs if j.entry == 0]
    assert pinned == [("fp32", ("pi-a",)), ("fp32", ("pi-b",)), ("fp32", ("orin",)),
                      ("int8-static", ("pi-a",)), ("int8-static", ("pi-b",)), ("int8-static", ("orin",))]
    assert all(j.pinned and j.retries == 1 for j in plan.jobs if j.entry == 0)
    pool = [j for j in plan.jobs if j.entry == 1]
    assert len(pool) == 1 and not pool[0].pinned and pool[0].candidates == ("pi-a", "pi-b", "orin")
    assert pool[0].selector == "any_of:tag:arm64" and pool[0].retries == 3
    assert plan.boards() == ["pi-a", "pi-b", "orin"]       # inventory order, `local` unused


def test_every_variant_when_none_are_named(tmp_path, inventory):
    plan = load_plan(write(tmp_path, "name: n\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n"), inventory)
    assert [j.variant for j in plan.jobs] == ["fp32", "fp16", "int8-dynamic", "int8-static"]


def test_each_mistake_is_one_line_with_file_line_and_fix(tmp_path, inventory):
    path = write(tmp_path, """name: nightly
matrix:
  - recipe: RECIPE
    variants: [fp32, int9]
    devices: [pi-c, "tag:riscv"]
  - recipe: RECIPE
    devices: [orin]
    scenario: singlestream
    profile: rigorus
  - recipe: missing.yaml
    devices: [orin]
""")
    out = problems(path, inventory)
    text = "\n".join(out)
    assert len(out) == 6, text
    assert f"{path}:4: matrix[0].variants: digits-cnn has no variant 'int9'" in text
    assert f"{path}:5: matrix[0].devices: device 'pi-c' is not in the inventory" in text
    assert "known devices: local, pi-a, pi-b, orin" in text
    assert f"{path}:5: matrix[0].devices: no device has tag 'riscv'" in text
    assert f"{path}:8: matrix[1].scenario 'singlestream'" in text and "single-stream" in text
    assert f"{path}:9: matrix[1].profile 'rigorus'" in text and "rigorous" in text
    assert f"{path}:10: matrix[2].recipe 'missing.yaml'" in text and "relative to the plan's folder" in text


@pytest.mark.parametrize("body, line, words", [
    ("name: n\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n    any_of: [orin]\n", 3, "exactly one of"),
    ("name: n\nmatrix:\n  - recipe: RECIPE\n", 3, "exactly one of"),
    ("name: n\nschedule: 'every night'\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n", 2, "cron"),
    ("name: n\nmatrix: []\n", 2, "matrix"),
    ("name: n\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n    retry: 2\n", 5, "retry"),
    ("name: 'bad name'\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n", 1, "name"),
    ("name: n\nhealth: {latency_band: 0.5}\nmatrix:\n  - recipe: RECIPE\n    devices: [orin]\n", 2, "latency_band"),
    ("name: n\nmatrix:\n  - recipe: RECIPE\n    devices: ['tag:']\n", 4, "selector"),
])
def test_schema_errors_name_the_line(tmp_path, inventory, body, line, words):
    path = write(tmp_path, body)
    out = problems(path, inventory)
    assert len(out) == 1 and out[0].startswith(f"{path}:{line}:"), out
    assert words in out[0], out


def test_the_plans_own_inventory_is_relative_to_the_plan(tmp_path, inventory):
    (tmp_path / "farm").mkdir()
    path = tmp_path / "farm" / "plan.yaml"
    path.write_text(f"name: n\ninventory: ../devices.yaml\nmatrix:\n  - recipe: {RECIPE}\n    devices: [orin]\n")
    assert [j.candidates for j in load_plan(path, None).jobs][0] == ("orin",)


def test_the_shipped_example_plan_is_valid():
    plan = load_plan(ROOT / "recipes" / "plans" / "nightly.yaml", None)
    assert plan.jobs and plan.file.schedule

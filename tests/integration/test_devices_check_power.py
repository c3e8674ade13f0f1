"""`edgeeval devices check` lists the power sensors it finds on a board (fake sysfs tree, real sshd)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgeeval.testing import powerboard as pb

from .conftest import as_json, cli

pytestmark = pytest.mark.sshd


@pytest.fixture
def board(sshd_lab):
    b = sshd_lab.start_board("checkboard")
    yield b
    sshd_lab.remove(b)


def _tree(board) -> Path:
    root = Path(board.board_dir) / "fake-sys"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


def test_check_lists_sensors_rails_and_the_rapl_fix(sshd_lab, board, tmp_path):
    root = _tree(board)
    pb.fake_ina3221(root)
    pb.fake_ina226(root)
    pb.fake_rapl(root, mode=0o400)  # root-only energy_uj, as on kernels since Nov 2020
    pb.public_dirs(root)
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power={"sensor": "none", "sysfs_root": str(root)})
    rep = as_json(cli("devices", "check", board.name, "--inventory", inv, "--json"))
    assert rep["ready"] is True  # power is optional: never blocking
    found = {f["item"]: f for f in rep["findings"] if f["item"].startswith("power")}
    assert found["power ina3221 ina3221"]["status"] == "ok"
    assert found["power ina3221 ina3221"]["detail"] == "rails: VDD_CPU_GPU_CV, VDD_IN, VDD_SOC"
    assert found["power hwmon ina226"]["detail"] == "rails: power1"
    if os.geteuid() == 0 and sshd_lab.user != "root":  # the board user cannot read a 0400 root file
        rapl = found["power rapl"]
        assert rapl["status"] == "warning" and "not readable" in rapl["detail"]
        assert "chmod g+r" in rapl["fix"] and "udev" in rapl["fix"]
    text = cli("devices", "check", board.name, "--inventory", inv)
    assert text.returncode == 0, text.stderr
    for item in ("power ina3221 ina3221", "power hwmon ina226", "power rapl", "VDD_IN"):
        assert item in text.stdout, text.stdout


def test_check_without_sensors_points_at_a_meter(sshd_lab, board, tmp_path):
    root = _tree(board)
    pb.public_dirs(root)
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power={"sensor": "none", "sysfs_root": str(root)})
    rep = as_json(cli("devices", "check", board.name, "--inventory", inv, "--json"))
    f = [f for f in rep["findings"] if f["item"] == "power sensors"][0]
    assert f["status"] == "warning" and f["detail"] == "none found on the board" and "meter" in f["fix"]

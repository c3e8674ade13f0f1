"""`edgeeval lab up/down`: real sshd boards a user can start, a farm run on them, shaped links."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edgeeval.testing.sshd import sshd_available

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(not sshd_available(), reason="openssh-server (/usr/sbin/sshd) is not installed")]

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgeeval", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed sshd may linger as a zombie until reaped
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_synthetic_lab_runs_a_plan_in_parallel_and_goes_down(tmp_path):
    lab_dir = tmp_path / "lab"
    up = cli("lab", "up", "3", "--synthetic", "4", "--dir", lab_dir, "--json")
    assert up.returncode == 0, up.stderr
    rec = json.loads(up.stdout)
    try:
        assert [b["name"] for b in rec["boards"]] == ["vb01", "vb02", "vb03"]
        assert len({b["port"] for b in rec["boards"]}) == 3 and all(_alive(b["pid"]) for b in rec["boards"])
        inv = yaml.safe_load(Path(rec["inventory"]).read_text())["devices"]
        assert all(d["tags"][:2] == ["lab", "virtual"] and d["runtime"]["synthetic"]["median_ms"] == 4 for d in inv)
        check = cli("devices", "check", "vb02", "-i", rec["inventory"])
        assert check.returncode == 0, check.stderr
        plan = tmp_path / "plan.yaml"
        plan.write_text(yaml.safe_dump({"name": "labtest", "matrix": [{
            "recipe": str(ROOT / "recipes" / "digits-cnn.yaml"), "variants": ["fp32"], "devices": ["tag:lab"],
            "timing": {"min_runs": 50, "min_seconds": 1.0, "warmup": 2}}]}))
        t0 = time.monotonic()
        run = cli("farm", "run", plan, "-i", rec["inventory"], "--store", tmp_path / "r.db", "--json")
        wall = time.monotonic() - t0
        res = json.loads(run.stdout)
        # the synthetic runtime computes no outputs: timing is real, accuracy is unknown and says why
        assert run.returncode == 1 and res["counts"] == {"gate_failed": 3}, run.stderr
        for j in res["jobs"]:
            assert 4.0 <= j["headline"]["p50_ms"] <= 4.8, j
            assert "synthetic runtime computes no model outputs" in j["reason"]
        assert wall < 90, wall
    finally:
        down = cli("lab", "down", "--dir", lab_dir)
    assert down.returncode == 0 and "stopped 3 board(s)" in down.stdout, down.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(b["pid"]) for b in rec["boards"]):
        time.sleep(0.1)
    assert not any(_alive(b["pid"]) for b in rec["boards"])
    assert not lab_dir.exists()
    again = cli("lab", "down", "--dir", lab_dir)
    assert again.returncode == 2 and "no lab in" in again.stderr


def test_a_second_lab_in_the_same_folder_is_refused(tmp_path):
    lab_dir = tmp_path / "lab"
    assert cli("lab", "up", "1", "--dir", lab_dir).returncode == 0
    try:
        second = cli("lab", "up", "1", "--dir", lab_dir)
        assert second.returncode == 2 and "already up" in second.stderr
    finally:
        assert cli("lab", "down", "--dir", lab_dir).returncode == 0


ROOT_NET = os.geteuid() == 0 and all(shutil.which(x) for x in ("ip", "tc", "iptables"))


@pytest.mark.skipif(not ROOT_NET, reason="shaped links need root, iproute2 and iptables")
def test_shaped_boards_sit_in_their_own_namespace_and_still_deploy(tmp_path):
    lab_dir = tmp_path / "lab"
    up = cli("lab", "up", "1", "--loss", "5", "--rate", "20mbit", "--dir", lab_dir, "--json")
    assert up.returncode == 0, up.stderr
    rec = json.loads(up.stdout)
    ns = rec["boards"][0]["netns"]
    try:
        host = rec["boards"][0]["host"]
        assert host.startswith("127.") and 200 <= int(host.split(".")[1]) < 250, host
        rules = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-S"], capture_output=True, text=True).stdout
        assert rules.count("--probability 0.0499999") == 2, rules
        qdisc = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
        assert "tbf" in qdisc
        dep = cli("deploy", ROOT / "recipes" / "digits-cnn.yaml", "-d", "vb01", "-i", rec["inventory"], "-v", "fp32",
                  "--store", tmp_path / "r.db", "--min-runs", "20", "--min-seconds", "0.1", "--json")
        assert dep.returncode == 0, dep.stderr
        assert json.loads(dep.stdout)["variants"][0]["accuracy"]["top1"] > 0.96
    finally:
        assert cli("lab", "down", "--dir", lab_dir).returncode == 0
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns not in names


@pytest.mark.skipif(not ROOT_NET, reason="needs root and iproute2")
def test_delay_without_netem_is_refused_with_the_reason(tmp_path):
    from edgeeval.farm.lab import _netem_available

    if _netem_available():
        pytest.skip("this kernel has netem")
    r = cli("lab", "up", "1", "--delay", "20", "--dir", tmp_path / "lab")
    assert r.returncode == 2 and "no netem" in r.stderr and "Traceback" not in r.stderr

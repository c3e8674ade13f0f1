"""End-to-end fixtures: the real CLI in a subprocess, real sshd boards, the real digits recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "digits-cnn.yaml"
FAST = ["--min-runs", "30", "--min-seconds", "0.05", "--warmup", "2"]


def cli(*args, cwd=None, timeout=600, env=None) -> subprocess.CompletedProcess:
    """Run `python -m edgeeval ARGS` as a user would; returns the completed process."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "edgeeval", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=e)


def as_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), f"no stdout; stderr:\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def built_digits():
    """Build digits-cnn once per session (the artifact cache lives in the session's EDGEEVAL_HOME)."""
    proc = cli("build", RECIPE, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "results.db"

"""Provenance stamped on every stored result: versions, git SHA, controller facts."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import __version__


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def agent_sha256() -> str:
    """The sha256 of the agent bundle exactly as pushed to boards."""
    from .agent import bundle

    return bundle().sha256


@functools.lru_cache(maxsize=1)
def git_sha() -> tuple[str | None, str | None]:
    """(sha, reason): the edgeeval checkout's commit, or None with why (e.g. installed from a wheel)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None, "edgeeval is not running from a git checkout"
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"git not usable: {exc}"
    if out.returncode != 0:
        return None, out.stderr.strip() or "git rev-parse failed"
    sha = out.stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return (sha + ("-dirty" if dirty else "")), None


def controller_facts() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("numpy", "onnx", "onnxruntime", "paramiko", "sqlalchemy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "hostname": platform.node(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
    }


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def provenance() -> dict:
    sha, reason = git_sha()
    return {
        "edgeeval_version": __version__,
        "git_sha": sha,
        "git_sha_reason": reason,
        "agent_sha256": agent_sha256(),
        "controller": controller_facts(),
    }

"""Push files to a board's content-addressed cache, skipping what is already there and intact.

One remote command hashes every candidate (`python -c VERIFY_SCRIPT paths...`); only missing or
corrupt files are uploaded (atomically) and then hashed again. Names are `<sha256><suffix>`,
so a recipe or variant name never reaches a board path.
"""

from __future__ import annotations

import json
import os
import posixpath
import time

from ..errors import RemoteCommandError, TransferError, UserInputError
from .base import PushReport, Transport, TransferResult

# Python >= 3.8, stdlib only: prints {path: sha256 or null} for the paths in argv.
VERIFY_SCRIPT = """\
import hashlib, json, sys
out = {}
for p in sys.argv[1:]:
    try:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        out[p] = h.hexdigest()
    except OSError:
        out[p] = None
sys.stdout.write("\\n" + json.dumps(out) + "\\n")
"""


def board_workdir(workdir: str) -> str:
    """The workdir as a path SFTP and commands take literally: '~/' stripped (login-relative)."""
    if "\x00" in workdir or "\n" in workdir:
        raise UserInputError(f"workdir {workdir!r}: contains a NUL or newline; choose a plain path")
    if ".." in workdir.split("/"):
        raise UserInputError(f"workdir {workdir!r}: a '..' component is not allowed; give a direct path")
    if workdir in ("~", ""):
        return "."
    if workdir.startswith("~/"):
        workdir = workdir[2:] or "."
    return workdir.rstrip("/") or "/"


def cache_path(workdir: str, sha256: str, suffix: str) -> str:
    return posixpath.join(board_workdir(workdir), "cache", f"{sha256}{suffix}")


def verify(transport: Transport, python: str, paths: list[str]) -> dict[str, str | None]:
    """sha256 of each board path (None when missing), in one command."""
    if not paths:
        return {}
    r = transport.run([python, "-c", VERIFY_SCRIPT, *paths])
    if r.exit_status == 127:
        raise RemoteCommandError(f"python {python!r} not found on the board", device=transport.name,
                                 hint="set `python:` in the inventory to the board's Python 3.8+ interpreter")
    lines = [ln for ln in r.stdout.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
    if r.exit_status != 0 or not lines:
        tail = r.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RemoteCommandError(f"verifying the board cache failed (exit {r.exit_status}): {' | '.join(tail)}",
                                 device=transport.name, hint="is `python:` a working Python 3.8+?")
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise RemoteCommandError("verifying the board cache printed garbage", device=transport.name,
                                 hint="does the login shell print to stdout?") from None


def ensure_artifacts(transport: Transport, python: str, workdir: str,
                     files: list[tuple[str, str, str]]) -> tuple[dict[str, str], PushReport]:
    """Make each (local_path, sha256, suffix) present and intact in <workdir>/cache.

    Returns {sha256: remote path} and what was sent; a file still wrong after its upload
    raises TransferError.
    """
    report = PushReport()
    wanted: dict[str, tuple[str, str]] = {}          # remote path -> (local path, sha256)
    remote_of: dict[str, str] = {}
    for local, sha, suffix in files:
        sha = sha.lower()
        remote = cache_path(workdir, sha, suffix)
        remote_of[sha] = remote
        wanted.setdefault(remote, (str(local), sha))
    t0 = time.perf_counter()
    found = verify(transport, python, list(wanted))
    report.verify_seconds += time.perf_counter() - t0
    todo = [r for r, (_, sha) in wanted.items() if found.get(r) != sha]
    for remote, (local, sha) in wanted.items():
        if remote not in todo:
            size = os.path.getsize(local) if os.path.exists(local) else 0
            report.transfers.append(TransferResult(local, remote, size, 0, 0.0, skipped=True))
    if todo:
        transport.makedirs(posixpath.join(board_workdir(workdir), "cache"))
        for remote in todo:
            report.transfers.append(transport.put_file(wanted[remote][0], remote))
        t0 = time.perf_counter()
        again = verify(transport, python, todo)
        report.verify_seconds += time.perf_counter() - t0
        bad = [r for r in todo if again.get(r) != wanted[r][1]]
        if bad:
            raise TransferError(f"{len(bad)} file(s) differ from their sha256 after upload: {', '.join(bad)}",
                                device=transport.name,
                                hint="the local artifact changed since it was hashed, or the board's disk is failing")
    return remote_of, report

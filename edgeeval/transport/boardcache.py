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
from .base import PushReport, TransferResult, Transport

# Python >= 3.8, stdlib only. argv: WORKDIR SWEEP(0|1) PROBE PATH...; prints one JSON line:
# {"hashes": {path: sha256 or null}, "free_bytes": n|null, "swept": {...}|null}. PROBE is "-" or
# {"agent": path, "sha256": ..., "argv": [...]}: when the agent at that path (one of PATHs) has that
# sha256, the same process then runs it (`agent.pyz probe ...`), so a warm board answers verify,
# sweep and probe with one interpreter start. With SWEEP=1 it
# first removes what killed or crashed controllers leave behind: partial uploads
# (cache/*.tmp-*) not written to for STALE_TMP_S, and run folders (runs/<job>) older than
# STALE_RUN_S (a finished job's folder is removed right after its outputs are fetched).
STALE_TMP_S, STALE_RUN_S = 120, 86400
VERIFY_SCRIPT = """\
import hashlib, json, os, shutil, sys, time
workdir, sweep, probe, paths = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4:]
swept = None
if sweep:
    swept = {"tmp": [], "runs": [], "freed_bytes": 0}
    now = time.time()
    cache = os.path.join(workdir, "cache")
    for name in (os.listdir(cache) if os.path.isdir(cache) else []):
        p = os.path.join(cache, name)
        try:
            st = os.lstat(p)
            # a cut-off upload (.tmp-part) is kept a day for the next push to continue
            limit = %(run)d if name.endswith(".tmp-part") else %(tmp)d
            if ".tmp-" in name and now - st.st_mtime > limit:
                os.unlink(p)
                swept["tmp"].append(name)
                swept["freed_bytes"] += st.st_size
        except OSError:
            pass
    runs = os.path.join(workdir, "runs")
    for name in (os.listdir(runs) if os.path.isdir(runs) else []):
        p = os.path.join(runs, name)
        try:
            if os.path.isdir(p) and not os.path.islink(p) and now - os.lstat(p).st_mtime > %(run)d:
                size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(p) for f in fs)
                shutil.rmtree(p)
                swept["runs"].append(name)
                swept["freed_bytes"] += size
        except OSError:
            pass
hashes = {}
for p in paths:
    try:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        hashes[p] = h.hexdigest()
    except OSError:
        hashes[p] = None
try:
    free = shutil.disk_usage(workdir if os.path.isdir(workdir) else ".").free
except OSError:
    free = None
sys.stdout.write("\\n" + json.dumps({"hashes": hashes, "free_bytes": free, "swept": swept}) + "\\n")
if probe != "-":
    spec = json.loads(probe)
    if hashes.get(spec["agent"]) == spec["sha256"]:
        sys.stdout.flush()
        sys.argv = [spec["agent"]] + spec["argv"]
        import runpy
        runpy.run_path(spec["agent"], run_name="__main__")
""" % {"tmp": STALE_TMP_S, "run": STALE_RUN_S}
SPACE_MARGIN_BYTES = 32 << 20      # beyond what the upload needs: outputs, run folders, the filesystem's own slack


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
    return _verify(transport, python, ".", paths, sweep=False)["hashes"]


def _verify(transport: Transport, python: str, workdir: str, paths: list[str], sweep: bool,
            probe: dict | None = None) -> dict:
    """The verify script's answer; with `probe`, also `probe_lines`: the agent's stdout lines after it."""
    r = transport.run([python, "-c", VERIFY_SCRIPT, board_workdir(workdir), "1" if sweep else "0",
                       json.dumps(probe) if probe else "-", *paths])
    if r.exit_status == 127:
        raise RemoteCommandError(f"python {python!r} not found on the board", device=transport.name,
                                 hint="set `python:` in the inventory to the board's Python 3.8+ interpreter")
    text = r.stdout.decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    answer = next((ln for ln in lines if ln.startswith('{"hashes"')), None)
    # with a probe, a non-zero status after the answer is the agent's (its lines say why)
    if not lines or (r.exit_status != 0 and (probe is None or answer is None)):
        tail = r.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RemoteCommandError(f"verifying the board cache failed (exit {r.exit_status}): {' | '.join(tail)}",
                                 device=transport.name, hint="is `python:` a working Python 3.8+?")
    try:
        out = json.loads(answer if answer is not None else lines[-1])
        if not isinstance(out, dict) or not isinstance(out.get("hashes"), dict):
            raise ValueError("not the verify script's answer")
        if probe is not None:
            out["probe"] = {"stdout": text.split(answer, 1)[1], "exit_status": r.exit_status,
                            "stderr": r.stderr.decode("utf-8", "replace")}
        return out
    except ValueError:
        raise RemoteCommandError("verifying the board cache printed garbage", device=transport.name,
                                 hint="does the login shell print to stdout?") from None


def check(transport: Transport, python: str, workdir: str, files: list[tuple[str, str, str]],
          probe: dict | None = None) -> dict:
    """Hash each (local_path, sha256, suffix) file's cache path on the board and sweep the
    litter, in one command (then the agent's probe in the same process, see VERIFY_SCRIPT).
    The answer can be handed to ensure_artifacts(checked=...) so the push sends no second verify."""
    t0 = time.perf_counter()
    paths = list(dict.fromkeys(cache_path(workdir, sha.lower(), suffix) for _, sha, suffix in files))
    answer = _verify(transport, python, workdir, paths, sweep=True, probe=probe)
    answer["seconds"] = time.perf_counter() - t0
    return answer


def ensure_artifacts(transport: Transport, python: str, workdir: str,
                     files: list[tuple[str, str, str]], *, checked: dict | None = None
                     ) -> tuple[dict[str, str], PushReport]:
    """Make each (local_path, sha256, suffix) present and intact in <workdir>/cache.

    `checked`: this session's check() answer; when it covers every file, no command hashes them
    again. Returns {sha256: remote path} and what was sent; a file still wrong after its upload
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
    if checked is not None and all(r in checked["hashes"] for r in wanted):
        answer = checked
    else:
        t0 = time.perf_counter()
        answer = _verify(transport, python, workdir, list(wanted), sweep=checked is None)   # and sweep the litter
        report.verify_seconds += time.perf_counter() - t0
    found = answer["hashes"]
    report.swept = answer.get("swept")
    todo = [r for r, (_, sha) in wanted.items() if found.get(r) != sha]
    need = sum(os.path.getsize(wanted[r][0]) for r in todo if os.path.exists(wanted[r][0]))
    free = answer.get("free_bytes")
    if todo and isinstance(free, int) and free < need + SPACE_MARGIN_BYTES:
        raise TransferError(f"the board has {free / 1e6:.1f} MB free at {board_workdir(workdir)}; this push needs "
                            f"{need / 1e6:.1f} MB plus {SPACE_MARGIN_BYTES / 1e6:.0f} MB of margin; nothing was sent",
                            device=transport.name,
                            hint=f"free space on the board (`edgeeval devices clean {transport.name}` empties the "
                                 "edgeeval cache) or point `workdir:` at a bigger disk")
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
        resumed = {t.remote for t in report.transfers if t.resumed_from}
        retry = [r for r in todo if again.get(r) != wanted[r][1] and r in resumed]
        for remote in retry:       # the continued part was not the start of this file: send it whole
            report.transfers.append(transport.put_file(wanted[remote][0], remote, resume=False))
        if retry:
            again.update(verify(transport, python, retry))
        bad = [r for r in todo if again.get(r) != wanted[r][1]]
        if bad:
            raise TransferError(f"{len(bad)} file(s) differ from their sha256 after upload: {', '.join(bad)}",
                                device=transport.name,
                                hint="the local artifact changed since it was hashed, or the board's disk is failing")
    return remote_of, report


# argv: WORKDIR; removes everything edgeeval keeps there (cache/, runs/), prints what it freed.
CLEAN_SCRIPT = """\
import json, os, shutil, sys
workdir = sys.argv[1]
out = {"files": 0, "freed_bytes": 0}
for sub in ("cache", "runs"):
    top = os.path.join(workdir, sub)
    if not os.path.isdir(top) or os.path.islink(top):
        continue
    for d, _, fs in os.walk(top):
        for f in fs:
            try:
                out["freed_bytes"] += os.lstat(os.path.join(d, f)).st_size
                out["files"] += 1
            except OSError:
                pass
    shutil.rmtree(top, ignore_errors=True)
sys.stdout.write("\\n" + json.dumps(out) + "\\n")
"""


def clean(transport: Transport, python: str, workdir: str) -> dict:
    """Empty the board's edgeeval cache and run folders; {"files", "freed_bytes"}."""
    r = transport.run([python, "-c", CLEAN_SCRIPT, board_workdir(workdir)])
    lines = [ln for ln in r.stdout.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
    if r.exit_status != 0 or not lines:
        tail = r.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RemoteCommandError(f"cleaning the board cache failed (exit {r.exit_status}): {' | '.join(tail)}",
                                 device=transport.name, hint="is `python:` a working Python 3.8+?")
    return json.loads(lines[-1])

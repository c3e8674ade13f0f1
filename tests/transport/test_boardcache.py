"""ensure_artifacts on real boards: skip by sha256, re-push corrupt files, hostile workdirs."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from edgeeval.errors import TransferError, UserInputError
from edgeeval.transport.boardcache import VERIFY_SCRIPT, board_workdir, ensure_artifacts
from edgeeval.transport.local import LocalTransport


def _artifact(tmp_path: Path, name: str, size: int) -> tuple[str, str, str]:
    p = tmp_path / name
    p.write_bytes(os.urandom(size))
    return str(p), hashlib.sha256(p.read_bytes()).hexdigest(), Path(name).suffix


def test_verify_script_is_python38_syntax():
    import ast
    ast.parse(VERIFY_SCRIPT, feature_version=(3, 8))


@pytest.mark.sshd
def test_push_skip_and_repush_corrupt(sshd_lab, two_boards, board_transport, tmp_path):
    import sys
    b = two_boards[0]
    tr = board_transport(b)
    files = [_artifact(tmp_path, "m.onnx", 300_000), _artifact(tmp_path, "d.npz", 1000)]
    workdir = str(b.board_dir / "wd")
    remote, rep = ensure_artifacts(tr, sshd_lab.board_python, workdir, files)
    assert rep.bytes_sent == 301_000 and set(remote) == {f[1] for f in files}
    assert remote[files[0][1]] == f"{workdir}/cache/{files[0][1]}.onnx"
    remote, rep = ensure_artifacts(tr, sshd_lab.board_python, workdir, files)
    assert rep.bytes_sent == 0 and all(t.skipped for t in rep.transfers)
    # corrupt one byte on the board: only that file goes again
    victim = Path(remote[files[0][1]])
    data = bytearray(victim.read_bytes())
    data[1234] ^= 0xFF
    victim.write_bytes(bytes(data))
    _, rep = ensure_artifacts(tr, sshd_lab.board_python, workdir, files)
    assert rep.bytes_sent == 300_000
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == files[0][1]
    assert sorted(os.listdir(victim.parent)) == sorted(Path(r).name for r in remote.values())


@pytest.mark.sshd
def test_wrong_hash_after_push_is_a_transfer_error(sshd_lab, two_boards, board_transport, tmp_path):
    import sys
    tr = board_transport(two_boards[0])
    path, _, suffix = _artifact(tmp_path, "x.bin", 10)
    with pytest.raises(TransferError, match="differ"):
        ensure_artifacts(tr, sshd_lab.board_python, str(two_boards[0].board_dir), [(path, "0" * 64, suffix)])


@pytest.mark.sshd
def test_hostile_workdir_is_used_literally(sshd_lab, two_boards, board_transport, tmp_path):
    import sys
    b = two_boards[0]
    base = Path(b.board_dir) / "base"   # writable by the board user, so a sentinel *could* appear
    base.mkdir()
    shutil.chown(base, b.user, b.user)
    sentinel = f"SENTINEL{os.getpid()}"
    workdir = str(base / f"w d'q\"$(touch {sentinel});x")
    tr = board_transport(b, workdir=workdir)
    files = [_artifact(tmp_path, "a.py", 100)]
    remote, rep = ensure_artifacts(tr, sshd_lab.board_python, workdir, files)
    assert rep.bytes_sent == 100
    r = tr.run([sshd_lab.board_python, remote[files[0][1]]])  # run the pushed file by its hostile path
    assert r.exit_status != 127
    # a shell would have run `touch` in the login dir (or cwd): nothing there, nothing anywhere below base
    for d in (Path.home(), Path(os.path.expanduser(f"~{b.user}")), Path.cwd(), Path("/tmp"), tmp_path,
              b.board_dir, base / "w d'q\"$(touch "):
        assert not (d / sentinel).exists()
    assert list(Path(b.board_dir).rglob(f"*{sentinel}*")) == [Path(workdir)]  # only the workdir itself has the name
    every = [p for p in base.rglob("*") if p.is_file()]
    assert every == [Path(remote[files[0][1]])]
    assert every[0].parent == Path(workdir) / "cache"


def test_workdir_rules():
    assert board_workdir("~/.edgeeval") == ".edgeeval"
    assert board_workdir("~") == "."
    assert board_workdir("/opt/e/") == "/opt/e"
    for bad in ("a/../b", "..", "x\ny"):
        with pytest.raises(UserInputError):
            board_workdir(bad)


def test_local_device_cache(tmp_path):
    import sys
    tr = LocalTransport("local", tmp_path / "board")
    files = [_artifact(tmp_path, "m.onnx", 5000)]
    remote, rep = ensure_artifacts(tr, sys.executable, "~/.edgeeval", files)
    assert rep.bytes_sent == 5000
    assert (tmp_path / "board" / ".edgeeval" / "cache" / (files[0][1] + ".onnx")).exists()
    assert remote[files[0][1]] == f".edgeeval/cache/{files[0][1]}.onnx"
    assert ensure_artifacts(tr, sys.executable, "~/.edgeeval", files)[1].bytes_sent == 0


def test_missing_python_is_explained(tmp_path):
    from edgeeval.errors import RemoteCommandError
    tr = LocalTransport("local", tmp_path)
    with pytest.raises(RemoteCommandError, match="python"):
        ensure_artifacts(tr, "no-such-python3.99", ".", [_artifact(tmp_path, "a.py", 3)])

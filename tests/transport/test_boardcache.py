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
    tr = board_transport(two_boards[0])
    path, _, suffix = _artifact(tmp_path, "x.bin", 10)
    with pytest.raises(TransferError, match="differ"):
        ensure_artifacts(tr, sshd_lab.board_python, str(two_boards[0].board_dir), [(path, "0" * 64, suffix)])


@pytest.mark.sshd
def test_hostile_workdir_is_used_literally(sshd_lab, two_boards, board_transport, tmp_path):
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


def test_clean_script_is_python38_syntax():
    import ast

    from edgeeval.transport.boardcache import CLEAN_SCRIPT
    ast.parse(CLEAN_SCRIPT, feature_version=(3, 8))


@pytest.mark.sshd
def test_a_push_sweeps_what_killed_controllers_left_and_clean_empties_the_cache(
        sshd_lab, two_boards, board_transport, tmp_path):
    import time

    from edgeeval.transport.boardcache import STALE_RUN_S, STALE_TMP_S, clean

    b = two_boards[0]
    tr = board_transport(b)
    wd = b.board_dir / "litter"
    (wd / "cache").mkdir(parents=True)
    (wd / "runs" / "old-job").mkdir(parents=True)
    (wd / "runs" / "live-job").mkdir(parents=True)
    (wd / "runs" / "old-job" / "outputs.npz").write_bytes(b"x" * 5000)
    stale = wd / "cache" / ("ab" * 32 + ".onnx.tmp-1a2b3c")      # an upload killed 10 minutes ago
    stale.write_bytes(b"p" * 89_000)
    fresh = wd / "cache" / ("cd" * 32 + ".onnx.tmp-4d5e6f")      # an upload still being written
    fresh.write_bytes(b"q" * 1000)
    for q in [wd, *wd.rglob("*")]:          # made here as root: the board's user owns its workdir
        os.chmod(q, 0o777 if q.is_dir() else 0o666)
    now = time.time()
    os.utime(stale, (now - STALE_TMP_S - 600, now - STALE_TMP_S - 600))
    os.utime(wd / "runs" / "old-job", (now - STALE_RUN_S - 60, now - STALE_RUN_S - 60))
    _, rep = ensure_artifacts(tr, sshd_lab.board_python, str(wd), [_artifact(tmp_path, "m.onnx", 2000)])
    assert rep.swept["tmp"] == [stale.name] and rep.swept["runs"] == ["old-job"]
    assert rep.swept["freed_bytes"] == 89_000 + 5000
    assert not stale.exists() and fresh.exists() and (wd / "runs" / "live-job").exists()
    done = clean(tr, sshd_lab.board_python, str(wd))
    assert done["files"] == 2 and done["freed_bytes"] == 2000 + 1000
    assert not (wd / "cache").exists() and not (wd / "runs").exists()


@pytest.mark.sshd
def test_a_push_that_does_not_fit_is_refused_before_sending(sshd_lab, two_boards, board_transport, tmp_path):
    import subprocess

    b = two_boards[0]
    small = b.board_dir / "small-disk"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        os.chmod(small, 0o777)
        tr = board_transport(b)
        big = _artifact(tmp_path, "big.onnx", 20_000_000)     # 20 MB + 32 MB margin > 40 MB
        with pytest.raises(TransferError, match=r"has 4\d\.\d MB free .* needs 20\.0 MB plus 34 MB of margin"):
            ensure_artifacts(tr, sshd_lab.board_python, str(small), [big])
        assert not list(small.rglob("*.tmp-*")) and not list(small.rglob("*.onnx"))
        ok = _artifact(tmp_path, "ok.onnx", 1_000_000)
        _, rep = ensure_artifacts(tr, sshd_lab.board_python, str(small), [ok])
        assert rep.bytes_sent == 1_000_000
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.sshd
def test_an_upload_cut_off_is_continued_and_a_wrong_part_is_sent_again(sshd_lab, two_boards, board_transport,
                                                                      tmp_path):
    b = two_boards[0]
    tr = board_transport(b)
    wd = b.board_dir / "resume"
    (wd / "cache").mkdir(parents=True)
    os.chmod(wd, 0o777)
    os.chmod(wd / "cache", 0o777)
    local, sha, suffix = _artifact(tmp_path, "big.onnx", 3_000_000)
    part = wd / "cache" / f"{sha}{suffix}.tmp-part"            # what a controller killed mid-push leaves
    part.write_bytes(Path(local).read_bytes()[:1_200_000])
    os.chmod(part, 0o666)
    _, rep = ensure_artifacts(tr, sshd_lab.board_python, str(wd), [(local, sha, suffix)])
    (t,) = rep.transfers
    assert t.resumed_from == 1_200_000 and t.bytes_sent == 1_800_000 and not part.exists()
    assert hashlib.sha256((wd / "cache" / f"{sha}{suffix}").read_bytes()).hexdigest() == sha
    # a part that is not the start of this file (another version, a bad disk): detected, sent whole
    (wd / "cache" / f"{sha}{suffix}").unlink()
    part.write_bytes(os.urandom(500_000))
    os.chmod(part, 0o666)
    _, rep = ensure_artifacts(tr, sshd_lab.board_python, str(wd), [(local, sha, suffix)])
    assert [t.bytes_sent for t in rep.transfers] == [2_500_000, 3_000_000]
    assert hashlib.sha256((wd / "cache" / f"{sha}{suffix}").read_bytes()).hexdigest() == sha

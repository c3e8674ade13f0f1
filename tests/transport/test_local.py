"""LocalTransport: the embedded `local` board, same contract as SSH."""

from __future__ import annotations

import os
import sys

import pytest

from edgeeval.errors import RemoteCommandError
from edgeeval.transport.local import LocalTransport


@pytest.fixture
def tr(tmp_path):
    with LocalTransport("local", tmp_path / "board") as t:
        yield t


def test_run_no_shell_and_cwd_is_board_dir(tr, tmp_path):
    r = tr.run(["sh", "-c", "pwd"])
    assert r.stdout.decode().strip() == str(tmp_path / "board")
    r = tr.run(["echo", "$(touch PWNED); x"])
    assert r.stdout == b"$(touch PWNED); x\n" and not (tmp_path / "board" / "PWNED").exists()
    assert tr.run(["cat"], stdin=b"abc").stdout == b"abc"
    assert tr.run(["no-such-program-xyz"]).exit_status == 127
    with pytest.raises(RemoteCommandError, match="within"):
        tr.run(["sleep", "5"], timeout=0.3)


def test_stream_lines_and_idle_timeout(tr):
    got = []
    code = tr.stream([sys.executable, "-c", "import sys;print('a');print('e',file=sys.stderr);print('b');sys.exit(4)"],
                     on_stdout_line=got.append, on_stderr_line=lambda s: got.append("ERR " + s))
    assert code == 4 and sorted(got) == ["ERR e", "a", "b"]
    with pytest.raises(RemoteCommandError, match="printed nothing"):
        tr.stream(["sleep", "5"], on_stdout_line=got.append, idle_timeout=0.3)


def test_put_get_relative_paths(tr, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(1000))
    tr.makedirs("~/x/y")
    res = tr.put_file(str(src), "x/y/f.bin")
    assert res.bytes_sent == 1000 and (tmp_path / "board/x/y/f.bin").read_bytes() == src.read_bytes()
    assert os.listdir(tmp_path / "board/x/y") == ["f.bin"]
    assert tr.get_file("~/x/y/f.bin", str(tmp_path / "back")) == 1000
    tr.remove("x/y/f.bin")
    tr.remove("x/y/f.bin")
    assert not (tmp_path / "board/x/y/f.bin").exists()


def test_default_board_dir_is_under_edgeeval_home():
    from edgeeval import paths
    assert LocalTransport().board_dir == paths.local_board_dir()
    assert str(paths.home()) == os.environ["EDGEEVAL_HOME"]

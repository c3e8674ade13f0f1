"""Session-wide test setup: a private EDGEEVAL_HOME, offline Hugging Face, real sshd boards."""

from __future__ import annotations

import os
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="edgeeval-home-")


def pytest_configure(config):
    # set before any test module imports edgeeval, so nothing touches the real ~/.edgeeval
    os.environ["EDGEEVAL_HOME"] = _HOME
    os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def sshd_lab(tmp_path_factory):
    """An SSHDLab (real /usr/sbin/sshd children); skipped when openssh-server is absent."""
    from edgeeval.testing.sshd import SSHDLab, sshd_available

    if not sshd_available():
        pytest.skip("openssh-server (/usr/sbin/sshd) is not installed")
    lab = SSHDLab(tmp_path_factory.mktemp("sshd-lab"))
    yield lab
    lab.close()


@pytest.fixture
def two_boards(sshd_lab):
    """Two fresh boards on 127.0.0.1 with distinct ports and host keys, stopped afterwards."""
    global _BOARD_SEQ
    boards = []
    for _ in range(2):
        _BOARD_SEQ += 1
        boards.append(sshd_lab.start_board(f"board{_BOARD_SEQ}"))
    yield boards
    for b in boards:
        sshd_lab.remove(b)


_BOARD_SEQ = 0

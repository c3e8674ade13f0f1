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


def pytest_unconfigure(config):
    # the session's artifacts and board caches (the real LLM's alone are ~2 GB) go with it
    import shutil

    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_lab(tmp_path_factory):
    """An SSHDLab (real /usr/sbin/sshd children); skipped when openssh-server is absent."""
    from edgeeval.testing.sshd import SSHDLab, sshd_available

    if not sshd_available():
        pytest.skip("openssh-server (/usr/sbin/sshd) is not installed")
    # as root: a dedicated board user with Debian's python (root's login shell is not a board's)
    lab = SSHDLab(tmp_path_factory.mktemp("sshd-lab"), create_user=os.geteuid() == 0)
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


# a test that starts real sshd boards (through these fixtures, directly or not) must carry the
# `sshd` mark, so `-m "not sshd"` is a truthful way to run without openssh-server
SSHD_FIXTURES = ("sshd_lab", "two_boards")


def pytest_collection_modifyitems(config, items):
    unmarked = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if any(f in fixtures for f in SSHD_FIXTURES) and item.get_closest_marker("sshd") is None:
            unmarked.append(item.nodeid)
    if unmarked:
        raise pytest.UsageError("tests that start sshd boards without the `sshd` mark "
                                "(add pytestmark = pytest.mark.sshd): " + ", ".join(unmarked))

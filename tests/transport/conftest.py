"""Helpers for transport tests: a Transport for a lab board via a real inventory file."""

from __future__ import annotations

import pytest


@pytest.fixture
def board_transport(sshd_lab, tmp_path):
    """connect(board, **device_overrides) -> opened SSHTransport through load_inventory/connect."""
    from edgeeval.devices.inventory import connect, load_inventory

    opened = []

    def make(board, **overrides):
        path = sshd_lab.inventory(tmp_path / f"devices-{board.name}.yaml", [board], **overrides)
        tr = connect(load_inventory(path).get(board.name))
        opened.append(tr)
        return tr

    yield make
    for tr in opened:
        tr.close()

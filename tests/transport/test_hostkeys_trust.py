"""`trust`: fetch a board's host key without auth, record it, refuse a different one."""

from __future__ import annotations

import pytest

from edgeeval.devices.inventory import connect, load_inventory
from edgeeval.devices.trust import trust
from edgeeval.errors import HostKeyError

pytestmark = pytest.mark.sshd


def _device(lab, board, tmp_path, kh):
    path = lab.inventory(tmp_path / "devices.yaml", [board], known_hosts=str(kh))
    return load_inventory(path).get(board.name)


def test_trust_then_connect(sshd_lab, two_boards, tmp_path):
    b = two_boards[0]
    kh = tmp_path / "kh"
    dev = _device(sshd_lab, b, tmp_path, kh)
    with pytest.raises(HostKeyError):
        connect(dev).open()
    printed = []
    fp, path = trust(dev, echo=printed.append)
    assert path == kh and fp.startswith("SHA256:") and fp in printed[0]
    assert kh.read_text().split() == b.known_hosts_line.split()
    with connect(dev) as tr:
        assert tr.run(["true"]).ok
    assert trust(dev, echo=None)[0] == fp          # idempotent: no second line
    assert len(kh.read_text().splitlines()) == 1


def test_trust_refuses_a_different_key_unless_replace(sshd_lab, two_boards, tmp_path):
    b = two_boards[0]
    kh = tmp_path / "kh"
    kh.write_text("# mine\n" + b.known_hosts_line + "\nother.example ssh-ed25519 "
                  + b.host_public_key.split()[1] + "\n")
    dev = _device(sshd_lab, b, tmp_path, kh)
    b.restart(new_host_key=True)
    with pytest.raises(HostKeyError, match="DIFFERENT"):
        trust(dev, echo=None)
    fp, _ = trust(dev, replace=True, echo=None)
    lines = kh.read_text().splitlines()
    assert lines[0] == "# mine" and lines[1].startswith("other.example")
    assert lines[2].split() == b.known_hosts_line.split() and len(lines) == 3
    with connect(dev) as tr:
        assert tr.run(["true"]).ok


def test_trust_records_jump_hosts_too(sshd_lab, two_boards, tmp_path):
    target, jump = two_boards
    kh = tmp_path / "kh"
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host j\n  HostName {jump.host}\n  Port {jump.port}\n"
                   f"Host t\n  HostName {target.host}\n  Port {target.port}\n  ProxyJump j\n"
                   f"Host *\n  User {target.user}\n  IdentityFile {sshd_lab.client_key_path}\n")
    inv = tmp_path / "devices.yaml"
    inv.write_text(f"devices:\n  - name: behind\n    ssh: t\n    ssh_config: {cfg}\n    known_hosts: {kh}\n")
    dev = load_inventory(inv).get("behind")
    with pytest.raises(HostKeyError, match="edgeeval devices trust behind"):
        connect(dev).open()
    trust(dev, echo=None)
    assert sorted(kh.read_text().splitlines()) == sorted([target.known_hosts_line, jump.known_hosts_line])
    with connect(dev) as tr:
        assert tr.run(["echo", "ok"]).stdout == b"ok\n"


def test_trust_asks_and_writes_nothing_when_declined(sshd_lab, two_boards, tmp_path):
    from edgeeval.errors import UserInputError

    b = two_boards[0]
    kh = tmp_path / "kh"
    dev = _device(sshd_lab, b, tmp_path, kh)
    asked = []
    with pytest.raises(UserInputError, match="not trusted"):
        trust(dev, echo=None, confirm=lambda q: asked.append(q) or False)
    assert "SHA256:" in asked[0] and (not kh.exists() or kh.read_text() == "")
    fp, _ = trust(dev, echo=None, confirm=lambda q: True)
    assert kh.read_text().split() == b.known_hosts_line.split()
    # a given fingerprint is matched exactly (padding and prefix optional) and needs no question
    kh.unlink()
    assert trust(dev, echo=None, fingerprint=fp[7:] + "=", confirm=lambda q: pytest.fail("asked"))[0] == fp
    with pytest.raises(HostKeyError, match="not the SHA256:AAAA you gave"):
        trust(dev, echo=None, fingerprint="SHA256:AAAA", replace=True)

"""SSHTransport against real sshd boards: commands, streaming, host keys, auth, jumps, faults."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from edgeeval.errors import ConnectError, HostKeyError, RemoteCommandError
from edgeeval.transport.ssh import SSHTransport, fingerprint, resolve_target

pytestmark = pytest.mark.sshd


def test_run_quotes_argv_and_reports_exit_status(two_boards, board_transport, tmp_path):
    tr = board_transport(two_boards[0])
    hostile = f"a b; touch {tmp_path}/PWNED $(id) 'q\""
    r = tr.run(["echo", hostile])
    assert r.ok and r.stdout.decode() == hostile + "\n"
    assert not (tmp_path / "PWNED").exists()
    assert tr.run(["sh", "-c", "echo oops >&2; exit 7"]).exit_status == 7
    r = tr.run(["cat"], stdin=b"x" * 300_000)
    assert r.stdout == b"x" * 300_000
    assert tr.run(["no-such-program-xyz"]).exit_status == 127


def test_stream_delivers_lines_as_they_come(two_boards, board_transport):
    tr = board_transport(two_boards[0])
    got = []
    t0 = time.monotonic()
    status = tr.stream(["sh", "-c", "echo one; echo err1 >&2; sleep 1.5; printf 'two\\nthree'"],
                       on_stdout_line=lambda s: got.append(("out", s, time.monotonic() - t0)),
                       on_stderr_line=lambda s: got.append(("err", s, time.monotonic() - t0)))
    assert status == 0
    assert [(k, s) for k, s, _ in got] == [("out", "one"), ("err", "err1"), ("out", "two"), ("out", "three")]
    assert got[0][2] < 1.2, "the first line must arrive before the command ends"


def test_stream_idle_timeout(two_boards, board_transport):
    tr = board_transport(two_boards[0])
    with pytest.raises(RemoteCommandError, match="printed nothing"):
        tr.stream(["sleep", "10"], on_stdout_line=print, idle_timeout=0.5)
    assert tr.run(["true"]).ok  # the transport is still usable


def test_unknown_host_key_is_refused(two_boards, board_transport, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    tr = board_transport(two_boards[0], known_hosts=str(empty))
    with pytest.raises(HostKeyError) as ei:
        tr.open()
    msg = str(ei.value)
    key = two_boards[0].host_public_key.split()
    import paramiko
    fp = fingerprint(paramiko.PKey.from_type_string(key[0], __import__("base64").b64decode(key[1])))
    assert fp in msg and "unknown host key" in msg
    assert f"edgeeval devices trust {two_boards[0].name}" in msg


def test_changed_host_key_is_refused(sshd_lab, two_boards, board_transport, tmp_path):
    b = two_boards[0]
    kh = tmp_path / "kh"
    kh.write_text(b.known_hosts_line + "\n")
    old = b.host_public_key
    b.restart(new_host_key=True)
    assert b.host_public_key != old
    tr = board_transport(b, known_hosts=str(kh))
    with pytest.raises(HostKeyError, match="CHANGED") as ei:
        tr.open()
    assert "attack" in str(ei.value) and "ssh-keygen -R" in str(ei.value)


def test_hashed_known_hosts_entry_works(two_boards, board_transport, tmp_path):
    import subprocess
    b = two_boards[0]
    kh = tmp_path / "kh"
    kh.write_text(b.known_hosts_line + "\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "|1|" in kh.read_text()
    assert board_transport(b, known_hosts=str(kh)).run(["true"]).ok


def test_ssh_config_alias_and_proxyjump(sshd_lab, two_boards, tmp_path):
    target, jump = two_boards
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host jumpy\n  HostName {jump.host}\n  Port {jump.port}\n  User {jump.user}\n"
        f"Host behind\n  HostName {target.host}\n  Port {target.port}\n  ProxyJump jumpy\n"
        f"Host *\n  IdentityFile {sshd_lab.client_key_path}\n  UserKnownHostsFile {sshd_lab.known_hosts_path}\n")
    t = resolve_target("behind", "behind", cfg)
    assert (t.host, t.port, t.proxy_jump.port) == (target.host, target.port, jump.port)
    with SSHTransport(t) as tr:
        assert tr.run(["echo", "via jump"]).stdout == b"via jump\n"
    # user@host:port as ProxyJump value, and proof the jump is really used: no jump, no connection
    cfg.write_text(cfg.read_text().replace("ProxyJump jumpy", f"ProxyJump {jump.user}@{jump.host}:{jump.port}"))
    t = resolve_target("behind", "behind", cfg)
    assert t.proxy_jump.port == jump.port
    jump.stop()
    with pytest.raises(ConnectError, match="refused"):
        SSHTransport(t).open()


def test_put_get_roundtrip_5mb(two_boards, board_transport, tmp_path):
    tr = board_transport(two_boards[0])
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(5 << 20))
    remote = str(two_boards[0].board_dir / "sub" / "dir" / "blob.bin")
    tr.makedirs(os.path.dirname(remote))
    res = tr.put_file(str(src), remote)
    assert res.size == res.bytes_sent == 5 << 20
    leftovers = [p for p in os.listdir(os.path.dirname(remote)) if ".tmp-" in p]
    assert leftovers == []
    back = tmp_path / "back.bin"
    assert tr.get_file(remote, str(back)) == 5 << 20
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    tr.remove(remote)
    tr.remove(remote)  # absent is fine
    assert not os.path.exists(remote)


def test_killed_sshd_mid_stream_is_a_remote_command_error(two_boards, board_transport):
    b = two_boards[0]
    tr = board_transport(b)
    lines = []

    def on_line(s):
        lines.append(s)
        if len(lines) == 2:
            b.kill()

    t0 = time.monotonic()
    with pytest.raises(RemoteCommandError, match="link to the board was lost"):
        tr.stream(["sh", "-c", "while true; do echo tick; sleep 0.1; done"], on_stdout_line=on_line,
                  idle_timeout=60)
    assert time.monotonic() - t0 < 15


def test_closed_port_is_a_connect_error(sshd_lab):
    from edgeeval.testing.sshd import free_port
    port = free_port()
    t = resolve_target("nowhere", f"root@127.0.0.1:{port}", None, known_hosts_files=[str(sshd_lab.known_hosts_path)])
    with pytest.raises(ConnectError, match="refused") as ei:
        SSHTransport(t).open()
    assert "nowhere" in str(ei.value)


def test_auth_failure_is_a_connect_error(two_boards, board_transport, tmp_path):
    from edgeeval.testing.sshd import keygen
    stranger = tmp_path / "stranger"
    keygen(stranger)
    tr = board_transport(two_boards[0], identity_file=str(stranger))
    with pytest.raises(ConnectError, match="authentication") as ei:
        tr.open()
    assert "authorized_keys" in str(ei.value)


def test_encrypted_identity_without_agent_is_explained(two_boards, board_transport, tmp_path, monkeypatch):
    import subprocess
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)], check=True)
    tr = board_transport(two_boards[0], identity_file=str(key))
    with pytest.raises(ConnectError, match="encrypted"):
        tr.open()

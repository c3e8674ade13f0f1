"""`edgeeval devices trust NAME`: record a board's host key in known_hosts, explicitly.

The key is fetched by a key exchange without authentication; its fingerprint is shown so the
user can compare it with the board's. A key is written only when it matches `fingerprint` (what
a person read off the board's console: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) or
when `confirm(text)` says yes (the CLI asks on a terminal; `--yes` is the explicit override). A
different key already on record is never replaced silently (replace=True is the deliberate
override).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..errors import HostKeyError, UserInputError
from .inventory import Device, ssh_target


def _known_hosts_file(device: Device, target) -> Path:
    if device.known_hosts:
        return Path(device.known_hosts).expanduser()
    return Path(target.known_hosts_files[0] if target.known_hosts_files else "~/.ssh/known_hosts").expanduser()


def normalize_fingerprint(text: str) -> str:
    """"SHA256:abc…", "abc…" (base64, padding optional) -> "SHA256:abc…" (no padding)."""
    s = text.strip()
    if s.upper().startswith("SHA256:"):
        s = s[7:]
    return "SHA256:" + s.rstrip("=")


def trust(device: Device, *, replace: bool = False, echo: Callable[[str], None] | None = print,
          fingerprint: str | None = None, confirm: Callable[[str], bool] | None = None) -> tuple[str, Path]:
    """Add the board's host key (and its jump hosts' keys) to known_hosts.

    fingerprint: the board's key must have exactly this SHA256 fingerprint (jump hosts still go
    through confirm). confirm: asked before any key not matched by `fingerprint` is written;
    None writes without asking (the caller decided). Returns (SHA256 fingerprint, file written)
    for the board itself.
    """
    if device.is_local:
        raise UserInputError(f"device {device.name!r} is local; there is no host key to trust")
    target = ssh_target(device)
    chain = []
    hop = target
    while hop is not None:
        chain.insert(0, hop)
        hop = hop.proxy_jump
    result = None
    want = normalize_fingerprint(fingerprint) if fingerprint else None
    for i, hop in enumerate(chain):  # outermost jump first: each later hop is reached through trusted ones
        result = _trust_one(device, hop, replace, echo, want if i == len(chain) - 1 else None, confirm)
    return result


def _trust_one(device: Device, target, replace: bool, echo, want: str | None,
               confirm: Callable[[str], bool] | None) -> tuple[str, Path]:
    import paramiko

    from ..transport.ssh import SSHTransport, fingerprint

    key = SSHTransport(target).fetch_host_key()
    fp = fingerprint(key)
    entry = target.known_hosts_name
    path = _known_hosts_file(device, target)
    if echo:
        echo(f"{device.name}: {entry} offers {key.get_name()} {fp}")
    if want is not None and fp.rstrip("=") != want:
        raise HostKeyError(f"{entry} offers {key.get_name()} {fp}, not the {want} you gave; nothing written. "
                           "This may be an attack, or another key type of the same board", device=device.name,
                           hint="read the fingerprint of this key type on the board's console: "
                                f"ssh-keygen -lf /etc/ssh/ssh_host_{key.get_name().split('-')[-1]}_key.pub")
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    known = keys.lookup(entry) or {}
    old = known.get(key.get_name())
    if old is not None and old.asbytes() == key.asbytes():
        if echo:
            echo(f"{device.name}: {entry} already trusted in {path}")
        return fp, path
    if want is None and confirm is not None and not confirm(
            f"Trust {entry} ({device.name}) with {key.get_name()} key {fp}?"):
        raise UserInputError(f"{device.name}: not trusted ({entry} {fp}); nothing written")
    if old is not None:
        if not replace:
            raise HostKeyError(
                f"{path} already holds a DIFFERENT {key.get_name()} key for {entry} ({fingerprint(old)}); "
                f"the host now offers {fp}. This may be an attack", device=device.name,
                hint="if the board was reinstalled, confirm the new fingerprint and rerun with --replace")
        _remove_entry(path, entry, key.get_name())
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
            f.write(b"\n")
        f.write(f"{entry} {key.get_name()} {key.get_base64()}\n".encode())
    if echo:
        echo(f"{device.name}: added {entry} to {path}")
    return fp, path


def _remove_entry(path: Path, entry: str, key_type: str) -> None:
    """Drop the lines for (entry, key_type), hashed or not."""
    import paramiko

    kept = []
    for line in path.read_text().splitlines(keepends=True):
        e = None
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                e = paramiko.hostkeys.HostKeyEntry.from_line(line)
            except Exception:
                e = None
        if e is not None and e.key is not None and e.key.get_name() == key_type:
            probe = paramiko.HostKeys()
            probe._entries = [e]
            if probe.lookup(entry):
                continue
        kept.append(line)
    path.write_text("".join(kept))

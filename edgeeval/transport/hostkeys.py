"""Host keys: checked against known_hosts (the device's file, the user's, the system's) and never
auto-accepted; an unknown or changed key is a HostKeyError naming the fingerprint and the fix."""

from __future__ import annotations

import base64
import hashlib
import os

import paramiko

from ..errors import HostKeyError
from .ssh_target import SSHTarget

SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint: 'SHA256:' + unpadded base64."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _load_host_keys(target: SSHTarget) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    for f in [SYSTEM_KNOWN_HOSTS, *target.known_hosts_files]:
        if os.path.isfile(f):
            try:
                keys.load(f)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise HostKeyError(f"cannot read known_hosts file {f}: {exc}", device=target.name,
                                   hint="fix or remove the broken line in that file") from None
    return keys


def check_host_key(target: SSHTarget, key: paramiko.PKey, device: str | None = None) -> None:
    """Raise HostKeyError unless `key` is the one known_hosts holds for the target."""
    device = device or target.name
    entry = target.known_hosts_name
    known = _load_host_keys(target).lookup(entry) or {}
    fp = fingerprint(key)
    where = " or ".join(target.known_hosts_files) or "~/.ssh/known_hosts"
    if key.get_name() in known:
        old = known[key.get_name()]
        if old.asbytes() == key.asbytes():
            return
        raise HostKeyError(
            f"the host key of {entry} has CHANGED: known_hosts has {old.get_name()} {fingerprint(old)}, "
            f"the server now offers {key.get_name()} {fp}. This may be an attack (someone in the middle) "
            f"or the board was reinstalled", device=device,
            hint=f"if you are sure the board was reinstalled, remove the old entry with "
                 f"`ssh-keygen -R '{entry}' -f {where}` then run `edgeeval devices trust {device}`")
    raise HostKeyError(
        f"unknown host key for {entry}: {key.get_name()} {fp} (not in {where})", device=device,
        hint=f"compare the fingerprint with the board's (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub "
             f"on the board), then run `edgeeval devices trust {device} --fingerprint {fp}`")

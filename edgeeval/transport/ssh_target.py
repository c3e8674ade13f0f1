"""Where an SSH board is: `user@host:port` or a ~/.ssh/config alias (HostName, User, Port,
IdentityFile, ProxyJump), resolved to an SSHTarget, and the identity files it logs in with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from ..devices.target import parse_target
from ..errors import UserInputError

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


@dataclass
class SSHTarget:
    """Everything needed to reach one SSH host, already resolved from ~/.ssh/config."""
    name: str
    host: str
    port: int = 22
    user: str = field(default_factory=lambda: os.environ.get("USER") or "root")
    identity_files: list[str] = field(default_factory=list)
    known_hosts_files: list[str] = field(default_factory=list)
    proxy_jump: "SSHTarget | None" = None
    connect_timeout: float = 10.0
    banner_timeout: float = 15.0
    auth_timeout: float = 15.0
    command_timeout: float = 60.0
    user_timeout_ms: int = 10000

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH writes in known_hosts: bare host for port 22, else [host]:port."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def _expand(p: str) -> str:
    return os.path.expandvars(os.path.expanduser(p))


def resolve_target(name: str, target: str, ssh_config_path: str | Path | None = "~/.ssh/config", *,
                   identity_files: list[str] | None = None, known_hosts_files: list[str] | None = None,
                   connect_timeout: float = 10.0, banner_timeout: float = 15.0, auth_timeout: float = 15.0,
                   command_timeout: float = 60.0, user_timeout_ms: int = 10000,
                   _depth: int = 0) -> SSHTarget:
    """Resolve a device's `ssh:` value (user@host:port, host or alias) the way OpenSSH would.

    Explicit user/port in `target` win over ~/.ssh/config; `identity_files` are tried before
    the config's; `known_hosts_files` replace the config's UserKnownHostsFile.
    """
    if _depth > 8:
        raise UserInputError(f"device {name}: ProxyJump chain deeper than 8 hops (a loop in the ssh config?)")
    user, host, port = parse_target(target)
    cfg: dict = {}
    path = Path(_expand(str(ssh_config_path))) if ssh_config_path else None
    if path is not None and path.is_file():
        try:
            cfg = paramiko.SSHConfig.from_path(str(path)).lookup(host)
        except Exception as exc:  # paramiko raises ConfigParseError and others
            raise UserInputError(f"{path}: cannot read ssh config: {exc}; fix that file or set ssh_config") from None
    hostname = cfg.get("hostname", host)
    if port is None:
        port = int(cfg.get("port", 22))
    user = user or cfg.get("user") or os.environ.get("USER") or "root"
    ids = [_expand(p) for p in (identity_files or [])]
    ids += [_expand(p) for p in cfg.get("identityfile", [])]
    kh = known_hosts_files or cfg.get("userknownhostsfile", "").split() or ["~/.ssh/known_hosts"]
    common = dict(connect_timeout=float(cfg.get("connecttimeout", connect_timeout)), banner_timeout=banner_timeout,
                  auth_timeout=auth_timeout, command_timeout=command_timeout, user_timeout_ms=user_timeout_ms)
    jump = None
    spec = cfg.get("proxyjump")
    if spec and spec.lower() != "none":
        hops = [h.strip() for h in spec.split(",") if h.strip()]
        for i, hop in enumerate(hops):
            # a single hop keeps its own ProxyJump from the config; in a chain the order is explicit
            jump_t = resolve_target(f"{name} (jump {hop})", hop, ssh_config_path, identity_files=identity_files,
                                    known_hosts_files=known_hosts_files, _depth=_depth + 1, **common)
            if len(hops) > 1:
                jump_t.proxy_jump = jump
            jump = jump_t
    return SSHTarget(name=name, host=hostname, port=port, user=user, identity_files=ids,
                     known_hosts_files=[_expand(p) for p in kh], proxy_jump=jump, **common)


def _load_identity(path: str) -> tuple[paramiko.PKey | None, str | None]:
    """Load a private key of any type; return (key, problem)."""
    try:
        return paramiko.PKey.from_path(path), None
    except paramiko.PasswordRequiredException:
        return None, f"identity file {path} is encrypted; load it into ssh-agent (`ssh-add {path}`)"
    except Exception:
        pass
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(path), None
        except paramiko.PasswordRequiredException:
            return None, f"identity file {path} is encrypted; load it into ssh-agent (`ssh-add {path}`)"
        except Exception:
            continue
    return None, f"identity file {path} is not a private key paramiko can read"

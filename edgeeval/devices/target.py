"""SSH targets as written in an inventory, parsed without paramiko (so `devices list` checks them too).

Forms: `alias` (an ~/.ssh/config Host), `host`, `user@host`, `user@host:port`, `[v6addr]:port`,
`ssh://user@host:port`. A password in the target (`user:secret@host`) is refused: it would be
sent as part of the user name and could reach logs; use a key or ssh-agent.
"""

from __future__ import annotations

import re

from ..errors import UserInputError

_HOST = re.compile(r"^[A-Za-z0-9_.%*?\-:]+$")     # names, IPv4, IPv6 (in brackets), config patterns
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.\-$]*$")


def parse_target(text: str) -> tuple[str | None, str, int | None]:
    """'user@host:port' / 'host' / 'alias' / 'ssh://user@host:port' -> (user, host, port)."""
    original = text
    text = text.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://"):].rstrip("/")
    user = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
        if ":" in user:
            raise UserInputError("ssh target has a password in it (user:password@host); remove it and log in "
                                 "with a key (identity_file:) or ssh-agent, passwords are never stored")
        if not _USER.match(user):
            raise UserInputError(f"ssh target {_shown(original)}: user {user!r} is not a valid login name; "
                                 "write user@host:port")
    port = None
    if text.startswith("["):                      # [v6addr]:port
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UserInputError(f"ssh target {_shown(original)}: port {port!r} is not a number 1-65535; "
                                 "write user@host:port")
        port = int(port)
    if not host:
        raise UserInputError(f"ssh target {_shown(original)}: no host name; write user@host:port or an "
                             "~/.ssh/config alias")
    if not _HOST.match(host):
        raise UserInputError(f"ssh target {_shown(original)}: host {host!r} has characters a host name "
                             "cannot have; write user@host:port or an ~/.ssh/config alias")
    return user, host, port


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")

"""The narrow interface every transport implements (ssh.SSHTransport, local.LocalTransport).

Lifecycle: create -> open() (lazy on first use is fine) -> work -> close(); usable as a
context manager. One transport per board, reused for every command and transfer.
All paths are POSIX strings on the board; a relative path is relative to the login
directory (SSH) or to the local board directory (local). Commands are argv lists and
are quoted with shlex.quote by the transport, never joined by callers.
Errors are edgeeval.errors.DeviceError subclasses only: paramiko/socket/OSError are
translated inside the transport.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class CommandResult:
    argv: list[str]
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass
class TransferResult:
    local: str
    remote: str
    size: int
    bytes_sent: int          # 0 when skipped
    seconds: float
    skipped: bool = False


@dataclass
class PushReport:
    """What ensure_artifacts did: per file, and the totals the redeploy benchmark reads."""
    transfers: list[TransferResult] = field(default_factory=list)
    verify_seconds: float = 0.0

    @property
    def bytes_sent(self) -> int:
        return sum(t.bytes_sent for t in self.transfers)


LineHandler = Callable[[str], None]


class Transport(abc.ABC):
    """A board reached by some channel. `name` is the device name for messages."""

    name: str

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def run(self, argv: list[str], *, stdin: bytes | None = None,
            timeout: float | None = 60.0) -> CommandResult:
        """Run a command to completion; exit status -1 (cut channel) raises RemoteCommandError."""

    @abc.abstractmethod
    def stream(self, argv: list[str], *, stdin: bytes | None = None,
               on_stdout_line: LineHandler, on_stderr_line: LineHandler | None = None,
               idle_timeout: float | None = 120.0) -> int:
        """Run a command, calling the handlers for each line as it arrives; return exit status.

        idle_timeout: fault if nothing arrives on stdout/stderr for that long.
        A cut link or exit status -1 raises RemoteCommandError.
        """

    @abc.abstractmethod
    def put_file(self, local: str, remote: str) -> TransferResult:
        """Upload to `remote` atomically: write remote+'.tmp-<random>', then rename."""

    @abc.abstractmethod
    def get_file(self, remote: str, local: str) -> int:
        """Download a board file; return its size."""

    @abc.abstractmethod
    def makedirs(self, remote: str) -> None:
        """mkdir -p on the board (no shell involved)."""

    @abc.abstractmethod
    def remove(self, remote: str) -> None:
        """Delete one file if present (no shell involved)."""

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
    resumed_from: int = 0    # bytes already on the board from a cut-off upload, not sent again


@dataclass
class PushReport:
    """What ensure_artifacts did: per file, and the totals the redeploy benchmark reads."""
    transfers: list[TransferResult] = field(default_factory=list)
    verify_seconds: float = 0.0
    swept: dict | None = None      # litter removed before the push: {"tmp", "runs", "freed_bytes"}

    @property
    def bytes_sent(self) -> int:
        return sum(t.bytes_sent for t in self.transfers)


LineHandler = Callable[[str], None]

MAX_LINE_BYTES = 1 << 20        # a protocol line; stream(max_line_bytes=...) raises it for big results
STDERR_LINE_BYTES = 64 << 10    # a stderr line is cut here (kept for the message, never parsed)


def deadline_error(argv: list[str], deadline_s: float, device: str | None):
    from ..errors import BoardProtocolError

    return BoardProtocolError(
        f"`{argv[0]}` ran past its deadline of {deadline_s:.0f} s (the job's own time limits plus a margin), "
        "whatever it printed; stopped it", device=device,
        hint="the board kept the job alive (endless progress, a hung runtime); check it with `edgeeval devices check`")


class LineSplitter:
    """Byte chunks -> complete text lines for a handler, in time linear in the bytes fed (the
    buffer is a bytearray and only new data is searched for newlines). A line longer than
    `max_line_bytes` raises BoardProtocolError at once (`cut=False`, protocol lines), or is cut to
    that length with a marker and the rest of it dropped (`cut=True`, stderr): memory stays
    bounded by the limit either way."""

    def __init__(self, handler: LineHandler, max_line_bytes: int | tuple = MAX_LINE_BYTES, *, cut: bool = False,
                 what: str = "stdout", device: str | None = None):
        self.handler, self.max, self.cut, self.what, self.device = handler, max_line_bytes, cut, what, device
        self.buf = bytearray()
        self.dropped = 0          # bytes of the current overlong line dropped (cut mode)

    def feed(self, data: bytes) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            self._take(data[start:] if nl < 0 else data[start:nl])
            if nl < 0:
                return
            self._emit()
            start = nl + 1

    def _limit(self, part: bytes) -> int:
        """The bound for the current line: an int, or (small, prefix, big): `big` for a line that
        starts with `prefix` (the one result event), `small` for every other line."""
        if isinstance(self.max, int):
            return self.max
        small, prefix, big = self.max
        head = bytes(self.buf[:len(prefix)]) + part[:len(prefix)]
        head = head[:len(prefix)]
        if len(head) < len(prefix):
            return big if prefix.startswith(head) else small
        return big if head == prefix else small

    def _take(self, part: bytes) -> None:
        limit = self._limit(part)
        room = limit - len(self.buf)
        if len(part) <= room:
            self.buf += part
            return
        if not self.cut:
            size = len(self.buf) + len(part)
            self.buf = bytearray()
            from ..errors import BoardProtocolError

            raise BoardProtocolError(
                f"the board sent a {self.what} line of more than {limit:,} bytes ({size:,} so far); "
                "stopped reading it", device=self.device,
                hint="a broken or tampered agent, or a wrapper around python on the board printing to stdout")
        self.buf += part[:max(room, 0)]
        self.dropped += len(part) - max(room, 0)

    def _emit(self) -> None:
        line = bytes(self.buf).rstrip(b"\r").decode("utf-8", "replace")
        if self.dropped:
            line += f" [... {self.dropped:,} more bytes of this line dropped]"
        self.buf, self.dropped = bytearray(), 0
        self.handler(line)

    def flush(self) -> None:
        if self.buf or self.dropped:
            self._emit()


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
               idle_timeout: float | None = 120.0, deadline_s: float | None = None,
               max_line_bytes: int | tuple = MAX_LINE_BYTES, heartbeat_s: float | None = None) -> int:
        """Run a command, calling the handlers for each line as it arrives; return exit status.

        idle_timeout: fault if nothing arrives on stdout/stderr for that long. deadline_s: fault
        (BoardProtocolError) if the command runs longer, whatever it prints. A line over
        max_line_bytes (stdout: an int, or (small, prefix, big) for lines starting with prefix;
        stderr lines are cut at 64 KiB) raises BoardProtocolError; the
        command is stopped. heartbeat_s: keep stdin open after `stdin` and write a newline that
        often (the agent's watchdog stops the job when they stop coming). A cut link or exit
        status -1 raises RemoteCommandError.
        """

    @abc.abstractmethod
    def put_file(self, local: str, remote: str, *, resume: bool = True) -> TransferResult:
        """Upload to `remote` atomically: write a temporary name beside it, then rename;
        `resume`: a transport may continue an upload that was cut off (TransferResult.resumed_from)."""

    @abc.abstractmethod
    def get_file(self, remote: str, local: str) -> int:
        """Download a board file; return its size."""

    @abc.abstractmethod
    def makedirs(self, remote: str) -> None:
        """mkdir -p on the board (no shell involved)."""

    @abc.abstractmethod
    def remove(self, remote: str) -> None:
        """Delete one file if present (no shell involved)."""

    def remove_empty_dir(self, remote: str) -> None:
        """Delete a directory if it is empty (no shell involved); never fails."""

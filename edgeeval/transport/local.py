"""LocalTransport: the embedded `local` device, a board directory on this machine driven by subprocess.

Same contract as SSH: argv lists (no shell), commands run with the board directory as cwd,
relative and `~/` paths resolve against it, uploads are atomic (copy to tmp, os.replace).
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

from ..errors import DeviceError, RemoteCommandError, TransferError
from .base import (
    MAX_LINE_BYTES,
    STDERR_LINE_BYTES,
    CommandResult,
    LineHandler,
    LineSplitter,
    TransferResult,
    Transport,
    deadline_error,
)


class LocalTransport(Transport):
    """A board that is a directory here; `name` is the device name (default `local`)."""

    def __init__(self, name: str = "local", board_dir: str | Path | None = None):
        from .. import paths

        self.name = name
        self.board_dir = Path(board_dir) if board_dir is not None else paths.local_board_dir()

    def open(self) -> None:
        self.board_dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        pass

    def path(self, remote: str) -> Path:
        """Where a board path lives here: relative and `~/...` paths are under board_dir."""
        if remote == "~":
            return self.board_dir
        if remote.startswith("~/"):
            remote = remote[2:]
        return self.board_dir / remote

    def _missing(self, argv: list[str], exc: OSError) -> CommandResult:
        # behave like a shell: a missing program is exit status 127, not an exception
        return CommandResult(list(argv), 127, b"", f"{argv[0]}: {exc.strerror}\n".encode())

    def run(self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = 60.0) -> CommandResult:
        self.open()
        try:
            p = subprocess.run([str(a) for a in argv], input=stdin or b"", capture_output=True,
                               cwd=self.board_dir, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RemoteCommandError(f"`{argv[0]}` did not finish within {timeout:g} s; stopped it",
                                     device=self.name, hint="raise the command timeout") from None
        except (FileNotFoundError, PermissionError) as exc:
            return self._missing(argv, exc)
        return CommandResult(list(argv), p.returncode, p.stdout, p.stderr)

    def stream(self, argv: list[str], *, stdin: bytes | None = None, on_stdout_line: LineHandler,
               on_stderr_line: LineHandler | None = None, idle_timeout: float | None = 120.0,
               deadline_s: float | None = None, max_line_bytes: int | tuple = MAX_LINE_BYTES,
               heartbeat_s: float | None = None) -> int:
        self.open()
        try:
            p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, cwd=self.board_dir)
        except (FileNotFoundError, PermissionError) as exc:
            r = self._missing(argv, exc)
            if on_stderr_line:
                on_stderr_line(r.stderr.decode().rstrip("\n"))
            return r.exit_status
        q: queue.Queue = queue.Queue()

        def feed():
            try:
                if stdin:
                    p.stdin.write(stdin)
                    p.stdin.flush()
                while heartbeat_s is not None and p.poll() is None:   # the agent's watchdog listens
                    time.sleep(heartbeat_s)
                    p.stdin.write(b"\n")
                    p.stdin.flush()
                p.stdin.close()
            except (OSError, ValueError):
                pass

        def pump(f, which):
            # the same bounded splitter as over SSH: linear time, a line over the limit is a fault
            # (stdout) or cut (stderr); lines go to the queue, the fault too
            splitter = (LineSplitter(lambda s: q.put((1, s)), max_line_bytes, device=self.name) if which == 1 else
                        LineSplitter(lambda s: q.put((2, s)), STDERR_LINE_BYTES, cut=True, what="stderr",
                                     device=self.name))
            try:
                for chunk in iter(lambda: f.read1(1 << 16), b""):
                    splitter.feed(chunk)
                splitter.flush()
            except DeviceError as exc:
                q.put((0, exc))
            q.put((which, None))

        threads = [threading.Thread(target=feed, daemon=True),
                   threading.Thread(target=pump, args=(p.stdout, 1), daemon=True),
                   threading.Thread(target=pump, args=(p.stderr, 2), daemon=True)]
        for t in threads:
            t.start()
        open_streams = 2
        end = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            while open_streams:
                wait = idle_timeout
                if end is not None:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise deadline_error(argv, deadline_s, self.name)
                    wait = left if wait is None else min(wait, left)
                try:
                    which, line = q.get(timeout=wait)
                except queue.Empty:
                    if end is not None and time.monotonic() >= end:
                        raise deadline_error(argv, deadline_s, self.name) from None
                    raise RemoteCommandError(f"`{argv[0]}` printed nothing for {idle_timeout:g} s; stopped it",
                                             device=self.name, hint="raise idle_timeout for slow models") from None
                if which == 0:
                    raise line
                if line is None:
                    open_streams -= 1
                elif which == 1:
                    on_stdout_line(line)
                elif on_stderr_line:
                    on_stderr_line(line)
            return p.wait()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def put_file(self, local: str, remote: str, *, resume: bool = True) -> TransferResult:
        dst = self.path(remote)
        tmp = dst.with_name(f"{dst.name}.tmp-{secrets.token_hex(6)}")
        t0 = time.perf_counter()
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, dst)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise TransferError(f"copy of {local} to {dst} failed: {exc}", device=self.name,
                                hint="check free disk space and permissions") from None
        size = dst.stat().st_size
        return TransferResult(local=str(local), remote=remote, size=size, bytes_sent=size,
                              seconds=time.perf_counter() - t0)

    def get_file(self, remote: str, local: str) -> int:
        src = self.path(remote)
        tmp = f"{local}.tmp-{secrets.token_hex(6)}"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, local)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise TransferError(f"copy of {src} to {local} failed: {exc}", device=self.name,
                                hint="check the path and permissions") from None
        return os.path.getsize(local)

    def makedirs(self, remote: str) -> None:
        try:
            self.path(remote).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransferError(f"cannot create {remote}: {exc}", device=self.name,
                                hint="check permissions of the board directory") from None

    def remove_empty_dir(self, remote: str) -> None:
        try:
            self.path(remote).rmdir()
        except OSError:
            pass          # not empty, or gone: left for the next push's sweep

    def remove(self, remote: str) -> None:
        try:
            self.path(remote).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise TransferError(f"cannot remove {remote}: {exc}", device=self.name,
                                hint="check permissions of the board directory") from None

"""SSHTransport: one paramiko connection per board, reused for every command and transfer.

Choices that matter (measured, see docs): our own socket with TCP_NODELAY and
TCP_USER_TIMEOUT (the only thing that turns a cut link into an error), host keys
checked by us against known_hosts (never auto-added), ProxyJump via direct-tcpip,
SFTP uploads as pipelined ~255 KB writes with aes128-gcm preferred.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import time

import paramiko

from ..errors import ConnectError, RemoteCommandError
from .base import MAX_LINE_BYTES, STDERR_LINE_BYTES, CommandResult, LineHandler, LineSplitter, Transport, deadline_error
from .hostkeys import SYSTEM_KNOWN_HOSTS, _load_host_keys, check_host_key, fingerprint  # noqa: F401 (re-exported)
from .sftp import CHUNK, SFTPFiles  # noqa: F401
from .ssh_target import DEFAULT_IDENTITIES, SSHTarget, _expand, _load_identity, resolve_target  # noqa: F401

PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes128-ctr", "aes256-gcm@openssh.com")
_LINK_ERRORS = (EOFError, OSError, paramiko.SSHException)
_DEFAULT = object()


class SSHTransport(SFTPFiles, Transport):
    """A board over SSH. Opens lazily; one paramiko.Transport and one SFTP client, reused."""

    def __init__(self, target: SSHTarget):
        self.target = target
        self.name = target.name
        self._t: paramiko.Transport | None = None
        self._hops: list[paramiko.Transport] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._chunk: int | None = None

    # ---- connection -------------------------------------------------------------------
    def _sock_for(self, t: SSHTarget, via: paramiko.Transport | None):
        where = f"{t.host}:{t.port}"
        if via is not None:
            try:
                return via.open_channel("direct-tcpip", (t.host, t.port), ("127.0.0.1", 0),
                                        timeout=t.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise ConnectError(f"the jump host could not open a connection to {where}: {exc}",
                                   device=self.name, hint="check the target's HostName/Port as seen from the jump host") from None
        try:
            sock = socket.create_connection((t.host, t.port), timeout=t.connect_timeout)
        except socket.gaierror as exc:
            raise ConnectError(f"cannot resolve host name {t.host!r}: {exc.strerror}", device=self.name,
                               hint="check the ssh: value in the inventory or HostName in ~/.ssh/config") from None
        except (TimeoutError, socket.timeout):
            raise ConnectError(f"no answer from {where} within {t.connect_timeout:g} s", device=self.name,
                               hint="is the board powered and on this network? a firewall dropping packets?") from None
        except ConnectionRefusedError:
            raise ConnectError(f"connection refused by {where}", device=self.name,
                               hint="is sshd running on the board, and is the port right?") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {where}: {exc.strerror or exc}", device=self.name,
                               hint="check the network route to the board") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(t.user_timeout_ms))
        return sock

    def _handshake(self, t: SSHTarget, via: paramiko.Transport | None) -> paramiko.Transport:
        """Connect and exchange keys (no host key check, no auth)."""
        sock = self._sock_for(t, via)
        pt = paramiko.Transport(sock)
        pt.banner_timeout = t.banner_timeout
        pt.auth_timeout = t.auth_timeout
        opts = pt.get_security_options()
        opts.ciphers = [c for c in PREFERRED_CIPHERS if c in opts.ciphers] + \
                       [c for c in opts.ciphers if c not in PREFERRED_CIPHERS]
        known = _load_host_keys(t).lookup(t.known_hosts_name) or {}
        if known:  # ask for the key type we already know, so a known host is not "unknown"
            opts.key_types = [k for k in opts.key_types if k in known] + \
                             [k for k in opts.key_types if k not in known]
        try:
            pt.start_client(timeout=t.connect_timeout + t.banner_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            pt.close()
            raise ConnectError(f"SSH handshake with {t.host}:{t.port} failed: {exc or type(exc).__name__}",
                               device=self.name,
                               hint="is it an SSH server, and is it responsive (sshd hung or overloaded)?") from None
        return pt

    def _authenticate(self, pt: paramiko.Transport, t: SSHTarget) -> None:
        problems: list[str] = []
        tried: list[str] = []
        candidates: list[tuple[str, object]] = [("file", p) for p in t.identity_files]
        try:
            candidates += [("agent", k) for k in paramiko.Agent().get_keys()]
        except Exception:  # no agent or a broken socket: files only
            pass
        if not t.identity_files:
            candidates += [("file", _expand(p)) for p in DEFAULT_IDENTITIES if os.path.isfile(_expand(p))]
        for kind, item in candidates:
            if kind == "file":
                if not os.path.isfile(item):
                    problems.append(f"identity file {item} does not exist")
                    continue
                key, problem = _load_identity(item)
                if key is None:
                    problems.append(problem)
                    continue
                label = item
            else:
                key, label = item, f"agent key {fingerprint(item)}"
            tried.append(label)
            try:
                pt.auth_publickey(t.user, key)
                if pt.is_authenticated():
                    return
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ConnectError(f"authentication as {t.user} at {t.host}:{t.port} was cut: {exc}",
                                   device=self.name, hint="too many keys tried (MaxAuthTries)? set identity_file") from None
        detail = "; ".join(problems) if problems else ""
        raise ConnectError(
            f"authentication as {t.user!r} at {t.host}:{t.port} failed (tried: {', '.join(tried) or 'no keys'})"
            + (f"; {detail}" if detail else ""), device=self.name,
            hint="check the user, set identity_file (or IdentityFile in ~/.ssh/config), and that the public key "
                 "is in the board's ~/.ssh/authorized_keys")

    def _connect_chain(self, t: SSHTarget, *, keys_only: bool = False) -> paramiko.Transport:
        via = self._connect_chain(t.proxy_jump) if t.proxy_jump is not None else None
        pt = self._handshake(t, via)
        self._hops.append(pt)
        if keys_only:
            return pt
        check_host_key(t, pt.get_remote_server_key(), device=self.name)
        self._authenticate(pt, t)
        return pt

    def open(self) -> None:
        if self._t is not None and self._t.is_active():
            return
        self.close()
        try:
            self._t = self._connect_chain(self.target)
        except BaseException:
            self.close()
            raise
        self._t.set_keepalive(5)  # unacked keepalives let TCP_USER_TIMEOUT notice a dead link

    def fetch_host_key(self) -> paramiko.PKey:
        """The target's host key, from a key exchange without auth (jump hosts are checked)."""
        try:
            return self._connect_chain(self.target, keys_only=True).get_remote_server_key()
        finally:
            self.close()

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:
                pass
        self._sftp = None
        for pt in reversed(self._hops):
            try:
                pt.close()
            except Exception:
                pass
        self._hops = []
        self._t = None

    def _transport(self) -> paramiko.Transport:
        self.open()
        return self._t

    def _lost(self, what: str, exc: BaseException | None = None) -> RemoteCommandError:
        self.close()
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return RemoteCommandError(f"the link to the board was lost during {what}{why}", device=self.name,
                                  hint="check the board's power and network; it may have rebooted or crashed")

    # ---- commands -----------------------------------------------------------------------
    def _exec(self, argv: list[str], stdin: bytes | None, keep_stdin: bool = False) -> paramiko.Channel:
        cmd = shlex.join([str(a) for a in argv])
        t = self._transport()
        try:
            chan = t.open_session(timeout=self.target.connect_timeout)
            chan.exec_command(cmd)
            if stdin:
                chan.sendall(stdin)
            if not keep_stdin:      # heartbeat mode: stdin stays open for the beats (_pump)
                chan.shutdown_write()
            return chan
        except _LINK_ERRORS as exc:
            raise self._lost(f"`{argv[0]}`", exc) from None

    def _pump(self, chan: paramiko.Channel, argv: list[str], on_out, on_err,
              idle_timeout: float | None, timeout: float | None, deadline: bool = False,
              heartbeat_s: float | None = None) -> int:
        """Read both streams until exit; call on_out/on_err with raw chunks; with heartbeat_s,
        write a newline on the command's stdin that often (the agent's watchdog listens)."""
        start = last = next_beat = time.monotonic()
        try:
            while True:
                if heartbeat_s is not None and time.monotonic() >= next_beat:
                    if not chan.closed and not chan.exit_status_ready():
                        try:
                            chan.send(b"\n")     # never blocks the pump; a lost beat is not an error
                        except (OSError, EOFError, paramiko.SSHException):
                            pass
                    next_beat = time.monotonic() + heartbeat_s
                got = False
                while chan.recv_ready():
                    data = chan.recv(1 << 16)
                    if not data:
                        break
                    got = True
                    on_out(data)
                while chan.recv_stderr_ready():
                    data = chan.recv_stderr(1 << 16)
                    if not data:
                        break
                    got = True
                    on_err(data)
                now = time.monotonic()
                if timeout is not None and now - start > timeout and deadline:
                    raise deadline_error(argv, timeout, self.name)   # checked even while output flows
                if got:
                    last = now
                    continue
                if chan.closed or (chan.exit_status_ready() and chan.eof_received):
                    break
                if not self._t or not self._t.is_active():
                    break
                if idle_timeout is not None and now - last > idle_timeout:
                    raise RemoteCommandError(
                        f"`{argv[0]}` printed nothing for {idle_timeout:g} s; stopped it", device=self.name,
                        hint="the board may be hung or overloaded; raise idle_timeout for slow boards")
                if timeout is not None and now - start > timeout:
                    raise RemoteCommandError(f"`{argv[0]}` did not finish within {timeout:g} s; stopped it",
                                             device=self.name, hint="raise the command timeout for slow boards")
                wait = 0.2 if heartbeat_s is None else max(0.0, min(0.2, next_beat - time.monotonic()))
                if chan.eof_received:   # the pipe stays readable after EOF: wait for the status instead
                    chan.status_event.wait(wait)
                else:
                    select.select([chan], [], [], wait)
        except _LINK_ERRORS as exc:
            raise self._lost(f"`{argv[0]}`", exc) from None
        finally:
            if not chan.exit_status_ready():
                chan.close()
        status = chan.exit_status if chan.exit_status_ready() else -1
        if status == -1:
            if self._t is not None and self._t.is_active():
                # the session ended without an exit status while the link is up: sshd reports a
                # process killed by a signal as exit-signal, which carries no status
                chan.close()
                raise RemoteCommandError(
                    f"`{argv[0]}` on the board ended without an exit status: it was killed by a signal "
                    "(the OOM killer, a kill, a watchdog on the board); the link is still up", device=self.name,
                    hint="check the board's memory and its kernel log (dmesg) for the kill")
            raise self._lost(f"`{argv[0]}`")
        chan.close()
        return status

    def run(self, argv: list[str], *, stdin: bytes | None = None, timeout=_DEFAULT) -> CommandResult:
        if timeout is _DEFAULT:
            timeout = self.target.command_timeout
        out, err = bytearray(), bytearray()
        chan = self._exec(argv, stdin)
        status = self._pump(chan, argv, out.extend, err.extend, None, timeout)
        return CommandResult(list(argv), status, bytes(out), bytes(err))

    def stream(self, argv: list[str], *, stdin: bytes | None = None, on_stdout_line: LineHandler,
               on_stderr_line: LineHandler | None = None, idle_timeout: float | None = 120.0,
               deadline_s: float | None = None, max_line_bytes: int | tuple = MAX_LINE_BYTES,
               heartbeat_s: float | None = None) -> int:
        splitters = [LineSplitter(on_stdout_line, max_line_bytes, device=self.name),
                     LineSplitter(on_stderr_line or (lambda s: None), STDERR_LINE_BYTES, cut=True,
                                  what="stderr", device=self.name)]
        chan = self._exec(argv, stdin, keep_stdin=heartbeat_s is not None)
        status = self._pump(chan, argv, splitters[0].feed, splitters[1].feed, idle_timeout, deadline_s,
                            deadline=True, heartbeat_s=heartbeat_s)
        for s in splitters:
            s.flush()
        return status


__all__ = ["SSHTarget", "SSHTransport", "resolve_target", "fingerprint", "check_host_key"]

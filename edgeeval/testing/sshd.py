"""Real OpenSSH boards for tests: each board is an `sshd -D` child with its own host key and port.

    lab = SSHDLab(tmp_path)
    board = lab.start_board("b1")
    inv = lab.inventory(tmp_path / "devices.yaml", [board])
    ...
    lab.close()

Boards accept the lab's client key; `lab.known_hosts_path` trusts every board started,
`lab.ssh_config_path` has a Host alias per board.

By default the boards log in as the current user and run the controller's own python. Asked
to (`SSHDLab(dir, create_user=True)`, root only: edgeeval's own tests do), the lab creates a
dedicated unprivileged user (`edgeeval-board`, login shell /bin/sh) whose python is Debian's
/usr/bin/python3 with numpy and onnxruntime beside it (a venv filled once by pip) — a board
interpreter distinct from the controller's, like a real board. Root's own login shell on the
test machines runs `pyenv init` (a rehash with a lock file: a board killed mid-login leaves the
lock behind and every later root login then hangs for 60 s), which is why the tests ask.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create an unencrypted key pair at path (+ .pub); return the public key line."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".pub")):
        if p.exists():
            p.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().strip()


@dataclass
class Board:
    """One running sshd. `known_hosts_line` is what a client's known_hosts needs for it."""
    name: str
    host: str
    port: int
    dir: Path
    host_key_path: Path
    config_path: Path
    user: str
    work: Path = field(default=None)
    process: subprocess.Popen | None = None
    log_path: Path = field(default=None)
    prefix: list = field(default_factory=list)    # e.g. ["ip", "netns", "exec", NS]: sshd inside a namespace

    @property
    def host_public_key(self) -> str:
        return self.host_key_path.with_name(self.host_key_path.name + ".pub").read_text().strip()

    @property
    def known_hosts_line(self) -> str:
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        kind, b64 = self.host_public_key.split()[:2]
        return f"{name} {kind} {b64}"

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def board_dir(self) -> Path:
        return self.work if self.work is not None else self.dir / "work"

    def start(self) -> "Board":
        if SSHD_RUN_DIR and os.geteuid() == 0:
            os.makedirs(SSHD_RUN_DIR, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([*self.prefix, SSHD, "-D", "-e", "-f", str(self.config_path)],
                                        stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd for board {self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd for board {self.name} gave no banner within 10 s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the listener and every process it serves (a crashed board)."""
        if self.process is None:
            return
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()

    def stop(self) -> None:
        """Terminate the listener and its sessions (sshd children start their own sessions)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            kids = _descendants(self.process.pid)
            for pid in [self.process.pid, *kids]:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def restart(self, new_host_key: bool = False) -> "Board":
        """Stop and start again on the same port; `new_host_key` simulates a reinstalled board."""
        self.stop()
        if new_host_key:
            keygen(self.host_key_path)
        return self.start()


SSHD_RUN_DIR = "/run/sshd"


def _descendants(root: int) -> list[int]:
    """All live descendants of a pid, from /proc (Linux)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


class SSHDLab:
    """A set of sshd boards under one directory, sharing one client key."""

    def __init__(self, tmpdir: str | Path, user: str | None = None, create_user: bool = False):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if user is None and create_user:
            if os.geteuid() != 0:
                raise PermissionError("SSHDLab(create_user=True) creates a user account: run as root, "
                                      "or pass user= an existing account")
            user = ensure_board_user()
        self.user = user or getpass.getuser()
        self._as_other_user = self.user != getpass.getuser()
        # board work dirs must be reachable by the board user: not under pytest's 0700 tmp
        self.public_dir = Path(tempfile.mkdtemp(prefix="edgeeval-lab-")) if self._as_other_user else self.dir
        os.chmod(self.public_dir, 0o755)
        self.board_python = board_python() if self._as_other_user else sys.executable
        self.client_key_path = self.dir / "id_ed25519"
        self.client_public_key = keygen(self.client_key_path)
        self.known_hosts_path = self.dir / "known_hosts"
        self.ssh_config_path = self.dir / "ssh_config"
        self.known_hosts_path.touch()
        self.ssh_config_path.touch()
        self.boards: list[Board] = []
        self._trusted: list[Board] = []

    def start_board(self, name: str, address: str = "127.0.0.1", port: int | None = None,
                    trusted: bool = True, extra_config: str = "", prefix: list | None = None) -> Board:
        """Start an sshd; `trusted` adds its key to lab.known_hosts_path."""
        if not sshd_available():
            raise RuntimeError(f"{SSHD} or ssh-keygen is missing; install openssh-server")
        if any(b.name == name for b in self.boards):
            raise ValueError(f"a board named {name!r} is already running in this lab")
        bdir = self.dir / "boards" / name
        bdir.mkdir(parents=True, exist_ok=True)
        work = self.public_dir / "boards" / name / "work"
        work.mkdir(parents=True, exist_ok=True)
        if self._as_other_user:
            os.chmod(work.parent.parent, 0o755)
            os.chmod(work.parent, 0o755)
            shutil.chown(work, self.user, self.user)
        host_key = bdir / "ssh_host_ed25519_key"
        keygen(host_key)
        auth = work.parent / "authorized_keys"   # sshd reads it as the board user
        auth.write_text(self.client_public_key + "\n")
        auth.chmod(0o644)
        port = port or free_port(address)
        cfg = bdir / "sshd_config"
        cfg.write_text("\n".join([
            f"ListenAddress {address}", f"Port {port}", f"HostKey {host_key}", "PidFile none",
            f"AuthorizedKeysFile {auth}", "UsePAM no", "StrictModes no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "Subsystem sftp internal-sftp",
            "ClientAliveInterval 5", "ClientAliveCountMax 3", "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes", "LogLevel ERROR", extra_config, ""]))
        board = Board(name=name, host=address, port=port, dir=bdir, host_key_path=host_key, config_path=cfg,
                      user=self.user, work=work, log_path=bdir / "sshd.log", prefix=list(prefix or []))
        board.start()
        self.boards.append(board)
        if trusted:
            self._trusted.append(board)
        self._write_files()
        return board

    def trust(self, board: Board) -> None:
        """Put the board's current host key into lab.known_hosts_path."""
        if board not in self._trusted:
            self._trusted.append(board)
        self._write_files()

    def remove(self, board: Board) -> None:
        """Stop a board and forget it (its port may be reused by a later board)."""
        board.stop()
        for lst in (self.boards, self._trusted):
            if board in lst:
                lst.remove(board)
        self._write_files()

    def _write_files(self) -> None:
        self.known_hosts_path.write_text("".join(b.known_hosts_line + "\n" for b in self._trusted
                                                 if b in self.boards))
        blocks = []
        for b in self.boards:
            blocks.append(f"Host {b.name}\n  HostName {b.host}\n  Port {b.port}\n  User {b.user}\n"
                          f"  IdentityFile {self.client_key_path}\n  UserKnownHostsFile {self.known_hosts_path}\n")
        self.ssh_config_path.write_text("\n".join(blocks))

    def inventory(self, path: str | Path, boards: list[Board], python: str | None = None, **overrides) -> Path:
        """Write a devices YAML for `boards` (ssh = user@host:port, the lab's key and known_hosts)."""
        import yaml

        devices = []
        for b in boards:
            d = {"name": b.name, "ssh": b.target, "python": python or self.board_python, "workdir": str(b.board_dir),
                 "identity_file": str(self.client_key_path), "known_hosts": str(self.known_hosts_path),
                 "ssh_config": str(self.ssh_config_path)}
            d.update(overrides)
            devices.append(d)
        path = Path(path)
        path.write_text(yaml.safe_dump({"devices": devices}, sort_keys=False))
        return path

    def close(self) -> None:
        for b in self.boards:
            b.stop()
        self.boards = []
        if self._as_other_user:
            shutil.rmtree(self.public_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


BOARD_USER = "edgeeval-board"
BOARD_PYTHON_DIR = Path("/var/tmp/edgeeval-board-python")


def ensure_board_user(name: str = BOARD_USER) -> str:
    """Create the unprivileged board login (shell /bin/sh, key login only) if it is missing."""
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # useradd leaves the account locked ('!'), which sshd refuses without PAM
        subprocess.run(["usermod", "-p", "*", name], check=True)
    return name


def board_python(base: str = "/usr/bin/python3", where: Path = BOARD_PYTHON_DIR) -> str:
    """A board interpreter: a venv of Debian's python3 with numpy and onnxruntime, made once.

    The packages come from the package index through the controller's pip (`--target`, wheels
    for the venv's Python version), at the controller's versions.
    """
    import importlib.metadata as md

    pkgs = [f"numpy=={md.version('numpy')}", f"onnxruntime=={md.version('onnxruntime')}"]
    try:  # TFLite boards: the controller's ai-edge-litert (numpy 2) when the tflite extra is installed
        pkgs.append(f"ai-edge-litert=={md.version('ai-edge-litert')}")
    except md.PackageNotFoundError:
        pass
    return _venv_with(pkgs, base, where)


LEGACY_TFLITE_PYTHON_DIR = Path("/var/tmp/edgeeval-legacy-python")
LEGACY_TFLITE_PACKAGES = ["tflite-runtime==2.14.0", "numpy<2"]


def legacy_tflite_python(base: str = "/usr/bin/python3", where: Path = LEGACY_TFLITE_PYTHON_DIR) -> str:
    """A "legacy" TFLite board interpreter: a venv of Debian's python3 with tflite-runtime 2.14 and numpy<2.

    No onnxruntime, no ai-edge-litert: the agent falls back to tflite_runtime.
    """
    return _venv_with(LEGACY_TFLITE_PACKAGES, base, where)


def _venv_with(pkgs: list[str], base: str, where: Path) -> str:
    """A venv of `base` at `where` holding exactly `pkgs`, made once (stamped) and readable by the board user.

    The controller's pip installs wheels for the venv's Python version with --target (the venv has no pip).
    """
    py = where / "bin" / "python"
    stamp = where / ".edgeeval-packages"
    if py.exists() and stamp.exists() and stamp.read_text() == " ".join(pkgs):
        return str(py)
    if not os.path.exists(base):
        raise RuntimeError(f"{base} is missing: install Debian's python3 for the test boards")
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True)
    ver = subprocess.run([str(py), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    site = where / "lib" / f"python{ver}" / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--only-binary=:all:", "--python-version", ver, "--target", str(site),
                    "--no-warn-conflicts", *pkgs], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(where)], check=True)
    stamp.write_text(" ".join(pkgs))
    return str(py)

"""A virtual lab anyone can start: `edgeeval lab up N` runs N real OpenSSH boards on this machine.

Each board is its own sshd with its own host key, trusted in the lab's private known_hosts, logged
into with the lab's own key (as an unprivileged board user when run as root), with the lab's
inventory written beside them. Plain boards listen on 127.0.0.1. Shaped boards (`--loss`,
`--rate`, `--delay`; root only) each sit in a network namespace behind a veth pair on
127.X.N.0/30 (X a block no other lab uses; route_localnet, so traffic never leaves loopback addresses): `tbf` limits the
rate both ways, an iptables `statistic` DROP rule inside the namespace loses packets both ways.
This kernel has no netem, so `--delay` needs a kernel that has it (it is refused otherwise).

The sshd processes outlive the command; `lab.json` in the lab folder lists them, and `edgeeval
lab down` stops them and removes the namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from ..errors import EdgeevalError, UserInputError

LAB_FILE = "lab.json"
NETNS_PREFIX = "edgeeval-"


def default_dir() -> Path:
    from ..paths import home

    return home() / "lab"


class LabError(EdgeevalError):
    """Setting up the lab's network failed (a command of iproute2 or iptables)."""


def _sh(*args: str, ns: str | None = None) -> None:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")


def _lab_id(folder: Path) -> str:
    import hashlib

    return hashlib.sha256(str(folder).encode()).hexdigest()[:4]


def _free_octet() -> int:
    """The second octet of a 127.X.0.0/16 no interface uses yet (X in 200..249): each shaped lab
    gets its own, so two labs never share an address."""
    used = set()
    for line in subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout.splitlines():
        for word in line.split():
            if word.startswith("127.") and word.count(".") == 3:
                used.add(word.split(".")[1])
    for x in range(200, 250):
        if str(x) not in used:
            return x
    raise LabError("every 127.200-249.x.x block is in use by other labs; `edgeeval lab down` one of them")


def _netns_board(lab: str, octet: int, i: int, name: str, rate: str | None, loss_pct: float | None,
                 delay_ms: float | None) -> tuple[str, str]:
    """A namespace with a veth pair for board i; returns (namespace, the board's address)."""
    ns = f"{NETNS_PREFIX}{lab}-{name}"
    host_if, board_if = f"e{lab}{i:02d}h", f"e{lab}{i:02d}b"
    host_ip, board_ip = f"127.{octet}.{i}.1", f"127.{octet}.{i}.2"
    _sh("ip", "netns", "add", ns)
    _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", board_if)
    _sh("ip", "link", "set", board_if, "netns", ns)
    _sh("ip", "link", "set", "lo", "up", ns=ns)
    _sh("sysctl", "-qw", f"net.ipv4.conf.{host_if}.route_localnet=1")
    _sh("sysctl", "-qw", f"net.ipv4.conf.{board_if}.route_localnet=1", ns=ns)
    _sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
    _sh("ip", "addr", "add", f"{board_ip}/30", "dev", board_if, ns=ns)
    _sh("ip", "link", "set", host_if, "up")
    _sh("ip", "link", "set", board_if, "up", ns=ns)
    if rate:
        for dev, where in ((host_if, None), (board_if, ns)):
            _sh("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "200ms",
                ns=where)
    if delay_ms:
        for dev, where in ((host_if, None), (board_if, ns)):
            _sh("tc", "qdisc", "add", "dev", dev, "root", "netem", "delay", f"{delay_ms}ms", ns=where)
    if loss_pct:
        for chain in ("INPUT", "OUTPUT"):
            _sh("iptables", "-A", chain, "-m", "statistic", "--mode", "random", "--probability",
                f"{loss_pct / 100:.4f}", "-j", "DROP", ns=ns)
    return ns, board_ip


def _netem_available() -> bool:
    ns = f"{NETNS_PREFIX}netem-probe-{os.getpid()}"
    try:
        _sh("ip", "netns", "add", ns)
        _sh("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", ns=ns)
        return True
    except LabError:
        return False
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def up(n: int, folder: Path | None = None, *, synthetic_ms: float | None = None, loss_pct: float | None = None,
       rate: str | None = None, delay_ms: float | None = None, tags: list[str] | None = None) -> dict:
    """Start the lab; returns what lab.json holds (boards, inventory, known_hosts)."""
    from ..testing.sshd import SSHDLab, sshd_available

    folder = (folder or default_dir()).expanduser().resolve()
    problems = []
    if not 1 <= n <= 64:
        problems.append(f"N is {n}; a virtual lab has 1 to 64 boards")
    shaped = bool(loss_pct or rate or delay_ms)
    if shaped and os.geteuid() != 0:
        problems.append("--loss/--rate/--delay shape each board's link in its own network namespace, "
                        "which needs root; run as root or without them")
    if shaped and (not shutil.which("ip") or not shutil.which("tc")):
        problems.append("--loss/--rate/--delay need iproute2 (`apt-get install -y iproute2`)")
    if loss_pct and not shutil.which("iptables"):
        problems.append("--loss needs iptables (`apt-get install -y iptables`)")
    if loss_pct is not None and not 0 <= loss_pct < 100:
        problems.append(f"--loss {loss_pct}: give a percentage from 0 to below 100")
    if not sshd_available():
        problems.append("the lab's boards are OpenSSH servers: install openssh-server "
                        "(`apt-get install -y openssh-server`)")
    existing = status(folder)
    if existing and any(b["alive"] for b in existing["boards"]):
        problems.append(f"a lab is already up in {folder}: `edgeeval lab down` first (or --dir another folder)")
    if problems:
        raise UserInputError(problems)
    if delay_ms and not _netem_available():
        raise UserInputError(f"--delay {delay_ms}: this kernel has no netem (CONFIG_NET_SCH_NETEM), so a delay "
                             "cannot be emulated; use --rate and --loss, which work without it")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    lab = SSHDLab(folder, create_user=os.geteuid() == 0)
    record: dict = {"dir": str(folder), "boards": [], "shaping": {"loss_pct": loss_pct, "rate": rate,
                                                                  "delay_ms": delay_ms}}
    boards = []
    lab_id = _lab_id(folder)
    octet = _free_octet() if shaped else None
    try:
        for i in range(1, n + 1):
            name = f"vb{i:02d}"
            ns = None
            if shaped:
                ns, addr = _netns_board(lab_id, octet, i, name, rate, loss_pct, delay_ms)
                b = lab.start_board(name, address=addr, port=22, prefix=["ip", "netns", "exec", ns])
            else:
                b = lab.start_board(name)
            boards.append(b)
            record["boards"].append({"name": name, "pid": b.process.pid, "host": b.host, "port": b.port,
                                     "netns": ns, "workdir": str(b.board_dir)})
        overrides: dict = {"tags": ["lab", "virtual", *(tags or [])],
                           "facts": {"notes": "edgeeval lab: a virtual board on this machine"}}
        if synthetic_ms:
            overrides["runtime"] = {"synthetic": {"median_ms": synthetic_ms, "sigma": 0.1, "wait": "sleep"}}
        if shaped:
            overrides["timeouts"] = {"connect": 20, "banner": 30, "auth": 30, "command": 120}
        inv = lab.inventory(folder / "devices.yaml", boards, **overrides)
        record.update(inventory=str(inv), known_hosts=str(lab.known_hosts_path), user=lab.user,
                      public_dir=str(lab.public_dir))
        (folder / LAB_FILE).write_text(json.dumps(record, indent=2))
    except BaseException:
        for b in boards:
            b.stop()
        _remove_namespaces([f"{NETNS_PREFIX}{lab_id}-vb{i:02d}" for i in range(1, n + 1)])
        raise
    return record


def status(folder: Path | None = None) -> dict | None:
    folder = (folder or default_dir()).expanduser().resolve()
    f = folder / LAB_FILE
    if not f.is_file():
        return None
    record = json.loads(f.read_text())
    from ..store.store import _pid_alive

    for b in record["boards"]:
        b["alive"] = _pid_alive(int(b["pid"]))
    return record


def down(folder: Path | None = None) -> int:
    """Stop every board of the lab in `folder` and remove its namespaces; returns how many ran."""
    from ..testing.sshd import _descendants

    folder = (folder or default_dir()).expanduser().resolve()
    record = status(folder)
    if record is None:
        raise UserInputError(f"no lab in {folder} (no {LAB_FILE}); `edgeeval lab up N` starts one")
    stopped = 0
    for b in record["boards"]:
        pid = int(b["pid"])
        if not b["alive"]:
            continue
        for p in [pid, *_descendants(pid)]:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stopped += 1
    _remove_namespaces([b["netns"] for b in record["boards"] if b.get("netns")])
    public = record.get("public_dir")
    if public and public != str(folder):
        shutil.rmtree(public, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    return stopped


def _remove_namespaces(names: list[str]) -> None:
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)   # its veth pair goes with it

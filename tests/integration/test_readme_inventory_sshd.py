"""The README's own inventory example, verbatim, deploys to a real sshd board (directly and via ProxyJump).

`workdir: ~/.edgeeval` must land in the board user's home, the agent's outputs beside the
cache (no literal `~` folder anywhere) and the download must find them.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import FAST, RECIPE, ROOT, as_json, cli

pytestmark = pytest.mark.sshd


def _readme_inventory() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"```yaml\n(# devices/lab.yaml\n.*?)```", text, re.S)
    assert m, "the README's devices/lab.yaml example is gone"
    return m.group(1)


@pytest.fixture
def board_home(sshd_lab):
    """The board user's home, with /usr/bin/python3 given numpy + onnxruntime through its user site.

    The README's board python is /usr/bin/python3; a .pth file in the board user's site-packages
    points it at the lab's board packages (nothing is installed system-wide).
    """
    if sshd_lab.user == getpass.getuser():
        pytest.skip("needs the unprivileged board login (run as root): the board's ~ would be your own home")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("Debian's python3 is not installed")
    home = Path(pwd.getpwnam(sshd_lab.user).pw_dir)
    ver = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    venv_site = Path(sshd_lab.board_python).parents[1] / "lib" / f"python{ver}" / "site-packages"
    user_site = home / ".local" / "lib" / f"python{ver}" / "site-packages"
    user_site.mkdir(parents=True, exist_ok=True)
    (user_site / "edgeeval-test-lab.pth").write_text(f"{venv_site}\n")
    subprocess.run(["chown", "-R", f"{sshd_lab.user}:", str(home / ".local")], check=True)
    shutil.rmtree(home / ".edgeeval", ignore_errors=True)
    shutil.rmtree(home / "~", ignore_errors=True)
    yield home
    (user_site / "edgeeval-test-lab.pth").unlink(missing_ok=True)
    shutil.rmtree(home / ".edgeeval", ignore_errors=True)


def _ssh_home(tmp_path: Path, sshd_lab, config: str) -> Path:
    """A HOME for the controller whose ~/.ssh holds the config, the lab's key and known_hosts."""
    home = tmp_path / "controller-home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True)
    shutil.copy(sshd_lab.client_key_path, ssh / "id_ed25519")
    (ssh / "id_ed25519").chmod(0o600)
    shutil.copy(sshd_lab.known_hosts_path, ssh / "known_hosts")
    (ssh / "config").write_text(config)
    return home


@pytest.mark.parametrize("via_jump", [False, True], ids=["direct", "proxyjump"])
def test_readme_inventory_verbatim_over_ssh(sshd_lab, two_boards, board_home, built_digits, tmp_path, via_jump):
    board, jump = two_boards
    inv = tmp_path / "devices" / "lab.yaml"
    inv.parent.mkdir()
    inv.write_text(_readme_inventory())
    config = f"Host pi5-lab\n  HostName {board.host}\n  Port {board.port}\n  User {board.user}\n"
    if via_jump:
        config = (f"Host jumphost\n  HostName {jump.host}\n  Port {jump.port}\n  User {jump.user}\n"
                  + config + "  ProxyJump jumphost\n")
    home = _ssh_home(tmp_path, sshd_lab, config)
    env = {"HOME": str(home)}
    listed = cli("devices", "list", "--inventory", inv, env=env)
    assert listed.returncode == 0 and "pi5" in listed.stdout, listed.stderr
    proc = cli("deploy", RECIPE, "--device", "pi5", "--inventory", inv, "--store", tmp_path / "r.db",
               "--variant", "fp32", "--json", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    rep = as_json(proc)
    assert rep["status"] == "ok" and rep["variants"][0]["accuracy"]["top1"] > 0.9
    cache = board_home / ".edgeeval" / "cache"
    assert sorted(p.suffix for p in cache.iterdir()) == [".npz", ".onnx", ".pyz"]
    assert not (board_home / "~").exists(), "the agent wrote under a literal '~' folder"
    runs = board_home / ".edgeeval" / "runs"
    assert not runs.exists() or not [p for p in runs.rglob("*") if p.is_file()], "outputs left on the board"
    assert rep["device_facts"]["disk"]["path"] == str(board_home / ".edgeeval")

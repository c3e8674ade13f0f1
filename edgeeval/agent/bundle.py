"""The board agent as one file: a deterministic zipapp of the `edgeeval_agent` package.

`python3 agent.pyz probe|run` on the board (Python >= 3.8: zipimport reads stored entries).
The bytes depend on the package's sources alone — entries sorted, stored (no compression
level to vary), fixed timestamps, modes and creator system, no bytecode, no directory
entries, no comment — so two clean builds on any machine, checkout path, umask, time zone
or hash seed give the same sha256, which names the file on the board.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "edgeeval_agent"
SOURCE_DIR = Path(__file__).with_name(PACKAGE)
MAIN = (b"import sys\n\nfrom edgeeval_agent.__main__ import main\n\n"
        b"sys.exit(main())\n")
_DATE = (1980, 1, 1, 0, 0, 0)
_MODE = 0o100644 << 16  # a regular file, rw-r--r--


@dataclass(frozen=True)
class Bundle:
    data: bytes
    sha256: str


def sources(root: Path = SOURCE_DIR) -> list[tuple[str, bytes]]:
    """(archive name, bytes) of every .py file of the package, sorted by name."""
    out = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts:
            continue
        out.append(("/".join((PACKAGE, *rel.parts)), path.read_bytes()))
    return sorted(out)


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, whatever builds it
    info.external_attr = _MODE
    zf.writestr(info, data)


def build(root: Path = SOURCE_DIR) -> Bundle:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        _entry(zf, "__main__.py", MAIN)
        for name, data in sources(root):
            _entry(zf, name, data)
    data = buf.getvalue()
    return Bundle(data, hashlib.sha256(data).hexdigest())


@functools.lru_cache(maxsize=1)
def bundle() -> Bundle:
    """The agent's bytes as pushed to boards (built once per process)."""
    return build()


def agent_path() -> Path:
    """A file holding bundle().data, named by its sha256 (written once, atomically), for
    transports that push paths and for tests that run the agent directly."""
    from ..paths import agent_dir

    b = bundle()
    path = agent_dir() / f"agent-{b.sha256}.pyz"
    if not path.is_file() or path.stat().st_size != len(b.data):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b.data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path

"""Board pythons for tests: a real interpreter that lacks the runtime (a board without onnxruntime)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def python_without_runtimes(root: str | Path, python: str = sys.executable) -> Path:
    """Write ROOT/python: `PYTHON -S` whose only package directory holds a symlinked numpy.

    onnxruntime (and every other third-party package) is then genuinely not importable,
    the way it is on a board where nobody installed it. ROOT must be readable by the board user.
    """
    root = Path(root)
    pp = root / "site"
    pp.mkdir(parents=True, exist_ok=True)
    site = Path(subprocess.run([python, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for name in os.listdir(site):
        if name == "numpy" or name.startswith("numpy.libs") or name.startswith("numpy-"):
            link = pp / name
            if not link.exists():
                link.symlink_to(site / name)
    script = root / "python"
    script.write_text(f'#!/bin/sh\nPYTHONPATH={str(pp)!r} exec {python!r} -S "$@"\n')
    script.chmod(0o755)
    for p in (root, pp):
        p.chmod(0o755)
    return script

"""`edgeeval --help` wall time, target <= 0.3 s: heavy imports must stay out of the start-up path.

Times the installed console script (or `python -m edgeeval` when it is not installed) over
repeated runs and reports the median; bare `python -c pass` is measured side by side so a
slow interpreter start (e.g. a pyenv shim) is visible as a detail, not hidden in the figure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median  # noqa: E402


def timed(argv, n=15):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    script = Path(sys.executable).parent / "edgeeval"
    cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "edgeeval", "--help"]
    env_script = shutil.which("edgeeval")
    timed(cmd, 2)  # warm the page cache
    cli, bare = [], []
    for _ in range(3):  # interleave so machine noise hits both alike
        cli += timed(cmd, 5)
        bare += timed([sys.executable, "-c", "pass"], 5)
    probe = ("import sys, io, contextlib, runpy\nsys.argv = ['edgeeval', '--help']\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n        runpy.run_module('edgeeval', run_name='__main__')\n"
             "    except SystemExit:\n        pass\n"
             "print(','.join(m for m in ('torch', 'onnxruntime', 'onnx', 'paramiko', 'sqlalchemy', 'numpy', "
             "'sklearn', 'pydantic') if m in sys.modules) or 'none')")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip().splitlines()
    value = median(cli)
    print(f"edgeeval --help: median {value * 1000:.0f} ms over {len(cli)} runs; bare python start {median(bare) * 1000:.0f} ms")
    emit("cli_help_seconds", round(value, 4), "<=0.2", command=" ".join(cmd), runs=len(cli),
         python_start_s=round(median(bare), 4), on_path=env_script,
         heavy_modules_imported=(heavy[-1] if heavy else ""), pid=os.getpid())


if __name__ == "__main__":
    main()

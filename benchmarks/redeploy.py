"""Warm redeploy of an unchanged artifact to a real sshd board: bytes uploaded (target == 0).

Deploys digits-cnn's int8-static variant twice to one board started with SSHDLab; the second
deploy must upload nothing. Detail: the controller's wall time outside the on-board measurement
(connect, probe, verify, job start, output fetch, evaluation, store), goal <= 1 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import os

    os.environ.setdefault("EDGEEVAL_HOME", tempfile.mkdtemp(prefix="edgeeval-bench-"))
    from edgeeval.deploy import deploy
    from edgeeval.recipes.build import build
    from edgeeval.testing.sshd import SSHDLab

    recipe = ROOT / "recipes" / "digits-cnn.yaml"
    build(recipe)
    timing = {"warmup": 2, "min_runs": 50, "min_seconds": 0.2}
    with tempfile.TemporaryDirectory() as td, SSHDLab(Path(td) / "lab") as lab:
        board = lab.start_board("bench")
        inv = lab.inventory(Path(td) / "inv.yaml", [board])
        store = f"sqlite:///{td}/r.db"
        phases: dict[str, int] = {}

        def notify(kind, data):
            if kind == "agent" and data.get("event") == "phase":
                phases[data["phase"]] = data["t_ns"]

        first = deploy(recipe, "bench", inventory=inv, only=["int8-static"], store_url=store,
                       timing_overrides=timing)
        assert first.error is None, first.error
        sent, outside = [], []
        for _ in range(5):
            phases.clear()
            t0 = time.perf_counter()
            out = deploy(recipe, "bench", inventory=inv, only=["int8-static"], store_url=store,
                         timing_overrides=timing, notify=notify)
            wall = time.perf_counter() - t0
            assert out.error is None, out.error
            on_board = (phases["done"] - phases["load"]) / 1e9   # agent's load → done, board clock
            sent.append(out.push["bytes_sent"])
            outside.append(wall - on_board)
        print(f"first deploy sent {first.push['bytes_sent']} bytes; warm redeploys sent {sent}; "
              f"controller time outside the on-board measurement: median {median(outside):.3f} s")
        emit("warm_redeploy_bytes_uploaded", max(sent), "==0", first_push_bytes=first.push["bytes_sent"],
             controller_overhead_s=round(median(outside), 3), controller_overhead_goal="<=1.0",
             overhead_runs_s=[round(x, 3) for x in outside])


if __name__ == "__main__":
    main()

"""Warm redeploy of an unchanged artifact to a real sshd board: bytes uploaded (target == 0).

Deploys digits-cnn's int8-static variant to one board started with SSHDLab, then five more
times; a warm redeploy must upload nothing. Also: the controller's wall time outside the
on-board measurement (connect, probe, verify, job start, output fetch, evaluation, store),
target <= 0.3 s, split by stage from the deploy's own progress events (arrival times on the
controller); and a no-op rebuild (`build` of the unchanged recipe), target <= 0.3 s.
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
    from edgeeval.pipeline import deploy
    from edgeeval.recipes.build import build
    from edgeeval.testing.sshd import SSHDLab

    recipe = ROOT / "recipes" / "digits-cnn.yaml"
    build(recipe)
    timing = {"warmup": 2, "min_runs": 50, "min_seconds": 0.2}
    with tempfile.TemporaryDirectory() as td, SSHDLab(Path(td) / "lab", create_user=os.geteuid() == 0) as lab:
        board = lab.start_board("bench")
        inv = lab.inventory(Path(td) / "inv.yaml", [board])
        store = f"sqlite:///{td}/r.db"
        phases: dict[str, int] = {}
        marks: list[tuple[str, float]] = []

        def notify(kind, data):
            now = time.perf_counter()
            if kind == "agent" and data.get("event") == "phase":
                phases[data["phase"]] = data["t_ns"]
                marks.append((f"agent {data['phase']}", now))
            elif kind == "phase":
                marks.append((data["phase"], now))
            elif kind in ("variant_start", "variant_done"):
                marks.append((kind, now))

        first = deploy(recipe, "bench", inventory=inv, only=["int8-static"], store_url=store,
                       timing_overrides=timing)
        assert first.error is None, first.error
        sent, outside, stages = [], [], []
        for _ in range(5):
            phases.clear()
            marks.clear()
            t0 = time.perf_counter()
            marks.append(("start", t0))
            out = deploy(recipe, "bench", inventory=inv, only=["int8-static"], store_url=store,
                         timing_overrides=timing, notify=notify)
            wall = time.perf_counter() - t0
            marks.append(("end", time.perf_counter()))
            assert out.error is None, out.error
            on_board = (phases["done"] - phases["load"]) / 1e9   # agent's load → done, board clock
            sent.append(out.push["bytes_sent"])
            outside.append(wall - on_board)
            stages.append({f"{a}→{b}": round(tb - ta, 4) for (a, ta), (b, tb) in zip(marks, marks[1:])
                           if not (a == "agent load" and b == "agent done")
                           and not (a.startswith("agent ") and b.startswith("agent "))})
        rebuild = []
        for _ in range(7):
            t0 = time.perf_counter()
            build(recipe)
            rebuild.append(time.perf_counter() - t0)
        # the two remote interpreter starts a deploy needs on a warm board (the prepare command, the
        # job's agent up to its `load` phase): board-side start-up, the rest is the controller's own
        startup = [st.get("prepare→push", 0.0) + st.get("variant_start→agent load", 0.0) for st in stages]
        own = [o - s for o, s in zip(outside, startup)]
        print(f"first deploy sent {first.push['bytes_sent']} bytes; warm redeploys sent {sent}; "
              f"controller time outside the on-board measurement: median {median(outside):.3f} s; "
              f"no-op rebuild median {median(rebuild):.3f} s; of the controller time, board start-ups "
              f"(prepare command, agent start to load) median {median(startup):.3f} s, the rest "
              f"(build, reference, store, connect, fetch, evaluate) {median(own):.3f} s")
        for k in stages[-1]:
            print(f"  {k:>34}: median {median([st.get(k, 0.0) for st in stages]) * 1e3:7.1f} ms")
        emit("warm_redeploy_bytes_uploaded", max(sent), "==0", first_push_bytes=first.push["bytes_sent"],
             controller_overhead_s=round(median(outside), 3), controller_overhead_target="<=0.3",
             board_startups_s=round(median(startup), 3), controller_own_s=round(median(own), 3),
             overhead_runs_s=[round(x, 3) for x in outside], noop_rebuild_s=round(median(rebuild), 3),
             noop_rebuild_target="<=0.3", rebuild_runs_s=[round(x, 3) for x in rebuild],
             stages_ms={k: round(median([st.get(k, 0.0) for st in stages]) * 1e3, 1) for k in stages[-1]})


if __name__ == "__main__":
    main()

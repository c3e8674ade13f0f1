"""`edgeeval devices calibrate NAME --recipe R`: an A/A calibration of a board — the same job run
`runs` times back to back under one lease (nothing else measures in between), each run stored as an
ordinary run, then the run-to-run spread per variant and metric stored in board_noise (noise.py)."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from . import noise


def calibrate(recipe_path: str | Path, device: str, *, runs: int = 5, inventory=None, only: list[str] | None = None,
              store_url: str | None = None, timing_overrides: dict | None = None,
              scenario_overrides: dict | None = None, notify=None, wait: bool = True,
              threshold: float = 0.03, target_pct: float = 3.0) -> dict:
    """{"device", "recipe", "run_ids", "calibrations": [{variant, id, metrics}], "error"}. A board fault
    stops the calibration (exit 3 at the CLI); the runs finished before it stay stored."""
    from .. import paths
    from ..pipeline import _quiet, build_stage, deploy_leased, plan, reference
    from ..store.leases import DEFAULT_TTL_S, acquire
    from ..store.store import Store

    if runs < noise.MIN_RUNS:
        raise UserInputError(f"--runs {runs}: a spread needs at least {noise.MIN_RUNS} runs (5 or more recommended)")
    say = notify or _quiet
    p = plan(recipe_path, device, inventory=inventory, only=only, timing_overrides=timing_overrides,
             scenario_overrides=scenario_overrides)
    built = build_stage(p, say)
    ref = reference(p, built, say)
    run_ids, error = [], None
    with Store(store_url or paths.store_url()) as store:
        lease = acquire(store.engine, p.device.name, purpose="calibrate", job=p.recipe.name, wait=wait,
                        ttl_s=DEFAULT_TTL_S, on_wait=lambda holder: say("lease_wait", holder))
        try:
            for i in range(runs):
                say("phase", {"phase": f"calibration run {i + 1}/{runs}", "device": p.device.name})
                out = deploy_leased(p, built, ref, store, lease, say, command="calibrate",
                                    settings={"calibration": {"index": i + 1, "of": runs}})
                if out.error is not None:
                    error = out.error
                    break
                run_ids.append(out.run_id)
        finally:
            lease.release()
        doc = {"device": p.device.name, "recipe": p.recipe.name, "run_ids": run_ids, "runs_wanted": runs,
               "calibrations": [], "error": error}
        if error is not None or len(run_ids) < noise.MIN_RUNS:
            return doc
        stored = [store.get_run(r) for r in run_ids]
        names = [v["name"] for v in stored[0]["variants"]]
        for name in names:
            metrics = noise.calibration(stored, name, threshold=threshold, target_pct=target_pct)
            if not metrics:
                continue
            cid = noise.save(store.engine, stored, name, metrics,
                             detail={"threshold": threshold, "target_pct": target_pct,
                                     "note": "back-to-back runs under one lease: night-to-night drift "
                                             "(boots, temperature) can add to this spread"})
            doc["calibrations"].append({"variant": name, "id": cid, "metrics": metrics})
    return doc

"""Deploy as stages: plan → build → reference → open run → connect/probe/retarget → push → per variant
(run → evaluate → store) → finish.

Each stage is a function with typed inputs and outputs, so the farm can run the board stages
per board in parallel over one build and reference, and a report needs nothing but the store.
Each finished variant is stored in its own transaction before the next one starts, so a board
or network fault loses nothing already measured (the run is then marked device_error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeviceError
from .stages import (  # noqa: F401  (the stages, for the farm and for tests)
    BoardRun,
    Evaluated,
    Notify,
    Plan,
    Reference,
    Target,
    VariantOutcome,
    _quiet,
    build_stage,
    calibration_info,
    evaluate,
    open_run,
    plan,
    probe,
    push,
    reference,
    run_variant,
    store_variant,
)


@dataclass
class DeployOutcome:
    run_id: int
    recipe: str
    device: str
    variants: list[VariantOutcome] = field(default_factory=list)
    baseline: dict = field(default_factory=dict)
    push: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)
    error: DeviceError | None = None
    status: str = "running"

    @property
    def passed(self) -> bool:
        return self.error is None and all(v.passed for v in self.variants)



# ---- the whole deploy

def deploy(recipe_path: str | Path, device_name: str = "local", *, inventory: str | Path | None = None,
           only: list[str] | None = None, store_url: str | None = None,
           timing_overrides: dict | None = None, notify: Notify | None = None,
           scenario_overrides: dict | None = None, wait: bool = True,
           lease_ttl_s: float | None = None) -> DeployOutcome:
    """Run the recipe's variants on one device and store every result; see the module docstring.

    The board is leased in the store first (store/leases.py): held by another deploy or a farm
    job, this waits (`wait`, telling notify "lease_wait" with the holder) or raises BoardBusy."""
    from .. import paths
    from ..store.leases import DEFAULT_TTL_S, acquire
    from ..store.store import Store

    say = notify or _quiet
    p = plan(recipe_path, device_name, inventory=inventory, only=only, timing_overrides=timing_overrides,
             scenario_overrides=scenario_overrides)
    built = build_stage(p, say)
    ref = reference(p, built, say)
    store = Store(store_url or paths.store_url())
    lease = acquire(store.engine, p.device.name, purpose="deploy", job=p.recipe.name, wait=wait,
                    ttl_s=lease_ttl_s or DEFAULT_TTL_S, on_wait=lambda holder: say("lease_wait", holder))
    try:
        return deploy_leased(p, built, ref, store, lease, say)
    finally:
        lease.release()


def deploy_leased(p: Plan, built, ref: Reference, store, lease, say: Notify, *, command: str = "deploy",
                   settings: dict | None = None) -> DeployOutcome:
    """The board stages and the store, under `lease` (the desk deploy's, or a farm job's): each
    variant is evaluated and stored before the next one runs."""
    return measure_leased(p, built, ref, store, lease, say, command=command, settings=settings,
                          settle_each=True).settle()


class Measured:
    """A run whose board stages are over: the variants measured but not yet evaluated and stored
    (`pending`), and how the board part ended. `settle()` evaluates and stores them, then finishes
    the run; it needs neither the board nor its lease, so a farm releases the board first and lets
    the next job measure while this one is evaluated (farm/runner.py)."""

    def __init__(self, p: Plan, ref: Reference, store, say: Notify, outcome: DeployOutcome, beat: _Heartbeat):
        self.p, self.ref, self.store, self.say, self.outcome, self.beat = p, ref, store, say, outcome, beat
        self.pending: list[tuple] = []      # (target, variant, BoardRun)

    def settle_one(self, target, v, run) -> None:
        ev = evaluate(self.p, self.ref, target, v, run)
        self.outcome.variants.append(store_variant(self.store, self.outcome.run_id, self.p, self.ref, target, v,
                                                   run, ev))
        self.say("variant_done", {"variant": v.name, "summary": ev.summary})

    def settle(self) -> DeployOutcome:
        """Evaluate and store what is pending (also after a board fault: what was measured is kept),
        then finish the run as ok, gate_failed or device_error."""
        out = self.outcome
        try:
            while self.pending:
                self.settle_one(*self.pending.pop(0))
        except BaseException as exc:
            self.abort(exc)
            raise
        self.beat.stop()
        if out.error is not None:
            out.status = "device_error"
            self.store.finish_run(out.run_id, "device_error", error=str(out.error))
        else:
            out.status = "ok" if out.passed else "gate_failed"
            self.store.finish_run(out.run_id, out.status)
        return out

    def abort(self, exc: BaseException) -> None:
        self.beat.stop()
        status = "aborted" if isinstance(exc, KeyboardInterrupt) else "error"
        self.store.finish_run(self.outcome.run_id, status, error=f"{type(exc).__name__}: {exc}")


def measure_leased(p: Plan, built, ref: Reference, store, lease, say: Notify, *, command: str = "deploy",
                   settings: dict | None = None, settle_each: bool = False) -> Measured:
    """Open the run, then connect, probe, push and run every variant on the board under `lease`.
    With `settle_each` each variant is evaluated and stored before the next one runs (the desk
    deploy); without, they wait in `Measured.pending` for `settle()`. A board fault ends the board
    part (`outcome.error`); anything else marks the run and propagates."""
    from ..agentclient import BoardSession
    from ..devices.inventory import connect

    run_id = open_run(store, p, built, command=command, settings=settings)
    outcome = DeployOutcome(run_id=run_id, recipe=p.recipe.name, device=p.device.name, baseline=ref.describe())
    m = Measured(p, ref, store, say, outcome, _Heartbeat(store, run_id))
    try:
        say("phase", {"phase": "connect", "device": p.device.name})
        with connect(p.device) as transport:
            board = BoardSession(transport=transport, python=p.device.python, workdir=p.device.workdir,
                                 device=p.device.name, job_margin=p.device.timeouts.job_margin)
            target = probe(board, p, built, say)
            outcome.facts = target.facts
            store.update_run(run_id, device_facts=target.facts)
            if target.settings:
                store.update_run(run_id, settings={**_run_settings(store, run_id), **target.settings})
            outcome.push = push(board, target, say)
            store.update_run(run_id, extra={"baseline": outcome.baseline, "push": outcome.push,
                                            "scoring": ref.scoring})
            for v in target.variants:
                lease.check()
                run = run_variant(board, p, target, v, say)
                lease.check()     # lost during the run: it may have shared the board, so it is not stored
                if settle_each:
                    m.settle_one(target, v, run)
                else:
                    m.pending.append((target, v, run))
    except DeviceError as exc:
        outcome.error = exc
    except BaseException as exc:
        m.abort(exc)
        raise
    return m


class _Heartbeat:
    """Refreshes runs.heartbeat_at every HEARTBEAT_S while the deploy runs, so a killed controller's
    run reads as aborted (store.py) instead of `running` for ever."""

    def __init__(self, store, run_id: int):
        import threading

        from ..store.schema import HEARTBEAT_S

        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    store.heartbeat(run_id)
                except Exception:   # a store hiccup must not stop the measurement
                    pass

        self._thread = threading.Thread(target=loop, name="edgeeval-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _run_settings(store, run_id: int) -> dict:
    return dict(store.get_run(run_id).get("settings") or {})

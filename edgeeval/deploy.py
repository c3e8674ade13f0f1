"""Deploy orchestration: build → baseline → connect → push → run each variant → evaluate → store.

Each finished variant is stored in its own transaction before the next one starts, so a
board or network fault loses nothing already measured (the run is then marked device_error).
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import DeviceError, UserInputError

Notify = Callable[[str, dict], None]


@dataclass
class VariantOutcome:
    name: str
    precision: str
    model_sha256: str
    summary: dict
    variant_id: int | None = None
    runtime: dict | None = None      # what the agent ran: name, version, providers/interpreter used

    @property
    def passed(self) -> bool:
        return bool(self.summary.get("passed"))


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


def _timing(recipe, overrides: dict) -> dict:
    run = recipe.run
    t = {"warmup": run.warmup, "min_runs": run.min_runs, "min_seconds": run.min_seconds,
         "max_runs": getattr(run, "max_runs", None) or 10_000_000, "max_seconds": run.max_seconds}
    t.update({k: v for k, v in overrides.items() if v is not None})
    return t


def _runtime(recipe, device) -> dict:
    rt = recipe.run.runtime.model_dump() if hasattr(recipe.run.runtime, "model_dump") else dict(recipe.run.runtime)
    dev_rt = getattr(device, "runtime", None)
    if dev_rt is not None:
        for k, v in dev_rt.model_dump(exclude_none=True, exclude_unset=True).items():
            rt[k] = v
    rt.setdefault("name", "onnxruntime")
    return rt


def _gates_for(recipe, variant) -> dict:
    gates = recipe.gates.model_dump(exclude_none=True) if recipe.gates is not None else {}
    vg = getattr(variant, "gates", None)
    if vg is not None:
        gates.update(vg.model_dump(exclude_none=True))
    return gates


def deploy(recipe_path: str | Path, device_name: str = "local", *, inventory: str | Path | None = None,
           only: list[str] | None = None, store_url: str | None = None,
           timing_overrides: dict | None = None, notify: Notify | None = None,
           scenario_overrides: dict | None = None) -> DeployOutcome:
    """Run the recipe's variants on one device and store every result; see module docstring."""
    import numpy as np

    from . import paths
    from .agentclient import BoardSession
    from .baseline import server_baseline
    from .devices.check import analyse, blocking
    from .devices.inventory import connect, load_inventory
    from .evaluate.accuracy import accuracy_of
    from .evaluate.scoring import predictions
    from .evaluate.summary import summarize_variant
    from .losschain import controller_outputs, is_tflite, job_model, runtimes_needed, tflite_runtime
    from .provenance import agent_sha256, now_utc, provenance
    from .recipes.build import build
    from .recipes.schema import load_recipe
    from .store.store import Store

    say = notify or (lambda kind, data: None)
    recipe = load_recipe(recipe_path)
    inv = load_inventory(inventory)
    device = inv.get(device_name)
    if only:
        unknown = [v for v in only if v not in [x.name for x in recipe.variants]]
        if unknown:
            raise UserInputError([f"{recipe_path}: no variant named {v!r}; the recipe has "
                                  f"{', '.join(x.name for x in recipe.variants)}" for v in unknown])

    # settings first: a bad --min-seconds or --target-qps is exit 2 before anything is built
    from .recipes.scenarios import resolve as resolve_scenario
    timing, scenario = resolve_scenario(recipe.run, timing_overrides, scenario_overrides)
    say("phase", {"phase": "build"})
    built = build(recipe_path, only=only, progress=lambda ev: say("build", ev))
    say("phase", {"phase": "baseline"})
    base = server_baseline(built)
    with np.load(built.eval_set.path, allow_pickle=False) as z:
        labels = np.asarray(z[built.eval_set.labels]) if built.eval_set.labels and built.eval_set.labels in z.files else None
    emb_mask = None  # huggingface feature-extraction: attention mask for the embeddings metrics
    if recipe.source.type == "huggingface" and recipe.source.task == "feature-extraction":
        from .recipes.huggingface import embedding_mask
        emb_mask = embedding_mask(built.eval_set.path, list(built.eval_set.inputs))
    scoring = choose_scoring(recipe, built, base, labels)
    say("scoring", scoring)
    base_acc = accuracy_of(predictions(base.outputs, scoring), labels) if labels is not None else None

    store = Store(store_url or paths.store_url())
    prov = provenance()
    runtime = _runtime(recipe, device)
    run_id = store.begin_run(
        command="deploy", recipe_name=recipe.name, recipe_hash=built.manifest["recipe_hash"],
        recipe_path=str(Path(recipe_path).resolve()), device_name=device.name, device_facts={},
        edgeeval_version=prov["edgeeval_version"], git_sha=prov["git_sha"],
        controller=prov["controller"], agent_sha256=prov["agent_sha256"],
        dataset_sha256=built.eval_set.sha256,
        settings={"timing": timing, "scenario": scenario, "runtime": runtime, "batch_size": recipe.run.batch_size,
                  "git_sha_reason": prov["git_sha_reason"], "build_manifest": built.manifest})
    outcome = DeployOutcome(run_id=run_id, recipe=recipe.name, device=device.name,
                            baseline={"top1": base_acc, "model_sha256": base.model_sha256,
                                      "dataset_sha256": base.dataset_sha256, "cached": base.cached})
    variants = [v for v in built.variants if not only or v.name in only]
    beat = _Heartbeat(store, run_id)
    try:
        say("phase", {"phase": "connect", "device": device.name})
        with connect(device) as transport:
            board = BoardSession(transport=transport, python=device.python, workdir=device.workdir,
                                 device=device.name, job_margin=device.timeouts.job_margin)
            board.push([])
            facts = board.probe(sysfs_root=device.power.sysfs_root if device.power else None)
            outcome.facts = facts
            store.update_run(run_id, device_facts=facts)
            if device.power is not None and device.power.sensor == "auto":   # power: {sensor: auto}
                power, chosen = device.power.resolve(facts)
                device = device.model_copy(update={"power": power})
                store.update_run(run_id, settings={**_run_settings(store, run_id), "power_sensor": chosen})
                say("phase", {"phase": "power sensor", "chosen": chosen})
            missing = blocking(analyse(facts, python=device.python, **runtimes_needed(variants)))
            if missing:
                raise DeviceError(
                    "the board cannot run this recipe: " + "; ".join(f"{f.item} {f.detail}" for f in missing),
                    device=device.name, hint=" | ".join(f.fix for f in missing if f.fix)
                    + f" (then check with: edgeeval devices check {device.name})")
            # huggingface int8: optimum's config (arm64/avx2/avx512_vnni) chosen from this board's facts
            from .recipes.huggingface import retarget
            retargeted, variants = retarget(recipe_path, built, variants, facts, only,
                                            progress=lambda ev: say("build", ev))
            if retargeted is not built:   # provenance: the manifest of what runs on this board
                built = retargeted
                store.update_run(run_id, settings={**_run_settings(store, run_id), "build_manifest": built.manifest})
            say("phase", {"phase": "push"})
            files = [(str(built.eval_set.path), built.eval_set.sha256, ".npz")]
            files += [(str(v.path), v.sha256, Path(v.path).suffix) for v in variants]
            report = board.push(files)
            outcome.push = {"bytes_sent": report.bytes_sent, "files": len(report.transfers),
                            "skipped": sum(1 for t in report.transfers if t.skipped)}
            store.update_run(run_id, extra={"baseline": outcome.baseline, "push": outcome.push, "scoring": scoring})
            data_remote = board.remote[built.eval_set.sha256]
            for v in variants:
                job_id = secrets.token_hex(8)
                outputs_remote = f"{board.run_dir(job_id)}/outputs.npz"
                job = {
                    "protocol": 1, "job_id": job_id, "variant": v.name,
                    "model": job_model(v, board.remote[v.sha256]),   # format from the file (losschain.py)
                    "data": {"path": data_remote, "sha256": built.eval_set.sha256, "inputs": list(built.eval_set.inputs),
                             "labels": built.eval_set.labels, "batch_size": recipe.run.batch_size},
                    "runtime": tflite_runtime(runtime, device.runtime) if is_tflite(v) else runtime,
                    "timing": timing, "scenario": scenario,
                    "accuracy": {"enabled": True, "outputs_path": outputs_remote},
                    "progress_interval_s": 0.25,
                }
                if device.power is not None:  # on-board power protocol after latency/accuracy
                    job["power"] = device.power.job()
                meter = _host_meter(device, job)  # None unless device.power.meter (power/host.py)
                say("variant_start", {"variant": v.name, "timing": timing})
                started = now_utc()
                result = _run_with_meter(board, job, meter,
                                         lambda ev, name=v.name: say("agent", {"variant": name, **ev}))
                dev_out = _fetch_outputs(board, outputs_remote, result, device.name)
                gates = _gates_for(recipe, _recipe_variant(recipe, v.name))
                # loss chain: the same quantized file on the controller (cached like the baseline)
                ctrl = controller_outputs(v, built.eval_set)[0] if (v.precision != "fp32" or is_tflite(v)) else None
                summary = _summarize_board_result(
                    device.name, result, dev_out, base.outputs, labels, base_acc, gates,
                    embedding_mask=emb_mask, controller_outputs=ctrl, scoring=scoring)
                raw = {"device_outputs": dev_out, "baseline_outputs": base.outputs}
                if ctrl is not None:
                    raw["controller_outputs"] = ctrl
                if labels is not None:
                    raw["labels"] = labels
                if emb_mask is not None:  # embedding task: recompute pools with the same mask
                    raw["embedding_mask"] = emb_mask
                vid = store.add_variant(
                    run_id, v.name, summary=summary, raw=raw, event=result, gates=gates,
                    baseline_accuracy=base_acc, precision=v.precision, model_sha256=v.sha256,
                    model_size_bytes=v.size_bytes, started_at=started, finished_at=now_utc(),
                    runtime=result.get("runtime"),
                    extra={"agent_sha256": agent_sha256(), "dataset_sha256": built.eval_set.sha256,
                           "job_id": job_id, "calibration": calibration_info(recipe, built, v)})
                vo = VariantOutcome(v.name, v.precision, v.sha256, summary, vid, result.get("runtime"))
                outcome.variants.append(vo)
                say("variant_done", {"variant": v.name, "summary": summary})
    except DeviceError as exc:
        beat.stop()
        outcome.error = exc
        outcome.status = "device_error"
        store.finish_run(run_id, "device_error", error=str(exc))
        return outcome
    except BaseException as exc:
        beat.stop()
        status = "aborted" if isinstance(exc, KeyboardInterrupt) else "error"
        store.finish_run(run_id, status, error=f"{type(exc).__name__}: {exc}")
        raise
    beat.stop()
    outcome.status = "ok" if outcome.passed else "gate_failed"
    store.finish_run(run_id, outcome.status)
    return outcome


def _fetch_outputs(board, remote: str, result: dict, device: str) -> dict:
    """Download the board's outputs; their sha256 must be the one its result names."""
    import numpy as np

    from .errors import BoardProtocolError
    from .provenance import sha256_file

    want = (result.get("accuracy") or {}).get("outputs_sha256")
    with tempfile.TemporaryDirectory() as td:
        local_out = Path(td) / "outputs.npz"
        board.fetch(remote, str(local_out))
        got = sha256_file(local_out)
        if want is not None and got != want:
            raise BoardProtocolError(f"the outputs file fetched from the board ({remote}) has sha256 "
                                     f"{got[:16]}…, not the {str(want)[:16]}… its result names; "
                                     "nothing of this variant was stored", device=device,
                                     hint="the file changed on the board after the run, or the link corrupted it")
        try:
            with np.load(local_out, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in z.files}
        except Exception as exc:
            raise BoardProtocolError(f"the outputs file fetched from the board is not a readable .npz "
                                     f"({type(exc).__name__}: {str(exc)[:200]})", device=device) from None


def _summarize_board_result(device: str, result: dict, *args, **kw) -> dict:
    """summarize_variant on what a board sent: a failure there is the board's data (shapes that do
    not match the eval set, a field of the wrong kind), a device fault, never "internal error"."""
    from .errors import BoardProtocolError, UserInputError
    from .evaluate.summary import summarize_variant

    try:
        return summarize_variant(result, *args, **kw)
    except UserInputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as exc:
        raise BoardProtocolError(f"the board's result could not be evaluated ({type(exc).__name__}: "
                                 f"{str(exc)[:300]}); nothing of this variant was stored", device=device,
                                 hint="the agent's output was altered or the board is faulty "
                                      "(EDGEEVAL_DEBUG=1 shows where it failed)") from exc


class _Heartbeat:
    """Refreshes runs.heartbeat_at every HEARTBEAT_S while the deploy runs, so a killed controller's
    run reads as aborted (store.py) instead of `running` for ever."""

    def __init__(self, store, run_id: int):
        import threading

        from .store.schema import HEARTBEAT_S

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


def calibration_info(recipe, built, variant) -> dict | None:
    """Where a calibrated variant's scales came from; None for variants without calibration."""
    from .recipes.build import CALIBRATED

    if variant.precision not in CALIBRATED:
        return None
    ev = built.eval_set
    return {"source": ev.calibration_from, "samples": ev.calibration_samples,
            "on_eval_set": ev.calibration_from != "calibration split",
            "allowed_by": "data.calibrate_on_eval" if recipe.data.calibrate_on_eval else None}


def choose_scoring(recipe, built, base, labels) -> dict:
    """The outputs to score (evaluate/scoring.py): from data.scores / data.predicted_label or the model."""
    from .evaluate.scoring import FIDELITY_GATES, choose, legacy

    if recipe.source.type == "huggingface":   # embeddings: the first output (last_hidden_state), pooled
        return {**legacy(base.output_names[0]), "chosen_by": "embedding task: first output"}
    gates = [recipe.gates] + [v.gates for v in recipe.variants if v.gates is not None]
    fidelity_gates = any(getattr(g, k) is not None for g in gates for k in FIDELITY_GATES)
    d = recipe.data
    where = {"scores": f"{recipe.line('data', 'scores')}: field data.scores",
             "predicted_label": f"{recipe.line('data', 'predicted_label')}: field data.predicted_label",
             "data": f"{recipe.line('data')}: field data"}
    outputs = {n: base.outputs[n] for n in base.output_names}
    return choose(outputs, built.fp32.outputs, scores=d.scores, label=d.predicted_label,
                  has_labels=labels is not None, fidelity_gates=fidelity_gates, where=where)


def _recipe_variant(recipe, name: str):
    for v in recipe.variants:
        if v.name == name:
            return v
    return None


def _host_meter(device, job: dict):
    """A HostMeterRun when the device's power has a meter (its keys added to job["power"])."""
    meter_settings = device.power.meter if device.power is not None else None
    if meter_settings is None:
        return None
    from .power.host import HostMeterRun

    hm = HostMeterRun(meter_settings, device.name)
    job["power"].update(hm.job_power())
    return hm


def _run_with_meter(board, job: dict, meter, on_event) -> dict:
    """board.run_job, with the controller's meter sampling around it when there is one."""
    if meter is None:
        return board.run_job(job, on_event=on_event)

    def tee(ev: dict) -> None:
        meter.on_event(ev)  # arrival time first: it bounds the clock offset
        on_event(ev)

    meter.start()
    try:
        result = board.run_job(job, on_event=tee)
    except BaseException:
        meter.stop()
        raise
    meter.finish(result)
    return result

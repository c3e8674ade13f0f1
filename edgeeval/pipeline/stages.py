"""The deploy stages (edgeeval/pipeline): each a function with typed inputs and outputs.

plan ▸ build_stage ▸ reference ▸ open_run ▸ probe ▸ push ▸ per variant: run_variant ▸ evaluate ▸
store_variant. The board stages (probe, push, run_variant) take a BoardSession, so a farm runs
them per board in parallel over one plan, build and reference.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import BoardProtocolError, DeviceError, UserInputError
from .evaluated import Evaluated, _summarize_board_result  # noqa: F401  (Evaluated: the stage's result type)

if TYPE_CHECKING:
    import numpy as np

    from ..agentclient import BoardSession
    from ..boardjob import Job
    from ..devices.inventory import Device
    from ..recipes.build import BuildResult, VariantArtifact
    from ..recipes.schema import Recipe
    from ..reference import Baseline
    from ..store.store import Store

Notify = Callable[[str, dict], None]


def _quiet(kind: str, data: dict) -> None:
    pass


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


# ---- stage 1: plan — every setting settled before anything is built (a user's mistake exits 2 here)

@dataclass
class Plan:
    recipe_path: Path
    recipe: Recipe
    device: Device
    only: list[str] | None
    timing: dict
    scenario: dict
    runtime: dict

    def selected(self, built: BuildResult) -> list[VariantArtifact]:
        """The built variants this deploy runs (`--variant`, else all)."""
        return [v for v in built.variants if not self.only or v.name in self.only]


def plan(recipe_path: str | Path, device_name: str = "local", *, inventory: str | Path | None = None,
         only: list[str] | None = None, timing_overrides: dict | None = None,
         scenario_overrides: dict | None = None) -> Plan:
    from ..devices.inventory import load_inventory
    from ..recipes.scenarios import resolve as resolve_scenario
    from ..recipes.schema import load_recipe

    recipe = load_recipe(recipe_path)
    device = load_inventory(inventory).get(device_name)
    if only:
        unknown = [v for v in only if v not in [x.name for x in recipe.variants]]
        if unknown:
            raise UserInputError([f"{recipe_path}: no variant named {v!r}; the recipe has "
                                  f"{', '.join(x.name for x in recipe.variants)}" for v in unknown])
    timing, scenario = resolve_scenario(recipe.run, timing_overrides, scenario_overrides)
    return Plan(Path(recipe_path), recipe, device, only or None, timing, scenario, runtime_for(recipe, device))


def runtime_for(recipe, device) -> dict:
    """The runtime settings a job of `recipe` sends to `device`: the recipe's, with the board's overrides."""
    rt = recipe.run.runtime.model_dump()
    if device.runtime is not None:
        rt.update(device.runtime.model_dump(exclude_none=True, exclude_unset=True, exclude={"synthetic"}))
    rt.setdefault("name", "onnxruntime")
    return rt


# ---- stage 2: build

def build_stage(p: Plan, say: Notify = _quiet) -> BuildResult:
    from ..recipes.build import build

    say("phase", {"phase": "build"})
    return build(p.recipe_path, only=p.only, progress=lambda ev: say("build", ev))


# ---- stage 3: reference — the server's outputs, labels and what is scored

@dataclass
class Reference:
    baseline: Baseline
    labels: np.ndarray | None
    scoring: dict
    accuracy: float | None            # the server's top-1 on the labels
    embedding_mask: np.ndarray | None  # feature-extraction sources: which tokens are real
    # variant sha256 -> the controller's outputs of that very artifact (quantized and TFLite variants):
    # computed here, before any board is taken, so a board never waits on controller inference
    controller: dict = field(default_factory=dict)

    def controller_outputs(self, v: VariantArtifact, eval_set) -> dict | None:
        """The loss chain's middle term for `v` (None for a plain fp32 .onnx); computed (and cached
        on disk) now for a variant the board's retarget built after this stage."""
        if not needs_controller_run(v):
            return None
        if v.sha256 not in self.controller:
            from ..reference import controller_outputs

            self.controller[v.sha256] = controller_outputs(v, eval_set)[0]
        return self.controller[v.sha256]

    def describe(self) -> dict:
        b = self.baseline
        return {"top1": self.accuracy, "model_sha256": b.model_sha256, "dataset_sha256": b.dataset_sha256,
                "cached": b.cached}


def reference(p: Plan, built: BuildResult, say: Notify = _quiet) -> Reference:
    from ..evaluate.accuracy import accuracy_of
    from ..evaluate.scoring import predictions
    from ..source_kinds import source_kind

    if p.recipe.source.generative:
        from .generative import reference as generative_reference
        return generative_reference(p, built, say)
    say("phase", {"phase": "baseline"})
    kind = source_kind(p.recipe)
    base = kind.reference(built)
    labels = base.labels
    mask = kind.embedding_mask(p.recipe, built)
    scoring = kind.scoring(p.recipe, built, base, labels)
    say("scoring", scoring)
    acc = accuracy_of(predictions(base.outputs, scoring), labels) if labels is not None else None
    ref = Reference(base, labels, scoring, acc, mask)
    for v in p.selected(built):
        ref.controller_outputs(v, built.eval_set)
    return ref


def needs_controller_run(v: VariantArtifact) -> bool:
    """Quantized and TFLite variants get a controller run of the pushed file (the loss chain)."""
    from ..boardjob import is_tflite

    return v.precision != "fp32" or is_tflite(v)


# ---- stage 4: the run record (provenance first, results as they come)

def open_run(store: Store, p: Plan, built: BuildResult, *, command: str = "deploy",
             settings: dict | None = None) -> int:
    """The run row, status running; `settings` adds keys to its settings (a farm job: campaign, job key)."""
    from ..provenance import provenance

    prov = provenance()
    return store.begin_run(
        command=command, recipe_name=p.recipe.name, recipe_hash=built.manifest["recipe_hash"],
        recipe_path=str(p.recipe_path.resolve()), device_name=p.device.name, device_facts={},
        edgeeval_version=prov["edgeeval_version"], git_sha=prov["git_sha"],
        controller=prov["controller"], agent_sha256=prov["agent_sha256"],
        dataset_sha256=built.eval_set.sha256,
        settings={"timing": p.timing, "scenario": p.scenario, "runtime": p.runtime,
                  "batch_size": p.recipe.run.batch_size, "git_sha_reason": prov["git_sha_reason"],
                  "build_manifest": built.manifest, "declared_facts": declared_facts(p.device), **(settings or {})})


def declared_facts(device) -> dict:
    """What the inventory declares about the board (price_usd, tdp_w, peak_gops, notes…), kept with
    the run so a report can rank boards from the store alone."""
    f = getattr(device, "facts", None)
    return f.model_dump(exclude_none=True) if f is not None else {}


# ---- stage 5: the board as probed (power sensor chosen, missing pieces refused, build retargeted)

@dataclass
class Target:
    device: Device                    # with `power: {sensor: auto}` resolved from the facts
    facts: dict
    built: BuildResult                # what runs on this board (retargeted int8 where the board decides)
    variants: list[VariantArtifact]
    settings: dict = field(default_factory=dict)   # run settings this board added (power_sensor, build_manifest)


def probe(board: BoardSession, p: Plan, built: BuildResult, say: Notify = _quiet) -> Target:
    from ..boardjob import runtimes_needed
    from ..devices.check import analyse, blocking
    from ..source_kinds import source_kind

    device = p.device
    # one interpreter start on a warm board: verify the agent and these files, sweep, probe
    say("phase", {"phase": "prepare"})
    facts = board.prepare(push_files(built, p.selected(built)),
                          sysfs_root=device.power.sysfs_root if device.power else None)
    target = Target(device, facts, built, p.selected(built))
    if device.power is not None and device.power.sensor == "auto":   # power: {sensor: auto}
        power, chosen = device.power.resolve(facts)
        target.device = device.model_copy(update={"power": power})
        target.settings["power_sensor"] = chosen
        say("phase", {"phase": "power sensor", "chosen": chosen})
    _skip_without_runtime(target, facts, device, say)
    missing = blocking(analyse(facts, python=device.python,
                               **runtimes_needed(target.variants, p.runtime.get("name", "onnxruntime"))))
    if missing:
        raise DeviceError(
            "the board cannot run this recipe: " + "; ".join(f"{f.item} {f.detail}" for f in missing),
            device=device.name, hint=" | ".join(f.fix for f in missing if f.fix)
            + f" (then check with: edgeeval devices check {device.name})")
    again = source_kind(p.recipe).retarget(p.recipe_path, built, facts, p.only, lambda ev: say("build", ev))
    if again is not None and again is not built:   # provenance: the manifest of what runs on this board
        names = {v.name for v in target.variants}
        target.built, target.variants = again, [v for v in again.variants if v.name in names]
        target.settings["build_manifest"] = again.manifest
    return target


def _skip_without_runtime(target: Target, facts: dict, device, say: Notify) -> None:
    """Variants for a runtime the board may or may not have (a GGUF's llama.cpp) run where it has it;
    elsewhere they are left out with the reason, told and kept in the run's settings. A deploy left
    with nothing to run is a board fault."""
    from ..boardjob import optional_runtimes
    from ..devices.check import _pip
    from ..errors import RuntimeAbsent

    runtimes = facts.get("runtimes") or {}
    skipped = {}
    for name, mod in optional_runtimes(target.variants).items():
        info = runtimes.get(mod) or {}
        if not info.get("version"):
            skipped[name] = f"the board has no {mod} ({info.get('error') or 'not importable'}); {_pip(device.python, mod)}"
    if not skipped:
        return
    target.variants = [v for v in target.variants if v.name not in skipped]
    target.settings["skipped_variants"] = skipped
    for name, why in skipped.items():
        say("variant_skipped", {"variant": name, "reason": why})
    if not target.variants:
        raise RuntimeAbsent("the board can run none of the selected variants: "
                          + "; ".join(f"{n}: {why}" for n, why in skipped.items()), device=device.name)


# ---- stage 6: push

def push(board: BoardSession, target: Target, say: Notify = _quiet) -> dict:
    say("phase", {"phase": "push"})
    report = board.push(push_files(target.built, target.variants))
    return {"bytes_sent": report.bytes_sent, "files": len(report.transfers),
            "skipped": sum(1 for t in report.transfers if t.skipped)}


def push_files(built: BuildResult, variants: list[VariantArtifact]) -> list[tuple[str, str, str]]:
    """(local path, sha256, suffix) of the eval set and `variants`: what a board's cache must hold."""
    ev = built.eval_set
    return [(str(ev.path), ev.sha256, ".npz"), *((str(v.path), v.sha256, Path(v.path).suffix) for v in variants)]


# ---- stage 7: run one variant on the board

@dataclass
class BoardRun:
    job: Job
    result: dict                      # the agent's checked result event
    outputs: dict[str, np.ndarray]    # the accuracy pass, fetched and sha256-verified
    started_at: str
    finished_at: str                  # the board's part over (evaluating and storing come after)


def run_variant(board: BoardSession, p: Plan, target: Target, v: VariantArtifact,
                say: Notify = _quiet) -> BoardRun:
    from ..provenance import now_utc

    device = target.device
    if p.recipe.source.generative:
        from .generative import job as generative_job
        job = generative_job(board, p, target, v)
    else:
        job = board.job(v, target.built.eval_set, batch_size=p.recipe.run.batch_size, runtime=p.runtime,
                        timing=p.timing, scenario=p.scenario, device_runtime=device.runtime,
                        power=device.power.job() if device.power is not None else None)
    meter = _host_meter(device, job)  # None unless device.power.meter (power/host.py)
    say("variant_start", {"variant": v.name, "timing": p.timing})
    started = now_utc()
    result = _run_with_meter(board, job, meter, lambda ev: say("agent", {"variant": v.name, **ev}))
    outputs = _fetch_outputs(board, job.outputs_path, result, device.name)
    return BoardRun(job, result, outputs, started, now_utc())


def _host_meter(device, job: Job):
    """A HostMeterRun when the device's power has a meter (its keys added to the job's power)."""
    meter_settings = device.power.meter if device.power is not None else None
    if meter_settings is None:
        return None
    from ..power.host import HostMeterRun

    hm = HostMeterRun(meter_settings, device.name)
    job.power.update(hm.job_power())
    return hm


def _run_with_meter(board: BoardSession, job: Job, meter, on_event) -> dict:
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


def _fetch_outputs(board: BoardSession, remote: str, result: dict, device: str) -> dict:
    """Download the board's outputs; their sha256 must be the one its result names."""
    import numpy as np

    from ..provenance import sha256_file

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


# ---- stage 8: evaluate (pure, on the controller)

def evaluate(p: Plan, ref: Reference, target: Target, v: VariantArtifact, run: BoardRun) -> Evaluated:
    if p.recipe.source.generative:
        from .generative import evaluate as generative_evaluate
        return generative_evaluate(p, ref, target, v, run)
    gates = p.recipe.gates_for(v.name).model_dump(exclude_none=True)
    # loss chain: the same quantized file on the controller (computed by the reference stage)
    ctrl = ref.controller_outputs(v, target.built.eval_set)
    summary = _summarize_board_result(
        target.device.name, run.result, run.outputs, ref.baseline.outputs, ref.labels, ref.accuracy, gates,
        embedding_mask=ref.embedding_mask, controller_outputs=ctrl, scoring=ref.scoring)
    raw = {"device_outputs": run.outputs, "baseline_outputs": ref.baseline.outputs}
    if ctrl is not None:
        raw["controller_outputs"] = ctrl
    if ref.labels is not None:
        raw["labels"] = ref.labels
    if ref.embedding_mask is not None:  # embedding task: recompute pools with the same mask
        raw["embedding_mask"] = ref.embedding_mask
    return Evaluated(summary, gates, raw)


# ---- stage 9: store one variant (its own transaction)

def store_variant(store: Store, run_id: int, p: Plan, ref: Reference, target: Target, v: VariantArtifact,
                  run: BoardRun, ev: Evaluated) -> VariantOutcome:
    from ..provenance import agent_sha256

    vid = store.add_variant(
        run_id, v.name, summary=ev.summary, raw=ev.raw, event=run.result, gates=ev.gates,
        baseline_accuracy=ref.accuracy, precision=v.precision, model_sha256=v.sha256,
        model_size_bytes=v.size_bytes, started_at=run.started_at, finished_at=run.finished_at,
        runtime=run.result.get("runtime"),
        extra={"agent_sha256": agent_sha256(), "dataset_sha256": target.built.eval_set.sha256,
               "job_id": run.job.job_id, "calibration": calibration_info(p.recipe, target.built, v),
               "ops": ops_info(target.built, v)})
    return VariantOutcome(v.name, v.precision, v.sha256, ev.summary, vid, run.result.get("runtime"))


_OPS_CACHE: dict[str, dict] = {}


def ops_info(built, variant) -> dict:
    """Operations per inference of the variant's network (evaluate/ops.py), counted once per graph;
    a TFLite variant is counted on the fp32 ONNX graph of the same network (quantization and
    conversion leave the arithmetic as it was)."""
    from ..boardjob import is_gguf, is_tflite
    from ..evaluate.ops import count_ops, ops_per_token, sample_shapes_of

    src, basis = variant, "this variant's ONNX graph"
    if is_gguf(variant):       # the same network as the fp32 export, in llama.cpp's format
        src, basis = built.fp32, "the fp32 ONNX graph of the same network"
    elif is_tflite(variant):
        src = next((x for x in built.variants if not is_tflite(x) and x.precision == "fp32"), None)
        basis = "the fp32 ONNX graph of the same network"
        if src is None:
            return {"ops": None, "reason": "a TFLite variant without an fp32 ONNX variant to count operations on"}
    if src.sha256 not in _OPS_CACHE:
        try:
            if built.recipe.source.generative:   # per generated token: the weight matmuls
                _OPS_CACHE[src.sha256] = ops_per_token(src.path)
            else:
                shapes = sample_shapes_of(built.eval_set.path, [i["name"] for i in src.inputs])
                _OPS_CACHE[src.sha256] = count_ops(src.path, shapes)
        except Exception as e:  # never lose a measurement to the counter: null with the reason
            _OPS_CACHE[src.sha256] = {"ops": None, "reason": f"operation count failed: {type(e).__name__}: {str(e)[:200]}"}
    return {**_OPS_CACHE[src.sha256], "counted_on": basis}


def calibration_info(recipe, built, variant) -> dict | None:
    """Where a calibrated variant's scales came from; None for variants without calibration."""
    from ..recipes.build import CALIBRATED

    if variant.precision not in CALIBRATED:
        return None
    ev = built.eval_set
    return {"source": ev.calibration_from, "samples": ev.calibration_samples,
            "on_eval_set": ev.calibration_from != "calibration split",
            "allowed_by": "data.calibrate_on_eval" if recipe.data.calibrate_on_eval else None}

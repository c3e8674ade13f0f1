"""A board's health check (LAVA's model): connect, probe, free disk, clock, and a tiny known model
whose outputs must match the controller's and whose latency must lie in the board's band. A
virtual board (`edgeeval lab up --synthetic`) runs it on its synthetic runtime, like its jobs: link,
disk, clock and band are checked, outputs are not (it computes none).

The known model is built here, byte-for-byte the same on every controller (a seeded two-layer
MLP, opset 13, so any onnxruntime a board may have runs it); its expected outputs are computed
with numpy in float64. The band is the board's own: the p50 of its first passing check, stored in
board_health; a later check whose p50 is more than `latency_band` times away from it fails (a
board that throttles, lost a core or runs on another governor). A failed check quarantines the
board (store/farm.py); a passing check returns it to service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DeviceError

if TYPE_CHECKING:
    from ..devices.inventory import Device
    from .plan import Health

IN, HIDDEN, OUT, SAMPLES, SEED = 512, 1024, 16, 64, 20261204   # ~0.5 M MACs: p50 well above timer noise
ATOL, RTOL = 1e-4, 1e-4


@dataclass
class CheckOutcome:
    passed: bool
    reason: str | None
    detail: dict = field(default_factory=dict)
    p50_ms: float | None = None
    fault: DeviceError | None = None     # the board could not even be reached or run the model


def _arrays():
    import numpy as np

    rng = np.random.default_rng(SEED)
    w1 = rng.standard_normal((IN, HIDDEN)).astype(np.float32) / np.float32(IN ** 0.5)
    b1 = rng.standard_normal(HIDDEN).astype(np.float32) * np.float32(0.1)
    w2 = rng.standard_normal((HIDDEN, OUT)).astype(np.float32) / np.float32(HIDDEN ** 0.5)
    x = rng.standard_normal((SAMPLES, IN)).astype(np.float32)
    return x, w1, b1, w2


def expected_outputs():
    import numpy as np

    x, w1, b1, w2 = (a.astype(np.float64) for a in _arrays())
    return np.maximum(x @ w1 + b1, 0.0) @ w2


def known_model(folder: Path | None = None):
    """(VariantArtifact, EvalSet) of the known model, written once under EDGEEVAL_HOME/health."""
    import numpy as np

    from ..paths import home
    from ..provenance import sha256_file
    from ..recipes.build import EvalSet, VariantArtifact
    from ..recipes.cache import write_bytes_atomic

    folder = folder or (home() / "health")
    folder.mkdir(parents=True, exist_ok=True)
    model_path, data_path = folder / "known-mlp.onnx", folder / "known-mlp-inputs.npz"
    if not model_path.exists() or not data_path.exists():
        x, w1, b1, w2 = _arrays()
    if not model_path.exists():
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("MatMul", ["h2", "w2"], ["y"])],
            "edgeeval_health",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", IN])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", OUT])],
            [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2")])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgeeval-health")
        m.ir_version = 7
        onnx.checker.check_model(m)
        write_bytes_atomic(model_path, m.SerializeToString())
    if not data_path.exists():
        import io

        buf = io.BytesIO()
        np.savez(buf, x=x)
        write_bytes_atomic(data_path, buf.getvalue())
    msha, dsha = sha256_file(model_path), sha256_file(data_path)
    variant = VariantArtifact(name="health-check", precision="fp32", path=model_path, sha256=msha,
                              size_bytes=model_path.stat().st_size, opset=13,
                              inputs=[{"name": "x", "shape": ["batch", IN], "dtype": "float32"}],
                              outputs=[{"name": "y", "shape": ["batch", OUT], "dtype": "float32"}],
                              quantization={}, cached=True, seconds=0.0, key=msha)
    evs = EvalSet(path=data_path, sha256=dsha, size_bytes=data_path.stat().st_size, inputs=["x"], labels=None,
                  samples=SAMPLES, calibration_path=data_path, calibration_sha256=dsha, calibration_samples=0,
                  calibration_from="none")
    return variant, evs


def _timing_and_scenario() -> tuple[dict, dict]:
    from ..recipes.run_settings import RunSettings
    from ..recipes.scenarios import resolve

    run = RunSettings(warmup=5, warmup_max_seconds=10.0, min_runs=60, min_seconds=0.3, max_seconds=30.0)
    return resolve(run, None, {"profile": "quick"})


def check(device: Device, settings: Health, band_p50_ms: float | None) -> CheckOutcome:
    """Run the check on `device` (the caller holds its lease). A fault on the way is a failed
    check with the fault kept; the outcome never raises for a board's misbehaviour."""
    import numpy as np

    from ..agentclient import BoardSession
    from ..devices.check import analyse, blocking
    from ..devices.inventory import connect
    from ..pipeline.stages import _fetch_outputs
    from ..recipes.run_settings import RuntimeSettings

    detail: dict = {"band_p50_ms": band_p50_ms}
    t0 = time.monotonic()
    try:
        variant, evs = known_model()
        files = [(str(evs.path), evs.sha256, ".npz"), (str(variant.path), variant.sha256, ".onnx")]
        with connect(device) as transport:
            board = BoardSession(transport=transport, python=device.python, workdir=device.workdir,
                                 device=device.name, job_margin=device.timeouts.job_margin)
            before = time.time()
            facts = board.prepare(files)
            after = time.time()
            problems = _facts_problems(facts, settings, before, after, detail)
            missing = blocking(analyse(facts, python=device.python))
            problems += [f"{f.item} {f.detail}" for f in missing]
            if problems:
                detail["seconds"] = round(time.monotonic() - t0, 3)
                return CheckOutcome(False, "; ".join(problems), detail)
            board.push(files)
            timing, scenario = _timing_and_scenario()
            runtime = RuntimeSettings().model_dump(exclude={"tflite"})
            # the runtime the board's jobs use: a virtual board (the lab's synthetic runtime) is checked for
            # its link, disk, clock and latency band; it computes no outputs to compare
            runtime.update(device.runtime.model_dump(exclude_none=True, exclude_unset=True, exclude={"synthetic"}))
            job = board.job(variant, evs, batch_size=1, runtime=runtime, timing=timing, scenario=scenario,
                            device_runtime=device.runtime)
            result = board.run_job(job)
            outputs = _fetch_outputs(board, job.outputs_path, result, device.name)
    except DeviceError as exc:
        detail["seconds"] = round(time.monotonic() - t0, 3)
        return CheckOutcome(False, f"the check could not run: {str(exc).splitlines()[0]}", detail, fault=exc)
    if device.runtime.synthetic is not None:
        problems = []
        detail["outputs"] = "not checked: the board runs the synthetic runtime (a virtual board)"
    else:
        problems = output_problems(outputs.get("y"), detail)
    lat = np.asarray(result.get("latencies_ns") or [], dtype=np.float64)
    p50 = float(np.median(lat)) / 1e6 if lat.size else None
    detail.update(p50_ms=p50, runs=int(lat.size), runtime=(result.get("runtime") or {}).get("version"))
    if p50 is None:
        problems.append("the known model reported no latencies")
    elif band_p50_ms is not None:
        f = settings.latency_band
        lo, hi = band_p50_ms / f, band_p50_ms * f
        detail["band_ms"] = [lo, hi]
        if not lo <= p50 <= hi:
            problems.append(f"the known model's p50 is {p50:.3f} ms, outside the board's band "
                            f"{lo:.3f}-{hi:.3f} ms (its first healthy p50 {band_p50_ms:.3f} ms x/÷ {f:g}): "
                            "throttling, a lost core, another governor or another load on the board")
    detail["seconds"] = round(time.monotonic() - t0, 3)
    return CheckOutcome(not problems, "; ".join(problems) or None, detail, p50)


def output_problems(got, detail: dict) -> list[str]:
    """The known model's outputs against the controller's float64 ones."""
    import numpy as np

    want = expected_outputs()
    if got is None or got.shape != want.shape:
        return [f"the known model's output has shape {None if got is None else list(got.shape)}, "
                f"not {list(want.shape)}"]
    diff = np.abs(got.astype(np.float64) - want)
    detail["max_abs_error"] = float(np.max(diff))
    excess = float(np.max(diff - RTOL * np.abs(want)))
    if not np.isfinite(excess) or excess > ATOL:
        return [f"the known model's outputs differ from the controller's by up to {detail['max_abs_error']:.3g} "
                f"(allowed {ATOL} + {RTOL} x |value|): the runtime or the board computes wrong numbers"]
    return []


def _facts_problems(facts: dict, settings: Health, before: float, after: float, detail: dict) -> list[str]:
    problems = []
    free = (facts.get("disk") or {}).get("free_bytes")
    detail["free_mb"] = None if free is None else round(free / 2**20, 1)
    if free is None:
        problems.append("free disk unknown: " + str((facts.get("disk") or {}).get("free_bytes_reason", "not reported")))
    elif free / 2**20 < settings.min_free_mb:
        problems.append(f"only {free / 2**20:.0f} MB free in the board's workdir (at least "
                        f"{settings.min_free_mb:g} MB wanted): clean it with `edgeeval devices clean NAME`")
    clock = facts.get("clock_unix_s")
    if isinstance(clock, (int, float)):
        skew = clock - after if clock > after else (before - clock if clock < before else 0.0)
        detail["clock_skew_s"] = round(skew, 3)
        if abs(skew) > settings.max_clock_skew_s:
            problems.append(f"the board's clock is {skew:+.0f} s off the controller's (more than "
                            f"{settings.max_clock_skew_s:g} s): enable NTP on the board (timestamps and "
                            "power alignment depend on it)")
    else:
        detail["clock_skew_s"] = None
        problems.append("the board's agent reports no clock (an older agent?); redeploy the agent")
    return problems

"""The agent job (protocol 1, docs/architecture.md): what one variant's run on one board asks of the
agent. The controller builds it here from resolved settings — every default is decided on the
controller and sent; the agent validates and never restates them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

PROTOCOL = 1
PROGRESS_INTERVAL_S = 0.25


def is_tflite(variant) -> bool:
    return Path(variant.path).suffix == ".tflite"


def is_gguf(variant) -> bool:
    return Path(variant.path).suffix == ".gguf"


def runtimes_needed(variants, runtime_name: str = "onnxruntime") -> dict:
    """analyse() arguments: onnxruntime only when an .onnx is deployed (and onnxruntime-genai when it
    runs them), a TFLite interpreter for .tflite. A .gguf's llama.cpp is optional_runtimes(): a
    board without it skips those variants (probe), it does not fail the deploy."""
    onnx = [v for v in variants if not is_tflite(v) and not is_gguf(v)]
    return {"runtimes_needed": onnx_runtimes(runtime_name) if onnx or not variants else (),
            "tflite": any(is_tflite(v) for v in variants)}


def onnx_runtimes(runtime_name: str) -> tuple[str, ...]:
    """The board modules an .onnx variant needs under `run.runtime.name`."""
    return ("onnxruntime",) + (("onnxruntime_genai",) if runtime_name == "onnxruntime-genai" else ())


def optional_runtimes(variants) -> dict[str, str]:
    """{variant name: runtime module} for variants that run only where the board has that runtime."""
    return {v.name: "llama_cpp" for v in variants if is_gguf(v)}


def llama_cpp_runtime(runtime: dict) -> dict:
    """The agent's runtime block for a GGUF: llama.cpp with the recipe's thread count."""
    n = int(runtime.get("intra_op_num_threads") or 1)
    return {"name": "llama.cpp", "n_threads": n}


def tflite_runtime(runtime: dict, device_runtime=None) -> dict:
    """The agent's runtime block for a TFLite variant: recipe run.runtime.tflite, then the device's."""
    from .recipes.schema import TFLiteSettings

    base = runtime.get("tflite") or {}
    merged = TFLiteSettings(**base).model_dump()
    dev = getattr(device_runtime, "tflite", None) if device_runtime is not None else None
    if dev:
        merged.update(dev if isinstance(dev, dict) else dev.model_dump(exclude_unset=True))
    return {"name": "tflite", "tflite": merged}


def variant_runtime(runtime: dict, device_runtime, variant) -> dict:
    """The job's runtime block: a virtual board's synthetic runtime, else TFLite's or the recipe's."""
    synthetic = getattr(device_runtime, "synthetic", None) if device_runtime is not None else None
    if synthetic is not None:
        return synthetic.job_runtime()
    if is_gguf(variant):
        return llama_cpp_runtime(runtime)
    return tflite_runtime(runtime, device_runtime) if is_tflite(variant) else runtime


def model_block(variant, remote_path: str) -> dict:
    """job["model"]: format from the variant's file; TFLite gets its io map (names, int8 params)."""
    if is_gguf(variant):
        return {"path": remote_path, "format": "gguf", "sha256": variant.sha256}
    if not is_tflite(variant):
        return {"path": remote_path, "format": "onnx", "sha256": variant.sha256}
    return {"path": remote_path, "format": "tflite", "sha256": variant.sha256,
            "io": {"inputs": variant.inputs, "outputs": variant.outputs}}


@dataclass
class Job:
    """One agent job. `wire()` is the JSON object the agent reads on stdin."""

    job_id: str
    variant: str                     # a label only: never part of a board path
    model: dict                      # {path, format, sha256[, io]}
    data: dict                       # {path, sha256, inputs, labels, batch_size}
    runtime: dict
    timing: dict
    scenario: dict | None
    outputs_path: str | None         # where the accuracy pass writes; None: no accuracy pass
    power: dict | None = None        # the device's power job (PowerSettings.job()), host-meter keys included
    progress_interval_s: float = PROGRESS_INTERVAL_S
    board_lock: str | None = None    # the agent's flock for the job's life (boardlock.py); None: none
    # the board's runtimes stamp from the controller's last full probe: the result's facts skip the
    # runtime imports while it still holds (facts.runtime_stamp); None: import them
    facts_known: str | None = None
    generate: dict | None = None     # a language model's job (agent generate.py): its settings

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(8)

    def wire(self) -> dict:
        """The job as the agent reads it, every default filled in (edgeeval/jobdefaults.py)."""
        from .jobdefaults import complete

        out = {"protocol": PROTOCOL, "job_id": self.job_id, "variant": self.variant, "model": self.model,
               "data": self.data, "runtime": self.runtime, "timing": self.timing, "scenario": self.scenario,
               "accuracy": {"enabled": self.outputs_path is not None, "outputs_path": self.outputs_path},
               "progress_interval_s": self.progress_interval_s}
        if self.power is not None:
            out["power"] = self.power
        if self.board_lock is not None:
            out["board_lock"] = self.board_lock
        if self.facts_known is not None:
            out["facts_known"] = self.facts_known
        if self.generate is not None:
            out["task"], out["generate"] = "generate", self.generate
        return complete(out)

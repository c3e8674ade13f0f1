"""Where the loss comes from: server FP32 -> the same quantized artifact on the controller -> the board.

For every quantized variant the controller runs the very file pushed to the board (onnxruntime
for .onnx, the controller's LiteRT interpreter for .tflite) over the eval set, cached like the
server baseline by (model sha256, dataset sha256). Quantization loss (fp32 -> controller) and
device/runtime loss (controller -> board) are then separate numbers; a board that loses
accuracy the controller does not is flagged.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import paths
from .recipes.cache import read_json, write_json_atomic, write_npz

DEVICE_LOSS_PT = 0.5          # board below the controller-quantized accuracy by more than this: flagged
DEVICE_MIN_AGREEMENT = 0.99   # or top-1 agreement board vs controller-quantized below this
DEVICE_MIN_COSINE = 0.99      # or the mean cosine board vs controller below this (every model kind:
                              # embeddings and regressors have no labels and no top-1)


def is_tflite(variant) -> bool:
    return Path(variant.path).suffix == ".tflite"


def tflite_runtime(runtime: dict, device_runtime=None) -> dict:
    """The agent's runtime block for a TFLite variant: recipe run.runtime.tflite, then the device's."""
    from .recipes.schema import TFLiteSettings

    base = runtime.get("tflite") or {}
    merged = TFLiteSettings(**base).model_dump()
    dev = getattr(device_runtime, "tflite", None) if device_runtime is not None else None
    if dev:
        merged.update(dev if isinstance(dev, dict) else dev.model_dump(exclude_unset=True))
    return {"name": "tflite", "tflite": merged}


def runtimes_needed(variants) -> dict:
    """analyse() arguments: onnxruntime only when an .onnx is deployed, a TFLite interpreter for .tflite."""
    kinds = {is_tflite(v) for v in variants}
    return {"runtimes_needed": ("onnxruntime",) if False in kinds or not kinds else (), "tflite": True in kinds}


def job_model(variant, remote_path: str) -> dict:
    """job["model"]: format from the variant's file; TFLite gets its io map (names, int8 params)."""
    if not is_tflite(variant):
        return {"path": remote_path, "format": "onnx", "sha256": variant.sha256}
    return {"path": remote_path, "format": "tflite", "sha256": variant.sha256,
            "io": {"inputs": variant.inputs, "outputs": variant.outputs}}


def controller_outputs(variant, eval_set) -> tuple[dict[str, np.ndarray], dict]:
    """The variant's own artifact run on the controller over the eval set (cached); (outputs, meta)."""
    kind = "tflite" if is_tflite(variant) else "onnx"
    stem = f"ctrl-{kind}_{variant.sha256}_{eval_set.sha256}"
    npz, meta_path = paths.baselines_dir() / f"{stem}.npz", paths.baselines_dir() / f"{stem}.json"
    meta = read_json(meta_path)
    if meta and npz.exists():
        with np.load(npz) as z:
            return {n: z[f"out{i}"] for i, n in enumerate(meta["output_names"])}, {**meta, "cached": True}
    t0 = time.perf_counter()
    if kind == "onnx":
        from .baseline import run_model
        outputs, names, version, _ = run_model(variant.path, eval_set.path, eval_set.inputs, ["CPUExecutionProvider"])
        runtime = f"onnxruntime {version}"
    else:
        outputs, names, runtime = _run_tflite(variant, eval_set)
    tmp = npz.with_name(npz.name + ".tmp")
    write_npz(tmp, {f"out{i}": outputs[n] for i, n in enumerate(names)})
    tmp.replace(npz)
    meta = {"output_names": names, "runtime": runtime, "model_sha256": variant.sha256,
            "dataset_sha256": eval_set.sha256, "seconds": round(time.perf_counter() - t0, 3)}
    write_json_atomic(meta_path, meta)
    return outputs, {**meta, "cached": False}


def _run_tflite(variant, eval_set):
    """One sample at a time (the converted models have a fixed batch of 1), int8 I/O (de)quantized."""
    import importlib.metadata

    from .recipes.tflite import controller_interpreter

    it = controller_interpreter(Path(variant.path))
    ins, outs = it.get_input_details(), it.get_output_details()
    in_names = [e["name"] for e in variant.inputs]
    out_names = [e["name"] for e in variant.outputs]
    with np.load(eval_set.path) as z:
        feeds = {k: z[k] for k in in_names}
    n = len(next(iter(feeds.values())))
    parts: list[list[np.ndarray]] = [[] for _ in outs]
    for i in range(n):
        for d, name in zip(ins, in_names):
            x = feeds[name][i:i + 1]
            scale, zp = d["quantization"]
            if scale:
                info = np.iinfo(d["dtype"])
                x = np.clip(np.round(x.astype(np.float32) / scale) + zp, info.min, info.max)
            it.set_tensor(d["index"], np.ascontiguousarray(x.astype(d["dtype"])))
        it.invoke()
        for acc, d in zip(parts, outs):
            y = it.get_tensor(d["index"])
            scale, zp = d["quantization"]
            if scale:
                y = (y.astype(np.float32) - zp) * scale
            acc.append(np.asarray(y, dtype=np.float32))
    outputs = {name: np.concatenate(p) for name, p in zip(out_names, parts)}
    return outputs, out_names, f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"


def loss_chain(scoring: dict, labels, baseline: dict | None, controller: dict | None,
               device: dict | None) -> dict:
    """{quantization_drop_pt, device_drop_pt, device_fidelity, device_loss_flag, controller_top1, reason}.

    `scoring` names the scored outputs (evaluate/scoring.py); accuracy reads the predicted label
    when there is one, else the argmax of the scores; fidelity reads the scored output.
    """
    from .evaluate.accuracy import accuracy_of
    from .evaluate.fidelity import fidelity
    from .evaluate.scoring import predictions
    from .evaluate.scoring import primary as scored
    from .evaluate.scoring import output_kind
    from .evaluate.summary import label_fidelity

    primary = scored(scoring)
    out = {"quantization_drop_pt": None, "device_drop_pt": None, "controller_top1": None,
           "device_fidelity": None, "device_loss_flag": None, "reason": None,
           "device_loss_reasons": [],
           "thresholds": {"device_drop_pt": DEVICE_LOSS_PT, "top1_agreement": DEVICE_MIN_AGREEMENT,
                          "cosine_mean": DEVICE_MIN_COSINE}}
    why = []
    if controller is None or primary not in controller:
        out["reason"] = "no controller run of the quantized artifact"
        return out
    if device is not None and primary in device:
        try:
            kind = label_fidelity if output_kind(controller[primary]) == "label" else fidelity
            f = kind(controller[primary], device[primary])
            out["device_fidelity"] = {k: f.get(k) for k in ("cosine_mean", "cosine_min", "max_abs_error",
                                                              "top1_agreement")}
        except ValueError as e:
            why.append(f"device vs controller: {e}")
    else:
        why.append("no device outputs")
    if labels is not None:
        c = accuracy_of(predictions(controller, scoring), labels)
        out["controller_top1"] = c
        if baseline is not None and primary in baseline:
            out["quantization_drop_pt"] = round((accuracy_of(predictions(baseline, scoring), labels) - c) * 100.0, 9)
        if device is not None and primary in device:
            out["device_drop_pt"] = round((c - accuracy_of(predictions(device, scoring), labels)) * 100.0, 9)
    else:
        why.append("the eval set has no labels: accuracy drops unknown")
    fid = out["device_fidelity"] or {}
    agree, cos = fid.get("top1_agreement"), fid.get("cosine_mean")
    flags = out["device_loss_reasons"]
    if out["device_drop_pt"] is not None and out["device_drop_pt"] > DEVICE_LOSS_PT:
        flags.append(f"accuracy {out['device_drop_pt']:.2f} pt below the controller (limit {DEVICE_LOSS_PT})")
    if agree is not None and agree < DEVICE_MIN_AGREEMENT:
        flags.append(f"top-1 agreement with the controller {agree:.4f} (limit {DEVICE_MIN_AGREEMENT})")
    if cos is not None and cos < DEVICE_MIN_COSINE:
        flags.append(f"mean cosine to the controller {cos:.4f} (limit {DEVICE_MIN_COSINE})")
    if out["device_drop_pt"] is not None or agree is not None or cos is not None:
        out["device_loss_flag"] = bool(flags)
    out["reason"] = "; ".join(why) or None
    return out

"""TFLite / LiteRT variants: the python source's PyTorch module converted with litert-torch.

Route (measured on this machine, see docs/decisions.md): litert-torch converts the nn.Module
directly (no Keras model, no TensorFlow), ≈ +0.8 GB over torch in the optional `tflite` extra.
  fp32  litert_torch.convert(module, sample)
  fp16  ai-edge-quantizer FLOAT_CASTING of every weight to float16 (float32 compute and I/O,
        what TensorFlow's "float16 quantization" gives)
  int8  ai-edge-quantizer static_wi8_ai8, calibrated on the calibration split: full integer,
        int8 weights, activations, inputs and outputs.
Inputs and outputs keep the eval set's / fp32 model's names: each io entry carries `tensor`
(the TFLite tensor name, in order) and, for int8 tensors, `quantization: {scale, zero_point}`,
which the agent uses to quantize inputs and dequantize outputs (so every output compared is float).
The module is the one the source callable returned during this build; on a cache hit of the fp32
step the callable is run again (it is deterministic) to get it back.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import BuildError, UserInputError
from . import cache

TFLITE_TOOLS = ["litert-torch", "ai-edge-litert", "ai-edge-quantizer"]
INSTALL = "pip install -e '.[tflite]' (pins torch==2.13.0 in the same command)"


def _import_converters():
    try:
        import litert_torch  # noqa: F401
        from ai_edge_quantizer import quantizer  # noqa: F401
    except Exception as exc:  # ImportError, or a broken wheel
        raise UserInputError(f"TFLite variants need litert-torch and ai-edge-quantizer "
                             f"({type(exc).__name__}: {exc}); install them: {INSTALL}") from None


def _module(state):
    """The trained nn.Module: kept from this build's fp32 step, else the callable is run again."""
    if state.module is not None:
        return state.module
    from .sources import load_callable

    r = state.recipe
    fn = load_callable(r, r.source.callable, ("source", "callable"))
    with tempfile.TemporaryDirectory() as tmp:
        module = fn(state.splits_(), Path(tmp) / "exported.onnx", r.export.opset, **r.source.params)
    if not hasattr(module, "state_dict"):
        raise UserInputError(f"{r.line('source', 'callable')}: field source.callable: {r.source.callable} "
                             "returned no torch.nn.Module; TFLite variants are converted from it, so "
                             "return the trained module (after writing the .onnx)")
    state.module = module
    return module


def _quiet():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stdout_to_stderr():
    """The converters print progress on stdout (Python and C level); `--json` owns stdout."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def build_tflite(state, key: str, v, model_entry: dict, data_entry: dict) -> dict:
    """Build one TFLite variant into the artifact cache; returns its cache entry (io with quantization)."""
    import numpy as np
    import torch

    _import_converters()
    _quiet()
    import litert_torch

    module = _module(state).eval()
    onnx_io = model_entry["meta"]["io"]
    calib = state.calibration(data_entry)
    in_names = [i["name"] for i in onnx_io["inputs"]]
    sample = tuple(torch.from_numpy(np.ascontiguousarray(calib[n][:1])) for n in in_names)
    where = f"variant {v.name!r}"
    tmp = state.tmp
    fp32 = tmp / "tflite-fp32.tflite"
    tools: dict = {"converter": "litert-torch"}
    out = tmp / f"{key}.tflite"
    try:
        with _stdout_to_stderr():
            if not fp32.exists():
                with torch.no_grad():
                    litert_torch.convert(module, sample).export(str(fp32))
            if v.precision == "fp32":
                out.write_bytes(fp32.read_bytes())
            elif v.precision == "fp16":
                tools.update(_fp16(fp32, out))
            elif v.precision == "int8-dynamic":
                tools.update(_int8_dynamic(fp32, out))
            else:
                tools.update(_int8(fp32, out, calib, in_names, v.calibration_samples))
    except (UserInputError, BuildError):
        raise
    except Exception as exc:
        raise BuildError(f"{where}: TFLite conversion ({v.precision}) failed: {type(exc).__name__}: {exc}") from exc
    io = tflite_io(out, onnx_io)
    sha, _, size = cache.store_file(out, ".tflite", move=True)
    return state.store.put(key, [{"sha256": sha, "suffix": ".tflite", "size": size}], {"io": io, "tools": tools})


def _fp16(src: Path, dst: Path) -> dict:
    from ai_edge_quantizer import algorithm_manager, quantizer
    from ai_edge_quantizer.qtyping import TFLOperationName

    q = quantizer.Quantizer(str(src))
    q.add_weight_only_config(".*", TFLOperationName.ALL_SUPPORTED, 16,
                             algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    q.quantize(enable_progress_report=False).export_model(str(dst), overwrite=True)
    return {"quantizer": "ai-edge-quantizer", "recipe": "float_casting fp16 weights"}


def _int8_dynamic(src: Path, dst: Path) -> dict:
    """Dynamic-range int8: int8 weights, float activations and I/O (ai-edge-quantizer dynamic_wi8_afp32).

    Measured here: ai-edge-litert 2.3 runs it; tflite-runtime 2.14 loads it and returns the same
    output for every input on digits-cnn (the accuracy gate catches that)."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(str(src), recipe.dynamic_wi8_afp32())
    q.quantize(enable_progress_report=False).export_model(str(dst), overwrite=True)
    return {"quantizer": "ai-edge-quantizer", "recipe": "dynamic_wi8_afp32 (dynamic range: int8 weights, float I/O)"}


def _int8(src: Path, dst: Path, calib: dict, in_names: list[str], samples: int | None) -> dict:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    it = Interpreter(model_path=str(src))
    sig_name, sig = next(iter(it.get_signature_list().items()))
    tensor_inputs = list(sig["inputs"])
    n = len(next(iter(calib.values())))
    n = min(n, samples) if samples else n
    rows = [{t: calib[name][i:i + 1] for t, name in zip(tensor_inputs, in_names)} for i in range(n)]
    q = quantizer.Quantizer(str(src), recipe.static_wi8_ai8())
    result = q.calibrate({sig_name: rows})
    q.quantize(result, enable_progress_report=False).export_model(str(dst), overwrite=True)
    return {"quantizer": "ai-edge-quantizer", "recipe": "static_wi8_ai8 (full integer, int8 I/O)",
            "calibration_samples": n}


def tflite_io(path: Path, onnx_io: dict) -> dict:
    """The model's io in the manifest's shape, named like the fp32 ONNX model, plus tensor names and int8 params."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))

    def describe(details, names):
        if len(details) != len(names):
            raise BuildError(f"{path.name}: TFLite model has {len(details)} tensors where the fp32 model has "
                             f"{names}; cannot map them")
        out = []
        for d, name in zip(details, names):
            scale, zp = d["quantization"]
            entry = {"name": name, "tensor": d["name"], "shape": [int(x) for x in d["shape"]],
                     "dtype": d["dtype"].__name__, "quantization": None}
            if scale:
                entry["quantization"] = {"scale": float(scale), "zero_point": int(zp)}
            out.append(entry)
        return out

    return {"opset": None,
            "inputs": describe(it.get_input_details(), [i["name"] for i in onnx_io["inputs"]]),
            "outputs": describe(it.get_output_details(), [o["name"] for o in onnx_io["outputs"]])}


def controller_interpreter(path: Path, threads: int = 1):
    """A LiteRT interpreter on the controller (the 'same quantized model on the controller' step)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it

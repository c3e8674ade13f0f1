"""fp32 -> fp16 / int8-dynamic / int8-static conversions with onnxruntime's own tools.

int8 variants start from onnxruntime's quant_pre_process (symbolic shape inference +
basic graph optimisation), as its documentation recommends; whether it ran is returned
so the manifest records it. Inputs are fp32 .onnx files without external data.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import BuildError


def to_fp16(src: Path, dst: Path, settings: dict) -> dict:
    """Weights and compute in float16; keep_io_types keeps the model's inputs/outputs float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=settings["keep_io_types"])
    _topological_sort(model.graph)   # the converter appends its input Casts at the end of the graph
    onnx.save_model(model, str(dst))
    return {"converter": "onnxruntime.transformers.float16.convert_float_to_float16"}


def _topological_sort(graph) -> None:
    """Reorder nodes so each comes after the producers of its inputs (Kahn; stable otherwise)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = [n for n in pending if not all(i in ready for i in n.input)]
        done = [n for n in pending if all(i in ready for i in n.input)]
        if not done:              # inputs from an outer scope or a cycle: keep the original order
            ordered += rest
            break
        for n in done:
            ordered.append(n)
            ready.update(n.output)
        pending = rest
    nodes = [type(n)() for n in ordered]
    for new, old in zip(nodes, ordered):
        new.CopyFrom(old)
    del graph.node[:]
    graph.node.extend(nodes)


def pre_process(src: Path, dst: Path) -> dict:
    """quant_pre_process into dst; on failure copy src and say why (quantization still works)."""
    import shutil

    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        with _quiet():
            quant_pre_process(str(src), str(dst))
        return {"pre_process": "onnxruntime.quantization.shape_inference.quant_pre_process"}
    except Exception as exc:  # symbolic shape inference does not know every op
        shutil.copyfile(src, dst)
        return {"pre_process": None, "pre_process_error": f"{type(exc).__name__}: {exc}"[:300]}


def excluded_nodes(src: Path, patterns: list[str] | None) -> list[str] | None:
    """`nodes_to_exclude` as node names: an entry with * ? or [ is a shell-style pattern matched against
    the graph's node names (e.g. '*/mlp/down_proj/MatMul'); a pattern that matches nothing is an error."""
    import fnmatch

    if not patterns or not any(ch in p for p in patterns for ch in "*?["):
        return patterns
    import onnx

    from ..errors import BuildError

    names = [n.name for n in onnx.load(str(src), load_external_data=False).graph.node]
    out: list[str] = []
    for p in patterns:
        hit = [n for n in names if fnmatch.fnmatchcase(n, p)] if any(ch in p for ch in "*?[") else [p]
        if not hit:
            sample = ", ".join(n for n in names[:200] if n)[:300]
            raise BuildError(f"nodes_to_exclude pattern {p!r} matches no node of the model; its node names "
                             f"look like: {sample}")
        out += [n for n in hit if n not in out]
    return out


def _common(settings: dict, src: Path) -> dict:
    from onnxruntime.quantization import QuantType

    qtype = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    return dict(per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
                weight_type=qtype[settings["weight_type"]],
                op_types_to_quantize=settings["op_types_to_quantize"],
                nodes_to_exclude=excluded_nodes(src, settings["nodes_to_exclude"]), use_external_data_format=False)


def quantize_dynamic(src: Path, dst: Path, settings: dict) -> dict:
    """Weights int8 ahead of time, activations quantized at run time (uint8, per onnxruntime)."""
    from onnxruntime.quantization import quantize_dynamic as qd

    with _quiet():
        qd(str(src), str(dst), **_common(settings, src))
    return {"tool": "onnxruntime.quantization.quantize_dynamic"}


def quantize_static(src: Path, dst: Path, settings: dict, calibration: dict[str, np.ndarray],
                    inputs: list[dict]) -> dict:
    """Weights and activations int8 with scales from the calibration split (QDQ or QOperator)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as qs

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings["calibration_method"]]
    fmt = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}[settings["quant_format"]]
    atype = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[settings["activation_type"]]
    reader = _Reader(calibration, inputs, settings["calibration_samples"])
    try:
        with _quiet():
            qs(str(src), str(dst), reader, quant_format=fmt, activation_type=atype,
               calibrate_method=method, **_common(settings, src))
    except Exception as exc:
        raise BuildError(f"static quantization failed: {type(exc).__name__}: {exc}") from exc
    return {"tool": "onnxruntime.quantization.quantize_static", "calibration_samples_used": reader.samples}


class _Reader:
    """CalibrationDataReader over the calibration split, in the batch size the model accepts."""

    def __init__(self, calibration: dict[str, np.ndarray], inputs: list[dict], limit: int | None):
        names = [i["name"] for i in inputs]
        n = len(next(iter(calibration.values())))
        self.samples = n if limit is None else min(limit, n)
        first = inputs[0]["shape"][0] if inputs and inputs[0]["shape"] else None
        self.batch = first if isinstance(first, int) and first > 0 else 1
        self._it = self._batches(calibration, names)

    def _batches(self, cal: dict, names: list[str]) -> Iterator[dict]:
        for i in range(0, self.samples - self.batch + 1, self.batch):
            yield {k: cal[k][i:i + self.batch] for k in names}

    def get_next(self) -> dict | None:
        return next(self._it, None)

    def rewind(self) -> None:  # part of onnxruntime's reader interface; one pass is enough
        pass


@contextlib.contextmanager
def _quiet():
    """onnxruntime's quantizer prints progress to stdout and logs at INFO; keep the CLI output clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)

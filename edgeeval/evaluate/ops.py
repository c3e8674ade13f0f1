"""Operations per inference, counted from the ONNX graph, and the compute utilisation they give.

MACs (multiply-accumulates) of the layers that carry the arithmetic — Conv, ConvTranspose, Gemm,
MatMul and FusedMatMul, and their quantized forms (QLinearConv, ConvInteger, QLinearMatMul,
MatMulInteger) — from the shapes ONNX shape inference gives one sample (batch 1, the other
dimensions from the eval set). One MAC is 2 operations, the convention datasheets use for peak
GOPS. Element-wise work (activations, normalisation, softmax, bias adds) is not counted, so the
count is the network's arithmetic, not all its memory traffic; quantization does not change it
(the same count serves every variant of a network). A node whose shapes cannot be inferred, or a
fused operator this counter does not model (com.microsoft Attention), is listed in `uncounted`
and the count is then a lower bound (`complete: false`).

Utilisation = ops per inference × inferences per second ÷ the board's declared peak for that
precision (`facts: peak_gops: {fp32, fp16, int8}` in the inventory), null with a reason where the
peak, the count or the throughput is unknown.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}              # op -> index of W
MATMUL = {"MatMul": 0, "FusedMatMul": 0, "MatMulInteger": 0, "QLinearMatMul": 0}   # op -> index of A
HEAVY_UNMODELLED = {"Attention", "MultiHeadAttention", "GroupQueryAttention", "Einsum", "LSTM", "GRU", "RNN",
                    "DecoderMaskedMultiHeadAttention", "QAttention"}
METHOD = ("MACs of Conv/ConvTranspose/Gemm/MatMul (and quantized forms) from ONNX shape inference at batch 1; "
          "ops = 2 x MACs")


def _shapes(model) -> dict[str, list]:
    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _fix_inputs(model, sample_shapes: dict[str, tuple]) -> None:
    inits = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        data = sample_shapes.get(vi.name)
        for i, d in enumerate(dims):
            if d.HasField("dim_value"):
                continue
            v = 1 if i == 0 else (data[i] if data is not None and i < len(data) else None)
            if v is not None:
                d.ClearField("dim_param")
                d.dim_value = int(v)


def _known(*shapes) -> bool:
    return all(s is not None and all(isinstance(d, int) and d > 0 for d in s) for s in shapes)


def _node_macs(node, sh: dict) -> int | None:
    """MACs of one node, None when its shapes are not known; 0 for nodes carrying no counted arithmetic."""
    op, ins, outs = node.op_type, list(node.input), list(node.output)
    get = sh.get
    if op in CONV:
        w, y = get(ins[CONV[op]]) if len(ins) > CONV[op] else None, get(outs[0])
        if not _known(w, y):
            return None
        return math.prod(y) * math.prod(w[1:])
    if op == "ConvTranspose":
        x, w = get(ins[0]), get(ins[1])
        if not _known(x, w):
            return None
        return math.prod(x) * math.prod(w[1:])
    if op in MATMUL:
        a, y = get(ins[MATMUL[op]]), get(outs[0])
        if not _known(a, y):
            return None
        return math.prod(y) * a[-1]
    if op == "Gemm":
        a, y = get(ins[0]), get(outs[0])
        if not _known(a, y):
            return None
        trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
        return math.prod(y) * (a[0] if trans_a else a[1])
    return 0


def count_ops(model_path: str | Path, sample_shapes: dict[str, tuple] | None = None) -> dict:
    """{"macs", "ops", "by_op": {op: MACs}, "uncounted": [...], "complete", "method"} per inference."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    _fix_inputs(model, sample_shapes or {})
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as e:  # a graph shape inference cannot follow: count what it can
        uncounted = [f"shape inference failed: {str(e)[:120]}"]
    else:
        uncounted = []
    sh = _shapes(model)
    by_op: dict[str, int] = {}
    for node in model.graph.node:
        m = _node_macs(node, sh)
        if m is None:
            uncounted.append(f"{node.op_type} {node.name or node.output[0]}: shapes unknown")
        elif m:
            by_op[node.op_type] = by_op.get(node.op_type, 0) + int(m)
        if node.op_type in HEAVY_UNMODELLED:
            uncounted.append(f"{node.op_type} {node.name or node.output[0]}: not modelled")
    macs = sum(by_op.values())
    return {"macs": macs, "ops": 2 * macs, "by_op": by_op, "uncounted": uncounted[:20],
            "complete": not uncounted, "method": METHOD}


def sample_shapes_of(eval_npz: str | Path, names: list[str]) -> dict[str, tuple]:
    """Each input's shape in the eval set (its first axis the sample axis)."""
    out = {}
    with np.load(str(eval_npz), allow_pickle=False) as z:
        for n in names:
            if n in z.files:
                out[n] = tuple(z[n].shape)
    return out


PRECISION_CLASS = {"fp32": "fp32", "fp16": "fp16", "int8-dynamic": "int8", "int8-static": "int8", "int8": "int8",
                   # weight-only 4-bit (MatMulNBits): the weights are unpacked and multiplied in float
                   "int4": "fp32"}


def utilisation(ops: dict | None, throughput_ips: float | None, precision: str | None, declared: dict | None) -> dict:
    """{"ops_per_inference", "achieved_gops", "peak_gops", "precision_class", "fraction", "lower_bound", "reason"}."""
    out = {"ops_per_inference": (ops or {}).get("ops"), "achieved_gops": None, "peak_gops": None,
           "precision_class": PRECISION_CLASS.get(precision or ""), "fraction": None,
           "lower_bound": bool(ops) and not ops.get("complete", True), "reason": None}
    peaks = (declared or {}).get("peak_gops") or {}
    if not ops or not ops.get("ops"):
        out["reason"] = (ops or {}).get("reason") or "no operation count for this model (not an ONNX graph, or an older run)"
        return out
    if throughput_ips:
        out["achieved_gops"] = ops["ops"] * throughput_ips / 1e9
    else:
        out["reason"] = "no throughput"
        return out
    cls = out["precision_class"]
    if cls is None or peaks.get(cls) is None:
        out["reason"] = (f"the board declares no {cls or precision} peak (devices: facts: peak_gops: {{{cls or 'fp32'}: …}})")
        return out
    out["peak_gops"] = float(peaks[cls])
    out["fraction"] = out["achieved_gops"] / out["peak_gops"]
    return out


def ops_per_token(path) -> dict:
    """Multiply-accumulates per generated token in the weight matmuls (MatMul/Gemm with a constant
    weight, MatMulNBits): ×2 = operations. Attention over the cache grows with the context and is
    left out (said in the basis)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    # constant tensors and their shapes: initializers, and what weight-only ops make of them (a tied
    # output head reads the embedding through a Transpose; quantized weights through DequantizeLinear)
    shapes = {t.name: list(t.dims) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.dims:
            shapes[n.output[0]] = list(n.attribute[0].t.dims)
        elif n.input and n.input[0] in shapes and n.op_type in ("Transpose", "Cast", "Identity", "DequantizeLinear"):
            s = shapes[n.input[0]]
            if n.op_type == "Transpose":
                perm = next((list(a.ints) for a in n.attribute if a.name == "perm"), list(range(len(s)))[::-1])
                s = [s[i] for i in perm]
            shapes[n.output[0]] = s
    macs = 0
    for n in m.graph.node:
        if n.op_type in ("MatMul", "Gemm", "MatMulInteger") and len(n.input) > 1 and n.input[1] in shapes:
            s = shapes[n.input[1]]
            if len(s) == 2:
                macs += s[0] * s[1]
        elif n.op_type == "MatMulNBits":
            a = {x.name: x.i for x in n.attribute}
            macs += a.get("K", 0) * a.get("N", 0)
    if not macs:
        return {"ops": None, "reason": "no weight matmul found in the decoder graph"}
    return {"ops": 2 * macs, "unit": "operations per generated token", "complete": False,
            "basis": "weight matmuls (MatMul/Gemm with constant weights, the tied output head included, MatMulNBits) "
                     "per token; attention over "
                     "the KV cache (grows with context) not counted"}

"""Operations per inference from the ONNX graph, checked against hand counts."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeeval.evaluate.ops import count_ops, utilisation


def _save(tmp_path, nodes, inputs, outputs, inits, name="m.onnx"):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = tmp_path / name
    onnx.save(m, str(p))
    return p


def _w(name, *shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def test_conv_depthwise_gemm_and_matmul_against_hand_counts(tmp_path):
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),                # 3->8, 3x3, 16x16
        helper.make_node("Conv", ["c1", "wd"], ["c2"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]),  # depthwise, 8x8
        helper.make_node("Flatten", ["c2"], ["fl"]),
        helper.make_node("Gemm", ["fl", "wg"], ["g"], transB=1),                         # 512 -> 20
        helper.make_node("MatMul", ["g", "wm"], ["y"]),                                   # 20 -> 4
    ]
    p = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", f, ["N", 3, 16, 16])],
              [helper.make_tensor_value_info("y", f, ["N", 4])],
              [_w("w1", 8, 3, 3, 3), _w("wd", 8, 1, 3, 3), _w("wg", 20, 512), _w("wm", 20, 4)])
    got = count_ops(p, {"x": (100, 3, 16, 16)})
    conv1 = 8 * 16 * 16 * (3 * 9)
    dw = 8 * 8 * 8 * (1 * 9)
    assert got["by_op"] == {"Conv": conv1 + dw, "Gemm": 512 * 20, "MatMul": 20 * 4}
    assert got["macs"] == conv1 + dw + 512 * 20 + 80 and got["ops"] == 2 * got["macs"] and got["complete"]


def test_unknown_shapes_and_unmodelled_ops_make_a_lower_bound(tmp_path):
    f = TensorProto.FLOAT
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("MatMul", ["h", "b"], ["y"])]           # b: a graph input of unknown width
    p = _save(tmp_path, nodes, [helper.make_tensor_value_info("x", f, ["N", 6]),
                                helper.make_tensor_value_info("b", f, [5, "K"])],
              [helper.make_tensor_value_info("y", f, None)], [_w("w", 6, 5)])
    got = count_ops(p, {"x": (10, 6)})
    assert got["macs"] == 30 and not got["complete"] and "MatMul" in got["uncounted"][0]


def test_utilisation_is_null_with_a_reason_when_a_part_is_unknown():
    ops = {"ops": 2e9, "complete": True}
    u = utilisation(ops, 10.0, "int8-static", {"peak_gops": {"int8": 80.0}})
    assert u["achieved_gops"] == pytest.approx(20.0) and u["fraction"] == pytest.approx(0.25)
    u = utilisation(ops, 10.0, "fp16", {"peak_gops": {"int8": 80.0}})
    assert u["fraction"] is None and "declares no fp16 peak" in u["reason"] and u["achieved_gops"] == 20.0
    assert "no operation count" in utilisation(None, 10.0, "fp32", {})["reason"]
    assert utilisation(ops, None, "fp32", {"peak_gops": {"fp32": 1}})["reason"] == "no throughput"
    assert utilisation({"ops": 2e9, "complete": False}, 1.0, "fp32", {"peak_gops": {"fp32": 4}})["lower_bound"]

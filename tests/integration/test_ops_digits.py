"""The operation counter against a hand count on the real digits CNN (recipes/digits-cnn.yaml):
Conv 1->16 3x3 at 8x8 (16*64*9 = 9,216 MACs), Conv 16->32 3x3 at 8x8 (32*64*144 = 294,912),
Linear 512->64 (32,768), Linear 64->10 (640): 337,536 MACs per digit, whatever the precision."""

from edgeeval.evaluate.ops import count_ops, sample_shapes_of

HAND = 16 * 64 * 9 + 32 * 64 * 16 * 9 + 512 * 64 + 64 * 10


def test_every_digits_variant_counts_the_hand_count(built_digits):
    assert HAND == 337_536
    ev = built_digits["eval_set"]
    counted = {}
    for v in built_digits["variants"]:
        if not v["path"].endswith(".onnx"):
            continue
        got = count_ops(v["path"], sample_shapes_of(ev["path"], [i["name"] for i in v["inputs"]]))
        counted[v["precision"]] = got["macs"]
        assert got["complete"], (v["precision"], got["uncounted"])
    assert counted == {p: HAND for p in ("fp32", "fp16", "int8-dynamic", "int8-static")}, counted

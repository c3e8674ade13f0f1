"""The bundled digits data: fixed, stratified, deterministic splits in the shape the CNN expects."""

from __future__ import annotations

import numpy as np

from edgeeval.models.digits import load_digits


def test_splits_are_fixed_disjoint_and_well_formed():
    d = load_digits(seed=0)
    assert set(d) == {"train", "calibration", "test"}
    sizes = {k: len(v["labels"]) for k, v in d.items()}
    assert sizes == {"train": 1797 - 560, "calibration": 200, "test": 360}
    for split in d.values():
        x, y = split["input"], split["labels"]
        assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(d["test"]["labels"]).min() >= 34           # stratified: ~36 per class
    rows = {k: {r.tobytes() for r in v["input"]} for k, v in d.items()}
    assert len(rows["test"] & rows["train"]) < 5                  # a few duplicate images exist in the data
    again = load_digits(seed=0)
    for k in d:
        np.testing.assert_array_equal(d[k]["input"], again[k]["input"])
        np.testing.assert_array_equal(d[k]["labels"], again[k]["labels"])
    other = load_digits(seed=1)
    assert not np.array_equal(other["test"]["labels"], d["test"]["labels"])

"""top1 accuracy and fidelity against the FP32 reference."""

import json
import math

import numpy as np
import pytest

from edgeeval.evaluate import fidelity, top1, top1_predictions


def test_top1_known_and_shapes():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    assert top1(out, np.array([1, 0, 0, 0])) == 0.75
    assert top1(out[:, None, :], np.array([1, 0, 1, 0])) == 1.0  # [N, 1, C] squeezed
    assert top1(out, np.array([[1], [0], [1], [0]])) == 1.0
    assert list(top1_predictions(out)) == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="4 samples.*labels have 3"):
        top1(out, np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="not class scores"):
        top1(np.zeros((4, 2, 3)), np.zeros(4, dtype=int))


def test_fidelity_identical():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(64, 10)).astype(np.float32)
    f = fidelity(ref, ref.copy())
    assert f["top1_agreement"] == 1.0
    assert f["cosine_mean"] == pytest.approx(1.0, abs=1e-12)
    assert f["cosine_min"] == pytest.approx(1.0, abs=1e-12)
    assert f["max_abs_error"] == 0.0 and f["rmse"] == 0.0
    assert math.isfinite(f["psnr_db"]) and f["psnr_db"] > 150
    json.dumps(f, allow_nan=False)


def test_fidelity_known_perturbation_psnr_by_hand():
    ref = np.array([[1.0, -2.0, 0.5, 4.0], [0.0, 1.0, 2.0, -1.0]], dtype=np.float32)
    out = ref.copy()
    out[1, 1] = 2.5  # one error of 1.5 over 8 values, and sample 1's argmax moves from 2 to 1
    f = fidelity(ref, out)
    rmse = math.sqrt(1.5**2 / 8)
    assert f["rmse"] == pytest.approx(rmse, rel=1e-12)
    assert f["max_abs_error"] == 1.5
    # PSNR = 20 log10((max|ref| + 1e-5) / (RMSE + 1e-10)) with max|ref| = 4
    assert f["psnr_db"] == pytest.approx(20 * math.log10((4.0 + 1e-5) / (rmse + 1e-10)), rel=1e-12)
    assert f["psnr_db"] == pytest.approx(17.5503, abs=1e-3)
    assert f["top1_agreement"] == 0.5
    c1 = (0 * 0 + 1 * 2.5 + 2 * 2 + 1 * 1) / math.sqrt(6) / math.sqrt(2.5**2 + 4 + 1)
    assert f["cosine_min"] == pytest.approx(c1, rel=1e-12)
    assert f["cosine_mean"] == pytest.approx((c1 + 1.0) / 2, rel=1e-12)
    assert f["cosine_p5"] == f["cosine_min"]  # LoadGen rule: sorted[floor(2*0.05)] = sorted[0]


def test_fidelity_shapes_and_non_scores():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        fidelity(np.zeros((2, 3)), np.zeros((2, 4)))
    f = fidelity(np.ones((3, 4, 4)), np.ones((3, 4, 4)))
    assert f["top1_agreement"] is None and "class scores" in f["reasons"]["top1_agreement"]
    assert f["cosine_mean"] == 1.0
    z = fidelity(np.zeros((2, 3)), np.zeros((2, 3)))  # zero vectors: identical, cosine 1
    assert z["cosine_min"] == 1.0


def test_fidelity_non_finite_is_unknown_not_invented():
    out = np.ones((2, 3))
    out[1, 1] = np.nan
    f = fidelity(np.ones((2, 3)), out)
    assert f["psnr_db"] is None and f["cosine_mean"] is None and f["top1_agreement"] is None
    assert "non-finite" in f["reasons"]["psnr_db"] and f["nonfinite"]["device"] == 1
    json.dumps(f, allow_nan=False)

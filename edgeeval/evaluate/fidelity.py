"""How closely device outputs follow the server FP32 reference (float64 math throughout)."""

from __future__ import annotations

import math

import numpy as np

from .latency import percentile


def _class_scores(a: np.ndarray) -> np.ndarray | None:
    """[N, C] view when the tensor looks like class scores (singleton axes squeezed), else None."""
    if a.ndim < 2:
        return None
    b = a.reshape(a.shape[0], *[d for d in a.shape[1:] if d != 1]) if a.ndim > 2 else a
    return b if b.ndim == 2 and b.shape[1] >= 2 else None


def _cosines(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Cosine similarity per sample. Two zero vectors count as 1 (identical); one zero vector as 0."""
    r = ref.reshape(ref.shape[0], -1)
    o = out.reshape(out.shape[0], -1)
    dot = np.einsum("ij,ij->i", r, o)
    nr, no = np.linalg.norm(r, axis=1), np.linalg.norm(o, axis=1)
    denom = nr * no
    cos = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
    cos[(nr == 0) & (no == 0)] = 1.0
    return np.clip(cos, -1.0, 1.0)


def fidelity(ref: np.ndarray, out: np.ndarray) -> dict:
    """Compare a device output with its reference, per sample along axis 0; JSON-serialisable.

    Keys: shape, samples, top1_agreement, cosine_mean/min/p5 (per-sample cosine), max_abs_error,
    rmse, psnr_db = 20 log10((max|ref| + 1e-5) / (rmse + 1e-10)); reasons[key] for each None.
    """
    ref = np.asarray(ref)
    out = np.asarray(out)
    if ref.shape != out.shape:
        raise ValueError(f"reference shape {ref.shape} and device output shape {out.shape} differ")
    if ref.ndim == 0 or ref.shape[0] == 0:
        raise ValueError(f"fidelity needs at least one sample along axis 0, got shape {ref.shape}")
    r = ref.astype(np.float64)
    o = out.astype(np.float64)
    res: dict = {"shape": list(ref.shape), "samples": int(ref.shape[0]),
                 "top1_agreement": None, "cosine_mean": None, "cosine_min": None,
                 "cosine_p5": None, "max_abs_error": None, "rmse": None, "psnr_db": None,
                 "reasons": {}}
    bad_ref, bad_out = int(np.count_nonzero(~np.isfinite(r))), int(np.count_nonzero(~np.isfinite(o)))
    if bad_ref or bad_out:
        why = f"non-finite values: {bad_out} in the device output, {bad_ref} in the reference"
        res["nonfinite"] = {"device": bad_out, "reference": bad_ref}
        res["reasons"] = {k: why for k, v in res.items() if v is None}
        return res
    rs, os_ = _class_scores(r), _class_scores(o)
    if rs is None:
        res["reasons"]["top1_agreement"] = f"shape {ref.shape} does not look like class scores [N, C]"
    else:
        res["top1_agreement"] = float(np.mean(np.argmax(rs, axis=1) == np.argmax(os_, axis=1)))
    cos = np.sort(_cosines(r, o))
    res["cosine_mean"], res["cosine_min"] = float(cos.mean()), float(cos[0])
    res["cosine_p5"] = float(percentile(cos, 0.05))
    diff = o - r
    rmse = float(np.sqrt(np.mean(diff * diff)))
    res["max_abs_error"] = float(np.max(np.abs(diff)))
    res["rmse"] = rmse
    res["psnr_db"] = 20.0 * math.log10((float(np.max(np.abs(r))) + 1e-5) / (rmse + 1e-10))
    return res


def label_fidelity(ref: np.ndarray, out: np.ndarray) -> dict:
    """Agreement of two predicted-label outputs [N]: the fidelity of a label output."""
    ref, out = np.asarray(ref), np.asarray(out)
    if ref.shape != out.shape:
        raise ValueError(f"reference shape {ref.shape} and device output shape {out.shape} differ")
    if ref.ndim == 0 or ref.shape[0] == 0:
        raise ValueError(f"fidelity needs at least one sample along axis 0, got shape {ref.shape}")
    agree = float(np.mean(ref.reshape(ref.shape[0], -1) == out.reshape(out.shape[0], -1)))
    return {"shape": list(ref.shape), "samples": int(ref.shape[0]), "kind": "label",
            "label_agreement": agree, "top1_agreement": agree, "reasons": {}}

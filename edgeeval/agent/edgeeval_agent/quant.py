"""Affine int8/uint8 (de)quantisation of TFLite tensors, q = round(x / scale) + zero_point: the one
copy, used on the board (TFLite runner) and by the controller's own TFLite reference run."""

from .protocol import _import

np = _import("numpy")


def quantize(x, scale, zero_point, dtype):
    """float -> integer tensor of `dtype`, rounded half to even and clipped to its range."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x).astype(np.float32) / scale) + zero_point
    return np.ascontiguousarray(np.clip(q, info.min, info.max).astype(dtype))


def dequantize(q, scale, zero_point):
    """integer tensor -> float32: (q - zero_point) * scale."""
    return ((np.asarray(q).astype(np.float32) - zero_point) * scale).astype(np.float32)

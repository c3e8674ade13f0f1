"""Top-1 accuracy of class scores against integer labels."""

from __future__ import annotations

import numpy as np


def _scores_2d(outputs: np.ndarray, what: str = "outputs") -> np.ndarray:
    """[N, C] view of class scores; [N, 1, C] and similar singleton axes are squeezed."""
    a = np.asarray(outputs)
    if a.ndim > 2:
        a = a.reshape(a.shape[0], *[d for d in a.shape[1:] if d != 1])
    if a.ndim != 2:
        raise ValueError(f"{what} of shape {tuple(np.shape(outputs))} are not class scores [N, C]")
    if a.shape[0] == 0:
        raise ValueError(f"{what} hold no samples (shape {tuple(np.shape(outputs))})")
    return a


def top1_predictions(outputs: np.ndarray) -> np.ndarray:
    """Index of the highest score per sample, shape [N]."""
    return np.argmax(_scores_2d(outputs), axis=1)


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction (0..1) of samples whose highest score is the label."""
    return accuracy_of(top1_predictions(outputs), labels, what=f"outputs (shape {tuple(np.shape(outputs))})")


def accuracy_of(pred: np.ndarray, labels: np.ndarray, what: str = "predictions") -> float:
    """Fraction (0..1) of predicted classes [N] equal to the labels (integers, or strings for string classes)."""
    pred = np.asarray(pred)
    lab = np.asarray(labels)
    if lab.ndim > 1:
        lab = lab.reshape(lab.shape[0], -1)
        if lab.shape[1] != 1:
            raise ValueError(f"labels of shape {tuple(np.shape(labels))} are not one class index per sample")
        lab = lab[:, 0]
    if pred.ndim != 1:
        raise ValueError(f"{what}: predicted labels of shape {tuple(pred.shape)} are not one class per sample")
    if lab.shape[0] != pred.shape[0]:
        raise ValueError(f"{what} have {pred.shape[0]} samples but labels have {lab.shape[0]}")
    if (pred.dtype.kind in "US") != (lab.dtype.kind in "US"):
        raise ValueError(f"{what} are {pred.dtype} but labels are {lab.dtype}: string and numeric classes "
                         "cannot be compared; store labels in the model's class type")
    if lab.dtype.kind == "f":
        if not np.all(np.equal(np.mod(lab, 1), 0)):
            raise ValueError(f"labels must be class indices, got dtype {lab.dtype} with fractions")
        lab = lab.astype(np.int64)
    return float(np.mean(pred == lab))

"""scikit-learn's bundled 8x8 digits and a small CNN for them: a real model that trains in seconds.

Both are recipe callables (see edgeeval.recipes.sources for the contracts); torch and
scikit-learn are imported inside the functions so hashing this file stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT = "input"
OUTPUT = "logits"


def load_digits(seed: int = 0, test_size: int = 360, calibration_size: int = 200) -> dict:
    """Fixed stratified train/calibration/test splits, float32 [0,1] shaped [N,1,8,8], int64 labels."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = (bunch.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    train, calib = train_test_split(rest, test_size=calibration_size, stratify=y[rest],
                                    random_state=seed + 1)
    split = lambda ix: {INPUT: np.ascontiguousarray(x[np.sort(ix)]), "labels": y[np.sort(ix)]}
    return {"train": split(train), "calibration": split(calib), "test": split(test)}


def _net(torch, dropout: float):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def _shift(torch, xb, gen):
    """Random shifts by up to one pixel: the augmentation that lifts test accuracy to ~99%."""
    padded = torch.nn.functional.pad(xb, (1, 1, 1, 1))
    dy = torch.randint(0, 3, (len(xb),), generator=gen)
    dx = torch.randint(0, 3, (len(xb),), generator=gen)
    out = torch.empty_like(xb)
    for i in range(3):
        for j in range(3):
            m = (dy == i) & (dx == j)
            out[m] = padded[m, :, i:i + 8, j:j + 8]
    return out


def build_cnn(data: dict, out_path: Path, opset: int, seed: int = 0, epochs: int = 20,
              batch_size: int = 64, lr: float = 5e-3, dropout: float = 0.2,
              augment: bool = True, threads: int = 2):
    """Train the CNN on data["train"] (deterministic, CPU), export it to ONNX with a dynamic batch axis.

    Returns the trained nn.Module (format: tflite variants are converted from it)."""
    import torch

    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(data["train"][INPUT])
        y = torch.from_numpy(data["train"]["labels"])
        model = _net(torch, dropout)
        steps = epochs * -(-len(y) // batch_size)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch_size):
                b = order[i:i + batch_size]
                xb = _shift(torch, x[b], gen) if augment else x[b]
                opt.zero_grad()
                loss_fn(model(xb), y[b]).backward()
                opt.step()
                sched.step()
        model.eval()
        _export(torch, model, Path(out_path), opset)
        return model
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def _export(torch, model, out_path: Path, opset: int) -> None:
    """TorchScript exporter (dynamo=False): one self-contained file, no onnxscript rewrites."""
    import warnings

    example = torch.zeros(1, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(out_path), dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})

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


def _shift(torch, xb, gen, pad: int = 1):
    """Random shifts by up to `pad` pixels: the augmentation that lifts test accuracy to ~99%."""
    size = xb.shape[-1]
    padded = torch.nn.functional.pad(xb, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (len(xb),), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (len(xb),), generator=gen)
    out = torch.empty_like(xb)
    for i in range(2 * pad + 1):
        for j in range(2 * pad + 1):
            m = (dy == i) & (dx == j)
            out[m] = padded[m, :, i:i + size, j:j + size]
    return out


def build_cnn(data: dict, out_path: Path, opset: int, seed: int = 0, epochs: int = 20,
              batch_size: int = 64, lr: float = 5e-3, dropout: float = 0.2,
              augment: bool = True, threads: int = 2):
    """Train the CNN on data["train"] (deterministic, CPU), export it to ONNX with a dynamic batch axis.

    Returns the trained nn.Module (format: tflite variants are converted from it)."""
    import torch

    return train_and_export(torch, lambda: _net(torch, dropout), lambda params: torch.optim.Adam(params, lr=lr),
                            data, out_path, opset, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                            shift_pad=1 if augment else 0, threads=threads)


def train_and_export(torch, make_model, make_opt, data: dict, out_path: Path, opset: int, *, seed: int,
                     epochs: int, batch_size: int, lr: float, shift_pad: int, threads: int):
    """The deterministic CPU training loop shared by the built-in image models, then the ONNX export.

    OneCycle schedule, cross-entropy, random shifts by up to `shift_pad` pixels (0: none); torch's
    thread count and determinism flag are restored afterwards. Returns the trained nn.Module.
    """
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(data["train"][INPUT])
        y = torch.from_numpy(data["train"]["labels"])
        model = make_model()
        steps = epochs * -(-len(y) // batch_size)
        opt = make_opt(model.parameters())
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch_size):
                b = order[i:i + batch_size]
                xb = _shift(torch, x[b], gen, shift_pad) if shift_pad else x[b]
                opt.zero_grad()
                loss_fn(model(xb), y[b]).backward()
                opt.step()
                sched.step()
        model.eval()
        _export(torch, model, Path(out_path), opset, tuple(x.shape[1:]))
        return model
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def _export(torch, model, out_path: Path, opset: int, sample_shape: tuple = (1, 8, 8)) -> None:
    """TorchScript exporter (dynamo=False): one self-contained file with a dynamic batch axis."""
    import warnings

    example = torch.zeros(1, *sample_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(out_path), dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})

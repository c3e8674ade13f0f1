"""A MobileNetV2-style network on the digits upscaled to 32x32: the operators real edge CNNs use.

Inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear projection), ReLU6 and
BatchNorm, trained deterministically on the CPU in seconds. Recipe callables (contracts in
edgeeval.recipes.sources); torch is imported inside the functions so hashing this file stays cheap.
`build_mobilenet` writes the ONNX and returns the trained nn.Module, which is what TFLite
variants are converted from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .digits import INPUT, OUTPUT, load_digits

SIZE = 32
# (expansion t, output channels c, repeats n, first stride s), as in MobileNetV2's table, scaled down
BLOCKS = ((1, 8, 1, 1), (4, 16, 2, 2), (4, 24, 2, 2), (4, 32, 1, 1))
STEM, HEAD = 16, 96


def load_digits32(seed: int = 0, test_size: int = 360, calibration_size: int = 200) -> dict:
    """The digits splits of edgeeval.models.digits, each 8x8 image upscaled 4x (nearest) to 32x32."""
    splits = load_digits(seed=seed, test_size=test_size, calibration_size=calibration_size)
    f = SIZE // 8
    return {name: {INPUT: np.ascontiguousarray(np.repeat(np.repeat(s[INPUT], f, axis=2), f, axis=3)),
                   "labels": s["labels"]} for name, s in splits.items()}


def _net(torch, width: int = 1):
    nn = torch.nn

    def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return layers + ([nn.ReLU6()] if act else [])

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hidden = cin * t
            layers = conv_bn(cin, hidden, 1) if t != 1 else []
            layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)   # depthwise
            layers += conv_bn(hidden, cout, 1, act=False)                 # linear bottleneck
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    layers = conv_bn(1, STEM * width, 3, stride=2)       # 32x32 -> 16x16, as MobileNetV2's stem
    cin = STEM * width
    for t, c, n, s in BLOCKS:
        for i in range(n):
            layers.append(InvertedResidual(cin, c * width, s if i == 0 else 1, t))
            cin = c * width
    layers += conv_bn(cin, HEAD, 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(HEAD, 10)]
    return nn.Sequential(*layers)


def _shift(torch, xb, gen, pad: int):
    """Random shifts by up to `pad` pixels (the 32x32 version of the digits CNN's augmentation)."""
    padded = torch.nn.functional.pad(xb, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (len(xb),), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (len(xb),), generator=gen)
    out = torch.empty_like(xb)
    for i in range(2 * pad + 1):
        for j in range(2 * pad + 1):
            m = (dy == i) & (dx == j)
            if m.any():
                out[m] = padded[m, :, i:i + SIZE, j:j + SIZE]
    return out


def build_mobilenet(data: dict, out_path: Path, opset: int, seed: int = 0, epochs: int = 10,
                    batch_size: int = 64, lr: float = 1e-2, augment: bool = True, threads: int = 1):
    """Train deterministically on data["train"], export ONNX (dynamic batch) to out_path; return the module."""
    import torch

    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(data["train"][INPUT])
        y = torch.from_numpy(data["train"]["labels"])
        model = _net(torch)
        steps = epochs * -(-len(y) // batch_size)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch_size):
                b = order[i:i + batch_size]
                xb = _shift(torch, x[b], gen, 4) if augment else x[b]
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
    """TorchScript exporter (dynamo=False): one self-contained file with a dynamic batch axis."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, SIZE, SIZE),), str(out_path), dynamo=False,
                          opset_version=opset, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})

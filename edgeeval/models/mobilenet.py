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

from .digits import INPUT, load_digits, train_and_export

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


def build_mobilenet(data: dict, out_path: Path, opset: int, seed: int = 0, epochs: int = 10,
                    batch_size: int = 64, lr: float = 1e-2, augment: bool = True, threads: int = 1):
    """Train deterministically on data["train"], export ONNX (dynamic batch) to out_path; return the module."""
    import torch

    return train_and_export(torch, lambda: _net(torch),
                            lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=1e-4),
                            data, out_path, opset, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                            shift_pad=4 if augment else 0, threads=threads)

"""Built-in reference networks: the lab's LeNet-5 and its 2023 example network."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class LeNet5(nn.Module):
    """The lab's LeNet-5 for 32x32x3 inputs (2 conv + 3 FC layers)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self.classifier(self.features(x))


def _separable(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


class Lab2023Mobile(nn.Module):
    """The lab's 2023 example network (profiled as network-Feb-28-2023 layers 1-12): a conv, five
    stride-2 depthwise-separable blocks and two FC layers."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        for cin, cout in ((16, 32), (32, 64), (64, 128), (128, 256)):
            blocks += _separable(cin, cout)
        blocks += [nn.Conv2d(256, 256, 3, 2, 1, groups=256, bias=False), nn.BatchNorm2d(256), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self.classifier(self.features(x))


BUILTINS: dict[str, Callable[[], nn.Module]] = {"lenet5": LeNet5, "lab2023": Lab2023Mobile}

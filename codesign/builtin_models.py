"""Built-in reference networks: the lab's LeNet-5 and its 2023 example network, for any image size.

Both keep the lab's CIFAR-10 shapes exactly (3×32×32: the profiles the lab published). On other inputs they
take the images' channels; LeNet-5 pads its first conv so that 28×28 digits (MNIST, Fashion-MNIST) flow through
the same 32×32 geometry, as LeCun's LeNet-5 did; the classifier's width follows the feature map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

CIFAR_SHAPE = (3, 32, 32)


def _flat_width(features: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Values the feature extractor hands the classifier for one image."""
    features.eval()  # batch-norm layers cannot take a batch of one in training mode
    with torch.no_grad():
        width = int(features(torch.zeros(1, *input_shape)).numel())
    features.train()
    return width


class LeNet5(nn.Module):
    """LeNet-5 (2 conv + 3 FC layers); the lab's exact layers on 3×32×32, first conv padded for smaller images."""

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = CIFAR_SHAPE):
        super().__init__()
        channels, height, width = input_shape
        pad = max(0, (32 - min(height, width)) // 2)  # 28×28 → padding 2, LeNet-5's own answer for MNIST
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_flat_width(self.features, input_shape), 120),
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

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = CIFAR_SHAPE):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        for cin, cout in ((16, 32), (32, 64), (64, 128), (128, 256)):
            blocks += _separable(cin, cout)
        blocks += [nn.Conv2d(256, 256, 3, 2, 1, groups=256, bias=False), nn.BatchNorm2d(256), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        width = _flat_width(self.features, input_shape)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width, 512), nn.ReLU(), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self.classifier(self.features(x))


# name -> constructor taking (num_classes, input_shape) of the images it will see
BUILTINS: dict[str, Callable[..., nn.Module]] = {"lenet5": LeNet5, "lab2023": Lab2023Mobile}

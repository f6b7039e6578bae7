"""Post-training quantization: what a narrow-word accelerator scores."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from codesign.data import Dataset, DatasetInfo, Split
from codesign.quantize import quantized, quantized_accuracy


def _toy_data(n=512):
    torch.manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8)
    y = (x.float().mean(dim=(1, 2, 3)) > 127.5).long()
    split = Split(x, y)
    info = DatasetInfo("toy", (1, 8, 8), 2, n, (0.5,), (0.25,))
    return Dataset(info, split, split, Path("."), 0), split


def test_quantized_scoring_rounds_weights_and_inputs():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    q = quantized(model, 8)
    w = q[0].weight.detach()
    steps = w / (w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)
    assert torch.allclose(steps, steps.round(), atol=1e-4)  # every weight sits on the 8-bit grid
    assert not torch.equal(w, model[0].weight)
    data, split = _toy_data()
    float_acc = quantized_accuracy(model, data, split, 16)
    assert quantized_accuracy(model, data, split, 8) == pytest.approx(float_acc, abs=0.05)
    assert math.isfinite(quantized_accuracy(model, data, split, 2))

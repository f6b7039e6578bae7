"""Layer extraction and the lab's peak-activation rule."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from codesign.builtin_models import Lab2023Mobile, LeNet5
from codesign.errors import CodesignError
from codesign.workload import trace


def test_published_peak_examples():
    # (3,072 + 21,504) x 4 B: the first layer of the lab's 90-point design
    assert trace(nn.Sequential(nn.Conv2d(3, 21, 3, padding=1))).peak_activation_bytes == 98_304
    # the 2023 model's stride-2 conv on a 16x32x32 input
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 32, 3, stride=2, padding=1))
    assert trace(model).peak_activation_bytes == (16 * 32 * 32 + 32 * 16 * 16) * 4 == 98_304
    assert trace(LeNet5()).peak_activation_bytes == 31_104


def test_norms_and_activations_count_their_input_pooling_nothing():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
    w = trace(model, (1, 3, 64, 64))
    conv = (3 + 4) * 64 * 64 * 4
    assert w.peak_activation_bytes == conv
    big = nn.Sequential(nn.Conv2d(3, 1, 1), nn.Upsample(scale_factor=1))  # unsupported leaf
    with pytest.raises(CodesignError, match="Upsample"):
        trace(big)


def test_lenet_layers_are_timeloop_problems():
    layers = trace(LeNet5()).layers
    assert [(layer.kind, layer.C, layer.M, layer.P, layer.Q, layer.R, layer.S) for layer in layers] == [
        ("conv", 3, 6, 28, 28, 5, 5),
        ("conv", 6, 16, 10, 10, 5, 5),
        ("linear", 400, 120, 1, 1, 1, 1),
        ("linear", 120, 84, 1, 1, 1, 1),
        ("linear", 84, 10, 1, 1, 1, 1),
    ]
    assert sum(layer.macs for layer in layers) == 651_720


def test_depthwise_grouped_and_dedup():
    model = nn.Sequential(
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),  # depthwise: 6-D problem
        nn.Conv2d(8, 16, 3, padding=1, groups=2),  # grouped: counted dense, as the lab's converter
        nn.Conv2d(16, 16, 1),
        nn.Conv2d(16, 16, 1),
        nn.Conv2d(16, 16, 1),
    )
    w = trace(model, (1, 8, 16, 16))
    dw, grouped, pw = w.layers
    assert dw.depthwise and (dw.C, dw.P, dw.Q, dw.Wstride) == (8, 8, 8, 2)
    assert dw.macs == 8 * 8 * 8 * 9
    assert grouped.kind == "conv" and grouped.macs == 8 * 16 * 8 * 8 * 9
    assert pw.count == 3 and pw.names == ("2", "3", "4")
    # the depthwise conv's output is divided by groups in the peak rule
    assert w.peak_activation_bytes >= (8 * 16 * 16 * 4 + 8 * 8 * 8 * 4 // 8)


def test_lab2023_layers():
    layers = trace(Lab2023Mobile()).layers
    assert len(layers) == 12
    assert sum(layer.depthwise for layer in layers) == 5


def test_model_that_does_not_run_gets_one_line():
    with pytest.raises(CodesignError, match="does not run on input shape"):
        trace(nn.Sequential(nn.Linear(10, 2)), (1, 3, 32, 32))
    with pytest.raises(CodesignError, match="no Conv2d or Linear"):
        trace(nn.Sequential(nn.ReLU()))


# --- every multiply-accumulate is costed or refused by name


class _ConvAttention(nn.Module):
    """A conv net with self-attention over its pixels: MultiheadAttention's work is outside its out_proj."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        tokens, _ = self.attn(tokens, tokens, tokens)
        return self.head(tokens.mean(1))


class _OwnWeights(nn.Module):
    """A custom forward that does a matrix product with its own parameter."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.weight = nn.Parameter(torch.zeros(4 * 8 * 8, 10))

    def forward(self, x):
        return self.conv(x).flatten(1) @ self.weight


class _Residual(nn.Module):
    """Additions and scaling between costed layers cost nothing (as in Timeloop) and pass."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + 0.5 * self.b(torch.relu(self.a(x)))


@pytest.mark.parametrize(
    "model, message",
    [
        (
            _ConvAttention(),
            "module `attn` (MultiheadAttention) computes multi_head_attention_forward outside a Conv2d "
            "or Linear layer, so codesign cannot cost it",
        ),
        (
            nn.Sequential(nn.Conv2d(3, 4, 3), nn.TransformerEncoderLayer(30, 2, 16, batch_first=True)),
            "module `1.self_attn` (MultiheadAttention) computes multi_head_attention_forward",
        ),
        (_OwnWeights(), "the model's own forward (_OwnWeights) computes matmul outside a Conv2d or Linear layer"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(2), nn.LSTM(900, 8)), "module `2` (LSTM) computes lstm"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv1d(4, 4, 3)), "module `1` (Conv1d) computes conv1d"),
    ],
)
def test_arithmetic_outside_conv2d_and_linear_is_refused_by_name(model, message):
    with pytest.raises(CodesignError, match=re.escape(message)):
        trace(model)


def test_a_linear_layer_over_tokens_is_refused_not_undercounted():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Flatten(2), nn.Linear(1024, 10))  # 8 rows of 1024
    with pytest.raises(CodesignError, match=re.escape("module `2` (Linear) is applied to each of 8 vectors")):
        trace(model)


def test_additions_between_costed_layers_pass():
    assert len(trace(_Residual()).layers) == 1  # two identical convs, merged

"""What a trained float model scores on an accelerator with narrower words (post-training quantization).

An 8-bit accelerator cannot hold float weights: the joint search scores an 8-bit design by its
validation accuracy with every Conv2d/Linear weight rounded to `bits`-bit symmetric integers per output
channel and every Conv2d/Linear input rounded per tensor (scale from that batch's largest magnitude).
BatchNorm and activations stay in float, as if folded into the integer pipeline's rescaling. At 16
bits and above the rounding error is below training noise and the float accuracy stands.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from codesign.data import Dataset, Split
from codesign.train import accuracy

EXACT_BITS = 16  # from here up, the float accuracy stands


def _round(x: torch.Tensor, bits: int, dims: tuple[int, ...] | None) -> torch.Tensor:
    levels = 2 ** (bits - 1) - 1
    peak = x.abs().amax(dim=dims, keepdim=True) if dims else x.abs().max()
    scale = torch.clamp(peak, min=torch.finfo(x.dtype).tiny) / levels
    return torch.round(x / scale).clamp(-levels, levels) * scale


def quantized(model: nn.Module, bits: int) -> nn.Module:
    """A copy of `model` whose Conv2d/Linear weights and inputs are rounded to `bits`-bit integers."""
    q = copy.deepcopy(model)
    for module in q.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                w = module.weight
                module.weight.copy_(_round(w, bits, tuple(range(1, w.dim()))))
            module.register_forward_pre_hook(lambda _m, args: (_round(args[0], bits, None), *args[1:]))
    return q


def quantized_accuracy(model: nn.Module, data: Dataset, split: Split, bits: int) -> float:
    """Accuracy of `model` on `split` with `bits`-bit weights and layer inputs (the float one from 16 bits)."""
    if bits >= EXACT_BITS:
        return accuracy(model, data, split)
    return accuracy(quantized(model, bits), data, split)

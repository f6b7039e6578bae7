"""The SGD recipe a design trains with: the rubric allows nothing but SGD (and fewer epochs than its limit).

Kept apart from the network spec (codesign/network.py, which builds PyTorch modules) so that reading a recipe,
or `codesign train --help`'s flags derived from it, imports no PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.config import check, setting
from codesign.errors import ConfigError

SCHEDULES = ("constant", "step", "cosine", "onecycle")


@dataclass(frozen=True)
class SGDConfig:
    """SGD hyper-parameters; the rubric allows nothing but SGD."""

    lr: float = setting(0.05, above=0, help="learning rate (peak of the schedule)")
    momentum: float = setting(0.9, min=0, below=1, help="SGD momentum")
    nesterov: bool = setting(True, negatable=True, help="Nesterov momentum")
    weight_decay: float = setting(5e-4, min=0, help="L2 weight decay")
    batch_size: int = setting(128, min=1, help="images per step")
    epochs: int = setting(10, min=1, help="passes over the training split (fewer than the rubric's limit)")
    schedule: str = setting("cosine", choices=SCHEDULES, help="learning-rate schedule")
    warmup_epochs: float = setting(0.0, min=0, help="epochs of linear warm-up (at most `epochs`)")
    seed: int = setting(0, min=0, help="training seed (weights and batch order)")

    def __post_init__(self) -> None:
        check(self, "SGD settings")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("SGD settings", "nesterov", "needs `momentum` > 0")
        if self.warmup_epochs > self.epochs:
            raise ConfigError("SGD settings", "warmup_epochs", f"must be at most `epochs` ({self.epochs})")

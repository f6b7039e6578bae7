"""Rubric-compliant training: plain SGD on tensors already on the device, one seed, no augmentation."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from codesign.data import Dataset, Split
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, SGDConfig
from codesign.profiling import Profile
from codesign.rubric import Rubric
from codesign.status import Status

EVAL_BATCH = 1000

EXPLODED = 100  # a training loss this many times its start (or ln(classes)) has exploded: the run diverged


@dataclass
class EpochMetrics:
    """What one epoch reports to callbacks (Ray Tune, early stopping, the progress bar)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    lr: float
    seconds: float
    images_per_second: float


@dataclass
class Training:
    """A trained model and how its training went (`codesign train`, `codesign.train`); with `final=True` also its
    test accuracy and its profile on the rubric's accelerator, for the rubric's score."""

    model: nn.Module = field(repr=False)
    status: Status  # ok (every epoch), diverged (NaN/inf or exploding loss) or stopped (by `on_epoch`)
    val_accuracy: float  # after the last epoch
    best_val_accuracy: float
    epochs: int  # trained
    seconds: float
    images_per_second: float
    metrics: list[EpochMetrics] = field(default_factory=list, repr=False)  # one per epoch
    label: str = ""  # the design's name
    spec: CandidateSpec | None = field(default=None, repr=False)
    summary: dict[str, Any] = field(default_factory=dict, repr=False)  # what `codesign train` writes as summary.json
    test_accuracy: float | None = None  # final=True only
    profile: Profile | None = field(default=None, repr=False)  # final=True: on the rubric's accelerator
    reason: str = ""  # why it diverged

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch: loss, accuracies, learning rate, seconds, images/s."""
        return pd.DataFrame([dataclasses.asdict(m) for m in self.metrics])

    @property
    def points(self) -> int | None:
        """Rubric points with the test accuracy (final only)."""
        if self.test_accuracy is None or self.profile is None:
            return None
        return self.profile.points(self.test_accuracy)

    def save(self, out: str | Path) -> Path:
        """Write weights.pt, summary.json and (for a spec) spec.json into `out`; returns the folder."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        (folder / "summary.json").write_text(json.dumps(self.summary, indent=2, allow_nan=False))
        if self.spec is not None:
            (folder / "spec.json").write_text(self.spec.to_json())
        return folder

    def _repr_html_(self) -> str:
        final = "" if self.test_accuracy is None else f", test accuracy {self.test_accuracy:.4f}, {self.points} points"
        head = (
            f"<b>{html.escape(self.label)}</b>: {self.status}, validation accuracy {self.val_accuracy:.4f} after "
            f"{self.epochs} epochs ({self.seconds:.1f} s){final}"
        )
        return f"<div><p>{head}</p>{self.history.to_html(index=False, border=0)}</div>"


def resolve_device(device: str | None = None) -> torch.device:
    """`auto` (or None) picks CUDA when available."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CodesignError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CodesignError("--device cuda asked for, but torch sees no CUDA GPU here")
    return dev


def check_recipe(sgd: SGDConfig, rubric: Rubric) -> None:
    """A recipe the rubric's training rules allow (its fields are checked by SGDConfig itself)."""
    if sgd.epochs > rubric.max_epochs:
        raise CodesignError(f"{sgd.epochs} epochs breaks the rubric ({rubric.name}: at most {rubric.max_epochs})")


def build_model(spec: CandidateSpec, seed: int | None = None) -> nn.Module:
    """The spec's model with weights initialised from `seed` (default: the spec's SGD seed)."""
    torch.manual_seed(spec.sgd.seed if seed is None else seed)
    return spec.build()


def lr_factor(schedule: str, total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at each optimiser step (all are SGD schedules)."""
    total_steps = max(total_steps, 1)

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if schedule == "constant":
            return 1.0
        if schedule == "step":  # x0.1 at half and three quarters of the run
            return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        if schedule == "onecycle":  # linear warm-up over the first 30 % (unless given), then linear decay
            peak = 0.3 if not warmup_steps else 0.0
            if progress < peak:
                return 0.1 + 0.9 * progress / peak
            return max(1.0 - (progress - peak) / (1.0 - peak), 0.0) * 0.99 + 0.01
        raise CodesignError(f"unknown learning-rate schedule {schedule!r}")

    return factor


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, split: Split) -> float:
    """Top-1 accuracy (a fraction) of `model` on a split, in eval mode."""
    was_training = model.training
    model.eval()
    correct = 0
    device = split.images.device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with autocast:
        for start in range(0, len(split), EVAL_BATCH):
            x = data.normalize(split.images[start : start + EVAL_BATCH])
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            correct += (model(x).argmax(1) == split.labels[start : start + EVAL_BATCH]).sum().item()
    model.train(was_training)
    return correct / max(len(split), 1)


class _SGDLoop:
    """One training run's moving parts: the model on its device, the optimiser, the schedule, the batch order."""

    def __init__(self, model: nn.Module, data: Dataset, sgd: SGDConfig, progress: bool):
        self.model, self.data, self.sgd = model, data, sgd
        self.device = data.train.images.device
        model.to(self.device)
        if self.device.type == "cuda":
            model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=sgd.lr, momentum=sgd.momentum, nesterov=sgd.nesterov, weight_decay=sgd.weight_decay
        )
        # the last partial batch is dropped (BatchNorm needs more than one image)
        self.steps = max(len(data.train) // sgd.batch_size, 1)
        factor = lr_factor(sgd.schedule, sgd.epochs * self.steps, int(sgd.warmup_epochs * self.steps))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.generator = torch.Generator().manual_seed(sgd.seed)
        self.loss_fn = nn.CrossEntropyLoss()
        # a loss this far above its start has exploded (an untrained classifier's is about ln(classes)): the
        # run is diverged, not scored, even while the numbers are still finite
        self.loss_limit = math.inf
        self.reason = ""  # why the run diverged
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=sgd.epochs * self.steps, unit="batch", dynamic_ncols=True, leave=True)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else contextlib.nullcontext()

    def measured_epoch(self, epoch: int) -> EpochMetrics | None:
        """One epoch and the validation accuracy after it; None if the loss diverged."""
        start = time.perf_counter()
        done = self.epoch()
        if done is None:
            return None
        val = accuracy(self.model, self.data, self.data.val)
        seconds = time.perf_counter() - start
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=done[0],
            train_accuracy=done[1],
            val_accuracy=val,
            lr=self.optimizer.param_groups[0]["lr"],
            seconds=seconds,
            images_per_second=self.steps * self.sgd.batch_size / seconds,
        )
        if self.bar is not None:
            self.bar.set_postfix(epoch=epoch, loss=f"{metrics.train_loss:.3f}", val=f"{val:.4f}")
        return metrics

    def epoch(self) -> tuple[float, float] | None:
        """One pass over the training split: (mean loss, training accuracy), or None if the loss diverged."""
        data, batch = self.data, self.sgd.batch_size
        order = torch.randperm(len(data.train), generator=self.generator).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        self.model.train()
        for step in range(self.steps):
            idx = order[step * batch : (step + 1) * batch]
            x = data.normalize(data.train.images[idx])
            y = data.train.labels[idx]
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                logits = self.model(x)
                loss = self.loss_fn(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == y).sum()
            if self.bar is not None:
                self.bar.update(1)
            if self.loss_limit == math.inf:  # the first batch's loss: what "exploded" is measured against
                start = float(loss.detach())
                self.loss_limit = EXPLODED * max(start, math.log(data.info.num_classes)) if math.isfinite(start) else 0
            # checking the loss syncs with the device: every 20 steps is enough to stop a runaway run
            if step % 20 == 19 or step == self.steps - 1:
                mean = loss_sum.item() / (step + 1)
                if not math.isfinite(mean):
                    self.reason = "loss became NaN/inf"
                    return None
                if mean > self.loss_limit:
                    self.reason = f"loss exploded to {mean:.3g} (over {EXPLODED}x its start)"
                    return None
        return loss_sum.item() / self.steps, correct.item() / (self.steps * batch)


def train(
    model: nn.Module,
    data: Dataset,
    sgd: SGDConfig,
    rubric: Rubric | None = None,
    on_epoch: Callable[[EpochMetrics], bool | None] | None = None,
    progress: bool = False,
) -> Training:
    """Train `model` in place with SGD on `data.train`, measuring validation accuracy after each epoch.

    `on_epoch` may return True to stop (early stopping); a NaN/inf loss, or one that explodes (over EXPLODED times
    its first batch's, or ln(classes)), ends the run as "diverged".
    """
    rubric = rubric or Rubric()
    check_recipe(sgd, rubric)
    loop = _SGDLoop(model, data, sgd, progress)
    _check_input(model, data)
    history: list[EpochMetrics] = []
    status, start_all = Status.OK, time.perf_counter()
    for epoch in range(1, sgd.epochs + 1):
        metrics = loop.measured_epoch(epoch)
        if metrics is None:
            status = Status.DIVERGED
            break
        history.append(metrics)
        if on_epoch is not None and on_epoch(metrics):
            status = Status.STOPPED
            break
    if loop.bar is not None:
        loop.bar.close()
    elapsed = time.perf_counter() - start_all
    seen = len(history) * loop.steps * sgd.batch_size
    return Training(
        model=model,
        status=status,
        reason=loop.reason if status is Status.DIVERGED else "",
        val_accuracy=history[-1].val_accuracy if history else 0.0,
        best_val_accuracy=max((h.val_accuracy for h in history), default=0.0),
        epochs=len(history),
        seconds=elapsed,
        images_per_second=seen / elapsed if elapsed else 0.0,
        metrics=history,
    )


def _check_input(model: nn.Module, data: Dataset) -> None:
    """Fail with one line when the model cannot take the dataset's images."""
    try:
        with torch.no_grad():
            was = model.training
            model.eval()
            out = model(data.normalize(data.train.images[:2]))
            model.train(was)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CodesignError(
            f"the model cannot take {data.info.name} images of shape {data.info.input_shape}: {first}"
        ) from None
    if out.ndim != 2 or out.shape[1] != data.info.num_classes:
        raise CodesignError(
            f"the model outputs shape {tuple(out.shape[1:])}, but {data.info.name} has {data.info.num_classes} classes"
        )

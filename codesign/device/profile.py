"""A design's latency on a device, as `codesign profile MODEL --engine device` prints it: the whole network
timed at batch 1 (and at the chosen batch), each distinct layer from the latency table with the prediction it
sums to, and, with --compare, the accelerator's cycles beside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from codesign.arch import Arch
from codesign.cost.layer_cost import LayerCost
from codesign.device.settings import TimingSettings
from codesign.device.table import LatencyTable, Prediction
from codesign.device.timing import Latency, measure
from codesign.workload import Workload

if TYPE_CHECKING:
    from torch import nn


class AcceleratorCosts(Protocol):
    """What --compare prints of the accelerator beside the device (a codesign.profiling.Profile)."""

    @property
    def costs(self) -> Sequence[LayerCost]: ...
    @property
    def cycles(self) -> int: ...
    @property
    def energy_mj(self) -> float: ...
    @property
    def arch(self) -> Arch: ...
    @property
    def engine(self) -> str: ...


@dataclass
class DeviceProfile:
    """A network's measured latency on one device and runtime, and the table's prediction of it."""

    label: str
    workload: Workload = field(repr=False)
    settings: TimingSettings
    latencies: list[Latency]  # the traced batch (1) first, then the chosen batch
    prediction: Prediction | None = field(default=None, repr=False)  # from the per-layer table
    fingerprint: str = ""
    accelerator: AcceleratorCosts | None = field(default=None, repr=False)  # --compare: the accelerator's cycles beside

    @property
    def latency(self) -> Latency:
        """The batch-1 latency."""
        return self.latencies[0]

    @property
    def median_ms(self) -> float:
        """Median latency of one batch-1 inference (ms)."""
        return self.latency.median_ms

    def score(self, accuracy: float) -> float:
        """Accuracy per millisecond on this device (the device users' SCORE = accuracy / latency)."""
        return accuracy / self.median_ms

    def to_dict(self) -> dict[str, Any]:
        """What `codesign profile --engine device --json` holds under `device`."""
        layers = []
        if self.prediction is not None:
            over = self.prediction.overhead.median_ms
            layers = [
                {
                    "segment": row.segment.label,
                    "layer": None if row.segment.layer is None else row.segment.layer.to_dict(),
                    "tail": list(row.segment.tail),
                    "count": row.segment.count,
                    "ms": row.latency.median_ms,
                    "added_ms": row.added_ms(over),
                }
                for row in self.prediction.rows
            ]
        return {
            "label": self.label,
            "device": self.settings.device,
            "device_name": self.latency.device_name,
            "runtime": self.settings.runtime,
            "threads": self.settings.threads,
            "latencies": [lat.to_dict() for lat in self.latencies],
            "table": {
                "fingerprint": self.fingerprint,
                "overhead_ms": None if self.prediction is None else self.prediction.overhead.median_ms,
                "predicted_ms": None if self.prediction is None else self.prediction.ms,
                "summed_ms": None if self.prediction is None else self.prediction.summed_ms,
                "calibration": None
                if self.prediction is None or self.prediction.calibration is None
                else self.prediction.calibration.to_dict(),
                "layers": layers,
            },
        }

    def table(self) -> str:
        """The per-layer table, the measured latencies and their method; the accelerator's cycles beside with
        --compare."""
        lat, accelerator = self.latency, self.accelerator
        head = (
            f"{'#':>2}  {'segment (layer + what follows it)':<58} {'n':>2} {'MACs':>11} {'table ms':>9} {'adds ms':>8}"
        )
        if accelerator is not None:
            head += f" {'accel. cycles':>13}"
        lines = [
            f"{self.label} on {lat.device_name} ({self.settings.device}, {self.settings.runtime}, "
            f"{self.settings.threads} thread{'s' if self.settings.threads > 1 else ''}), "
            f"input {tuple(self.workload.input_shape)}",
            head,
            "-" * len(head),
        ]
        cycles = {}
        if accelerator is not None:
            cycles = {layer.key: cost.cycles for layer, cost in zip(self.workload.layers, accelerator.costs)}
        over = self.prediction.overhead.median_ms if self.prediction is not None else 0.0
        for i, row in enumerate(self.prediction.rows if self.prediction is not None else [], 1):
            seg, layer = row.segment, row.segment.layer
            label = seg.label if len(seg.label) <= 58 else seg.label[:57] + "…"
            macs = layer.macs * seg.count if layer is not None else 0
            timed = f"{row.latency.median_ms:>9.4f} {row.added_ms(over):>8.4f}"
            line = f"{i:>2}  {label:<58} {seg.count:>2} {macs:>11,} {timed}"
            if accelerator is not None:
                known = cycles.get(layer.key) if layer is not None else None
                line += f" {known * seg.count:>13,}" if known is not None else f" {'-':>13}"
            lines.append(line)
        lines.append("-" * len(head))
        if self.prediction is not None:
            p = self.prediction
            measured = f" ({(p.ms - lat.median_ms) / lat.median_ms:+.1%} from measured)" if lat.median_ms else ""
            how = (
                f"per-call cost {p.overhead.median_ms:.4f} ms + the layers"
                if p.calibration is None
                else f"the layers' sum {p.summed_ms:.4f} ms calibrated on {p.calibration.networks} whole networks"
            )
            lines.append(f"table       {p.ms:.4f} ms predicted = {how}{measured}; the plain sum {p.raw_ms:.4f} ms")
        for each in self.latencies:
            lines.append(f"measured    {each.line()}")
        lines.append(
            f"method      median of {lat.runs} runs x {lat.calls_per_run} calls after {lat.warmup} warm-up calls, "
            f"{lat.rounds} round{'s' if lat.rounds > 1 else ''} (re-measured while IQR/median > "
            f"{lat.max_spread:.0%}), load average {lat.load:.1f} on {lat.cores} cores"
        )
        if accelerator is not None:
            lines.append(
                f"accelerator {accelerator.cycles:,} cycles on {accelerator.arch.name} ({accelerator.engine} engine), "
                f"{accelerator.energy_mj:.4f} mJ; MACs {self.workload.macs:,}"
            )
        warnings = {each.warning for each in self.latencies if each.warning}
        lines += [f"warning     {text}" for text in sorted(warnings)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def measure_design(
    module: nn.Module,
    workload: Workload,
    settings: TimingSettings | None = None,
    label: str = "",
    table: LatencyTable | bool = True,
) -> DeviceProfile:
    """`module` timed on the settings' device at the workload's batch (1, as traced) and at the settings' batch,
    and predicted from the per-layer
    table (`table`: a LatencyTable, True for the cached one of these settings, False for none)."""
    settings = settings or TimingSettings()
    shape = tuple(workload.input_shape)
    latencies = [measure(module, shape, settings)]
    if settings.batch != shape[0]:
        latencies.append(measure(module, (settings.batch, *shape[1:]), settings))
    chosen = LatencyTable(settings) if table is True else table if isinstance(table, LatencyTable) else None
    prediction = chosen.predict(module, shape) if chosen is not None else None
    fingerprint = chosen.fingerprint if chosen is not None else ""
    return DeviceProfile(label, workload, settings, latencies, prediction, fingerprint)

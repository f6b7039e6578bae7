"""How inference latency is measured on a device: each setting declared once (flags and keywords derive from it).

The method is the one that gives repeatable medians on shared machines: a fixed thread count (one by default:
two threads on two busy cores were too noisy to use), warm-up calls, the median of at least 50 timed runs, the
interquartile range recorded beside it, and whole rounds re-measured while the spread stays above a limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codesign.config import check, setting
from codesign.errors import CodesignError
from codesign.registry import RUNTIMES

DEVICE_ENGINE = "device"  # the profile engine that times the model instead of costing it on an accelerator
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class TimingSettings:
    """How latency is measured on a device (--engine device, the device_latency objective)."""

    device: str = setting("cpu", help="where the latency is measured: cpu, cuda or cuda:N")
    runtime: str = setting("torch", choices=RUNTIMES.names(), help="what runs the model: " + RUNTIMES.describe())
    threads: int = setting(1, min=1, help="intra- and inter-op threads of the runtime (1 is steadiest on shared cores)")
    batch: int = setting(
        1, min=1, help="profile: also time this batch size (throughput); search: device_latency is one batch of it"
    )
    warmup: int = setting(10, min=0, help="untimed calls before the timed runs")
    runs: int = setting(50, min=1, help="timed runs per round; the latency is their median")
    rounds: int = setting(3, min=0, help="more rounds of runs, at most, while the spread is above --max-spread")
    max_spread: float = setting(0.10, above=0, help="IQR / median above which a round is re-measured")
    run_ms: float = setting(
        1.0, min=0, help="calls per timed run chosen so that a run lasts at least this long (ms; 0: one call)"
    )
    calibrate: int = setting(
        30, min=0, help="networks timed whole, once per device, to correct the latency table's sum (0: no correction)"
    )

    def __post_init__(self) -> None:
        check(self, "timing settings")
        if not _DEVICE.fullmatch(self.device):
            raise CodesignError(f"device {self.device!r}: use cpu, cuda or cuda:N")

    def search_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The input a search times its designs on: a batch of `batch` images (one by default)."""
        return (self.batch, *image_shape)

    @property
    def cuda(self) -> bool:
        """Whether the model runs on a CUDA GPU."""
        return self.device.startswith("cuda")

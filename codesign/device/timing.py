"""Timing one network on a device: warm-up, rounds of timed runs, the median and its spread, and the conditions.

A run is a few calls back to back (enough to last `run_ms`, so that the clock's own cost and a single
interruption weigh little); its time divided by the calls is one sample of the latency. A round is `runs`
samples; while its IQR / median is above `max_spread`, up to `rounds` more rounds are measured and the steadiest
is kept. The load average is read before timing: when other work shares the cores, the result says so.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from codesign.device.settings import TimingSettings
from codesign.errors import CodesignError
from codesign.registry import RUNTIMES

if TYPE_CHECKING:
    import torch
    from torch import nn

    from codesign.device.runtimes import Session

_MAX_CALLS = 100_000  # calls per run, at most (a call that takes nanoseconds is no network)


@dataclass(frozen=True)
class Latency:
    """A measured inference latency and how it was measured."""

    median_ms: float  # per call (per batch of `batch` inputs)
    iqr_ms: float  # interquartile range of the kept round's samples
    runs: int  # timed runs in the kept round
    rounds: int  # rounds measured (1 + re-measurements)
    calls_per_run: int
    threads: int
    runtime: str
    device: str  # as given: cpu, cuda, cuda:1
    device_name: str  # the CPU's model or the GPU's name
    batch: int
    warmup: int
    load: float  # the 1-minute load average when timing began
    cores: int  # the cores this process may run on
    max_spread: float = 0.10

    @property
    def spread(self) -> float:
        """IQR / median."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else math.inf

    @property
    def noisy(self) -> bool:
        """The spread stayed above the limit in every round."""
        return self.spread > self.max_spread

    @property
    def throughput(self) -> float:
        """Inputs per second at this batch size."""
        return self.batch * 1e3 / self.median_ms if self.median_ms > 0 else 0.0

    @property
    def warning(self) -> str | None:
        """Why this number may be slower or noisier than on an idle machine (one line), or None."""
        problems = []
        if busy(self.load, self.cores, self.threads):
            problems.append(
                f"load average {self.load:.1f} on {self.cores} cores: other work shared the cores this "
                f"{self.threads}-thread timing ran on"
            )
        if self.noisy:
            problems.append(f"IQR/median {self.spread:.0%} after {self.rounds} rounds (limit {self.max_spread:.0%})")
        return "; ".join(problems) or None

    def line(self) -> str:
        """`0.412 ms (IQR 0.010 ms, 2.4 %), 2,427 inputs/s at batch 1`."""
        return (
            f"{self.median_ms:.4g} ms (IQR {self.iqr_ms:.3g} ms, {self.spread:.1%}), {self.throughput:,.0f} inputs/s "
            f"at batch {self.batch}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, with the spread, throughput and warning."""
        return {**asdict(self), "spread": self.spread, "throughput": self.throughput, "warning": self.warning}


def busy(load: float, cores: int, threads: int) -> bool:
    """Whether a load average means other work competes for the cores a timing of `threads` threads needs (the
    timing process itself counts about one)."""
    return load > max(1.0, cores - threads + 1.0) + 0.5


def cores() -> int:
    """The cores this process may run on."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (0 where the system has none)."""
    with contextlib.suppress(AttributeError, OSError):
        return os.getloadavg()[0]
    return 0.0


@cache
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo, else what the platform says)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        for line in info:
            if line.lower().startswith("model name"):
                return " ".join(line.partition(":")[2].split())
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: str) -> str:
    """The name of the device a timing runs on: the CPU's model, or torch's name of the GPU."""
    if not device.startswith("cuda"):
        return cpu_name()
    import torch

    if not torch.cuda.is_available():
        raise CodesignError(f"device {device}: torch sees no CUDA GPU here; time on --device cpu")
    return str(torch.cuda.get_device_name(device))


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set for the timing and restored after (inter-op threads can be set only once
    per process, before any parallel work: set when still possible)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """First quartile, median and third quartile (linear interpolation, as numpy's default)."""
    ordered = sorted(samples)
    n = len(ordered)

    def at(q: float) -> float:
        position = q * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return at(0.25), at(0.5), at(0.75)


def calls_per_run(session: Session, run_ms: float) -> int:
    """How many back-to-back calls make a timed run last `run_ms` (one at least)."""
    if run_ms <= 0:
        return 1
    one = sorted(session.time(1) for _ in range(5))[2]
    return max(1, min(_MAX_CALLS, math.ceil(run_ms / 1e3 / max(one, 1e-9))))


def time_session(session: Session, settings: TimingSettings, batch: int = 1) -> Latency:
    """The median latency of one call of `session`, measured as `settings` say (threads already set)."""
    load = load_average()
    if settings.warmup:
        session.time(settings.warmup)
    calls = calls_per_run(session, settings.run_ms)
    best: tuple[float, float, float] | None = None
    rounds = 0
    while rounds <= settings.rounds:
        rounds += 1
        samples = [session.time(calls) / calls * 1e3 for _ in range(settings.runs)]
        q1, median, q3 = quartiles(samples)
        if best is None or (q3 - q1) / median < (best[2] - best[0]) / best[1]:
            best = (q1, median, q3)
        if (best[2] - best[0]) / best[1] <= settings.max_spread:
            break
    assert best is not None
    return Latency(
        median_ms=best[1],
        iqr_ms=best[2] - best[0],
        runs=settings.runs,
        rounds=rounds,
        calls_per_run=calls,
        threads=settings.threads,
        runtime=settings.runtime,
        device=settings.device,
        device_name=device_name(settings.device),
        batch=batch,
        warmup=settings.warmup,
        load=load,
        cores=cores(),
        max_spread=settings.max_spread,
    )


def measure(model: nn.Module, input_shape: Sequence[int], settings: TimingSettings | None = None) -> Latency:
    """The inference latency of `model` on an input of `input_shape` (batch first), measured as `settings` say."""
    import torch

    settings = settings or TimingSettings()
    example = torch.rand(*input_shape)
    with torch_threads(settings.threads):
        session = RUNTIMES.load(settings.runtime)(model, example, settings)
        return time_session(session, settings, batch=int(input_shape[0]))


def measure_example(model: nn.Module, example: torch.Tensor, settings: TimingSettings) -> Latency:
    """As `measure`, on a given input tensor."""
    with torch_threads(settings.threads):
        session = RUNTIMES.load(settings.runtime)(model, example, settings)
        return time_session(session, settings, batch=int(example.shape[0]))

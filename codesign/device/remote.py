"""Where a latency is timed: in this process, or on the Ray node that holds the target device.

A user names a Ray custom resource (`--latency-on rpi4`, the nodes started with `ray start --resources
'{"rpi4": 1}'`); every timing and every latency-table lookup then runs as a Ray task that needs one unit of
it, so it lands on such a node, and a node holding one unit times one network at a time. The tasks ask for no
CPU: a trial waiting for its timing holds its own CPUs, and a timing task that waited for them would never
start; and they leave the calling trial's placement group, whose bundles hold no such resource. What each call
returns says which node it ran on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from codesign.device.settings import TimingSettings

if TYPE_CHECKING:
    from torch import nn

    from codesign.network import CandidateSpec

T = TypeVar("T")


def node_id() -> str:
    """The Ray node this process runs on ("" outside Ray)."""
    import ray

    return str(ray.get_runtime_context().get_node_id()) if ray.is_initialized() else ""


def _here(fn: Callable[..., T], *args: Any) -> tuple[T, str]:
    return fn(*args), node_id()


@functools.cache
def _task() -> Any:
    import ray

    return ray.remote(num_cpus=0, max_retries=2)(_here)


def on_device(latency_on: str | None, fn: Callable[..., T], *args: Any) -> tuple[T, str]:
    """`fn(*args)` and the node it ran on: here, or (`latency_on` a Ray custom resource) as a Ray task needing
    one unit of it."""
    if latency_on is None:
        return _here(fn, *args)
    import ray

    # outside the trial's placement group (Tune's bundles hold CPUs, never the device's resource)
    task = _task().options(resources={latency_on: 1}, scheduling_strategy="DEFAULT")
    return tuple(ray.get(task.remote(fn, *args)))


@functools.cache
def _table(settings: TimingSettings) -> Any:
    from codesign.device.table import LatencyTable

    return LatencyTable(settings)


def predicted_ms(spec: CandidateSpec, settings: TimingSettings) -> float:
    """A spec's latency from the latency table of this machine's device (ms, one batch of the settings'
    `batch`): its network traced on the meta device, no weights made."""
    import torch

    with torch.device("meta"):
        model = spec.build()
    return float(_table(settings).predict(model, settings.search_shape(spec.input_shape)).ms)


def measured_ms(model: nn.Module, input_shape: Sequence[int], settings: TimingSettings) -> tuple[float, str]:
    """A model's latency measured on this machine's device (ms, the median) and the device's name."""
    from codesign.device.timing import measure

    latency = measure(model, input_shape, settings)
    return latency.median_ms, latency.device_name

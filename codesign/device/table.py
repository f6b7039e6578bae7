"""A per-layer latency table: each distinct layer timed once per device, runtime and thread count, and cached.

A network's latency is predicted before it is built or trained, from the layers its spec traces to: the
runtime's fixed per-call cost (an identity call, timed the same way) plus, for each layer, its timed latency
less that fixed cost, times its count. Without the correction every layer would charge the call's cost
again (Once-for-All and FBNet sum such tables; nn-Meter's finding is that the fixed costs decide how close the
sum comes). The work between layers (pooling, adds) is not in the table: it is what the prediction misses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign.cost.cache import CostCache, DamagedCache, _first_line, default_cache_path
from codesign.device.settings import TimingSettings
from codesign.device.timing import Latency, device_name, time_session, torch_threads
from codesign.registry import RUNTIMES

if TYPE_CHECKING:
    from torch import nn

    from codesign.workload import Layer, Workload

TABLE_VERSION = 1  # bump when what a table entry times changes, so stale entries are never served
_OVERHEAD = "overhead"
LATENCY_FILE = "device_latency.sqlite"


def default_latency_path() -> Path:
    """device_latency.sqlite beside the layer-cost cache ($CODESIGN_CACHE's folder, else ~/.cache/codesign)."""
    return default_cache_path().with_name(LATENCY_FILE)


class LatencyCache(CostCache):
    """Per-layer latencies in a file of their own, kept as the layer costs are (shared by every process, a
    damaged file moved aside with one warning): keyed by the device's fingerprint and the layer's shape."""

    def __init__(self, path: str | Path | None = None):
        super().__init__(path if path is not None else default_latency_path())
        self._latencies: dict[tuple[str, str, str], Latency] = {}

    @staticmethod
    def latency_key(fingerprint: str, what: str) -> tuple[str, str, str]:
        """The key of one entry: the device's fingerprint, the table's version and the layer (or `overhead`)."""
        return fingerprint, f"latency/v{TABLE_VERSION}", what

    def get_latency(self, key: tuple[str, str, str]) -> Latency | None:
        """The stored latency, or None."""
        if key in self._latencies:
            return self._latencies[key]

        def read() -> Latency | None:
            sql = "SELECT cost FROM layer_costs WHERE engine=? AND arch=? AND layer=?"
            row = self._retry(lambda: self._sql(sql, key).fetchone())
            if row is None:
                return None
            try:
                return Latency(**json.loads(row[0]))
            except (ValueError, TypeError) as exc:
                raise DamagedCache(f"an entry does not decode: {_first_line(exc)[:80]}") from None

        found = self._guard(read, None)
        if found is not None:
            self._latencies[key] = found
        return found

    def put_latency(self, key: tuple[str, str, str], latency: Latency) -> None:
        """Store a latency (last writer wins)."""
        self._latencies[key] = latency
        row = (*key, json.dumps(asdict(latency)), time.time())
        sql = "INSERT OR REPLACE INTO layer_costs VALUES (?, ?, ?, ?, ?)"
        self._guard(lambda: self._retry(lambda: self._sql(sql, row)), None)


def layer_module(layer: Layer) -> tuple[nn.Module, tuple[int, ...]]:
    """A module that does exactly one instance of `layer`'s work, followed by a ReLU (as nearly every layer of
    a CNN is; ONNX Runtime fuses it into the layer), and the input shape that makes its output P x Q."""
    from torch import nn

    if layer.kind == "linear":
        return nn.Sequential(nn.Linear(layer.C, layer.M), nn.ReLU()), (layer.N, layer.C)
    height = (layer.P - 1) * layer.Wstride + layer.Wdilation * (layer.R - 1) + 1
    width = (layer.Q - 1) * layer.Hstride + layer.Hdilation * (layer.S - 1) + 1
    groups = layer.C if layer.depthwise else 1
    out = layer.C if layer.depthwise else layer.M
    conv = nn.Conv2d(
        layer.C,
        out,
        (layer.R, layer.S),
        (layer.Wstride, layer.Hstride),
        dilation=(layer.Wdilation, layer.Hdilation),
        groups=groups,
    )
    return nn.Sequential(conv, nn.ReLU()), (layer.N, layer.C, height, width)


def fingerprint(settings: TimingSettings) -> str:
    """What decides a table's numbers: the device's name, the runtime and its version, the threads."""
    import torch

    version = f"torch {torch.__version__}"
    if settings.runtime == "onnxruntime":
        from codesign.device.runtimes import onnxruntime_module

        version += f", onnxruntime {onnxruntime_module().__version__}"
    name = device_name(settings.device)
    return f"{settings.device}={name}; {settings.runtime} ({version}); threads={settings.threads}"


@dataclass
class LayerRow:
    """One distinct layer's entry in a prediction: its timed latency, and what it adds once the per-call cost
    is taken off, times its count."""

    layer: Layer
    latency: Latency

    def added_ms(self, overhead_ms: float) -> float:
        """What this layer adds to the network's latency (all its instances)."""
        return max(0.0, self.latency.median_ms - overhead_ms) * self.layer.count


@dataclass
class Prediction:
    """A network's latency predicted from the table: the per-call cost plus each layer's share."""

    overhead: Latency
    rows: list[LayerRow]

    @property
    def ms(self) -> float:
        """Predicted latency of one call (ms)."""
        return self.overhead.median_ms + sum(row.added_ms(self.overhead.median_ms) for row in self.rows)

    @property
    def raw_ms(self) -> float:
        """The plain sum of the layers' latencies, without the per-call correction (for comparison)."""
        return sum(row.latency.median_ms * row.layer.count for row in self.rows)


class LatencyTable:
    """Per-layer latencies on one device, runtime and thread count: timed when first asked, cached after."""

    def __init__(self, settings: TimingSettings | None = None, cache: LatencyCache | bool | None = True):
        self.settings = settings or TimingSettings()
        self.cache = LatencyCache() if cache is True else cache if isinstance(cache, LatencyCache) else None
        self.fingerprint = fingerprint(self.settings)
        self._memory: dict[str, Latency] = {}

    def _entry(self, what: str, module: nn.Module | None, shape: Sequence[int]) -> Latency:
        if what in self._memory:
            return self._memory[what]
        key = LatencyCache.latency_key(self.fingerprint, what)
        found = self.cache.get_latency(key) if self.cache is not None else None
        if found is None:
            found = self._time(module, shape)
            if self.cache is not None:
                self.cache.put_latency(key, found)
        self._memory[what] = found
        return found

    def _time(self, module: nn.Module | None, shape: Sequence[int]) -> Latency:
        import torch

        from codesign.device.runtimes import identity_session

        example = torch.rand(*shape)
        with torch_threads(self.settings.threads):
            if module is None:
                session = identity_session(example, self.settings)
            else:
                session = RUNTIMES.load(self.settings.runtime)(module, example, self.settings)
            return time_session(session, self.settings, batch=int(shape[0]))

    def overhead(self) -> Latency:
        """The runtime's fixed cost of one call: an identity on a one-element input, timed the same way."""
        return self._entry(_OVERHEAD, None, (1, 1))

    def layer(self, layer: Layer) -> Latency:
        """One instance of `layer`, timed alone (with the per-call cost in it)."""
        module, shape = layer_module(layer)
        return self._entry(json.dumps(list(layer.key)), module, shape)

    def predict(self, workload: Workload | Sequence[Layer]) -> Prediction:
        """The latency of a network of these layers (a Workload or its layers), from the table."""
        layers = workload.layers if hasattr(workload, "layers") else workload
        return Prediction(self.overhead(), [LayerRow(layer, self.layer(layer)) for layer in layers])

    def to_dict(self) -> dict[str, Any]:
        """The table's identity (for reports)."""
        return {"fingerprint": self.fingerprint, "version": TABLE_VERSION}

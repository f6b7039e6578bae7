"""A per-layer latency table: each distinct layer timed once per device, runtime and thread count, and cached.

A network's latency is predicted before it is trained: the network is split where its Conv2d and Linear layers
start (a segment is a layer with the norm, activation and pooling that follow it: what a runtime fuses or runs
back to back, as nn-Meter's kernels are), each distinct segment is timed alone once, and the prediction is the
runtime's fixed per-call cost (an identity call, timed the same way) plus, for each segment, its latency less
that fixed cost, times its count. Without the correction every segment would charge the call's cost again
(Once-for-All and FBNet sum such tables; on small networks the fixed cost decides how close the sum comes).
A segment alone still differs from the same segment inside a network (layout conversions at its ends, cache
state): the sum is then corrected by a line fitted once per device on whole networks (codesign.device.calibration).
Finding the segments traces the network on PyTorch's meta device: shapes only, a fraction of a millisecond.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from codesign.cost.cache import CostCache, DamagedCache, _first_line, default_cache_path
from codesign.device.calibration import CALIBRATION_SEED, CALIBRATION_VERSION, Calibration, draw_networks, fit
from codesign.device.settings import TimingSettings
from codesign.device.timing import Latency, busy, cores, device_name, time_session, torch_threads
from codesign.registry import RUNTIMES
from codesign.workload import Layer

TABLE_VERSION = 2  # bump when what a table entry times changes, so stale entries are never served
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
        self.put_record(key, asdict(latency))

    def put_record(self, key: tuple[str, str, str], record: dict[str, Any]) -> None:
        """Store any JSON record under `key` (last writer wins)."""
        row = (*key, json.dumps(record), time.time())
        sql = "INSERT OR REPLACE INTO layer_costs VALUES (?, ?, ?, ?, ?)"
        self._guard(lambda: self._retry(lambda: self._sql(sql, row)), None)

    def get_record(self, key: tuple[str, str, str]) -> dict[str, Any] | None:
        """The JSON record stored under `key`, or None."""

        def read() -> dict[str, Any] | None:
            sql = "SELECT cost FROM layer_costs WHERE engine=? AND arch=? AND layer=?"
            row = self._retry(lambda: self._sql(sql, key).fetchone())
            if row is None:
                return None
            try:
                found = json.loads(row[0])
            except ValueError as exc:
                raise DamagedCache(f"an entry does not decode: {_first_line(exc)[:80]}") from None
            return found if isinstance(found, dict) else None

        return self._guard(read, None)


@dataclass(frozen=True)
class Segment:
    """A stretch of a network as it runs: one Conv2d or Linear layer and the leaf modules after it up to the next
    one (its norm, activation, pooling, flatten, dropout); the first segment may have no layer (what runs
    before it). Runtimes fuse within such a stretch (ONNX Runtime folds the norm into the convolution and the
    activation into it), so each is timed whole, once, as the table's entry for its layer."""

    layer: Layer | None
    tail: tuple[str, ...]  # the leaf modules after the layer: class name and settings, as torch prints them
    input_shape: tuple[int, ...]
    modules: tuple[Any, ...] = field(default=(), compare=False, repr=False)  # to rebuild it for timing
    count: int = 1
    output_shape: tuple[int, ...] = field(default=(), compare=False)  # follows from the rest

    @property
    def activations(self) -> int:
        """Elements in and out of one instance (what a runtime converts or copies at a segment's ends)."""
        return math.prod(self.input_shape) + (math.prod(self.output_shape) if self.output_shape else 0)

    @property
    def key(self) -> str:
        """What makes two segments the same work (the layer's problem, what follows it, the input's shape)."""
        return json.dumps(
            [None if self.layer is None else list(self.layer.key), list(self.tail), list(self.input_shape)]
        )

    @property
    def label(self) -> str:
        """`conv C3 M6 P28 Q28 R5 S5 s1 + BatchNorm2d, ReLU, MaxPool2d`."""
        head = "(input)" if self.layer is None else f"{self.layer.kind} {self.layer.shape}"
        names = [t.partition("(")[0] for t in self.tail]
        return head + (" + " + ", ".join(names) if names else "")

    def module(self) -> nn.Module:
        """A fresh module doing this segment's work (parameters newly initialised on the CPU)."""
        import copy

        from torch import nn

        fresh = nn.Sequential(*(copy.deepcopy(m) for m in self.modules)).to_empty(device="cpu")
        for sub in fresh.modules():  # to_empty leaves memory as it was: give every tensor real values
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
        return fresh.eval()


_MAC_LAYERS = ("Conv2d", "Linear")


def segments(model: nn.Module, input_shape: Sequence[int]) -> list[Segment]:
    """The distinct segments of `model` on an input of `input_shape` (batch first), counted, in the order they
    run. The model is traced on PyTorch's meta device: shapes only, no arithmetic and no weights touched."""
    import copy

    import torch
    from torch import nn

    from codesign.workload import conv_layer, linear_layer

    meta = copy.deepcopy(model).to("meta")
    ran: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...]]] = []

    def seen(module: nn.Module, inputs: tuple, output: Any) -> None:
        shape = tuple(inputs[0].shape) if inputs and isinstance(inputs[0], torch.Tensor) else ()
        out = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        ran.append((module, shape, out))

    leaves = [m for m in meta.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(seen) for m in leaves]
    try:
        with torch.no_grad():
            meta.eval()(torch.empty(*input_shape, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    batch = int(input_shape[0])
    groups: list[tuple[Layer | None, list[nn.Module], tuple[int, ...]]] = []
    outputs: list[tuple[int, ...]] = []  # each group's output: its last module's
    for module, shape, out in ran:
        kind = type(module).__name__
        if isinstance(module, nn.Conv2d) and kind in _MAC_LAYERS:
            groups.append((conv_layer(module, torch.Size(out), "", batch), [module], shape))
            outputs.append(out)
        elif isinstance(module, nn.Linear) and kind in _MAC_LAYERS and len(shape) == 2:
            groups.append((linear_layer(module, "", batch), [module], shape))
            outputs.append(out)
        elif groups:
            groups[-1][1].append(module)
            outputs[-1] = out
        else:
            groups.append((None, [module], shape))
            outputs.append(out)
    merged: dict[str, Segment] = {}
    for (layer, modules, shape), out in zip(groups, outputs):
        tail = tuple(f"{type(m).__name__}({m.extra_repr()})" for m in modules[1 if layer is not None else 0 :])
        segment = Segment(layer, tail, shape, tuple(modules), output_shape=out)
        found = merged.get(segment.key)
        merged[segment.key] = segment if found is None else replace(found, count=found.count + 1)
    return list(merged.values())


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
class SegmentRow:
    """One distinct segment's entry in a prediction: its timed latency, and what it adds once the per-call cost
    is taken off, times its count."""

    segment: Segment
    latency: Latency

    def added_ms(self, overhead_ms: float) -> float:
        """What this segment adds to the network's latency (all its instances)."""
        return max(0.0, self.latency.median_ms - overhead_ms) * self.segment.count


@dataclass
class Prediction:
    """A network's latency predicted from the table: the per-call cost plus each layer's share, corrected by the
    table's calibration when it has one."""

    overhead: Latency
    rows: list[SegmentRow]
    calibration: Calibration | None = None

    @property
    def summed_ms(self) -> float:
        """The per-call cost plus each segment's share, before the calibration."""
        return self.overhead.median_ms + sum(row.added_ms(self.overhead.median_ms) for row in self.rows)

    @property
    def features(self) -> tuple[float, float, float, float]:
        """What the calibration weighs (codesign.device.calibration.FEATURES): 1, Σ segments less the per-call
        cost (ms), segment calls, activation elements in and out of them (millions)."""
        over = self.overhead.median_ms
        return (
            1.0,
            sum(row.added_ms(over) for row in self.rows),
            float(sum(row.segment.count for row in self.rows)),
            sum(row.segment.activations * row.segment.count for row in self.rows) / 1e6,
        )

    @property
    def ms(self) -> float:
        """Predicted latency of one call (ms)."""
        if self.calibration is None:
            return self.summed_ms
        return self.calibration.apply(self.overhead.median_ms, self.features)

    @property
    def raw_ms(self) -> float:
        """The plain sum of the layers' latencies, without the per-call correction (for comparison)."""
        return sum(row.latency.median_ms * row.segment.count for row in self.rows)


class LatencyTable:
    """Per-layer latencies on one device, runtime and thread count: timed when first asked, cached after."""

    def __init__(self, settings: TimingSettings | None = None, cache: LatencyCache | bool | None = True):
        self.settings = settings or TimingSettings()
        self.cache = LatencyCache() if cache is True else cache if isinstance(cache, LatencyCache) else None
        self.fingerprint = fingerprint(self.settings)
        self._memory: dict[str, Latency] = {}
        self._calibrations: dict[int, Calibration] = {}  # by batch size

    def _entry(self, what: str, segment: Segment | None, shape: Sequence[int]) -> Latency:
        if what in self._memory:
            return self._memory[what]
        key = LatencyCache.latency_key(self.fingerprint, what)
        found = self.cache.get_latency(key) if self.cache is not None else None
        if found is None:
            found = self._time(segment, shape)
            if self.cache is not None:
                self.cache.put_latency(key, found)
        self._memory[what] = found
        return found

    def _time(self, segment: Segment | None, shape: Sequence[int]) -> Latency:
        import torch

        from codesign.device.runtimes import identity_session

        example = torch.rand(*shape)
        with torch_threads(self.settings.threads):
            if segment is None:
                session = identity_session(example, self.settings)
            else:
                session = RUNTIMES.load(self.settings.runtime)(segment.module(), example, self.settings)
            return time_session(session, self.settings, batch=int(shape[0]))

    def overhead(self) -> Latency:
        """The runtime's fixed cost of one call: an identity on a one-element input, timed the same way."""
        return self._entry(_OVERHEAD, None, (1, 1))

    def segment(self, segment: Segment) -> Latency:
        """One instance of `segment`, timed alone (with the per-call cost in it)."""
        return self._entry(segment.key, segment, segment.input_shape)

    def summed(self, model: nn.Module, input_shape: Sequence[int]) -> Prediction:
        """The table's sum for `model`, before any calibration."""
        found = segments(model, input_shape)
        return Prediction(self.overhead(), [SegmentRow(s, self.segment(s)) for s in found])

    def predict(self, model: nn.Module, input_shape: Sequence[int]) -> Prediction:
        """The latency of `model` on an input of `input_shape` (batch first), from the table, calibrated when the
        settings ask for it (the first prediction on a new device fits the calibration)."""
        return replace(self.summed(model, input_shape), calibration=self.calibration(int(input_shape[0])))

    def calibration(self, batch: int = 1) -> Calibration | None:
        """The fitted correction of this device's table at this batch size (fitted now when not cached), or None
        when `settings.calibrate` is 0."""
        count = self.settings.calibrate
        if count <= 0:
            return None
        if batch in self._calibrations:
            return self._calibrations[batch]
        what = f"calibration/v{CALIBRATION_VERSION}/{count}/seed{CALIBRATION_SEED}/batch{batch}"
        key = LatencyCache.latency_key(self.fingerprint, what)
        record = self.cache.get_record(key) if self.cache is not None else None
        found = None
        if record is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                found = Calibration.from_dict(record)
        if found is None:
            found = self._fit(count, batch)
            if self.cache is not None:
                self.cache.put_record(key, found.to_dict())
        self._calibrations[batch] = found
        return found

    def _fit(self, count: int, batch: int) -> Calibration:
        """Time `count` networks drawn from the shipped spaces whole at `batch`, and fit the correction to them."""
        import torch

        from codesign.device.timing import measure_example

        print(
            f"[codesign] calibrating the latency table of {self.fingerprint} at batch {batch}: {count} networks "
            "timed whole, once (--calibrate 0 skips it)",
            file=sys.stderr,
            flush=True,
        )
        features, excess, measured, loads = [], [], [], []
        for _, spec in draw_networks(count, CALIBRATION_SEED):
            model = spec.build()
            shape = (batch, *spec.input_shape)
            summed = self.summed(model, shape)
            whole = measure_example(model, torch.rand(*shape), self.settings)
            features.append(summed.features)
            excess.append(whole.median_ms - summed.overhead.median_ms)
            measured.append(whole.median_ms)
            loads.append(whole.load)
        coefficients = fit(features, excess, measured)
        draft = Calibration(coefficients, len(measured), CALIBRATION_SEED, 0.0, max(loads, default=0.0))
        over = self.overhead().median_ms
        hits = [abs(draft.apply(over, f) - m) <= 0.10 * m for f, m in zip(features, measured)]
        found = replace(draft, fit_within10=sum(hits) / len(hits))
        if busy(found.load, cores(), self.settings.threads):
            print(
                f"[codesign] warning: load average up to {found.load:.1f} on {cores()} cores while calibrating: "
                f"the correction fits {found.fit_within10:.0%} of its networks within ±10 %; delete "
                f"{LATENCY_FILE} to calibrate again on quieter cores",
                file=sys.stderr,
                flush=True,
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        """The table's identity (for reports)."""
        return {
            "fingerprint": self.fingerprint,
            "version": TABLE_VERSION,
            "calibration": {str(b): c.to_dict() for b, c in sorted(self._calibrations.items())} or None,
        }

"""Inference latency measured on a real device: this machine's CPU or GPU, through PyTorch or ONNX Runtime.

The accelerator's cycles come from a model of hardware that is not there; these numbers are timed. `measure`
times a whole network (warm-up, then the median of many timed runs, re-measured while noisy) and says how
(`Latency`); `LatencyTable` times each distinct layer once per device, runtime and thread count, caches it,
and predicts a network as the runtime's fixed per-call cost plus the sum of its layers, before any training,
corrected by a line fitted once per device on whole networks (`calibration`).
Importing this package imports neither torch nor onnxruntime: the timing modules do, when first used.
"""

from __future__ import annotations

from codesign.device.settings import DEVICE_ENGINE, TimingSettings

__all__ = ["DEVICE_ENGINE", "TimingSettings"]

"""What runs a network on a device so that it can be timed: PyTorch eager or ONNX Runtime, on the CPU or a GPU.

A `Session` holds one network loaded for one input: `time(calls)` runs it `calls` times back to back and
returns the seconds they took, measured as the device needs it (the CPU's monotonic clock; on CUDA, events
recorded on the stream and a synchronise, so that queued kernels are counted and the host's timer is not).
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codesign.errors import CodesignError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from codesign.device.settings import TimingSettings


@dataclass
class Session:
    """One network loaded on a device for one input shape, ready to be timed."""

    call: Callable[[], Any]  # one inference
    cuda_device: str | None = None  # "cuda:N" when the work runs on a GPU (timed with CUDA events)

    def time(self, calls: int) -> float:
        """Seconds that `calls` inferences take back to back (CUDA: between events, after a synchronise)."""
        if self.cuda_device is None:
            start = time.perf_counter()
            for _ in range(calls):
                self.call()
            return time.perf_counter() - start
        import torch

        with torch.cuda.device(self.cuda_device):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            begin.record()
            for _ in range(calls):
                self.call()
            end.record()
            end.synchronize()
            return float(begin.elapsed_time(end)) / 1e3


def _on_device(model: nn.Module, settings: TimingSettings) -> tuple[nn.Module, str | None]:
    """An inference copy of `model` on the settings' device (the caller's module is left as it was)."""
    import torch

    if settings.cuda and not torch.cuda.is_available():
        raise CodesignError(f"device {settings.device}: torch sees no CUDA GPU here; time on --device cpu")
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(settings.device), (settings.device if settings.cuda else None)


def torch_session(model: nn.Module, example: torch.Tensor, settings: TimingSettings) -> Session:
    """PyTorch eager: the module called under inference_mode on the device."""
    import torch

    net, cuda = _on_device(model, settings)
    x = example.to(settings.device)

    def call() -> Any:
        with torch.inference_mode():
            return net(x)

    return Session(call, cuda)


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """The network as an ONNX model for this input (TorchScript exporter: a fraction of a second per model)."""
    import torch

    net = copy.deepcopy(model).eval().cpu()
    buffer = io.BytesIO()
    try:
        import onnx  # noqa: F401  (the exporter needs it: say so here, not deep inside)

        with warnings.catch_warnings():  # the exporter's advice about its successor is not the user's concern
            warnings.simplefilter("ignore")
            # torch's hint names paths only; the TorchScript exporter writes to any binary file object
            target: Any = buffer
            torch.onnx.export(net, (example.cpu(),), target, dynamo=False, input_names=["x"], output_names=["y"])
    except ImportError as exc:
        raise _needs_extra(exc) from None
    return buffer.getvalue()


def _needs_extra(exc: ImportError) -> CodesignError:
    return CodesignError(f"the onnxruntime runtime needs the device extra: pip install 'codesign[device]' ({exc})")


def onnxruntime_module() -> Any:
    """onnxruntime, imported now; its absence is one line saying what to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise _needs_extra(exc) from None
    return onnxruntime


def ort_session(model_bytes: bytes, settings: TimingSettings) -> Any:
    """An ONNX Runtime InferenceSession with the settings' threads (intra- and inter-op), all graph optimisations."""
    ort = onnxruntime_module()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.inter_op_num_threads = settings.threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are not the user's
    providers: list[Any] = ["CPUExecutionProvider"]
    if settings.cuda:
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise CodesignError("onnxruntime has no CUDA provider here: pip install onnxruntime-gpu, or --device cpu")
        index = int(settings.device.partition(":")[2] or 0)
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ort.InferenceSession(model_bytes, options, providers=providers)


def onnx_session(model: nn.Module, example: torch.Tensor, settings: TimingSettings) -> Session:
    """ONNX Runtime on the network exported to ONNX; input and output through host memory, as a user calls it."""
    session = ort_session(onnx_bytes(model, example), settings)
    feed = {session.get_inputs()[0].name: example.detach().cpu().numpy()}

    def call() -> Any:
        return session.run(None, feed)

    # session.run returns only when its outputs are in host memory: the host's clock times CUDA work too
    return Session(call)


def identity_session(example: torch.Tensor, settings: TimingSettings) -> Session:
    """A call that does no work on the same runtime: what every call costs however small the network."""
    from torch import nn

    if settings.runtime == "onnxruntime":
        from onnx import TensorProto, helper

        shape = list(example.shape)
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "identity",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        proto.ir_version = min(proto.ir_version, 10)  # what the onnxruntime releases of the last years read
        session = ort_session(proto.SerializeToString(), settings)
        feed = {"x": example.detach().cpu().numpy()}
        return Session(lambda: session.run(None, feed))
    return torch_session(nn.Identity(), example, settings)

"""The interface every cost engine implements (registered by name in codesign.registry.ENGINES).

An engine is a frozen dataclass: its fields are its options (`codesign.cost.get_engine` passes it the ones it
has), each with a default, so that `Engine()` is the engine as users get it by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from codesign.arch import Arch
from codesign.cost.layer_cost import LayerCost

if TYPE_CHECKING:
    from codesign.workload import Layer


class Engine(Protocol):
    """Maps one layer onto an accelerator and returns its cost."""

    @property
    def name(self) -> str:
        """What users pass to --engine and what LayerCost.engine says."""

    @property
    def parallel(self) -> bool:
        """Slow, in separate processes: cost_of maps several layers at once."""

    def unavailable(self) -> str | None:
        """Why the engine cannot run on this machine (with what to do), or None when it can."""

    def cache_key(self, arch: Arch) -> str:
        """What, besides the arch's hardware and the layer, decides this engine's numbers."""

    def cost(self, layer: Layer, arch: Arch) -> LayerCost:
        """The cost of one execution of `layer` on `arch`."""

"""What every cost engine returns for one layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LayerCost:
    """Energy and cycles of one execution of a layer (multiply by `layer.count` for the network)."""

    engine: str
    energy_pj: float
    cycles: int
    utilization: float
    level_energy_pj: dict[str, float] = field(default_factory=dict)
    mapping: str = ""
    timeloop_mapping: dict | None = None
    seconds: float = 0.0  # how long the engine took to map this layer when it was computed
    mapper: str = ""  # the analytic engine's mapper (exhaustive, random-pruned); "" for the external tools

    def to_dict(self) -> dict:
        """JSON-friendly form (also what the cache stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LayerCost:
        """Inverse of `to_dict`."""
        return cls(**data)

"""What every cost engine returns for one layer, and how a loop nest is printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from codesign.arch import Arch
from codesign.cost.nest import DIMS, LEVEL_NAMES, LEVEL_ORDER, SPATIAL, Evaluation, NestBatch
from codesign.cost.timeloop_map import timeloop_mapping
from codesign.workload import Layer


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

    def to_dict(self) -> dict:
        """JSON-friendly form (also what the cache stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LayerCost":
        """Inverse of `to_dict`."""
        return cls(**data)


def loop_nest_text(nest: NestBatch, i: int = 0) -> str:
    """The mapping as one line per level, outer to inner, e.g. `DRAM: Q8 | shared_glb[I]: P2 ...`."""
    keep = "".join(t[0] for t, k in zip(("W", "I", "O"), nest.glb_keep[i]) if k)
    parts: dict[str, list[str]] = {}
    for level, dim, bound, kind in nest.loops(i):
        name = "spatial" if level == SPATIAL else LEVEL_NAMES[level]
        parts.setdefault(name, []).append(f"{DIMS[dim]}{bound}{kind}")
    order = ["DRAM", "shared_glb", "spatial", "pe_spad", "weight_reg", "input_activation_reg",
             "output_activation_reg"]
    text = []
    for name in order:
        label = f"shared_glb[{keep or '-'}]" if name == "shared_glb" else name
        if name in parts or name == "shared_glb":
            text.append(f"{label}: {' '.join(parts.get(name, [])) or '-'}")
    return " | ".join(text)


def cost_from_evaluation(layer: Layer, arch: Arch, nest: NestBatch, ev: Evaluation, engine: str) -> LayerCost:
    """LayerCost of the single mapping in `nest` (already evaluated as `ev`)."""
    cycles = int(ev.cycles[0])
    return LayerCost(
        engine=engine,
        energy_pj=float(ev.energy_pj[0]),
        cycles=cycles,
        utilization=layer.macs / (cycles * arch.pe_array.x * arch.pe_array.y),
        level_energy_pj={name: float(ev.level_energy[name][0]) for name in LEVEL_ORDER if name in ev.level_energy},
        mapping=loop_nest_text(nest),
        timeloop_mapping=timeloop_mapping(nest),
    )


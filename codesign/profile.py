"""Profile a whole network: workload → per-layer costs → totals, rubric points and a printed table."""

from __future__ import annotations

from dataclasses import dataclass

from codesign.arch import Arch
from codesign.cost import CostCache, Engine, LayerCost, cost_of, get_engine
from codesign.cost.analytic import AnalyticEngine
from codesign.registry import MAPPERS
from codesign.rubric import PJ_PER_MJ, Rubric, Score
from codesign.workload import Layer, Workload


@dataclass
class NetworkCost:
    """A network's layers with their costs, summed as the lab's profiler sums them (layers in sequence)."""

    workload: Workload
    arch: Arch
    costs: list[LayerCost]
    engine: str

    @property
    def energy_pj(self) -> float:
        return sum(c.energy_pj * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def cycles(self) -> int:
        return sum(c.cycles * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def peak_activation_bytes(self) -> int:
        return self.workload.peak_activation_bytes

    @property
    def printed_uj(self) -> float:
        """The total the lab's profiler prints: each layer rounded to 0.01 uJ, then summed (2023 profiler)."""
        return sum(round(c.energy_pj / 1e6, 2) * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def mapper(self) -> str:
        """The analytic engine's mapper that chose these mappings ("" for the external engines)."""
        return self.costs[0].mapper if self.costs else ""

    def score(self, rubric: Rubric, error: float | None = None) -> Score:
        """Rubric points (accuracy points only when an error rate is given)."""
        return rubric.score(error, self.energy_pj, self.cycles, self.peak_activation_bytes)

    def to_dict(self, rubric: Rubric, other: NetworkCost | None = None) -> dict:
        """JSON-friendly report: `layers` and `total`; with `other` (the other mapper) its numbers beside."""
        score = self.score(rubric)
        layers = [dict(layer.to_dict(), **cost.to_dict()) for layer, cost in zip(self.workload.layers, self.costs)]
        totals = {}
        if other is not None:
            for row, cost in zip(layers, other.costs):
                row[ROLES[other.mapper]] = {"mapper": other.mapper, "energy_pj": cost.energy_pj, "cycles": cost.cycles}
            totals = {
                ROLES[n.mapper]: {"mapper": n.mapper, "energy_pj": n.energy_pj, "cycles": n.cycles}
                for n in (self, other)
            }
        return {
            "arch": self.arch.name,
            "engine": self.engine,
            "mapper": self.mapper,
            "input_shape": list(self.workload.input_shape),
            "layers": layers,
            "total": {
                "energy_pj": self.energy_pj,
                "energy_mj": self.energy_pj / PJ_PER_MJ,
                "energy_uj_printed": self.printed_uj,
                "cycles": self.cycles,
                "macs": self.workload.macs,
                "peak_activation_bytes": self.peak_activation_bytes,
                "peak_activation_module": self.workload.peak_module,
                "peak_activation_ok": rubric.peak_ok(self.peak_activation_bytes),
                "parameters": self.workload.parameters,
                "energy_points": score.energy_points,
                "latency_points": score.latency_points,
                **totals,
            },
        }


def profile_workload(
    workload: Workload,
    arch: Arch,
    engine: Engine | str = "analytic",
    cache: CostCache | None = None,
    progress: bool = False,
) -> NetworkCost:
    """Cost every layer of `workload` on `arch`."""
    engine = get_engine(engine) if isinstance(engine, str) else engine
    return NetworkCost(workload, arch, cost_of(workload.layers, arch, engine, cache, progress), engine.name)


# What each analytic mapper's numbers mean to a user of the lab's rubric (graded, best).
ROLES = {entry.name: entry.role for entry in MAPPERS.entries()}


def other_mapper(net: NetworkCost, cache: CostCache | None = None) -> NetworkCost | None:
    """The same network under the analytic engine's other mapper (graded beside best), None for other engines."""
    if net.engine != "analytic" or net.mapper not in ROLES:
        return None
    other = next(m for m in ROLES if m != net.mapper)
    return profile_workload(net.workload, net.arch, AnalyticEngine(other), cache)


def format_comparison(base: NetworkCost, other: NetworkCost) -> str:
    """Per layer, analytic vs another engine: cycles and energy side by side with the % difference, and the
    seconds the other engine took to map the layer (when it was first mapped; later runs read the cache)."""

    def pct(a: float, b: float) -> str:
        return f"{(b - a) / a:+7.1%}" if a else "    n/a"

    head = (
        f"{'#':>2}  {'shape':<30} {'n':>2} {base.engine + ' cyc':>13} {other.engine + ' cyc':>13} {'diff':>7} "
        f"{base.engine + ' uJ':>12} {other.engine + ' uJ':>12} {'diff':>7} {'map s':>7}"
    )
    lines = [head, "-" * len(head)]
    for i, (layer, a, b) in enumerate(zip(base.workload.layers, base.costs, other.costs), 1):
        lines.append(
            f"{i:>2}  {layer.shape:<30} {layer.count:>2} {a.cycles:>13,} {b.cycles:>13,} "
            f"{pct(a.cycles, b.cycles)} {a.energy_pj / 1e6:>12.2f} {b.energy_pj / 1e6:>12.2f} "
            f"{pct(a.energy_pj, b.energy_pj)} {b.seconds:>7.1f}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<36} {base.cycles:>13,} {other.cycles:>13,} {pct(base.cycles, other.cycles)} "
        f"{base.energy_pj / 1e6:>12.2f} {other.energy_pj / 1e6:>12.2f} {pct(base.energy_pj, other.energy_pj)} "
        f"{sum(c.seconds for c in other.costs):>7.1f}"
    )
    return "\n".join(lines)


def format_table(net: NetworkCost, rubric: Rubric, show_mapping: bool = False, other: NetworkCost | None = None) -> str:
    """The per-layer table and totals that `codesign profile` prints; `other`: the other mapper's beside."""
    head = (
        f"{'#':>2}  {'layer':<24} {'kind':<9} {'shape':<30} {'n':>2} {'MACs':>11} {'cycles':>9} "
        f"{'energy uJ':>10} {'util':>5}"
    )
    role = ROLES.get(other.mapper, other.mapper) if other is not None else ""
    if other is not None:
        head += f" {role + ' cyc':>10} {role + ' uJ':>9}"
    engine = f"{net.engine} engine" + (f", {net.mapper} mapper" if net.mapper else "")
    lines = [f"{net.arch.name} ({engine}), input {tuple(net.workload.input_shape)}", head, "-" * len(head)]
    others = other.costs if other is not None else [None] * len(net.costs)
    for i, (layer, cost, alt) in enumerate(zip(net.workload.layers, net.costs, others), 1):
        line = (
            f"{i:>2}  {_short(layer):<24} {layer.kind:<9} {layer.shape:<30} {layer.count:>2} {layer.macs:>11,} "
            f"{cost.cycles:>9,} {cost.energy_pj / 1e6:>10.2f} {cost.utilization:>5.2f}"
        )
        lines.append(line + (f" {alt.cycles:>10,} {alt.energy_pj / 1e6:>9.2f}" if alt is not None else ""))
        if show_mapping:
            lines.append(f"    mapping: {cost.mapping}")
    lines.append("-" * len(head))
    score = net.score(rubric)
    peak = net.peak_activation_bytes
    ok = "ok" if rubric.peak_ok(peak) else "OVER THE LIMIT"
    beside_e = f"   ({role}: {other.energy_pj / PJ_PER_MJ:.4f} mJ)" if other is not None else ""
    beside_c = f"   ({role}: {other.cycles:,} cycles)" if other is not None else ""
    lines += [
        f"energy      {net.energy_pj / PJ_PER_MJ:.4f} mJ ({net.printed_uj:.2f} uJ as the lab's profiler prints it)   "
        f"-> {score.energy_points} points" + beside_e,
        f"latency     {net.cycles:,} cycles   -> {score.latency_points} points" + beside_c,
        f"peak act.   {peak:,} B (limit {rubric.peak_activation_limit_bytes:,} B: {ok}; "
        f"at `{net.workload.peak_module}`)",
        f"MACs        {net.workload.macs:,}   parameters {net.workload.parameters:,}",
    ]
    if other is not None:
        lines.append(MAPPER_NOTE)
    return "\n".join(lines)


def mapper_columns(net: NetworkCost, other: NetworkCost | None) -> dict[str, float]:
    """`graded_energy_pj`, `graded_cycles`, `best_energy_pj`, `best_cycles` of the analytic mappers profiled."""
    return {
        f"{ROLES[n.mapper]}_{key}": getattr(n, key)
        for n in (net, other)
        if n is not None and n.mapper in ROLES
        for key in ("energy_pj", "cycles")
    }


MAPPER_NOTE = (
    "graded: the mapping the lab's timeloop-mapper lands on (random-pruned, what the rubric awards); "
    "best: the best mapping of the same mapspace (exhaustive)"
)


def _short(layer: Layer) -> str:
    name = layer.names[0] if layer.names else "-"
    if len(layer.names) > 1:
        name += f" +{len(layer.names) - 1}"
    return name if len(name) <= 24 else "…" + name[-23:]

"""A design's profile: workload → per-layer costs → totals, rubric points and the table `codesign profile`
prints. One owner of "a profile": `codesign.profile` (codesign/api.py) makes one, `codesign profile` prints it."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from codesign.arch import Arch
from codesign.cost import CostCache, Engine, LayerCost, cost_of, get_engine
from codesign.cost.analytic import AnalyticEngine
from codesign.cost.external.scalesim import ScaleSimProfile
from codesign.device.profile import DeviceProfile
from codesign.errors import CodesignError
from codesign.registry import MAPPERS
from codesign.rubric import PJ_PER_MJ, Rubric, Score
from codesign.workload import Layer, Workload


@dataclass
class Profile:
    """A design's inference cost on an accelerator: each distinct layer's cost, the totals the lab's profiler
    sums (layers in sequence), the rubric's points for them and the table `codesign profile` prints."""

    workload: Workload = field(repr=False)
    arch: Arch = field(repr=False)
    costs: list[LayerCost] = field(repr=False)  # one per distinct layer of the workload (once; times `count`)
    engine: str
    label: str = ""  # the design's name
    rubric: Rubric = field(default_factory=Rubric, repr=False)
    other: Profile | None = field(default=None, repr=False)  # the analytic engine's other mapper (graded/best)
    baseline: Profile | None = field(default=None, repr=False)  # compare=True: the analytic engine's profile
    input_note: str = ""  # which input shape was profiled and why
    val_accuracy: float | None = None  # the design's validation accuracy, when its run or training recorded it
    device: DeviceProfile | None = field(default=None, repr=False)  # --engine device: the latency measured
    simulated: ScaleSimProfile | None = field(default=None, repr=False)  # --engine scalesim: its cycles, accesses

    @property
    def energy_pj(self) -> float:
        """Energy of one inference (pJ)."""
        return sum(c.energy_pj * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def energy_mj(self) -> float:
        """Energy of one inference (mJ, the rubric's unit)."""
        return self.energy_pj / PJ_PER_MJ

    @property
    def cycles(self) -> int:
        """Latency of one inference (cycles)."""
        return sum(c.cycles * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def peak_activation_bytes(self) -> int:
        """The largest activation footprint of any layer, as the lab counts it (bytes)."""
        return self.workload.peak_activation_bytes

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return self.workload.macs

    @property
    def parameters(self) -> int:
        """Trainable parameters."""
        return self.workload.parameters

    @property
    def printed_uj(self) -> float:
        """The total the lab's profiler prints: each layer rounded to 0.01 uJ, then summed (2023 profiler)."""
        return sum(round(c.energy_pj / 1e6, 2) * layer.count for layer, c in zip(self.workload.layers, self.costs))

    @property
    def mapper(self) -> str:
        """The analytic mapper whose mappings these totals are ("" for the external engines)."""
        return self.costs[0].mapper if self.costs else ""

    def _by_role(self, role: str) -> Profile | None:
        return next((p for p in (self, self.other) if p is not None and ROLES.get(p.mapper) == role), None)

    @property
    def graded_energy_pj(self) -> float | None:
        """Energy under the mapping the lab's timeloop-mapper lands on (random-pruned): what the rubric awards."""
        graded = self._by_role("graded")
        return None if graded is None else graded.energy_pj

    @property
    def graded_cycles(self) -> int | None:
        """Cycles under the graded mapping (random-pruned)."""
        graded = self._by_role("graded")
        return None if graded is None else graded.cycles

    @property
    def best_energy_pj(self) -> float | None:
        """Energy under the best mapping of the same mapspace (exhaustive): what a good compiler could reach."""
        best = self._by_role("best")
        return None if best is None else best.energy_pj

    @property
    def best_cycles(self) -> int | None:
        """Cycles under the best mapping (exhaustive)."""
        best = self._by_role("best")
        return None if best is None else best.cycles

    def mapper_columns(self) -> dict[str, float]:
        """`graded_energy_pj`, `graded_cycles`, `best_energy_pj`, `best_cycles` of the analytic mappers profiled."""
        return {
            f"{ROLES[p.mapper]}_{key}": getattr(p, key)
            for p in (self, self.other)
            if p is not None and p.mapper in ROLES
            for key in ("energy_pj", "cycles")
        }

    def score(self, error: float | None = None) -> Score:
        """Rubric points (accuracy points only when an error rate is given)."""
        return self.rubric.score(error, self.energy_pj, self.cycles, self.peak_activation_bytes)

    @property
    def energy_points(self) -> int:
        """The rubric's points for the energy."""
        return self.score().energy_points

    @property
    def latency_points(self) -> int:
        """The rubric's points for the latency."""
        return self.score().latency_points

    def points(self, accuracy: float) -> int:
        """Rubric points of this design at a given (test) accuracy; 0 when a hard constraint fails."""
        return self.score(error=1.0 - accuracy).total

    def rubric_line(self) -> str:
        """The rubric's total beside the per-objective points: what a profile gives, and what accuracy adds."""
        score, rules = self.score(), self.rubric
        top_error = rules.error_points[0][1] if rules.error_points else 0
        if not score.feasible:
            return f"rubric      0 of {rules.max_points} points: the peak activation breaks the rubric's limit"
        if self.val_accuracy is not None:
            full = self.score(error=1.0 - self.val_accuracy)
            return (
                f"rubric      {full.error_points} (validation accuracy {self.val_accuracy:.4f}) + "
                f"{score.energy_points} + {score.latency_points} = {full.total} of {rules.max_points} points, as "
                f"the search scored it (the final score takes the test error)"
            )
        return (
            f"rubric      {score.energy_points} + {score.latency_points} = {score.total} of {rules.max_points} "
            f"points; accuracy adds up to {top_error} once trained (`codesign train MODEL --final` scores the "
            f"test error)"
        )

    def to_dict(self) -> dict[str, Any]:
        """What `codesign profile --json` prints: `layers` and `total` (the other mapper's numbers beside, and
        why this input shape)."""
        score, other = self.score(), self.other
        known = self.score(None if self.val_accuracy is None else 1.0 - self.val_accuracy)
        layers = [dict(layer.to_dict(), **cost.to_dict()) for layer, cost in zip(self.workload.layers, self.costs)]
        totals = {}
        if other is not None:
            for row, cost in zip(layers, other.costs):
                row[ROLES[other.mapper]] = {"mapper": other.mapper, "energy_pj": cost.energy_pj, "cycles": cost.cycles}
            totals = {
                ROLES[p.mapper]: {"mapper": p.mapper, "energy_pj": p.energy_pj, "cycles": p.cycles}
                for p in (self, other)
            }
        measured = {} if self.device is None else {"device": self.device.to_dict()}
        if self.simulated is not None:
            measured["scalesim"] = self.simulated.to_dict()
        return {
            **measured,
            "arch": self.arch.name,
            "engine": self.engine,
            "mapper": self.mapper,
            "input_shape": list(self.workload.input_shape),
            "input_shape_reason": self.input_note,
            "layers": layers,
            "total": {
                "energy_pj": self.energy_pj,
                "energy_mj": self.energy_pj / PJ_PER_MJ,
                "energy_uj_printed": self.printed_uj,
                "cycles": self.cycles,
                "macs": self.workload.macs,
                "peak_activation_bytes": self.peak_activation_bytes,
                "peak_activation_module": self.workload.peak_module,
                "peak_activation_ok": self.rubric.peak_ok(self.peak_activation_bytes),
                "parameters": self.workload.parameters,
                "energy_points": score.energy_points,
                "latency_points": score.latency_points,
                "rubric_points": known.total,  # energy + latency, + accuracy when a validation accuracy is known
                "accuracy_points": known.error_points,
                "max_points": self.rubric.max_points,
                "val_accuracy": self.val_accuracy,
                **totals,
            },
        }

    def to_pandas(self) -> pd.DataFrame:
        """One row per distinct layer: shape, count, MACs, cycles, energy, utilization, mapping."""
        rows = self.to_dict()["layers"]
        table = pd.DataFrame(rows)
        table.insert(0, "layer", [", ".join(r["names"]) for r in rows])
        table["energy_uj"] = table["energy_pj"] / 1e6
        extra = []
        if self.other is not None:
            role = ROLES[self.other.mapper]
            table[f"{role}_cycles"] = [c.cycles for c in self.other.costs]
            table[f"{role}_energy_uj"] = [c.energy_pj / 1e6 for c in self.other.costs]
            extra = [f"{role}_cycles", f"{role}_energy_uj"]
        shape = ["layer", "kind", "count", "C", "M", "P", "Q", "R", "S", "Wstride", "macs"]
        keep = [*shape, "cycles", "energy_uj", *extra, "utilization", "mapping"]
        return table[[c for c in keep if c in table]]

    def table(self, show_mapping: bool = False) -> str:
        """The per-layer table and totals that `codesign profile` prints (the input shape with why, the rubric's
        total); with --engine device, the latency measured on the device instead."""
        if self.device is not None:
            return self.device.table()
        if self.simulated is not None:
            return self.simulated.table()
        lines = format_table(self, show_mapping).split("\n")
        if self.input_note:  # the shape on a line of its own, with why
            lines[0] = lines[0].rsplit(", input ", 1)[0]
            lines.insert(1, f"input {tuple(self.workload.input_shape)}: {self.input_note}")
        at = next((i for i, line in enumerate(lines) if line.startswith("peak act.")), len(lines))
        lines.insert(at, self.rubric_line())
        return "\n".join(lines)

    def compare(self, other: Profile) -> str:
        """This profile beside another engine's, layer by layer, with the % difference."""
        return format_comparison(self, other)

    def comparison(self) -> str:
        """The analytic engine's profile beside this one, layer by layer (what `codesign profile --compare`
        prints); profile with compare=True."""
        if self.simulated is not None and self.simulated.accelerator is not None:
            return self.simulated.table()  # SCALE-Sim's table has the analytic engine's columns beside
        if self.baseline is None:
            raise CodesignError("no comparison: profile with compare=True and another engine")
        return self.baseline.compare(self)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        mapper = f", {self.mapper} mapper" if self.mapper else ""
        head = (
            f"<b>{html.escape(self.label)}</b> on {html.escape(self.arch.name)} ({self.engine} engine"
            f"{mapper}): {self.energy_mj:.4f} mJ ({self.energy_points} points), {self.cycles:,} cycles "
            f"({self.latency_points} points), peak activation {self.peak_activation_bytes:,} B "
            f"(limit {self.rubric.peak_activation_limit_bytes:,} B)"
        )
        if self.other is not None:
            role = ROLES[self.other.mapper]
            head += (
                f"; {role} mapping: {self.other.energy_pj / PJ_PER_MJ:.4f} mJ, {self.other.cycles:,} cycles"
                f"<br><small>{html.escape(MAPPER_NOTE)}</small>"
            )
        body = self.to_pandas().to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        return f"<div><p>{head}</p>{body}</div>"


def profile_workload(
    workload: Workload,
    arch: Arch,
    engine: Engine | str = "analytic",
    cache: CostCache | None = None,
    progress: bool = False,
    label: str = "",
    rubric: Rubric | None = None,
) -> Profile:
    """Cost every layer of `workload` on `arch` (through the layer cache)."""
    engine = get_engine(engine) if isinstance(engine, str) else engine
    costs = cost_of(workload.layers, arch, engine, cache, progress)
    return Profile(workload, arch, costs, engine.name, label, rubric or Rubric())


# What each analytic mapper's numbers mean to a user of the lab's rubric (graded, best).
ROLES = {entry.name: entry.role for entry in MAPPERS.entries()}


def other_mapper(profile: Profile, cache: CostCache | None = None) -> Profile | None:
    """The same design under the analytic engine's other mapper (graded beside best), None for other engines."""
    if profile.engine != "analytic" or profile.mapper not in ROLES:
        return None
    other = next(m for m in ROLES if m != profile.mapper)
    from codesign.cost.analytic.exhaustive import supports

    if other == "exhaustive" and not supports(profile.arch):
        return None  # no exhaustive mapspace for this dataflow: graded numbers only
    engine = AnalyticEngine(other)
    return profile_workload(profile.workload, profile.arch, engine, cache, False, profile.label, profile.rubric)


def format_comparison(base: Profile, other: Profile) -> str:
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


def format_table(net: Profile, show_mapping: bool = False) -> str:
    """The per-layer table and totals that `codesign profile` prints (the other mapper's numbers beside)."""
    rubric, other = net.rubric, net.other
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
    score = net.score()
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


MAPPER_NOTE = (
    "graded: the mapping the lab's timeloop-mapper lands on (random-pruned, what the rubric awards); "
    "best: the best mapping of the same mapspace (exhaustive)"
)


def _short(layer: Layer) -> str:
    name = layer.names[0] if layer.names else "-"
    if len(layer.names) > 1:
        name += f" +{len(layer.names) - 1}"
    return name if len(name) <= 24 else "…" + name[-23:]

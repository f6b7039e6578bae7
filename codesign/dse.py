"""Design-space exploration of the accelerator for one network: brute force over array shape x dataflow.

Every point is an arch derived from a base (codesign.hardware: sizes, scaled energies and area) under one
dataflow of arch/dataflows/, every layer costed by the analytic engine (Timeloop-exact; the random-pruned
mapper by default: the mapping timeloop-mapper lands on). Points run in a process pool over local cores and
are appended to `points.csv` (and their layers to `layers.csv`) as they finish, so a run that stops resumes
where it was: points already in the CSV are skipped. The Pareto points over energy, cycles and area go to
`pareto.csv`; `dse.html` shows one heat map per dataflow (energy and cycles over the array shapes) and the
best point per layer and for the network.
"""

from __future__ import annotations

import csv
import html
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codesign.arch import Arch
from codesign.config import check, setting
from codesign.dataflow import dataflow_names
from codesign.errors import CodesignError
from codesign.registry import MAPPERS

if TYPE_CHECKING:  # the workload module imports PyTorch; `codesign --help` must not
    from codesign.workload import Layer

POINT_COLUMNS = ("dataflow", "pe_x", "pe_y", "arch", "energy_pj", "cycles", "area_mm2", "utilization", "mapper")
LAYER_COLUMNS = ("dataflow", "pe_x", "pe_y", "layer", "shape", "count", "energy_pj", "cycles", "utilization")
DEFAULT_SHAPES = ((8, 8), (8, 16), (16, 8), (16, 16), (16, 32), (32, 32))
DEFAULT_DATAFLOWS = ("ws", "os", "os_pq_m", "ws_rsc_m")


def parse_names(text: str) -> tuple[str, ...]:
    """`ws,os` as ("ws", "os")."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class DseSettings:
    """Which design points `codesign dse` costs, and how."""

    arch: str | Arch | None = setting(
        None, help="base arch YAML or built-in name (every point resizes it)", shown_default="simple_weight_stationary"
    )
    dataflows: tuple[str, ...] = setting(
        DEFAULT_DATAFLOWS,
        parse=parse_names,
        metavar="NAMES",
        choices=dataflow_names(),
        help=f"comma-separated dataflows of arch/dataflows/ ({', '.join(dataflow_names())})",
        shown_default=",".join(DEFAULT_DATAFLOWS),
    )
    shapes: tuple[tuple[int, int], ...] = setting(
        DEFAULT_SHAPES,
        parse=lambda text: parse_shapes(text),
        metavar="XxY,...",
        help="PE arrays, columns x rows",
        shown_default=",".join(f"{x}x{y}" for x, y in DEFAULT_SHAPES),
    )
    mapper: str = setting(
        "random-pruned", choices=MAPPERS.names(), help="the analytic engine's mapper: " + MAPPERS.describe()
    )
    workers: int | None = setting(None, min=1, help="processes", shown_default="the usable cores")

    def __post_init__(self) -> None:
        check(self, "dse settings")
        if not self.dataflows or not self.shapes:
            raise CodesignError("dse: give at least one dataflow and one array shape")


@dataclass(frozen=True)
class Point:
    """One design point: a dataflow on an array of pe_x columns by pe_y rows."""

    dataflow: str
    pe_x: int
    pe_y: int

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies the point in the CSV."""
        return (self.dataflow, self.pe_x, self.pe_y)


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    """`8x8,16x16` as ((8, 8), (16, 16)); a clear error otherwise."""
    out = []
    for part in text.split(","):
        x, sep, y = part.strip().lower().partition("x")
        if not sep or not x.isdigit() or not y.isdigit() or int(x) < 1 or int(y) < 1:
            raise CodesignError(f"--shapes: {part.strip()!r} is not COLUMNSxROWS (e.g. 16x16)")
        out.append((int(x), int(y)))
    return tuple(out)


def point_arch(base: Arch, point: Point) -> Arch:
    """The base arch on the point's array and dataflow (energies and area scaled by codesign.hardware)."""
    import dataclasses

    from codesign.hardware import HardwareParams, derive_arch

    hw = dataclasses.replace(HardwareParams.of(base), pe_x=point.pe_x, pe_y=point.pe_y)
    return derive_arch(base, hw, dataflow=point.dataflow)


def evaluate_point(base: Arch, point: Point, layers: Sequence[Layer], mapper: str) -> tuple[dict, list[dict]]:
    """The point's network totals and per-layer rows (one worker's job)."""
    from codesign.cost import cost_of
    from codesign.cost.analytic import AnalyticEngine
    from codesign.hardware import area_mm2

    arch = point_arch(base, point)
    costs = cost_of(list(layers), arch, AnalyticEngine(mapper))
    energy = sum(c.energy_pj * layer.count for c, layer in zip(costs, layers))
    cycles = sum(c.cycles * layer.count for c, layer in zip(costs, layers))
    macs = sum(layer.macs * layer.count for layer in layers)
    row = {
        "dataflow": point.dataflow,
        "pe_x": point.pe_x,
        "pe_y": point.pe_y,
        "arch": arch.name,
        "energy_pj": energy,
        "cycles": cycles,
        "area_mm2": area_mm2(arch),
        "utilization": macs / (cycles * arch.pe_array.count),
        "mapper": mapper,
    }
    per_layer = [
        {
            "dataflow": point.dataflow,
            "pe_x": point.pe_x,
            "pe_y": point.pe_y,
            "layer": layer.names[0] if layer.names else f"layer{i}",
            "shape": layer.shape,
            "count": layer.count,
            "energy_pj": c.energy_pj,
            "cycles": c.cycles,
            "utilization": c.utilization,
        }
        for i, (c, layer) in enumerate(zip(costs, layers), 1)
    ]
    return row, per_layer


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _append(path: Path, columns: Sequence[str], rows: list[dict]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def pareto(rows: list[dict], keys: Sequence[str] = ("energy_pj", "cycles", "area_mm2")) -> list[dict]:
    """The rows no other row beats or equals on every key while beating on one (all minimised)."""

    def dominates(a: dict, b: dict) -> bool:
        va, vb = [float(a[k]) for k in keys], [float(b[k]) for k in keys]
        return all(x <= y for x, y in zip(va, vb)) and any(x < y for x, y in zip(va, vb))

    return [r for r in rows if not any(dominates(o, r) for o in rows if o is not r)]


def run_dse(
    layers: Sequence[Layer],
    base: Arch,
    out: Path,
    dataflows: Sequence[str] = DEFAULT_DATAFLOWS,
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    mapper: str = "random-pruned",
    workers: int | None = None,
    progress: bool = True,
    title: str = "",
) -> list[dict]:
    """Cost every (dataflow, shape) point not yet in `out`/points.csv; write the CSVs, Pareto points and the
    HTML page; returns every point's row."""
    from codesign.dataflow import load_dataflow

    for name in dataflows:
        load_dataflow(name)  # an unknown name fails before any work
    out.mkdir(parents=True, exist_ok=True)
    points_csv, layers_csv = out / "points.csv", out / "layers.csv"
    done = {(r["dataflow"], int(r["pe_x"]), int(r["pe_y"])) for r in _read(points_csv)}
    todo = [p for p in (Point(d, x, y) for d in dataflows for x, y in shapes) if p.key not in done]
    workers = max(1, min(workers or len(os.sched_getaffinity(0)), len(todo) or 1))
    if todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="dse points", unit="pt", disable=not progress)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(evaluate_point, base, p, list(layers), mapper): p for p in todo}
            for future in as_completed(futures):
                row, per_layer = future.result()
                _append(points_csv, POINT_COLUMNS, [row])  # as each finishes: a stopped run keeps it
                _append(layers_csv, LAYER_COLUMNS, per_layer)
                bar.update()
        bar.close()
    rows = _read(points_csv)
    front = pareto(rows)
    with (out / "pareto.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, POINT_COLUMNS)
        writer.writeheader()
        writer.writerows(front)
    (out / "dse.html").write_text(page(rows, _read(layers_csv), front, title))
    return rows


# ----- the page -----


def _color(value: float, best: float, worst: float) -> str:
    """Green (at `best`) to red (at `worst`), linearly."""
    t = 0.0 if best == worst else (value - best) / (worst - best)
    return f"hsl({int(120 * (1 - t))}, 70%, 80%)"


def _heat(rows: list[dict], key: str, fmt: str, xs: list[int], ys: list[int], higher_better: bool = False) -> str:
    values = [float(r[key]) for r in rows]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    if higher_better:
        low, high = high, low
    by = {(int(r["pe_x"]), int(r["pe_y"])): float(r[key]) for r in rows}
    head = "".join(f"<th>X={x}</th>" for x in xs)
    body = []
    for y in ys:
        cells = []
        for x in xs:
            v = by.get((x, y))
            cells.append("<td></td>" if v is None else f'<td style="background:{_color(v, low, high)}">{v:{fmt}}</td>')
        body.append(f"<tr><th>Y={y}</th>{''.join(cells)}</tr>")
    return f"<table class=heat><tr><th></th>{head}</tr>{''.join(body)}</table>"


def page(rows: list[dict], layer_rows: list[dict], front: list[dict], title: str = "") -> str:
    """The HTML page: heat maps per dataflow, the best point per layer and for the network, the Pareto points."""
    esc = html.escape
    xs = sorted({int(r["pe_x"]) for r in rows})
    ys = sorted({int(r["pe_y"]) for r in rows})
    parts = [
        "<!doctype html><meta charset=utf-8><title>codesign dse</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 1em 1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}.maps{display:flex;flex-wrap:wrap}"
        ".heat td{min-width:5em}h3{margin-bottom:.2em}</style>",
        f"<h1>Design-space exploration{': ' + esc(title) if title else ''}</h1>",
        f"<p>{len(rows)} points: array X (columns) x Y (rows) x dataflow; every layer costed by the analytic "
        "engine (Timeloop-exact). Energy in uJ per inference, latency in cycles; green = better (lower energy "
        "and cycles, higher utilization), per map.</p>",
    ]
    for flow in sorted({r["dataflow"] for r in rows}):
        mine = [r for r in rows if r["dataflow"] == flow]
        energy = [dict(r, energy_uj=float(r["energy_pj"]) / 1e6) for r in mine]
        parts.append(f"<h2>dataflow {esc(flow)}</h2><div class=maps>")
        parts.append(f"<div><h3>energy (uJ)</h3>{_heat(energy, 'energy_uj', '.2f', xs, ys)}</div>")
        parts.append(f"<div><h3>cycles</h3>{_heat(mine, 'cycles', ',.0f', xs, ys)}</div>")
        parts.append(f"<div><h3>utilization</h3>{_heat(mine, 'utilization', '.2f', xs, ys, True)}</div></div>")

    def best_table(items: list[dict], label: str) -> str:
        out = [f"<tr><th>{label}</th><th>lowest energy</th><th>uJ</th><th>fewest cycles</th><th>cycles</th></tr>"]
        groups: dict[str, list[dict]] = {}
        for r in items:
            groups.setdefault(f"{r.get('layer', 'network')} {r.get('shape', '')}".strip(), []).append(r)
        for name, group in groups.items():
            e = min(group, key=lambda r: (float(r["energy_pj"]), int(r["cycles"])))
            c = min(group, key=lambda r: (int(r["cycles"]), float(r["energy_pj"])))
            out.append(
                f"<tr><td style=text-align:left>{esc(name)}</td><td>{esc(e['dataflow'])} {e['pe_x']}x{e['pe_y']}</td>"
                f"<td>{float(e['energy_pj']) / 1e6:.3f}</td><td>{esc(c['dataflow'])} {c['pe_x']}x{c['pe_y']}</td>"
                f"<td>{int(c['cycles']):,}</td></tr>"
            )
        return f"<table>{''.join(out)}</table>"

    parts.append("<h2>best point</h2>" + best_table(rows, "network"))
    parts.append("<h2>best point per layer</h2>" + best_table(layer_rows, "layer"))
    head = "".join(f"<th>{c}</th>" for c in ("dataflow", "array", "energy uJ", "cycles", "area mm2"))
    body = "".join(
        f"<tr><td>{esc(r['dataflow'])}</td><td>{r['pe_x']}x{r['pe_y']}</td><td>{float(r['energy_pj']) / 1e6:.3f}</td>"
        f"<td>{int(r['cycles']):,}</td><td>{float(r['area_mm2']):.3f}</td></tr>"
        for r in sorted(front, key=lambda r: float(r["energy_pj"]))
    )
    parts.append(f"<h2>Pareto points (energy, cycles, area)</h2><table><tr>{head}</tr>{body}</table>")
    return "\n".join(parts)

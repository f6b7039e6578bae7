"""From runs/<name>/trials.csv to pareto.csv, report.html (interactive Plotly) and pareto.png."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.hardware import FIELDS as HARDWARE_FIELDS
from codesign.pareto import OBJECTIVES, eligible, pareto_front
from codesign.rubric import PJ_PER_MJ
from codesign.runs import Run

_LABELS = {
    "val_accuracy": "validation accuracy",
    "energy_mj": "energy (mJ)",
    "cycles": "latency (cycles)",
    "area_mm2": "area (mm²)",
}
_HARDWARE = [*HARDWARE_FIELDS, "area_mm2"]
FRONT_COLOR, DOMINATED_COLOR = "#d62728", "#9e9e9e"
_COLORS = {"Pareto front": FRONT_COLOR, "dominated": DOMINATED_COLOR}
_SHOWN = [
    "trial_id",
    "status",
    "rubric_points",
    "val_accuracy",
    "energy_mj",
    "cycles",
    "graded_energy_mj",
    "graded_cycles",
    "best_energy_mj",
    "best_cycles",
    "peak_activation_bytes",
    "parameters",
    "depth",
    "channels",
    "kernels",
    "strides",
    "kinds",
    "pools",
    "head",
    "lr",
    "batch_size",
    "epochs",
    "schedule",
    *_HARDWARE,
]


def write_outputs(run: Run | Path) -> pd.DataFrame:
    """Rebuild pareto.csv, report.html and pareto.png from trials.csv (and copy them to the run's storage)."""
    run = run if isinstance(run, Run) else Run(run)
    trials = run.trials()
    objectives = run.objectives()
    front = pareto_front(trials, objectives)
    front.to_csv(run.front_file, index=False)
    run.report_file.write_text(render_html(trials, front, run.name, objectives))
    render_png(trials, front, run.plot_file, objectives)
    run.publish(run.front_file, run.report_file, run.plot_file)
    return trials


def _front_mask(trials: pd.DataFrame, front: pd.DataFrame) -> pd.Series:
    return trials["trial_id"].isin(set(front["trial_id"]))


def _pairs(objectives: tuple) -> list[tuple[str, str]]:
    pairs = [("energy_mj", "val_accuracy"), ("cycles", "val_accuracy"), ("energy_mj", "cycles")]
    if any(name == "area_mm2" for name, _ in objectives):
        pairs += [("area_mm2", "val_accuracy"), ("area_mm2", "energy_mj"), ("area_mm2", "cycles")]
    return pairs


def figures(trials: pd.DataFrame, front: pd.DataFrame, objectives: tuple = OBJECTIVES) -> list[Any]:
    """The report's Plotly figures: the 3-D front, pairwise projections, the rubric ranking."""
    import plotly.express as px
    import plotly.graph_objects as go

    done = eligible(trials, objectives).copy()
    if done.empty:
        return []
    done["on_front"] = _front_mask(done, front).map({True: "Pareto front", False: "dominated"})
    hover = [
        h
        for h in ("trial_id", "rubric_points", "channels", "kernels", "strides", "lr", "epochs", *_HARDWARE)
        if h in done
    ]
    style = {"color": "on_front", "color_discrete_map": _COLORS, "hover_data": hover, "labels": _LABELS}
    shown = [
        px.scatter_3d(
            done,
            x="energy_mj",
            y="cycles",
            z="val_accuracy",
            height=650,
            title="All complete trials: accuracy, energy, latency",
            **style,
        )
    ]
    for x, y in _pairs(objectives):
        shown.append(px.scatter(done, x=x, y=y, log_x=True, title=f"{_LABELS[y]} vs {_LABELS[x]}", **style))
    ranked = done.sort_values(["rubric_points", "val_accuracy"], ascending=False).head(20)
    bar = go.Figure(
        go.Bar(
            x=ranked["trial_id"].astype(str),
            y=ranked["rubric_points"],
            text=ranked["val_accuracy"].map(lambda a: f"{a:.3f}"),
            textposition="outside",
        )
    )
    bar.update_layout(
        title="Rubric points (validation error as the accuracy estimate), best 20",
        xaxis_title="trial",
        yaxis_title="points",
        yaxis_range=[0, 105],
    )
    return [*shown, bar]


def _with_mj(table: pd.DataFrame) -> pd.DataFrame:
    """The graded and best energies in mJ beside the objective's, for reading."""
    table = table.copy()
    for role in ("graded", "best"):
        if f"{role}_energy_pj" in table:
            table[f"{role}_energy_mj"] = pd.to_numeric(table[f"{role}_energy_pj"]) / PJ_PER_MJ
    return table


def render_html(trials: pd.DataFrame, front: pd.DataFrame, title: str, objectives: tuple = OBJECTIVES) -> str:
    """One self-contained page: 3-D front, pairwise projections, rubric ranking."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0))
        for i, fig in enumerate(figures(trials, front, objectives))
    ]
    counts = trials["status"].value_counts().to_dict()
    front = _with_mj(front)
    shown = [c for c in _SHOWN if c in front]
    table = (
        front[shown].to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        if not front.empty
        else "<p>No complete, feasible trial yet.</p>"
    )
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codesign: {html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;}} table{{border-collapse:collapse;font-size:13px}}
td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}</style></head>
<body><h1>codesign search: {html.escape(title)}</h1>
<p>{len(trials)} trials ({html.escape(summary)}). The front holds only complete, feasible trials; trials cut by
early stopping or the budget are excluded. Energy in mJ (1 mJ = 10<sup>9</sup> pJ), latency in cycles, peak
activation in bytes. <i>graded</i>: under the mapping the lab's timeloop-mapper lands on (random-pruned, the
numbers the rubric awards); <i>best</i>: under the best mapping of the same mapspace (exhaustive); energy and
cycles are the searched mapper's.</p>
<h2>Pareto front ({len(front)} designs)</h2>{table}
{"".join(parts)}
</body></html>"""


def render_png(trials: pd.DataFrame, front: pd.DataFrame, path: Path, objectives: tuple = OBJECTIVES) -> None:
    """The pairwise projections (three, or six with area), front highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = eligible(trials, objectives)
    on = _front_mask(done, front)
    pairs = _pairs(objectives)
    rows = len(pairs) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(15, 4.5 * rows), squeeze=False)
    for ax, (x, y) in zip(axes.flat, pairs):
        ax.scatter(done[x][~on], done[y][~on], s=14, c=DOMINATED_COLOR, label="dominated")
        ax.scatter(done[x][on], done[y][on], s=30, c=FRONT_COLOR, label="Pareto front")
        ax.set_xlabel(_LABELS[x])
        ax.set_ylabel(_LABELS[y])
        if len(done) and done[x].min() > 0:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    fig.suptitle(
        f"{len(done)} complete trials, {int(on.sum())} on the front "
        f"(objectives: {', '.join(f'{s} {n}' for n, s in objectives)})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

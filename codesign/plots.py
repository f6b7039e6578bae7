"""The figures of a search: Plotly's (report.html and `SearchRun.plot`) and matplotlib's (pareto.png).

The projections carry the rubric's point bands (from the run's rubric: codesign/rubric.py), log axes are ticked
1, 2, 5 per decade with plain labels (0.02, 50k), and the search's progress is the front's hypervolume in the
console's fixed unit cube after each trial.
"""

from __future__ import annotations

import io
import math
from typing import Any

import pandas as pd

from codesign.hardware import FIELDS as HARDWARE_FIELDS
from codesign.pareto import OBJECTIVES, eligible, volume_history
from codesign.rubric import Rubric

_LABELS = {
    "val_accuracy": "validation accuracy",
    "energy_mj": "energy (mJ)",
    "cycles": "latency (cycles)",
    "area_mm2": "area (mm²)",
    "device_latency_ms": "latency on the device (ms)",
}
HARDWARE_COLUMNS = [*HARDWARE_FIELDS, "area_mm2"]
FRONT_COLOR, DOMINATED_COLOR = "#d62728", "#9e9e9e"
BAND_COLOR = "#1f77b4"  # the rubric's thresholds on the plots
_COLORS = {"Pareto front": FRONT_COLOR, "dominated": DOMINATED_COLOR}
# hyper-parameters and objectives in the parallel-coordinates view: (column, label, log10 scale)
_PARALLEL = [
    ("depth", "depth", False),
    ("lr", "lr (log10)", True),
    ("momentum", "momentum", False),
    ("weight_decay", "weight decay (log10)", True),
    ("batch_size", "batch size", False),
    ("epochs", "epochs", False),
    ("parameters", "parameters (log10)", True),
    *[(name, name, False) for name in HARDWARE_FIELDS],
    ("area_mm2", "area (mm²)", False),
    ("energy_mj", "energy mJ (log10)", True),
    ("cycles", "cycles (log10)", True),
    ("device_latency_ms", "device ms (log10)", True),
    ("val_accuracy", "val. accuracy", False),
]


def _front_mask(trials: pd.DataFrame, front: pd.DataFrame) -> pd.Series:
    return trials["trial_id"].isin(set(front["trial_id"]))


def _pairs(objectives: tuple) -> list[tuple[str, str]]:
    pairs = [("energy_mj", "val_accuracy"), ("cycles", "val_accuracy"), ("energy_mj", "cycles")]
    if any(name == "area_mm2" for name, _ in objectives):
        pairs += [("area_mm2", "val_accuracy"), ("area_mm2", "energy_mj"), ("area_mm2", "cycles")]
    if any(name == "device_latency_ms" for name, _ in objectives):  # timed on a device: it against the rest
        pairs = [("device_latency_ms", "val_accuracy"), ("cycles", "device_latency_ms"), *pairs]
    return pairs


def thresholds(column: str, rubric: Rubric) -> list[tuple[float, int]]:
    """The rubric's band bounds on a column's scale, with the points below (above, for accuracy) each."""
    if column == "energy_mj":
        return list(rubric.energy_points_mj)
    if column == "cycles":
        return list(rubric.latency_points_cycles)
    if column == "val_accuracy":
        return [(1.0 - error, points) for error, points in rubric.error_points]
    return []


def _shown_bands(column: str, values: pd.Series, rubric: Rubric) -> list[tuple[float, int]]:
    """The bands worth drawing on an axis: those inside the data's range and the best band's bound."""
    bands = thresholds(column, rubric)
    if not bands or values.empty:
        return []
    low, high = float(values.min()), float(values.max())
    best = max(bands, key=lambda b: b[1])
    return [b for b in bands if low <= b[0] <= high or b == best]


def _axis_range(values: pd.Series, bands: list[tuple[float, int]], log: bool) -> list[float]:
    """An axis range holding the data and the bands drawn, with a margin."""
    points = [float(v) for v in values] + [b[0] for b in bands]
    low, high = min(points), max(points)
    if log:
        low, high = math.log10(low), math.log10(high)
    pad = (high - low) * 0.06 or (0.1 if log else abs(high) * 0.05 or 0.05)
    return [low - pad, high + pad]


def _draw_bands(fig: Any, axis: str, column: str, values: pd.Series, rubric: Rubric, log: bool) -> None:
    """Dotted lines at the rubric's thresholds on one axis of a 2-D figure, labelled with their points."""
    bands = _shown_bands(column, values, rubric)
    if not bands:
        return
    for value, points in bands:
        label = f"{'≥' if column == 'val_accuracy' else '<'} {number(value)}: {points} pts"
        line = {"dash": "dot", "color": BAND_COLOR, "width": 1}
        at = math.log10(value) if log else value  # annotations on a log axis are placed in log10 units
        if axis == "x":
            fig.add_shape(type="line", x0=value, x1=value, y0=0, y1=1, yref="paper", line=line, opacity=0.8)
            fig.add_annotation(
                x=at,
                y=0,
                yref="paper",
                text=label,
                showarrow=False,
                textangle=-90,
                xanchor="right",
                yanchor="bottom",
                font={"size": 10, "color": BAND_COLOR},
            )
        else:
            fig.add_shape(type="line", y0=value, y1=value, x0=0, x1=1, xref="paper", line=line, opacity=0.8)
            fig.add_annotation(
                y=at,
                x=1,
                xref="paper",
                text=label,
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font={"size": 10, "color": BAND_COLOR},
            )
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    update(range=_axis_range(values, bands, log))


def log_ticks(low: float, high: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Tick values between `low` and `high`: 1, 2, 5 per decade, else decades (every other one on a wide range);
    at most `most`, with plain labels (0.02, 50k)."""
    if not (0 < low < high):
        return [], []
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for subs in ((1, 2, 5), (1, 3), (1,)):
        values = [m * 10.0**e for e in decades for m in subs if low <= m * 10.0**e <= high]
        if len(values) <= most:
            break
    step = 1
    while len(values[::step]) > most:
        step += 1
    values = values[::step]
    return values, [_tick(v) for v in values]


def _log_axis(values: pd.Series, bands: list[tuple[float, int]]) -> dict[str, Any]:
    """A log axis with 1-2-5 ticks labelled in plain numbers (Plotly's own label the minor digits too)."""
    points = [float(v) for v in values if v > 0] + [b[0] for b in bands]
    if not points:
        return {}
    low, high = min(points) / 1.3, max(points) * 1.3
    ticks, text = log_ticks(low, high)
    return {"tickvals": ticks, "ticktext": text} if len(ticks) >= 2 else {}


def number(value: float) -> str:
    """A threshold as a label shows it: 100,000 or 0.5."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def figures(
    trials: pd.DataFrame, front: pd.DataFrame, objectives: tuple = OBJECTIVES, rubric: Rubric | None = None
) -> list[Any]:
    """The report's Plotly figures: the 3-D front, pairwise projections (the rubric's bands drawn), the rubric
    ranking."""
    import plotly.express as px
    import plotly.graph_objects as go

    rubric = rubric or Rubric()
    done = eligible(trials, objectives).copy()
    if done.empty:
        return []
    done["on_front"] = _front_mask(done, front).map({True: "Pareto front", False: "dominated"})
    hover = [
        h
        for h in ("trial_id", "rubric_points", "channels", "kernels", "strides", "lr", "epochs", *HARDWARE_COLUMNS)
        if h in done
    ]
    style = {"color": "on_front", "color_discrete_map": _COLORS, "hover_data": hover, "labels": _LABELS}
    cube = px.scatter_3d(
        done,
        x="energy_mj",
        y="cycles",
        z="val_accuracy",
        height=620,
        log_x=True,
        log_y=True,
        title="All complete trials: accuracy, energy, latency",
        **style,
    )
    # room for the axes' tick labels and titles inside the canvas (they were cut off at the edges)
    cube.update_layout(
        margin={"l": 0, "r": 0, "t": 50, "b": 0},
        scene_camera={"eye": {"x": 1.9, "y": 1.9, "z": 1.1}},
        legend={"orientation": "h", "y": 1.0, "x": 0.0, "title": {"text": ""}},
        scene={
            "xaxis": {"title": {"text": "energy (mJ)"}, **_log_axis(done["energy_mj"], [])},
            "yaxis": {"title": {"text": "latency (cycles)"}, **_log_axis(done["cycles"], [])},
            "zaxis": {"title": {"text": "val. accuracy"}},
        },
        modebar={"orientation": "v"},
    )
    shown = [cube]
    for x, y in _pairs(objectives):
        log_x = x != "val_accuracy" and bool((done[x] > 0).all())
        fig = px.scatter(
            done, x=x, y=y, log_x=log_x, log_y=y == "cycles", title=f"{_LABELS[y]} vs {_LABELS[x]}", **style
        )
        _draw_bands(fig, "x", x, done[x], rubric, log_x)
        _draw_bands(fig, "y", y, done[y], rubric, y == "cycles")
        if log_x:
            fig.update_xaxes(**_log_axis(done[x], _shown_bands(x, done[x], rubric)))
        if y == "cycles":
            fig.update_yaxes(**_log_axis(done[y], _shown_bands(y, done[y], rubric)))
        fig.update_layout(
            margin={"l": 60, "r": 20, "t": 60, "b": 50},
            legend={"orientation": "h", "y": -0.2, "title": {"text": ""}},
            modebar={"orientation": "v"},
        )
        shown.append(fig)
    ranked = done.sort_values(["rubric_points", "val_accuracy"], ascending=False).head(20)
    ids = ranked["trial_id"].astype(str)
    bar = go.Figure(
        go.Bar(
            x=ids,
            y=ranked["rubric_points"],
            text=ranked["val_accuracy"].map(lambda a: f"{a:.3f}"),
            textposition="outside",
            cliponaxis=False,
        )
    )
    bar.update_layout(
        title=f"Rubric points (of {rubric.max_points}; validation error as the accuracy estimate), best 20",
        xaxis_title="trial",
        yaxis_title="points",
        yaxis_range=[0, rubric.max_points * 1.15],
        xaxis={"type": "category", "tickvals": list(ids), "ticktext": [short_id(i) for i in ids]},
        modebar={"orientation": "v"},
    )
    return [*shown, bar]


def progress_figure(trials: pd.DataFrame, objectives: tuple = OBJECTIVES) -> Any:
    """Hypervolume of the front (the console's fixed unit cube) and best validation accuracy after each trial."""
    from plotly.subplots import make_subplots

    counts = list(range(1, len(trials) + 1))
    volumes = volume_history(trials.reset_index(drop=True), objectives)
    complete = (trials["status"] == "ok") & pd.to_numeric(trials["val_accuracy"], errors="coerce").notna()
    accuracies = pd.to_numeric(trials["val_accuracy"], errors="coerce").where(complete).cummax().tolist()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=counts, y=volumes, name="hypervolume", mode="lines+markers", line_shape="hv")
    fig.add_scatter(
        x=counts, y=accuracies, name="best val. accuracy", mode="lines+markers", line_shape="hv", secondary_y=True
    )
    fig.update_layout(
        title="The search over its trials: front hypervolume and best accuracy",
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 60, "r": 60, "t": 60, "b": 60},
        height=380,
        modebar={"orientation": "v"},
    )
    fig.update_xaxes(title_text="trials finished (in the order they ended)")
    fig.update_yaxes(title_text="hypervolume", tickformat=".3f", secondary_y=False)
    fig.update_yaxes(title_text="best val. accuracy", tickformat=".3f", secondary_y=True)
    return fig


def parallel_figure(trials: pd.DataFrame, objectives: tuple = OBJECTIVES) -> Any | None:
    """Parallel coordinates of the complete trials: hyper-parameters against the objectives, coloured by accuracy."""
    import numpy as np
    import plotly.graph_objects as go

    done = eligible(trials, objectives)
    dimensions = []
    for column, label, log in _PARALLEL:
        if column not in done:
            continue
        values = pd.to_numeric(done[column], errors="coerce")
        if values.isna().any() or values.nunique() < 2 or (log and (values <= 0).any()):
            continue  # a constant (or missing) column says nothing here
        dimension: dict[str, Any] = {"label": label, "values": (np.log10(values) if log else values).tolist()}
        if log:
            ticks, text = log_ticks(float(values.min()), float(values.max()))
            if len(ticks) >= 2:
                dimension.update(label=label.replace(" (log10)", ""), tickvals=np.log10(ticks).tolist(), ticktext=text)
        dimensions.append(dimension)
    if len(dimensions) < 2:
        return None
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": done["val_accuracy"].tolist(),
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": "accuracy"}},
            },
            dimensions=dimensions,
        )
    )
    fig.update_layout(
        title="Hyper-parameters against the objectives (complete trials; drag on an axis to filter)",
        margin={"l": 70, "r": 70, "t": 90, "b": 40},
        height=460,
        modebar={"orientation": "v"},
    )
    return fig


def png_bytes(
    trials: pd.DataFrame, front: pd.DataFrame, objectives: tuple = OBJECTIVES, rubric: Rubric | None = None
) -> bytes:
    """pareto.png: the pairwise projections (three, or six with area), front highlighted, the rubric's bands."""
    import matplotlib.pyplot as plt

    fig = pareto_figure(trials, front, objectives, rubric)
    image = io.BytesIO()
    try:
        fig.savefig(image, format="png", dpi=110)
    finally:
        plt.close(fig)
    return image.getvalue()


def pareto_figure(
    trials: pd.DataFrame, front: pd.DataFrame, objectives: tuple = OBJECTIVES, rubric: Rubric | None = None
) -> Any:
    """The matplotlib Figure of pareto.png (plain-number ticks, at most six per axis, none overlapping)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    rubric = rubric or Rubric()
    done = eligible(trials, objectives)
    on = _front_mask(done, front)
    pairs = _pairs(objectives)
    rows = len(pairs) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(16, 4.8 * rows), squeeze=False)
    plain = FuncFormatter(lambda v, _: _tick(v))
    for ax, (x, y) in zip(axes.flat, pairs):
        ax.scatter(done[x][~on], done[y][~on], s=14, c=DOMINATED_COLOR, label="dominated")
        ax.scatter(done[x][on], done[y][on], s=30, c=FRONT_COLOR, label="Pareto front")
        ax.set_xlabel(_LABELS[x])
        ax.set_ylabel(_LABELS[y])
        for column, axis, log in ((x, ax.xaxis, len(done) and done[x].min() > 0), (y, ax.yaxis, y == "cycles")):
            bands = _shown_bands(column, done[column], rubric) if len(done) else []
            if log and len(done):
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
                # at most 6 labelled ticks (1, 2, 5 per decade when the range is narrow), none on the minor ticks
                low, high = _axis_range(done[column], bands, log=True)
                (ax.set_xlim if axis is ax.xaxis else ax.set_ylim)(10**low, 10**high)
                axis.set_major_locator(FixedLocator(log_ticks(10**low, 10**high, most=6)[0]))
                axis.set_minor_formatter(NullFormatter())
            else:
                axis.set_major_locator(MaxNLocator(6))
            axis.set_major_formatter(plain)
            for value, points in bands:
                line = ax.axvline if axis is ax.xaxis else ax.axhline
                line(value, color=BAND_COLOR, linestyle=":", linewidth=1)
                # a vertical line's label at its foot, a horizontal one's at its left end: they never meet
                where = (value, 0.01) if axis is ax.xaxis else (0.01, value)
                ax.annotate(
                    f"{points} pts",
                    where,
                    xycoords=("data", "axes fraction") if axis is ax.xaxis else ("axes fraction", "data"),
                    fontsize=8,
                    color=BAND_COLOR,
                    ha="right" if axis is ax.xaxis else "left",
                    va="bottom",
                    rotation=90 if axis is ax.xaxis else 0,
                )
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(loc="best", fontsize=9)
    fig.suptitle(
        f"{len(done)} complete trials, {int(on.sum())} on the front "
        f"(objectives: {', '.join(f'{s} {n}' for n, s in objectives)}); dotted: the rubric's point bands"
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def _tick(value: float) -> str:
    """A tick label without scientific notation: 0.02, 0.5, 20k, 1.5M."""
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def short_id(text: str, limit: int = 14) -> str:
    """A trial id as a table or an axis shows it (the full id is one click or one hover away)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"

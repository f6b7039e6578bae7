"""A search's results as a user reads them (running or finished): trials and front as DataFrames, the best
designs, figures, exports; and the few lines `codesign search` / `codesign report` print at the end."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.designs import Design, trial_design
from codesign.errors import CodesignError
from codesign.export import export as write_export
from codesign.pareto import pareto_front
from codesign.runs import Run, TrialRecord
from codesign.search.settings import SearchSettings

# The front's columns as `codesign search` prints it and a notebook shows it (those a run has), best first.
FRONT_COLUMNS = (
    "trial_id",
    "rubric_points",
    "val_accuracy",
    "energy_mj",
    "cycles",
    "device_latency_ms",
    "device_latency_alone_ms",
    "score_per_ms",
    "area_mm2",
    "peak_activation_bytes",
    "channels",
    "strides",
    "epochs",
    "pe_x",
    "pe_y",
    "word_bits",
    "dataflow",
)
FRONT_ORDER = ["rubric_points", "val_accuracy"]  # best first: rubric points, then accuracy


class SearchRun:
    """A search's results (running or finished): trials and front as DataFrames, best designs, figures."""

    def __init__(self, path: str | Path | Run):
        self._run = path if isinstance(path, Run) else Run(path)
        if not self._run.folder.is_dir():
            raise CodesignError(f"{self._run.folder}: no such run folder")

    @property
    def path(self) -> Path:
        """The run folder."""
        return self._run.folder

    @property
    def name(self) -> str:
        """The run's name."""
        return self._run.name

    @property
    def settings(self) -> SearchSettings:
        """What the search was told (search.json)."""
        return self._run.settings()

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial: design, hyper-parameters, objectives, rubric points, status."""
        return self._run.trials()

    @property
    def front(self) -> pd.DataFrame:
        """The Pareto front of complete, feasible trials, best accuracy first."""
        return pareto_front(self.trials, self._run.objectives())

    def best(self, by: str = "score") -> TrialRecord:
        """The best complete trial by rubric `score`, `accuracy`, `energy` or `latency`."""
        return self._run.pick(best=by)

    def trial(self, trial_id: str) -> TrialRecord:
        """One trial by id."""
        return self._run.pick(trial_id)

    def design(self, trial: str | None = None, by: str = "score") -> Design:
        """A trial's design (its trained weights and accelerator attached), the best by `by` if no id."""
        return trial_design(self._run, trial, by)

    def plot(self, kind: str = "3d") -> Any:
        """A Plotly figure of the trials, front highlighted: `3d`, a pair like `energy-accuracy` (the rubric's
        bands drawn), `points`, `progress` (hypervolume and best accuracy over the trials) or `parallel`
        (hyper-parameters against the objectives)."""
        from codesign.plots import figures, parallel_figure, progress_figure

        shown = figures(self.trials, self.front, self._run.objectives())
        if not shown:
            raise CodesignError(f"{self.path}: no complete trial to plot yet")
        names = ["3d", "energy-accuracy", "latency-accuracy", "energy-latency"]
        if len(shown) > 5:
            names += ["area-accuracy", "area-energy", "area-latency"]
        names.append("points")
        if kind == "progress":
            return progress_figure(self.trials, self._run.objectives())
        if kind == "parallel" and (figure := parallel_figure(self.trials, self._run.objectives())) is not None:
            return figure
        if kind not in names:
            raise CodesignError(f"plot kind {kind!r}: one of {', '.join([*names, 'progress', 'parallel'])}")
        return shown[names.index(kind)]

    def export(
        self,
        out: str | Path,
        trial: str | None = None,
        by: str = "score",
        onnx: bool = False,
        mapper: str | None = None,
        force: bool = False,
    ) -> list[Path]:
        """Export a trial (the best by `by` if no id) as a standalone model.py with weights and README.

        `out` must be new or empty unless `force` (then the export's files are replaced, others kept)."""
        return write_export(self.design(trial, by), Path(out), onnx=onnx, mapper=mapper, force=force)

    def counts(self) -> str:
        """How many trials ended how: `5 ok, 2 stopped`."""
        trials = self.trials
        counts = trials["status"].value_counts().to_dict() if len(trials) else {}
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))

    def front_table(self, rows: int | None = None) -> pd.DataFrame:
        """The front's designs, best rubric score (then accuracy) first, in the columns the summary shows."""
        front = self.front
        best = front.sort_values(FRONT_ORDER, ascending=False) if len(front) else front
        shown = best[[c for c in FRONT_COLUMNS if c in best]]
        return shown if rows is None else shown.head(rows)

    def summary(self) -> str:
        """What `codesign search` and `codesign report` print at the end: the counts, the front, the outputs."""
        trials, front = self.trials, self.front
        lines = [
            f"\n{len(trials)} trials ({self.counts()}); Pareto front of complete trials: {len(front)} designs",
        ]
        if len(front):
            lines.append(self.front_table(15).to_string(index=False))
        if len(front) and "score_per_ms" in front and front["score_per_ms"].notna().any():
            best = front.sort_values("score_per_ms", ascending=False).iloc[0]
            lines.append(
                f"best accuracy per millisecond on the device: trial {best['trial_id']}, {best['score_per_ms']:.3f} "
                f"(accuracy {best['val_accuracy']:.4f} in {best['device_latency_ms']:.4f} ms)"
            )
        lines.append(f"outputs: {self.path}/trials.csv, pareto.csv, report.html, pareto.png")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SearchRun({str(self.path)!r})"

    def _repr_html_(self) -> str:
        trials, front = self.trials, self.front
        table = self.front_table().to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        return (
            f"<div><p><b>{html.escape(self.name)}</b>: {len(trials)} trials ({html.escape(self.counts())}); "
            f"Pareto front: {len(front)} designs</p>{table}</div>"
        )

"""From runs/<name>/trials.csv to pareto.csv, report.html (one self-contained page) and pareto.png.

The page is read at a glance: the front as a compact table (each row opens to every field), where each front
design's energy goes (per layer and per storage level, recomputed from its spec through the layer cache:
codesign/breakdown.py), the rubric's point bands drawn on the plots and each design's distance to its next band,
how the front grew over the trials, and the hyper-parameters against the objectives. Plotly's JavaScript is
inlined once, so the page needs no network when it is opened.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.breakdown import Breakdown, breakdown
from codesign.cost import CostCache
from codesign.device.settings import TimingSettings
from codesign.errors import CodesignError
from codesign.pareto import OBJECTIVES, eligible, front_volume, pareto_front
from codesign.plots import (
    FRONT_COLOR,
    HARDWARE_COLUMNS,
    figures,
    number,
    parallel_figure,
    png_bytes,
    progress_figure,
    short_id,
)
from codesign.rubric import PJ_PER_MJ, Rubric, load_rubric
from codesign.runs import Run, TrialRecord

__all__ = ["FRONT_COLOR", "breakdowns", "figures", "render_html", "write_outputs"]

# every field a front design's row opens to
_SHOWN = [
    "trial_id",
    "status",
    "rubric_points",
    "val_accuracy",
    "energy_mj",
    "cycles",
    "device_latency_ms",
    "device_latency_alone_ms",
    "score_per_ms",
    "graded_energy_mj",
    "graded_cycles",
    "best_energy_mj",
    "best_cycles",
    "peak_activation_bytes",
    "parameters",
    "macs",
    "depth",
    "channels",
    "kernels",
    "strides",
    "kinds",
    "pools",
    "head",
    "global_pool",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "batch_size",
    "epochs",
    "schedule",
    "train_seconds",
    "node_ip",
    *HARDWARE_COLUMNS,
    "val_accuracy_float",
]
_PLOT_CONFIG = {"responsive": True, "displaylogo": False}


def write_outputs(run: Run | Path) -> pd.DataFrame:
    """Rebuild pareto.csv, report.html and pareto.png from trials.csv (and copy them to the run's storage)."""
    run = run if isinstance(run, Run) else Run(run)
    trials = run.trials()
    objectives = run.objectives()
    front = pareto_front(trials, objectives)
    front.to_csv(run.front_file, index=False)
    rubric = _rubric_of(run)
    timing = run.settings().timing if run.has_settings() else None
    tested = final_tests(run, trials) if "device_latency_ms" in trials else {}
    page = render_html(trials, front, run.name, objectives, rubric, breakdowns(run, front), timing, tested)
    _replace(run.report_file, page.encode())
    _replace(run.plot_file, png_bytes(trials, front, objectives, rubric))
    run.publish(run.front_file, run.report_file, run.plot_file)
    return trials


def _replace(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a full disk leaves the earlier file, not half a page)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CodesignError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def _rubric_of(run: Run) -> Rubric:
    """The rubric the run was scored with (the lab's when the run does not name one, or it is gone)."""
    try:
        return load_rubric(run.settings().rubric) if run.has_settings() else Rubric()
    except CodesignError:
        return Rubric()


def breakdowns(run: Run, front: pd.DataFrame) -> dict[str, Breakdown]:
    """Energy per layer and level of each front design, on its own accelerator under the run's mapper."""
    mapper = None
    if run.has_settings():
        with contextlib.suppress(CodesignError):  # a run whose settings no longer read: the arch's mapper
            mapper = run.settings().mapper
    cache = CostCache()  # the search's own: every front design's layers are in it already
    found: dict[str, Breakdown] = {}
    for row in front.to_dict("records"):
        try:
            record = TrialRecord.from_row(row, str(run.trials_file))
            if record.spec is None:
                continue
            arch = run.arch_of(record)
            found[record.trial_id] = breakdown(record.spec, arch or _default_arch(), mapper, cache)
        except CodesignError:
            continue  # a design that cannot be costed here (a missing arch file): the page says it has none
    return found


def _default_arch() -> Any:
    from codesign.arch import load_arch

    return load_arch(None)


def _with_mj(table: pd.DataFrame) -> pd.DataFrame:
    """The graded and best energies in mJ beside the objective's, for reading."""
    table = table.copy()
    for role in ("graded", "best"):
        if f"{role}_energy_pj" in table:
            table[f"{role}_energy_mj"] = pd.to_numeric(table[f"{role}_energy_pj"]) / PJ_PER_MJ
    return table


def _cell(value: Any, column: str = "") -> str:
    """A table cell's text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if column in ("cycles", "graded_cycles", "best_cycles", "peak_activation_bytes", "parameters", "macs"):
            return f"{value:,.0f}"
        if column.endswith("energy_mj"):
            return f"{value:.4f}"
        if column.startswith("val_accuracy"):
            return f"{value:.4f}"
        if float(value).is_integer():
            return f"{int(value)}"
        return f"{value:.4g}"
    return str(value)


def final_tests(run: Run, trials: pd.DataFrame) -> dict[str, float]:
    """Test accuracy of each trial whose design was trained again with the test set read (`codesign train ...
    --final --out RUN/final/NAME` writes summary.json there), keyed by trial id; matched by the design's spec."""
    found: dict[str, float] = {}
    folder = run.folder / "final"
    if not folder.is_dir() or "spec" not in trials:
        return found
    by_spec: dict[str, list[str]] = {}
    for trial_id, text in zip(trials["trial_id"], trials["spec"]):
        if isinstance(text, str) and text:
            with contextlib.suppress(ValueError, TypeError):
                by_spec.setdefault(json.dumps(json.loads(text), sort_keys=True), []).append(str(trial_id))
    for summary in sorted(folder.glob("*/summary.json")):
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(summary.read_text())
            accuracy, spec = data.get("test_accuracy"), data.get("spec")
            if isinstance(accuracy, (int, float)) and isinstance(spec, dict):
                for trial_id in by_spec.get(json.dumps(spec, sort_keys=True), []):
                    found[trial_id] = float(accuracy)
    return found


def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + cells + "</table>"


def device_section(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    timing: TimingSettings | None,
    tested: dict[str, float] | None = None,
) -> str:
    """The report's device section (a search with the device_latency objective): where and how latency was
    measured; per device, the best training and validation accuracy, the average latency and the best score with
    that design's training time (and its test accuracy when the test set was read); then the front by accuracy per
    millisecond."""
    if "device_latency_ms" not in trials:
        return ""
    tested = tested or {}
    done = trials[(trials["status"] == "ok") & trials["device_latency_ms"].notna()]
    names = sorted({str(n) for n in done.get("device_name", pd.Series(dtype=str)).dropna() if str(n)})
    how = ""
    if timing is not None:
        plural = "s" if timing.threads > 1 else ""
        batch = f", batch {timing.batch}" if timing.batch > 1 else ""
        how = (
            f" ({timing.device}, {timing.runtime}, {timing.threads} thread{plural}{batch}; the median of {timing.runs}"
            f" timed runs after {timing.warmup} warm-up calls, re-measured while IQR/median > {timing.max_spread:.0%})"
        )
    average = done["device_latency_ms"].mean() if len(done) else float("nan")

    def best(rows: pd.DataFrame, column: str) -> Any:
        return rows[column].max() if column in rows and rows[column].notna().any() else None

    per_device = []
    devices = done["device_name"].fillna("").astype(str) if "device_name" in done else pd.Series("", index=done.index)
    for name, group in done.groupby(devices, sort=True):
        ranked_here = group.sort_values("score_per_ms", ascending=False, na_position="last")
        top = ranked_here.iloc[0]
        cells = [
            str(name) or "the device",
            str(len(group)),
            _cell(best(group, "train_accuracy"), "val_accuracy"),
            _cell(best(group, "val_accuracy"), "val_accuracy"),
            _cell(group["device_latency_ms"].mean()),
            short_id(str(top["trial_id"])),
            _cell(top.get("epochs_done")),
            _cell(top.get("train_seconds")),
            _cell(top.get("score_per_ms")),
        ]
        if tested:
            test = tested.get(str(top["trial_id"]))
            cells += [_cell(test, "val_accuracy"), _cell(None if test is None else test / top["device_latency_ms"])]
        per_device.append(cells)
    device_head = ["device", "trials timed", "best training acc.", "best validation acc.", "average ms"]
    device_head += ["best score: trial", "epochs", "training s", "accuracy/ms"]
    if tested:
        device_head += ["test accuracy", "test accuracy/ms"]
    head = ["trial", "training acc.", "validation acc.", "epochs", "training s", "device ms", "alone ms"]
    head += ["accuracy/ms"] + (["test accuracy", "test accuracy/ms"] if tested else [])
    rows = []
    ranked = front.sort_values("score_per_ms", ascending=False) if "score_per_ms" in front else front
    for row in ranked.to_dict("records"):
        cells = [
            short_id(str(row["trial_id"])),
            _cell(row.get("train_accuracy"), "val_accuracy"),
            _cell(row.get("val_accuracy"), "val_accuracy"),
            _cell(row.get("epochs_done")),
            _cell(row.get("train_seconds")),
            _cell(row.get("device_latency_ms")),
            _cell(row.get("device_latency_alone_ms")),
            _cell(row.get("score_per_ms")),
        ]
        if tested:
            test = tested.get(str(row["trial_id"]))
            ms = row.get("device_latency_ms")
            cells += [_cell(test, "val_accuracy"), _cell(None if test is None or not ms else test / ms)]
        rows.append(cells)
    tests = (
        f"{len(tested)} design(s) trained again with the test set read (<code>codesign train ... --final --out "
        "RUN/final/NAME</code>): their test accuracy and test accuracy per millisecond are shown."
        if tested
        else "The test set is read only when asked: <code>codesign train RUN --final --out RUN/final/best</code> "
        "trains the run's best design again (another: <code>codesign export RUN --trial ID --out DIR</code>, then "
        "<code>codesign train DIR --final --out RUN/final/ID</code>), and its test accuracy then appears here."
    )
    return f"""<h2>Latency on the device</h2>
<p>Measured on {html.escape(", ".join(names) or "the device")}{html.escape(how)}: each complete trial right after it
trained (other trials may have been training beside it), and the designs on the front again, alone, at the end.
{len(done)} complete trials timed, {_cell(average)} ms on average. The score is validation accuracy per millisecond;
training accuracy is the last epoch's on the training split (runs from before it was recorded show –);
training s is the time of the recorded epochs. {tests}</p>
{_table(device_head, per_device)}
{_table(head, rows)}"""


def _bands_of(row: dict[Any, Any], rubric: Rubric) -> dict[str, str]:
    """Each objective's points and the step to its next band, as the table shows them."""
    error = 1.0 - row["val_accuracy"] if isinstance(row.get("val_accuracy"), (int, float)) else None
    shown = {}
    for band in rubric.bands(error, float(row["energy_mj"]) * PJ_PER_MJ, float(row["cycles"])):
        shown["accuracy" if band.objective == "error" else band.objective] = band.describe()
    return shown


def _front_table(front: pd.DataFrame, rubric: Rubric, found: dict[str, Breakdown]) -> str:
    """The front as a compact table; each row opens to every field and selects the design's energy breakdown."""
    if front.empty:
        return "<p>No complete, feasible trial yet.</p>"
    front = _with_mj(front).sort_values(["rubric_points", "val_accuracy"], ascending=False)
    head = [
        ("", ""),
        ("trial", "id"),
        ("points", ""),
        ("accuracy", ""),
        ("mJ", ""),
        ("cycles", ""),
        ("parameters", "wide"),
        ("accuracy band", "wide band"),
        ("energy band", "wide band"),
        ("latency band", "wide band"),
    ]
    if "area_mm2" in front:
        head.insert(6, ("area mm²", "wide"))
    if "dataflow" in front:  # a joint search's accelerators
        head.insert(6, ("dataflow", ""))
    timed = "device_latency_ms" in front  # the device_latency objective: measured latency and accuracy per ms
    if timed:
        head[6:6] = [("device ms", ""), ("accuracy/ms", "")]
    columns = len(head)
    rows = []
    for row in front.to_dict("records"):
        trial = str(row["trial_id"])
        bands = _bands_of(row, rubric)
        cells = [
            ("▸", "toggle"),
            (short_id(trial), "id"),
            (_cell(row.get("rubric_points")), ""),
            (_cell(row.get("val_accuracy"), "val_accuracy"), ""),
            (_cell(row.get("energy_mj"), "energy_mj"), ""),
            (_cell(row.get("cycles"), "cycles"), ""),
            (_cell(row.get("parameters"), "parameters"), "wide"),
            (bands.get("accuracy", "–"), "wide band"),
            (bands.get("energy", "–"), "wide band"),
            (bands.get("latency", "–"), "wide band"),
        ]
        if "area_mm2" in front:
            cells.insert(6, (_cell(row.get("area_mm2")), "wide"))
        if "dataflow" in front:
            cells.insert(6, (_cell(row.get("dataflow")), ""))
        if timed:
            cells[6:6] = [(_cell(row.get("device_latency_ms")), ""), (_cell(row.get("score_per_ms")), "")]
        tds = "".join(f'<td class="{cls}">{html.escape(text)}</td>' for text, cls in cells)
        key = html.escape(trial, quote=True)
        rows.append(f'<tr class="design" data-id="{key}" tabindex="0" aria-expanded="false">{tds}</tr>')
        every = [(c, row.get(c)) for c in _SHOWN if c in row] + [(f"{k} band", v) for k, v in bands.items()]
        fields = "".join(
            f"<div><dt>{html.escape(name)}</dt><dd>{html.escape(_cell(value, name))}</dd></div>"
            for name, value in every
        )
        note = "" if trial in found else "<p>No energy breakdown for this design (its spec could not be costed).</p>"
        rows.append(f'<tr class="more" hidden><td colspan="{columns}"><dl class="all">{fields}</dl>{note}</td></tr>')
    ths = "".join(f'<th class="{cls}">{html.escape(text)}</th>' for text, cls in head)
    body = "".join(rows)
    return f'<div class="scroll"><table class="front"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table></div>'


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element whatever strings it holds (trial ids are data)."""
    text = json.dumps(data, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0 auto;max-width:1400px;padding:1em 1.5em;color:#222;
     box-sizing:border-box}
h1{font-size:1.45em;margin:.3em 0} h2{font-size:1.15em;margin:1.6em 0 .4em} p{max-width:60em;line-height:1.4}
.facts{display:flex;flex-wrap:wrap;gap:.5em 2em;margin:.8em 0} .fact{min-width:8em}
.fact b{display:block;font-size:1.35em}
.scroll{overflow-x:auto}
table.front{border-collapse:collapse;font-size:13px;width:100%}
table.front th,table.front td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
table.front th{background:#f3f3f3;position:sticky;top:0}
table.front .id,table.front .band{text-align:left} td.toggle{color:#888;width:1em}
h3{font-size:1em;font-weight:600;margin:1.4em 0 0} h1,h2,h3,p,dd{overflow-wrap:anywhere}
tr.design{cursor:pointer} tr.design:hover{background:#f6f6f6} tr.design.open td.toggle{transform:rotate(90deg)}
tr.design.selected{background:#fff1e0}
tr.more td{text-align:left;white-space:normal;background:#fafafa}
dl.all{display:grid;grid-template-columns:repeat(auto-fill,minmax(15em,1fr));gap:2px 1.5em;margin:.3em 0;font-size:13px}
dl.all div{display:flex;justify-content:space-between;gap:1em;border-bottom:1px dotted #ddd;min-width:0}
dt{color:#555} dd{margin:0;text-align:right;overflow-wrap:anywhere}
.pair{display:flex;flex-wrap:wrap;gap:1em} .pair>div{flex:1 1 440px;min-width:0}
.plot{min-width:0;width:100%} select{font-size:14px;max-width:100%}
@media (max-width:760px){body{padding:.6em} .wide{display:none} .fact b{font-size:1.15em}
  table.front{font-size:12px} table.front th,table.front td{padding:4px 4px}}
"""

_SCRIPT = """
(function(){
  const data = JSON.parse(document.getElementById('breakdown-data').textContent);
  const colors = ['#4c72b0','#55a868','#c44e52','#8172b2','#ccb974','#64b5cd','#8c8c8c','#e377c2','#7f7f7f'];
  const config = {responsive: true, displaylogo: false};
  const pick = document.getElementById('design');
  function draw(id){
    const b = data[id];
    const none = document.getElementById('no-breakdown');
    if (!b) { none.hidden = false; return; }
    none.hidden = true;
    const byLayer = b.levels.map((level, j) => ({type: 'bar', name: level, x: b.layers,
      y: b.energy_uj.map(row => row[j]), marker: {color: colors[j % colors.length]},
      hovertemplate: '%{x}<br>' + level + ': %{y:.3f} µJ<extra></extra>'}));
    Plotly.react('by-layer', byLayer, {barmode: 'stack', margin: {l: 55, r: 10, t: 20, b: 10},
      legend: {orientation: 'h', y: -0.3}, xaxis: {automargin: true}, yaxis: {title: {text: 'µJ'}}, height: 420,
      modebar: {orientation: 'v'}}, config);
    const byLevel = b.layers.map((layer, i) => ({type: 'bar', orientation: 'h', name: layer, y: b.levels,
      x: b.energy_uj[i], hovertemplate: '%{y}<br>' + layer + ': %{x:.3f} µJ<extra></extra>'}));
    Plotly.react('by-level', byLevel, {barmode: 'stack', margin: {l: 10, r: 10, t: 20, b: 10},
      legend: {orientation: 'h', y: -0.3}, yaxis: {automargin: true, autorange: 'reversed'},
      xaxis: {title: {text: 'µJ'}}, height: 420, modebar: {orientation: 'v'}}, config);
    document.querySelectorAll('tr.design').forEach(tr => tr.classList.toggle('selected', tr.dataset.id === id));
  }
  document.querySelectorAll('tr.design').forEach(tr => {
    const open = () => {
      const more = tr.nextElementSibling, shut = !more.hidden;
      more.hidden = shut; tr.classList.toggle('open', !shut); tr.setAttribute('aria-expanded', String(!shut));
      if (!shut && pick) { pick.value = tr.dataset.id; draw(tr.dataset.id); }
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } });
  });
  if (pick) { pick.addEventListener('change', () => draw(pick.value)); draw(pick.value); }
})();
"""


def render_html(
    trials: pd.DataFrame,
    front: pd.DataFrame,
    title: str,
    objectives: tuple = OBJECTIVES,
    rubric: Rubric | None = None,
    found: dict[str, Breakdown] | None = None,
    timing: TimingSettings | None = None,
    tested: dict[str, float] | None = None,
) -> str:
    """One self-contained page: key figures, the front table, energy breakdowns, plots with the rubric's bands,
    the search's progress and the hyper-parameters against the objectives (and, for a search timed on a device,
    its latency section)."""
    rubric = rubric or Rubric()
    found = found or {}
    shown = figures(trials, front, objectives, rubric)
    extra = [f for f in (progress_figure(trials, objectives), parallel_figure(trials, objectives)) if f is not None]
    parts = []
    for i, fig in enumerate([*shown[1:-1], *shown[:1], *extra, *shown[-1:]] if shown else extra):
        heading = fig.layout.title.text or ""
        top = fig.layout.margin.t
        # the title as a heading instead: it wraps on a narrow screen
        fig.update_layout(title=None, margin_t=30 if top is None or top <= 60 else top - 30)
        body = fig.to_html(full_html=False, include_plotlyjs=(i == 0), config=_PLOT_CONFIG)
        parts.append(f'<h3>{html.escape(heading)}</h3><div class="plot">{body}</div>')
    plots = "".join(parts)
    counts = trials["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    done = eligible(trials, objectives)
    best = done["val_accuracy"].max() if not done.empty else float("nan")
    top = front["rubric_points"].max() if not front.empty and "rubric_points" in front else float("nan")
    facts = [
        ("trials", f"{len(trials)}"),
        ("on the front", f"{len(front)}"),
        ("best val. accuracy", _cell(best, "val_accuracy")),
        ("best rubric points", f"{_cell(top)} / {rubric.max_points}"),
        ("hypervolume", f"{front_volume(trials, objectives):.4f}"),
    ]
    fact_html = "".join(f'<div class="fact"><b>{html.escape(v)}</b>{html.escape(k)}</div>' for k, v in facts)
    ordered = front.sort_values(["rubric_points", "val_accuracy"], ascending=False) if not front.empty else front
    options = "".join(
        f'<option value="{html.escape(str(r["trial_id"]), quote=True)}">trial {html.escape(str(r["trial_id"]))}: '
        f"{_cell(r['rubric_points'])} points, accuracy {_cell(r['val_accuracy'], 'val_accuracy')}, "
        f"{_cell(r['energy_mj'], 'energy_mj')} mJ</option>"
        for r in ordered.to_dict("records")
    )
    energy_section = (
        f"""<h2>Where the energy goes</h2>
<p>Per layer and per storage level, for the design chosen here or by opening its row above (the cost model's own
per-level energies, recomputed from each design's spec; they sum to its energy).</p>
<label>design <select id="design">{options}</select></label>
<p id="no-breakdown" hidden>No energy breakdown for this design.</p>
<div class="pair"><div><h3>Energy per layer, by storage level (µJ)</h3><div id="by-layer" class="plot"></div></div>
<div><h3>Energy per storage level, by layer (µJ)</h3><div id="by-level" class="plot"></div></div></div>"""
        if options
        else ""
    )
    data = {key: value.to_dict() for key, value in found.items()}
    bands = ", ".join(
        f"{name} {' / '.join(f'<{number(t)}: {p}' for t, p in table)}"
        for name, table in (
            ("error", rubric.error_points),
            ("energy (mJ)", rubric.energy_points_mj),
            ("latency (cycles)", rubric.latency_points_cycles),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>codesign: {html.escape(title)}</title><style>{_STYLE}</style></head>
<body><h1>codesign search: {html.escape(title)}</h1>
<div class="facts">{fact_html}</div>
<p>{len(trials)} trials ({html.escape(summary)}). The front holds only complete, feasible trials; trials cut by
early stopping or the budget are excluded. Energy in mJ (1 mJ = 10<sup>9</sup> pJ), latency in cycles. Rubric
<i>{html.escape(rubric.name)}</i> bands (points below each bound): {html.escape(bands)}; each design's band shows
its points and how far it is from the next band (the validation error stands in for the test error).</p>
<h2>Pareto front ({len(front)} designs)</h2>
<p>Best rubric score first. Open a row for every field (graded: under the mapping the lab's timeloop-mapper
lands on, what the rubric awards; best: the best mapping of the same mapspace).</p>
{_front_table(front, rubric, found)}
{device_section(trials, front, timing, tested)}
{energy_section}
<h2>Objectives, with the rubric's bands</h2>
{plots}
<script type="application/json" id="breakdown-data">{_script_json(data)}</script>
<script>{_SCRIPT}</script>
</body></html>"""

"""report.html as a person sees it (rendered by headless Chromium at a desktop's and a phone's width), the energy
breakdowns it carries, the rubric's bands, and pareto.png's labels."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import codesign
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.pareto import pareto_front
from codesign.plots import FRONT_COLOR, log_ticks, pareto_figure
from codesign.report import write_outputs
from codesign.rubric import Rubric, band
from codesign.runs import Run, Status, TrialRecord
from tests.browser import CHROMIUM, look_at

HOSTILE_ID = '</script><script>document.title="pwned"</script>'


def _trials(n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        status = "ok" if i % 4 else "stopped"
        rows.append(
            {
                "trial_id": f"t{i:02d}",
                "status": status,
                "val_accuracy": rng.uniform(0.5, 0.9),
                "energy_pj": rng.uniform(1e6, 1e8),
                "cycles": rng.uniform(1e3, 1e5),
                "peak_activation_bytes": 50_000,
                "parameters": 10_000,
                "rubric_points": 90,
                "channels": "8-16",
                "kernels": "3-3",
                "strides": "1-1",
                "lr": 0.05,
                "epochs": 2,
            }
        )
    df = pd.DataFrame(rows)
    df["energy_mj"] = df["energy_pj"] / 1e9
    return df


def _run_with_specs(folder, n=10, seed=0):
    """A run of real specs: energy and cycles from `codesign.profile`, so the page's breakdowns can be checked."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        stages = tuple(ConvStage(int(rng.choice([4, 8])), kernel=3, pool="max") for _ in range(int(rng.integers(1, 3))))
        spec = CandidateSpec(
            stages=stages,
            input_shape=(1, 28, 28),
            head=(int(rng.choice([16, 32])),),
            sgd=SGDConfig(lr=float(rng.uniform(0.01, 0.2)), epochs=int(rng.integers(1, 3))),
        )
        cost = codesign.profile(spec)
        accuracy = float(rng.uniform(0.6, 0.9))
        records.append(
            TrialRecord(
                HOSTILE_ID if i == 2 else f"t{i:02d}",
                Status.OK if i % 5 else Status.STOPPED,
                val_accuracy=accuracy,
                energy_pj=cost.energy_pj,
                cycles=float(cost.cycles),
                parameters=float(cost.parameters),
                rubric_points=cost.points(accuracy),
                spec=spec,
            )
        )
    Run(folder).write_trials(records)
    return records


def test_front_excludes_partial_trials_and_outputs_are_written(tmp_path):
    trials = _trials()
    trials.loc[0, ["val_accuracy", "energy_pj", "cycles"]] = [0.99, 1.0, 1.0]  # dominates all, but stopped early
    trials.to_csv(tmp_path / "trials.csv", index=False)
    write_outputs(tmp_path)
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert "t00" not in set(front["trial_id"]) and set(front["status"]) == {"ok"}
    assert list(front["trial_id"]) == list(pareto_front(trials)["trial_id"])
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, through a temporary file


def test_the_page_carries_each_front_designs_energy_breakdown_and_bands(tmp_path):
    records = _run_with_specs(tmp_path)
    write_outputs(tmp_path)
    page = (tmp_path / "report.html").read_text()
    data = json.loads(re.search(r'id="breakdown-data">(.*?)</script>', page, re.S).group(1))
    front = pd.read_csv(tmp_path / "pareto.csv", dtype={"trial_id": str}, keep_default_na=False)
    assert set(data) == set(front["trial_id"]) and len(data) >= 2
    for record in records:
        if record.trial_id in data:  # per layer and level, summing to the trial's energy
            shown = data[record.trial_id]
            assert shown["levels"][0] == "DRAM" and "MACs" in shown["levels"]
            assert len(shown["energy_uj"]) == len(shown["layers"]) >= 2
            assert sum(map(sum, shown["energy_uj"])) == pytest.approx(record.energy_pj / 1e6, rel=1e-5)
    assert "<script>document.title" not in page  # a trial id is data wherever it lands on the page
    assert page.count("pts (top)") >= len(front)  # every front design's distance to its next band
    for text in ("hypervolume", "parcoords", "best val. accuracy", "Where the energy goes"):
        assert text in page, text


def test_distance_to_the_next_band_follows_the_rubrics_tables():
    rubric = Rubric()
    energy = band(rubric.energy_points_mj, 0.62, "energy")
    assert (energy.points, energy.threshold, energy.next_points) == (15, 0.5, 20)
    assert energy.change == pytest.approx(1 - 0.5 / 0.62) and energy.describe() == "15 pts; -19% to 20"
    error = band(rubric.error_points, 0.25, "error")
    assert (error.points, error.next_points) == (50, 60) and error.describe() == "50 pts; +5.0 pt accuracy to 60"
    assert band(rubric.latency_points_cycles, 2e6, "latency").describe() == "0 pts; -50% to 5"
    assert band(rubric.latency_points_cycles, 9e4, "latency").describe() == "20 pts (top)"


@pytest.mark.parametrize("spread", [(0.02, 0.06), (1e-3, 5.0)])
def test_pareto_png_tick_labels_are_plain_and_never_overlap(tmp_path, spread):
    rng = np.random.default_rng(1)
    trials = _trials(40)
    trials["energy_mj"] = np.exp(rng.uniform(np.log(spread[0]), np.log(spread[1]), len(trials)))
    trials["energy_pj"] = trials["energy_mj"] * 1e9
    fig = pareto_figure(trials, pareto_front(trials))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for ax in fig.axes:
        drawn = []
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            labels = [
                t
                for loc, t in zip(axis.get_majorticklocs(), axis.get_ticklabels())
                if low <= loc <= high and t.get_visible() and t.get_text()
            ]  # the ticks matplotlib draws
            assert 2 <= len(labels) <= 8 and not any("\\times" in t.get_text() or "e+" in t.get_text() for t in labels)
            boxes = [t.get_window_extent(renderer) for t in labels]
            for a, b in itertools.pairwise(boxes):
                assert not a.overlaps(b), [t.get_text() for t in labels]
            drawn += labels
        for text in [ax.xaxis.label, ax.yaxis.label, *drawn]:  # nothing cut off at the image's edges
            box = text.get_window_extent(renderer)
            assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1, text.get_text()


def test_log_ticks_are_one_two_five_and_few():
    values, text = log_ticks(0.004, 0.6)
    assert text == ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"] and values[0] == pytest.approx(0.005)
    assert log_ticks(9e3, 1.2e5)[1] == ["10k", "20k", "50k", "100k"]
    assert len(log_ticks(1e-6, 1e6)[0]) <= 8


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One run's report.html (costed through a private cache), for the tests that look at it in Chromium."""
    folder = tmp_path_factory.mktemp("a-run-whose-name-is-long-and-has-no-spaces-to-wrap-at")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODESIGN_CACHE", str(folder / "cache.sqlite"))
        _run_with_specs(folder)
        write_outputs(folder)
    return folder / "report.html"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.parametrize("width, height, mobile", [(1400, 900, False), (390, 844, True)])
def test_report_reads_at_a_desktops_and_a_phones_width(report, tmp_path, width, height, mobile):
    """Nothing reaches past the viewport (the table's extra columns fold away on a phone), the figures are drawn,
    a front design's energy breakdown is drawn, and no trial id runs as a script."""
    shot = tmp_path / "shot.png"
    seen = look_at(report.as_uri(), width, height, mobile, shot)
    assert seen["outside"] == [] and seen["scrollWidth"] <= width, seen
    assert seen["title"] == f"codesign: {report.parent.name}"  # the hostile trial id did not run
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    red = np.array([int(FRONT_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - red).sum(axis=1) < 30).sum() > 200  # the front's points, drawn by Plotly's JavaScript
    assert Image.open(shot).size[0] == width


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_opening_a_row_shows_every_field_and_that_designs_breakdown(report):
    import tempfile
    from pathlib import Path

    from tests.browser import Browser

    # Chromium's helper processes may still write into the profile as it closes
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile, Browser(Path(profile)) as browser:
        browser.open(report.as_uri(), 1400, 900)
        drawn = "document.querySelectorAll('#by-layer .bars path').length"
        assert browser.evaluate(drawn) > 0  # the best design's breakdown, drawn on load
        rows = browser.evaluate("[...document.querySelectorAll('tr.design')].map(tr => tr.dataset.id)")
        last = rows[-1]
        browser.evaluate(f"document.querySelectorAll('tr.design')[{len(rows) - 1}].click()")
        assert browser.evaluate(f"document.querySelectorAll('tr.more')[{len(rows) - 1}].hidden") is False
        assert browser.evaluate("document.getElementById('design').value") == last
        fields = browser.evaluate(f"document.querySelectorAll('tr.more')[{len(rows) - 1}].innerText")
        assert "lr" in fields and "energy band" in fields and "peak_activation_bytes" in fields
        assert browser.evaluate("document.querySelector('tr.design.selected').dataset.id") == last


def test_the_device_section_sums_up_each_device_with_training_and_test_accuracy(tmp_path):
    specs = [
        CandidateSpec(stages=(ConvStage(c, kernel=3, pool="max"),), input_shape=(1, 28, 28), head=(16,))
        for c in (4, 8, 12, 16)
    ]
    rows = [  # trial, device, training accuracy (NaN: a run from before it was recorded), validation, ms
        ("a1", "cpu-one", 0.91, 0.88, 0.20),
        ("a2", "cpu-one", 0.95, 0.90, 0.40),
        ("b1", "gpu-two", float("nan"), 0.86, 0.05),
        ("b2", "gpu-two", 0.93, 0.89, 0.08),
    ]
    records = [
        TrialRecord(
            trial_id,
            Status.OK,
            val_accuracy=val,
            energy_pj=1e6 * (i + 1),
            cycles=1e4 / (i + 1),
            epochs_done=1,
            train_seconds=2.5 + i,
            train_accuracy=train,
            device_latency_ms=ms,
            score_per_ms=val / ms,
            device_name=device,
            spec=spec,
        )
        for i, ((trial_id, device, train, val, ms), spec) in enumerate(zip(rows, specs))
    ]
    Run(tmp_path).write_trials(records)
    # one design trained again with the test set read, where the report looks for it
    final = tmp_path / "final" / "b1"
    final.mkdir(parents=True)
    (final / "summary.json").write_text(json.dumps({"spec": specs[2].to_dict(), "test_accuracy": 0.85}))
    write_outputs(tmp_path)
    page = (tmp_path / "report.html").read_text()
    section = page[page.index("<h2>Latency on the device</h2>") :]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", section)]
    one = cells[cells.index("cpu-one") : cells.index("cpu-one") + 11]
    # trials timed, best training and validation accuracy, average ms, best score's trial, epochs, training s
    assert one[1:8] == ["2", "0.9500", "0.9000", "0.3", "a1", "1", "2.5"]  # a1: the best score, not the best acc.
    assert one[8] == f"{0.88 / 0.20:.4g}" and one[9:] == ["–", "–"]  # no test accuracy for that design
    two = cells[cells.index("gpu-two") : cells.index("gpu-two") + 11]
    assert two[1:8] == ["2", "0.9300", "0.8900", "0.065", "b1", "1", "4.5"]
    assert two[9:] == ["0.8500", f"{0.85 / 0.05:.4g}"]
    assert "test accuracy/ms" in section and "1 design(s) trained again with the test set read" in section
    # a trials.csv from before training accuracy was recorded still loads
    old = pd.read_csv(tmp_path / "trials.csv", dtype={"trial_id": str}).drop(columns=["train_accuracy"])
    old.to_csv(tmp_path / "trials.csv", index=False)
    assert all(np.isnan(r.train_accuracy) for r in Run(tmp_path).records())
    (final / "summary.json").unlink()
    write_outputs(tmp_path)
    again = (tmp_path / "report.html").read_text()
    section = again[again.index("<h2>Latency on the device</h2>") :]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", section)]
    assert cells[cells.index("gpu-two") + 2] == "–" and "<th>test accuracy</th>" not in section
    assert "RUN/final/best" in section  # how to read the test set, when nobody has yet

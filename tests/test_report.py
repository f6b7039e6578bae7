"""report.html as a person sees it: rendered by headless Chromium, the Plotly figures are drawn."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from codesign.pareto import pareto_front
from codesign.report import FRONT_COLOR, write_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _trials(n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        status = "ok" if i % 4 else "stopped"
        rows.append({"trial_id": f"t{i:02d}", "status": status, "val_accuracy": rng.uniform(0.5, 0.9),
                     "energy_pj": rng.uniform(1e6, 1e8), "cycles": rng.uniform(1e3, 1e5),
                     "peak_activation_bytes": 50_000, "parameters": 10_000, "rubric_points": 90,
                     "channels": "8-16", "kernels": "3-3", "strides": "1-1", "lr": 0.05, "epochs": 2})
    df = pd.DataFrame(rows)
    df["energy_mj"] = df["energy_pj"] / 1e9
    return df


def test_front_excludes_partial_trials_and_outputs_are_written(tmp_path):
    trials = _trials()
    trials.loc[0, ["val_accuracy", "energy_pj", "cycles"]] = [0.99, 1.0, 1.0]  # dominates all, but stopped early
    trials.to_csv(tmp_path / "trials.csv", index=False)
    write_outputs(tmp_path)
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert "t00" not in set(front["trial_id"]) and set(front["status"]) == {"ok"}
    assert list(front["trial_id"]) == list(pareto_front(trials)["trial_id"])
    assert (tmp_path / "pareto.png").stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_report_renders_its_plots_in_headless_chromium(tmp_path):
    _trials().to_csv(tmp_path / "trials.csv", index=False)
    write_outputs(tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,3000",
                    "--virtual-time-budget=8000", f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    red = np.array([int(FRONT_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    # only the figures (drawn by Plotly's JavaScript) use the front's colour
    assert (np.abs(pixels - red).sum(axis=1) < 30).sum() > 200

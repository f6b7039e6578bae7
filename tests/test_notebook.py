"""examples/quickstart.ipynb runs from top to bottom (profile, a small real search, the front, an export)."""

from __future__ import annotations

import time

import nbformat
from nbclient import NotebookClient

from tests.helpers import ROOT, needs_fmnist


@needs_fmnist
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIGN_NOTEBOOK_TRIALS", "3")
    monkeypatch.setenv("CODESIGN_RUNS", str(tmp_path / "runs"))
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    print(f"notebook executed in {time.perf_counter() - start:.1f} s")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"].get("text/html", "") for o in outputs if o.get("output_type") == "execute_result"]
    assert any("Pareto front" in h for h in html) and any("mJ" in h for h in html)
    assert (tmp_path / "runs" / "notebook" / "export" / "model.py").is_file()

"""The SCALE-Sim engine: our arch and layers as SCALE-Sim's inputs, its reports read back, and `codesign profile
--engine scalesim [--compare]` end to end, replayed from recorded real SCALE-Sim runs (tests/fake_scalesim)
where SCALE-Sim is absent; the real one in its side environment (tests/scalesim_env.py) where PyPI is reachable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesign.arch import load_arch
from codesign.cli import main
from codesign.cost.external import scalesim
from codesign.cost.external.scalesim_files import config_cfg, read_reports, topology_row, write_inputs
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch
from codesign.workload import Layer

FAKE = Path(__file__).resolve().parent / "fake_scalesim"
DATAFLOWS = {"os": "os_pq_m", "ws": "ws_rsc_m", "is": "is_rsc_pq"}


def _arch(dataflow: str = "os_pq_m", **sizes):
    return derive_arch(load_arch(None), HardwareParams(dataflow=dataflow, **sizes))


def _layer(**kw) -> Layer:
    return Layer(**{**dict(kind="conv", N=1, C=1, M=1, P=1, Q=1, R=1, S=1), **kw})


def _recorded(name: str, report: str) -> list[list[str]]:
    lines = (FAKE / name / report).read_text().strip().splitlines()[1:]
    return [[cell.strip() for cell in line.split(",")] for line in lines]


def test_config_carries_the_arch():
    cfg = config_cfg(_arch("ws_rsc_m", pe_x=8, pe_y=12, glb_depth=3 * 4096))
    assert "ArrayHeight: 8\nArrayWidth: 12\n" in cfg  # rows carry what our X carries (R*S*C), columns our Y (M)
    assert "IfmapSramSzkB: 4\nFilterSramSzkB: 4\nOfmapSramSzkB: 4\n" in cfg  # a third of the glb's words each
    assert "Dataflow: ws\n" in cfg and "Bandwidth: 4\n" in cfg and "InterfaceBandwidth: USER" in cfg


def test_layers_become_topology_rows():
    row = topology_row(1, _layer(C=3, M=8, P=16, Q=15, R=3, S=5, Wstride=2, Hstride=2, N=2))
    # the padded input window the outputs read: (P-1)*stride + R by (Q-1)*stride + S; a batch runs image by image
    assert (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.filters, row.stride) == (
        33, 33, 3, 5, 3, 8, 2,
    )  # fmt: skip
    assert row.repeats == 2
    depthwise = topology_row(2, _layer(kind="depthwise", C=32, P=8, Q=8, R=3, S=3))
    assert (depthwise.channels, depthwise.filters, depthwise.repeats) == (1, 1, 32)  # one channel, 32 times
    with pytest.raises(CodesignError, match=r"layer 3 .*one stride for both axes, not 2x1"):
        topology_row(3, _layer(Wstride=2, Hstride=1))
    with pytest.raises(CodesignError, match="no dilated"):
        topology_row(4, _layer(Wdilation=2))


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_c_x_m_dataflows_have_no_scalesim_equivalent(dataflow):
    with pytest.raises(CodesignError, match=rf"dataflow '{dataflow}' spreads C x M .*os_pq_m \(SCALE-Sim os\)"):
        config_cfg(_arch(dataflow))


@pytest.mark.parametrize("name", ["os", "ws", "is"])
def test_the_recorded_inputs_are_what_we_write_and_the_reports_read_back(name, tmp_path):
    from tests.fake_scalesim.record import lenet5_layers

    rows = write_inputs(tmp_path, lenet5_layers(), _arch(DATAFLOWS[name]))
    for written in ("scale.cfg", "topology.csv"):
        assert (tmp_path / written).read_text() == (FAKE / name / written).read_text()
    layers = read_reports(FAKE / name, rows)
    compute, access = _recorded(name, "COMPUTE_REPORT.csv"), _recorded(name, "DETAILED_ACCESS_REPORT.csv")
    assert [s.cycles for s in layers] == [int(row[2]) for row in compute]
    assert [s.stall_cycles for s in layers] == [int(row[3]) for row in compute]
    assert [s.utilization for s in layers] == [pytest.approx(float(row[4]) / 100) for row in compute]
    assert [s.sram_reads["filter"] for s in layers] == [int(row[6]) for row in access]
    assert [s.dram_writes["ofmap"] for s in layers] == [int(row[18]) for row in access]
    assert all(0 < s.utilization <= s.mapping_efficiency <= 1 for s in layers)


def test_a_report_that_misses_layers_is_one_line(tmp_path):
    for report in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
        (tmp_path / report).write_text((FAKE / "os" / report).read_text())
    rows = [topology_row(1, _layer())]
    with pytest.raises(CodesignError, match="SCALE-Sim reported 5 layers for the 1 it was given"):
        read_reports(tmp_path, rows)


@pytest.fixture
def os_arch(tmp_path) -> str:
    path = tmp_path / "os.yaml"
    assert main(["arch", "--dataflow", "os_pq_m", "--out", str(path)]) == 0
    return str(path)


def test_profile_with_scalesim_and_compare(os_arch, monkeypatch, capsys):
    monkeypatch.setenv("CODESIGN_SCALESIM_PYTHON", str(FAKE / "python"))
    capsys.readouterr()
    assert main(["profile", "lenet5", "--arch", os_arch, "--engine", "scalesim", "--json", "--no-cache"]) == 0
    out = json.loads(capsys.readouterr().out)
    simulated = out["scalesim"]
    assert simulated["scalesim_dataflow"] == "os" and simulated["energy_pj"] is None  # no energy is made up
    assert simulated["cycles"] == sum(int(row[2]) for row in _recorded("os", "COMPUTE_REPORT.csv")) == 19446
    assert [layer["cycles"] for layer in simulated["layers"]] == [11764, 1761, 4909, 899, 113]
    assert out["engine"] == "analytic" and out["total"]["energy_pj"] > 0  # the accelerator's numbers kept beside
    assert main(["profile", "lenet5", "--arch", os_arch, "--engine", "scalesim", "--no-cache"]) == 0
    table = capsys.readouterr().out
    assert "SCALE-Sim os dataflow (os_pq_m)" in table and "11,764" in table and "analytic cyc" not in table
    assert "SCALE-Sim models no energy" in table
    assert main(["profile", "lenet5", "--arch", os_arch, "--engine", "scalesim", "--compare", "--no-cache"]) == 0
    compared = capsys.readouterr().out
    analytic = out["layers"][0]["cycles"]
    assert "analytic cyc" in compared and f"{analytic:,}" in compared and "a. uJ" in compared
    assert f"analytic engine {out['total']['cycles']:,} cycles" in compared


def test_a_dataflow_without_equivalent_fails_before_running(monkeypatch, capsys):
    monkeypatch.setenv("CODESIGN_SCALESIM_PYTHON", "/nonexistent/python")
    assert main(["profile", "lenet5", "--engine", "scalesim", "--no-cache"]) == 2  # the lab's ws: C x M
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "spreads C x M" in err and "--dataflow os_pq_m" in err


def test_missing_scalesim_says_how_to_get_it(os_arch, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("CODESIGN_SCALESIM_PYTHON", raising=False)
    monkeypatch.setattr(scalesim, "SIDE_VENV", tmp_path / "none")
    if scalesim._works_here():
        pytest.skip("SCALE-Sim runs in this interpreter")
    assert scalesim.unavailable() == scalesim.INSTALL_HINT
    assert main(["profile", "lenet5", "--arch", os_arch, "--engine", "scalesim", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "python -m tests.scalesim_env" in err and "numpy<2.4" in err


@pytest.fixture(scope="session")
def real_scalesim():
    """A Python running SCALE-Sim: CODESIGN_SCALESIM_PYTHON, else `.venv-scalesim/`, made here the first time
    (tests/scalesim_env.py: the same on every machine, so `pytest` runs what `.ci/run` runs)."""
    from tests.scalesim_env import scalesim_python

    python, why = scalesim_python()
    if python is None:
        pytest.skip(why)
    return python


@pytest.mark.parametrize("name", ["os", "ws", "is"])
def test_real_scalesim_gives_the_recorded_reports(real_scalesim, name, monkeypatch):
    """The real SCALE-Sim (deterministic) on LeNet-5 gives what the fake replays, cycle for cycle."""
    from tests.fake_scalesim.record import lenet5_workload

    monkeypatch.setenv("CODESIGN_SCALESIM_PYTHON", real_scalesim)
    result = scalesim.simulate(lenet5_workload(), _arch(DATAFLOWS[name]), "lenet5")
    compute = _recorded(name, "COMPUTE_REPORT.csv")
    assert [s.cycles for s in result.layers] == [int(row[2]) for row in compute]
    assert [s.cycles_with_prefetch for s in result.layers] == [int(row[1]) for row in compute]
    assert result.dataflow == name and result.seconds > 0


def test_the_api_keeps_scalesim_beside_the_analytic_profile(os_arch, monkeypatch):
    import codesign

    monkeypatch.setenv("CODESIGN_SCALESIM_PYTHON", str(FAKE / "python"))
    result = codesign.profile("lenet5", arch=os_arch, engine="scalesim", compare=True, cache=False)
    assert result.engine == "analytic" and result.simulated is not None and result.simulated.accelerator is result
    assert result.simulated.cycles == 19446 and result.simulated.stall_cycles == 8592
    assert result.comparison() == result.simulated.table() and "analytic cyc" in result.comparison()
    with pytest.raises(CodesignError, match="--timeloop-lab are the timeloop engine's; drop --engine scalesim"):
        codesign.profile("lenet5", engine="scalesim", timeloop_lab="lab")

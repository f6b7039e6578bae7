"""The `scalesim` engine: SCALE-Sim v3 simulates the network's layers on an os, ws or is systolic array.

It reports per layer the cycles (with fill/drain skew and SRAM stalls), utilization and SRAM/DRAM accesses, and
no energy: so it is not a cost `Engine` (those give energy) but a simulated engine (codesign.registry's
SIMULATED_ENGINES), run beside the analytic engine as `codesign profile --engine scalesim [--compare]`.

SCALE-Sim 3.0.0 converts a one-element array to int (`int(max(list of arrays))` in
memory/double_buffered_scratchpad_mem.py), which NumPy deprecated in 1.25 and made an error in 2.4; codesign
runs NumPy 2.4, so SCALE-Sim runs in a side interpreter with numpy<2.4 (CODESIGN_SCALESIM_PYTHON, or the
checkout's .venv-scalesim/ that `python -m tests.scalesim_env` makes).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from codesign.arch import Arch
from codesign.cost.external.scalesim_files import ScaleSimLayer, read_reports, scalesim_dataflow, write_inputs
from codesign.device.profile import AcceleratorCosts
from codesign.errors import CodesignError
from codesign.workload import Workload

ENGINE = "scalesim"
PYTHON_ENV = "CODESIGN_SCALESIM_PYTHON"
SIDE_VENV = Path(__file__).resolve().parents[3] / ".venv-scalesim"  # made by `python -m tests.scalesim_env`
REQUIREMENTS = ("scalesim==3.0.0", "numpy<2.4")  # 3.0.0 fails on NumPy >= 2.4 (module docstring)
INSTALL_HINT = (
    "SCALE-Sim is not installed: in a checkout run `python -m tests.scalesim_env`, or make an environment "
    f"(`python3 -m venv ss && ss/bin/pip install {' '.join(repr(r) for r in REQUIREMENTS)}`) and set "
    f"{PYTHON_ENV}=ss/bin/python"
)
# what the side interpreter runs: SCALE-Sim's own entry point, without its cycle-by-cycle trace files
RUN = (
    "import sys; from scalesim.scale_sim import scalesim; "
    "scalesim(save_disk_space=True, verbose=False, config='scale.cfg', topology='topology.csv', "
    "layout='layout.csv', input_type_gemm=False).run_scale(top_path='out')"
)


def _works_here() -> bool:
    """Whether this interpreter has SCALE-Sim and a NumPy it runs with."""
    if importlib.util.find_spec("scalesim") is None:
        return False
    major, minor = (int(v) for v in metadata.version("numpy").split(".")[:2])
    return (major, minor) < (2, 4)


def interpreter() -> str:
    """The Python that runs SCALE-Sim, or a one-line error saying how to get it."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        if shutil.which(named) is None and not Path(named).is_file():
            raise CodesignError(f"{PYTHON_ENV}={named}: no such interpreter; point it at a Python that has scalesim")
        return named
    side = SIDE_VENV / "bin" / "python"
    if side.is_file():
        return str(side)
    if _works_here():
        return sys.executable
    raise CodesignError(INSTALL_HINT)


def unavailable() -> str | None:
    """Why SCALE-Sim cannot run here (one line), or None."""
    try:
        interpreter()
    except CodesignError as exc:
        return str(exc)
    return None


@dataclass
class ScaleSimProfile:
    """A network's layers as SCALE-Sim simulates them on the arch's array: cycles, stalls, utilization and
    accesses per distinct layer; no energy (SCALE-Sim models none)."""

    label: str
    workload: Workload = field(repr=False)
    arch: Arch = field(repr=False)
    dataflow: str  # SCALE-Sim's: os, ws or is
    layers: list[ScaleSimLayer] = field(repr=False)
    seconds: float = 0.0  # SCALE-Sim's run, all layers
    config: str = field(default="", repr=False)  # the scale.cfg it ran with
    accelerator: AcceleratorCosts | None = field(default=None, repr=False)  # --compare: the analytic profile

    @property
    def cycles(self) -> int:
        """Cycles of one inference, layers in sequence."""
        return sum(s.total_cycles * layer.count for layer, s in zip(self.workload.layers, self.layers))

    @property
    def stall_cycles(self) -> int:
        """Cycles the array waited for DRAM, all layers."""
        return sum(s.stall_cycles * s.repeats * layer.count for layer, s in zip(self.workload.layers, self.layers))

    @property
    def utilization(self) -> float:
        """MACs / (cycles x PEs) over the whole network."""
        return self.workload.macs / (self.cycles * self.arch.pe_array.count) if self.cycles else 0.0

    def to_dict(self) -> dict[str, Any]:
        """What `codesign profile --engine scalesim --json` holds under `scalesim`."""
        return {
            "label": self.label,
            "arch": self.arch.name,
            "dataflow": self.arch.dataflow,
            "scalesim_dataflow": self.dataflow,
            "array": [self.arch.pe_array.x, self.arch.pe_array.y],
            "energy_pj": None,  # SCALE-Sim models no energy
            "cycles": self.cycles,
            "stall_cycles": self.stall_cycles,
            "utilization": self.utilization,
            "seconds": self.seconds,
            "layers": [dict(layer.to_dict(), **sim.to_dict()) for layer, sim in zip(self.workload.layers, self.layers)],
        }

    def table(self) -> str:
        """The per-layer table `codesign profile --engine scalesim` prints; with --compare the analytic engine's
        cycles, utilization and energy beside."""
        beside = self.accelerator
        head = (
            f"{'#':>2}  {'shape':<30} {'n':>2} {'MACs':>10} {'cycles':>9} {'stalls':>7} {'util':>5} {'map':>5} "
            f"{'SRAM rd':>9} {'DRAM rd':>8} {'DRAM wr':>8}"
        )
        if beside is not None:
            head += f" {'analytic cyc':>12} {'ratio':>7} {'a.util':>6} {'a. uJ':>8}"
        arch = self.arch
        lines = [
            f"{self.label} on {arch.name}: SCALE-Sim {self.dataflow} dataflow ({arch.dataflow}), "
            f"{arch.pe_array.x}x{arch.pe_array.y} array, input {tuple(self.workload.input_shape)}",
            head,
            "-" * len(head),
        ]
        costs = beside.costs if beside is not None else [None] * len(self.layers)
        for i, (layer, sim, cost) in enumerate(zip(self.workload.layers, self.layers, costs), 1):
            runs = f"{sim.total_cycles:,}" + ("" if sim.repeats == 1 else "*")
            line = (
                f"{i:>2}  {layer.shape:<30} {layer.count:>2} {layer.macs:>10,} {runs:>9} "
                f"{sim.stall_cycles * sim.repeats:>7,} {sim.utilization:>5.2f} {sim.mapping_efficiency:>5.2f} "
                f"{sum(sim.sram_reads.values()) * sim.repeats:>9,} {sum(sim.dram_reads.values()) * sim.repeats:>8,} "
                f"{sum(sim.dram_writes.values()) * sim.repeats:>8,}"
            )
            if cost is not None:
                line += (
                    f" {cost.cycles:>12,} {_ratio(cost.cycles, sim.total_cycles)} {cost.utilization:>6.2f}"
                    f" {cost.energy_pj / 1e6:>8.2f}"
                )
            lines.append(line)
        lines.append("-" * len(head))
        total = (
            f"SCALE-Sim   {self.cycles:,} cycles ({self.stall_cycles:,} stalled), utilization "
            f"{self.utilization:.3f}; simulated in {self.seconds:.1f} s"
        )
        if beside is not None:
            total += (
                f"; analytic engine {beside.cycles:,} cycles (SCALE-Sim {_ratio(beside.cycles, self.cycles).strip()} "
                f"as many), {beside.energy_mj:.4f} mJ"
            )
        lines.append(total)
        lines.append(
            "energy      none: SCALE-Sim models no energy"
            + (" (the analytic engine's is beside)" if beside is not None else "; add --compare for the analytic's")
        )
        lines.append(
            f"SRAMs       ifmap, filter, ofmap {_kb(self.config)} kB each (a third of the global buffer's "
            f"{arch.global_buffer.depth_words:,} words); DRAM {arch.dram.block_words} words/cycle"
        )
        if any(s.repeats > 1 for s in self.layers):
            lines.append("*           depthwise channels or batch images run one after another (repeats x one run)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _ratio(a: float, b: float) -> str:
    """b / a as `2.80x` in 7 characters (SCALE-Sim's cycles over the analytic engine's)."""
    return f"{b / a:>6.2f}x" if a else "    n/a"


def _kb(config: str) -> str:
    line = next((line for line in config.splitlines() if line.startswith("IfmapSramSzkB:")), ":?")
    return line.split(":", 1)[1].strip()


def simulate(workload: Workload, arch: Arch, label: str = "") -> ScaleSimProfile:
    """Run SCALE-Sim once over the workload's distinct layers on `arch`'s array (its own interpreter)."""
    dataflow = scalesim_dataflow(arch)  # before anything runs: a dataflow without an equivalent is an error
    python = interpreter()
    folder = Path(tempfile.mkdtemp(prefix="scalesim-"))
    rows = write_inputs(folder, list(workload.layers), arch)
    started = time.perf_counter()
    run = subprocess.run([python, "-c", RUN], cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    out = folder / "out" / "codesign"
    if run.returncode != 0 or not (out / "COMPUTE_REPORT.csv").is_file():
        lines = [line for line in (run.stderr + run.stdout).strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        raise CodesignError(f"SCALE-Sim failed (exit {run.returncode}): {last[:300]} (inputs kept in {folder})")
    layers = read_reports(out, rows)
    config = (folder / "scale.cfg").read_text()
    shutil.rmtree(folder, ignore_errors=True)
    return ScaleSimProfile(label, workload, arch, dataflow, layers, seconds, config)

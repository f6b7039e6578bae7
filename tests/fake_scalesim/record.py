"""Record the real SCALE-Sim's inputs and reports for LeNet-5 on the 16x16 os/ws/is arrays (what the fake replays).

python -m tests.fake_scalesim.record        # needs the side environment (python -m tests.scalesim_env)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from codesign.arch import load_arch
from codesign.cost.external.scalesim import RUN, interpreter
from codesign.cost.external.scalesim_files import SCALESIM_DATAFLOWS, write_inputs
from codesign.designs import load_design
from codesign.hardware import HardwareParams, derive_arch
from codesign.workload import Layer, Workload, trace

HERE = Path(__file__).resolve().parent
FILES = ("scale.cfg", "topology.csv", "COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")


def lenet5_workload() -> Workload:
    """LeNet-5 on a CIFAR-10 image, as `codesign profile lenet5` traces it."""
    return trace(load_design("lenet5").module, (1, 3, 32, 32))


def lenet5_layers() -> list[Layer]:
    """LeNet-5's distinct layers (what the recorded topology holds)."""
    return list(lenet5_workload().layers)


def record() -> None:
    """Run SCALE-Sim on LeNet-5 for each dataflow that has a SCALE-Sim equivalent; keep inputs and reports."""
    layers = lenet5_layers()
    for ours, theirs in SCALESIM_DATAFLOWS.items():
        arch = derive_arch(load_arch(None), HardwareParams(dataflow=ours))
        folder = HERE / theirs
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        write_inputs(folder, layers, arch)
        subprocess.run([interpreter(), "-c", RUN], cwd=folder, check=True, capture_output=True)
        for name in FILES[2:]:
            (folder / "out" / "codesign" / name).rename(folder / name)
        shutil.rmtree(folder / "out")
        (folder / "layout.csv").unlink()
        print(f"recorded {folder}")


if __name__ == "__main__":
    record()

"""The `accelforge` engine: AccelForge (the Timeloop project's successor) maps each unique layer.

Our Arch is translated into AccelForge's spec (memories DRAM → shared_glb → per-PE pe_spad and the three
1-word registers, a container of the arch's X × Y PEs whose X axis may only carry input channels and Y axis
only output channels for dense layers, as the lab's constraints say (codesign/cost/constraints.py); per-action
energies are the ones Timeloop charges). Each layer becomes a one-Einsum workload. AccelForge needs Python
>= 3.12, so the mapping runs in `accelforge_worker.py` under an interpreter that has it: this one if it can
import accelforge, else the one named by CODESIGN_ACCELFORGE_PYTHON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from codesign.arch import Arch
from codesign.cost.layer_cost import LayerCost
from codesign.errors import CodesignError
from codesign.workload import Layer

ENGINE = "accelforge"
PYTHON_ENV = "CODESIGN_ACCELFORGE_PYTHON"
WORKER = Path(__file__).with_name("accelforge_worker.py")
INSTALL_HINT = (
    f"AccelForge is not installed: it needs Python >= 3.12 (`pip install 'codesign[accelforge]'` there), "
    f"or make a separate environment (`python3.12 -m venv af && af/bin/pip install accelforge`) "
    f"and set {PYTHON_ENV}=af/bin/python"
)


def interpreter() -> str:
    """The Python that runs the worker, or a one-line error saying how to get AccelForge."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        if shutil.which(named) is None and not Path(named).is_file():
            raise CodesignError(f"{PYTHON_ENV}={named}: no such interpreter; point it at a Python that has accelforge")
        return named
    if importlib.util.find_spec("accelforge") is not None:
        return sys.executable
    raise CodesignError(INSTALL_HINT)


def _node(tag: str, body: dict) -> str:
    """One YAML list item carrying an AccelForge node tag (`!Memory`, `!Container`, `!Compute`)."""
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=200)
    return f"  - !{tag}\n" + "".join(f"    {line}\n" for line in text.splitlines())


def _memory(
    name: str,
    words: float | str,
    word_bits: int,
    block_words: int,
    read_pj: float,
    write_pj: float,
    tensors: dict,
    throughput: float | str = "inf",
) -> str:
    bits = word_bits * block_words
    actions = [
        {"name": "read", "energy": read_pj * 1e-12, "bits_per_action": bits, "throughput": throughput},
        {"name": "write", "energy": write_pj * 1e-12, "bits_per_action": bits, "throughput": throughput},
    ]
    size = words if isinstance(words, str) else int(words) * word_bits
    return _node(
        "Memory", {"name": name, "size": size, "leak_power": 0, "area": 0, "tensors": tensors, "actions": actions}
    )


def arch_yaml(arch: Arch, depthwise: bool) -> str:
    """Our Arch as an AccelForge architecture spec (the dense or the depthwise constraint set)."""
    word = arch.word_bits
    glb, dram, spad, reg = arch.global_buffer, arch.dram, arch.weight_spad, arch.registers
    # Timeloop charges one buffer action per block, and the buffer moves `bandwidth` words per cycle.
    glb_actions_per_cycle = glb.read_bandwidth / glb.block_words
    x = {"name": "X", "fanout": arch.pe_array.x}
    y = {"name": "Y", "fanout": arch.pe_array.y}
    if not depthwise:
        x["loop_bounds"] = [{"expression": "~c", "operator": "==", "value": 1}]
        y["loop_bounds"] = [{"expression": "~m", "operator": "==", "value": 1}]
    nodes = [
        _memory(
            "DRAM",
            "inf",
            word,
            dram.block_words,
            dram.read_pj,
            dram.fill_pj,
            {"keep": "~Intermediates", "may_keep": "All"},
        ),
        _memory(
            "shared_glb",
            glb.depth_words,
            word,
            glb.block_words,
            glb.read_pj,
            glb.fill_pj,
            {"may_keep": "All"},
            throughput=glb_actions_per_cycle,
        ),
        _node("Container", {"name": "PE", "spatial": [x, y]}),
        _memory("pe_spad", spad.depth_words, word, 1, spad.read_pj, spad.fill_pj, {"keep": "weight"}),
        *(
            _memory(name, reg.depth_words, word, 1, reg.read_pj, reg.fill_pj, {"keep": tensor})
            for name, tensor in (
                ("weight_reg", "weight"),
                ("input_activation_reg", "input"),
                ("output_activation_reg", "output"),
            )
        ),
        _node(
            "Compute",
            {
                "name": "mac",
                "leak_power": 0,
                "area": 0,
                "actions": [{"name": "compute", "energy": arch.mac.energy_pj * 1e-12, "throughput": 1}],
            },
        ),
    ]
    return "arch:\n  nodes:\n" + "".join(nodes)


def workload(layer: Layer, word_bits: int) -> dict:
    """The layer as one AccelForge Einsum (size-1 rank variables left out but c and m; depthwise has no m)."""
    sizes = {
        "c": layer.C,
        "m": 1 if layer.depthwise else layer.M,
        "p": layer.P,
        "q": layer.Q,
        "r": layer.R,
        "s": layer.S,
    }
    # c and m stay even at size 1: the PE array's loop bounds name them ("~c": X carries only input channels)
    keep = {"c"} if layer.depthwise else {"c", "m"}
    present = {v: n for v, n in sizes.items() if n > 1 or v in keep}

    def term(scale: int, var: str) -> list[str]:
        return [] if var not in present else [var if scale == 1 else f"{scale}*{var}"]

    def project(ranks: dict[str, list[str]]) -> dict[str, str]:
        return {rank: " + ".join(terms) for rank, terms in ranks.items() if terms}

    out_channel = "c" if layer.depthwise else "m"
    # Timeloop's pairing (workload.Layer): P and R stride by Wstride, Q and S by Hstride
    inputs = project(
        {
            "H": term(layer.Wstride, "p") + term(layer.Wdilation, "r"),
            "W": term(layer.Hstride, "q") + term(layer.Hdilation, "s"),
        }
        | {"C": term(1, "c")}
    )
    weights = project(
        {"C": term(1, "c"), "M": [] if layer.depthwise else term(1, "m"), "R": term(1, "r"), "S": term(1, "s")}
    )
    outputs = project({"M": term(1, out_channel), "P": term(1, "p"), "Q": term(1, "q")})
    return {
        "workload": {
            "iteration_space_shape": {v: f"0 <= {v} < {n}" for v, n in present.items()},
            "bits_per_value": {"All": word_bits},
            "einsums": [
                {
                    "name": "layer",
                    "tensor_accesses": [
                        {"name": "I", "projection": inputs},
                        {"name": "W", "projection": weights},
                        {"name": "O", "projection": outputs, "output": True},
                    ],
                    "renames": {"input": "I", "weight": "W", "output": "O"},
                }
            ],
        }
    }


def accelforge_cost(layer: Layer, arch: Arch) -> LayerCost:
    """Map one layer with AccelForge (in a worker process) and return its best mapping's cost."""
    python = interpreter()
    folder = Path(tempfile.mkdtemp(prefix="accelforge-"))
    (folder / "arch.yaml").write_text(arch_yaml(arch, layer.depthwise))
    (folder / "workload.yaml").write_text(yaml.safe_dump(workload(layer, arch.word_bits), sort_keys=False))
    # -P: not the script folder on sys.path, where this module would shadow the accelforge package
    run = subprocess.run(
        [python, "-P", str(WORKER), "arch.yaml", "workload.yaml"], cwd=folder, capture_output=True, text=True
    )
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines or not lines[-1].startswith("{"):
        errors = [line for line in run.stderr.strip().splitlines() if line.strip()]
        last = errors[-1] if errors else (lines[-1] if lines else "no output")
        if '"dot" not found' in last:
            # AccelForge >= 1.0.467 draws every chosen mapping with Graphviz while it evaluates it
            last = "it needs Graphviz's `dot` on PATH: install Graphviz (apt-get or brew install graphviz)"
        raise CodesignError(
            f"AccelForge failed on layer {layer.shape} (exit {run.returncode}): {last} (inputs kept in {folder})"
        )
    result = json.loads(lines[-1])
    shutil.rmtree(folder, ignore_errors=True)
    cycles = max(int(result["cycles"]), 1)
    return LayerCost(
        engine=ENGINE,
        energy_pj=result["energy_pj"],
        cycles=cycles,
        utilization=layer.macs / (cycles * arch.pe_array.count),
        level_energy_pj=result["level_energy_pj"],
        mapping=result["mapping"],
        seconds=result["seconds"],
    )


@dataclass(frozen=True)
class AccelForgeEngine:
    """AccelForge's own mapper and model (2 s to 15 min per layer), in a Python >= 3.12 worker."""

    name: str = ENGINE
    parallel: bool = True

    def unavailable(self) -> str | None:
        """Why no interpreter with AccelForge can be found, or None."""
        try:
            interpreter()
        except CodesignError as exc:
            return str(exc)
        return None

    def cache_key(self, arch: Arch) -> str:
        """AccelForge searches on its own terms: the engine name is the whole key."""
        return ENGINE

    def cost(self, layer: Layer, arch: Arch) -> LayerCost:
        """Map `layer` with AccelForge."""
        return accelforge_cost(layer, arch)

"""The `timeloop` engine: the real timeloop-mapper (with Accelergy's energies), one run per unique layer.

Each layer gets a folder with its problem file beside lab-format architecture, constraint and mapper
files. By default those are written from our Arch (the per-action energies go in as an ERT, so no
Accelergy plug-ins are needed); `lab_dir` points at the lab's own `arch/`, `constraints/`,
`constraints_dw/` and `mapper/` folders instead (inside the lab's Docker image, say). The mapper's stats
are parsed into the same LayerCost every engine returns.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codesign.arch import Arch
from codesign.cost.constraints import constraints
from codesign.cost.external.timeloop_stats import load_stats
from codesign.cost.layer_cost import LayerCost
from codesign.errors import CodesignError
from codesign.workload import Layer

ENGINE = "timeloop"
MAPPER = "timeloop-mapper"
INSTALL_HINT = (
    "timeloop-mapper is not on PATH: run codesign inside the lab's Timeloop/Accelergy Docker image "
    "(or build Timeloop from source), or use --engine analytic, which reproduces its numbers"
)


def mapper_settings(arch: Arch) -> dict:
    """timeloop-mapper's mapper section from the arch's (the lab's 2023 settings by default)."""
    m = arch.mapper
    return {
        "mapper": {
            "version": 0.3,
            "algorithm": "random-pruned",
            "optimization-metrics": list(m.optimization_metrics),
            "num-threads": m.num_threads,
            "timeout": m.timeout,
            "victory-condition": m.victory_condition,
            "max-permutations-per-if-visit": m.max_permutations_per_if_visit,
            "live-status": False,
        }
    }


def problem(layer: Layer) -> dict:
    """Timeloop's CNN-Layer problem for `layer` (6-D without M for depthwise, as the lab's converter)."""
    dims = ["C", "R", "S", "N", "P", "Q"] if layer.depthwise else ["C", "M", "R", "S", "N", "P", "Q"]
    out_channel = "C" if layer.depthwise else "M"
    weights = [[["C"]], [["R"]], [["S"]]] if layer.depthwise else [[["C"]], [["M"]], [["R"]], [["S"]]]
    instance = {
        "C": layer.C,
        "R": layer.R,
        "S": layer.S,
        "N": layer.N,
        "P": layer.P,
        "Q": layer.Q,
        "Wstride": layer.Wstride,
        "Hstride": layer.Hstride,
        "Wdilation": layer.Wdilation,
        "Hdilation": layer.Hdilation,
    }
    if not layer.depthwise:
        instance["M"] = layer.M
    return {
        "problem": {
            "shape": {
                "name": "CNN-Layer",
                "dimensions": dims,
                "coefficients": [{"name": n, "default": 1} for n in ("Wstride", "Hstride", "Wdilation", "Hdilation")],
                "data-spaces": [
                    {"name": "Weights", "projection": weights},
                    {
                        "name": "Inputs",
                        "projection": [
                            [["N"]],
                            [["C"]],
                            [["R", "Wdilation"], ["P", "Wstride"]],
                            [["S", "Hdilation"], ["Q", "Hstride"]],
                        ],
                    },
                    {"name": "Outputs", "projection": [[["N"]], [[out_channel]], [["Q"]], [["P"]]], "read-write": True},
                ],
            },
            "instance": instance,
        }
    }


def _component(name: str, cls: str, **attributes: Any) -> dict:
    return {"name": name, "class": cls, "attributes": attributes}


def _pe_components(arch: Arch) -> list[dict]:
    """What every PE holds: the weight scratchpad, three one-word registers and the MAC."""
    word, mesh = arch.word_bits, {"meshX": arch.pe_array.x}
    storage = {"width": word, "word-bits": word, "block-size": 1, **mesh}
    regs = [
        _component(name, "reg_storage", depth=arch.registers.depth_words, **storage)
        for name in ("weight_reg", "input_activation_reg", "output_activation_reg")
    ]
    spad = _component(
        "pe_spad",
        "smartbuffer_RF",
        memory_depth=arch.weight_spad.depth_words,
        memory_width=word,
        **{k: v for k, v in storage.items() if k != "width"},
    )
    return [spad, *regs, _component("mac", "intmac", datawidth=word, **mesh)]


def architecture(arch: Arch) -> dict:
    """Our Arch in Timeloop's v0.3 architecture format (the lab's hierarchy and names)."""
    glb, word = arch.global_buffer, arch.word_bits
    dram = _component(
        "DRAM",
        "DRAM",
        type="LPDDR4",
        width=word * arch.dram.block_words,
        **{"block-size": arch.dram.block_words, "word-bits": word},
    )
    buffer = _component(
        "shared_glb",
        "smartbuffer_SRAM",
        memory_depth=glb.depth_words // glb.block_words,
        memory_width=word * glb.block_words,
        n_banks=32,
        **{"block-size": glb.block_words, "word-bits": word},
        read_bandwidth=glb.read_bandwidth,
        write_bandwidth=glb.write_bandwidth,
    )
    pes = {"name": f"PE[0..{arch.pe_array.count - 1}]", "local": _pe_components(arch)}
    chip = {"name": "simple_ws", "attributes": {"technology": "45nm"}, "local": [buffer], "subtree": [pes]}
    return {"architecture": {"version": 0.3, "subtree": [{"name": "system", "local": [dram], "subtree": [chip]}]}}


def energy_table(arch: Arch) -> dict:
    """An Accelergy ERT holding the per-action energies Timeloop charges (pJ per block access)."""
    pes = arch.pe_array.x * arch.pe_array.y
    pe = f"system.simple_ws.PE[0..{pes - 1}]"
    actions = lambda read, write: [
        {"name": "read", "energy": read},
        {"name": "write", "energy": write},
        {"name": "update", "energy": write},
        {"name": "idle", "energy": 0.0},
    ]
    reg = arch.registers
    tables = [
        {"name": "system.DRAM", "actions": actions(arch.dram.read_pj, arch.dram.fill_pj)},
        {
            "name": "system.simple_ws.shared_glb",
            "actions": actions(arch.global_buffer.read_pj, arch.global_buffer.fill_pj),
        },
        {"name": f"{pe}.pe_spad", "actions": actions(arch.weight_spad.read_pj, arch.weight_spad.fill_pj)},
        *(
            {"name": f"{pe}.{name}", "actions": actions(reg.read_pj, reg.fill_pj)}
            for name in ("weight_reg", "input_activation_reg", "output_activation_reg")
        ),
        {
            "name": f"{pe}.mac",
            "actions": [{"name": "mac_random", "energy": arch.mac.energy_pj}, {"name": "idle", "energy": 0.0}],
        },
    ]
    return {"ERT": {"version": 0.3, "tables": tables}}


def layer_inputs(layer: Layer, arch: Arch, folder: Path, lab_dir: Path | None = None) -> list[Path]:
    """Write the mapper's input files for `layer` into `folder`; returns them in command-line order."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problem.yaml").write_text(yaml.safe_dump(problem(layer), sort_keys=False))
    if lab_dir is not None:
        cons = "constraints_dw" if layer.depthwise else "constraints"
        groups = [lab_dir / "arch", lab_dir / "arch" / "components", lab_dir / "mapper", lab_dir / cons]
        files = [f for g in groups for f in sorted(g.glob("*.yaml"))]
        if not files:
            raise CodesignError(f"{lab_dir}: no arch/, mapper/ or {cons}/ YAML files (the lab's folder layout)")
        return [*files, folder / "problem.yaml"]
    generated = {
        "arch.yaml": architecture(arch),
        "ert.yaml": energy_table(arch),
        "constraints.yaml": constraints(layer.depthwise, arch.dataflow),
        "mapper.yaml": mapper_settings(arch),
    }
    for name, body in generated.items():
        (folder / name).write_text(yaml.safe_dump(body, sort_keys=False))
    return [folder / name for name in generated] + [folder / "problem.yaml"]


def arch_inputs(arch: Arch, folder: Path) -> list[Path]:
    """Write the Timeloop inputs of `arch` that every layer shares into `folder`: arch.yaml, ert.yaml,
    mapper.yaml and the dataflow's constraints (constraints.yaml for dense problems, constraints_dw.yaml for
    depthwise ones); a layer's problem.yaml completes a timeloop-mapper command line."""
    folder.mkdir(parents=True, exist_ok=True)
    generated = {
        "arch.yaml": architecture(arch),
        "ert.yaml": energy_table(arch),
        "constraints.yaml": constraints(False, arch.dataflow),
        "constraints_dw.yaml": constraints(True, arch.dataflow),
        "mapper.yaml": mapper_settings(arch),
    }
    for name, body in generated.items():
        (folder / name).write_text(yaml.safe_dump(body, sort_keys=False))
    return [folder / name for name in generated]


def timeloop_cost(layer: Layer, arch: Arch, binary: str, lab_dir: Path | None = None) -> LayerCost:
    """Run timeloop-mapper on one layer and read its stats."""
    folder = Path(tempfile.mkdtemp(prefix="timeloop-"))
    files = layer_inputs(layer, arch, folder, lab_dir)
    run = subprocess.run([binary, *map(str, files)], cwd=folder, capture_output=True, text=True)
    stats_path = folder / "timeloop-mapper.stats.txt"
    if run.returncode != 0 or not stats_path.is_file():
        last = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CodesignError(
            f"timeloop-mapper failed on layer {layer.shape} (exit {run.returncode}): {last[0]} "
            f"(inputs kept in {folder})"
        )
    stats = load_stats(stats_path)
    map_path = folder / "timeloop-mapper.map.txt"
    loops = (
        [line.strip().lstrip("| ").strip() for line in map_path.read_text().splitlines() if "for " in line]
        if map_path.is_file()
        else []
    )
    mapping = "; ".join(loop for loop in loops if not loop.endswith("[0:1)"))
    shutil.rmtree(folder, ignore_errors=True)
    return LayerCost(
        engine=ENGINE,
        energy_pj=stats.energy_pj,
        cycles=stats.cycles,
        utilization=layer.macs / (stats.cycles * arch.pe_array.count),
        level_energy_pj=stats.level_energy_pj,
        mapping=mapping,
    )


@dataclass(frozen=True)
class TimeloopEngine:
    """The real timeloop-mapper, about a minute per layer; `lab_dir` (or $CODESIGN_TIMELOOP_LAB) uses the
    lab's own input files instead of ones written from the arch."""

    lab_dir: Path | None = None
    name: str = ENGINE
    parallel: bool = True

    def _lab_dir(self) -> Path | None:
        named = self.lab_dir or os.environ.get("CODESIGN_TIMELOOP_LAB")
        return Path(named) if named else None

    def unavailable(self) -> str | None:
        """The install hint when timeloop-mapper is not on PATH."""
        return None if shutil.which(MAPPER) else INSTALL_HINT

    def cache_key(self, arch: Arch) -> str:
        """The lab folder's location when one is used, else the mapper settings written from the arch."""
        lab = self._lab_dir()
        if lab is not None:
            return f"{ENGINE}-lab-{hashlib.sha256(str(lab.resolve()).encode()).hexdigest()[:8]}"
        return f"{ENGINE}-{arch.mapper.digest}"

    def cost(self, layer: Layer, arch: Arch) -> LayerCost:
        """Run timeloop-mapper on `layer`."""
        binary = shutil.which(MAPPER)
        if binary is None:
            raise CodesignError(INSTALL_HINT)
        return timeloop_cost(layer, arch, binary, self._lab_dir())

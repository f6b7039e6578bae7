"""SCALE-Sim v3's input files written from our Arch and layers, and its three reports read back.

SCALE-Sim simulates one systolic array (rows x columns of MACs) fed by three double-buffered SRAMs (ifmap,
filter, ofmap) from DRAM. What we give it, from the Arch:
- `Dataflow`: os, ws or is, from the arch's dataflow (`SCALESIM_DATAFLOWS`: only those of ours that spread the
  same dimensions over the array as SCALE-Sim's; the others have no SCALE-Sim equivalent).
- `ArrayHeight` = `pe_array.x`, `ArrayWidth` = `pe_array.y`: SCALE-Sim's rows carry what our dataflow files put on
  X (os: output pixels; ws, is: a filter window R*S*C) and its columns what they put on Y (M; is: output pixels).
- the three SRAMs: the global buffer's words split in three equal parts. SCALE-Sim's word is one byte, so one of
  its kB holds 1024 of our words (capacity in words kept; word width is not modelled).
- `Bandwidth` (USER mode): DRAM words per cycle = one DRAM block per cycle (`dram.block_words`).
A layer's IFMAP is the padded input window its outputs read, ((P-1)*stride + R) x ((Q-1)*stride + S), since
SCALE-Sim has no padding. A depthwise layer is simulated as one channel (C=1, one filter) and a batch as one
image; `repeats` (channels x batch) says how many times it runs back to back.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.arch import Arch
from codesign.errors import CodesignError
from codesign.workload import Layer

# our dataflow -> SCALE-Sim's: the same dimensions on the array's two axes (arch/dataflows/README.md)
SCALESIM_DATAFLOWS = {"os_pq_m": "os", "ws_rsc_m": "ws", "is_rsc_pq": "is"}
WORDS_PER_KB = 1024  # SCALE-Sim's SRAM word is one byte


def scalesim_dataflow(arch: Arch) -> str:
    """SCALE-Sim's `Dataflow` for the arch, or a one-line error naming the dataflows that have one."""
    found = SCALESIM_DATAFLOWS.get(arch.dataflow)
    if found is None:
        pairs = ", ".join(f"{ours} (SCALE-Sim {theirs})" for ours, theirs in SCALESIM_DATAFLOWS.items())
        raise CodesignError(
            f"arch {arch.name}: dataflow {arch.dataflow!r} spreads C x M over the array, which no SCALE-Sim "
            f"dataflow does; SCALE-Sim simulates {pairs}: `codesign arch --dataflow os_pq_m --out FILE.yaml`"
        )
    return found


@dataclass(frozen=True)
class TopologyRow:
    """One layer as SCALE-Sim's conv topology holds it, and how many times it runs in sequence."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int
    repeats: int  # depthwise channels x batch: SCALE-Sim simulates one, the layer runs it this many times


def topology_row(index: int, layer: Layer) -> TopologyRow:
    """The layer as a SCALE-Sim topology row, or a one-line error for what SCALE-Sim cannot express."""
    where = f"layer {index} ({layer.shape})"
    if layer.Wstride != layer.Hstride:
        raise CodesignError(f"{where}: SCALE-Sim takes one stride for both axes, not {layer.Wstride}x{layer.Hstride}")
    if layer.Wdilation != 1 or layer.Hdilation != 1:
        raise CodesignError(f"{where}: SCALE-Sim has no dilated convolutions")
    stride = layer.Wstride
    channels, filters = (1, 1) if layer.depthwise else (layer.C, layer.M)
    return TopologyRow(
        name=f"layer{index}",
        ifmap_h=(layer.P - 1) * stride + layer.R,  # P pairs with R (codesign.workload.Layer)
        ifmap_w=(layer.Q - 1) * stride + layer.S,
        filter_h=layer.R,
        filter_w=layer.S,
        channels=channels,
        filters=filters,
        stride=stride,
        repeats=layer.N * (layer.C if layer.depthwise else 1),
    )


TOPOLOGY_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
# SCALE-Sim reads a layout file even when no custom layout is used; these are its example's values, unused
LAYOUT_HEAD = "Layer name, layout (unused: IfmapCustomLayout and FilterCustomLayout are False),"
LAYOUT_ROW = "1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3,"


def topology_csv(rows: list[TopologyRow]) -> str:
    """SCALE-Sim's conv topology file (every row ends with a comma, as its parser expects)."""
    body = [
        f"{r.name}, {r.ifmap_h}, {r.ifmap_w}, {r.filter_h}, {r.filter_w}, {r.channels}, {r.filters}, {r.stride},"
        for r in rows
    ]
    return "\n".join([TOPOLOGY_HEAD, *body]) + "\n"


def layout_csv(rows: list[TopologyRow]) -> str:
    """The layout file SCALE-Sim insists on reading (one row per layer; unused with the default layout)."""
    return "\n".join([LAYOUT_HEAD, *(f"{r.name}, {LAYOUT_ROW}" for r in rows)]) + "\n"


def sram_kb(arch: Arch) -> int:
    """Each of SCALE-Sim's three SRAMs: a third of the global buffer's words, in its 1024-word kB (at least 1)."""
    return max(1, arch.global_buffer.depth_words // 3 // WORDS_PER_KB)


def config_cfg(arch: Arch) -> str:
    """SCALE-Sim's .cfg for the arch: array shape, SRAM sizes, dataflow and DRAM bandwidth (USER mode)."""
    kb = sram_kb(arch)
    return f"""[general]
run_name = codesign

[architecture_presets]
ArrayHeight: {arch.pe_array.x}
ArrayWidth: {arch.pe_array.y}
IfmapSramSzkB: {kb}
FilterSramSzkB: {kb}
OfmapSramSzkB: {kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {arch.dram.block_words}
Dataflow: {scalesim_dataflow(arch)}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""


def write_inputs(folder: Path, layers: list[Layer], arch: Arch) -> list[TopologyRow]:
    """Write scale.cfg, topology.csv and layout.csv for the layers into `folder`; the rows written."""
    rows = [topology_row(i, layer) for i, layer in enumerate(layers, 1)]
    (folder / "scale.cfg").write_text(config_cfg(arch))
    (folder / "topology.csv").write_text(topology_csv(rows))
    (folder / "layout.csv").write_text(layout_csv(rows))
    return rows


@dataclass(frozen=True)
class ScaleSimLayer:
    """What SCALE-Sim reports for one layer (once; `repeats` back-to-back runs make the layer), per its reports."""

    cycles: int  # COMPUTE_REPORT "Total Cycles": compute plus stalls, after the first fill of the SRAMs
    cycles_with_prefetch: int  # "Total Cycles (incl. prefetch)"
    stall_cycles: int
    utilization: float  # "Overall Util %" / 100: MACs / (cycles x PEs)
    mapping_efficiency: float  # "Mapping Efficiency %" / 100: the array's PEs the folds occupy
    compute_utilization: float  # "Compute Util %" / 100: busy PEs while computing (fill and drain included)
    sram_reads: dict[str, int]  # ifmap, filter (DETAILED_ACCESS_REPORT)
    sram_writes: dict[str, int]  # ofmap
    dram_reads: dict[str, int]  # ifmap, filter
    dram_writes: dict[str, int]  # ofmap
    bandwidth: dict[str, float]  # BANDWIDTH_REPORT: average words per cycle of each SRAM and DRAM stream
    repeats: int = 1

    @property
    def total_cycles(self) -> int:
        """Cycles of the layer as the network runs it: `repeats` runs of the simulated one."""
        return self.cycles * self.repeats

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON (the reports' names in snake case)."""
        return {
            "cycles": self.cycles,
            "cycles_with_prefetch": self.cycles_with_prefetch,
            "stall_cycles": self.stall_cycles,
            "utilization": self.utilization,
            "mapping_efficiency": self.mapping_efficiency,
            "compute_utilization": self.compute_utilization,
            "sram_reads": self.sram_reads,
            "sram_writes": self.sram_writes,
            "dram_reads": self.dram_reads,
            "dram_writes": self.dram_writes,
            "bandwidth": self.bandwidth,
            "repeats": self.repeats,
            "total_cycles": self.total_cycles,
        }


def _report(path: Path) -> list[dict[str, str]]:
    """A SCALE-Sim report (`Name, Name, ...,` header, one row per layer; trailing commas) as dicts."""
    if not path.is_file():
        raise CodesignError(f"SCALE-Sim wrote no {path.name} (in {path.parent})")
    with path.open(newline="") as handle:
        table = [[cell.strip() for cell in row] for row in csv.reader(handle) if any(c.strip() for c in row)]
    head = [name for name in table[0] if name]
    return [dict(zip(head, row)) for row in table[1:]]


def read_reports(folder: Path, rows: list[TopologyRow]) -> list[ScaleSimLayer]:
    """The per-layer results from COMPUTE_REPORT, BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT in `folder`."""
    compute = _report(folder / "COMPUTE_REPORT.csv")
    bandwidth = _report(folder / "BANDWIDTH_REPORT.csv")
    access = _report(folder / "DETAILED_ACCESS_REPORT.csv")
    if not len(compute) == len(bandwidth) == len(access) == len(rows):
        raise CodesignError(
            f"SCALE-Sim reported {len(compute)} layers for the {len(rows)} it was given (reports in {folder})"
        )
    found = []
    for row, c, b, a in zip(rows, compute, bandwidth, access):
        try:
            found.append(
                ScaleSimLayer(
                    cycles=int(float(c["Total Cycles"])),
                    cycles_with_prefetch=int(float(c["Total Cycles (incl. prefetch)"])),
                    stall_cycles=int(float(c["Stall Cycles"])),
                    utilization=float(c["Overall Util %"]) / 100,
                    mapping_efficiency=float(c["Mapping Efficiency %"]) / 100,
                    compute_utilization=float(c["Compute Util %"]) / 100,
                    sram_reads={"ifmap": int(a["SRAM IFMAP Reads"]), "filter": int(a["SRAM Filter Reads"])},
                    sram_writes={"ofmap": int(a["SRAM OFMAP Writes"])},
                    dram_reads={"ifmap": int(a["DRAM IFMAP Reads"]), "filter": int(a["DRAM Filter Reads"])},
                    dram_writes={"ofmap": int(a["DRAM OFMAP Writes"])},
                    bandwidth={
                        key.removeprefix("Avg ").replace(" ", "_").lower(): float(v)
                        for key, v in b.items()
                        if key.startswith("Avg ")
                    },
                    repeats=row.repeats,
                )
            )
        except (KeyError, ValueError) as exc:
            raise CodesignError(f"SCALE-Sim's reports in {folder}: {row.name}: unreadable field {exc}") from None
    return found

"""Derived accelerators: the lab's template at other sizes and dataflows, with energies and area scaled.

A `HardwareParams` (PE mesh X × Y, per-PE scratchpad depth, global-buffer depth and bandwidth, word bits,
dataflow) applied to a base arch gives a new `Arch` that every engine accepts. The base's own numbers
are Accelergy's for the lab's 45 nm design (../shared/reference/README.md sections 2-3); other sizes
scale them the way the component models that produced them behave:

- DRAM (Accelergy's LPDDR4 table, 8 pJ per bit): energy per block ∝ word bits.
- global buffer (CACTI SRAM) and weight scratchpad (Aladdin register file): energy per access ∝ word
  bits × √(depth / base depth). Per-access SRAM energy grows with the square root of capacity (bit-line
  and word-line length ∝ √cells); Horowitz, "Computing's energy problem", ISSCC 2014: 64-bit reads of
  8 KB / 32 KB / 1 MB SRAMs cost 10 / 20 / 100 pJ, i.e. ×2 per ×4 capacity.
- registers: Timeloop's own PAT fallback for a 1-entry memory (what it charges for the lab's registers):
  E = (1 + 5/99.5 × (bits/8192 − 0.5)) × bits/16 pJ.
- MAC (Aladdin intmac): energy ∝ bits² (an array multiplier dominates; Horowitz 2014: 8-bit multiply
  0.2 pJ vs 32-bit 3.1 pJ).
- area (Accelergy ART of the base): SRAM, register file and registers ∝ their bits, MAC ∝ bits².
- bandwidth: words per cycle only (Timeloop's throughput attribute); neither Accelergy's SRAM energy nor
  its area depends on it, so neither does ours.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from codesign.arch import Arch, Dram, GlobalBuffer, PEArray, Registers, WeightSpad
from codesign.config import check, limits
from codesign.dataflow import DEFAULT_DATAFLOW, dataflow_names
from codesign.errors import CodesignError

UM2_PER_MM2 = 1e6
WORD_BITS = (8, 16, 32)
DATAFLOWS = dataflow_names()  # arch/dataflows/*.yaml


_SIZE = limits(min=1)


@dataclass(frozen=True)
class HardwareParams:
    """The sizes and dataflow of one accelerator (what the joint search varies)."""

    pe_x: int = field(default=16, metadata=_SIZE)
    pe_y: int = field(default=16, metadata=_SIZE)
    weight_spad_depth: int = field(default=192, metadata=_SIZE)
    glb_depth: int = field(default=65536, metadata=_SIZE)
    glb_bandwidth: int = field(default=16, metadata=_SIZE)
    word_bits: int = field(default=16, metadata=limits(choices=WORD_BITS))
    dataflow: str = field(default=DEFAULT_DATAFLOW, metadata=limits(choices=DATAFLOWS))

    def __post_init__(self) -> None:
        check(self, "hardware")

    @classmethod
    def of(cls, arch: Arch) -> HardwareParams:
        """The parameters an existing arch has."""
        return cls(
            arch.pe_array.x,
            arch.pe_array.y,
            arch.weight_spad.depth_words,
            arch.global_buffer.depth_words,
            int(arch.global_buffer.read_bandwidth),
            arch.word_bits,
            arch.dataflow,
        )

    @property
    def label(self) -> str:
        """Short name, dataflow first: e.g. `ws16x16-s192-g64k-b16-w16`, `os_pq_m8x32-s192-g16k-b16-w8`."""
        return f"{self.dataflow}{self.sizes_label}"

    @property
    def sizes_label(self) -> str:
        """The sizes part of the label, e.g. `16x16-s192-g64k-b16-w16`."""
        glb = f"{self.glb_depth // 1024}k" if self.glb_depth % 1024 == 0 else str(self.glb_depth)
        return f"{self.pe_x}x{self.pe_y}-s{self.weight_spad_depth}-g{glb}-b{self.glb_bandwidth}-w{self.word_bits}"


FIELDS = tuple(f.name for f in dataclasses.fields(HardwareParams))  # what a joint search may vary (trials.csv columns)
SIZES = tuple(name for name in FIELDS if name != "dataflow")  # the numeric ones


def register_energy_pj(word_bits: int) -> float:
    """Timeloop's PAT SRAM fallback for a 1-entry register of `word_bits` (0.9749725 pJ at 16 bits)."""
    return (1 + (5 / 99.5) * (word_bits / 8192 - 0.5)) * word_bits / 16


def derive_arch(base: Arch, hw: HardwareParams, name: str | None = None, dataflow: str | None = None) -> Arch:
    """`base` resized to `hw` under `dataflow` (else `hw`'s), every per-action energy and area scaled by the
    rules in this module. The dataflow changes no size, energy or area: only the constraints."""
    flow = dataflow or hw.dataflow
    if hw.glb_depth % base.global_buffer.block_words:
        raise CodesignError(
            f"hardware `glb_depth` {hw.glb_depth} must be a multiple of the buffer's "
            f"{base.global_buffer.block_words}-word block"
        )
    bits = hw.word_bits / base.word_bits
    glb_scale = bits * math.sqrt(hw.glb_depth / base.global_buffer.depth_words)
    spad_scale = bits * math.sqrt(hw.weight_spad_depth / base.weight_spad.depth_words)
    reg_scale = register_energy_pj(hw.word_bits) / register_energy_pj(base.word_bits)
    glb, spad, reg, dram = base.global_buffer, base.weight_spad, base.registers, base.dram
    area = base.area
    return dataclasses.replace(
        base,
        name=name or f"{base.name}-{flow}{hw.sizes_label}",
        dataflow=flow,
        word_bits=hw.word_bits,
        mac=dataclasses.replace(base.mac, energy_pj=base.mac.energy_pj * bits**2),
        pe_array=PEArray(hw.pe_x, hw.pe_y),
        dram=Dram(dram.block_words, dram.read_pj * bits, dram.fill_pj * bits, dram.update_pj * bits),
        global_buffer=GlobalBuffer(
            hw.glb_depth,
            glb.block_words,
            float(hw.glb_bandwidth),
            float(hw.glb_bandwidth),
            glb.read_pj * glb_scale,
            glb.fill_pj * glb_scale,
            glb.update_pj * glb_scale,
        ),
        weight_spad=WeightSpad(hw.weight_spad_depth, spad.read_pj * spad_scale, spad.fill_pj * spad_scale),
        registers=Registers(
            reg.depth_words, reg.read_pj * reg_scale, reg.fill_pj * reg_scale, reg.update_pj * reg_scale
        ),
        area=dataclasses.replace(
            area,
            global_buffer_um2=area.global_buffer_um2 * bits * hw.glb_depth / glb.depth_words,
            weight_spad_um2=area.weight_spad_um2 * bits * hw.weight_spad_depth / spad.depth_words,
            mac_um2=area.mac_um2 * bits**2,
            register_um2=area.register_um2 * bits,
        ),
    )


def area_mm2(arch: Arch) -> float:
    """Silicon area of the accelerator (global buffer + every PE's scratchpad, MAC and 3 registers)."""
    a = arch.area
    per_pe = a.weight_spad_um2 + a.mac_um2 + 3 * a.register_um2
    return (a.global_buffer_um2 + arch.pe_array.x * arch.pe_array.y * per_pe) / UM2_PER_MM2


def arch_yaml(arch: Arch) -> str:
    """The arch as a YAML file that `codesign profile --arch` and the real engines read back."""
    header = (
        f"# {arch.name}: derived with codesign ({arch.dataflow} dataflow, {area_mm2(arch):.3f} mm^2);\n"
        f"# energies in pJ per action, scaled from the base by the rules in codesign/hardware.py.\n"
    )
    return header + yaml.safe_dump(arch.to_dict(), sort_keys=False)


def write_arch(arch: Arch, path: Path) -> Path:
    """Write `arch` as YAML (creating the folder); returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(arch_yaml(arch))
    except OSError as exc:
        raise CodesignError(
            f"{path}: cannot write it ({exc.strerror or exc}); give a path in a writable folder"
        ) from None
    return path

"""Analytic model vs AccelForge, per layer, on three derived accelerators (issue: joint hardware search).

    CODESIGN_ACCELFORGE_PYTHON=/path/to/py312/bin/python python benchmarks/compare_derived_archs.py [--workers 1]

Each arch is simple_weight_stationary resized by codesign/hardware.py; the layers are LeNet-5's three
Linear layers and a small 3x3 convolution (AccelForge takes minutes per larger convolution).
"""

from __future__ import annotations

import argparse
import time

from codesign.arch import load_arch
from codesign.cost import cost_of
from codesign.hardware import HardwareParams, area_mm2, derive_arch
from codesign.workload import Layer

ARCHS = {
    "8x8 PEs, 8-bit": HardwareParams(pe_x=8, pe_y=8, word_bits=8),
    "32x16 PEs, 16k-word GLB at 8 words/cycle": HardwareParams(pe_x=32, pe_y=16, glb_depth=16384, glb_bandwidth=8),
    "16x32 PEs, 96-word spad, 8-bit": HardwareParams(pe_y=32, weight_spad_depth=96, word_bits=8),
}
LAYERS = [
    Layer("conv", 1, 16, 32, 8, 8, 3, 3),
    Layer("linear", 1, 400, 120, 1, 1, 1, 1),
    Layer("linear", 1, 120, 84, 1, 1, 1, 1),
    Layer("linear", 1, 84, 10, 1, 1, 1, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    base = load_arch(None)
    print(
        f"{'arch':42} {'layer':28} {'area mm2':>8} {'cyc analytic':>12} {'cyc AF':>8} {'diff':>7} "
        f"{'uJ analytic':>11} {'uJ AF':>8} {'diff':>7} {'AF s':>6}"
    )
    for label, hw in ARCHS.items():
        arch = derive_arch(base, hw)
        analytic = cost_of(LAYERS, arch, "analytic")
        start = time.perf_counter()
        forge = cost_of(LAYERS, arch, "accelforge", workers=args.workers)
        for layer, a, f in zip(LAYERS, analytic, forge):
            print(
                f"{label:42} {layer.shape:28} {area_mm2(arch):8.3f} {a.cycles:12,} {f.cycles:8,} "
                f"{(f.cycles - a.cycles) / a.cycles:+7.1%} {a.energy_pj / 1e6:11.3f} {f.energy_pj / 1e6:8.3f} "
                f"{(f.energy_pj - a.energy_pj) / a.energy_pj:+7.1%} {f.seconds:6.1f}",
                flush=True,
            )
        print(f"{'':42} (AccelForge wall time for this arch: {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

"""Timeloop's fills of the PE-level buffer below the array's fan-out: its parent access share, summed per
multicast factor in floating point and truncated to an integer (tiling.cpp ComputeParentAccessShare; the
buffer's uint64 fills in buffer.cpp). Where input windows overlap across the array the groups of PEs that
share a tile have several sizes, the rounded sum falls just short of the exact count and Timeloop counts one
fill less, e.g. 127 pe_spad Inputs fills for 128 on is_rsc_pq's gx_l6_dw (issue 21).

The numbers are timeloop-model's (NVlabs/timeloop 5fa90845, tests/data/timeloop/dataflows/README.md)."""

from __future__ import annotations

import copy
import dataclasses
import gzip

import pytest
import yaml

from codesign.arch import load_arch
from codesign.cost.analytic import core
from codesign.cost.analytic.engine import cost_of_mapping
from codesign.cost.analytic.nest import evaluate
from codesign.cost.analytic.timeloop_map import load_timeloop_map, nest_from_timeloop_map
from codesign.cost.external.timeloop_stats import parse_stats
from codesign.workload import Layer
from tests.helpers import ROOT

DATA = ROOT / "tests" / "data" / "timeloop" / "dataflows"
ARCH = dataclasses.replace(load_arch(), dataflow="is_rsc_pq")
CHOSEN = DATA / "is_rsc_pq" / "gx_l6_dw" / "map.yaml"


def depthwise(C: int, P: int, Q: int, R: int = 3, S: int = 3) -> Layer:
    return Layer(kind="depthwise", N=1, C=C, M=C, P=P, Q=Q, R=R, S=S, Wstride=2, Hstride=2, names=("dw",))


GX_L6_DW = depthwise(64, 4, 4)


@pytest.mark.parametrize(
    "folder",
    [
        DATA / "is_rsc_pq" / "gx_l6_dw",
        DATA / "model" / "is_rsc_pq-gx_l6_dw-C16_at_pe_spad",
        DATA / "model" / "is_rsc_pq-gx_l6_dw-glb_keeps_all",
    ],
    ids=lambda p: p.name,
)
def test_every_inputs_count_is_timeloops(folder):
    """gx_l6_dw's chosen mapping and two variants: every level's Inputs reads and fills are Timeloop's, the
    scratchpad's fills one short of its reads (128 per PE), its parent's reads one per distinct tile."""
    stats = parse_stats(gzip.decompress((folder / "stats.txt.gz").read_bytes()).decode())
    counts = evaluate(GX_L6_DW, ARCH, load_timeloop_map(folder / "map.yaml", GX_L6_DW, "is_rsc_pq")).counts
    for (level, tensor), theirs in stats.counts.items():
        if tensor == "Inputs" and level in ("pe_spad", "input_activation_reg", "shared_glb", "DRAM"):
            for action in ("reads", "fills"):
                assert counts[(level, tensor, action)][0] == theirs[action], (level, action)
    assert (stats.counts[("pe_spad", "Inputs")]["reads"], stats.counts[("pe_spad", "Inputs")]["fills"]) == (128, 127)


def small_case(C: int, dram_P: int, glb_C: int, spatial: dict[str, int], S: int = 3) -> tuple[Layer, dict]:
    """gx_l6_dw's chosen mapping with other factors (one channel per pe_spad tile) on a smaller layer."""
    mapping = yaml.safe_load(CHOSEN.read_text())
    factors = {
        ("DRAM", "temporal"): {"P": dram_P},
        ("shared_glb", "temporal"): {"C": glb_C},
        ("shared_glb", "spatial"): spatial,
        ("pe_spad", "temporal"): {"C": 1},
    }
    for entry in mapping["mapping"]:
        if (entry["target"], entry["type"]) in factors:
            full = dict.fromkeys("CRSNPQ", 1) | factors[(entry["target"], entry["type"])]
            entry["factors"] = " ".join(f"{d}{n}" for d, n in full.items())
    layer = depthwise(C, dram_P * spatial.get("P", 1), spatial.get("Q", 1), spatial.get("R", 1), S)
    return layer, copy.deepcopy(mapping)


ARRAY = {"R": 3, "S": 3, "P": 2, "Q": 4}


# (C, DRAM P, glb C, spatial factors, S): Timeloop's pe_spad Inputs (reads, fills) per PE, timeloop-model on
# the problem with gx_l6_dw's shape but these sizes. Multicast factors over the 72 PEs (R3 S3 P2 Q4, stride 2):
# 24 tiles to one PE, 18 to two, 3 to four; fills F give 24F/72 + 36F/72 + 12F/72 = F - ulp, truncated.
# With other groups (S2: offsets 2q+s all distinct; fewer PEs) the rounded sum can be exact.
MEASURED = [
    ((1, 1, 1, ARRAY, 3), (1, 0)),
    ((2, 1, 2, ARRAY, 3), (2, 1)),
    ((1, 2, 1, ARRAY, 3), (2, 1)),
    ((2, 2, 2, ARRAY, 3), (4, 3)),
    ((2, 1, 2, {"R": 3, "S": 2, "P": 2, "Q": 4}, 2), (2, 2)),
    ((2, 2, 2, {"R": 3, "S": 3, "P": 2, "Q": 2}, 3), (4, 4)),
    ((2, 2, 2, {"R": 3, "S": 3, "P": 2}, 3), (4, 4)),
    ((2, 2, 2, {"S": 3, "P": 2, "Q": 4}, 3), (4, 4)),
]


@pytest.mark.parametrize("case, measured", MEASURED)
def test_scratchpad_fills_are_the_truncated_share(case, measured):
    """The NumPy reference counts Timeloop's pe_spad Inputs reads and fills; the compiled core costs the
    same energy bit for bit."""
    layer, mapping = small_case(*case)
    nest = nest_from_timeloop_map(mapping, layer, "case", "is_rsc_pq")
    counts = evaluate(layer, ARCH, nest).counts
    assert (counts[("pe_spad", "Inputs", "reads")][0], counts[("pe_spad", "Inputs", "fills")][0]) == measured
    if core.built():
        ref = cost_of_mapping(layer, ARCH, nest, "map", native=False)
        fast = cost_of_mapping(layer, ARCH, nest, "map", native=True)
        assert (fast.energy_pj, fast.level_energy_pj) == (ref.energy_pj, ref.level_energy_pj)

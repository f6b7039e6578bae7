"""The lab's architecture and mapspace constraints, as Timeloop's YAML targets: one source for every engine.

The timeloop engine writes them as its `constraints.yaml`; the analytic engine's random-pruned mapper rebuilds
timeloop-mapper's mapspace from them (cost/analytic/timeloop_mapspace.py); the accelforge engine expresses the
same rules in its own spec (cost/external/accelforge.py).
"""

from __future__ import annotations


def constraints(depthwise: bool) -> dict:
    """The lab's architecture and mapspace constraints (README section 4), dense or depthwise."""
    targets = [
        {"target": "pe_spad", "type": "bypass", "keep": ["Weights"], "bypass": ["Inputs", "Outputs"]},
        {"target": "pe_spad", "type": "temporal", "permutation": "PQRS"},
        {"target": "weight_reg", "type": "bypass", "keep": ["Weights"], "bypass": ["Inputs", "Outputs"]},
        {"target": "input_activation_reg", "type": "bypass", "keep": ["Inputs"], "bypass": ["Weights", "Outputs"]},
        {"target": "output_activation_reg", "type": "bypass", "keep": ["Outputs"], "bypass": ["Weights", "Inputs"]},
        {"target": "shared_glb", "type": "temporal", "factors": "R=1 S=1"},
        {"target": "DRAM", "type": "temporal", "factors": "R=1 S=1"},
    ]
    if depthwise:
        targets += [
            {"target": "weight_reg", "type": "temporal", "factors": "R=1 S=1 C=1"},
            {"target": "input_activation_reg", "type": "temporal", "factors": "P=1 Q=1 C=1 N=1"},
            {"target": "output_activation_reg", "type": "temporal", "factors": "P=1 Q=1 N=1 R=1 S=1"},
        ]
    else:
        targets += [
            {"target": "shared_glb", "type": "spatial", "permutation": "CM", "split": 1, "factors": "R=1 S=1 P=1 Q=1"},
            {"target": "weight_reg", "type": "temporal", "factors": "R=1 S=1 M=1 C=1"},
            {"target": "input_activation_reg", "type": "temporal", "factors": "P=1 Q=1 C=1 N=1"},
            {"target": "output_activation_reg", "type": "temporal", "factors": "P=1 Q=1 M=1 N=1 R=1 S=1"},
        ]
    return {"architecture_constraints": {"targets": targets}}

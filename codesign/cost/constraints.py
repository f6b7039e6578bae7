"""The architecture's mapspace constraints, as Timeloop's YAML targets: one source for every engine.

They are the arch's dataflow (arch/dataflows/<name>.yaml; the lab's `ws` by default). The timeloop engine
writes them as its `constraints.yaml`; the analytic engine's mappers rebuild timeloop-mapper's mapspace and
each tensor's chain of buffers from them (cost/analytic/timeloop_mapspace.py); the accelforge engine
expresses the lab's rules in its own spec (cost/external/accelforge.py).
"""

from __future__ import annotations

from codesign.dataflow import DEFAULT_DATAFLOW, load_dataflow


def constraints(depthwise: bool, dataflow: str = DEFAULT_DATAFLOW) -> dict:
    """The constraints of `dataflow` (the lab's by default, README section 4), dense or depthwise."""
    return load_dataflow(dataflow).constraints(depthwise)

"""Map one layer with AccelForge and print its result as one JSON line (run by the `accelforge` engine).

This file runs under whichever interpreter has AccelForge installed (it needs Python >= 3.12, codesign
itself only 3.11), so it imports nothing from codesign: `python accelforge_worker.py ARCH.yaml
WORKLOAD.yaml` prints {"cycles", "energy_pj", "level_energy_pj", "mapping", "seconds"}.
"""

import json
import sys
import time
from typing import Any

SEP = "<SEP>"


def _mapping_text(row: Any) -> str:
    """AccelForge's compact loop-nest string for the chosen mapping (empty if it has none)."""
    for column, value in row.items():
        if column.endswith(f"{SEP}mapping") and not column.startswith("Total"):
            try:
                return " ".join(value.compact_str().split())
            except Exception:
                return ""
    return ""


def main(arch_path: str, workload_path: str) -> dict:
    """Best mapping by [latency, energy] (the lab's metric order) for the one Einsum in the workload."""
    import accelforge as af

    start = time.perf_counter()
    spec = af.Spec.from_yaml(arch_path, workload_path)
    spec.mapper.metrics = af.Metrics.LATENCY | af.Metrics.ENERGY
    mappings = spec.map_workload_to_arch(print_progress=False)
    data = mappings.data
    if len(data) == 0:
        raise RuntimeError("AccelForge found no valid mapping")
    best = data.sort_values([f"Total{SEP}latency", f"Total{SEP}energy"]).iloc[0]
    levels: dict[str, float] = {}
    for column, value in best.items():
        parts = column.split(SEP)
        if len(parts) >= 3 and parts[1] == "energy" and parts[0] != "Total":
            levels[parts[2]] = levels.get(parts[2], 0.0) + float(value) * 1e12
    return {
        "cycles": round(float(best[f"Total{SEP}latency"])),
        "energy_pj": float(best[f"Total{SEP}energy"]) * 1e12,
        "level_energy_pj": levels,
        "mapping": _mapping_text(best),
        "seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))

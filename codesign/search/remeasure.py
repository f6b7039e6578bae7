"""The front's designs timed again on the device, alone: after the search, with no trial training beside them.

During a search each complete trial is timed right after it trains, while other trials may be training on the
same cores; the designs that made the front are timed once more at the end, one at a time (on the nodes of
--latency-on when given), and trials.csv keeps both: `device_latency_ms` (what the search compared) and
`device_latency_alone_ms`. Timing does not depend on the weights' values, so each design is built afresh from
its spec.
"""

from __future__ import annotations

from codesign.device.remote import measured_ms, on_device
from codesign.pareto import pareto_front
from codesign.search.prepared import PreparedSearch

ALONE = "device_latency_alone_ms"


def remeasure_front(prepared: PreparedSearch, progress: bool = True) -> int:
    """Time every design on the run's front again, alone, and record it in trials.csv; returns how many."""
    run, settings = prepared.run, prepared.settings
    if not run.trials_file.is_file():
        return 0
    front = set(pareto_front(run.trials(), prepared.objectives)["trial_id"].astype(str))
    records = run.records()
    timed = 0
    for record in records:
        if record.trial_id not in front or record.spec is None:
            continue
        shape = settings.timing.search_shape(record.spec.input_shape)
        (ms, _), node = on_device(
            settings.resources.latency_on, measured_ms, record.spec.build(), shape, settings.timing
        )
        record.extra[ALONE] = ms
        record.extra["device_alone_node_id"] = node
        timed += 1
    if timed:
        run.write_trials(records)
        if progress:
            print(f"[codesign] the {timed} designs on the front timed again on the device, alone", flush=True)
    return timed

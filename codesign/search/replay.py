"""Resuming without repeating finished work: the trials that ended after Tune's last snapshot of the search.

Tune saves the experiment (trial states and the sampler's state) every few seconds; trials.csv gains a row
the moment a trial ends. After a hard stop (SIGKILL, a lost head node) the snapshot may predate trials that
had finished, and restored, Tune runs them again: under their own id when the snapshot saw them start, under
a new id with the same sampled design when it did not (the sampler's state is restored too). Such a trial
reports the result trials.csv recorded instead of training again, and the table keeps the first record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.runs import TrialRecord
from codesign.search.trial import TrialConfig
from codesign.status import Status

# statuses that are final: a trial that ended so needs no second run (an error is retried on resume)
FINAL = (Status.OK, Status.INFEASIBLE, Status.DIVERGED)


def design_key(spec: CandidateSpec | None, hardware: HardwareParams | None, reason: str = "") -> str:
    """What identifies a sampled design: its spec and accelerator sizes (an unbuildable one by its reason)."""
    spec_data = spec.to_dict() if spec is not None else None
    hardware_data = asdict(hardware) if hardware is not None else None
    return json.dumps([spec_data, hardware_data, "" if spec else reason], sort_keys=True)


def record_key(record: TrialRecord) -> str:
    """The design key of a recorded trial."""
    return design_key(record.spec, record.hardware, record.reason)


@dataclass(frozen=True)
class Replays:
    """Recorded trials that Tune's snapshot does not know as finished, by trial id and by design."""

    by_id: dict[str, TrialRecord] = field(default_factory=dict)
    by_design: dict[str, TrialRecord] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[TrialRecord], finished_in_tune: set[str]) -> Replays:
        """The finished records among `records` whose trial Tune's restored state does not hold as finished."""
        orphans = [r for r in records if r.status in FINAL and r.trial_id not in finished_in_tune]
        by_design: dict[str, TrialRecord] = {}
        for record in orphans:
            by_design.setdefault(record_key(record), record)
        return cls({r.trial_id: r for r in orphans}, by_design)

    def __len__(self) -> int:
        return len(self.by_id)

    def match(self, trial_id: str, config: TrialConfig) -> TrialRecord | None:
        """The record a trial repeats: its own (same id and design), else a record of the same design."""
        key = design_key(config.spec, config.hardware, config.reason)
        own = self.by_id.get(trial_id)
        if own is not None and record_key(own) == key:
            return own
        return self.by_design.get(key)

"""Where the analytic engine departs from Timeloop on the replays' diverging mapper logs, Timeloop's network
link transfers are the whole difference: with TIMELOOP_DISABLE_LINK_TRANSFERS=1 timeloop-model counts what we
count, level by level (tests/data/timeloop/dataflows/link_transfers/README.md). Counting link transfers is
issue 21's open part; the strict xfail turns into a failure once the engine does."""

from __future__ import annotations

import csv
import gzip

import pytest
import yaml

from codesign.cost.analytic.nest import evaluate
from codesign.cost.analytic.timeloop_map import load_timeloop_map
from codesign.cost.external.timeloop_stats import TimeloopStats, parse_stats
from tests.helpers import ROOT
from tests.timeloop_trace import arch_of_trace, layer_of_trace, mapping_of_compact

DATA = ROOT / "tests" / "data" / "timeloop" / "dataflows" / "link_transfers"
with (DATA / "runs.csv").open() as _f:
    RUNS = list(csv.DictReader(_f))


def stats(run: dict, name: str) -> TimeloopStats:
    return parse_stats(gzip.decompress((DATA / run["run"] / name).read_bytes()).decode())


def ours(run: dict):
    trace = f"dataflows/{run['dataflow']}-{run['layer']}"
    layer, arch = layer_of_trace(trace), arch_of_trace(trace)
    mapping = yaml.safe_load((DATA / run["run"] / "map.yaml").read_text())
    assert mapping == mapping_of_compact(run["mapping"], layer)
    return evaluate(layer, arch, load_timeloop_map(DATA / run["run"] / "map.yaml", layer, run["dataflow"]))


def assert_same_counts(ev, theirs: TimeloopStats) -> None:
    for (level, tensor), counts in theirs.counts.items():
        for action in ("reads", "fills", "updates"):
            if (level, tensor, action) in ev.counts:
                assert ev.counts[(level, tensor, action)][0] == counts[action], (level, tensor, action)
    assert int(ev.cycles[0]) == theirs.cycles
    assert ev.energy_pj[0] == pytest.approx(theirs.energy_pj, rel=1e-6)


@pytest.mark.parametrize("run", RUNS, ids=[r["run"] for r in RUNS])
def test_without_link_transfers_timeloop_counts_what_we_count(run):
    assert_same_counts(ours(run), stats(run, "stats_no_link_transfers.txt.gz"))


@pytest.mark.xfail(strict=True, reason="link transfers are not modelled (issue 21)")
@pytest.mark.parametrize("run", RUNS, ids=[r["run"] for r in RUNS])
def test_with_link_transfers_timeloop_counts_what_we_count(run):
    assert_same_counts(ours(run), stats(run, "stats.txt.gz"))

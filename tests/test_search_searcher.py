"""The Tune searcher, used as Tune uses it (no cluster needed): seeds first, statuses and a suggestion log."""

from __future__ import annotations

import pandas as pd
import yaml

from codesign.search.ehvi import EPOCHS_DONE, STATUS, EHVISampler
from codesign.search.prepared import PreparedSearch
from codesign.search.searcher import make_search
from codesign.search.settings import DataSettings, SearchSettings, TuneSettings


def test_seeds_first_statuses_recorded_and_every_suggestion_logged(tmp_path):
    space_file = tmp_path / "space.yaml"
    space_file.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {"depth": 1, "stage": {"channels": {"choice": [4, 8]}, "pool": "max"}},
                "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 3},
            }
        )
    )
    settings = SearchSettings(
        name="s",
        space=str(space_file),
        data=DataSettings(dataset="fashion-mnist"),
        tune=TuneSettings(sampler="ehvi", seed_designs=("lenet5",)),
    )
    log = tmp_path / "sampler.csv"
    search = make_search(PreparedSearch.load(settings), log_file=log)
    first, second = search.suggest("t1"), search.suggest("t2")
    assert first["seed_design"] == "lenet5" and "seed_design" not in second and second["feasible"]
    done = {"val_accuracy": 0.8, "energy_pj": 2e6, "cycles": 2e4, "epoch": 3, "planned_epochs": 3, "status": "ok"}
    search.on_trial_complete("t1", {**done, "val_accuracy": 0.5, "epoch": 1, "status": "running"})
    search.on_trial_complete("t2", done)
    study = search._ot_study
    assert isinstance(study.sampler, EHVISampler)
    assert [t.user_attrs[STATUS] for t in study.trials] == ["stopped", "ok"]
    assert study.trials[0].user_attrs[EPOCHS_DONE] == 1
    rows = pd.read_csv(log, keep_default_na=False)
    assert rows["trial_id"].tolist() == ["t1", "t2"] and rows["seed_design"].tolist() == ["lenet5", ""]
    assert (rows["seconds"] > 0).all() and rows["mode"].tolist() == ["", "startup"]


def test_a_resumed_search_appends_to_its_log_in_the_columns_it_started_with(tmp_path):
    from codesign.search.searcher import LOG_COLUMNS, _append

    log = tmp_path / "sampler.csv"
    old = [c for c in LOG_COLUMNS if c != "deferred"]  # a log written before the column existed
    log.write_text(",".join(old) + "\n" + ",".join("1" if c == "number" else "" for c in old) + "\n")
    _append(log, {c: "" for c in LOG_COLUMNS} | {"number": 2, "deferred": 7})
    rows = pd.read_csv(log)
    assert rows["number"].tolist() == [1, 2] and list(rows.columns) == old
    fresh = tmp_path / "new.csv"
    _append(fresh, {c: "" for c in LOG_COLUMNS} | {"number": 0, "deferred": 3})
    assert pd.read_csv(fresh)["deferred"].tolist() == [3]

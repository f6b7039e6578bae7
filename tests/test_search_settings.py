"""Search settings: budgets in words, every field checked, search.json written and read back."""

from __future__ import annotations

import pytest

from codesign.errors import CodesignError
from codesign.search.settings import DataSettings, ResourceSettings, SearchSettings, TuneSettings, parse_budget


def test_budgets_in_words():
    assert parse_budget("8h") == 28800 and parse_budget("1h30m") == 5400 and parse_budget("90") == 90
    assert parse_budget(None) is None
    with pytest.raises(CodesignError, match="write it like"):
        parse_budget("eight hours")
    with pytest.raises(CodesignError, match="more than 0 seconds"):
        parse_budget("0")


def test_settings_round_trip_through_search_json(tmp_path):
    settings = SearchSettings(
        name="s",
        space="lenet",
        data=DataSettings(dataset="mnist", train_size=100),
        tune=TuneSettings(trials=3, sampler="nsga2", scheduler="multi-fidelity", seed_designs=("lenet5",)),
        resources=ResourceSettings(dashboard=False),
    )
    again = SearchSettings.from_json(settings.to_json(), "search.json")
    assert again == settings and again.tune.trials == 3 and again.data.dataset == "mnist"
    assert again.tune.seed_designs == ("lenet5",) and TuneSettings().sampler == "ehvi"
    # a search.json written before these settings existed still reads (--resume of an older run)
    old = SearchSettings.from_json('{"name": "s", "space": "x", "tune": {"sampler": "tpe", "asha": true}}', "s.json")
    assert old.tune.sampler == "tpe" and old.tune.scheduler == "asha" and old.tune.seed_designs == ()
    older = SearchSettings.from_json('{"name": "s", "space": "x", "tune": {"multi_fidelity": true}}', "s.json")
    assert older.tune.scheduler == "multi-fidelity"


@pytest.mark.parametrize(
    "tune, message",
    [
        ({"trials": 0}, "`tune.trials` must be a positive integer, got 0"),
        ({"concurrency": -1}, "`tune.concurrency` must be a positive integer"),
        ({"sampler": "cmaes"}, "`tune.sampler` must be one of ehvi, tpe, nsga2, random"),
        ({"budget_s": -5.0}, "`tune.budget_s` must be a positive number"),
    ],
)
def test_bad_settings_name_the_field(tune, message):
    with pytest.raises(CodesignError, match=message):
        SearchSettings(name="s", space="lenet", tune=TuneSettings(**tune))


def test_damaged_search_json_is_one_line():
    with pytest.raises(CodesignError, match=r"search\.json: not valid JSON"):
        SearchSettings.from_json("{", "search.json")
    with pytest.raises(CodesignError, match=r"search\.json: unknown field `tune\.trails`"):
        SearchSettings.from_json('{"name": "s", "space": "x", "tune": {"trails": 3}}', "search.json")


def test_asha_and_multi_fidelity_are_one_choice():
    """The two exclusive switches of earlier versions are one three-valued setting; both on is refused, in an
    old search.json; an unknown scheduler is named."""
    both = '{"name": "s", "space": "x", "tune": {"asha": true, "multi_fidelity": true}}'
    with pytest.raises(CodesignError, match=r"`tune\.multi_fidelity` cannot go with `asha`"):
        SearchSettings.from_json(both, "s.json")
    with pytest.raises(CodesignError, match=r"`tune\.scheduler` must be one of none, asha, multi-fidelity"):
        SearchSettings(tune=TuneSettings(scheduler="hyperband"))

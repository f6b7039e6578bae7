"""Settings declared once: every setting has a flag, an API keyword and help, and every way in (flags, keywords,
settings built directly, search.json) checks it the same way."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

import codesign
from codesign.cli import build_parser
from codesign.errors import CodesignError
from codesign.network import SGDConfig
from codesign.options import apply, options
from codesign.search.settings import ResourceSettings, SearchSettings, TuneSettings
from codesign.settings import ProfileSettings, TrainSettings
from tests.helpers import ROOT

# the command each settings class's flags belong to, and the API function that takes them as keywords
SETTINGS = [
    (SearchSettings, "search", codesign.search),
    (SearchSettings, "search", codesign.search_settings),
    (ProfileSettings, "profile", codesign.profile),
    (TrainSettings, "train", codesign.train),
    (SGDConfig, "train", codesign.train),
]
INTERNAL: set[str] = set()  # settings codesign sets itself, not users


def _flags(command: str) -> dict[str, str]:
    """Every flag of a command (its option strings) and its help."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {flag: action.help or "" for action in sub._actions for flag in action.option_strings}


@pytest.mark.parametrize("cls, command, function", SETTINGS, ids=lambda v: getattr(v, "__name__", v))
def test_every_setting_has_a_flag_an_api_keyword_and_help(cls, command, function):
    flags, signature, doc = _flags(command), inspect.signature(function).parameters, function.__doc__
    declared = options(cls)
    assert {o.path[-1] for o in declared if o.internal} <= INTERNAL
    for option in declared:
        if option.internal:
            continue
        assert option.help.strip() and "\n" not in option.help, option.name
        flag = option.flag if option.flag in flags else f"--no-{option.name.replace('_', '-')}"
        assert flag in flags and flags[flag].strip(), (command, option.name)
        assert signature[option.name].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        assert f"{option.name} (" in doc or f"{option.name}:" in doc, option.name
        for alias in option.aliases:
            assert f"--{alias.replace('_', '-')}" in flags and alias in signature


def test_every_field_of_a_settings_class_is_declared():
    """A field added without codesign.config.setting (no help) is refused when the class is first read."""
    groups = {"data", "tune", "resources", "timing"}  # the settings' parts, whose fields are its settings
    for cls in (SearchSettings, ProfileSettings, TrainSettings, SGDConfig):
        top = {o.path[-1] for o in options(cls) if len(o.path) == 1}
        assert {f.name for f in dataclasses.fields(cls)} - groups == top
    assert {o.path[0] for o in options(SearchSettings) if len(o.path) == 2} == groups

    @dataclasses.dataclass(frozen=True)
    class Careless:
        x: int = 1

    with pytest.raises(TypeError, match=r"Careless\.x is declared without help"):
        options(Careless)


def test_a_bad_run_name_is_refused_however_the_settings_are_made(tmp_path):
    message = "run name '../x': use letters, digits, '.', '_' and '-'"
    with pytest.raises(CodesignError, match=message):
        SearchSettings(name="../x")
    with pytest.raises(CodesignError, match=message):
        codesign.search_settings("lenet", name="../x", trials=1)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "codesign.cli",
            "search",
            "--name",
            "../x",
            "--trials",
            "1",
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and message in cli.stderr
    assert not any(tmp_path.iterdir())


def test_a_misspelled_keyword_names_the_closest_setting():
    closest = r"^unknown search setting `max_failure` \(did you mean `max_failures`\?\)$"
    with pytest.raises(CodesignError, match=closest):
        codesign.search_settings("lenet", max_failure=3)
    with pytest.raises(CodesignError, match=r"unknown profile setting `enigne` \(did you mean `engine`\?\)"):
        codesign.profile("lenet5", enigne="timeloop")
    with pytest.raises(CodesignError, match=r"unknown search setting `frobnicate` \(search settings: name, space,"):
        codesign.search_settings("lenet", frobnicate=1)


def test_groups_and_flat_keywords_combine_as_ray_tunes_tuner_takes_them():
    settings = codesign.search_settings(
        "lenet",
        tune=TuneSettings(trials=4, sampler="tpe"),
        resources=ResourceSettings(max_failures=5),
        budget="30m",
        seed_designs=["lenet5"],
        train_size=1000,
        name="grouped",
    )
    assert (settings.space, settings.name, settings.data.train_size) == ("lenet", "grouped", 1000)
    assert (settings.tune.trials, settings.tune.sampler, settings.tune.budget_s) == (4, "tpe", 1800.0)
    assert settings.tune.seed_designs == ("lenet5",) and settings.resources.max_failures == 5
    assert settings.resources.cpus_per_trial >= 1  # resolved for this machine
    again = codesign.search_settings(settings=settings, trials=6)
    assert again.tune.trials == 6 and again.tune.sampler == "tpe" and again.name == "grouped"
    assert codesign.search_settings(asha=True).tune.scheduler == "asha"
    with pytest.raises(CodesignError, match="`multi_fidelity` and `asha` both set `scheduler`"):
        codesign.search_settings(asha=True, multi_fidelity=True)
    with pytest.raises(CodesignError, match=r"`tune\.trials` must be a positive integer, got 0"):
        codesign.search_settings(trials=0)
    with pytest.raises(CodesignError, match="budget 'soon': write it like 8h"):
        codesign.search_settings(budget="soon")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trials", "0"], "argument --trials: must be a positive integer, got 0"),
        (["--trials", "two"], "argument --trials: 'two' is not an integer"),
        (["--budget", "soon"], "argument --budget: budget 'soon': write it like 8h, 30m, 90s or 1h30m"),
        (["--sampler", "cmaes"], "argument --sampler: must be one of ehvi, tpe, nsga2, random, got 'cmaes'"),
        (["--asha", "--multi-fidelity"], "argument --multi-fidelity: not allowed with argument --asha"),
        (["--max-failures", "-1"], "argument --max-failures: must be a non-negative integer, got -1"),
    ],
)
def test_flags_are_checked_as_the_settings_check_them(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["search", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_flag_left_out_takes_the_settings_default():
    args = build_parser().parse_args(["search", "--trials", "3", "-v", "--no-dashboard", "--multi-fidelity"])
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "func", "resume")}
    assert overrides == {"trials": 3, "verbose": True, "dashboard": False, "scheduler": "multi-fidelity"}
    settings = apply(SearchSettings(name="n"), overrides, what="search", source="search settings")
    assert settings.tune.sampler == "ehvi" and settings.resources.max_failures == 2 and settings.tune.trials == 3


@pytest.mark.parametrize(
    "sgd, message",
    [
        ({"epochs": 0}, "`epochs` must be a positive integer, got 0"),
        ({"epochs": "2"}, "`epochs` must be a positive integer, got '2'"),
        ({"epochs": 30}, "30 epochs breaks the rubric"),
        ({"lr": float("nan")}, "`lr` must be a positive number, got nan"),
        ({"lr": -1}, "`lr` must be a positive number, got -1"),
        ({"batch_size": 0}, "`batch_size` must be a positive integer, got 0"),
        ({"momentum": 1.0}, "`momentum` must be a number in [0, 1), got 1.0"),
        ({"schedule": "linear"}, "`schedule` must be one of constant, step, cosine, onecycle"),
        ({"optimizer": "adam"}, "unknown SGD setting `optimizer`"),
        ({"val_size": 0}, "`val_size` must be a positive integer, got 0"),
    ],
)
def test_train_checks_its_arguments_before_reading_data(sgd, message, tmp_path):
    """codesign.train is as strict as `codesign train` (issue 24): a bad argument is one line naming it, before
    any data is read (the data folder here is empty)."""
    with pytest.raises(CodesignError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        codesign.train("lenet5", "fashion-mnist", data_dir=tmp_path, **sgd)

"""codesign: find small CNNs that are accurate and cheap to run on an inference accelerator.

The command line is a thin layer over the Python API (codesign.api): each command parses its flags, calls one
API function and prints the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from codesign import __version__
from codesign.data import DATASETS
from codesign.dataflow import dataflow_names
from codesign.errors import CodesignError
from codesign.options import add_flags, given
from codesign.registry import MAPPERS
from codesign.rubric import PJ_PER_MJ
from codesign.search.settings import SearchSettings
from codesign.settings import TRAIN_DEFAULTS, ProfileSettings, TrainSettings
from codesign.sgd import SGDConfig
from codesign.status import Status

MODEL_HELP = (
    "a built-in (lenet5, lab2023), `path/to/file.py:ClassName` (built with no arguments; runs that file's code), "
    "a spec .json file, a search run folder (with --trial, else its best trial) or an exported / trained folder"
)
MAPPER_HELP = "the analytic engine's mapper (the other one's numbers are shown beside): " + MAPPERS.describe()
DESCRIPTION = "Find small CNNs that are accurate and cheap to run on an inference accelerator."
EXAMPLES = """common commands:
  codesign search --budget 8h                       search CIFAR-10 designs for the lab's rubric and accelerator
  codesign search --space lenet --dataset fashion-mnist --trials 12 --name quickstart
  codesign profile lenet5                           energy, cycles and rubric points of a model, per layer
  codesign train runs/quickstart --dataset fashion-mnist --final    train a design, score it on the test set
  codesign export runs/quickstart --out best/       the best design as a standalone model.py with weights
  codesign report runs/quickstart                   rebuild a run's Pareto front and report.html

`codesign COMMAND --help` describes each command's flags; `import codesign` gives the same from Python."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def cmd_profile(args: argparse.Namespace) -> int:
    """codesign profile: per-layer energy/cycles table and totals for one model."""
    from codesign import api

    result = api.profile(args.model, progress=not args.json, **given(args, ProfileSettings))
    if result.baseline is not None:
        print(result.comparison())
    elif args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(result.table(show_mapping=args.show_mapping))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """codesign train: SGD on the training split, validation accuracy per epoch, optional final test."""
    from codesign import api

    done = api.train(args.model, progress=not args.quiet, **given(args, TrainSettings), **given(args, SGDConfig))
    summary = done.summary
    status = f"{done.status} ({done.reason})" if done.reason else str(done.status)
    print(
        f"{status}: validation accuracy {done.val_accuracy:.4f} after {done.epochs} epochs "
        f"({done.seconds:.1f} s, {done.images_per_second:,.0f} images/s)"
    )
    if done.profile is not None and done.test_accuracy is not None:
        p, rubric = done.profile, done.profile.rubric
        score = summary["rubric"]
        print(
            f"test accuracy {done.test_accuracy:.4f} (error {1 - done.test_accuracy:.2%}) -> "
            f"{score['error_points']} points\n"
            f"energy {p.energy_pj / PJ_PER_MJ:.4f} mJ -> {score['energy_points']} points; "
            f"latency {p.cycles:,} cycles -> {score['latency_points']} points; "
            f"peak activation {p.peak_activation_bytes:,} B (limit {rubric.peak_activation_limit_bytes:,} B)\n"
            f"rubric score {score['total']} / {rubric.max_points}"
            f"{'' if score['feasible'] else ' (a hard constraint fails)'}"
        )
    out = done.save(args.out or Path("runs") / f"train-{_slug(args.model)}")
    print(f"saved {out / 'weights.pt'} and {out / 'summary.json'}")
    return 0 if done.status is not Status.DIVERGED else 1


def _slug(model: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).stem) or "model"


def cmd_search(args: argparse.Namespace) -> int:
    """codesign search: Ray Tune + Optuna co-design search, Pareto front and report under runs/<name>/."""
    from codesign import api

    run = api.search(resume=args.resume, **given(args, SearchSettings))
    print(run.summary())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """codesign report: rebuild pareto.csv, report.html and pareto.png from a run's trials.csv."""
    from codesign import api
    from codesign.report import write_outputs

    run = api.load_run(args.run)
    write_outputs(run.path)
    print(run.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """codesign export: standalone model.py, spec.json, weights.pt, model.onnx and README.md."""
    from codesign import api
    from codesign.export import stale_files

    written = api.export(
        args.source,
        args.out,
        trial=args.trial,
        best=args.best,
        weights=args.weights,
        onnx=args.onnx,
        mapper=args.mapper,
        force=args.force,
        dataset=args.dataset,
    )
    names = [p.name for p in written]
    kept = stale_files(Path(args.out), written)
    if kept:
        print(f"note: kept {', '.join(p.name for p in kept)} from before in {args.out} (not written by this export)")
    if "weights.pt" not in names:
        print(f"note: {args.source} has no saved weights (train it with `codesign train`, then --weights)")
    which = f" trial {args.trial}" if args.trial else ""
    print(f"exported {args.source}{which} to {args.out}: {', '.join(names)}")
    return 0


def cmd_arch(args: argparse.Namespace) -> int:
    """codesign arch: a derived accelerator (other sizes, dataflow, scaled energies and area) as a YAML file,
    or as a folder of Timeloop inputs."""
    from codesign import api
    from codesign.cost.external.timeloop import arch_inputs
    from codesign.hardware import SIZES, arch_yaml, area_mm2, write_arch

    sizes = {k: getattr(args, k) for k in SIZES if getattr(args, k) is not None}
    arch = api.derive(args.base, name=args.name, dataflow=args.dataflow, **sizes)
    if args.out and Path(args.out).suffix not in (".yaml", ".yml"):
        folder = Path(args.out)
        written = arch_inputs(arch, folder)
        write_arch(arch, folder / "codesign_arch.yaml")
        print(
            f"wrote {folder}: Timeloop inputs of {arch.name} (dataflow {arch.dataflow}): "
            f"{', '.join(p.name for p in written)}; codesign_arch.yaml (--arch {folder}/codesign_arch.yaml)"
        )
        print(
            "  run: timeloop-mapper arch.yaml ert.yaml constraints.yaml mapper.yaml problem.yaml "
            "(depthwise layers: constraints_dw.yaml)"
        )
    elif args.out:
        write_arch(arch, Path(args.out))
        print(
            f"wrote {args.out}: {arch.name}, {arch.pe_array.x}x{arch.pe_array.y} PEs, {area_mm2(arch):.3f} mm^2 "
            f"(profile with --arch {args.out})"
        )
    else:
        print(arch_yaml(arch), end="")
    return 0


def cmd_dse(args: argparse.Namespace) -> int:
    """codesign dse: brute force over array shape x dataflow for one network (CSV, Pareto points, HTML)."""
    from codesign import api
    from codesign.dse import DseSettings

    out = Path(args.out or f"runs/dse-{_slug(args.model)}")
    rows = api.dse(args.model, out=out, progress=not args.quiet, **given(args, DseSettings))
    best = min(rows, key=lambda r: float(r["energy_pj"]))
    fast = min(rows, key=lambda r: int(r["cycles"]))
    print(f"{len(rows)} points in {out}/points.csv; page {out}/dse.html")
    print(f"lowest energy: {best['dataflow']} {best['pe_x']}x{best['pe_y']} {float(best['energy_pj']) / 1e6:.2f} uJ")
    print(f"fewest cycles: {fast['dataflow']} {fast['pe_x']}x{fast['pe_y']} {int(fast['cycles']):,} cycles")
    return 0


def _settings_commands(sub: Any) -> None:
    """profile, train and search: their flags are their settings' (codesign/settings.py, sgd.py, search/settings.py)."""
    p = sub.add_parser("profile", help="energy, cycles and peak activation of a model on an accelerator")
    p.add_argument("model", help=MODEL_HELP)
    add_flags(p, ProfileSettings)
    p.add_argument("--json", action="store_true", help="print one JSON object (layers, total)")
    p.add_argument("--show-mapping", action="store_true", help="print each layer's chosen mapping")
    p.set_defaults(func=cmd_profile)

    t = sub.add_parser("train", help="train a model with SGD (rubric rules) and report validation accuracy")
    t.add_argument("model", help=MODEL_HELP)
    add_flags(t, TrainSettings)
    t.add_argument("--out", help="output folder (default runs/train-MODEL)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    sgd = t.add_argument_group("SGD recipe (default: the spec's own, else SGDConfig's with the rubric's epochs)")
    add_flags(sgd, SGDConfig, notes=TRAIN_DEFAULTS)
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("search", help="co-design search: Pareto front of accuracy, energy and latency")
    add_flags(s, SearchSettings)
    s.add_argument("--resume", action="store_true", help="continue the run --name, keeping every finished trial")
    s.set_defaults(func=cmd_search)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="codesign", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _settings_commands(sub)
    e = sub.add_parser("export", help="write a design as a standalone model.py (+ spec, weights, ONNX, README)")
    e.add_argument("source", help="runs/<name>, or any MODEL as in `codesign profile`")
    e.add_argument("--trial", help="with a run folder: the trial to export")
    e.add_argument(
        "--best",
        default="score",
        choices=["score", "accuracy", "energy", "latency"],
        help="with a run folder and no --trial: which best trial (default: rubric score)",
    )
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--weights", help="with a MODEL: a state dict to include (e.g. from `codesign train`)")
    e.add_argument("--onnx", action="store_true", help="also write model.onnx (needs codesign[onnx])")
    e.add_argument("--mapper", choices=MAPPERS.names(), help=MAPPER_HELP + " (the README's inference cost)")
    e.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="the data set the weights were trained on, when the source does not record it (a run or a "
        "`codesign train` folder does): its normalisation goes inside the model",
    )
    e.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that is not empty (files of the export's names are replaced, others kept)",
    )
    e.set_defaults(func=cmd_export)

    a = sub.add_parser("arch", help="derive an accelerator of other sizes (energies and area scaled) as YAML")
    a.add_argument("--base", help="arch to resize (default simple_weight_stationary)")
    a.add_argument("--pe-x", type=int, help="PE columns (input channels of dense layers)")
    a.add_argument("--pe-y", type=int, help="PE rows (output channels)")
    a.add_argument("--weight-spad-depth", type=int, help="words in each PE's weight scratchpad")
    a.add_argument("--glb-depth", type=int, help="words in the global buffer")
    a.add_argument("--glb-bandwidth", type=int, help="global-buffer words per cycle (read and write)")
    a.add_argument("--word-bits", type=int, choices=[8, 16, 32])
    a.add_argument("--dataflow", choices=dataflow_names(), help="dataflow (arch/dataflows/; default: the base's, ws)")
    a.add_argument("--name", help="the new arch's name (default: base name + dataflow + sizes)")
    a.add_argument(
        "--out", help="a .yaml file to write, or a folder for the Timeloop inputs (arch, ERT, constraints, mapper)"
    )
    a.set_defaults(func=cmd_arch)

    d = sub.add_parser("dse", help="brute force over PE-array shape x dataflow for one network (CSV, Pareto, HTML)")
    d.add_argument("model", help=MODEL_HELP)
    from codesign.dse import DseSettings  # light: the dse module imports its heavy parts when it runs

    add_flags(d, DseSettings, titled=False)
    d.add_argument("--out", help="output folder (default runs/dse-MODEL); points already there are skipped")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_dse)

    r = sub.add_parser("report", help="rebuild a run's pareto.csv, report.html and pareto.png")
    r.add_argument("run", help="runs/<name>, or the run in its storage (e.g. s3://bucket/runs/<name>)")
    r.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and exit code 2 for bad input, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a search stopped by Ctrl-C (130) or SIGTERM (143) says what it kept
        print(f"codesign: {exc or 'interrupted'}", file=sys.stderr)
        return 128 + int(getattr(exc, "signum", 2))
    except OSError as exc:  # a full disk, a read-only folder, a file where a folder should be: one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"codesign: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

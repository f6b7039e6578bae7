"""The `codesign` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codesign.arch import load_arch
from codesign.cost import ENGINES, CostCache
from codesign.cost.layer_cost import cost_from_evaluation
from codesign.cost.nest import evaluate
from codesign.cost.timeloop_map import load_timeloop_map
from codesign.errors import CodesignError
from codesign.models import resolve_model
from codesign.profile import NetworkCost, format_table, profile_workload
from codesign.rubric import load_rubric
from codesign.workload import trace

MODEL_HELP = "`path/to/file.py:ClassName` (built with no arguments), a spec .json file, or a built-in (lenet5, lab2023)"


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 1,3,32,32") from None
    if not shape or any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be positive")
    return shape


def cmd_profile(args: argparse.Namespace) -> int:
    """codesign profile: per-layer energy/cycles table and totals for one model."""
    arch = load_arch(args.arch)
    rubric = load_rubric(args.rubric)
    model = resolve_model(args.model)
    shape = args.input_shape or model.input_shape or (1, 3, 32, 32)
    workload = trace(model.module, shape)
    if args.timeloop_map:
        if len(workload.layers) != 1:
            raise CodesignError(f"--timeloop-map evaluates one layer, but {args.model} has "
                                f"{len(workload.layers)} distinct Conv2d/Linear layers")
        layer = workload.layers[0]
        nest = load_timeloop_map(args.timeloop_map, layer)
        ev = evaluate(layer, arch, nest)
        if not ev.valid[0]:
            raise CodesignError(f"{args.timeloop_map}: the mapping overflows a buffer of {arch.name}")
        net = NetworkCost(workload, arch, [cost_from_evaluation(layer, arch, nest, ev, "timeloop-map")],
                          "timeloop-map")
    else:
        cache = None if args.no_cache else CostCache(args.cache)
        net = profile_workload(workload, arch, args.engine, cache)
    if args.json:
        print(json.dumps(net.to_dict(rubric), indent=2))
    else:
        print(format_table(net, rubric, show_mapping=args.show_mapping))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="codesign", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", help="energy, cycles and peak activation of a model on an accelerator")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--input-shape", type=_shape, help="input tensor shape, batch first (default 1,3,32,32)")
    p.add_argument("--arch", help="architecture YAML or built-in name (default simple_weight_stationary)")
    p.add_argument("--engine", default="analytic", choices=sorted(ENGINES), help="cost engine")
    p.add_argument("--rubric", help="rubric YAML overriding the lab's default")
    p.add_argument("--timeloop-map", type=Path, help="evaluate a one-layer model under this Timeloop map.yaml")
    p.add_argument("--json", action="store_true", help="print one JSON object (layers, total)")
    p.add_argument("--show-mapping", action="store_true", help="print each layer's chosen mapping")
    p.add_argument("--cache", help="layer-cost cache file (default $CODESIGN_CACHE or ~/.cache/codesign)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the layer-cost cache")
    p.set_defaults(func=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and exit code 2 for bad input, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

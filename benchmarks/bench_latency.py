"""How well the per-layer latency table predicts whole networks it never saw, and how steady a timing is.

Networks are drawn at random from the product's search spaces (search_spaces/*.yaml, through codesign.space, as a
search draws them; seed 2026); the table is built from single layers (a fresh cache file) and its calibration
fitted on `--calibrate` other networks, drawn from the calibration's own family of small CNNs
(codesign.device.calibration; checked disjoint from the evaluation networks), never on these. For each runtime it
prints, for the calibrated table, the table's uncalibrated sum (per-call correction only), the plain sum of
segments and a line a + b·MACs fitted to these same networks (in sample: it flatters MACs): the share of networks
within ±10 % of their measured whole-network latency, the median |error| and the Spearman rank correlation with the
measurement. Stability: one model timed in 5 separate processes, the spread of their medians.

    python benchmarks/bench_latency.py [--networks 45] [--runtimes onnxruntime torch] [--processes 5]
        [--calibrate 30]

Timings are of this machine as it is: the load average before and after is printed (a busy machine makes every
figure worse: run it on idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from codesign.data import DATASETS
from codesign.device.calibration import CALIBRATION_SEED, draw_networks
from codesign.device.settings import TimingSettings
from codesign.device.table import LatencyCache, LatencyTable
from codesign.device.timing import cpu_name, load_average, measure
from codesign.errors import CodesignError
from codesign.space import load_space
from codesign.spec_workload import spec_workload

STABLE_MODEL = "lenet5"
EVALUATION_SEED = 2026


SPACES = ("lenet", "rubric_cnn", "codesign")


def draw(count: int, seed: int) -> list[tuple[str, object]]:
    """`count` networks drawn at random from the shipped spaces in turn, as a search draws them: (label, spec)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    drawn = []
    for offset, name in enumerate(SPACES):
        space = load_space(name)
        info = DATASETS[space.dataset]
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed + offset))
        kept = 0
        while kept < -(-count // len(SPACES)):
            try:  # a draw that cannot be built is one the search would not train either: draw again
                spec = space.sample(study.ask(), info.input_shape, info.num_classes, seed)
            except CodesignError:
                continue
            drawn.append((f"{name}#{kept}", spec))
            kept += 1
    return drawn[:count]


def disjoint(networks: list[tuple[str, object]], calibrate: int) -> None:
    """Stop when an evaluation network is one the calibration is fitted on (it would flatter the table)."""
    seen = {spec.to_json() for _, spec in draw_networks(calibrate, CALIBRATION_SEED)}  # type: ignore[attr-defined]
    shared = [label for label, spec in networks if spec.to_json() in seen]  # type: ignore[attr-defined]
    if shared:
        raise SystemExit(f"evaluation networks {shared} are also calibration networks: draw with another --seed")


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    import pandas as pd

    return float(pd.Series(a).corr(pd.Series(b), method="spearman"))


def within(predicted: list[float], measured: list[float], tolerance: float = 0.10) -> float:
    """Share of predictions within ±tolerance of the measurement."""
    return float(np.mean([abs(p - m) <= tolerance * m for p, m in zip(predicted, measured)]))


def accuracy(networks: list[tuple[str, object]], settings: TimingSettings, cache_dir: Path) -> dict:
    """Table vs measurement over `networks` for one runtime."""
    table = LatencyTable(settings, LatencyCache(cache_dir / f"{settings.runtime}.sqlite"))
    start = time.perf_counter()
    calibration = table.calibration(settings.batch)
    calibration_seconds = time.perf_counter() - start
    rows = []
    start = time.perf_counter()
    for label, spec in networks:
        workload = spec_workload(spec)  # type: ignore[arg-type]
        model = spec.build()  # type: ignore[attr-defined]
        shape = settings.search_shape(spec.input_shape)  # type: ignore[attr-defined]
        prediction = table.predict(model, shape)
        latency = measure(model, shape, settings)
        measured = (latency.median_ms, latency.spread)
        rows.append((label, workload.macs, prediction.ms, prediction.raw_ms, *measured, prediction.summed_ms))
    seconds = time.perf_counter() - start
    macs = [r[1] for r in rows]
    predicted, raw, measured = [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]
    summed = [r[6] for r in rows]
    slope, intercept = np.polyfit(macs, measured, 1)
    fitted = [intercept + slope * m for m in macs]
    errors = sorted(abs(p - m) / m for p, m in zip(predicted, measured))

    def median_error(guess: list[float]) -> float:
        return statistics.median(abs(p - m) / m for p, m in zip(guess, measured))

    return {
        "runtime": settings.runtime,
        "networks": len(rows),
        "seconds": seconds,
        "calibration_seconds": calibration_seconds,
        "calibration": None if calibration is None else calibration.to_dict(),
        "overhead_ms": table.overhead().median_ms,
        "within10_table": within(predicted, measured),
        "within10_summed": within(summed, measured),
        "within10_raw_sum": within(raw, measured),
        "within10_macs_line": within(fitted, measured),
        "spearman_table": spearman(predicted, measured),
        "spearman_summed": spearman(summed, measured),
        "spearman_macs": spearman(macs, measured),
        "median_abs_error_summed": median_error(summed),
        "median_abs_error_raw_sum": median_error(raw),
        "median_abs_error_macs_line": median_error(fitted),
        "median_abs_error": statistics.median(errors),
        "p90_abs_error": errors[int(0.9 * (len(errors) - 1))],
        "mean_signed_error": float(np.mean([(p - m) / m for p, m in zip(predicted, measured)])),
        "measured_ms_range": (min(measured), max(measured)),
        "median_run_spread": statistics.median(r[5] for r in rows),
        "rows": rows,
    }


_ONE = """
import json, sys
from codesign.builtin_models import BUILTINS
from codesign.device.settings import TimingSettings
from codesign.device.timing import measure
lat = measure(BUILTINS[{model!r}](), (1, 3, 32, 32), TimingSettings(runtime={runtime!r}))
print(json.dumps(lat.to_dict()))
"""


def stability(runtime: str, processes: int) -> dict:
    """The same model timed in `processes` separate processes, one after another."""
    medians = []
    for _ in range(processes):
        code = _ONE.format(model=STABLE_MODEL, runtime=runtime)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        medians.append(json.loads(done.stdout.strip().splitlines()[-1])["median_ms"])
    centre = statistics.median(medians)
    return {
        "runtime": runtime,
        "medians_ms": medians,
        "max_deviation": max(abs(m - centre) / centre for m in medians),
        "range_over_median": (max(medians) - min(medians)) / centre,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=45)
    parser.add_argument("--runtimes", nargs="+", default=["onnxruntime", "torch"])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=EVALUATION_SEED)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--calibrate", type=int, default=TimingSettings().calibrate, help="calibration networks")
    parser.add_argument("--batch", type=int, default=1, help="time every network on a batch of this size")
    args = parser.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()}", flush=True)
    networks = draw(args.networks, args.seed)
    disjoint(networks, args.calibrate)
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in args.runtimes:
            settings = TimingSettings(runtime=runtime, runs=args.runs, calibrate=args.calibrate, batch=args.batch)
            found = accuracy(networks, settings, Path(tmp))
            cal = found["calibration"]
            fitted = (
                "no calibration"
                if cal is None
                else f"calibrated on {cal['networks']} other networks in {found['calibration_seconds']:.0f} s "
                f"(coefficients {', '.join(f'{c:.4g}' for c in cal['coefficients'])}; in sample "
                f"{cal['fit_within10']:.0%} within ±10 %; load average up to {cal['load']:.1f})"
            )
            print(
                f"\n{runtime}, 1 thread, batch {args.batch}: {found['networks']} networks ({found['seconds']:.0f} s), "
                f"{fitted}; measured "
                f"{found['measured_ms_range'][0]:.3f}-{found['measured_ms_range'][1]:.3f} ms, per-call cost "
                f"{found['overhead_ms'] * 1e3:.1f} us, median run IQR/median {found['median_run_spread']:.1%}\n"
                f"  {'':24s}{'within ±10 %':>14s}{'median |error|':>16s}{'Spearman':>10s}\n"
                f"  {'table (calibrated)':24s}{found['within10_table']:>14.0%}{found['median_abs_error']:>16.1%}"
                f"{found['spearman_table']:>10.3f}\n"
                f"  {'table, uncalibrated':24s}{found['within10_summed']:>14.0%}"
                f"{found['median_abs_error_summed']:>16.1%}"
                f"{found['spearman_summed']:>10.3f}\n"
                f"  {'plain sum of segments':24s}{found['within10_raw_sum']:>14.0%}"
                f"{found['median_abs_error_raw_sum']:>16.1%}{'':>10s}\n"
                f"  {'a + b·MACs (in sample)':24s}{found['within10_macs_line']:>14.0%}"
                f"{found['median_abs_error_macs_line']:>16.1%}{found['spearman_macs']:>10.3f}\n"
                f"  table |error|: 90th percentile {found['p90_abs_error']:.1%}; mean signed error "
                f"{found['mean_signed_error']:+.1%}",
                flush=True,
            )
            if os.environ.get("BENCH_ROWS"):
                for row in found["rows"]:
                    print("   ", row)
        for runtime in args.runtimes:
            if args.processes:
                s = stability(runtime, args.processes)
                shown = ", ".join(f"{m:.4f}" for m in s["medians_ms"])
                print(
                    f"\nstability, {STABLE_MODEL} on {runtime} in {args.processes} processes: medians {shown} ms; "
                    f"largest deviation from their median {s['max_deviation']:.1%}, range {s['range_over_median']:.1%}",
                    flush=True,
                )
    print(f"\nload average after: {load_average():.2f} (1 min), {os.getloadavg()}")


if __name__ == "__main__":
    main()

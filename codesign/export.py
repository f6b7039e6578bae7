"""`codesign export`: hand a design over as a standalone model.py (torch only) that takes images as people have
them ([0, 1] floats, or uint8) with its data set's normalisation inside, its spec, weights, ONNX and a README.

model.py is generated from checked values and checked before it runs (codesign/model_source.py): nothing read
from a run folder, a spec or a file name becomes code. Every file is written into a staging folder and moved in
only when all are written and checked; a folder holding anything is refused unless forced, and even then only
the export's own file names are replaced.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import secrets
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codesign.arch import Arch, load_arch
from codesign.cost import CostCache
from codesign.cost.analytic import AnalyticEngine
from codesign.data import DATASETS
from codesign.designs import NORMALIZATION_KEYS, Design, TrainedOn, load_exported, load_weights
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, area_mm2, write_arch
from codesign.model_source import build_net, check_source, input_doc, module_source, safe_text, shape_words
from codesign.profiling import MAPPER_NOTE, ROLES, other_mapper, profile_workload
from codesign.rubric import PJ_PER_MJ
from codesign.workload import trace

__all__ = ["EXPORT_FILES", "build_net", "check_source", "export", "load_exported", "module_source", "stale_files"]

EXPORT_FILES = ("model.py", "spec.json", "weights.pt", "arch.yaml", "model.onnx", "README.md")


def _dataset_of(design: Design, dataset: str | None) -> str | None:
    """The data set the export's normalisation and README follow: the design's own, else `dataset`."""
    known = design.trained_on.dataset if design.trained_on is not None else None
    if dataset is not None and dataset not in DATASETS:
        raise CodesignError(f"unknown dataset {dataset!r} (available: {', '.join(DATASETS)})")
    if known is not None and dataset is not None and dataset != known:
        raise CodesignError(
            f"{safe_text(design.label)} was trained on {known}: --dataset {dataset} would give it the wrong "
            f"normalisation (leave --dataset out)"
        )
    return known or dataset


def _check_target(out: Path, force: bool) -> None:
    """Refuse a file, or a folder that holds anything, unless `force` (then only the export's files are replaced)."""
    if out.exists() and not out.is_dir():
        raise CodesignError(f"{out}: exists and is not a folder; export into a new or empty folder")
    if out.is_dir() and not force:
        try:
            held = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise CodesignError(f"{out}: cannot read the folder ({exc.strerror or exc})") from None
        if held:
            shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
            raise CodesignError(
                f"{out}: not empty ({shown}); export into a new folder, or pass --force to write the export's "
                f"files into it (files of the same name are replaced, other files are kept)"
            )


def export(
    design: Design,
    out: Path,
    onnx: bool = False,
    mapper: str | None = None,
    force: bool = False,
    dataset: str | None = None,
) -> list[Path]:
    """Write model.py, spec.json, weights.pt, arch.yaml, model.onnx and README.md into `out`; returns them.

    `out` must be new or empty unless `force` (then files of the same names are replaced and every other file
    is kept). The model takes [0, 1] images with `dataset`'s normalisation inside (the design's own data set when
    it records one). The README gives its inference cost on its accelerator under the analytic `mapper` (None:
    the arch's, random-pruned) with the other mapper's beside it. Every file is written into a staging folder
    beside `out` first and moved in only once all are written and checked: a failed export leaves nothing.
    """
    out = Path(out)
    _check_target(out, force)
    name = _dataset_of(design, dataset)
    existed = out.is_dir()
    # staged on the same file system as the files' final place, so that moving them in is a rename
    where = out if existed else out.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        staging = where / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
        staging.mkdir()
    except OSError as exc:
        raise CodesignError(f"{out}: cannot write an export there ({exc.strerror or exc})") from None
    try:
        names = _write_files(design, staging, out, onnx, mapper, name)
        if not existed:
            _write(out, lambda: os.rename(staging, out))  # the whole export appears at once
        else:
            for file in names:
                _write(out / file, functools.partial(os.replace, staging / file, out / file))
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the staging folder is ours; nothing else is removed
    return [out / file for file in names]


def stale_files(out: Path, written: list[Path]) -> list[Path]:
    """Files an earlier export left in `out` that this one did not write (e.g. model.onnx), kept as they were."""
    names = {p.name for p in written}
    return [out / n for n in EXPORT_FILES if n not in names and (out / n).is_file()]


def _write(path: Path, action: Callable[[], Any]) -> None:
    """Run one file-system step; a full disk or a read-only folder is one line naming `path`."""
    try:
        action()
    except OSError as exc:
        raise CodesignError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def _bytes(path: Path, out: Path, data: bytes) -> None:
    _write(out / path.name, lambda: path.write_bytes(data))


def _write_files(
    design: Design, staging: Path, out: Path, onnx: bool, mapper: str | None, dataset: str | None
) -> list[str]:
    """Write and check every file of an export in `staging`; returns their names."""
    model = design.module.eval()
    if design.weights is not None:
        load_weights(model, design.weights)
    shape = design.input_shape or (1, *(DATASETS[dataset].input_shape if dataset else (3, 32, 32)))
    label = safe_text(design.label)
    doc = f"{label}: {sum(p.numel() for p in model.parameters()):,} parameters"
    source = module_source(model, f"{label}, exported by codesign.", doc, dataset, shape)
    net = build_net(source)
    try:
        net.load_state_dict(model.state_dict(), strict=False)
        missing = set(net.state_dict()) - set(model.state_dict()) - set(NORMALIZATION_KEYS)
        unexpected = set(model.state_dict()) - set(net.state_dict())
        if missing or unexpected:
            raise RuntimeError(f"keys {sorted(missing | unexpected)[:3]} differ")
    except RuntimeError as exc:
        raise CodesignError(
            f"{label}: the generated model.py does not match the model's weights: {str(exc).splitlines()[0]}"
        ) from None
    net.eval()
    _same_outputs(net, model, shape, label)
    files = {"model.py": source.encode()}
    if design.spec is not None:
        files["spec.json"] = _spec_json(design, dataset, shape).encode()
    if design.weights is not None:
        buffer = io.BytesIO()
        torch.save(net.state_dict(), buffer)  # the network's tensors and the input normalisation
        files["weights.pt"] = buffer.getvalue()
    for file, data in files.items():
        _bytes(staging / file, out, data)
    names = list(files)
    if design.arch is not None:
        _write(out / "arch.yaml", functools.partial(write_arch, design.arch, staging / "arch.yaml"))
        names.append("arch.yaml")
    if onnx:
        _onnx(net, shape, staging / "model.onnx", out / "model.onnx")
        names.append("model.onnx")
    cost = _cost_lines(model, shape, design.arch or load_arch(None), mapper)
    _bytes(staging / "README.md", out, _readme(design, dataset, shape, [*names, "README.md"], cost, onnx).encode())
    return [*names, "README.md"]


def _same_outputs(net: nn.Module, model: nn.Module, shape: tuple[int, ...], label: str) -> None:
    """The generated Net on [0, 1] and on uint8 images gives the original model's outputs on normalised ones."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2, *shape[1:]), dtype=torch.uint8)
    unit = images.float().div(255.0)
    with torch.no_grad():
        expected = model((unit - net.get_buffer("input_mean")) / net.get_buffer("input_std"))
        same = torch.allclose(net(unit), expected, atol=1e-5) and torch.allclose(net(images), expected, atol=1e-5)
    if not same:
        raise CodesignError(
            f"{label}: its forward is not its submodules applied in order, so it cannot be "
            f"written as a standalone model.py; its own source file already defines it"
        )


def _onnx(net: nn.Module, shape: tuple[int, ...], path: Path, shown: Path) -> None:
    """model.onnx of the exported Net (normalisation included), float [0, 1] input with any batch size."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; say so before it fails deep inside)

        program = torch.onnx.export(
            net,
            (torch.rand(2, *shape[1:]),),
            None,
            dynamo=True,
            verbose=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    except (ImportError, ModuleNotFoundError) as exc:
        raise CodesignError(f"--onnx needs the onnx extra: pip install 'codesign[onnx]' ({exc})") from None
    if program is None:
        raise CodesignError("torch.onnx.export returned no program; update torch")
    _write(shown, lambda: program.save(str(path)))


def _cost_lines(model: nn.Module, shape: tuple, arch: Arch, mapper: str | None) -> list[str]:
    """The README's inference-cost section: energy and cycles under both analytic mappers."""
    cache = CostCache()
    net = profile_workload(trace(model, shape), arch, AnalyticEngine(mapper), cache)
    rows = [n for n in (net, other_mapper(net, cache)) if n is not None]
    lines = [
        f"## Inference cost on `{safe_text(arch.name)}` (batch 1, codesign's analytic model)",
        "",
        "| mapping | energy (mJ) | latency (cycles) |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {ROLES.get(n.mapper, n.mapper)} ({n.mapper}) | {n.energy_pj / PJ_PER_MJ:.4f} | {n.cycles:,} |" for n in rows
    ]
    return [*lines, "", MAPPER_NOTE + f"; peak activation {net.peak_activation_bytes:,} B.", ""]


_FACTS = (
    ("val_accuracy", "validation accuracy"),
    ("val_accuracy_float", "validation accuracy before quantisation to the accelerator's words"),
    ("energy_mj", "energy (mJ)"),
    ("cycles", "latency (cycles)"),
    ("peak_activation_bytes", "peak activation (B)"),
    ("parameters", "parameters"),
    ("rubric_points", "rubric points (validation error as the accuracy estimate)"),
    ("trial_id", "trial"),
)


def _scores(design: Design) -> dict[str, Any]:
    """The design's recorded numbers (a trial's row, a training summary), numbers and ids only."""
    facts = design.facts or {}
    kept: dict[str, Any] = {}
    for key, _ in _FACTS:
        value = facts.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            kept[key] = value
        elif key == "trial_id" and isinstance(value, str):
            kept[key] = safe_text(value, 60)
    return kept


def reproduce_command(design: Design, dataset: str | None) -> str:
    """The `codesign train` command that trains the spec again as its weights were trained."""
    trained = design.trained_on or (TrainedOn(dataset) if dataset else None)
    args = ["codesign", "train", "spec.json", "--dataset", trained.dataset if trained else "DATASET"]
    if trained is not None:
        if trained.train_size:
            args += ["--train-size", str(int(trained.train_size))]
        if trained.val_size and trained.val_size != DATASETS[trained.dataset].val_size:
            args += ["--val-size", str(int(trained.val_size))]
        if trained.split_seed:
            args += ["--split-seed", str(int(trained.split_seed))]
        if trained.data_dir:
            args += ["--data-dir", "DATA_DIR"]
    return shlex.join([*args, "--out", "retrained"])


def _spec_json(design: Design, dataset: str | None, shape: tuple[int, ...]) -> str:
    """The spec, with an `about` block: data set, input, classes, scores and the training command."""
    assert design.spec is not None
    info = DATASETS[dataset] if dataset else None
    trained = design.trained_on or (TrainedOn(dataset) if dataset else None)
    about: dict[str, Any] = {
        "dataset": dataset,
        "input": {
            "shape": ["N", *shape[1:]],
            "dtype": "float32 in [0, 1] (uint8 0-255 also accepted by model.py; model.onnx takes float32)",
            "normalization": "inside the model (input_mean, input_std)" if info else "none (data set unknown)",
            "mean": list(info.mean) if info else None,
            "std": list(info.std) if info else None,
        },
        "classes": list(info.classes) if info else None,
        "scores": _scores(design),
        "reproduce": reproduce_command(design, dataset),
    }
    if trained is not None:
        about.update(split_seed=trained.split_seed, val_size=trained.val_size, train_size_limit=trained.train_size)
    return json.dumps({**design.spec.to_dict(), "about": about}, indent=2, allow_nan=False)


def _readme(design: Design, dataset: str | None, shape: tuple, files: list[str], cost: list[str], onnx: bool) -> str:
    info = DATASETS[dataset] if dataset else None
    title = safe_text(design.label)
    dims = ", ".join(str(d) for d in shape[1:])
    lines = [f"# {title}", "", "Exported by `codesign export`: `model.py` needs PyTorch only.", ""]
    lines += ["## Input and output", ""]
    lines += [
        f"- **Data set**: {info.label} ({info.name})." if info else "- **Data set**: not known to codesign.",
        f"- **Input**: {' '.join(input_doc(info, shape))}",
        f"- **Output**: logits (N, {design.spec.num_classes if design.spec else 'classes'})"
        + (f" for the classes {', '.join(f'{i} {c}' for i, c in enumerate(info.classes))}." if info else "."),
    ]
    if onnx:
        lines.append(
            f"- **model.onnx**: the same network with the normalisation inside; input `images` float32 "
            f"(batch, {dims}) in [0, 1] (any batch size; no uint8), output `logits`."
        )
    lines += ["", "```python", "import torch", "from model import Net", "", "net = Net()"]
    if design.weights is not None:
        lines.append('net.load_state_dict(torch.load("weights.pt", weights_only=True))')
    example = "torch.rand" + str((1, *shape[1:]))
    lines += ["net.eval()", f"logits = net({example})  # {shape_words(shape)}"]
    if info is not None and info.classes:
        lines.append("print(Net.CLASSES[int(logits.argmax(1)[0])])")
    lines += ["```", ""]
    if onnx:
        lines += [
            "```python",
            "import numpy as np, onnxruntime",
            "",
            'session = onnxruntime.InferenceSession("model.onnx")',
            f'logits = session.run(None, {{"images": np.random.rand(8, {dims}).astype(np.float32)}})[0]',
            "```",
            "",
        ]
    scores = _scores(design)
    if scores:
        lines += ["## Scores (from the search or training; accuracy on the validation split)", "", "| | |"]
        lines += ["| --- | --- |"] + [f"| {label} | {scores[key]} |" for key, label in _FACTS if key in scores]
        lines.append("")
    lines += cost
    if design.facts and isinstance(design.facts.get("pe_x"), (int, float)) and design.arch is not None:
        hw = HardwareParams.of(design.arch)
        lines += [
            "## Accelerator (searched with the network)",
            "",
            f"`arch.yaml`: {hw.pe_x}×{hw.pe_y} PEs ({hw.dataflow} dataflow), {hw.weight_spad_depth}-word PE "
            f"scratchpads, {hw.glb_depth}-word global buffer at {hw.glb_bandwidth} words/cycle, "
            f"{hw.word_bits}-bit words, {area_mm2(design.arch):.3f} mm². Profile on it: "
            f"`codesign profile . --arch arch.yaml` (the default when profiling this folder).",
            "",
        ]
    if design.spec is not None:
        sgd = design.spec.sgd
        lines += [
            "## Training recipe (SGD, no augmentation)",
            "",
            f"lr {sgd.lr}, momentum {sgd.momentum}{' (Nesterov)' if sgd.nesterov else ''}, weight decay "
            f"{sgd.weight_decay}, batch {sgd.batch_size}, {sgd.epochs} epochs, {sgd.schedule} schedule"
            f"{f', {sgd.warmup_epochs} warm-up epochs' if sgd.warmup_epochs else ''}, seed {sgd.seed}.",
            "",
            "Reproduce the training (the same seed gives the same weights on the CPU; add `--final` to score "
            "the test set once):",
            "",
            "```bash",
            reproduce_command(design, dataset),
            "```",
            "",
        ]
        if dataset is None:
            lines += ["(codesign does not know which data set this design was trained on: name it.)", ""]
        elif design.trained_on is not None and design.trained_on.data_dir:
            lines += ["(`DATA_DIR`: the folder holding the data set, as it was given to the search.)", ""]
    lines += ["## Files", ""] + [f"- `{name}`" for name in files]
    return "\n".join(lines) + "\n"

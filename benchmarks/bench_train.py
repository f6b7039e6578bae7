"""Training throughput: codesign's loop (whole split as one uint8 tensor, normalised per batch) vs a plain
torchvision Dataset + DataLoader loop, same LeNet-size model, same SGD, same images, in the same run.

    python benchmarks/bench_train.py [--images 20000] [--device cpu]

Target: >= 1.5x on 2 CPU cores. On a GPU, also prints the epoch time of a ~100k-parameter CIFAR-size CNN.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms

from codesign.data import DATASETS, DEBIAN_FASHION_MNIST, Dataset, Split, load_dataset
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.train import build_model, train


def lenet_spec(shape=(1, 28, 28)) -> CandidateSpec:
    return CandidateSpec(
        stages=(
            ConvStage(6, kernel=5, padding=2, pool="max", batch_norm=False),
            ConvStage(16, kernel=5, padding=0, pool="max", batch_norm=False),
        ),
        input_shape=shape,
        head=(120, 84),
        sgd=SGDConfig(lr=0.05, epochs=1, batch_size=128, schedule="constant", nesterov=False),
    )


def torchvision_loop(spec: CandidateSpec, root: Path, images: int, device: torch.device) -> float:
    """Images/s of the textbook loop: per-image Dataset with transforms, DataLoader batching."""
    info = DATASETS["fashion-mnist"]
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(info.mean, info.std)])
    dataset = torchvision.datasets.FashionMNIST(str(root), train=True, transform=tf, download=False)
    subset = torch.utils.data.Subset(dataset, range(images))
    loader = torch.utils.data.DataLoader(subset, batch_size=spec.sgd.batch_size, shuffle=True, drop_last=True)
    model = build_model(spec).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=spec.sgd.lr, momentum=spec.sgd.momentum)
    loss_fn = nn.CrossEntropyLoss()
    start, seen = time.perf_counter(), 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def codesign_loop(spec: CandidateSpec, images: int, device: torch.device) -> float:
    data = load_dataset("fashion-mnist", device=device)
    data.train = Split(data.train.images[:images], data.train.labels[:images])
    data.val = Split(data.val.images[:1], data.val.labels[:1])  # keep validation out of the figure
    result = train(build_model(spec), data, spec.sgd)
    return result.metrics[0].images_per_second


def gpu_epoch(device: torch.device) -> None:
    """Epoch time of a ~100k-parameter CNN on CIFAR-10-size data (random pixels: only speed is measured)."""
    spec = CandidateSpec(
        stages=(ConvStage(32, pool="max"), ConvStage(64, pool="max"), ConvStage(96, pool="max")),
        global_pool=True,
        sgd=SGDConfig(epochs=2, batch_size=256),
    )
    params = sum(p.numel() for p in spec.build().parameters())
    data = Dataset(
        info=DATASETS["cifar10"],
        train=Split(
            torch.randint(0, 256, (45_000, 3, 32, 32), dtype=torch.uint8, device=device),
            torch.randint(0, 10, (45_000,), device=device),
        ),
        val=Split(
            torch.randint(0, 256, (5_000, 3, 32, 32), dtype=torch.uint8, device=device),
            torch.randint(0, 10, (5_000,), device=device),
        ),
        source=Path("."),
        split_seed=0,
    )
    result = train(build_model(spec), data, spec.sgd)
    print(
        f"GPU: {params:,}-parameter CNN, CIFAR-10-size epoch (45k train + 5k val): "
        f"{result.metrics[-1].seconds:.2f} s (second epoch; target < 2 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    if not DEBIAN_FASHION_MNIST.is_dir():
        raise SystemExit("needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    root = Path(tempfile.mkdtemp())
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in DEBIAN_FASHION_MNIST.glob("*.gz"):  # torchvision wants its own checksums or unzipped files
        with gzip.open(gz) as src, (raw / gz.stem).open("wb") as dst:
            shutil.copyfileobj(src, dst)
    spec = lenet_spec()
    print(
        f"torch threads {torch.get_num_threads()}, device {device}, {args.images:,} images, LeNet-size "
        f"({sum(p.numel() for p in spec.build().parameters()):,} parameters), batch {spec.sgd.batch_size}"
    )
    ours = codesign_loop(spec, args.images, device)
    base = torchvision_loop(spec, root, args.images, device)
    print(f"torchvision Dataset + DataLoader  {base:10,.0f} images/s")
    print(f"codesign tensor loop              {ours:10,.0f} images/s   -> {ours / base:.2f}x (target >= 1.5x)")
    if device.type == "cuda":
        gpu_epoch(device)


if __name__ == "__main__":
    main()

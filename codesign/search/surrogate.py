"""The accuracy surrogate: a Gaussian process (scikit-learn) over features of a design's spec and workload.

Features are what decides accuracy and is known before training: capacity (MACs, parameters), depth, each
stage's width, kernel, stride, pooling, kind and batch norm, the classifier head, the SGD hyper-parameters
and the accelerator's word width (designs scored after quantization). Columns that do not vary among the
designs at hand are dropped; the rest are scaled to [0, 1] over the trained designs and the candidates,
so the kernel's length scales mean the same in every search space.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from codesign.hardware import HardwareParams
from codesign.network import ACTIVATIONS, CandidateSpec
from codesign.sgd import SCHEDULES
from codesign.workload import Workload

Features = dict[str, float]


def design_features(spec: CandidateSpec, workload: Workload, hardware: HardwareParams | None = None) -> Features:
    """The numbers the surrogate sees for one design (a missing stage reads as zeros)."""
    sgd = spec.sgd
    out: Features = {
        "log2_macs": math.log2(max(workload.macs, 1)),
        "log2_parameters": math.log2(max(workload.parameters, 1)),
        "depth": float(len(spec.stages)),
        "log2_head": math.log2(1 + (spec.head[0] if spec.head else 0)),
        "head_depth": float(len(spec.head)),
        "global_pool": float(spec.global_pool),
        "dropout": spec.dropout,
        "log10_lr": math.log10(sgd.lr),
        "momentum": sgd.momentum,
        "nesterov": float(sgd.nesterov),
        "log10_weight_decay": math.log10(sgd.weight_decay) if sgd.weight_decay > 0 else -8.0,
        "log2_batch": math.log2(sgd.batch_size),
        "epochs": float(sgd.epochs),
        "warmup": sgd.warmup_epochs,
        **{f"schedule_{name}": float(sgd.schedule == name) for name in SCHEDULES},
        **{
            f"activation_{name}": sum(s.activation == name for s in spec.stages) / len(spec.stages)
            for name in ACTIVATIONS
        },
        "word_bits": float(hardware.word_bits) if hardware is not None else 16.0,
    }
    for i, st in enumerate(spec.stages):
        out |= {
            f"stage{i}_log2_channels": math.log2(st.channels),
            f"stage{i}_kernel": float(st.kernel),
            f"stage{i}_stride": float(st.stride),
            f"stage{i}_pool": float(st.pool != "none"),
            f"stage{i}_separable": float(st.kind == "separable"),
            f"stage{i}_batch_norm": float(st.batch_norm),
        }
    return out


@dataclass
class FeatureScale:
    """Which feature columns vary, and their [0, 1] scaling."""

    columns: list[str]
    low: np.ndarray
    span: np.ndarray

    @classmethod
    def fit(cls, rows: list[Features]) -> FeatureScale:
        """The varying columns of `rows` and their ranges."""
        names = sorted({name for row in rows for name in row})
        table = np.array([[row.get(name, 0.0) for name in names] for row in rows], dtype=float)
        low, high = table.min(axis=0), table.max(axis=0)
        keep = high - low > 1e-9
        return cls([n for n, k in zip(names, keep) if k], low[keep], (high - low)[keep])

    def transform(self, rows: list[Features]) -> np.ndarray:
        """`rows` as a (rows, columns) array in [0, 1] (values outside the fitted range run past it)."""
        table = np.array([[row.get(name, 0.0) for name in self.columns] for row in rows], dtype=float)
        return (table - self.low) / self.span if self.columns else np.zeros((len(rows), 0))


_TUNED_MAX = 200  # trials beyond this many: the kernel is tuned on this many (benchmarks/bench_sampler_growth.py)


class AccuracyModel:
    """Predicts validation accuracy (mean and standard deviation) from design features."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.scale: FeatureScale | None = None
        self.gp: Any = None

    def fit(self, rows: list[Features], accuracy: np.ndarray, candidates: list[Features]) -> AccuracyModel:
        """Fit to trained designs; the scaling also spans the candidates about to be predicted."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self.scale = FeatureScale.fit(rows + candidates)
        x = self.scale.transform(rows)
        # one length scale for all (scaled) features: with tens of trials, a length scale per feature overfits
        # (bench_search's trials: held-out correlation 0.5-0.6 and 95 % intervals holding ~60 % of the truth,
        # against ~0.6 and ~90 % with one)
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(length_scale=1.0, length_scale_bounds=(5e-2, 2e1), nu=2.5)
        kernel += WhiteKernel(1e-2, (1e-5, 1.0))
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=self.seed)
        x = x if x.shape[1] else np.zeros((len(rows), 1))
        y = np.asarray(accuracy, dtype=float)
        # one BLAS thread: these matrices are small, and threads only contend with the trials' training
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if len(y) <= _TUNED_MAX:
                gp.fit(x, y)
            else:
                # a long search: the kernel's parameters are tuned on a random subset (each step of the tuning
                # costs a cubic solve: seconds at a thousand trials), then the model is conditioned on every trial
                subset = np.sort(np.random.default_rng(self.seed).choice(len(y), _TUNED_MAX, replace=False))
                gp.fit(x[subset], y[subset])
                gp = GaussianProcessRegressor(kernel=gp.kernel_, normalize_y=True, optimizer=None).fit(x, y)
        self.gp = gp
        return self

    def predict(self, rows: list[Features]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the accuracy of each design in `rows`."""
        if self.gp is None or self.scale is None:
            raise RuntimeError("fit the model first")
        x = self.scale.transform(rows)
        with threadpool_limits(1):
            mean, std = self.gp.predict(x if x.shape[1] else np.zeros((len(rows), 1)), return_std=True)
        return np.asarray(mean), np.asarray(std)

"""Shared tiny fixtures for the core tests.

Everything here is CPU-only, seeded and small: a conv32 VAE with a narrow dense layer
(the conv stack is fixed by PROTOCOL §2), the built-in ``synthetic`` data set (2000 train /
500 test 32x32 blobs, no download), and run directories under ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from vaerobust.config import OBJECTIVE_SETTINGS, DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig, objective_config
from vaerobust.models import VAE, LatentSpec

# One intra-op thread: on a small shared CPU two spinning threads per process make tiny
# convolutions ~100x slower when other processes compete for the cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _offline_and_seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a mirror or the user's cache; every test starts from seed 0."""
    monkeypatch.setenv("VAEROBUST_OFFLINE_MIRRORS", "1")
    monkeypatch.setenv("VAEROBUST_CACHE", str(tmp_path / "_cache"))
    monkeypatch.delenv("VAEROBUST_MNIST_DIR", raising=False)
    monkeypatch.delenv("VAEROBUST_FASHION_MNIST_DIR", raising=False)
    torch.manual_seed(0)


@contextmanager
def locked_by_another_process(folder: Path) -> Iterator[int]:
    """Hold ``folder``'s lock (:func:`vaerobust.files.folder_lock`) in a child process for the block;
    yields its pid. The child is killed afterwards, and its lock goes with it."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from vaerobust.files import folder_lock\n"
        f"with folder_lock({str(folder)!r}):\n    print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def objective_for(name: str, **settings: object) -> ObjectiveConfig:
    """The settings of objective ``name``, keeping only those of ``settings`` that it has
    (a setting of another objective never had an effect on it)."""
    own = {f.name for f in dataclasses.fields(OBJECTIVE_SETTINGS.get(name))} if name in OBJECTIVE_SETTINGS else set()
    return objective_config(name, **{k: v for k, v in settings.items() if k in own})


@pytest.fixture
def tiny_vae() -> VAE:
    """A randomly initialised study-shaped VAE (10 Gaussian dims + one 10-way categorical), eval mode."""
    torch.manual_seed(0)
    return VAE(LatentSpec(10, (10,)), arch="conv32", hidden=16).eval()


@pytest.fixture
def images() -> torch.Tensor:
    """Eight fixed test images of the synthetic data set, [8, 1, 32, 32] in [0, 1]."""
    from vaerobust.data import load_dataset

    x, _ = load_dataset(DataConfig(name="synthetic"), "test")
    return x[:8].clone()


@pytest.fixture
def tiny_run_cfg() -> RunConfig:
    """A RunConfig that trains in about a second: synthetic data, 12 steps of batch 16."""
    return RunConfig(
        data=DataConfig(name="synthetic"),
        model=ModelConfig(gaussian_dims=4, categorical=(10,), hidden=16),
        objective=objective_config("jointvae", gamma=30.0, capacity_max=5.0, capacity_steps=12),
        train=TrainConfig(steps=12, batch_size=16, lr=1e-3, seed=0, log_every=2, checkpoint_every=4),
    )


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the matplotlib figures written at the end of a VAE run (about a second each)."""
    import vaerobust.pipelines.train as training

    monkeypatch.setattr(training, "write_vae_figures", lambda *a, **k: None)

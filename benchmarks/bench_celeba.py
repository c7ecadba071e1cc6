"""What one full `celeba-sootla` run costs on this machine, measured on a generated CelebA folder.

No CelebA reaches these machines, so the costs are measured on images in CelebA's layout and
size (178 x 218 JPEGs; the cost of a training step does not depend on what the faces show) and
projected to the preset's budgets: the 202,599-image cache, 2 VAEs x 100,000 steps, the judge's
3 epochs of 162,770 images, and 5 attributes x 2 directions x 100 pairs x 1000 attack steps per
model. Prints each measured rate and the projection.

    python benchmarks/bench_celeba.py [--device cpu] [--images 300] [--steps 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from celeba_fixture import make_celeba_folder  # noqa: E402
from vaerobust.config import AttackConfig, load_study  # noqa: E402
from vaerobust.data.celeba import SPLIT_SIZES, load_celeba  # noqa: E402
from vaerobust.objectives import build_objective  # noqa: E402
from vaerobust.pipelines.train import build_model  # noqa: E402
from vaerobust.training import VAETrainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=300, help="images in the generated folder")
    ap.add_argument("--steps", type=int, default=30, help="timed steps of each kind")
    a = ap.parse_args()
    dev = torch.device(a.device)
    study = load_study("celeba-sootla")
    with tempfile.TemporaryDirectory() as d:
        import os

        os.environ["VAEROBUST_CACHE"] = str(Path(d) / "cache")
        root = make_celeba_folder(Path(d) / "celeba", n=a.images, size=(178, 218))
        t = time.perf_counter()
        x, _ = load_celeba("train", size=64, root=str(root), progress=False)
        cache_rate = a.images / (time.perf_counter() - t)
        print(f"cache build: {cache_rate:.0f} images/s (JPEG decode, crop 148, resize 64)")

        rates = {}
        for name in study.models:
            cfg = study.run_config(name)
            torch.manual_seed(0)
            model = build_model(cfg)
            trainer = VAETrainer(model, build_objective(cfg.objective, total_steps=cfg.train.steps), cfg.objective, x,
                                 cfg.train, dev)
            trainer.step()  # warm-up
            t = time.perf_counter()
            for _ in range(a.steps):
                trainer.step()
            rates[name] = (time.perf_counter() - t) / a.steps
            print(f"{name}: {rates[name] * 1e3:.1f} ms per training step (batch {cfg.train.batch_size})")

        from vaerobust.models import CLASSIFIERS

        judge = CLASSIFIERS.get(study.judge.classifier.arch)(n_classes=40).to(dev)
        opt = torch.optim.Adam(judge.parameters(), lr=1e-3)
        yb = torch.zeros(64, 40)
        t = time.perf_counter()
        for _ in range(a.steps):
            xb = x[torch.arange(64) % len(x)].to(dev)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(judge(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        judge_step = (time.perf_counter() - t) / a.steps
        print(f"judge: {judge_step * 1e3:.1f} ms per step (batch 64)")

        from vaerobust.attacks import build_attack

        model.eval()
        batch = min(study.sweep.batch_size, len(x))
        atk = build_attack(model, AttackConfig(steps=a.steps))
        xs = x[torch.arange(batch) % len(x)].to(dev)
        t = time.perf_counter()
        atk(xs, xs.flip(0))
        attack_rate = batch * a.steps / (time.perf_counter() - t)
        print(f"latent attack: {attack_rate:.0f} example-steps/s (batch {batch})")

    n_models = len(study.models)
    cache_h = sum(SPLIT_SIZES.values()) / cache_rate / 3600
    train_h = sum(rates.values()) * study.base.train.steps / 3600
    judge_h = judge_step * study.judge.classifier.epochs * (SPLIT_SIZES["train"] // 64) / 3600
    pairs = len(study.attacks) * 2 * study.sweep.per_pair
    attack_h = n_models * pairs * study.attack.steps / attack_rate / 3600
    total = cache_h + train_h + judge_h + attack_h
    print(f"projected full celeba-sootla on {a.device} (one training seed, one process): cache {cache_h:.2f} h, "
          f"training {train_h:.1f} h, judge {judge_h:.1f} h, attacks {attack_h:.2f} h ({pairs} pairs per model, at most: "
          f"the clean filter drops some); total {total:.1f} h")


if __name__ == "__main__":
    main()

"""`evaluate_run` on dSprites: all five factor metrics, from a fake encoder (nothing is trained).

The fake VAE's code is (centroid column, centroid row, sqrt(area), a constant): three
dimensions that each carry one factor (posX, posY, scale) and one that carries nothing.
Sample sizes are tiny, so only ranges and the obvious orderings are checked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vaerobust.config import DataConfig, RunConfig
from vaerobust.data import dsprites as ds
from vaerobust.models import LatentSpec, Posterior
from vaerobust.pipelines import evaluate as dis

SIZES = {"num_train": 200, "num_test": 100, "batch_size": 6, "num_variance_estimate": 200}


class CentroidVAE:
    spec = LatentSpec(4, ())

    def __init__(self) -> None:
        self.seen = 0  # images encoded

    def encode(self, x: torch.Tensor) -> Posterior:
        img = x[:, 0]  # [B, 64, 64]
        self.seen += img.shape[0]
        r, c = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        area = img.sum((1, 2))
        mean = torch.stack([(img * c).sum((1, 2)) / area / 10, (img * r).sum((1, 2)) / area / 10,
                            area.sqrt() / 5, torch.zeros_like(area)], 1)
        return Posterior(mean, torch.zeros_like(mean), [])


@pytest.fixture
def dsprites_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, CentroidVAE]:
    vae = CentroidVAE()
    monkeypatch.setattr(ds, "TEST_SIZE", 50)  # the code measures' split; rendered on demand (no cache)
    monkeypatch.setattr(dis, "load_vae", lambda run, dev: vae)
    monkeypatch.setattr(dis, "run_config_of", lambda run: RunConfig(data=DataConfig(name="dsprites", image_size=64)))
    return tmp_path / "run", vae


def test_all_five_factor_metrics_are_finite_and_in_range(dsprites_run: tuple[Path, CentroidVAE]) -> None:
    run, vae = dsprites_run
    fast_dci = {"make_classifier": lambda seed: __import__("sklearn.ensemble", fromlist=["x"]).RandomForestClassifier(
        n_estimators=10, max_depth=6, random_state=seed)}
    out = json.loads(dis.evaluate_run(run, "all", device="cpu", sizes=SIZES, options={"dci": fast_dci}).read_text())
    m = out["metrics"]
    assert set(m) == {"beta_vae", "factor_vae", "mig", "dci", "sap", "active_dims"}
    assert set(out["not_applicable"]) == {"categorical_agreement"}  # no categorical latent
    values = [(name, k, v) for name in ("beta_vae", "factor_vae", "mig", "dci", "sap") for k, v in m[name].items()]
    for name, k, v in values:
        assert isinstance(v, float) and math.isfinite(v), (name, k, v)
        if k != "num_active_dims":
            assert 0.0 <= v <= 1.0, (name, k, v)
    assert m["factor_vae"]["num_active_dims"] == 3.0  # the constant dimension is pruned
    # three of five factors are carried by one dimension each: well above chance (1/5), MIG clearly > 0
    assert m["beta_vae"]["eval_accuracy"] > 0.4 and m["factor_vae"]["eval_accuracy"] > 0.4
    assert m["mig"]["mig"] > 0.15 and m["dci"]["informativeness_test"] > 0.2
    # each grid image is encoded at most once, whatever the number of points the metrics drew
    drawn = (200 + 100) * 2 * 6 + (200 + (200 + 100) * 6) + 200 + 2 * (200 + 100)  # beta, factor, mig, dci + sap
    assert out["factor_metrics"]["grid_images_encoded"] == vae.seen - 50 <= drawn
    assert m["active_dims"]["active"] == 3 and out["n"] == 50
    assert out["factor_metrics"]["dci_predictor"] == "custom"


def test_the_dci_predictor_is_chosen_and_recorded(dsprites_run: tuple[Path, CentroidVAE]) -> None:
    from vaerobust.config import StudyConfig
    from vaerobust.errors import ConfigError

    run, _ = dsprites_run
    out = json.loads(dis.evaluate_run(run, "dci", device="cpu", sizes=SIZES, options=dis.dci_options("fast")).read_text())
    assert out["factor_metrics"]["dci_predictor"] == "fast" and 0 <= out["metrics"]["dci"]["disentanglement"] <= 1
    assert dis.dci_options("reference") is None and dis.dci_options(None) is None
    with pytest.raises(ConfigError, match="dci predictor 'quick'"):
        dis.dci_options("quick")
    with pytest.raises(ConfigError, match="evaluate"):
        StudyConfig(evaluate={"metrics": "all", "num_trian": 5})
    with pytest.raises(ConfigError, match="dci_predictor reference or fast"):
        StudyConfig(evaluate={"metrics": "all", "dci_predictor": "quick"})


def test_grid_codes_cache_each_image_once() -> None:
    vae = CentroidVAE()
    grid = ds.load_dsprites_grid()  # no cache in the test's folder: rendered on demand
    codes = dis.GridCodes(vae, grid, "cpu", batch_size=16)
    idx = np.array([5, 700_000, 5, 42, 700_000])
    z = codes(idx)
    assert z.shape == (5, 4) and vae.seen == 3 and codes.n_encoded == 3
    assert np.array_equal(z[0], z[2]) and np.array_equal(z[1], z[4])
    want = vae.encode(torch.from_numpy(ds.render(ds.factors_of([42]))).float()[:, None]).mode().numpy()
    assert np.allclose(z[3], want[0])
    codes(np.array([42, 5]))
    assert codes.n_encoded == 3


def test_factor_metrics_reuse_the_metric_registry_names(dsprites_run: tuple[Path, CentroidVAE]) -> None:
    run, _ = dsprites_run
    out = json.loads(dis.evaluate_run(run, "mig", device="cpu", sizes={"num_train": 200}).read_text())
    assert set(out["metrics"]) == {"mig"} and out["not_applicable"] == {} and "n" not in out


def test_a_second_evaluate_reads_the_cached_grid_codes(dsprites_run: tuple[Path, CentroidVAE]) -> None:
    """The grid is encoded once per checkpoint: a second evaluate reuses the codes in the run folder
    and gives the same metrics as the fresh encoding; new weights make the cache stale."""
    run, vae = dsprites_run
    run.mkdir(parents=True, exist_ok=True)
    (run / "model.safetensors").write_bytes(b"weights of checkpoint 1")
    first = json.loads(dis.evaluate_run(run, "mig,sap", device="cpu", sizes=SIZES).read_text())
    assert first["factor_metrics"]["grid_codes_reused"] == 0 and first["factor_metrics"]["grid_images_encoded"] > 0
    assert (run / dis.CODE_CACHE).is_file()
    seen = vae.seen
    second = json.loads(dis.evaluate_run(run, "mig,sap", device="cpu", sizes=SIZES).read_text())
    assert second["metrics"] == first["metrics"]  # the cached codes give the same metrics
    assert second["factor_metrics"]["grid_images_encoded"] == 0 and vae.seen == seen  # nothing encoded again
    assert second["factor_metrics"]["grid_codes_reused"] == first["factor_metrics"]["grid_images_encoded"]
    (run / "model.safetensors").write_bytes(b"weights of checkpoint 2")
    third = json.loads(dis.evaluate_run(run, "mig,sap", device="cpu", sizes=SIZES).read_text())
    assert third["factor_metrics"]["grid_codes_reused"] == 0 and third["factor_metrics"]["grid_images_encoded"] > 0
    (run / dis.CODE_CACHE).write_bytes(b"not an npz")  # a corrupt cache is ignored, then rewritten
    fourth = json.loads(dis.evaluate_run(run, "mig,sap", device="cpu", sizes=SIZES).read_text())
    assert fourth["metrics"] == third["metrics"] and fourth["factor_metrics"]["grid_codes_reused"] == 0

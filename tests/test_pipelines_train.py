"""Training: a step changes the weights and an eval pass does not; save/load and
interrupted/resumed runs give identical numbers; bad run directories and bad images give
clear errors; the batch schedule covers an epoch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaerobust import files, rundir
from vaerobust.config import ClassifierConfig, ConfigError, DataConfig, JudgeConfig, RunConfig, apply_overrides
from vaerobust.devices import resolve_device
from vaerobust.errors import RunDirError
from vaerobust.models import VAE, LatentSpec, check_images
from vaerobust.models.encoding import predict
from vaerobust.models.vae import VAEOutput
from vaerobust.objectives import build_objective
from vaerobust.objectives.terms import linear_capacity
from vaerobust.pipelines.attack import run_config_of
from vaerobust.pipelines.train import build_model, train_vae
from vaerobust.pipelines.train_classifier import train_classifier
from vaerobust.rundir import is_complete, load_classifier, load_vae
from vaerobust.training import batch_indices


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _metrics(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock throughput column (it differs between runs)."""
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in files.read_jsonl(run / "metrics.jsonl")]


# --------------------------------------------------------------------------- steps


def test_one_train_step_changes_every_weight(tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None) -> None:
    cfg = apply_overrides(tiny_run_cfg, ["train.steps=1", "train.checkpoint_every=1"])
    torch.manual_seed(cfg.train.seed)
    init = {k: v.clone() for k, v in build_model(cfg).state_dict().items()}
    train_vae(cfg, tmp_path / "run", device="cpu", progress=False)
    after = _weights(tmp_path / "run")
    assert set(after) == set(init)
    for k in init:
        assert after[k].shape == init[k].shape
        assert not torch.equal(after[k], init[k]), f"{k} did not move"
        # Adam's first step moves each weight by at most ~lr
        assert (after[k] - init[k]).abs().max() <= cfg.train.lr * 1.01


def test_manual_train_step_and_eval_step(tiny_vae: VAE, images: torch.Tensor) -> None:
    objective = build_objective(dataclasses.replace(RunConfig().objective, name="elbo"))
    opt = torch.optim.Adam(tiny_vae.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in tiny_vae.state_dict().items()}

    # eval step: eval mode, no_grad, deterministic code -> nothing changes, same output twice
    tiny_vae.eval()
    with torch.no_grad():
        a = tiny_vae(images, sample=False).recon
        b = tiny_vae(images, sample=False).recon
        res = objective(tiny_vae(images, sample=False), images, 0)
    assert torch.equal(a, b) and torch.isfinite(res.loss)
    assert all(torch.equal(v, before[k]) for k, v in tiny_vae.state_dict().items())
    assert all(p.grad is None for p in tiny_vae.parameters())

    # train step: the loss has gradients and the optimiser moves the weights
    tiny_vae.train()
    post = tiny_vae.encode(images)
    code = post.sample(0.67, generator=torch.Generator().manual_seed(0))
    loss = objective(VAEOutput(post, code, tiny_vae.decoder(code)), images, 0).loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = [k for k, v in tiny_vae.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)


# --------------------------------------------------------------------------- save / load


def test_save_load_identical_outputs(tiny_vae: VAE, images: torch.Tensor, tmp_path: Path) -> None:
    run = tmp_path / "run"
    rundir.save_weights(run / "model.safetensors", tiny_vae)
    files.write_json(run / "model.json", tiny_vae.describe())
    loaded = load_vae(run)
    assert not loaded.training
    assert torch.equal(loaded.reconstruct(images), tiny_vae.reconstruct(images))
    assert torch.equal(loaded.encode(images).features(), tiny_vae.encode(images).features())
    for k, v in tiny_vae.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_trained_run_loads_its_final_weights(tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None) -> None:
    run = train_vae(tiny_run_cfg, tmp_path / "run", device="cpu", progress=False)
    assert is_complete(run)
    state = rundir.load_train_state(run / "train_state.pt")
    assert state["step"] == tiny_run_cfg.train.steps
    model = load_vae(run)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["model"][k]), k
    # config.yaml rebuilds the exact RunConfig; model.json the exact network
    assert run_config_of(run) == tiny_run_cfg
    assert files.read_json(run / "model.json") == {"kind": "vae", "arch": "conv32", "hidden": 16, "gaussian": 4,
                                                "categorical": [10]}
    # metrics: one row per log_every steps, each the loss of that step's batch
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    for r in rows:
        assert {"loss", "recon", "kl_gauss", "kl_cat", "capacity_gauss", "capacity_cat"} <= set(r)
        assert r["capacity_gauss"] == pytest.approx(linear_capacity(r["step"] - 1, 5.0, 12))


# --------------------------------------------------------------------------- resume


@pytest.fixture
def uninterrupted(tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None) -> Path:
    return train_vae(tiny_run_cfg, tmp_path / "full", device="cpu", progress=False)


@pytest.mark.parametrize("stop_at", [8, 5])
def test_interrupted_run_resumes_exactly(
    tiny_run_cfg: RunConfig, tmp_path: Path, uninterrupted: Path, stop_at: int
) -> None:
    run = tmp_path / "resumed"
    train_vae(tiny_run_cfg, run, device="cpu", progress=False, stop_at=stop_at)
    assert not is_complete(run)
    assert rundir.load_train_state(run / "train_state.pt")["step"] == stop_at
    train_vae(tiny_run_cfg, run, device="cpu", progress=False)
    assert is_complete(run)
    a, b = _weights(uninterrupted), _weights(run)
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert _metrics(run) == _metrics(uninterrupted)
    # optimiser state too: the two runs could go on identically
    sa, sb = rundir.load_train_state(uninterrupted / "train_state.pt"), rundir.load_train_state(run / "train_state.pt")
    assert torch.equal(sa["noise_rng"], sb["noise_rng"])
    for pid, st in sa["optimizer"]["state"].items():
        for key, v in st.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb["optimizer"]["state"][pid][key]))


def test_resume_drops_log_lines_after_the_checkpoint(
    tiny_run_cfg: RunConfig, tmp_path: Path, uninterrupted: Path
) -> None:
    run = tmp_path / "killed"
    train_vae(tiny_run_cfg, run, device="cpu", progress=False, stop_at=8)
    # a process killed after step 8's checkpoint may have logged further steps, the last cut short
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 10, "loss": -1.0}) + "\n" + '{"step": 12, "lo')
    train_vae(tiny_run_cfg, run, device="cpu", progress=False)
    assert _metrics(run) == _metrics(uninterrupted)
    for k, v in _weights(uninterrupted).items():
        assert torch.equal(v, _weights(run)[k])


def test_complete_run_is_not_retrained(tiny_run_cfg: RunConfig, uninterrupted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ("model.safetensors", "train_state.pt", "metrics.jsonl", "config.yaml", "complete.json")
    before = {f: (uninterrupted / f).stat().st_mtime_ns for f in files}
    import vaerobust.pipelines.train as training

    monkeypatch.setattr(training, "load_dataset", lambda *a, **k: pytest.fail("a complete run was retrained"))
    assert train_vae(tiny_run_cfg, uninterrupted, device="cpu", progress=False) == uninterrupted
    assert {f: (uninterrupted / f).stat().st_mtime_ns for f in files} == before


@pytest.mark.parametrize("complete", [False, True], ids=["interrupted", "complete"])
def test_run_dir_with_other_settings_is_refused(
    tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None, complete: bool
) -> None:
    run = tmp_path / "run"
    train_vae(tiny_run_cfg, run, device="cpu", progress=False, stop_at=None if complete else 4)
    saved = (run / "config.yaml").read_text()
    other = apply_overrides(tiny_run_cfg, ["train.lr=0.5"])
    with pytest.raises((ConfigError, RunDirError), match="lr"):
        train_vae(other, run, device="cpu", progress=False)
    assert (run / "config.yaml").read_text() == saved


# --------------------------------------------------------------------------- bad run directories


def test_corrupt_weights_name_the_file(tiny_vae: VAE, tmp_path: Path) -> None:
    run = tmp_path / "run"
    files.write_json(run / "model.json", tiny_vae.describe())
    (run / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(RunDirError) as e:
        load_vae(run)
    assert "model.safetensors" in str(e.value) and "corrupt" in str(e.value)


def test_truncated_weights_name_the_file(tiny_vae: VAE, tmp_path: Path) -> None:
    run = tmp_path / "run"
    rundir.save_weights(run / "model.safetensors", tiny_vae)
    files.write_json(run / "model.json", tiny_vae.describe())
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirError, match="model.safetensors"):
        load_vae(run)


def test_weights_of_another_network(tiny_vae: VAE, tmp_path: Path) -> None:
    run = tmp_path / "run"
    rundir.save_weights(run / "model.safetensors", VAE(LatentSpec(3, (10,)), hidden=16))
    files.write_json(run / "model.json", tiny_vae.describe())
    with pytest.raises(RunDirError, match="model.safetensors"):
        load_vae(run)


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(RunDirError) as e:
        load_vae(tmp_path / "nowhere")
    assert "nowhere" in str(e.value) and "does not exist" in str(e.value)
    with pytest.raises(RunDirError, match="does not exist"):
        load_classifier(tmp_path / "nowhere")


def test_missing_files_in_run_dir(tiny_vae: VAE, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(RunDirError, match="model.json"):
        load_vae(run)
    files.write_json(run / "model.json", tiny_vae.describe())
    with pytest.raises(RunDirError, match="model.safetensors"):
        load_vae(run)
    (run / "model.json").write_text("{not json")
    with pytest.raises(RunDirError, match="not valid JSON"):
        load_vae(run)


def test_wrong_kind_of_run(tiny_vae: VAE, tmp_path: Path) -> None:
    run = tmp_path / "judge"
    files.write_json(run / "model.json", {"kind": "classifier", "arch": "lenet32", "classes": 10})
    with pytest.raises(RunDirError, match="expected a VAE"):
        load_vae(run)
    vae_run = tmp_path / "vae"
    files.write_json(vae_run / "model.json", tiny_vae.describe())
    with pytest.raises(RunDirError, match="expected a classifier"):
        load_classifier(vae_run)


def test_corrupt_train_state_is_a_clear_error_and_keeps_files(
    tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None
) -> None:
    run = tmp_path / "run"
    train_vae(tiny_run_cfg, run, device="cpu", progress=False, stop_at=4)
    metrics, weights = (run / "metrics.jsonl").read_bytes(), (run / "model.safetensors").read_bytes()
    (run / "train_state.pt").write_bytes(b"garbage")
    with pytest.raises(RunDirError, match="train_state.pt"):
        train_vae(tiny_run_cfg, run, device="cpu", progress=False)
    assert (run / "metrics.jsonl").read_bytes() == metrics
    assert (run / "model.safetensors").read_bytes() == weights


# --------------------------------------------------------------------------- inputs


def test_check_images_accepts_good_images() -> None:
    check_images(torch.rand(3, 1, 32, 32), (1, 32, 32), "x")
    check_images(torch.zeros(1, 1, 32, 32), (1, 32, 32), "x")
    check_images(torch.ones(1, 1, 32, 32), (1, 32, 32), "x")


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(3, 1, 28, 28), r"\(3, 1, 28, 28\).*expected \[N, 1, 32, 32\]"),
        (torch.rand(3, 32, 32), r"expected \[N, 1, 32, 32\]"),
        (torch.rand(3, 3, 32, 32), r"expected \[N, 1, 32, 32\]"),
        (torch.full((2, 1, 32, 32), torch.nan), "NaN"),
        (torch.rand(2, 1, 32, 32) * 255, r"expected \[0, 1\]"),
        (torch.rand(2, 1, 32, 32) - 0.5, r"expected \[0, 1\]"),
    ],
    ids=["28x28", "3-dims", "rgb", "nan", "0-255", "negative"],
)
def test_check_images_errors(x: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match) as e:
        check_images(x, (1, 32, 32), "dataset 'd'")
    assert str(e.value).startswith("dataset 'd':") and "\n" not in str(e.value)


def test_batch_indices_cover_an_epoch_without_repetition() -> None:
    n, bs = 20, 4
    for epoch in range(2):
        idx = torch.cat([batch_indices(epoch * 5 + i, n, bs, seed=3) for i in range(5)])
        assert sorted(idx.tolist()) == list(range(n))
    # a partial last batch is dropped: 3 batches of 3 out of 10, all distinct
    idx = torch.cat([batch_indices(i, 10, 3, seed=0) for i in range(3)])
    assert len(idx) == 9 and len(set(idx.tolist())) == 9
    # every batch is full
    assert all(len(batch_indices(i, 10, 3, seed=0)) == 3 for i in range(7))


def test_batch_indices_depend_only_on_seed_and_step() -> None:
    assert torch.equal(batch_indices(7, 100, 8, seed=1), batch_indices(7, 100, 8, seed=1))
    assert not torch.equal(batch_indices(7, 100, 8, seed=1), batch_indices(7, 100, 8, seed=2))
    # the next epoch is a fresh permutation
    e0 = torch.cat([batch_indices(i, 100, 10, seed=0) for i in range(10)])
    e1 = torch.cat([batch_indices(10 + i, 100, 10, seed=0) for i in range(10)])
    assert not torch.equal(e0, e1) and sorted(e1.tolist()) == list(range(100))


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


# --------------------------------------------------------------------------- the judge


def test_train_classifier_learns_synthetic(tmp_path: Path) -> None:
    cfg = JudgeConfig(DataConfig(name="synthetic"), ClassifierConfig(epochs=2, lr=0.05, momentum=0.9, max_steps=60))
    run = train_classifier(cfg, tmp_path / "judge", device="cpu", progress=False)
    assert is_complete(run)
    ev = files.read_json(run / "eval.json")
    assert ev["steps"] == 60 and ev["n_test"] == 500
    assert ev["test_accuracy"] > 0.5  # ten well-separated blobs; chance is 0.1
    judge = load_classifier(run)
    from vaerobust.data import load_dataset

    xt, yt = load_dataset(DataConfig(name="synthetic"), "test")
    acc = float((predict(judge, xt) == yt).float().mean())
    assert acc == pytest.approx(ev["test_accuracy"], abs=1e-6)  # the saved weights are the evaluated ones


# --------------------------------------------------------------------------- settings out of range


@pytest.mark.parametrize("override", ["train.checkpoint_every=0", "train.log_every=0", "train.batch_size=0",
                                      "train.temperature=0"])
def test_out_of_range_train_settings_are_clear_errors(
    tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None, override: str
) -> None:
    key = override.split("=")[0].split(".")[1]
    with pytest.raises((ConfigError, ValueError), match=key):
        train_vae(apply_overrides(tiny_run_cfg, [override]), tmp_path / "run", device="cpu", progress=False)
    assert not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize("steps", [0, -3])
def test_zero_step_run_is_refused_or_loadable(tiny_run_cfg: RunConfig, tmp_path: Path, no_figures: None, steps: int) -> None:
    try:
        run = train_vae(apply_overrides(tiny_run_cfg, [f"train.steps={steps}"]), tmp_path / "run", device="cpu",
                        progress=False)
    except (ConfigError, ValueError):
        return
    load_vae(run)

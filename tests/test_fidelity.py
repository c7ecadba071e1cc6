"""The thesis author's behaviours (PROTOCOL §9), each a switch: written out by hand and compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor

from vaerobust.attacks import build_attack
from vaerobust.attacks.base import l2
from vaerobust.config import AttackConfig, ConfigError, StudyConfig, from_dict, load_study, objective_config
from vaerobust.models import VAE, LatentSpec
from vaerobust.models.classifier import LeNet32
from vaerobust.models.encoding import predict, reconstruct
from vaerobust.models.latents import Posterior
from vaerobust.objectives import build_objective
from vaerobust.pipelines import study


@pytest.fixture
def tiny() -> tuple[VAE, Tensor, Tensor]:
    torch.manual_seed(0)
    vae = VAE(LatentSpec(2, (3,)), arch="conv32", hidden=8).eval()
    g = torch.Generator().manual_seed(0)
    return vae, torch.rand(3, 1, 32, 32, generator=g) * 0.6, torch.rand(3, 1, 32, 32, generator=g)


def _author_loop(vae: VAE, xs: Tensor, xt: Tensor, noise: Tensor, steps: int, lr: float, lam: float) -> Tensor:
    """The author's stored script written out: x_0 = clamp(x_s + (x_s + 0.2 noise)), Adam, gradients
    never zeroed, clamp to [0, 1] only (no eps box)."""
    with torch.no_grad():
        f_t = vae.encode(xt).features()
    x = (xs + (xs + 0.2 * noise)).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = (lam * l2(x - xs) + l2(vae.encode(x).features() - f_t)).sum()
        loss.backward()  # never zeroed: x.grad is the running sum
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def test_the_author_s_attack_is_the_stored_script_exactly(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(5))
    want = _author_loop(vae, xs, xt, noise, steps=25, lr=1e-2, lam=20.0)
    cfg = AttackConfig(steps=25, lr=1e-2, eps=1.0, lam=20.0, start="twice_source", zero_grad=False, channels_last=False)
    assert torch.equal(build_attack(vae, cfg)(xs, xt, noise=noise), want)
    # each switch alone changes the result
    base = AttackConfig(steps=25, lr=1e-2, channels_last=False)
    plain = build_attack(vae, base)(xs, xt, noise=noise)
    for change in ({"start": "twice_source"}, {"zero_grad": False}):
        other = build_attack(vae, AttackConfig(**{**base.__dict__, **change}))(xs, xt, noise=noise)
        assert not torch.equal(other, plain), change


def test_the_twice_source_start_with_zero_steps(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(1))
    x0 = build_attack(vae, AttackConfig(steps=0, eps=1.0, start="twice_source"))(xs, xt, noise=noise)
    torch.testing.assert_close(x0, (2 * xs + 0.2 * noise).clamp(0, 1))


def test_unzeroed_gradients_with_early_stopping_and_endless_patience_are_the_fixed_run(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, xs, xt = tiny
    noise = torch.randn(xs.shape, generator=torch.Generator().manual_seed(0))
    base = dict(eps=0.1, steps=12, lr=0.02, zero_grad=False)
    fixed = build_attack(vae, AttackConfig(**base))(xs, xt, noise=noise)
    early = build_attack(vae, AttackConfig(**base, early_stop=True, patience=100))(xs, xt, noise=noise)
    assert torch.equal(early, fixed)


def test_unzeroed_gradients_carry_over_when_the_batch_shrinks() -> None:
    # example 0: the linear loss -x, improving at every step; without zeroing, step k feeds Adam the
    # running sum -k instead of -1, which changes the steps. Example 1 has a flat loss and leaves the
    # batch after step 3 (patience 1): example 0 must keep its running sum through the shrink.
    from vaerobust.attacks.engine import descend

    def loss(x: Tensor, xs: Tensor, ctx: Tensor) -> Tensor:
        weight = torch.tensor([1.0, 0.0])[: x.shape[0]]  # after the shrink only example 0 is left
        return -x.flatten(1).sum(1) * weight

    xs = torch.full((2, 1, 1, 1), 0.1)
    cfg = AttackConfig(eps=1.0, steps=8, lr=0.05, noise_std=0.0, zero_grad=False)
    alone = descend(lambda x, s, c: -x.flatten(1).sum(1), xs[:1], None, torch.zeros(1, 1, 1, 1), cfg).x_adv
    zeroed = descend(lambda x, s, c: -x.flatten(1).sum(1), xs[:1], None, torch.zeros(1, 1, 1, 1),
                     AttackConfig(**{**cfg.__dict__, "zero_grad": True})).x_adv
    assert zeroed.item() == pytest.approx(0.1 + 8 * 0.05)  # Adam on a constant gradient: steps of lr
    assert abs(alone.item() - zeroed.item()) > 1e-3  # the running sum changes the steps
    cfg_e = AttackConfig(**{**cfg.__dict__, "early_stop": True, "patience": 1})
    run = descend(loss, xs, None, torch.zeros(2, 1, 1, 1), cfg_e)
    assert run.x_adv[0].item() == pytest.approx(alone.item(), abs=1e-6)  # as if alone: the sum survived
    assert run.x_adv[1].item() < 0.3  # the flat one left the batch early


def test_sampled_categorical_codes_follow_the_posterior() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).repeat(20000, 1)
    post = Posterior(torch.zeros(20000, 2) + 0.5, torch.zeros(20000, 2), [logits])
    code = post.sampled_mode(torch.Generator().manual_seed(0))
    assert torch.equal(code[:, :2], post.mean)
    one_hot = code[:, 2:]
    assert torch.equal(one_hot.sum(1), torch.ones(20000))
    freq = one_hot.mean(0)
    torch.testing.assert_close(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.012, rtol=0)  # ~4 binomial sd
    again = post.sampled_mode(torch.Generator().manual_seed(0))
    assert torch.equal(again, code)


def test_reconstructions_with_a_sampled_code_are_seeded_and_differ_from_the_mode(tiny) -> None:  # type: ignore[no-untyped-def]
    vae, xs, _ = tiny
    x = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    a, b = reconstruct(vae, x, sample_categorical=True, seed=3), reconstruct(vae, x, sample_categorical=True, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, reconstruct(vae, x))
    plain = VAE(LatentSpec(2, ()), arch="conv32", hidden=8).eval()  # no categorical code: nothing to sample
    assert torch.equal(reconstruct(plain, x, sample_categorical=True, seed=3), reconstruct(plain, x))


def test_the_judge_s_dropout_is_seeded_and_restored() -> None:
    torch.manual_seed(0)
    judge = LeNet32(10).eval()
    x = torch.rand(400, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    clean = predict(judge, x)
    a, b = predict(judge, x, dropout=True, seed=1), predict(judge, x, dropout=True, seed=1)
    assert torch.equal(a, b)
    assert (a != clean).any()  # a random sub-network changes some verdicts
    assert not any(m.training for m in judge.modules())  # back in evaluation mode
    state = torch.get_rng_state()
    predict(judge, x, dropout=True, seed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left as it was


def test_a_capacity_schedule_over_the_whole_training() -> None:
    cfg = objective_config("jointvae", capacity_max=5.0, capacity_steps=None)
    obj = build_objective(cfg, total_steps=200)
    assert obj.cz == (5.0, 200) and obj.cc == (5.0, 200)
    with pytest.raises(ConfigError, match="capacity_steps = null means the whole training"):
        build_objective(cfg)


def test_the_fidelity_preset_runs_each_behaviour_on_its_own_jobs() -> None:
    cfg = load_study("sootla2018-fidelity")
    judges, jobs = study.expand(cfg)
    assert len(judges) == 1 and len(jobs) == 3 * 3 * 2
    by_temp = {j.spec["grid"]["train.temperature"]: j for j in jobs if j.spec["model"] == "disentangled"}
    assert by_temp[0.67].spec["attacks"] == ["protocol", "judge_dropout", "sampled_code", "script_attack",
                                              "twice_source_start", "unzeroed_gradients"]
    assert by_temp[0.1].spec["attacks"] == ["protocol", "author"]
    author = by_temp[0.1].spec
    assert author["attack:author"]["eps"] == 1.0 and author["attack:author"]["lam"] == 20.0
    assert author["attack:author"]["start"] == "twice_source" and author["attack:author"]["zero_grad"] is False
    assert author["sweep:author"]["judge_dropout"] and author["sweep:author"]["sample_categorical"]
    assert author["attack:protocol"] == by_temp[0.67].spec["attack:protocol"]  # the protocol, as sootla2018
    assert load_study("sootla2018").attack.__dict__ == {**cfg.attack.__dict__}  # nothing tuned in the preset
    assert author["run"]["objective"]["capacity_steps"] is None


TINY = {
    "name": "tiny-fidelity",
    "base": {"data": {"name": "synthetic"}, "model": {"gaussian_dims": 4, "categorical": [10], "hidden": 16},
             "objective": {"name": "elbo"},
             "train": {"steps": 20, "batch_size": 16, "lr": 1e-3, "log_every": 10, "checkpoint_every": 10}},
    "models": {"plain": {}},
    "judge": {"data": {"name": "synthetic"}, "classifier": {"epochs": 1, "max_steps": 30}},
    "attack": {"steps": 4}, "sweep": {"per_pair": 3, "pairs": "0-1,1-0,2-3"},
    "grid": {"train.seed": [0, 1], "train.temperature": [0.67, 0.1]},
    "attacks": {"protocol": {}, "dropout": {"sweep.judge_dropout": True, "only": {"train.temperature": 0.67}},
                "author": {"attack.zero_grad": False, "attack.start": "twice_source", "only": {"train.temperature": 0.1}}},
    "steps": ["train", "attack"],
}


def test_bad_only_conditions_are_refused() -> None:
    bad = {**TINY, "attacks": {"x": {"only": {"train.temprature": 0.1}}}}
    with pytest.raises(ConfigError, match="attacks.x.only.train.temprature: not a setting"):
        study.expand(from_dict(StudyConfig, bad))
    with pytest.raises(ConfigError, match="attacks.x.only"):
        study.expand(from_dict(StudyConfig, {**TINY, "attacks": {"x": {"only": 3}}}))


def test_effects_compare_each_setting_with_the_baseline_seed_by_seed(tmp_path: Path) -> None:
    out = tmp_path / "s"
    counts = study.run(from_dict(StudyConfig, TINY), out, device="cpu", progress=False, echo=lambda s: None, workers=1)
    assert counts == {"done": 5}
    paths = study.collect(out)
    eff = pd.read_csv(paths["effects.csv"])
    assert sorted(eff.setting) == ["attack=dropout", "train.temperature=0.1", "train.temperature=0.1, attack=author"]
    res = pd.read_csv(paths["results.csv"])
    base = res[(res.attack == "protocol") & (res["train.temperature"] == 0.67)].set_index("train.seed")
    for _, e in eff.iterrows():
        sel = res[(res.attack == e.attack) & (res["train.temperature"] == e["train.temperature"])].set_index("train.seed")
        assert e.seeds == 2
        for col in ("as_ignore", "as_target"):
            assert e[f"{col}_baseline"] == pytest.approx(base[col].mean())
            assert e[f"{col}_setting"] == pytest.approx(sel[col].mean())
            assert e[f"{col}_diff"] == pytest.approx((sel[col] - base[col]).mean())
            assert e[f"{col}_diff_low"] <= e[f"{col}_diff"] + 1e-12 <= e[f"{col}_diff_high"] + 2e-12
    report = paths["report.md"].read_text()
    assert report.startswith("# ") and "What each setting does" in report and "train.temperature=0.1, attack=author" in report
    assert paths["seeds.png"].stat().st_size > 1000
    assert np.isfinite(eff.as_ignore_diff).all()


def test_only_compares_settings_as_numbers_and_whole_lists() -> None:
    spec = {**TINY, "attacks": {"p": {}, "x": {"only": {"train.lr": "1e-3"}},  # YAML reads 1e-3 as a string
                                "y": {"only": {"model.categorical": [10]}}, "z": {"only": {"model": ["plain"]}}}}
    _, jobs = study.expand(from_dict(StudyConfig, spec))
    assert all(j.spec["attacks"] == ["p", "x", "y", "z"] for j in jobs)
    with pytest.raises(ConfigError, match=r"attacks.x.only = \{'train.lr': 0.5\}: matches no job"):
        study.expand(from_dict(StudyConfig, {**TINY, "attacks": {"p": {}, "x": {"only": {"train.lr": 0.5}}}}))


def test_effects_with_a_null_baseline_value(tmp_path: Path) -> None:
    spec = from_dict(StudyConfig, {**TINY, "models": {"joint": {"objective.name": "jointvae"}},
                                   "grid": {"train.seed": [0, 1], "objective.capacity_steps": [None, 20]},
                                   "attacks": {"latent": {}}})
    rows = [("j0n", 0, float("nan"), 0.30), ("j1n", 1, float("nan"), 0.40), ("j0", 0, 20.0, 0.50), ("j1", 1, 20.0, 0.70)]
    df = pd.DataFrame([{"job": j, "model": "joint", "train.seed": s, "objective.capacity_steps": c, "attack": "latent",
                        "as_ignore": a, "as_target": a / 2} for j, s, c, a in rows])
    recs = [{"id": j, "robustness": {"latent": {"classes": [0, 1]}}} for j, *_ in rows]
    eff = study.effects(df, spec, ["train.seed"], tmp_path, recs, lambda m, w: 0.6 if w == "ignore" else None)
    assert list(eff.setting) == ["objective.capacity_steps=20"]
    e = eff.iloc[0]
    assert e.as_ignore_baseline == pytest.approx(0.35) and e.as_ignore_setting == pytest.approx(0.60)
    assert e.as_ignore_diff == pytest.approx(0.25) and e.seeds == 2
    assert e.as_ignore_gap_baseline == pytest.approx(0.25) and e.as_ignore_gap_setting == pytest.approx(0.0)
    assert e.as_ignore_move == "no clear move"  # no outcome files here, so no interval: never a direction

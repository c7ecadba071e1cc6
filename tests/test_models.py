"""Models: the latent specification, the Posterior contract, the conv32 networks, LeNet32."""

from __future__ import annotations

import pytest
import torch

from vaerobust.models import VAE, LatentSpec, LeNet32, Posterior, build_vae
from vaerobust.models.decoders import DECODERS, Conv32Decoder
from vaerobust.models.encoders import ENCODERS, Conv32Encoder
from vaerobust.registry import UnknownNameError

# --------------------------------------------------------------------------- LatentSpec


def test_latent_spec_sizes() -> None:
    spec = LatentSpec(2, (3, 4))
    assert spec.n_params == 2 * 2 + 3 + 4 == 11
    assert spec.code_size == 2 + 3 + 4 == 9
    study = LatentSpec()  # PROTOCOL §2: 10 Gaussian dims + one 10-way categorical
    assert (study.n_params, study.code_size) == (30, 20)


def test_latent_spec_split_slices() -> None:
    spec = LatentSpec(2, (3, 4))
    params = torch.arange(2 * 11, dtype=torch.float32).reshape(2, 11)
    post = spec.split(params)
    assert torch.equal(post.mean, torch.tensor([[0.0, 1.0], [11.0, 12.0]]))
    assert torch.equal(post.logvar, torch.tensor([[2.0, 3.0], [13.0, 14.0]]))
    assert len(post.logits) == 2
    assert torch.equal(post.logits[0], torch.tensor([[4.0, 5.0, 6.0], [15.0, 16.0, 17.0]]))
    assert torch.equal(post.logits[1], torch.tensor([[7.0, 8.0, 9.0, 10.0], [18.0, 19.0, 20.0, 21.0]]))
    assert post.batch_size == 2


def test_latent_spec_split_categorical_only() -> None:
    post = LatentSpec(0, (2,)).split(torch.tensor([[1.0, 2.0]]))
    assert post.mean.shape == (1, 0) and post.logvar.shape == (1, 0)
    assert torch.equal(post.logits[0], torch.tensor([[1.0, 2.0]]))


@pytest.mark.parametrize(
    "gaussian, categorical",
    [(-1, (10,)), (10, (1,)), (10, (10, 0)), (0, ())],
)
def test_invalid_latent_spec_raises(gaussian: int, categorical: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="latent spec"):
        LatentSpec(gaussian, categorical)


# --------------------------------------------------------------------------- Posterior


def _posterior(requires_grad: bool = False) -> Posterior:
    mean = torch.tensor([[0.5, -1.0], [2.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.2], [-1.0, 0.0], [1.0, -2.0]])
    logits = [
        torch.tensor([[0.1, 3.0, -1.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.2]]),
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [-3.0, 4.0]]),
    ]
    if requires_grad:
        mean.requires_grad_(True)
        logvar.requires_grad_(True)
        for lg in logits:
            lg.requires_grad_(True)
    return Posterior(mean, logvar, logits)


def test_mode_is_means_and_argmax_one_hot() -> None:
    post = _posterior()
    expected = torch.tensor([
        [0.5, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
        [2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
    ])
    assert torch.equal(post.mode(), expected)


def test_features_are_means_and_logits() -> None:
    post = _posterior()
    expected = torch.cat([post.mean, post.logits[0], post.logits[1]], dim=1)
    assert torch.equal(post.features(), expected)
    assert post.features().shape == (3, 2 + 3 + 2)


def test_sample_shape_and_simplex() -> None:
    post = _posterior()
    s = post.sample(0.67, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 7)
    for block in (s[:, 2:5], s[:, 5:7]):
        assert (block >= 0).all() and (block <= 1).all()
        torch.testing.assert_close(block.sum(1), torch.ones(3))


def test_sample_gaussian_part_is_reparameterised_exactly() -> None:
    post = _posterior()
    s = post.sample(0.67, generator=torch.Generator().manual_seed(5))
    # the Gaussian noise is the generator's first draw: z = mean + exp(logvar / 2) * eps
    eps = torch.randn(post.mean.shape, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(s[:, :2], post.mean + torch.exp(0.5 * post.logvar) * eps)


def test_sample_is_deterministic_for_a_generator() -> None:
    post = _posterior()
    a = post.sample(0.5, generator=torch.Generator().manual_seed(3))
    b = post.sample(0.5, generator=torch.Generator().manual_seed(3))
    c = post.sample(0.5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sample_gradients_reach_means_and_logits() -> None:
    post = _posterior(requires_grad=True)
    s = post.sample(0.67, generator=torch.Generator().manual_seed(1))
    w = torch.randn(s.shape, generator=torch.Generator().manual_seed(2))
    (s * w).sum().backward()
    # dz/dmean = 1, so the mean's gradient is exactly the weights of the Gaussian part
    torch.testing.assert_close(post.mean.grad, w[:, :2])
    assert post.logvar.grad is not None and post.logvar.grad.abs().sum() > 0
    for lg in post.logits:
        assert lg.grad is not None and torch.isfinite(lg.grad).all() and lg.grad.abs().sum() > 0


def test_sample_low_temperature_approaches_one_hot() -> None:
    post = _posterior()
    post.logits = [torch.randn(200, 10, generator=torch.Generator().manual_seed(0))]
    post.mean, post.logvar = torch.zeros(200, 0), torch.zeros(200, 0)
    gen = torch.Generator().manual_seed(0)
    cold = post.sample(1e-3, generator=gen)
    assert cold.shape == (200, 10)
    assert (cold.max(1).values > 0.999).all()
    warm = post.sample(5.0, generator=gen)
    assert (warm.max(1).values < 0.999).all()  # a high temperature is far from one-hot


def test_sample_low_temperature_follows_peaked_logits() -> None:
    # with very peaked logits the Gumbel noise cannot move the argmax
    logits = torch.full((50, 4), -30.0)
    logits[torch.arange(50), torch.arange(50) % 4] = 30.0
    post = Posterior(torch.zeros(50, 0), torch.zeros(50, 0), [logits])
    s = post.sample(1e-2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(s, post.mode(), rtol=0, atol=1e-6)


def test_detach() -> None:
    post = _posterior(requires_grad=True).detach()
    assert not post.mean.requires_grad and not post.logvar.requires_grad
    assert not any(lg.requires_grad for lg in post.logits)


# --------------------------------------------------------------------------- networks


def test_conv32_encoder_shape() -> None:
    enc = Conv32Encoder(n_params=30, hidden=128)
    assert enc(torch.rand(5, 1, 32, 32)).shape == (5, 30)
    # PROTOCOL §2: flatten is 64 * 4 * 4 = 1024
    assert enc.head[0].in_features == 1024 and enc.head[0].out_features == 128


def test_conv32_decoder_shape() -> None:
    dec = Conv32Decoder(code_size=20, hidden=128)
    assert dec(torch.rand(5, 20)).shape == (5, 1, 32, 32)


def test_registries_hold_conv32() -> None:
    assert ENCODERS.get("conv32") is Conv32Encoder and DECODERS.get("conv32") is Conv32Decoder
    with pytest.raises(UnknownNameError, match="conv32"):
        ENCODERS.get("nope")


def test_vae_forward_shapes_and_ranges(tiny_vae: VAE, images: torch.Tensor) -> None:
    out = tiny_vae(images, sample=True)
    assert out.code.shape == (8, 20) and out.recon_logits.shape == (8, 1, 32, 32)
    assert (out.recon >= 0).all() and (out.recon <= 1).all()
    det = tiny_vae(images, sample=False)
    assert torch.equal(det.code, det.posterior.mode())
    rec = tiny_vae.reconstruct(images)
    assert rec.shape == (8, 1, 32, 32) and not rec.requires_grad
    torch.testing.assert_close(rec, det.recon)
    assert tiny_vae.decode(det.code).shape == (8, 1, 32, 32)


def test_vae_describe_rebuilds_the_same_network(tiny_vae: VAE, images: torch.Tensor) -> None:
    desc = tiny_vae.describe()
    assert desc == {"kind": "vae", "arch": "conv32", "hidden": 16, "gaussian": 10, "categorical": [10]}
    other = build_vae(desc)
    assert {k: v.shape for k, v in other.state_dict().items()} == {k: v.shape for k, v in tiny_vae.state_dict().items()}
    other.load_state_dict(tiny_vae.state_dict())
    other.eval()
    assert torch.equal(other.reconstruct(images), tiny_vae.reconstruct(images))


def test_lenet32_output_shape() -> None:
    net = LeNet32().eval()
    assert net(torch.rand(3, 1, 32, 32)).shape == (3, 10)
    assert net.fc1.in_features == 500  # 20 channels x 5 x 5 (PROTOCOL §4)

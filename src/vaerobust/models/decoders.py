"""Decoders: code [B, code_size] -> pixel logits [B, C, H, W] (sigmoid gives Bernoulli means)."""

from __future__ import annotations

from torch import Tensor, nn

from vaerobust.registry import Registry

DECODERS: Registry[type[nn.Module]] = Registry("decoder")


@DECODERS.register("conv32")
class Conv32Decoder(nn.Module):
    """The study's decoder (PROTOCOL §2).

    Dense ``hidden`` ReLU -> Dense 64*4*4 ReLU -> 64x4x4 -> ConvT 4x4/2 (64->32) ReLU -> 8x8
    -> ConvT 4x4/2 (32->32) ReLU -> 16x16 -> ConvT 4x4/2 (32->channels) -> 32x32 logits.
    The final sigmoid is applied by the VAE, so the loss can use logits (stable BCE).
    """

    def __init__(self, code_size: int, hidden: int = 128, channels: int = 1) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, 64 * 4 * 4), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, code: Tensor) -> Tensor:
        return self.deconv(self.fc(code).view(-1, 64, 4, 4))


@DECODERS.register("conv64")
class Conv64Decoder(nn.Module):
    """The transpose of :class:`~vaerobust.models.encoders.Conv64Encoder` (Burgess et al. 2018).

    Dense ``hidden`` ReLU -> Dense ``hidden`` ReLU -> Dense 32*4*4 ReLU -> 32x4x4 -> three
    ConvT 4x4/2 (32 channels) ReLU: 8 -> 16 -> 32 -> ConvT 4x4/2 (32 -> channels) -> 64x64 logits.
    """

    def __init__(self, code_size: int, hidden: int = 256, channels: int = 1) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(code_size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 32 * 4 * 4), nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, code: Tensor) -> Tensor:
        return self.deconv(self.fc(code).view(-1, 32, 4, 4))


@DECODERS.register("mlp")
class MLPDecoder(nn.Module):
    """Code -> Dense ``hidden`` ReLU -> Dense ``hidden`` ReLU -> Dense C*H*W -> logits [B, C, H, W]."""

    def __init__(self, code_size: int, hidden: int = 512, image_shape: tuple[int, int, int] = (1, 64, 64)) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        c, h, w = image_shape
        self.net = nn.Sequential(
            nn.Linear(code_size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, c * h * w),
        )

    def forward(self, code: Tensor) -> Tensor:
        return self.net(code).view(-1, *self.image_shape)

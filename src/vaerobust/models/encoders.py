"""Encoders: image [B, C, H, W] in [0, 1] -> flat posterior parameters [B, n_params]."""

from __future__ import annotations

from torch import Tensor, nn

from vaerobust.registry import Registry

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")


@ENCODERS.register("conv32")
class Conv32Encoder(nn.Module):
    """The study's encoder (PROTOCOL §2) for 1x32x32 images.

    Conv 4x4/2 (1->32) -> 16x16, Conv 4x4/2 (32->32) -> 8x8, Conv 4x4/2 (32->64) -> 4x4,
    all ReLU; flatten 1024 -> Dense ``hidden`` ReLU -> Dense ``n_params`` (linear).
    """

    image_shape = (1, 32, 32)

    def __init__(self, n_params: int, hidden: int = 128, channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64 * 4 * 4, hidden), nn.ReLU(), nn.Linear(hidden, n_params))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

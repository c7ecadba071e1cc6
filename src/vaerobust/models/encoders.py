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


@ENCODERS.register("conv64")
class Conv64Encoder(nn.Module):
    """Burgess et al. 2018 (arXiv 1804.03599, appendix A.1) encoder for 1x64x64 images.

    Four Conv 4x4/2 (32 channels) + ReLU: 64 -> 32 -> 16 -> 8 -> 4; flatten 32*4*4 = 512 ->
    Dense ``hidden`` ReLU -> Dense ``hidden`` ReLU (paper: 256 each) -> Dense ``n_params``.
    """

    image_shape = (1, 64, 64)

    def __init__(self, n_params: int, hidden: int = 256, channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(32 * 4 * 4, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, n_params),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    """A fully connected encoder for images of any size ``image_shape`` = (C, H, W).

    Flatten C*H*W -> Dense ``hidden`` ReLU -> Dense ``hidden`` ReLU -> Dense ``n_params``.
    (The class has no fixed ``image_shape``: the VAE passes the data's.)
    """

    image_shape = None

    def __init__(self, n_params: int, hidden: int = 512, image_shape: tuple[int, int, int] = (1, 64, 64)) -> None:
        super().__init__()
        c, h, w = image_shape
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_params))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

"""FactorVAE's discriminator: is a code drawn from q(z) or from prod_j q(z_j)?"""

from __future__ import annotations

from torch import Tensor, nn


class Discriminator(nn.Module):
    """MLP code [B, in_features] -> logits [B, 2]; class 0 = "from q(z)", class 1 = "permuted".

    ``layers`` hidden layers of ``hidden`` units, each Linear + LeakyReLU(``negative_slope``),
    then Linear(hidden, 2). Kim & Mnih 2018 (arXiv 1802.05983, appendix A) use 6 x 1000 units
    with leaky ReLU 0.2. With D(z) = softmax(logits)_0, the density-ratio trick gives
    log(D(z) / (1 - D(z))) = logits_0 - logits_1 (:meth:`log_ratio`).
    """

    def __init__(self, in_features: int, hidden: int = 1000, layers: int = 6, negative_slope: float = 0.2) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(negative_slope)]
            width = hidden
        blocks.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*blocks)

    def forward(self, code: Tensor) -> Tensor:
        return self.net(code)

    def log_ratio(self, code: Tensor) -> Tensor:
        """log q(z) / prod_j q(z_j) ~= logits_0 - logits_1, per example [B]."""
        logits = self.forward(code)
        return logits[:, 0] - logits[:, 1]

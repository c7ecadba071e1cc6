"""The judge: a LeNet-style classifier that labels reconstructions (PROTOCOL §4)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class LeNet32(nn.Module):
    """LeNet on 1x32x32 images.

    Conv 5x5 (1->10) -> 28x28, max-pool 2, ReLU -> 14x14; Conv 5x5 (10->20) -> 10x10,
    channel dropout, max-pool 2, ReLU -> 5x5; Dense 500 -> 50 ReLU, dropout; Dense 50 -> 10.
    Returns logits [B, 10].
    """

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.drop2d = nn.Dropout2d()
        self.fc1 = nn.Linear(500, 50)
        self.drop = nn.Dropout()
        self.fc2 = nn.Linear(50, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.drop2d(self.conv2(x)), 2))
        x = self.drop(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)

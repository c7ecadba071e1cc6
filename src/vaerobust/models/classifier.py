"""Judges: classifiers that label reconstructions (PROTOCOL §4), registered by architecture."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from vaerobust.errors import ConfigError
from vaerobust.registry import Registry

CLASSIFIERS: Registry[type[nn.Module]] = Registry("classifier")


@CLASSIFIERS.register("lenet32")
class LeNet32(nn.Module):
    """LeNet on 1x32x32 images.

    Conv 5x5 (1->10) -> 28x28, max-pool 2, ReLU -> 14x14; Conv 5x5 (10->20) -> 10x10,
    channel dropout, max-pool 2, ReLU -> 5x5; Dense 500 -> 50 ReLU, dropout; Dense 50 -> n_classes.
    Returns logits [B, n_classes].
    """

    image_shape = (1, 32, 32)

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.n_classes = n_classes
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

    def describe(self) -> dict[str, Any]:
        return {"kind": "classifier", "arch": "lenet32", "classes": self.n_classes,
                "image_shape": list(self.image_shape)}


def build_classifier(description: dict[str, Any]) -> nn.Module:
    """The judge a ``model.json`` describes (0.1.0's files lack ``image_shape``: the arch's own)."""
    arch = description.get("arch", "lenet32")
    cls = CLASSIFIERS.get(arch)
    classes = int(description.get("classes", 10))
    if classes < 2:
        raise ConfigError(f"classifier classes = {classes}: expected at least 2")
    model = cls(n_classes=classes)
    shape = description.get("image_shape")
    if shape is not None and tuple(shape) != tuple(model.image_shape):
        raise ConfigError(f"classifier {arch!r} takes images {tuple(model.image_shape)}, model.json says {tuple(shape)}")
    return model


__all__ = ["CLASSIFIERS", "LeNet32", "build_classifier"]

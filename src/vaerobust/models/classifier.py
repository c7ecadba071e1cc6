"""Judges: classifiers that label reconstructions (PROTOCOL §4), registered by architecture."""

from __future__ import annotations

from typing import Any

import torch
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


def conv_trunk(channels: int) -> nn.Sequential:
    """The judges' 64x64 trunk: four Conv 4x4/2 + ReLU (channels -> 32 -> 64 -> 128 -> 128), 64 -> 4, flattened."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(128, 128, 4, 2, 1), nn.ReLU(),
        nn.Flatten(),
    )


@CLASSIFIERS.register("attr64")
class AttributeNet64(nn.Module):
    """A multi-label judge of binary attributes (CelebA's 40) on 3x64x64 images.

    Four Conv 4x4/2 + ReLU (3 -> 32 -> 64 -> 128 -> 128 channels): 64 -> 32 -> 16 -> 8 -> 4;
    flatten 2048 -> Dense 256 ReLU, dropout 0.5 -> Dense ``n_classes``: one logit per attribute
    (positive: the attribute is present). ``multilabel`` tells the pipelines to train it with
    binary cross-entropy and to read one attribute at a time through :class:`AttributeView`.
    """

    image_shape = (3, 64, 64)
    multilabel = True

    def __init__(self, n_classes: int = 40) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.features = conv_trunk(3)
        self.head = nn.Sequential(nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Dropout(), nn.Linear(256, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def describe(self) -> dict[str, Any]:
        return {"kind": "classifier", "arch": "attr64", "classes": self.n_classes, "multilabel": True,
                "image_shape": list(self.image_shape)}


@CLASSIFIERS.register("factors64")
class FactorNet64(nn.Module):
    """A judge of ground-truth factors (dSprites: shape 3, scale 6, orientation 40, x 32, y 32) on
    1x64x64 images: the convolutional trunk of :class:`AttributeNet64` (one channel in), dense 256
    with dropout, then one softmax head per factor, concatenated into logits [B, sum(factor_sizes)].
    Read one factor through :class:`FactorView`."""

    multihead = True

    def __init__(self, n_classes: int | None = None, factor_sizes: tuple[int, ...] = (3, 6, 40, 32, 32),
                 channels: int = 1, size: int = 64) -> None:
        super().__init__()
        self.factor_sizes = tuple(int(k) for k in factor_sizes)
        if any(k < 1 for k in self.factor_sizes) or not self.factor_sizes:
            raise ConfigError(f"factor sizes {list(factor_sizes)}: expected one size >= 1 per factor")
        self.n_classes = sum(self.factor_sizes)
        if n_classes is not None and n_classes != self.n_classes:
            raise ConfigError(f"factors64: {n_classes} outputs, but the factor sizes {list(self.factor_sizes)} "
                              f"sum to {self.n_classes}")
        self.image_shape = (channels, size, size)
        self.features = conv_trunk(channels)
        self.head = nn.Sequential(nn.Linear(128 * (size // 16) ** 2, 256), nn.ReLU(), nn.Dropout(),
                                  nn.Linear(256, self.n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def split(self, logits: Tensor) -> list[Tensor]:
        """The logits of each factor, [B, size_k] each."""
        return list(torch.split(logits, list(self.factor_sizes), dim=1))

    def describe(self) -> dict[str, Any]:
        return {"kind": "classifier", "arch": "factors64", "classes": self.n_classes, "multihead": True,
                "factor_sizes": list(self.factor_sizes), "image_shape": list(self.image_shape)}


class FactorView(nn.Module):
    """One factor of a :class:`FactorNet64` judge as a classifier of that factor's values: its
    logits [B, size]. Every single-label tool then reads the factor."""

    def __init__(self, judge: nn.Module, index: int, name: str = "") -> None:
        super().__init__()
        sizes = tuple(getattr(judge, "factor_sizes", ()))
        if not 0 <= index < len(sizes):
            raise ConfigError(f"factor index {index}: the judge reads {len(sizes)} factors")
        self.judge = judge
        self.index = index
        self.name = name
        self.n_classes = sizes[index]
        self.start = sum(sizes[:index])
        self.image_shape = getattr(judge, "image_shape", None)

    def forward(self, x: Tensor) -> Tensor:
        return self.judge(x)[:, self.start : self.start + self.n_classes]


class AttributeView(nn.Module):
    """One attribute of a multi-label judge as a two-class classifier: logits [B, 2] = (0, l),
    where l is the judge's logit of attribute ``index``, so the argmax is 1 exactly when the
    judge reads the attribute as present. Every single-label tool (``predict``, the clean
    filter, the success tables, the judge's dropout switch) then works unchanged."""

    def __init__(self, judge: nn.Module, index: int, name: str = "") -> None:
        super().__init__()
        if not 0 <= index < int(getattr(judge, "n_classes", index + 1)):
            raise ConfigError(f"attribute index {index}: the judge reads {getattr(judge, 'n_classes', '?')} attributes")
        self.judge = judge
        self.index = index
        self.name = name
        self.n_classes = 2
        self.image_shape = getattr(judge, "image_shape", None)

    def forward(self, x: Tensor) -> Tensor:
        logit = self.judge(x)[:, self.index]
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def build_classifier(description: dict[str, Any]) -> nn.Module:
    """The judge a ``model.json`` describes (0.1.0's files lack ``image_shape``: the arch's own)."""
    arch = description.get("arch", "lenet32")
    cls = CLASSIFIERS.get(arch)
    classes = int(description.get("classes", 10))
    if classes < 2:
        raise ConfigError(f"classifier classes = {classes}: expected at least 2")
    model = cls(n_classes=classes, factor_sizes=tuple(description["factor_sizes"])) if description.get("factor_sizes") \
        else cls(n_classes=classes)
    shape = description.get("image_shape")
    if shape is not None and tuple(shape) != tuple(model.image_shape):
        raise ConfigError(f"classifier {arch!r} takes images {tuple(model.image_shape)}, model.json says {tuple(shape)}")
    return model


__all__ = ["CLASSIFIERS", "AttributeNet64", "AttributeView", "FactorNet64", "FactorView", "LeNet32", "build_classifier"]

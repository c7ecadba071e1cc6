"""Memory layout of a network's weights: channels-last (NHWC) for the duration of a block.

Convolutions whose weight is channels-last run in PyTorch's NHWC kernels (oneDNN on CPU,
cuDNN on GPU). For the small convolutional encoders here that is faster both for the
attacks' forward + input-gradient passes and for inference-only encoding
(``benchmarks/bench_attack.py`` and ``benchmarks/bench_metrics.py`` print the gain). Only the
layout changes: values agree with the contiguous layout up to floating-point summation order.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


@contextmanager
def channels_last(model: Any, enabled: bool = True) -> Iterator[Any]:
    """``model`` with its 4-D parameters and buffers in channels-last layout inside the block,
    contiguous again after it (also on an exception). ``enabled=False``, or a ``model`` that is
    not an ``nn.Module`` (a plain callable has no weights to lay out), changes nothing."""
    if not (enabled and isinstance(model, nn.Module)):
        yield model
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)

"""``tf.losses`` as the TF1 tutorials use it (``reduction`` = mean over everything, TF's default)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.compat.v1.ops import convert_to_tensor


def mean_squared_error(labels: Any, predictions: Any, weights: float = 1.0, scope: Any = None) -> Tensor:
    """``tf.losses.mean_squared_error``: ``mean(weights * (predictions - labels)^2)``; labels cast to the predictions' dtype."""
    predictions = convert_to_tensor(predictions)
    labels = convert_to_tensor(labels).to(predictions.dtype)
    return (weights * (predictions - labels) ** 2).mean()


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: float = 1.0, scope: Any = None) -> Tensor:
    """``tf.losses.sigmoid_cross_entropy``: the mean of the element-wise loss."""
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(multi_class_labels).to(logits.dtype)
    return (weights * torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")).mean()


__all__ = ["mean_squared_error", "sigmoid_cross_entropy"]

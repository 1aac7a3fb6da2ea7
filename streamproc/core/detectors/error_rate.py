"""``error_rate``: a rise of a classifier's error rate (labels joined)."""

from __future__ import annotations

from typing import ClassVar

from .rate_cusum import ReferenceRateDetector
from .registry import register

__all__ = ["ErrorRate"]


@register
class ErrorRate(ReferenceRateDetector):
    """Bernoulli CUSUM of wrong predictions against the reference's error rate."""

    name: ClassVar[str] = "error_rate"

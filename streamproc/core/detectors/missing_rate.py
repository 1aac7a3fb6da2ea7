"""``missing_rate``: a rise of the share of null or absent values."""

from __future__ import annotations

from typing import ClassVar

from .rate_cusum import ReferenceRateDetector
from .registry import register

__all__ = ["MissingRate"]


@register
class MissingRate(ReferenceRateDetector):
    """Bernoulli CUSUM of missing values against the reference's missing rate."""

    name: ClassVar[str] = "missing_rate"

"""``type_mismatch_rate``: a rise of the share of values of the wrong type."""

from __future__ import annotations

from typing import ClassVar

from .rate_cusum import ReferenceRateDetector
from .registry import register

__all__ = ["TypeMismatchRate"]


@register
class TypeMismatchRate(ReferenceRateDetector):
    """Bernoulli CUSUM of mistyped values against the reference's rate of them."""

    name: ClassVar[str] = "type_mismatch_rate"

"""Two-sided Page-Hinkley test on a standardised stream.

This is Page's CUSUM: the classic Page-Hinkley test against a known reference mean
(River's ``PageHinkley`` instead tracks a running mean and a raw-unit threshold,
which is why its defaults fire dozens of times per 100k stable events). The input
is already standardised by the monitor, so ``allowance`` and ``threshold`` are in
standard deviations of the input and the threshold comes from
:func:`streamproc.core.calibration.cusum_threshold` for the budget.

The estimated onset of a change is the classic CUSUM change-point estimate: the
first item after the statistic last stood at zero.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PageHinkley"]

_DIRECTIONS = ("both", "up", "down")


class PageHinkley:
    """Detect a shift of the mean of a standardised stream, up, down or both.

    Parameters
    ----------
    allowance
        Half the shift the test is tuned for, in standard deviations (``k``).
    threshold
        Alarm level of the cumulative sum (``h``).
    direction
        ``"both"``, ``"up"`` or ``"down"``.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> ph = PageHinkley(allowance=0.5, threshold=5.0)
    >>> stream = [rng.gauss(0, 1) for _ in range(500)] + [rng.gauss(1, 1) for _ in range(100)]
    >>> for i, y in enumerate(stream):
    ...     if ph.update(y).drift_detected:
    ...         print(i, ph.detected_direction, ph.onset, round(ph.shift, 2))
    ...         break
    516 up 499 0.84
    """

    def __init__(
        self, allowance: float = 0.5, threshold: float = 5.0, direction: str = "both"
    ) -> None:
        if allowance <= 0:
            raise ValueError(f"allowance must be positive, got {allowance!r}")
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold!r}")
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
        self.allowance = float(allowance)
        self.threshold = float(threshold)
        self.direction = direction
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._up = 0.0
        self._down = 0.0
        self._up_start = 0
        self._down_start = 0
        self._up_sum = 0.0
        self._down_sum = 0.0
        self._up_aux = 0.0
        self._down_aux = 0.0
        self._up_tag: Any = None
        self._down_tag: Any = None
        self._detected = ""  # "", "up" or "down"

    @property
    def drift_detected(self) -> bool:
        return bool(self._detected)

    @property
    def detected_direction(self) -> str | None:
        return self._detected or None

    @property
    def statistic(self) -> float:
        """The larger of the two cumulative sums."""
        return max(self._up, self._down)

    @property
    def onset(self) -> int:
        """Index (since the last reset) where the current excursion began."""
        return self._down_start if self._detected == "down" else self._up_start

    @property
    def onset_tag(self) -> Any:
        """Tag passed with the first item of the current (alarming) excursion."""
        return self._down_tag if self._detected == "down" else self._up_tag

    @property
    def shift(self) -> float:
        """Mean of the input over the current excursion: the estimated shift."""
        if self._detected == "down":
            count, total = self._n - self._down_start, self._down_sum
        else:
            count, total = self._n - self._up_start, self._up_sum
        return total / count if count else 0.0

    @property
    def aux_mean(self) -> float:
        """Mean of the ``aux`` values over the current excursion."""
        if self._detected == "down":
            count, total = self._n - self._down_start, self._down_aux
        else:
            count, total = self._n - self._up_start, self._up_aux
        return total / count if count else 0.0

    def update(self, y: float, tag: Any = None, aux: float = 0.0) -> PageHinkley:
        """Add one standardised item; after a detection the next update starts afresh.

        ``tag`` labels the item (e.g. its event position and time); the tag of the
        first item of the alarming excursion is :attr:`onset_tag`. ``aux`` is any
        number to average over the excursion (see :attr:`aux_mean`), e.g. the item
        in raw units for reporting.
        """
        if self._detected:
            self._reset()
        k = self.allowance
        n = self._n
        if self.direction != "down":
            if self._up > 0.0:
                up = self._up + y - k
                if up > 0.0:
                    self._up = up
                    self._up_sum += y
                    self._up_aux += aux
                else:
                    self._up = 0.0
            elif y - k > 0.0:
                self._up = y - k
                self._up_sum = y
                self._up_aux = aux
                self._up_start = n
                self._up_tag = tag
        if self.direction != "up":
            if self._down > 0.0:
                down = self._down - y - k
                if down > 0.0:
                    self._down = down
                    self._down_sum += y
                    self._down_aux += aux
                else:
                    self._down = 0.0
            elif -y - k > 0.0:
                self._down = -y - k
                self._down_sum = y
                self._down_aux = aux
                self._down_start = n
                self._down_tag = tag
        self._n = n + 1
        if self._up > self.threshold:
            self._detected = "up"
        elif self._down > self.threshold:
            self._detected = "down"
        return self

    def to_state(self) -> dict[str, Any]:
        return {
            "params": [self.allowance, self.threshold, self.direction],
            "f": [self._up, self._down, self._up_sum, self._down_sum, self._up_aux,
                  self._down_aux],
            "i": [self._n, self._up_start, self._down_start],
            "tags": [self._up_tag, self._down_tag],
            "d": self._detected,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PageHinkley:
        allowance, threshold, direction = state["params"]
        ph = cls(float(allowance), float(threshold), str(direction))
        ph._up, ph._down, ph._up_sum, ph._down_sum, ph._up_aux, ph._down_aux = (
            float(x) for x in state["f"]
        )
        ph._n, ph._up_start, ph._down_start = (int(x) for x in state["i"])
        ph._up_tag, ph._down_tag = state["tags"]
        ph._detected = str(state["d"])
        if ph._detected not in ("", "up", "down"):
            raise ValueError(f"invalid Page-Hinkley state direction {ph._detected!r}")
        return ph

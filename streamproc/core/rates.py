"""Monitor of a 0/1 stream: error rate, null rate, type changes, unseen categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bernoulli import BernoulliCusum
from .calibration import bernoulli_design
from .detection import Detection, apply_cooldown, severity_from_rate
from .settings import MonitorSettings

__all__ = ["RateMonitor", "TagView"]

# A design rate this high leaves no room for a rise worth alerting on.
_MAX_DESIGN_RATE = 0.95
# A reference rate is learnt from at least this many of the rarer outcome (e.g. 200
# errors), which puts its relative error near 7%, within this many reference windows.
_RATE_MIN_COUNT = 200
_RATE_MAX_FACTOR = 10


class TagView:
    """Lazy ``(position, timestamp)`` tags over two aligned arrays, from ``start`` on."""

    __slots__ = ("_pos", "_ts", "_start")

    def __init__(self, pos: np.ndarray, ts: np.ndarray, start: int = 0) -> None:
        self._pos, self._ts, self._start = pos, ts, start

    def __getitem__(self, j: int) -> tuple[int, float]:
        k = self._start + j
        return int(self._pos[k]), float(self._ts[k])


class RateMonitor:
    """Learn a reference rate, then alarm when the rate rises.

    Parameters
    ----------
    settings
        Reference size, budget and cooldown.
    signal, feature, detector
        Names reported with a detection.

    The design (rate, alternative, threshold) comes from
    :func:`~streamproc.core.calibration.bernoulli_design`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mon = RateMonitor(MonitorSettings(reference_size=1000), "performance", None, "error_rate")
    >>> mon.calibrate(1e6)
    >>> x = np.concatenate([rng.random(20_000) < 0.1, rng.random(5_000) < 0.3])
    >>> pos = np.arange(len(x)); ts = pos * 0.01
    >>> [(d.detector, d.position, d.onset_position, d.severity) for d in mon.update(x, pos, ts)]
    [('error_rate', 20175, 20018, 'high')]
    """

    n_detectors = 1

    def __init__(
        self,
        settings: MonitorSettings,
        signal: str,
        feature: str | None,
        detector: str,
    ) -> None:
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self.detector = detector
        self._arl = float(settings.budget.events)
        self._ref_n = 0
        self._ref_ones = 0
        self._ref_start = 0
        self._p_ref: float | None = None
        self._det: BernoulliCusum | None = None
        self._last_alert: dict[str, list[int]] = {}  # detector -> [position, severity rank]
        self.n = 0
        self.ones = 0
        self.detections = 0

    # -- configuration -----------------------------------------------------------------
    def calibrate(self, arl_events: float) -> None:
        """Set the events between false alarms this detector may use."""
        self._arl = float(arl_events)
        if self._det is not None and self._p_ref is not None:
            _, _, h = bernoulli_design(self._ref_ones, self._ref_n, self._arl)
            self._det.set_threshold(h)

    @property
    def learning(self) -> bool:
        """True while the monitor collects its reference (warm-up): no detection yet."""
        return self._p_ref is None

    @property
    def reference_rate(self) -> float | None:
        return self._p_ref

    @property
    def current_rate(self) -> float:
        return self.ones / self.n if self.n else 0.0

    # -- update --------------------------------------------------------------------------
    def update(self, x: np.ndarray, pos: np.ndarray, ts: np.ndarray) -> list[Detection]:
        """Feed 0/1 items with their event positions and times; return detections."""
        out: list[Detection] = []
        total = len(x)
        self.n += total
        self.ones += int(np.count_nonzero(x))
        i = 0
        n_ref = self.settings.reference_size
        while i < total:
            if self._det is None:
                if self._p_ref is not None:  # in-control rate too high to test for a rise
                    break
                # Checked only at multiples of reference_size, so the end of the
                # reference does not depend on batch boundaries.
                if self._ref_n == 0:
                    self._ref_start = int(pos[i])
                checkpoint = (self._ref_n // n_ref + 1) * n_ref
                take = min(checkpoint - self._ref_n, total - i)
                self._ref_ones += int(np.count_nonzero(x[i : i + take]))
                self._ref_n += take
                i += take
                if self._ref_n == checkpoint and self._reference_is_enough():
                    self._finish_reference()
                continue
            hit = self._det.update_many(x[i:], TagView(pos, ts, i))
            if hit < 0:
                break
            j = i + hit
            out.append(self._detection(int(pos[j]), float(ts[j])))
            i = j + 1
        return out

    def _reference_is_enough(self) -> bool:
        """A rate seen a few times is estimated too roughly to test for its doubling:
        keep learning until both outcomes were seen _RATE_MIN_COUNT times (or never
        the rarer one), up to _RATE_MAX_FACTOR reference windows."""
        rare = min(self._ref_ones, self._ref_n - self._ref_ones)
        longest = _RATE_MAX_FACTOR * self.settings.reference_size
        return rare == 0 or rare >= _RATE_MIN_COUNT or self._ref_n >= longest

    def _finish_reference(self) -> None:
        self._p_ref = self._ref_ones / self._ref_n
        p0, p1, h = bernoulli_design(self._ref_ones, self._ref_n, self._arl)
        if p0 < _MAX_DESIGN_RATE:
            self._det = BernoulliCusum(p0, p1, h)

    def _detection(self, position: int, timestamp: float) -> Detection:
        det = self._det
        assert det is not None and self._p_ref is not None
        onset_pos, onset_ts = det.onset_tag
        self.detections += 1
        current = det.current_rate
        stats = {
            "reference": {"rate": self._p_ref, "n": self._ref_n, "design_rate": det.p0,
                          "start_position": self._ref_start},
            "current": {"rate": current, "n": position - onset_pos + 1},
            "tuned_for_rate": det.p1,
            "threshold": det.threshold,
        }
        detection = Detection(
            signal=self.signal,
            feature=self.feature,
            detector=self.detector,
            position=position,
            timestamp=timestamp,
            onset_position=int(onset_pos),
            onset_timestamp=float(onset_ts),
            direction="up",
            severity=severity_from_rate(self._p_ref, current),
            statistics=stats,
        )
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events)
        if detection.suppressed:  # same episode: keep the reference, restart the test
            det.restart()
            return detection
        # Re-baseline: learn the new rate from the next reference window.
        self._det = None
        self._p_ref = None
        self._ref_n = self._ref_ones = 0
        return detection

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "ref": [self._ref_n, self._ref_ones, self._ref_start],
            "p_ref": self._p_ref,
            "det": None if self._det is None else self._det.to_state(),
            "last_alert": dict(self._last_alert),
            "i": [self.n, self.ones, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._ref_n, self._ref_ones, self._ref_start = (int(v) for v in state["ref"])
        p_ref = state["p_ref"]
        self._p_ref = None if p_ref is None else float(p_ref)
        det = state["det"]
        self._det = None if det is None else BernoulliCusum.from_state(det)
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.ones, self.detections = (int(v) for v in state["i"])

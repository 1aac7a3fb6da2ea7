"""Monitor of a categorical signal: category shares and never-seen categories.

* ``categorical``: the categories' shares in blocks of ``m`` events against the
  reference shares, by a chi-square statistic. ``m`` is chosen so that every
  tracked category expects at least 5 counts per block (the chi-square
  approximation's rule), the statistic is divided by ``1 + m / n`` (the excess
  caused by estimating the reference from ``n`` events), turned into an
  approximately N(0, 1) score by the Wilson-Hilferty cube root, and fed to a
  one-sided Page-Hinkley test calibrated like the numeric ones.
* ``unseen_categories``: the rate of values absent from the reference, by a
  Bernoulli CUSUM whose in-control rate is the Good-Turing estimate of the unseen
  mass (the share of categories seen exactly once in the reference), bounded above.

Rare categories (share below ``min_category_share``, or beyond ``max_categories``)
are pooled into "(other)", so memory and alert size stay bounded on
high-cardinality features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .bernoulli import BernoulliCusum, alternative_rate
from .calibration import bernoulli_threshold, cusum_threshold, wilson_upper
from .detection import Detection, apply_cooldown, severity_from_distance, severity_from_rate
from .page_hinkley import PageHinkley
from .rates import TagView
from .settings import MonitorSettings

__all__ = ["CategoricalMonitor", "OTHER", "category_name"]

OTHER = "(other)"
# Expected count per category per block for the chi-square approximation to hold.
_MIN_EXPECTED = 5.0
_MAX_BLOCK = 2000
# Categories counted during a reference before new ones are only pooled: bounds memory.
_REFERENCE_CATEGORY_CAP_FACTOR = 20
# Allowance of the chi-square Page-Hinkley test, in standard deviations of the score.
_ALLOWANCE = 0.5


def category_name(value: Any) -> str:
    """The category a value stands for, the same wherever categories are compared.

    >>> category_name(True), category_name(3.0), category_name(0.5), category_name("fr")
    ('true', '3', '0.5', 'fr')
    """
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class CategoricalMonitor:
    """Watch a categorical signal for changed shares and new categories.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> mon = CategoricalMonitor(MonitorSettings(reference_size=2000), "feature", "country")
    >>> mon.calibrate(1e6)
    >>> a = rng.choice(["fr", "de", "us"], 30_000, p=[0.5, 0.3, 0.2])
    >>> b = rng.choice(["fr", "de", "us"], 10_000, p=[0.3, 0.3, 0.4])
    >>> x = np.concatenate([a, b]).tolist()
    >>> pos = np.arange(len(x)); ts = pos * 1.0
    >>> [(d.detector, d.position, d.severity) for d in mon.update(x, pos, ts)]
    [('categorical', 30149, 'high')]
    """

    n_detectors = 2
    kind = "categorical"

    def __init__(self, settings: MonitorSettings, signal: str, feature: str | None) -> None:
        self.settings = settings
        self.signal = signal
        self.feature = feature
        self._arl = float(settings.budget.events)
        self._ref_counts: dict[str, int] = {}
        self._ref_n = 0
        self._ref: dict[str, Any] | None = None
        self._index: dict[str, int] = {}
        self._seen: set[str] = set()
        self._block_codes: list[int] = []
        self._block_first: list[float] = []  # [position, timestamp] of the block's first value
        self._exc_counts: list[int] = []
        self._ph: PageHinkley | None = None
        self._unseen: BernoulliCusum | None = None
        self._last_alert: dict[str, list[int]] = {}  # detector -> [position, severity rank]
        self.n = 0
        self.detections = 0

    def calibrate(self, arl_events: float) -> None:
        self._arl = float(arl_events)
        if self._ref is not None:
            self._set_thresholds()

    def _set_thresholds(self) -> None:
        ref = self._ref
        assert ref is not None
        m = ref["block"]
        if self._ph is not None:
            self._ph.threshold = cusum_threshold(
                max(self._arl / m, 2.0), _ALLOWANCE, 1, ref["mean_se"], 0.0
            )
        if self._unseen is not None:
            self._unseen.set_threshold(bernoulli_threshold(self._arl))

    @property
    def learning(self) -> bool:
        """True while the monitor collects its reference (warm-up): no detection yet."""
        return self._ref is None

    @property
    def reference_shares(self) -> dict[str, float] | None:
        if self._ref is None:
            return None
        return dict(zip(self._ref["names"], self._ref["shares"], strict=True))

    # -- update --------------------------------------------------------------------------
    def update(self, values: list[str], pos: np.ndarray, ts: np.ndarray) -> list[Detection]:
        """Feed category names with their event positions and times; return detections."""
        out: list[Detection] = []
        n = len(values)
        self.n += n
        i = 0
        while i < n:
            if self._ref is None:
                i = self._collect_reference(values, pos, i)
                continue
            hit = self._monitor(values, pos, ts, i)
            if hit is None:
                break
            j, detection = hit
            out.append(detection)
            i = j + 1
        return out

    def _collect_reference(self, values: list[str], pos: np.ndarray, i: int) -> int:
        take = min(self.settings.reference_size - self._ref_n, len(values) - i)
        counts = self._ref_counts
        cap = _REFERENCE_CATEGORY_CAP_FACTOR * self.settings.max_categories
        for v in values[i : i + take]:
            if v in counts:
                counts[v] += 1
            elif len(counts) < cap:
                counts[v] = 1
            else:
                counts[OTHER] = counts.get(OTHER, 0) + 1
        self._ref_n += take
        if self._ref_n == self.settings.reference_size:
            self._finish_reference()
        return i + take

    def _finish_reference(self) -> None:
        s = self.settings
        n = self._ref_n
        counts = self._ref_counts
        ranked = sorted(
            ((c, k) for k, c in counts.items() if k != OTHER), key=lambda t: (-t[0], t[1])
        )
        kept = [k for c, k in ranked[: s.max_categories] if c / n >= s.min_category_share]
        singletons = sum(1 for c, _ in ranked if c == 1)
        pooled = n - sum(counts[k] for k in kept)
        names = list(kept)
        shares = [counts[k] / n for k in kept]
        self._index = {k: i for i, k in enumerate(kept)}
        if pooled / n >= s.min_category_share or not kept:
            names.append(OTHER)
            shares.append(pooled / n)
        elif pooled:
            # Too little pooled mass to test on its own: the rarest kept category's
            # bucket also takes the pooled (and future unseen) values.
            names[-1] = f"{names[-1]} {OTHER}"
            shares[-1] += pooled / n
        m = int(min(_MAX_BLOCK, max(16, math.ceil(_MIN_EXPECTED / min(shares)))))
        self._seen = {k for k in counts if k != OTHER}
        unseen_p0 = wilson_upper(singletons, n)
        self._ref = {
            "n": n,
            "names": names,
            "shares": shares,
            "block": m,
            "mean_se": (m / n) / (1.0 + m / n),
            "unseen_rate": singletons / n,
        }
        testable = len(names) >= 2
        self._ph = (
            PageHinkley(allowance=_ALLOWANCE, threshold=1.0, direction="up") if testable else None
        )
        high_cardinality = OTHER in counts
        self._unseen = (
            None
            if high_cardinality or unseen_p0 >= 0.5
            else BernoulliCusum(unseen_p0, alternative_rate(unseen_p0), 1.0)
        )
        self._ref_counts = {}
        self._block_codes, self._block_first, self._exc_counts = [], [], []
        self._set_thresholds()

    def _monitor(
        self, values: list[str], pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[int, Detection] | None:
        ref = self._ref
        assert ref is not None
        seg = values[i:]
        # As in NumericMonitor: the cheap rate test runs first and is replayed if the
        # shares test detects earlier, so both consume exactly the same values.
        r = -1
        if self._unseen is not None:
            before = self._unseen.to_state()
            seen = self._seen
            unseen = np.fromiter((v not in seen for v in seg), dtype=bool, count=len(seg))
            r = self._unseen.update_many(unseen, TagView(pos, ts, i))
        limit = len(seg) if r < 0 else r + 1
        block_hit = self._blocks(seg[:limit], pos, ts, i) if self._ph is not None else None
        if block_hit is not None:
            j, counts = block_hit
            if r >= 0 and self._unseen is not None:
                self._unseen = BernoulliCusum.from_state(before)
                if self._unseen.update_many(unseen[: j + 1], TagView(pos, ts, i)) >= 0:
                    self._unseen.restart()  # fired on the same value: one detection
            return i + j, self._shares_detection(i + j, pos, ts, counts)
        if r >= 0:
            return i + r, self._unseen_detection(i + r, pos, ts, seg[: r + 1])
        return None

    def _blocks(
        self, seg: list[str], pos: np.ndarray, ts: np.ndarray, i: int
    ) -> tuple[int, np.ndarray] | None:
        ref = self._ref
        ph = self._ph
        assert ref is not None and ph is not None
        m = ref["block"]
        k = len(ref["names"])
        other = k - 1  # "(other)", or the rarest category's bucket that pools the rest
        index = self._index
        expected = np.asarray(ref["shares"]) * m
        df = k - 1
        inflation = 1.0 + m / ref["n"]
        wh_mean = 1.0 - 2.0 / (9.0 * df)
        wh_sd = math.sqrt(2.0 / (9.0 * df))
        codes = self._block_codes
        for j, v in enumerate(seg):
            if not codes:
                self._block_first = [int(pos[i + j]), float(ts[i + j])]
            codes.append(index.get(v, other))
            if len(codes) < m:
                continue
            counts = np.bincount(codes, minlength=k)
            chi2 = float(((counts - expected) ** 2 / expected).sum()) / inflation
            y = ((chi2 / df) ** (1.0 / 3.0) - wh_mean) / wh_sd
            was_idle = ph.statistic == 0.0
            ph.update(y, tuple(self._block_first))
            self._block_codes = codes = []
            if ph.statistic == 0.0:
                self._exc_counts = []
            elif was_idle or not self._exc_counts:
                self._exc_counts = counts.tolist()
            else:
                self._exc_counts = [
                    a + b for a, b in zip(self._exc_counts, counts.tolist(), strict=True)
                ]
            if ph.drift_detected:
                return j, np.asarray(self._exc_counts)
        return None

    # -- detections ------------------------------------------------------------------------
    def _finish(self, detection: Detection) -> Detection:
        # One episode per monitor: its detectors often see the same change.
        apply_cooldown(self._last_alert, detection, self.settings.cooldown_events, "monitor")
        self.detections += 1
        if detection.suppressed:  # same episode: keep the reference, restart the tests
            if self._unseen is not None and self._unseen.drift_detected:
                self._unseen.restart()
            self._exc_counts = []
            return detection
        self._ref = None
        self._ref_n = 0
        self._ref_counts = {}
        self._ph = self._unseen = None
        self._block_codes, self._block_first, self._exc_counts = [], [], []
        return detection

    def _shares_detection(
        self, j: int, pos: np.ndarray, ts: np.ndarray, counts: np.ndarray
    ) -> Detection:
        ref = self._ref
        ph = self._ph
        assert ref is not None and ph is not None
        total = max(int(counts.sum()), 1)
        current = (counts / total).tolist()
        tvd = 0.5 * sum(abs(a - b) for a, b in zip(current, ref["shares"], strict=True))
        onset_pos, onset_ts = ph.onset_tag
        stats = {
            "reference": {
                "n": ref["n"], "shares": dict(zip(ref["names"], ref["shares"], strict=True))
            },
            "current": {"n": total, "shares": dict(zip(ref["names"], current, strict=True))},
            "total_variation": tvd,
            "block_size": ref["block"],
        }
        return self._finish(
            Detection(
                signal=self.signal,
                feature=self.feature,
                detector="categorical",
                position=int(pos[j]),
                timestamp=float(ts[j]),
                onset_position=int(onset_pos),
                onset_timestamp=float(onset_ts),
                direction="changed",
                severity=severity_from_distance(tvd),
                statistics=stats,
            )
        )

    def _unseen_detection(
        self, j: int, pos: np.ndarray, ts: np.ndarray, seen_values: list[str]
    ) -> Detection:
        ref = self._ref
        det = self._unseen
        assert ref is not None and det is not None
        onset_pos, onset_ts = det.onset_tag
        new = sorted({v for v in seen_values[-1000:] if v not in self._seen})[:10]
        stats = {
            "reference": {"n": ref["n"], "unseen_rate": ref["unseen_rate"], "design_rate": det.p0},
            "current": {"unseen_rate": det.current_rate, "n": int(pos[j]) - onset_pos + 1},
            "examples": new,
        }
        return self._finish(
            Detection(
                signal=self.signal,
                feature=self.feature,
                detector="unseen_categories",
                position=int(pos[j]),
                timestamp=float(ts[j]),
                onset_position=int(onset_pos),
                onset_timestamp=float(onset_ts),
                direction="up",
                severity=severity_from_rate(ref["unseen_rate"], det.current_rate),
                statistics=stats,
            )
        )

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "arl": self._arl,
            "ref_counts": self._ref_counts,
            "ref_n": self._ref_n,
            "ref": self._ref,
            "seen": sorted(self._seen),
            "index": self._index,
            "block": [self._block_codes, self._block_first, self._exc_counts],
            "ph": None if self._ph is None else self._ph.to_state(),
            "unseen": None if self._unseen is None else self._unseen.to_state(),
            "last_alert": dict(self._last_alert),
            "i": [self.n, self.detections],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._arl = float(state["arl"])
        self._ref_counts = {str(k): int(v) for k, v in state["ref_counts"].items()}
        self._ref_n = int(state["ref_n"])
        self._ref = None if state["ref"] is None else dict(state["ref"])
        self._index = {str(k): int(v) for k, v in state["index"].items()}
        self._seen = {str(v) for v in state["seen"]}
        codes, first, exc = state["block"]
        self._block_codes = [int(v) for v in codes]
        self._block_first = list(first)
        self._exc_counts = [int(v) for v in exc]
        self._ph = None if state["ph"] is None else PageHinkley.from_state(state["ph"])
        unseen = state["unseen"]
        self._unseen = None if unseen is None else BernoulliCusum.from_state(unseen)
        self._last_alert = {str(k): [int(p), int(r)] for k, (p, r) in state["last_alert"].items()}
        self.n, self.detections = (int(v) for v in state["i"])

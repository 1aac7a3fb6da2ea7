"""Scores of ``realdata.py``: incidents caught against chance, false alarms outside the
incidents, and TCPD's F1 for the short series.

Every detector is scored on the same positions: those after streamproc's reference
part (``start``), which cannot alarm for streamproc; River's detections before it are
dropped alike.

* Incident window (for a change point c of a series of n values with k incidents):
  ``[c - 5, c + max(5, ceil(0.1 * n / k))]``: NAB's window budget (10% of the series
  shared among its incidents), placed after the change since an online detector can
  only see a change once it has happened, with TCPD's margin of 5 before it. A
  labelled incident (start..end) gets the same tolerances around its label.
  Overlapping windows merge into one incident. An incident is scored when part of
  its window lies after ``start``; its window is clipped to the scored positions.
* Caught: a detection (its ``detected_at``) inside the window.
* Chance: the expected share of incidents caught by the same number of alarms A put
  uniformly at random on distinct scored positions (N of them): an incident whose
  scored window holds w positions is hit with probability 1 - C(N - w, A) / C(N, A)
  (exact, no simulation).
* False alarms: detections outside every window, per 10,000 scored positions outside
  the windows.
* TCPD's F1 (van den Burg & Williams 2020, section 4): 0 joins every annotator's set
  and the prediction set; precision is the share of predictions matching the union
  of the annotations, recall the mean over annotators of the share of their points
  matched, each point matched at most once within the margin of 5; F1 their harmonic
  mean. The "zero" baseline predicts no change (only 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from realdata_corpus import MARGIN, Series

__all__ = ["Score", "f1_tcpd", "incident_windows", "score_series"]

WINDOW_SHARE = 0.10  # NAB: windows take 10% of a series, shared among its incidents


@dataclass
class Score:
    """One detector on one series."""

    incidents: int = 0  # scored incidents
    in_reference: int = 0  # incidents whose whole window lies in the reference part
    caught: int = 0
    chance: float = 0.0  # expected incidents caught by as many random alarms
    alarms: int = 0  # scored detections
    false_alarms: int = 0
    quiet_positions: int = 0  # scored positions outside every window

    def add(self, other: Score) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def fa_per_10k(self) -> float:
        return 1e4 * self.false_alarms / self.quiet_positions if self.quiet_positions else 0.0


def incident_windows(s: Series) -> list[tuple[int, int]]:
    """Merged incident windows of a series (inclusive bounds, clipped to the series)."""
    if not s.change_points:
        return []
    after = max(MARGIN, math.ceil(WINDOW_SHARE * s.n / len(s.change_points)))
    ends = s.ends if s.ends is not None else s.change_points
    raw = sorted((max(0, c - MARGIN), min(s.n - 1, e + after))
                 for c, e in zip(s.change_points, ends, strict=True))
    merged: list[tuple[int, int]] = []
    for lo, hi in raw:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _p_hit(n: int, w: int, alarms: int) -> float:
    """P(at least one of `alarms` distinct random positions among n falls in w of them)."""
    if w <= 0 or alarms <= 0:
        return 0.0
    if alarms > n - w:
        return 1.0
    # log C(n - w, a) - log C(n, a)
    miss = (math.lgamma(n - w + 1) - math.lgamma(n - w - alarms + 1)
            - math.lgamma(n + 1) + math.lgamma(n - alarms + 1))
    return 1.0 - math.exp(miss)


def score_series(s: Series, detections: list[int], start: int) -> Score:
    """Score one detector's detection positions on a series scored from `start` on."""
    sc = Score()
    scored_n = s.n - start
    alarms = sorted({d for d in detections if start <= d < s.n})
    sc.alarms = len(alarms)
    windows = []
    for lo, hi in incident_windows(s):
        if hi < start:
            sc.in_reference += 1
            continue
        windows.append((max(lo, start), hi))
    sc.incidents = len(windows)
    inside = 0
    for lo, hi in windows:
        inside += hi - lo + 1
        if any(lo <= d <= hi for d in alarms):
            sc.caught += 1
        sc.chance += _p_hit(scored_n, hi - lo + 1, len(alarms))
    sc.false_alarms = sum(1 for d in alarms if not any(lo <= d <= hi for lo, hi in windows))
    sc.quiet_positions = scored_n - inside
    return sc


def _true_positives(truth: set[int], predictions: set[int]) -> set[int]:
    """TCPD's matching: each true point takes its nearest unused prediction in the margin."""
    left = set(predictions)
    hits = set()
    for tau in sorted(truth):
        close = sorted((abs(tau - x), x) for x in left if abs(tau - x) <= MARGIN)
        if close:
            hits.add(tau)
            left.remove(close[0][1])
    return hits


def f1_tcpd(annotations: dict[str, list[int]], predictions: list[int]) -> float:
    """TCPD's F1 of predicted change points against every annotator's points.

    TCPD's own examples:

    >>> f1_tcpd({"1": [10, 20], "2": [11, 20], "3": [10], "4": [0, 5]}, [10, 20])
    1.0
    >>> round(f1_tcpd({"1": [], "2": [10], "3": [50]}, [10]), 6)
    0.909091
    >>> round(f1_tcpd({"1": [], "2": [10], "3": [50]}, []), 6)
    0.8
    """
    sets = [set(pts) | {0} for pts in annotations.values()]
    pred = set(predictions) | {0}
    union = set().union(*sets)
    precision = len(_true_positives(union, pred)) / len(pred)
    recall = sum(len(_true_positives(t, pred)) / len(t) for t in sets) / len(sets)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

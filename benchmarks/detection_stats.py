"""What the detection benchmark counts: false alarms, delays, misses, onset errors."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from detection_scenarios import BY_KEY, HORIZON
from scipy.stats import chi2

__all__ = ["RowStats", "RunResult", "summarise"]


@dataclass
class RunResult:
    scenario: str
    row: str
    rep: int
    hits: list[int]  # positions of (unsuppressed) detections
    names: list[str]  # which streamproc detector fired, aligned with hits
    onsets: list[int]  # streamproc's estimated onsets, aligned with hits
    change: int | None  # the true change position of this repetition
    seconds: float
    muted: list[int] = field(default_factory=list)  # suppressed by the alert cooldown


@dataclass
class RowStats:
    reps: int
    false_alarms: int
    fa_events: int  # events over which false alarms are counted
    delays: list[int]
    misses: int
    seconds: float
    first_detectors: Counter[str]
    fa_detectors: Counter[str]
    onset_errors: list[int]  # |onset - change| of the first post-change detections
    # Misses detected but silenced by the cooldown of an earlier false alarm.
    muted_misses: list[tuple[int, int, int | None]] = field(default_factory=list)

    @property
    def fa_rate(self) -> float:
        return 1e5 * self.false_alarms / self.fa_events

    def fa_interval(self) -> tuple[float, float]:
        """Exact (Garwood) 95% Poisson interval of the false-alarm rate per 100k events."""
        k = self.false_alarms
        lo = 0.0 if k == 0 else chi2.ppf(0.025, 2 * k) / 2.0
        hi = chi2.ppf(0.975, 2 * k + 2) / 2.0
        return 1e5 * lo / self.fa_events, 1e5 * hi / self.fa_events

    @property
    def mean_delay(self) -> float | None:
        return statistics.fmean(self.delays) if self.delays else None

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    def onset_quantile(self, q: float) -> float | None:
        if not self.onset_errors:
            return None
        errs = sorted(self.onset_errors)
        return float(errs[min(len(errs) - 1, int(q * len(errs)))])

    @property
    def onset_median(self) -> float | None:
        return statistics.median(self.onset_errors) if self.onset_errors else None


def summarise(results: list[RunResult]) -> dict[tuple[str, str], RowStats]:
    grouped: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for r in results:
        grouped[(r.scenario, r.row)].append(r)
    out: dict[tuple[str, str], RowStats] = {}
    for (key, row), runs in grouped.items():
        scn = BY_KEY[key]
        fa = 0
        fa_events = 0
        delays: list[int] = []
        onset_errors: list[int] = []
        misses = 0
        first: Counter[str] = Counter()
        fa_names: Counter[str] = Counter()
        muted: list[tuple[int, int, int | None]] = []
        for r in sorted(runs, key=lambda r: r.rep):
            names = r.names or [""] * len(r.hits)
            onsets = r.onsets or [None] * len(r.hits)  # type: ignore[list-item]
            if r.change is None:
                fa += len(r.hits)
                fa_events += scn.length
                fa_names.update(n for n in names if n)
                continue
            c = r.change
            fa_events += c
            pre = [(h, n) for h, n in zip(r.hits, names, strict=True) if h < c]
            fa += len(pre)
            fa_names.update(n for _, n in pre if n)
            post = [(h, n, o) for h, n, o in zip(r.hits, names, onsets, strict=True)
                    if c <= h < c + HORIZON]
            if post:
                delays.append(post[0][0] - c)
                if post[0][1]:
                    first[post[0][1]] += 1
                if post[0][2] is not None:
                    onset_errors.append(abs(post[0][2] - c))
            else:
                misses += 1
                silenced = [m for m in r.muted if c <= m < c + HORIZON]
                if silenced:
                    muted.append((r.rep, silenced[0], pre[-1][0] if pre else None))
        out[(key, row)] = RowStats(
            len(runs), fa, fa_events, delays, misses, sum(r.seconds for r in runs), first,
            fa_names, onset_errors, muted,
        )
    return out

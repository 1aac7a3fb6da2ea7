"""``streamproc backtest --score-columns``: a classifier's class scores from file columns.

With them the backtest runs what the worker runs for a classifier that sends ``scores``:
estimated performance and its drop test (``estimated_accuracy``) and, with
``--label-column``, the calibration check.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["score_columns", "scores_of"]


def score_columns(text: str | None) -> dict[str, tuple[str, bool]]:
    """``--score-columns``: class -> (column, whether the score is one minus it)."""
    out: dict[str, tuple[str, bool]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        cls, sep, col = part.partition("=")
        col = col.strip()
        if not sep or not cls.strip() or not col:
            raise ConfigError(f"--score-columns takes CLASS=COLUMN pairs, got {part!r}")
        minus = col.startswith("1-")
        out[cls.strip()] = (col[2:].strip() if minus else col, minus)
    if len(out) == 1:
        raise ConfigError("--score-columns needs a score for every class, e.g. "
                          "'1=proba,0=1-proba' for a binary model")
    return out


def scores_of(row: dict[str, Any], spec: dict[str, tuple[str, bool]]) -> dict[str, float] | None:
    if not spec:
        return None
    out = {}
    for cls, (col, minus) in spec.items():
        v = row.get(col)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return None
        out[cls] = 1.0 - float(v) if minus else float(v)
    return out

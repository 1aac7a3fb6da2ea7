"""Backtest plots: one PNG per drifted signal (matplotlib, no display needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_signal"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "signal"


def plot_signal(out_dir: Path, key: tuple[str, str, str], series: Any,
                alerts: list[dict[str, Any]]) -> Path:
    """Series (downsampled mean and min-max envelope), the reference band of each
    detection, and markers for estimated onsets (dashed) and detections (solid)."""
    model_id, signal, name = key
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=110)
    if series is not None and series.pos:
        ax.fill_between(series.pos, series.lo, series.hi, color="#9ecae1", alpha=0.35,
                        linewidth=0, label="min-max per bin")
        ax.plot(series.pos, series.mean, color="#08519c", linewidth=0.9, label="mean per bin")
    for i, a in enumerate(alerts):
        ref = a["statistics"].get("reference", {})
        start, end = ref.get("start_position"), a["position"]
        if ref.get("mean") is not None and ref.get("sd") is not None and start is not None:
            lo, hi = ref["mean"] - 2 * ref["sd"], ref["mean"] + 2 * ref["sd"]
            ax.fill_between([start, end], [lo, lo], [hi, hi], color="#31a354", alpha=0.15,
                            label="reference mean ± 2 sd" if i == 0 else None)
            ax.hlines(ref["mean"], start, end, colors="#31a354", linewidth=1.0)
        ax.axvline(a["onset"]["position"], color="#e6550d", linestyle="--", linewidth=1.2,
                   label="estimated onset" if i == 0 else None)
        ax.axvline(a["position"], color="#a50f15", linewidth=1.6,
                   label="detection" if i == 0 else None)
        ax.annotate(a["detector"], (a["position"], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="#a50f15")
    ax.set_title(f"{model_id}: {signal} '{name}' - {len(alerts)} detection(s)")
    ax.set_xlabel("event position in the model version")
    ax.set_ylabel(name)
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    path = out_dir / f"{_slug(model_id)}__{_slug(signal)}__{_slug(name)}.png"
    fig.savefig(path)
    plt.close(fig)
    return path

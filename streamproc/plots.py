"""Backtest plots: one PNG per drifted signal (matplotlib, no display needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_signal"]

_COLOURS = ["#08519c", "#6a51a3", "#238b45", "#d94801", "#636363"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "signal"


def plot_signal(out_dir: Path, key: tuple[str, str, str], curves: dict[str, Any],
                alerts: list[dict[str, Any]]) -> Path:
    """The series (per-bin mean and +-1 sd, or one share curve per category), the
    reference of each detection (mean +-2 sd band, rate or shares), and markers for
    the estimated onsets (dashed) and detections (solid)."""
    model_id, signal, name = key
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=110)
    numeric = "value" in curves
    for i, (label, binned) in enumerate(curves.items()):
        x, mean, sd = binned.curve()
        colour = _COLOURS[i % len(_COLOURS)]
        if numeric:
            ax.fill_between(x, mean - sd, mean + sd, color="#9ecae1", alpha=0.35, linewidth=0,
                            label="±1 sd per bin")
            ax.plot(x, mean, color=colour, linewidth=1.0, label=f"mean per {binned.width} events")
        else:
            what = (f"{name} per {binned.width} events" if label == "rate"
                    else f"share of '{label}'")
            ax.plot(x, mean, color=colour, linewidth=1.0, label=what)
    for i, a in enumerate(alerts):
        ref = a["statistics"].get("reference", {})
        start = ref.get("start_position", a["onset"]["position"] - ref.get("n", 0))
        end = a["position"]
        first = i == 0
        if ref.get("mean") is not None and ref.get("sd") is not None:
            lo, hi = ref["mean"] - 2 * ref["sd"], ref["mean"] + 2 * ref["sd"]
            ax.fill_between([start, end], [lo, lo], [hi, hi], color="#31a354", alpha=0.15,
                            label="reference mean ±2 sd" if first else None)
            ax.hlines(ref["mean"], start, end, colors="#31a354", linewidth=1.2)
        elif ref.get("rate") is not None:
            ax.hlines(ref["rate"], max(start, 0), end, colors="#31a354", linewidth=1.5,
                      linestyles="dotted", label="reference rate" if first else None)
        for j, (cat, share) in enumerate(ref.get("shares", {}).items()):
            if cat in curves:
                ax.hlines(share, max(start, 0), end, colors=_COLOURS[j % len(_COLOURS)],
                          linestyles="dotted", linewidth=1.2)
        ax.axvline(a["onset"]["position"], color="#e6550d", linestyle="--", linewidth=1.2,
                   label="estimated onset" if first else None)
        ax.axvline(end, color="#a50f15", linewidth=1.6, label="detection" if first else None)
        ax.annotate(a["detector"], (end, 1.0), xycoords=("data", "axes fraction"),
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

"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "cpu_model", "git_revision", "package_version", "produce_each"]

ROOT = Path(__file__).resolve().parent.parent


def git_revision() -> str:
    """Short commit of the checkout, flagged when the tree has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev} (with uncommitted changes)" if dirty else rev


def package_version(dist: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (for the machine notes of a results file)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def produce_each(producer: Any, topic: str, events: Iterable[tuple[bytes, bytes]],
                 on_delivery: Callable[[Any, Any], None]) -> None:
    """Produce (key, value) pairs, waiting for deliveries whenever the local queue is full."""
    for key, value in events:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)

"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["ROOT", "git_revision", "package_version"]

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

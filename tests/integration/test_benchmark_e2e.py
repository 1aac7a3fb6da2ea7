"""benchmarks/e2e.py --quick end to end, so that the benchmark cannot silently rot.

The benchmark starts its own broker, workers and consumers. Nothing here looks at
speed: only that every part ran and reported (PASS or FAIL alike), and that a quick
run writes no results file.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.integration

RESULTS = REPO / "benchmarks" / "results" / "e2e.md"


def test_quick_run_reports_every_part_and_writes_nothing() -> None:
    before = RESULTS.stat().st_mtime_ns if RESULTS.exists() else None
    proc = subprocess.run(
        [sys.executable, "benchmarks/e2e.py", "--quick"], cwd=REPO, capture_output=True,
        text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = proc.stdout
    verdicts = re.findall(r"^- \*\*(PASS|FAIL)\*\* ", report, flags=re.MULTILINE)
    assert len(verdicts) == 4, report  # throughput, share of raw, latency, state
    for section in ("## Throughput sweep", "## Event -> alert latency", "## State",
                    "## Raw figures of every run"):
        assert section in report
    row = next(line for line in report.splitlines() if line.startswith("| 10 | 6 | 150,000 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(c not in ("", "n/a") for c in cells[4:5] + cells[6:]), row
    assert "alerts: p50" in report and "failure" not in report
    assert (RESULTS.stat().st_mtime_ns if RESULTS.exists() else None) == before

"""benchmarks/realdata.py --quick end to end (two short real series), and its scoring.

The quick run goes through the real CLI (``streamproc backtest --stdin``) and River;
nothing here looks at speed or at who wins, only that every detector was run and
scored on the expected rows, and that the scores are the ones their definitions give.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from realdata_corpus import Series, load_corpus  # noqa: E402
from realdata_scoring import _p_hit, f1_tcpd, incident_windows, score_series  # noqa: E402

DETECTORS = ("streamproc", "River ADWIN", "River PageHinkley", "River KSWIN")


def test_quick_run_reports_every_detector_on_both_series(tmp_path: Path) -> None:
    report_file = tmp_path / "realdata.md"
    proc = subprocess.run(
        [sys.executable, "benchmarks/realdata.py", "--quick", "--output", str(report_file)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = report_file.read_text()
    assert report in proc.stdout
    for det in DETECTORS:
        assert re.search(rf"^\| \*\*total\*\* \| 2 \| {det} \| 3 \| 3 \| \d+ \(\d+%\) \|",
                         report, flags=re.MULTILINE), det
    assert re.search(r"^\*\*(PASS|FAIL)\*\*: streamproc caught - chance ", report,
                     flags=re.MULTILINE)
    # uk coal: 5 annotated changes, 3 of whose windows end inside the 64-value reference.
    assert re.search(r"^\| tcpd_ukcoalemploy \| economy & society \| 105 \| 64 \| 2 \(3\) \|",
                     report, flags=re.MULTILINE)
    assert re.search(r"^\| seatbelts_front \| transport & demand \| 192 \| 64 \| 1 \(0\) \|",
                     report, flags=re.MULTILINE)
    # The zero baseline's F1 follows from the annotations alone.
    corpus = {s.name: s for s in load_corpus()}
    zero = sum(f1_tcpd(corpus[n].annotations, []) for n in
               ("tcpd_ukcoalemploy", "seatbelts_front")) / 2
    assert f"| zero (no change) | {zero:.3f} | - |" in report
    assert "Not run (`--quick`" in report


def test_corpus_has_thirty_six_series_from_six_domains_with_changes() -> None:
    corpus = load_corpus()
    assert len(corpus) == 36
    assert len({s.domain for s in corpus}) == 6
    assert all(s.change_points for s in corpus)
    by_name = {s.name: s for s in corpus}
    # NAB's windows (labels/combined_windows.json) mapped onto the rows of its CSV.
    machine = by_name["nab_machine_temperature_system_failure"]
    assert (machine.n, machine.domain) == (22_695, "sensors")
    assert machine.change_points == [2126, 3703, 16057, 19232]
    assert machine.ends == [2692, 4269, 16623, 19798]
    asg = by_name["nab_cpu_utilization_asg_misconfiguration"]
    assert (asg.n, asg.domain, asg.change_points, asg.ends) == (
        18_050, "cloud operations", [16551], [18049])
    # TCPD's sampling rebuilt from River's daily rows: Apple's 2000-09-29 drop at 319.
    apple = by_name["tcpd_apple_close"].values
    assert apple[319] < 0.6 * apple[318]
    assert by_name["seatbelts_front"].change_points == [169]  # February 1983


def test_tcpd_f1_matches_tcpds_own_examples() -> None:
    assert f1_tcpd({"1": [10, 20], "2": [11, 20], "3": [10], "4": [0, 5]}, [10, 20]) == 1.0
    assert f1_tcpd({"1": [], "2": [10], "3": [50]}, [10]) == pytest.approx(0.9090909090909091)
    assert f1_tcpd({"1": [], "2": [10], "3": [50]}, []) == pytest.approx(0.8)


@pytest.mark.parametrize(("n", "w", "alarms"), [(12, 3, 2), (10, 1, 4), (9, 4, 6), (8, 2, 7)])
def test_chance_is_the_exact_share_of_random_alarm_sets_that_hit(n: int, w: int,
                                                                  alarms: int) -> None:
    sets = list(itertools.combinations(range(n), alarms))
    hits = sum(1 for c in sets if any(x < w for x in c))
    assert _p_hit(n, w, alarms) == pytest.approx(hits / len(sets))


def test_scores_count_only_after_the_reference_and_outside_the_windows() -> None:
    import numpy as np

    s = Series("toy", "test", "test", np.zeros(200), [30, 120], {"a": [30, 120]})
    assert incident_windows(s) == [(25, 40), (115, 130)]  # 10% of 200 over 2, after +5
    sc = score_series(s, [10, 35, 60, 125, 126, 190], start=64)
    assert (sc.incidents, sc.in_reference, sc.caught) == (1, 1, 1)
    assert (sc.alarms, sc.false_alarms, sc.quiet_positions) == (3, 1, 136 - 16)

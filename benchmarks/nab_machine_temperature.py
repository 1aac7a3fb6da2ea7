"""Issue 19's machine-temperature check on NAB's real series, through the public CLI.

Why this exists: the issue's case is NAB's ``machine_temperature_system_failure``
(an industrial machine's temperature sensor, 22,695 readings every 5 minutes, four
labelled anomaly windows before a known failure). Three questions, each answered by
``python -m streamproc backtest --stdin --reference-size N`` as a user would run it
(one value per line in, ``<onset> <detected_at>`` out), with N the first 15% of the
series (3,404 readings):

* (a) the whole series: does it detect, at which rows, relative to NAB's windows;
* (b) the reference followed by the same readings (repeated to 5,000 events) shifted by
  -30: how many events after the shift until the first detection;
* (c) as (b), with the reference's readings shuffled (no time dependence left in it).

Run from the repository root::

    .venv/bin/python benchmarks/nab_machine_temperature.py   # writes results/...md
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from _common import git_revision  # noqa: E402
from realdata import backtest_stdin  # noqa: E402
from realdata_corpus import NAB_DIR, Series, load_corpus  # noqa: E402

__all__ = ["SERIES", "SHIFT", "SHIFT_EVENTS", "backtest", "main", "reference_size",
           "shifted_stream"]

SERIES = "nab_machine_temperature_system_failure"
REFERENCE_SHARE = 0.15  # the same first 15% as realdata.py uses
SHIFT = -30.0  # the shift, in the sensor's units (2.3 sd of the 15% reference)
SHIFT_EVENTS = 5_000  # the bound on the detection delay
SHUFFLE_SEED = 7  # the shuffled reference of (c), repeatable


def reference_size(n: int) -> int:
    return int(REFERENCE_SHARE * n)


backtest = backtest_stdin  # the real-data benchmark's own call of the CLI


def shifted_stream(values: np.ndarray, ref: int, shuffle_seed: int | None = None
                   ) -> np.ndarray:
    """The first ``ref`` readings (shuffled if a seed is given), then the same readings
    in their recorded order, repeated to SHIFT_EVENTS and shifted by SHIFT."""
    head = values[:ref]
    first = head if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(head)
    return np.concatenate([first, np.resize(head, SHIFT_EVENTS) + SHIFT])


def _times() -> list[str]:
    raw = gzip.decompress((NAB_DIR / "machine_temperature_system_failure.csv.gz").read_bytes())
    return [line.split(",")[0] for line in raw.decode().splitlines()[1:]]


def _whole_series(s: Series, ref: int) -> list[str]:
    onsets, hits, note = backtest(s.values, ref)
    times = _times()
    ends = s.ends or s.change_points
    wins = list(zip(s.change_points, ends, strict=True))
    lines = [f"Reference: rows 0-{ref - 1} ({times[0]} to {times[ref - 1]}). The CLI says: "
             f"\"{note}\"", "",
             f"{len(hits)} detections in all, {sum(h < ref for h in hits)} of them inside the "
             "first 15%.", "",
             "| NAB window | rows | first detection at or after its start | delay (rows) | "
             "detections inside the window |", "| --- | --- | --- | ---: | ---: |"]
    for k, (lo, hi) in enumerate(wins, 1):
        after = [h for h in hits if h >= lo]
        first = (f"row {after[0]} ({times[after[0]]})" if after else "none")
        delay = str(after[0] - lo) if after else "-"
        inside = sum(lo <= h <= hi for h in hits)
        where = " (inside the reference)" if hi < ref else ""
        lines.append(f"| {k}: {times[lo]} to {times[hi]}{where} | {lo}-{hi} | {first} | "
                     f"{delay} | {inside} |")
    outside = [h for h in hits if not any(lo <= h <= hi for lo, hi in wins)]
    lines += ["", f"Detections outside every NAB window: {len(outside)}."]
    rows = ", ".join(f"{h} ({times[h]}, onset {o})" for o, h in zip(onsets, hits, strict=True))
    lines += ["", f"Every detection (row, time, reported onset): {rows or 'none'}."]
    return lines


def _shift_case(s: Series, ref: int, label: str, seed: int | None) -> str:
    _, hits, _ = backtest(shifted_stream(s.values, ref, seed), ref)
    early = [h for h in hits if h < ref]
    late = [h for h in hits if h >= ref]
    verdict = (f"first detection {late[0] - ref} events after the shift "
               f"({'within' if late[0] - ref < SHIFT_EVENTS else 'beyond'} {SHIFT_EVENTS:,}); "
               f"{len(late)} detections after it" if late else
               f"no detection in the {SHIFT_EVENTS:,} shifted events")
    how = "as recorded" if seed is None else f"shuffled (seed {seed})"
    return f"- ({label}) reference {how}: {verdict}; {len(early)} detections before the shift."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", type=Path, default=HERE / "results" / "nab_machine_temperature.md",
                    help="report file (default benchmarks/results/nab_machine_temperature.md)")
    args = ap.parse_args(argv)
    s = next(x for x in load_corpus() if x.name == SERIES)
    ref = reference_size(s.n)
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python benchmarks/nab_machine_temperature.py", *given])
    out = ["# NAB machine temperature: streamproc backtest (issue 19)", "",
           f"Command: `{command}`  ",
           f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; streamproc "
           f"{git_revision()}  ",
           f"Series: {s.source}, {s.n:,} readings; reference {ref:,} (15%); through "
           "`python -m streamproc backtest --stdin --reference-size "
           f"{ref}` (origin: `benchmarks/data/realdata/README.md`).", "",
           "## (a) The whole series", ""]
    out += _whole_series(s, ref)
    out += ["", f"## (b), (c) The reference, then its readings shifted by {SHIFT:+.0f}", "",
            f"The shifted part is the reference's readings in recorded order, repeated to "
            f"{SHIFT_EVENTS:,} events, plus {SHIFT:+.0f} (the reference's sd is "
            f"{float(np.std(s.values[:ref])):.2f}).", "",
            _shift_case(s, ref, "b", None), _shift_case(s, ref, "c", SHUFFLE_SEED)]
    text = "\n".join(out) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

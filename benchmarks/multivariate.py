"""Joint-drift benchmark: correlation changes with unchanged marginals, and the budget.

Why this exists: ``streamproc.core.multivariate_draft`` claims to catch changes of how
a model's numeric features move together, which per-feature monitors cannot see, at a
false-alarm budget that holds on independent and on autocorrelated streams. Seeded
Gaussian streams, N(0, 1) marginals throughout:

* ``flip_d2``: d = 2, correlation 0.985 -> -0.985;
* ``pair_d5``: d = 5, equicorrelated 0.5; then features 0 and 1 correlate -0.5 and
  decouple from the other three (an equicorrelated 0.5 matrix with only that pair at
  -0.5 has an eigenvalue of -0.19: it is no correlation matrix);
* ``decouple_d5``: d = 5, equicorrelated 0.5 -> independent;
* ``decouple_d10``: d = 10, equicorrelated 0.3 -> independent.

Each change stream: a reference of 5,000 events, 5,000 more, the change, 3,000 after
(no detection in them: a miss). Stable streams (i.i.d. and AR(1) phi = 0.6 per feature
with the same cross-correlation) measure events between false alarms at a budget of
20,000, with the default normal-score marginals, and for d = 2 also with ``marginals=
"linear"``. streamproc's per-feature NumericMonitor runs beside on every change stream.

Run from the repository root (needs ``pip install -e '.[bench]'``)::

    .venv/bin/python benchmarks/multivariate.py           # ~12 min on 2 cores
    .venv/bin/python benchmarks/multivariate.py --quick   # 5 repetitions, no file
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _common import git_revision, package_version  # noqa: E402

from streamproc.core.multivariate_draft import JointDriftMonitor  # noqa: E402
from streamproc.core.numeric import NumericMonitor  # noqa: E402
from streamproc.core.settings import MonitorSettings  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "multivariate.md"
SEED = 20261208
REFERENCE = 5000
BEFORE = 5000
AFTER = 3000
BUDGET = 20_000.0
STABLE_EVENTS = 60_000


def equi(d: int, rho: float) -> np.ndarray:
    r = np.full((d, d), rho)
    np.fill_diagonal(r, 1.0)
    return r


def pair_after() -> np.ndarray:
    r = equi(5, 0.5)
    r[0, 2:] = r[2:, 0] = r[1, 2:] = r[2:, 1] = 0.0
    r[0, 1] = r[1, 0] = -0.5
    return r


SCENARIOS = {
    "flip_d2": (equi(2, 0.985), equi(2, -0.985), (3, 10)),
    "pair_d5": (equi(5, 0.5), pair_after(), (40, 80)),
    "decouple_d5": (equi(5, 0.5), np.eye(5), (100, 250)),
    "decouple_d10": (equi(10, 0.3), np.eye(10), (300, 600)),
}
STABLE = {f"{kind}_d{d}": (d, phi, "normal") for d in (2, 5, 10)
          for kind, phi in (("iid", 0.0), ("ar06", 0.6))}
# d = 2 at 0.985 again with the marginals standardised linearly (no quantile sketch).
STABLE.update({"iid_d2_linear": (2, 0.0, "linear"), "ar06_d2_linear": (2, 0.6, "linear")})


def gaussian(rng: np.random.Generator, r: np.ndarray, n: int, phi: float = 0.0) -> np.ndarray:
    """N(0, r) rows; with ``phi``, each feature AR(1) with that coefficient (the marginal
    correlation stays r: x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t, e_t ~ N(0, r))."""
    e = rng.normal(size=(n, len(r))) @ np.linalg.cholesky(r).T
    if phi == 0.0:
        return e
    x = np.empty_like(e)
    x[0] = e[0]
    scale = np.sqrt(1.0 - phi * phi)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + scale * e[t]
    return x


def run_change(task: tuple[str, int]) -> dict:
    key, rep = task
    r0, r1, _ = SCENARIOS[key]
    rng = np.random.default_rng([SEED, list(SCENARIOS).index(key), rep])
    x = np.vstack([gaussian(rng, r0, REFERENCE + BEFORE), gaussian(rng, r1, AFTER)])
    change = REFERENCE + BEFORE
    names = [f"x{i}" for i in range(len(r0))]
    mon = JointDriftMonitor(names, reference_size=REFERENCE, arl_events=BUDGET)
    t0 = time.process_time()
    alerts = []
    for a in range(0, len(x), 1000):  # batches, as a worker feeds them
        alerts += mon.update(x[a:a + 1000], np.arange(a, min(a + 1000, len(x))))
    cpu = time.process_time() - t0
    before = [a for a in alerts if a.position < change]
    after = [a for a in alerts if a.position >= change]
    first = after[0] if after else None
    per_feature = 0
    for j in range(len(r0)):  # streamproc's NumericMonitor on each feature
        nm = NumericMonitor(MonitorSettings(), "feature", names[j])
        nm.calibrate(BUDGET * len(r0) * 4)
        pos = np.arange(len(x))
        if any(d.position >= change for d in nm.update(x[:, j], pos, pos * 1.0)):
            per_feature += 1
    return {"key": key, "rep": rep, "before": len(before),
            "delay": None if first is None else first.position - change,
            "pair": None if first is None else first.statistics.get("pair"),
            "per_feature": per_feature, "cpu": cpu, "events": len(x) - REFERENCE}


def run_stable(task: tuple[str, int, int]) -> dict:
    key, rep, events = task
    d, phi, marginals = STABLE[key]
    rho = {2: 0.985, 5: 0.5, 10: 0.3}[d]
    rng = np.random.default_rng([SEED, 100 + list(STABLE).index(key), rep])
    x = gaussian(rng, equi(d, rho), REFERENCE + events, phi)
    mon = JointDriftMonitor([f"x{i}" for i in range(d)], reference_size=REFERENCE,
                            arl_events=BUDGET, marginals=marginals)
    alarms = 0
    for a in range(0, len(x), 5000):
        alarms += len(mon.update(x[a:a + 5000]))
    return {"key": key, "alarms": alarms, "events": events,
            "var": mon.ref is not None and mon.ref.var is not None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 repetitions, no file written")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = ap.parse_args()
    reps = 5 if args.quick else args.reps
    t0 = time.time()
    lines: list[str] = []
    verdicts: list[tuple[str, bool]] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("# Joint-drift benchmark: correlation changes with unchanged marginals")
    say()
    say(__doc__.split("\n\n")[1].replace("\n", " "))
    say()
    say(f"- Command: `python benchmarks/multivariate.py{' --quick' if args.quick else ''}`")
    say(f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    say(f"- Versions: streamproc {package_version('streamproc')} (git {git_revision()}), "
        f"numpy {np.__version__}, Python {platform.python_version()} on {platform.machine()}")
    say(f"- Repetitions: {reps} per scenario; seeds `numpy.random.default_rng([{SEED}, "
        "scenario, repetition])`; budget 20,000 events between false alarms")
    say()
    with multiprocessing.Pool(args.processes) as pool:
        changes = pool.map(run_change, [(k, r) for k in SCENARIOS for r in range(reps)])
        stables = pool.map(run_stable, [(k, r, STABLE_EVENTS) for k in STABLE
                                        for r in range(reps)])
    say("## Changes: delay of the first detection (events after the change)")
    say()
    say("| scenario | median | p95 | max | misses | false alarms before (in "
        f"{BEFORE:,} x reps) | pair named (most common) | per-feature NumericMonitors "
        "that detected | CPU us/event |")
    say("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for key, (_, _, (t_med, t_p95)) in SCENARIOS.items():
        rows = [c for c in changes if c["key"] == key]
        delays = np.array([c["delay"] if c["delay"] is not None else AFTER for c in rows])
        misses = sum(c["delay"] is None for c in rows)
        med, p95 = float(np.median(delays)), float(np.percentile(delays, 95))
        pairs = [tuple(c["pair"]) for c in rows if c["pair"]]
        common = max(set(pairs), key=pairs.count) if pairs else None
        share = pairs.count(common) if common else 0
        cpu = sum(c["cpu"] for c in rows) / sum(c["events"] for c in rows) * 1e6
        say(f"| {key} | {med:.0f} | {p95:.0f} | {delays.max():.0f} | {misses} | "
            f"{sum(c['before'] for c in rows)} | {'-'.join(common) if common else '-'} "
            f"({share}/{len(rows)}) | {sum(c['per_feature'] for c in rows)} of "
            f"{len(rows) * len(SCENARIOS[key][0])} | {cpu:.0f} |")
        verdicts.append((f"{key}: median {med:.0f} <= {t_med}, p95 {p95:.0f} <= {t_p95}",
                         med <= t_med and p95 <= t_p95 and misses == 0))
    say()
    say(f"## Stable streams: events between false alarms (budget {BUDGET:,.0f})")
    say()
    say("| stream | monitored events | false alarms | events between false alarms | "
        "x budget | VAR(1) prewhitening kept |")
    say("|---|---:|---:|---:|---:|---:|")
    for key in STABLE:
        rows = [s for s in stables if s["key"] == key]
        n = sum(s["events"] for s in rows)
        alarms = sum(s["alarms"] for s in rows)
        between = n / alarms if alarms else float("inf")
        ratio = between / BUDGET
        say(f"| {key} | {n:,} | {alarms} | {between:,.0f} | {ratio:.2f} | "
            f"{sum(s['var'] for s in rows)}/{len(rows)} |")
        verdicts.append((f"{key}: {ratio:.2f} x budget within 0.7-1.5", 0.7 <= ratio <= 1.5))
    say()
    say("## Targets")
    say()
    for text, ok in verdicts:
        say(f"- {'PASS' if ok else 'FAIL'}: {text}")
    say()
    say(f"Wall time {time.time() - t0:.0f} s on {args.processes} processes "
        f"({os.cpu_count()} cores).")
    if not args.quick:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

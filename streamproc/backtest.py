"""``streamproc backtest``: the worker's detection core, offline, on a file or a pipe.

File mode reads a CSV or Parquet file (one row per event), feeds every column to
the same monitors the worker runs, prints the detections as a table, writes them
as JSON (the drift-alert format) and draws one PNG per drifted signal.

Pipe mode (``--stdin``) reads one number per line and prints one line per
detection, ``<onset> <detected_at>`` (0-based line positions), as soon as it is
found: the default numeric monitor with the default budget.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .backtest_scores import score_columns, scores_of
from .core import Detection, ModelMonitor, NumericMonitor, Outcome, make_alert, parse_timestamp
from .errors import ConfigError
from .series import Curves, track

__all__ = ["add_arguments", "run_backtest", "run_stdin"]

_CHUNK = 20_000
_MISSING = {"", "na", "nan", "null", "none", "n/a"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="CSV or Parquet file, one row per event")
    p.add_argument("--stdin", action="store_true",
                   help="read one number per line from stdin; print '<onset> <detected_at>'")
    p.add_argument("--reference-size", type=int, help="reference window (default 2000)")
    p.add_argument("--config", help="YAML or TOML settings file (its detection settings apply)")
    p.add_argument("--model-id", default="model", help="model id reported (default 'model')")
    p.add_argument("--model-column", help="column holding the model id (one monitor set each)")
    p.add_argument("--version-column", help="column holding the model version")
    p.add_argument("--timestamp-column",
                   help="column of event times (epoch seconds or RFC 3339; default: 'timestamp' "
                   "if present, else row numbers)")
    p.add_argument("--columns", help="comma-separated feature columns (default: all others)")
    p.add_argument("--exclude", help="comma-separated columns to skip")
    p.add_argument("--prediction-column", help="column monitored as the model's prediction")
    p.add_argument("--label-column", help="column of labels, joined row by row to predictions")
    p.add_argument("--score-columns",
                   help="class scores of a classifier as CLASS=COLUMN pairs, e.g. "
                   "'1=proba,0=1-proba' (1-COLUMN: one minus it): estimated performance and "
                   "its drop test, and with --label-column the calibration check")
    p.add_argument("--output", default="backtest-output",
                   help="directory for detections.json and plots (default ./backtest-output)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def _detection_settings(args: argparse.Namespace) -> Any:
    from .config import load_settings

    overrides: dict[str, Any] = {}
    settings = load_settings(getattr(args, "config", None))
    if args.reference_size is not None:
        overrides["detection"] = settings.detection.model_copy(
            update={"reference_size": args.reference_size}
        )
        settings = settings.model_copy(update=overrides)
    try:
        return settings.detection_config()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_backtest(args: argparse.Namespace) -> int:
    if args.stdin:
        if args.file:
            raise ConfigError("give either FILE or --stdin, not both")
        return run_stdin(args)
    if not args.file:
        raise ConfigError("give a CSV or Parquet FILE, or --stdin to read numbers from a pipe")
    return _run_file(args)


# -- pipe mode ----------------------------------------------------------------------------
def _stdin_chunks(stream: Any) -> Iterator[tuple[int, np.ndarray]]:
    start = 0
    while True:
        lines = stream.readlines(1 << 20)
        if not lines:
            return
        try:
            values = np.array([ln.strip() or "nan" for ln in lines], dtype=np.float64)
        except ValueError:
            for k, ln in enumerate(lines):
                text = ln.strip()
                if text.lower() in _MISSING:
                    continue
                try:
                    float(text)
                except ValueError:
                    raise ConfigError(
                        f"line {start + k + 1} of stdin is {text[:40]!r}, not a number; send one "
                        "number per line (blank or 'nan' for a missing value)"
                    ) from None
            values = np.array(
                [float(t) if t.lower() not in _MISSING else np.nan
                 for t in (ln.strip() for ln in lines)],
                dtype=np.float64,
            )
        yield start, values
        start += len(values)


def run_stdin(args: argparse.Namespace) -> int:
    config = _detection_settings(args)
    settings = config.default
    monitor = NumericMonitor(settings, "feature", "stdin")
    n_det = monitor.n_detectors
    monitor.calibrate(settings.budget.detector_events(n_det, n_det))
    out = sys.stdout
    seen = 0
    for start, values in _stdin_chunks(sys.stdin):
        ok = np.isfinite(values)
        pos = np.flatnonzero(ok) + start
        seen = start + len(values)
        for d in monitor.update(values[ok], pos, pos.astype(np.float64)):
            out.write(f"{d.onset_position} {d.position}\n")
        out.flush()
    since = monitor.detectable_from
    if since is None:
        print(f"stdin: never completed its first reference ({monitor.observations:,} values; "
              f"it needs {settings.reference_size // 2:,}-{settings.reference_size:,}): "
              "nothing was tested", file=sys.stderr)
    else:
        print(f"stdin: tested values {since:,} to {seen - 1:,} (before {since:,}: learning "
              f"its reference); reference stage at the end: {monitor.stage}",
              file=sys.stderr)
    return 0


# -- file mode ----------------------------------------------------------------------------
def _read_rows(path: Path) -> tuple[list[str], Iterator[list[dict[str, Any]]], int]:
    """Column names, an iterator of row chunks (dicts of parsed values), the row count."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(
                "reading Parquet needs pyarrow: pip install 'streamproc[parquet]'"
            ) from None
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names

        def parquet_chunks() -> Iterator[list[dict[str, Any]]]:
            for batch in pf.iter_batches(batch_size=_CHUNK):
                yield batch.to_pylist()

        return names, parquet_chunks(), pf.metadata.num_rows
    rows = -1  # the header
    with path.open("rb") as raw:
        while block := raw.read(1 << 22):
            rows += block.count(b"\n")
    handle = path.open(newline="", encoding="utf-8")
    reader = csv.reader(handle)
    try:
        names = next(reader)
    except StopIteration:
        handle.close()
        raise ConfigError(f"{path} is empty; a header row of column names is expected") from None
    except UnicodeDecodeError:
        handle.close()
        raise ConfigError(f"{path} is not UTF-8 text; give a UTF-8 CSV or a Parquet file") from None

    def csv_chunks() -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        with handle:
            for row in reader:
                chunk.append({n: _parse_cell(v) for n, v in zip(names, row, strict=False)})
                if len(chunk) >= _CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    return names, csv_chunks(), max(rows, 1)


def _parse_cell(text: str) -> Any:
    if text.strip().lower() in _MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text
    if value.is_integer() and "." not in text and "e" not in text.lower():
        return int(value)
    return value


def _run_file(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; give a CSV or Parquet file")
    config = _detection_settings(args)
    names, chunks, total = _read_rows(path)
    ts_col = args.timestamp_column or ("timestamp" if "timestamp" in names else None)
    args.scores = score_columns(args.score_columns)
    special = {c for c in (args.model_column, args.version_column, ts_col,
                           args.prediction_column, args.label_column) if c}
    special |= {col for col, _ in args.scores.values()}
    missing = [c for c in special if c not in names]
    if missing:
        raise ConfigError(f"column(s) {', '.join(missing)} not in {path} (columns: "
                          f"{', '.join(names[:20])})")
    chosen = [c.strip() for c in args.columns.split(",")] if args.columns else None
    excluded = {c.strip() for c in args.exclude.split(",")} if args.exclude else set()
    if chosen:
        unknown = [c for c in chosen if c not in names]
        if unknown:
            raise ConfigError(f"--columns names unknown column(s): {', '.join(unknown)}")
    features = [c for c in (chosen or names) if c not in special and c not in excluded]
    monitors: dict[tuple[str, str], ModelMonitor] = {}
    series: dict[tuple[str, str, str], Curves] = {}
    found: list[tuple[ModelMonitor, Detection]] = []
    rows_done = 0
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(TextColumn("[bold]backtest[/] {task.description}"), BarColumn(),
                  TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(path.name, total=total, rows=0)
        for chunk in chunks:
            groups: dict[tuple[str, str], list[int]] = {}
            for i, row in enumerate(chunk):
                mid = str(row.get(args.model_column) or args.model_id) if args.model_column \
                    else args.model_id
                ver = str(row.get(args.version_column) or "1") if args.version_column else "1"
                groups.setdefault((mid, ver), []).append(i)
            for (mid, ver), idx in groups.items():
                mm = monitors.get((mid, ver))
                if mm is None:
                    mm = monitors[(mid, ver)] = ModelMonitor(
                        config.settings_for(mid), mid, ver, config.max_features,
                        config.task_for(mid),
                    )
                found += _feed(mm, [chunk[i] for i in idx], rows_done, np.asarray(idx),
                               features, ts_col, args, series)
            rows_done += len(chunk)
            progress.update(task, advance=len(chunk), rows=rows_done)
    elapsed = time.perf_counter() - started
    return _report(found, monitors, series, rows_done, elapsed, args, console)


def _feed(
    mm: ModelMonitor, rows: list[dict[str, Any]], base_row: int, idx: np.ndarray,
    features: list[str], ts_col: str | None, args: argparse.Namespace,
    series: dict[tuple[str, str, str], Curves],
) -> list[tuple[ModelMonitor, Detection]]:
    n = len(rows)
    file_rows = base_row + idx
    if ts_col:
        ts = np.array([parse_timestamp(r.get(ts_col)) or np.nan for r in rows], dtype=np.float64)
        ts = np.where(np.isfinite(ts), ts, file_rows.astype(np.float64))
    else:
        ts = file_rows.astype(np.float64)
    out: list[tuple[ModelMonitor, Detection]] = []
    base = mm.n_feature_events
    feats = [{c: r.get(c) for c in features} for r in rows]
    out += [(mm, d) for d in mm.observe_features(feats, ts, file_rows)]
    pos = np.arange(base, base + n)
    for c in features:
        track(series, (mm.model_id, "feature", c), pos, [f.get(c) for f in feats])
    if not args.prediction_column:
        return out
    preds = [r.get(args.prediction_column) for r in rows]
    keep = [i for i, p in enumerate(preds) if p is not None]
    if keep:
        kept = np.asarray(keep)
        base = mm.n_prediction_events
        scores = [scores_of(rows[i], args.scores) for i in keep]
        out += [(mm, d) for d in mm.observe_predictions(
            [preds[i] for i in keep], scores, ts[kept], file_rows[kept])]
        track(series, (mm.model_id, "prediction", "prediction"),
               np.arange(base, base + len(keep)), [preds[i] for i in keep])
    if args.label_column:
        outcomes, orows = [], []
        for i, r in enumerate(rows):
            p, lab = r.get(args.prediction_column), r.get(args.label_column)
            if p is not None and lab is not None:
                outcomes.append(Outcome(str(file_rows[i]), mm.model_version, p, lab, ts[i],
                                        scores_of(r, args.scores)))
                orows.append(int(file_rows[i]))
        base = mm.n_outcomes
        out += [(mm, d) for d in mm.observe_outcomes(outcomes, np.asarray(orows))]
        regression = mm.task_kind == "regression"
        errors = [o.error(regression) for o in outcomes]
        name = "abs_error" if regression else "error_rate"
        track(series, (mm.model_id, "performance", name),
               np.arange(base, base + len(outcomes)), errors, "value" if regression else "rate")
    return out


def _coverage(monitors: dict[tuple[str, str], ModelMonitor]) -> list[dict[str, Any]]:
    """What each monitor could test: its stage at the end and the first position (in
    its model version's events) it tested, None if it never completed a reference."""
    return [{"model_id": mm.model_id, "model_version": mm.model_version,
             "signal": v.signal, "name": v.name, "stage": v.stage,
             "detectable_from": v.detectable_from, "observations": v.observations,
             "reference_size": mm.settings.reference_size}
            for mm in monitors.values() for v in mm.monitor_views()]


def _monitor_name(c: dict[str, Any], many: bool) -> str:
    name = f"{c['signal']} {c['name']}"
    return f"{c['model_id']} {name}" if many else name


def _report(
    found: list[tuple[ModelMonitor, Detection]], monitors: dict[tuple[str, str], ModelMonitor],
    series: dict[tuple[str, str, str], Curves], rows: int, elapsed: float,
    args: argparse.Namespace, console: Console,
) -> int:
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    alerts = []
    many = len({mid for mid, _ in monitors}) > 1
    table = Table("signal", "detector", "onset", "detected", "severity", "what changed",
                  title=f"Detections in {args.file} (positions are rows of the model's events)")
    for mm, d in sorted(found, key=lambda t: (t[1].timestamp, t[1].position)):
        alert = make_alert(d, mm.model_id, mm.model_version, str(args.file), 0, d.source_row,
                           time.time())
        alert["suppressed"] = d.suppressed
        alerts.append(alert)
        if d.suppressed:
            continue
        name = f"{d.signal}:{d.feature}" if d.feature else d.signal
        table.add_row(f"{mm.model_id} {name}" if many else name, d.detector,
                      str(d.onset_position), str(d.position), d.severity, d.description)
    json_path = out_dir / "detections.json"
    json_path.write_bytes(orjson.dumps(alerts, option=orjson.OPT_INDENT_2))
    n_shown = sum(1 for a in alerts if not a["suppressed"])
    # Piped output (CI logs, files) gets a table wide enough to read.
    shown = Console(width=None if sys.stdout.isatty() else 120)
    coverage = _coverage(monitors)
    (out_dir / "monitors.json").write_bytes(orjson.dumps(coverage, option=orjson.OPT_INDENT_2))
    if n_shown:
        shown.print(table)
    blind = [c for c in coverage if c["detectable_from"] is None]
    starts = [c["detectable_from"] for c in coverage if c["detectable_from"] is not None]
    if not n_shown and starts:
        shown.print(f"No drift detected from row {min(starts):,} of the model's events on "
                    "(before it, the monitors were learning their references).")
    elif not n_shown:
        shown.print(f"Nothing could be tested in {rows:,} rows: every monitor was still "
                    "learning its reference (see below).")
    for c in blind:
        shown.print(f"  {_monitor_name(c, many)}: never completed its first reference "
                    f"({c['observations']:,} values; it needs "
                    f"{c['reference_size'] // 2:,}-{c['reference_size']:,}): not tested.")
    late = [c for c in coverage if c["detectable_from"] is not None
            and c["detectable_from"] > min(starts)]
    for c in late:
        shown.print(f"  {_monitor_name(c, many)}: could detect from row "
                    f"{c['detectable_from']:,} on.")
    plots: list[Path] = []
    if not args.no_plots and n_shown:
        from .plots import plot_signal

        by_signal: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for a in alerts:
            if not a["suppressed"]:
                name = a["feature"] or ("error_rate" if a["signal"] == "performance"
                                        else a["signal"])
                by_signal.setdefault((a["model_id"], a["signal"], name), []).append(a)
        for (model_id, signal, name), items in by_signal.items():
            kind = "feature" if signal == "data_quality" else signal
            curves = series.get((model_id, kind, name), {})
            plots.append(plot_signal(out_dir, (model_id, signal, name), curves, items))
    rate = rows / elapsed if elapsed > 0 else math.inf
    shown.print(
        f"{rows:,} rows, {len(monitors)} model version(s), {n_shown} detection(s) in "
        f"{elapsed:.1f}s ({rate:,.0f} rows/s). JSON: {json_path}, {out_dir / 'monitors.json'}"
        + (f"; plots: {', '.join(str(p) for p in plots)}" if plots else "")
    )
    return 0

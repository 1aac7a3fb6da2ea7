"""The real-data corpus of ``realdata.py``: public series with known change points or
labelled incidents, read from files that ship in registry packages (nothing is
downloaded at run time; ``data/realdata/README.md`` names each origin and licence).

* River (already a dependency) ships seven series of the Turing Change Point Dataset
  (TCPD, van den Burg & Williams 2020) with their annotators' change points in
  ``river.drift.datasets``. Two of them ship unsampled while their annotations index
  TCPD's sampled series, so ``_tcpd_rows`` rebuilds TCPD's sampling (apple: every 3rd
  row from the second; brent: every 10th row from the first, kept from 2000 on) and
  checks the lengths TCPD states (622 and 500 observations).
* ``data/realdata/series.csv.gz``: series exported from Debian's R packages (R's
  datasets, strucchange) and one series aeon ships from the UCR/KDD-2021 anomaly
  archive. Their change points are the ones their own documentation names: an
  indicator column of the source (the seat-belt law, the beavers' activity, Grossarl's
  policy regimes, the archive's anomaly label) or a documented date (``_EVENTS``).
* ``data/realdata/nab/``: six series of the Numenta Anomaly Benchmark (NAB, MIT), each
  file byte for byte NAB's CSV at the commit ``nab/windows.json`` names (checked by
  its SHA-256 here), with NAB's labelled anomaly windows as the incidents: a window's
  first row at or after its start is the onset, its last row at or before its end the
  incident's end.

A series' incidents are its change points (for TCPD: the clusters of annotations
that more than half of the annotators marked, within TCPD's margin of 5 of each
other); ``annotations`` keeps every annotator's points for TCPD's F1.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DATA_FILE", "MARGIN", "Series", "load_corpus"]

DATA_FILE = Path(__file__).resolve().parent / "data" / "realdata" / "series.csv.gz"
NAB_DIR = DATA_FILE.parent / "nab"
MARGIN = 5  # TCPD's margin: a detection within 5 positions of a change point matches it


@dataclass
class Series:
    """One real series, its domain, where it comes from, and its known changes."""

    name: str
    domain: str
    source: str
    values: np.ndarray
    change_points: list[int]  # incident onsets (0-based positions)
    annotations: dict[str, list[int]] = field(default_factory=dict)  # for TCPD's F1
    ends: list[int] | None = None  # labelled incident ends, where the source has them

    @property
    def n(self) -> int:
        return len(self.values)


# River's TCPD series: (class name, columns used, domain).
_RIVER = [
    ("AirlinePassengers", ["Total Passengers"], "transport & demand"),
    ("Apple", ["Close", "Volume"], "finance"),
    ("Bitcoin", ["price"], "finance"),
    ("BrentSpotPrice", ["DPB"], "finance"),
    ("Occupancy", ["V1", "V2", "V3", "V4"], "sensors"),
    ("RunLog", ["Pace", "Distance"], "sensors"),
    ("UKCoalEmploy", ["Employment"], "economy & society"),
]
_TCPD_LENGTH = {"Apple": 622, "BrentSpotPrice": 500}  # n_obs in TCPD's JSON files

# Series of series.csv.gz: name -> (domain, source, how its change points are known).
_R_SERIES = {
    "nile": ("environment", "R datasets::Nile", "event"),
    "seatbelts_DriversKilled": ("transport & demand", "R datasets::Seatbelts", "regime"),
    "seatbelts_drivers": ("transport & demand", "R datasets::Seatbelts", "regime"),
    "seatbelts_front": ("transport & demand", "R datasets::Seatbelts", "regime"),
    "seatbelts_VanKilled": ("transport & demand", "R datasets::Seatbelts", "regime"),
    "beaver1": ("sensors", "R datasets::beaver1", "regime"),
    "beaver2": ("sensors", "R datasets::beaver2", "regime"),
    "grossarl_fraction": ("economy & society", "R strucchange::Grossarl", "regime"),
    "grossarl_illegitimate": ("economy & society", "R strucchange::Grossarl", "regime"),
    "grossarl_marriages": ("economy & society", "R strucchange::Grossarl", "regime"),
    "germanm1_m": ("economy & society", "R strucchange::GermanM1", "event"),
    "kdd135_internal_bleeding": ("sensors", "aeon (UCR anomaly archive 135)", "window"),
    **{f"sp2001_{s}": ("finance", "R strucchange::SP2001", "event")
       for s in ("DAL", "LUV", "BA", "CCL", "MAR", "LMT")},
}
# Documented dates, as their help pages give them: the first observation at or after
# the date starts the new regime.
_EVENTS = {
    "nile": 1899.0,  # "with apparent changepoint near 1898" (Cobb 1978): 1899 on
    "germanm1_m": 1990.5,  # "German monetary unification on 1990-06-01": from 1990(3)
    "sp2001": "2001-09-12",  # "before and after the terrorist attacks of 2001-09-11"
}


def _clusters(annotations: dict[str, list[int]]) -> list[int]:
    """Change points more than half of the annotators marked (within MARGIN of each other).

    Points of all annotators are sorted and chained while neighbours are at most MARGIN
    apart; a cluster counts when more than half of the annotators have a point in it,
    and sits at the median of its points (rounded down).
    """
    points = sorted((p, who) for who, pts in annotations.items() for p in pts)
    groups: list[list[tuple[int, str]]] = []
    for p, who in points:
        if groups and p - groups[-1][-1][0] <= MARGIN:
            groups[-1].append((p, who))
        else:
            groups.append([(p, who)])
    need = len(annotations) / 2
    out = []
    for g in groups:
        if len({who for _, who in g}) > need:
            out.append(int(math.floor(float(np.median([p for p, _ in g])))))
    return out


def _tcpd_rows(name: str, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """River's rows of a TCPD series, sampled the way TCPD's own JSON file is."""
    if name == "Apple":
        rows = rows[1:][::3]
    elif name == "BrentSpotPrice":
        rows = rows[::10]
        first = next(i for i, r in enumerate(rows) if str(r["day"]).endswith("2000"))
        rows = rows[first:]
    want = _TCPD_LENGTH.get(name)
    if want is not None and len(rows) != want:
        raise RuntimeError(f"River's {name} gives {len(rows)} rows after TCPD's sampling, "
                           f"not TCPD's {want}: check the installed river version")
    return rows


def _river_series() -> list[Series]:
    from river.drift import datasets as cpd

    out = []
    for cls_name, columns, domain in _RIVER:
        ds = getattr(cpd, cls_name)()
        with open(ds.path, newline="") as fh:
            rows: list[dict[str, object]] = list(csv.DictReader(fh))
        rows = _tcpd_rows(cls_name, rows)
        ann = {str(k): [int(p) for p in v] for k, v in ds.annotations.items()}
        cps = _clusters(ann)
        for col in columns:
            values = np.array([float(r[col]) for r in rows])  # type: ignore[arg-type]
            suffix = f"_{col.lower().replace(' ', '_')}" if len(columns) > 1 else ""
            out.append(Series(f"tcpd_{cls_name.lower()}{suffix}", domain,
                              f"river.drift.datasets.{cls_name} (TCPD)", values, cps, ann))
    return out


def _file_series() -> list[Series]:
    by_name: dict[str, list[dict[str, str]]] = {}
    with gzip.open(DATA_FILE, "rt", newline="") as fh:
        for rec in csv.DictReader(fh):
            by_name.setdefault(rec["series"], []).append(rec)
    out = []
    for name, rows in by_name.items():
        domain, source, how = _R_SERIES[name]
        values = np.array([float(r["value"]) for r in rows])
        ends: list[int] | None = None
        if how == "regime":
            regime = [r["regime"] for r in rows]
            cps = [i for i in range(1, len(regime)) if regime[i] != regime[i - 1]]
        elif how == "window":
            flags = [r["regime"] == "1" for r in rows]
            cps = [i for i in range(len(flags)) if flags[i] and (i == 0 or not flags[i - 1])]
            ends = [i for i in range(len(flags))
                    if flags[i] and (i + 1 == len(flags) or not flags[i + 1])]
        else:
            when = _EVENTS.get(name, _EVENTS.get(name.split("_")[0]))
            times = [r["time"] for r in rows]
            if isinstance(when, float):
                cps = [next(i for i, t in enumerate(times) if float(t) >= when)]
            else:
                cps = [next(i for i, t in enumerate(times) if t >= str(when))]
        out.append(Series(name, domain, source, values, cps, {"documented": list(cps)}, ends))
    return out


# NAB's series: file in NAB's data/ folder -> domain.
_NAB = {
    "realKnownCause/machine_temperature_system_failure.csv": "sensors",
    "realKnownCause/ambient_temperature_system_failure.csv": "sensors",
    "realKnownCause/ec2_request_latency_system_failure.csv": "cloud operations",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv": "cloud operations",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv": "cloud operations",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv": "cloud operations",
}


def _nab_series() -> list[Series]:
    meta = json.loads((NAB_DIR / "windows.json").read_text())["series"]
    out = []
    for key, domain in _NAB.items():
        stem = key.split("/")[1].removesuffix(".csv")
        raw = gzip.decompress((NAB_DIR / f"{stem}.csv.gz").read_bytes())
        if hashlib.sha256(raw).hexdigest() != meta[key]["sha256"]:
            raise RuntimeError(f"{NAB_DIR / stem}.csv.gz is not NAB's {key} (its SHA-256 "
                               "differs from nab/windows.json): restore it from git")
        rows = list(csv.DictReader(raw.decode().splitlines()))
        times = [r["timestamp"] for r in rows]  # "YYYY-mm-dd HH:MM:SS": sorts as text
        cps, ends = [], []
        for lo, hi in meta[key]["windows"]:
            inside = [i for i, t in enumerate(times) if lo[:19] <= t <= hi[:19]]
            cps.append(inside[0])
            ends.append(inside[-1])
        values = np.array([float(r["value"]) for r in rows])
        out.append(Series(f"nab_{stem}", domain, f"NAB {key} @ {meta[key]['commit'][:7]}",
                          values, cps, {"NAB": list(cps)}, ends))
    return out


def load_corpus() -> list[Series]:
    """Every series of the corpus: River's TCPD series, the file series, then NAB's."""
    return _river_series() + _file_series() + _nab_series()

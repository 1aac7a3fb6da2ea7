"""Memory per model, to size ``max_models``: the RSS a partition's monitors add per model.

Feeds ``--models`` models of ``--features`` numeric features (seeded N(0, 1)) into one
:class:`~streamproc.core.PartitionMonitors`, in the worker's batch shape, and reads this
process's RSS (``/proc/self/status`` VmRSS) before and after: once while the models are
still learning their references (half of ``reference_size`` events each), once past
them (``reference_size`` + 500 events). Also the size of the partition's snapshot.

Usage (from the repository root)::

    .venv/bin/python benchmarks/model_memory.py [--models 200] [--features 10]
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from streamproc.core import DetectionConfig, PartitionMonitors  # noqa: E402
from streamproc.core.contracts import InputEvent  # noqa: E402
from streamproc.core.snapshot import encode  # noqa: E402

MB = 1024 * 1024


def rss() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def feed(pm: PartitionMonitors, models: int, features: int, start: int, stop: int,
         rng: np.random.Generator) -> None:
    """Events start..stop of every model, in batches of 500 events of one model (small
    batches: what is measured is the monitors, not the allocator's high-water mark of
    a large batch, which the README sizes separately)."""
    for lo in range(start, stop, 500):
        hi = min(stop, lo + 500)
        for m in range(models):
            offset = pm.absorbed("features") + 1
            values = rng.normal(size=(hi - lo, features))
            batch = [InputEvent("features", offset + i, f"model-{m}", "1", f"e{m}-{lo + i}",
                                1.7e9 + lo + i,
                                {"features": {f"f{k}": float(v)
                                              for k, v in enumerate(values[i])}})
                     for i in range(hi - lo)]
            pm.apply("features", "features", batch, 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--features", type=int, default=10)
    args = ap.parse_args()
    config = DetectionConfig(max_models=args.models)
    reference = config.default.reference_size
    rng = np.random.default_rng(1)
    feed(PartitionMonitors(config, 0), 1, args.features, 0, 500, rng)  # warm the allocator
    base = rss()
    pm = PartitionMonitors(config, 0)
    feed(pm, args.models, args.features, 0, reference // 2, rng)
    learning = rss() - base
    feed(pm, args.models, args.features, reference // 2, reference + 500, rng)
    past = rss() - base
    snapshot = len(encode(pm.to_state()))
    n = args.models
    print(f"{n} models x {args.features} numeric features, reference_size {reference}:")
    print(f"  learning (ref. half full): {learning / MB:7.1f} MB = "
          f"{learning / n / 1024:6.0f} KiB per model")
    print(f"  past the reference:        {past / MB:7.1f} MB = {past / n / 1024:6.0f} KiB per "
          f"model, {past / n / args.features / 1024:5.0f} KiB per feature")
    print(f"  snapshot: {snapshot / MB:.1f} MB ({snapshot / n / 1024:.0f} KiB per model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

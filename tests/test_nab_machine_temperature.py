"""Issue 19's machine-temperature case on NAB's real series, through the public CLI.

The reference is the series' first 15% (3,404 readings of a machine's temperature
sensor, NAB's ``machine_temperature_system_failure``); after it come the same readings
shifted by -30. A monitor that learns a dependent reference must still see that shift
within 5,000 events. Pure backtest, no broker.
"""

from __future__ import annotations

import sys

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from nab_machine_temperature import (  # noqa: E402
    SERIES,
    SHIFT,
    SHIFT_EVENTS,
    backtest,
    reference_size,
    shifted_stream,
)
from realdata_corpus import load_corpus  # noqa: E402


def test_a_minus_30_shift_after_the_real_reference_is_detected_within_5000_events() -> None:
    s = next(x for x in load_corpus() if x.name == SERIES)
    ref = reference_size(s.n)
    assert (s.n, ref, SHIFT, SHIFT_EVENTS) == (22_695, 3_404, -30.0, 5_000)
    stream = shifted_stream(s.values, ref)
    assert len(stream) == ref + SHIFT_EVENTS
    _, hits, _ = backtest(stream, ref)
    after = [h for h in hits if h >= ref]
    assert after, "no detection in the 5,000 shifted events"
    assert after[0] - ref < SHIFT_EVENTS

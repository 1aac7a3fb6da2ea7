"""The core raises streamproc's own errors, so callers catch those and nothing broader."""

from __future__ import annotations

import pytest

from streamproc.core import (
    DetectionConfig,
    InvalidSetting,
    InvalidState,
    MonitorSettings,
    PartitionMonitors,
)
from streamproc.errors import SnapshotError, StreamprocError


@pytest.mark.parametrize("state", [
    {"partition": 0, "offsets": {}, "models": [{"model_id": "m"}], "joins": {}},  # KeyError
    {"partition": "zero", "offsets": {}, "models": [], "joins": {}},  # ValueError
    {"partition": 0, "offsets": [1, 2], "models": [], "joins": {}},  # AttributeError
])
def test_malformed_state_is_one_snapshot_error(state: dict) -> None:
    with pytest.raises(InvalidState, match="malformed.*--reset-state") as info:
        PartitionMonitors.from_state(DetectionConfig(), state)
    assert isinstance(info.value, SnapshotError)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"block_size": 2}, "block_size must be between 4 and 1024, got 2"),
    ({"min_category_share": 0.7}, r"min_category_share must be in \(0, 0.5\), got 0.7"),
    ({"spread_target": 1.0}, "spread_target must exceed 1, got 1.0"),
    ({"target_shift": float("nan")}, "target_shift must be positive"),
    ({"reference_size": 100, "block_size": 32}, r"at least 4 blocks \(128\)"),
])
def test_bad_settings_name_the_setting_and_its_range(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message) as info:
        MonitorSettings(**kwargs)
    assert isinstance(info.value, StreamprocError) and isinstance(info.value, ValueError)

"""The command lines ``streamproc worker --processes N`` gives its processes."""

from __future__ import annotations

import sys

from streamproc.supervisor import child_command, restart_command


def test_each_process_gets_the_options_and_its_own_metrics_port() -> None:
    options = {"--broker": "k:9092", "--config": None, "--reset-state": True,
               "--log-level": "INFO", "--engine": None}
    assert child_command(options, 9464, 0) == [
        sys.executable, "-m", "streamproc", "worker", "--broker", "k:9092", "--reset-state",
        "--log-level", "INFO", "--metrics-port", "9464"]
    assert child_command(options, 9464, 3)[-2:] == ["--metrics-port", "9467"]
    assert child_command({"--reset-state": False}, 0, 3)[-2:] == ["--metrics-port", "0"]


def test_a_restarted_process_resumes_from_its_checkpoints() -> None:
    first = child_command({"--broker": "k:9092", "--reset-state": True}, 9464, 1)
    again = restart_command(first)
    assert "--reset-state" in first and "--reset-state" not in again
    assert again == [a for a in first if a != "--reset-state"]

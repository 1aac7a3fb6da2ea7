"""``streamproc worker --processes N``: N worker processes of one consumer group.

One Python process runs detection on one core (the GIL), so a machine with more cores
runs more workers. They are ordinary members of the group: the broker spreads the
partitions over them, and a crashed one's partitions move to the others (and back
when it is restarted) exactly as between machines. This module only starts them and
looks after them:

- process ``i`` serves ``/metrics`` on ``metrics_port + i`` (all on an ephemeral port
  when it is 0);
- SIGTERM or SIGINT is passed on to every process, which checkpoints and leaves the
  group; the supervisor waits for all of them (``STOP_SECONDS``, then SIGKILL);
- a process that dies unexpectedly is restarted after a back-off (1 s doubling to
  30 s, reset once it has run for a minute), unless it exited with status 2: a
  configuration error that a restart cannot fix stops them all, with that status;
- a restarted process resumes from its checkpoints: ``--reset-state`` applies to the
  first start only (a crash must not throw away the state the others kept).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["child_command", "restart_command", "supervise"]

_log = logging.getLogger("streamproc.supervisor")
STOP_SECONDS = 60.0
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_SECONDS = 1.0, 30.0, 60.0
CONFIG_ERROR = 2


def child_command(options: Mapping[str, Any], metrics_port: int, index: int) -> list[str]:
    """The ``streamproc worker`` command line of process ``index``: the supervisor's
    own options (flag name -> value; True for a bare flag; None: not given) with the
    process's metrics port."""
    args: list[str] = []
    for flag, value in options.items():
        if value is True:
            args.append(flag)
        elif value not in (None, False):
            args += [flag, str(value)]
    port = metrics_port + index if metrics_port else 0
    return [sys.executable, "-m", "streamproc", "worker", *args, "--metrics-port", str(port)]


def restart_command(command: Sequence[str]) -> list[str]:
    """``command`` for a restart: without ``--reset-state`` (see the module doc)."""
    return [a for a in command if a != "--reset-state"]


@dataclass
class _Child:
    index: int
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        self.proc = subprocess.Popen(restart_command(self.command) if self.restarts
                                     else self.command)
        self.started = time.monotonic()
        self.restart_at = None
        _log.info("worker process %d started (pid %d)", self.index, self.proc.pid)


def supervise(commands: Sequence[list[str]], poll_seconds: float = 0.2) -> int:
    """Run one worker process per command until SIGTERM/SIGINT; see the module doc."""
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    children = [_Child(i, list(c)) for i, c in enumerate(commands)]
    status = 0
    try:
        for c in children:
            c.start()
        while not stop.is_set():
            now = time.monotonic()
            for c in children:
                if c.proc is None:
                    if c.restart_at is not None and now >= c.restart_at:
                        c.restarts += 1
                        c.start()
                    continue
                code = c.proc.poll()
                if code is None:
                    continue
                c.proc = None
                if code == CONFIG_ERROR:
                    _log.error("worker process %d exited with status 2 (a configuration "
                               "error, see above); stopping the others", c.index)
                    status = CONFIG_ERROR
                    stop.set()
                    break
                if now - c.started >= HEALTHY_SECONDS:
                    c.backoff = BACKOFF_FIRST
                _log.warning("worker process %d exited unexpectedly (status %d); its "
                             "partitions move to the others; restarting it in %.0f s",
                             c.index, code, c.backoff)
                c.restart_at = now + c.backoff
                c.backoff = min(2 * c.backoff, BACKOFF_MAX)
            stop.wait(poll_seconds)
    finally:
        _stop_all(children)
        for s, h in previous.items():
            signal.signal(s, h)
    return status


def _stop_all(children: Sequence[_Child]) -> None:
    running = [c for c in children if c.proc is not None and c.proc.poll() is None]
    for c in running:
        assert c.proc is not None
        c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for c in running:
        assert c.proc is not None
        try:
            c.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _log.warning("worker process %d did not stop in %.0f s; killing it",
                         c.index, STOP_SECONDS)
            c.proc.kill()
            c.proc.wait()

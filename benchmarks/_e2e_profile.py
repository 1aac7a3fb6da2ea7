"""Where a worker's time goes: py-spy on a live worker (not a benchmark itself).

``py-spy record --idle --threads --nonblocking`` samples the worker process without
stopping it. Only the main thread (the consume/process/checkpoint loop) is counted;
``--idle`` keeps the samples in which it waits (inside librdkafka's ``consume``, or
for the GIL), so the shares below are of wall time, not of CPU time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ["pyspy_binary", "summarise"]

TOP = 15
# Frames above the worker's loop (interpreter start, CLI): always ~100%, so not listed.
_WRAPPERS = ("(<frozen runpy>)", "(streamproc/__main__.py)", "(streamproc/cli.py)")


def pyspy_binary() -> str | None:
    """py-spy from PATH or next to this interpreter (the bench extra installs it)."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, rate: int = 100) -> tuple[subprocess.Popen[bytes], Path]:
    """Start sampling ``pid`` for ``seconds``; returns the process and its output file."""
    out = Path(tempfile.mkdtemp(prefix="e2e-pyspy-")) / "stacks.txt"
    binary = pyspy_binary()
    assert binary is not None
    proc = subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
         "--rate", str(rate), "--nonblocking", "--idle", "--threads", "--format", "raw",
         "-o", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return proc, out


def _short(frame: str) -> str:
    """``name (path:line)`` with the path cut to the package-relative part."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/streamproc/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/streamproc/":
                where = "streamproc/" + where
            break
    return f"{name} ({where})"


def summarise(stacks_file: Path) -> tuple[int, int, list[tuple[str, float]],
                                          list[tuple[str, float]]]:
    """(all samples, main-thread samples, top lines by self share, top functions by
    inclusive share), shares of the main thread's samples."""
    total = main = 0
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in stacks_file.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if not frames[0].endswith(": MainThread"):
            continue
        main += count
        frames = [_short(f) for f in frames[1:]]
        if frames:
            self_time[frames[-1]] += count
        # A function counts once per sample however deep it recurses; by function, not line.
        for fn in {f.rsplit(":", 1)[0] + ")" for f in frames}:
            if not fn.endswith(_WRAPPERS):
                inclusive[fn] += count
    if not main:
        return total, 0, [], []
    lines = [(k, v / main) for k, v in self_time.most_common(TOP)]
    functions = [(k, v / main) for k, v in inclusive.most_common(TOP + 5)]
    return total, main, lines, functions

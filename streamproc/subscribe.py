"""``streamproc alerts``: the alerts topic as a subscriber sees it, one line per alert.

No consumer group: it reads every partition from the beginning (or from ``--since``),
prints what is there and exits, or with ``--follow`` keeps printing new alerts until
Ctrl-C. ``--json`` prints each alert as one JSON object per line, for pipes (``jq``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from types import FrameType

import orjson

from .alert_text import alert_line
from .errors import ConfigError

__all__ = ["add_arguments", "parse_duration", "run_alerts"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``10m``, ``2h``, ``1d`` or ``1w``.

    >>> parse_duration("10m"), parse_duration("1.5h")
    (600.0, 5400.0)
    >>> parse_duration("ten minutes")
    Traceback (most recent call last):
    ...
    streamproc.errors.ConfigError: --since 'ten minutes' is not a duration; use a number and \
a unit, e.g. 30s, 10m, 2h or 1d
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"--since {text!r} is not a duration; use a number and a unit, e.g. 30s, 10m, 2h or 1d"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="bootstrap HOST:PORT (env STREAMPROC_BROKER; default "
                   "127.0.0.1:9092)")
    p.add_argument("--config", help="YAML or TOML settings file (for broker, kafka and "
                   "alerts_topic)")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing new alerts until Ctrl-C")
    p.add_argument("--model", action="append", metavar="M",
                   help="only alerts of model M (repeat for several)")
    p.add_argument("--since", metavar="DURATION",
                   help="only alerts published in the last DURATION (30s, 10m, 2h, 1d; "
                   "default: all)")
    p.add_argument("--json", action="store_true", help="one JSON alert per line, for pipes")


def run_alerts(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .kafka.alert_feed import AlertFeed

    since_ms = None
    if args.since is not None:
        since_ms = int((time.time() - parse_duration(args.since)) * 1000)
    settings = load_settings(args.config, broker=args.broker)
    models = set(args.model or ())
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    feed = AlertFeed(settings.broker, settings.alerts_topic, settings.broker_timeout_seconds,
                     settings.kafka_properties())
    try:
        feed.start(since_ms)
        for message in feed.messages(args.follow, stop):
            try:
                alert = orjson.loads(message.value())
                line = orjson.dumps(alert).decode() if args.json else alert_line(alert)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                print(f"streamproc alerts: skipped {settings.alerts_topic}[{message.partition()}]"
                      f"@{message.offset()}: not a drift alert", file=sys.stderr)
                continue
            if models and alert.get("model_id") not in models:
                continue
            print(line, flush=True)
    except BrokenPipeError:  # `| head`: the reader has seen enough
        # Point stdout at /dev/null so that the interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        feed.close()
    return 0

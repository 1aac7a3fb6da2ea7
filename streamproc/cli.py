"""The ``streamproc`` command: broker, worker, demo, alerts, backtest."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from . import __version__
from .errors import StreamprocError

__all__ = ["main"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise StreamprocError(f"{name}={raw!r} is not a whole number; set a port number") from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _on_signals(handler: object) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        handler()  # type: ignore[operator]

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


# -- commands ----------------------------------------------------------------------------
def cmd_broker(args: argparse.Namespace) -> int:
    from .broker import EmbeddedBroker

    broker = EmbeddedBroker(args.port).start()
    print(f"streamproc broker: Kafka-compatible broker (Tansu, in memory) on {broker.bootstrap}")
    print(f"bootstrap address: {broker.bootstrap}   (Ctrl-C or SIGTERM stops it; topics are lost)")
    sys.stdout.flush()
    stopping = {"flag": False}

    def stop() -> None:
        # Only signal here: waiting inside a handler would race the wait below.
        stopping["flag"] = True
        broker.request_stop()

    _on_signals(stop)
    code = broker.wait()
    if stopping["flag"]:
        print("streamproc broker: stopped")
        return 0
    print(f"streamproc broker: the broker exited unexpectedly (code {code})", file=sys.stderr)
    return 1


def cmd_worker(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .kafka.worker import Worker

    settings = load_settings(
        args.config,
        broker=args.broker,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        group_id=args.group,
        reset_state=True if args.reset_state else None,
        log_level=args.log_level,
        engine=args.engine,
    )
    _setup_logging(settings.log_level)
    if args.processes is not None and args.processes < 1:
        raise StreamprocError(f"--processes {args.processes} is not a positive number; "
                              "give 1 or more (one per core)")
    if args.processes and args.processes > 1:
        from .supervisor import child_command, supervise

        options = {"--broker": args.broker, "--metrics-host": args.metrics_host,
                   "--config": args.config, "--group": args.group,
                   "--reset-state": args.reset_state, "--log-level": args.log_level,
                   "--engine": args.engine}
        return supervise([child_command(options, settings.metrics_port, i)
                          for i in range(args.processes)])
    from .processing import tune_gc

    tune_gc()
    if settings.engine == "faust":
        from .faust.worker import run_worker

        return run_worker(settings)
    worker = Worker(settings)
    _on_signals(worker.stop)
    worker.start()
    worker.run()
    logging.getLogger("streamproc.worker").info("worker stopped cleanly")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        duration=args.duration, seed=args.seed, metrics_port=args.metrics_port,
        broker_port=args.port, rate=args.rate,
    )


def cmd_backtest(args: argparse.Namespace) -> int:
    from .backtest import run_backtest

    return run_backtest(args)


def cmd_alerts(args: argparse.Namespace) -> int:
    from .subscribe import run_alerts

    return run_alerts(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc",
        description="Kafka-native, real-time drift detection for ML models in production.",
    )
    parser.add_argument("--version", action="version", version=f"streamproc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (in memory)")
    p.add_argument("--port", type=int, default=_env_int("STREAMPROC_BROKER_PORT", 9092),
                   help="port on 127.0.0.1 (default 9092, env STREAMPROC_BROKER_PORT)")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("worker", help="run a drift-detection worker")
    p.add_argument("--broker", help="bootstrap HOST:PORT (env STREAMPROC_BROKER; default "
                   "127.0.0.1:9092)")
    p.add_argument("--metrics-port", type=int,
                   help="port of /metrics, /livez, /readyz (env STREAMPROC_METRICS_PORT; 9464)")
    p.add_argument("--metrics-host", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--config", help="YAML or TOML settings file")
    p.add_argument("--group", help="consumer group id (default streamproc)")
    p.add_argument("--reset-state", action="store_true",
                   help="ignore stored monitor state: fresh monitors from the committed offsets")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--engine", choices=["librdkafka", "faust"],
                   help="consume with librdkafka (default) or as a faust-streaming app "
                   "(env STREAMPROC_ENGINE)")
    p.add_argument("--processes", type=int, metavar="N",
                   help="run N worker processes in one group, one per core; process i "
                   "serves metrics on metrics-port + i (default 1)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="broker + worker + a synthetic serving layer, one command")
    p.add_argument("--duration", type=float, default=45.0,
                   help="seconds of traffic (default 45; at most ~60 recommended)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic traffic")
    p.add_argument("--rate", type=float, default=300.0, help="events per second per model")
    p.add_argument("--port", type=int, help="broker port (default: a free port)")
    p.add_argument("--metrics-port", type=int, default=9464,
                   help="worker metrics port (default 9464, or a free one if busy)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("alerts", help="print the drift alerts on the alerts topic (or follow it)")
    from .subscribe import add_arguments as add_alerts_arguments

    add_alerts_arguments(p)
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("backtest", help="run the detectors offline on a CSV or Parquet file")
    from .backtest import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_backtest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StreamprocError as exc:
        print(f"streamproc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

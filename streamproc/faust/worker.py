"""``streamproc worker --engine faust``: a Faust app that only runs the monitors.

Same topics, settings, state topic, alerts, dead letters, metrics and HTTP endpoint
as the default worker; the consumer group is ``group_id`` (the app's id). The ``kafka``
setting's security properties become the app's ``broker_credentials``
(:mod:`streamproc.faust.credentials`).
"""

from __future__ import annotations

import tempfile

import faust

from ..config import Settings
from .app import add_monitors
from .credentials import broker_credentials
from .engine import FaustMonitors

__all__ = ["build_app", "run_worker"]


def build_app(settings: Settings, datadir: str) -> tuple[faust.App, FaustMonitors]:
    """A Faust app for ``settings`` with streamproc's monitors (not started)."""
    app = faust.App(
        settings.group_id,
        broker=[f"kafka://{server.strip()}" for server in settings.broker.split(",")],
        broker_credentials=broker_credentials(settings.kafka_properties()),
        autodiscover=False,
        # The monitors serve /metrics, /livez and /readyz themselves.
        web_enabled=False,
        # No Faust tables: state lives in streamproc's state topic.
        store="memory://",
        datadir=datadir,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        broker_max_poll_interval=settings.max_poll_interval_ms / 1000,
        # Faust would create missing topics with its own partition count; the monitors
        # create theirs (ensure_topics) before the consumer subscribes.
        topic_allow_declare=False,
        worker_redirect_stdouts=False,
    )
    return app, add_monitors(app, settings=settings)


def run_worker(settings: Settings) -> int:
    """Run the app until SIGTERM or SIGINT; checkpoint and leave the group then."""
    with tempfile.TemporaryDirectory(prefix="streamproc-faust-") as datadir:
        app, monitors = build_app(settings, datadir)
        monitors.start()  # a broker or topic problem ends here, in one sentence
        # override_logging=False: Faust's lines go through streamproc's log format.
        worker = faust.Worker(app, loglevel=settings.log_level.upper(), workdir=datadir,
                              redirect_stdouts=False, override_logging=False)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0

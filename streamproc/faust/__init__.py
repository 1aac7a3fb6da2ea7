"""streamproc's monitors in a faust-streaming app.

A team that already runs a Faust app adds the monitors to it::

    import faust
    from streamproc.faust import add_monitors

    app = faust.App("fraud-service", broker="kafka://127.0.0.1:9092")
    add_monitors(app)

``streamproc worker --engine faust`` runs such an app with nothing else in it. The
detection core, the batch processor, the checkpoint protocol, the metrics and the
HTTP endpoint are the default engine's: the same input gives the same alerts, dead
letters and metrics. See :mod:`streamproc.faust.engine` for the guarantee.
"""

from __future__ import annotations

from .app import add_monitors, monitor_settings
from .engine import FaustMonitors

__all__ = ["FaustMonitors", "add_monitors", "monitor_settings"]

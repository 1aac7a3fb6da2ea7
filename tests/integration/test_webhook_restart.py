"""At least once across a crash: a receiver that is down while its worker is killed and
replaced still receives every alert once it is back, duplicates only with the same id."""

from __future__ import annotations

import orjson
import pytest

from streamproc import cloudevents
from streamproc.broker import free_port

from ..conftest import WorkerProcess, read_alerts, settings_for, wait_until
from .receiver import Receiver
from .traffic import REFERENCE_SIZE, send_shifted

pytestmark = pytest.mark.integration


def test_alerts_produced_while_the_receiver_is_down_survive_a_kill(broker, tmp_path) -> None:
    port = free_port()  # nothing listens here until the receiver comes back
    hook = {"url": f"http://127.0.0.1:{port}/alerts", "name": "down",
            "retry_initial_seconds": 0.2, "retry_max_seconds": 1.0}
    # Shorter than FAST_GROUP: the replacement waits out the killed member's session twice
    # (the workers' group and the webhook's).
    s = settings_for(broker, "wh-restart", alert_webhooks=[hook], session_timeout_ms=3000,
                     heartbeat_interval_ms=300, detection={"reference_size": REFERENCE_SIZE})

    def alert_ids() -> set[str]:
        return {a["alert_id"] for a in read_alerts(broker.bootstrap, s.alerts_topic)}

    first = WorkerProcess(s, tmp_path / "w1.log")
    first.wait_ready()
    send_shifted(broker.bootstrap, s.features_topic, ["r-a", "r-b"], seed=11)
    wait_until(lambda: len(alert_ids()) == 2, 60, "two alerts")
    wait_until(lambda: first.total("streamproc_webhook_attempts_total", webhook="down",
                                   result="error") >= 2, 30, "failed attempts of both alerts")
    first.kill()  # SIGKILL: no final commit, no leaving the group

    # A third alert is produced while no worker runs and the receiver is still down.
    send_shifted(broker.bootstrap, s.features_topic, ["r-c"], seed=21)
    second = WorkerProcess(s, tmp_path / "w2.log")
    second.wait_ready()
    wait_until(lambda: len(alert_ids()) == 3, 60, "the third alert")

    records = read_alerts(broker.bootstrap, s.alerts_topic)  # re-published ones included
    alerts = {a["alert_id"]: a for a in records}
    with Receiver(port) as receiver:
        wait_until(lambda: receiver.ids() == set(alerts), 60, "every alert at the receiver")
        wait_until(lambda: second.total("streamproc_webhook_backlog_alerts", webhook="down") == 0,
                   15, "backlog drained")
        assert second.terminate() == 0
    # Duplicates (re-sent after the kill) are byte for byte the event of one of the alert
    # records: an alert the replacement published again (same alert_id, its own
    # detected_at) is on the topic twice, and either copy may be the one delivered.
    published = {cloudevents.structured_event(a, s.group_id) for a in records}
    delivered = {body for _headers, body in receiver.requests}
    assert delivered <= published
    assert {orjson.loads(body)["id"] for body in delivered} == set(alerts)
    assert sorted(a["model_id"] for a in alerts.values()) == ["r-a", "r-b", "r-c"]

"""A faust-streaming app whose models' inputs are monitored by streamproc.

Run it like any Faust app, against a broker on 127.0.0.1:9092 (e.g. `streamproc broker`)::

    python examples/faust_app.py worker -l info

The monitors read the `features`, `predictions` and `labels` topics, publish drift
alerts to `drift-alerts` and serve metrics on http://127.0.0.1:9464/metrics. Every
streamproc setting has its STREAMPROC_* environment variable (see the README).
"""

from __future__ import annotations

import os
from collections import Counter

import faust

from streamproc.faust import add_monitors

app = faust.App(
    "fraud-service",
    broker=os.environ.get("KAFKA_BROKER_URL", "kafka://127.0.0.1:9092"),
    store="memory://",
    web_enabled=False,  # streamproc serves /metrics, /livez and /readyz itself
)

# streamproc's agents: drift detection on the features, predictions and labels topics.
monitors = add_monitors(app)


# The team's own agents keep working on the same topics, with their own types.
class FeatureEvent(faust.Record, serializer="json"):
    model_id: str
    event_id: str
    features: dict


features = app.topic(monitors.settings.features_topic, value_type=FeatureEvent)
events_per_model: Counter[str] = Counter()


@app.agent(features)
async def count_events(stream: faust.StreamT[FeatureEvent]) -> None:
    async for event in stream:
        events_per_model[event.model_id] += 1


if __name__ == "__main__":
    app.main()

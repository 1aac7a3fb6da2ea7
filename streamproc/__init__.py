"""streamproc: Kafka-native, real-time drift detection for ML models in production.

The detection logic lives in :mod:`streamproc.core` and imports no Kafka client;
:mod:`streamproc.kafka` wires it to topics, :mod:`streamproc.client` is the producer
SDK for serving layers, and :mod:`streamproc.cli` is the ``streamproc`` command.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

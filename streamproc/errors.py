"""Errors a user can cause. Each carries one sentence naming the input and the fix."""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "SnapshotError", "StreamprocError"]


class StreamprocError(Exception):
    """Root of streamproc's errors: the CLI prints the message, not a traceback."""


class ConfigError(StreamprocError):
    """A setting, a config file or a command-line value is wrong."""


class BrokerError(StreamprocError):
    """The Kafka broker cannot be reached or refused a request."""


class SnapshotError(StreamprocError):
    """A state snapshot cannot be read back (corrupt, forged or incompatible)."""

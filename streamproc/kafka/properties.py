"""The ``kafka`` setting: librdkafka properties that every streamproc client gets.

A value is text, a number, a boolean, ``{file: PATH}`` (the file's text, read at
start-up, trailing newline stripped) or ``{env: NAME}`` (an environment variable).
Properties that carry a secret (:data:`SECRET_PROPERTIES`) are kept as
``SecretStr`` and revealed only when a client is built; :func:`redact` takes their
values out of any text that is shown (librdkafka's errors included).

Properties streamproc relies on are refused (:data:`REFUSED`, with the reason): a
user's value would silently break a guarantee or duplicate a streamproc setting.
Every other property is passed to every client unchanged and wins over streamproc's
tuning defaults (``client.id``, ``linger.ms``, ``compression.type``, ...).
Whether a name and value are valid is librdkafka's to say: :func:`check_with_librdkafka`
builds clients with them (without bootstrap servers, so nothing is contacted, except
an OIDC token endpoint: librdkafka fetches a token as soon as such a client exists).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ..errors import ConfigError

__all__ = [
    "REFUSED", "SECRET_PROPERTIES", "check_with_librdkafka", "redact", "resolve", "reveal",
]

# Values that give access (librdkafka marks most of them "sensitive" in its property
# table). sasl.username is not among them: it names the account, and error messages
# that name it are easier to act on.
SECRET_PROPERTIES = frozenset({
    "sasl.password",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
})

_CRASH_CONSISTENCY = ("offsets are committed together with the state snapshots that include "
                      "them (the crash-consistency guarantee)")
_SETTING = "set streamproc's `{0}` setting instead (it applies to every client that needs it)"

# Properties a user may not set, and why (aliases included: librdkafka maps them).
REFUSED: dict[str, str] = {
    "bootstrap.servers": _SETTING.format("broker") + ", or pass --broker",
    "metadata.broker.list": _SETTING.format("broker") + ", or pass --broker",
    "group.id": _SETTING.format("group_id") + ", or pass --group",
    "group.instance.id": "every worker process and every internal consumer would share "
                         "one static member id and fence each other",
    "enable.auto.commit": f"streamproc commits offsets itself: {_CRASH_CONSISTENCY}; "
                          "librdkafka's auto-commit would commit events whose state is not saved",
    "enable.auto.offset.store": f"streamproc stores offsets itself: {_CRASH_CONSISTENCY}",
    "auto.offset.reset": "monitors without state start at the earliest retained event so "
                         "that none is skipped",
    "partition.assignment.strategy": "the range assignor keeps the same partition number of "
                                     "every input topic on one worker (co-partitioning)",
    "group.protocol": "streamproc's rebalance handling is built on the classic group protocol",
    "group.remote.assignor": "streamproc's rebalance handling is built on the classic group "
                             "protocol",
    "session.timeout.ms": _SETTING.format("session_timeout_ms"),
    "heartbeat.interval.ms": _SETTING.format("heartbeat_interval_ms"),
    "max.poll.interval.ms": _SETTING.format("max_poll_interval_ms"),
    "fetch.wait.max.ms": _SETTING.format("fetch_wait_max_ms"),
    "enable.partition.eof": "the state reader finds the end of the state topic with it",
    "acks": "alerts and snapshots are written with acks=all: a checkpoint must not include "
            "an alert that a broker failover can lose",
    "request.required.acks": "alerts and snapshots are written with acks=all: a checkpoint "
                             "must not include an alert that a broker failover can lose",
    "message.timeout.ms": "outputs are retried until delivered, and a checkpoint waits for "
                          "them (message.timeout.ms=0)",
    "delivery.timeout.ms": "outputs are retried until delivered, and a checkpoint waits for "
                           "them (message.timeout.ms=0)",
    "message.max.bytes": "state snapshots need up to 64 MiB per message",
    "transactional.id": "streamproc's delivery guarantee does not use transactions "
                        "(see streamproc.kafka.checkpoints)",
    "logger": "streamproc routes librdkafka's log lines into its own log",
    "on_delivery": "streamproc tracks deliveries itself",
    "on_commit": "streamproc tracks commits itself",
    "default.topic.config": "give topic-level properties at the top level of `kafka`",
}
_CALLBACK = "callbacks are streamproc's own and cannot come from a settings file"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(
        f"kafka.{name} must be text, a number, a boolean, {{file: PATH}} or {{env: NAME}} "
        f"(got a {type(value).__name__})")


def _source(name: str, spec: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    if set(spec) == {"file"} and isinstance(spec["file"], str):
        path = Path(spec["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"kafka.{name}: cannot read {path} ({exc.strerror or exc}); "
                             "create the file or point `file` at an existing one") from None
        return text.rstrip("\r\n")
    if set(spec) == {"env"} and isinstance(spec["env"], str):
        value = environ.get(spec["env"])
        if value is None:
            raise ValueError(f"kafka.{name}: environment variable {spec['env']} is not set; "
                             "export it, or give the value another way")
        return value
    raise ValueError(f"kafka.{name} must be text, a number, a boolean, {{file: PATH}} or "
                     "{env: NAME} (a mapping with exactly one of those keys)")


def resolve(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            refused: Mapping[str, str] = REFUSED) -> dict[str, str | SecretStr]:
    """The ``kafka`` mapping with files and variables read and secrets wrapped.

    Raises ValueError with one sentence naming the property (never its value).

    >>> props = resolve({"security.protocol": "SSL", "sasl.password": {"env": "PW"},
    ...                  "socket.keepalive.enable": True}, {"PW": "s3cret"})
    >>> props
    {'security.protocol': 'SSL', 'sasl.password': SecretStr('**********'), \
'socket.keepalive.enable': 'true'}
    >>> resolve({"enable.auto.commit": True})
    Traceback (most recent call last):
    ...
    ValueError: kafka.enable.auto.commit cannot be set: streamproc commits offsets itself: \
offsets are committed together with the state snapshots that include them (the \
crash-consistency guarantee); librdkafka's auto-commit would commit events whose state is \
not saved
    """
    env = os.environ if environ is None else environ
    out: dict[str, str | SecretStr] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"kafka: {name!r} is not a librdkafka property name")
        if name in refused:
            raise ValueError(f"kafka.{name} cannot be set: {refused[name]}")
        if name.endswith("_cb"):
            raise ValueError(f"kafka.{name} cannot be set: {_CALLBACK}")
        text = _source(name, value, env) if isinstance(value, Mapping) else _text(name, value)
        if name in SECRET_PROPERTIES:
            if not text:
                raise ValueError(f"kafka.{name} is empty; give the secret's value")
            out[name] = SecretStr(text)
        else:
            out[name] = text
    return out


def reveal(props: Mapping[str, str | SecretStr]) -> dict[str, str]:
    """Plain strings for librdkafka (secrets revealed): only for building clients."""
    return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in props.items()}


def redact(text: str, props: Mapping[str, Any] | None) -> str:
    """``text`` with the value of every secret property in ``props`` replaced."""
    for name, value in (props or {}).items():
        if name in SECRET_PROPERTIES:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            if secret:
                text = text.replace(secret, "[redacted]")
    return text


_QUOTED = re.compile(r'"([A-Za-z0-9._-]+)"')
_FAILED = re.compile(r"([a-z0-9._]+) failed:")


def refusal(exc: Exception, props: Mapping[str, Any] | None, what: str) -> ConfigError:
    """librdkafka's refusal of a client configuration, as one sentence without secrets."""
    err = exc.args[0] if exc.args else exc
    text = redact(err.str() if hasattr(err, "str") else str(err), props)
    text = re.sub(r"^Failed to create \w+: ", "", text)
    if "No such configuration property" in text:
        match = _QUOTED.search(text)
        name = match.group(1) if match else "?"
        return ConfigError(f"kafka.{name} is not a librdkafka property; check its spelling "
                           "against librdkafka's CONFIGURATION.md, or remove it")
    match = _QUOTED.findall(text) or _FAILED.findall(text)
    name = next((n for n in match if props and n in props), None)
    subject = f"kafka.{name}" if name else "the kafka settings"
    return ConfigError(f"{subject}: librdkafka cannot build the {what} with it ({text}); "
                       "fix the value (see librdkafka's CONFIGURATION.md)")


class _Quiet:
    """A logger for the check's clients: what they log is not the user's business."""

    def log(self, *_args: Any) -> None:
        pass


def check_with_librdkafka(props: Mapping[str, str | SecretStr]) -> None:
    """Build a producer, a consumer and an admin client with ``props`` (no bootstrap
    servers, so no broker is contacted); ConfigError with librdkafka's reason if it
    refuses them. Unknown names, invalid values, unreadable certificate files and
    inconsistent combinations are all librdkafka's judgement, not a list kept here."""
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    plain: dict[str, Any] = {**reveal(props), "logger": _Quiet()}
    for what, build in (("producer", Producer), ("admin client", AdminClient),
                        ("consumer", Consumer)):
        config = dict(plain)
        if build is Consumer:
            config["group.id"] = "streamproc-settings-check"
        try:
            client = build(config)
        except KafkaException as exc:
            raise refusal(exc, props, what) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the kafka settings: {redact(str(exc), props)}") from None
        if build is Consumer:
            client.close()
        del client

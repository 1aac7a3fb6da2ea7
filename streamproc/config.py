"""Settings: one typed object from defaults, a config file, ``STREAMPROC_*`` and flags.

Precedence, highest first: command-line flags, environment variables
(``STREAMPROC_BROKER``, nested with ``__`` as in ``STREAMPROC_DETECTION__REFERENCE_SIZE``),
the ``--config`` file (YAML or TOML), the defaults below.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .core import (
    DetectionConfig,
    MonitorSettings,
)
from .detection_settings import DetectionSettings, ModelOverride, limit_field
from .errors import ConfigError
from .kafka import properties as kafka_properties
from .webhooks.settings import WebhookList

__all__ = ["DetectionSettings", "ModelOverride", "Settings", "load_settings"]


def _kafka(raw: dict[str, Any]) -> dict[str, str | SecretStr]:
    return kafka_properties.resolve(raw)


# librdkafka property -> value: files and variables read, secrets as SecretStr.
KafkaProperties = Annotated[dict[str, Any], AfterValidator(_kafka)]


class Settings(BaseSettings):
    """Everything a worker, the demo and the CLI read."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMPROC_", env_nested_delimiter="__", extra="forbid"
    )

    broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, HOST:PORT[,...].")
    group_id: str = Field("streamproc", description="Consumer group of the workers.")
    broker_timeout_seconds: float = Field(
        15.0, gt=0, description="How long to wait for the broker at start-up."
    )
    kafka: KafkaProperties = Field(
        default_factory=dict,
        description="librdkafka properties for every client (security.protocol, ssl.*, "
        "sasl.*, ...); a value may be {file: PATH} or {env: NAME}; see "
        "streamproc.kafka.properties for the ones streamproc refuses.",
    )
    features_topic: str = "features"
    predictions_topic: str = "predictions"
    labels_topic: str = "labels"
    alerts_topic: str = "drift-alerts"
    dead_letter_topic: str = "drift-dead-letter"
    state_topic: str = Field("streamproc-state", description="Compacted topic of state snapshots.")
    partitions: int = Field(6, ge=1, description="Partitions of the topics a worker creates.")
    replication_factor: int = Field(1, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_web_config: Path | None = Field(
        None, description="Prometheus web configuration file (exporter-toolkit format, as "
        "node_exporter's --web.config.file): TLS and basic auth on /metrics, /livez and "
        "/readyz. Unset: plain HTTP.",
    )
    checkpoint_interval_seconds: float = Field(
        5.0, gt=0, description="How often monitor state is snapshotted and offsets committed."
    )
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(1_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    batch_size: int = Field(5000, ge=1, description="Messages taken per poll.")
    batch_max_messages: int = Field(
        50_000, ge=1,
        description="While polls come back full (a backlog already fetched), polls that do "
        "not wait add to the batch up to this many messages (and batch_max_bytes): the "
        "core's cost per event falls with events per partition per batch.",
    )
    # 64 MiB: 16 MiB cut 100-feature events (3.2 kB) to batches of ~5,000, where each
    # monitor's fixed cost per call (~150 us) made the cost per event per feature 1.33x
    # that at 10 features; 64 MiB: 1.08x, for +56 MB of RSS (benchmarks/e2e.py).
    batch_max_bytes: int = Field(64 * 1024 * 1024, ge=1024,
                                 description="Most message bytes in one batch (see above).")
    fetch_wait_max_ms: int = Field(
        50, ge=1, le=5000,
        description="Longest the broker may hold a fetch for more data (librdkafka "
        "fetch.wait.max.ms): bounds how late a quiet stream's events are seen.",
    )
    max_event_bytes: int = Field(1_048_576, ge=64)
    state_key: SecretStr | None = Field(
        None, description="HMAC key that signs state snapshots; unsigned ones are refused."
    )
    reset_state: bool = Field(
        False, description="Ignore stored state: fresh monitors from the committed offsets."
    )
    allow_only_listed_models: bool = Field(
        False, description="Dead-letter events of models not listed under `models`."
    )
    max_features_per_model: int = limit_field("max_features")
    max_versions_per_model: int = limit_field("max_versions")
    join_max_predictions: int = limit_field("join_max_predictions")
    join_max_labels: int = limit_field("join_max_labels")
    join_window_seconds: float = limit_field("join_window_seconds")
    max_models: int = limit_field("max_models")
    model_idle_seconds: float = limit_field("model_idle_seconds")
    # ~1.2 KB of exposition per monitor: 1,000 monitors are ~1.2 MB, which with the
    # per-model series of max_models models keeps /metrics under 2 MB (README "Metrics").
    metrics_max_series: int = Field(
        1_000, ge=1, description="Monitors whose per-monitor series are exported: those "
        "that alerted first, then the highest drift scores (cardinality budget)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    engine: Literal["librdkafka", "faust"] = Field(
        "librdkafka",
        description="How `streamproc worker` consumes: librdkafka (confluent-kafka, the "
        "fastest) or a faust-streaming app (streamproc.faust); same topics and state.",
    )
    alert_webhooks: WebhookList = Field(
        default_factory=list,
        description="URLs each alert is POSTed to as a CloudEvent (streamproc.webhooks).",
    )
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    models: dict[str, ModelOverride] = Field(default_factory=dict)

    @field_validator("metrics_web_config", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        # STREAMPROC_METRICS_WEB_CONFIG= (empty) means unset, not the current directory.
        return None if value == "" else value

    def input_topics(self) -> dict[str, str]:
        """Input kind to topic name."""
        return {
            "features": self.features_topic,
            "predictions": self.predictions_topic,
            "labels": self.labels_topic,
        }

    def detection_config(self) -> DetectionConfig:
        default = self.detection.monitor_settings()
        per_model: dict[str, MonitorSettings] = {}
        for model_id, override in self.models.items():
            fields = override.model_dump(exclude_none=True, exclude={"task", "detectors"})
            if override.detectors is not None:
                fields["detectors"] = override.detectors
            if fields:
                merged = self.detection.model_copy(update=fields)
                per_model[model_id] = merged.monitor_settings()
        return DetectionConfig(
            default=default,
            per_model=per_model,
            tasks={m: o.task for m, o in self.models.items() if o.task != "auto"},
            max_features=self.max_features_per_model,
            max_versions=self.max_versions_per_model,
            join_max_predictions=self.join_max_predictions,
            join_max_labels=self.join_max_labels,
            join_window_seconds=self.join_window_seconds,
            max_models=self.max_models,
            model_idle_seconds=self.model_idle_seconds,
            listed_models=frozenset(self.models),
        )

    def kafka_properties(self) -> dict[str, str]:
        """The ``kafka`` properties as librdkafka takes them (secrets revealed)."""
        return kafka_properties.reveal(self.kafka)

    def state_key_bytes(self) -> bytes | None:
        return self.state_key.get_secret_value().encode() if self.state_key else None


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML or TOML file")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top level")
    return data


def _explain(exc: ValidationError, origin: str) -> ConfigError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "settings"
    got = first.get("input")
    if first["loc"] and first["loc"][0] == "kafka":
        # The sentence names the property itself; an input there may be a secret.
        msg = first["msg"].removeprefix("Value error, ")
        return ConfigError(f"{origin}: {msg if msg.startswith('kafka') else f'kafka: {msg}'}")
    hint = "" if isinstance(got, dict) else f" (got {got!r})"
    return ConfigError(f"{origin}: {where}: {first['msg']}{hint}")


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from a config file, the environment and explicit overrides.

    Raises ConfigError with one sentence naming the bad setting.
    """
    data = _read_file(Path(config_file)) if config_file else {}
    overrides = {k: v for k, v in overrides.items() if v is not None}

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _FileSource(settings_cls, data)

    origin = f"config file {config_file}" if config_file else "settings"
    try:
        settings: Settings = _Settings(**overrides)
        settings.detection_config()  # surfaces invalid combinations now, not at the first event
        if settings.metrics_web_config is not None:
            from .webconfig import check_web_config

            check_web_config(settings.metrics_web_config)  # ConfigError: one sentence
    except ValidationError as exc:
        raise _explain(exc, origin + " / STREAMPROC_* environment") from None
    except ValueError as exc:
        field = re.search(r'parsing value for field "(\w+)" from source "EnvSettings', str(exc))
        if field:  # pydantic-settings' SettingsError: a complex setting that is not JSON
            raise ConfigError(
                f"STREAMPROC_{field.group(1).upper()} is not valid JSON; complex settings are "
                'JSON in the environment, e.g. STREAMPROC_KAFKA=\'{"security.protocol": "SSL"}\''
            ) from None
        raise ConfigError(f"{origin}: {exc}") from None
    if settings.kafka:
        try:
            kafka_properties.check_with_librdkafka(settings.kafka)
        except ConfigError as exc:
            raise ConfigError(f"{origin} / STREAMPROC_* environment: {exc}") from None
    return settings

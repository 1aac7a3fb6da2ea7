"""The ``kafka`` setting: files, variables, environment JSON, secrets kept secret, and
librdkafka's own judgement of names and values (one sentence, exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamproc.config import load_settings
from streamproc.errors import ConfigError
from streamproc.kafka.common import base_config, consumer_config
from streamproc.kafka.properties import REFUSED, SECRET_PROPERTIES, redact

from .conftest import run_cli

PASSWORD = "pw-6f1e0b-secret"


@pytest.fixture(autouse=True)
def _no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMPROC_KAFKA"):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, kafka: dict) -> Path:
    path = tmp_path / "streamproc.yaml"
    path.write_text(json.dumps({"kafka": kafka}))  # JSON is YAML
    return path


def test_yaml_secret_from_a_file_is_read_and_kept_secret(tmp_path: Path) -> None:
    secret = tmp_path / "sasl.password"
    secret.write_text(PASSWORD + "\r\n")
    cfg = tmp_path / "streamproc.yaml"
    cfg.write_text("kafka:\n  security.protocol: SASL_SSL\n  sasl.mechanism: SCRAM-SHA-512\n"
                   f"  sasl.username: svc\n  sasl.password: {{file: {secret}}}\n"
                   "  socket.keepalive.enable: true\n  socket.timeout.ms: 20000\n")
    s = load_settings(cfg)
    assert s.kafka["sasl.password"] == SecretStr(PASSWORD)
    assert s.kafka_properties() == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc", "sasl.password": PASSWORD,
        "socket.keepalive.enable": "true", "socket.timeout.ms": "20000"}
    for shown in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump())):
        assert PASSWORD not in shown


def test_secret_from_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_KEY_PASSWORD", PASSWORD)
    s = load_settings(_config(tmp_path, {"ssl.key.password": {"env": "KAFKA_KEY_PASSWORD"}}))
    assert s.kafka_properties() == {"ssl.key.password": PASSWORD}


def test_environment_json_and_nesting_merge_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(tmp_path, {"security.protocol": "SASL_SSL", "client.id": "from-file"})
    monkeypatch.setenv("STREAMPROC_KAFKA", '{"security.protocol": "SSL", "ssl.ca.location": '
                       f'"{tmp_path}"}}')
    monkeypatch.setenv("STREAMPROC_KAFKA__socket.keepalive.enable", "true")
    assert load_settings(cfg).kafka_properties() == {
        "security.protocol": "SSL", "ssl.ca.location": str(tmp_path),
        "socket.keepalive.enable": "true", "client.id": "from-file"}


def test_every_client_gets_the_properties_over_streamproc_defaults() -> None:
    kafka = {"security.protocol": "SSL", "client.id": "ml-platform", "linger.ms": "20"}
    role = {"linger.ms": 5, "acks": "all"}
    config = base_config("b:9093", "streamproc-worker", kafka, role)
    assert config["bootstrap.servers"] == "b:9093" and config["acks"] == "all"
    assert {k: config[k] for k in kafka} == kafka  # the user's value wins over tuning
    assert consumer_config("b:9093", "x", kafka)["security.protocol"] == "SSL"
    assert base_config("b:9093", "x")["client.id"] == "x"  # unchanged without kafka


def test_defaults_are_plaintext_with_no_properties() -> None:
    s = load_settings()
    assert s.kafka == {} and s.kafka_properties() == {}
    assert "security.protocol" not in base_config(s.broker, "x", s.kafka_properties())


@pytest.mark.parametrize(("kafka", "message"), [
    ({"sasl.pasword": "x"}, "kafka.sasl.pasword is not a librdkafka property; check its "
     "spelling against librdkafka's CONFIGURATION.md, or remove it"),
    ({"security.protocol": "SSLL"}, 'kafka.security.protocol: librdkafka cannot build the '
     'producer with it (Invalid value "SSLL" for configuration property "security.protocol")'),
    ({"security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"},
     "kafka.ssl.ca.location: librdkafka cannot build the producer with it (ssl.ca.location "
     "failed:"),
    ({"enable.auto.commit": True}, "kafka.enable.auto.commit cannot be set: streamproc commits "
     "offsets itself"),
    ({"bootstrap.servers": "b:1"}, "kafka.bootstrap.servers cannot be set: set streamproc's "
     "`broker` setting instead"),
    ({"stats_cb": "x"}, "kafka.stats_cb cannot be set: callbacks are streamproc's own"),
    ({"sasl.password": [PASSWORD]}, "kafka.sasl.password must be text, a number, a boolean, "
     "{file: PATH} or {env: NAME} (got a list)"),
    ({"sasl.password": {"env": "STREAMPROC_TEST_UNSET"}}, "kafka.sasl.password: environment "
     "variable STREAMPROC_TEST_UNSET is not set"),
    ({"sasl.password": {"file": "/nonexistent/pw"}}, "kafka.sasl.password: cannot read "
     "/nonexistent/pw (No such file or directory)"),
    ({"sasl.password": {"file": "/nonexistent/pw", "env": "X"}}, "(a mapping with exactly "
     "one of those keys)"),
    ({"sasl.password": ""}, "kafka.sasl.password is empty"),
])
def test_bad_kafka_properties_are_one_sentence(tmp_path: Path, kafka: dict,
                                               message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_config(tmp_path, kafka))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"config file {tmp_path / 'streamproc.yaml'}")
    assert PASSWORD not in str(caught.value)


def test_a_secret_that_librdkafka_rejects_is_not_shown(tmp_path: Path) -> None:
    pem = f"-----BEGIN PRIVATE KEY-----\n{PASSWORD}\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match="kafka.ssl.key.pem") as caught:
        load_settings(_config(tmp_path, {"security.protocol": "SSL", "ssl.key.pem": pem}))
    assert PASSWORD not in str(caught.value)
    assert redact(f"x {PASSWORD} y", {"sasl.password": SecretStr(PASSWORD)}) == "x [redacted] y"


def test_every_refusal_names_its_reason(tmp_path: Path) -> None:
    assert {"group.id", "enable.auto.commit", "partition.assignment.strategy", "acks",
            "message.timeout.ms", "session.timeout.ms", "group.instance.id"} <= set(REFUSED)
    for name, reason in REFUSED.items():
        with pytest.raises(ConfigError, match=f"kafka.{name} cannot be set: "):
            load_settings(_config(tmp_path, {name: "1"}))
        assert len(reason) > 20
    assert {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
            "sasl.oauthbearer.client.secret"} <= SECRET_PROPERTIES


def test_cli_reports_a_bad_property_in_one_line_exit_2(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"ssl.ca.locaton": "/ca.pem"})
    for command in ("worker", "alerts"):
        result = run_cli(command, "--config", str(cfg), timeout=60)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"streamproc {command}: error: config file {cfg} / STREAMPROC_* environment: "
            "kafka.ssl.ca.locaton is not a librdkafka property; check its spelling against "
            "librdkafka's CONFIGURATION.md, or remove it"]


def test_cli_reports_environment_that_is_not_json() -> None:
    env = {**os.environ, "STREAMPROC_KAFKA": '{"security.protocol": "SSL"'}
    result = run_cli("alerts", env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamproc alerts: error: STREAMPROC_KAFKA is not valid JSON; complex settings are "
        'JSON in the environment, e.g. STREAMPROC_KAFKA=\'{"security.protocol": "SSL"}\'']

"""streamproc against a broker reachable only over TLS (stunnel in front of Tansu).

The worker, `streamproc alerts`, the SDK and the Faust engine connect with the ``kafka``
setting; each TLS misconfiguration ends `streamproc worker` with one sentence naming
the broker and the problem; the client key's passphrase never shows anywhere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamproc.broker import broker_binary, free_port
from streamproc.client import EventProducer
from streamproc.kafka.common import admin

from ..conftest import WorkerProcess, read_topic, run_cli, scrape, settings_for, wait_until
from .tls import KEY_PASSPHRASE, TlsSetup, tls_setup
from .traffic import REFERENCE_SIZE, shifted_events

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSetup]:
    with tls_setup(tmp_path_factory.mktemp("tls")) as setup:
        yield setup


def _mutual(tls: TlsSetup, passphrase_file: Path) -> dict[str, Any]:
    """Mutual TLS with the encrypted client key, its passphrase read from a file."""
    passphrase_file.write_text(KEY_PASSPHRASE + "\n")
    return {**tls.server_auth(), "ssl.certificate.location": tls.certs.path("client.pem"),
            "ssl.key.location": tls.certs.path("client-encrypted.key"),
            "ssl.key.password": {"file": str(passphrase_file)}}


def _send(events: EventProducer, model: str, seed: int) -> None:
    for e in shifted_events(model, seed):
        events.send_features(e["model_id"], e["model_version"], e["event_id"], e["features"],
                             e["timestamp"])
    events.flush(30)


def _alert_count(worker: WorkerProcess) -> float:
    return worker.total("streamproc_drift_alerts_total")


def test_worker_sdk_and_alerts_cli_over_tls(tls: TlsSetup, tmp_path: Path) -> None:
    ep = tls.endpoint("tls")
    kafka = tls.server_auth()
    # Tansu advertises the stunnel port: after bootstrapping, clients still speak TLS.
    brokers = admin(ep.bootstrap, kafka).list_topics(timeout=10).brokers
    assert {(b.host, b.port) for b in brokers.values()} == {("127.0.0.1", ep.port)}

    s = settings_for(ep, "tls", kafka=kafka, detection={"reference_size": REFERENCE_SIZE})
    worker = WorkerProcess(s, tmp_path / "worker.log")
    worker.wait_ready()
    with EventProducer(ep.bootstrap, features_topic=s.features_topic, kafka=kafka) as events:
        _send(events, "tls-model", seed=5)
    wait_until(lambda: _alert_count(worker) >= 1, 60, "an alert over TLS")

    config = tmp_path / "alerts.yaml"
    config.write_text(json.dumps({"broker": ep.bootstrap, "alerts_topic": s.alerts_topic,
                                  "kafka": kafka}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    result = run_cli("alerts", "--config", str(config), "--json", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(a["model_id"], a["feature"]) for a in alerts] == [("tls-model", "x")]
    assert worker.terminate() == 0


def test_mutual_tls_with_an_encrypted_key_never_shows_the_passphrase(
    tls: TlsSetup, tmp_path: Path,
) -> None:
    ep = tls.endpoint("mtls")
    # librdkafka's own debug lines too: its configuration dump and the TLS handshake.
    kafka = {**_mutual(tls, tmp_path / "key.passphrase"), "debug": "security,broker,conf"}
    s = settings_for(ep, "mtls", kafka=kafka, log_level="debug",
                     detection={"reference_size": REFERENCE_SIZE})
    assert KEY_PASSPHRASE not in repr(s) + str(s) + s.model_dump_json()
    worker = WorkerProcess(s, tmp_path / "worker.log")
    worker.wait_ready()
    config = tmp_path / "streamproc.yaml"
    config.write_text(json.dumps({"broker": ep.bootstrap, "features_topic": s.features_topic,
                                  "kafka": _mutual(tls, tmp_path / "key.passphrase")}))
    with EventProducer.from_settings(config) as events:
        _send(events, "mtls-model", seed=6)
    wait_until(lambda: _alert_count(worker) >= 1, 60, "an alert over mutual TLS")
    wait_until(lambda: worker.total("streamproc_checkpoints_total") >= 1, 30, "a checkpoint")
    shown = [scrape(worker.base + "/metrics"), scrape(worker.base + "/readyz")]
    assert worker.terminate() == 0
    plain = s.kafka_properties()
    plain.pop("debug")
    stored = [m.value() or b"" for topic in (s.alerts_topic, s.state_topic)
              for m in read_topic(ep.bootstrap, topic, kafka=plain)]
    assert len(stored) >= 2  # the alert and at least one snapshot
    log = worker.log.read_text()
    # librdkafka logged its configuration and used the passphrase, both without showing it.
    assert "ssl.key.password = [redacted]" in log and "Private key requires password" in log
    for text in [log, *shown]:
        assert KEY_PASSPHRASE not in text
    assert all(KEY_PASSPHRASE.encode() not in blob for blob in stored)


def _worker_fails(boot: str, kafka: dict[str, Any], tmp_path: Path,
                  engine: str = "librdkafka") -> list[str]:
    """stderr lines of a `streamproc worker` that must end on its own with status 2.

    The broker timeout is longer than the run's bound: only stopping at the TLS failure
    itself, not waiting out the timeout, ends it in time.
    """
    env = {**os.environ, "STREAMPROC_BROKER": boot, "STREAMPROC_KAFKA": json.dumps(kafka),
           "STREAMPROC_BROKER_TIMEOUT_SECONDS": "600", "STREAMPROC_METRICS_PORT": "0",
           "STREAMPROC_ENGINE": engine}
    result = run_cli("worker", env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


CASES = {
    "unrelated CA": ("tls", {"ssl.ca.location": "other-ca.pem"},
                     "certificate verify failed (unable to get local issuer certificate: the "
                     "broker's certificate is not signed by a CA this client trusts); set "
                     "kafka.ssl.ca.location to the CA that signed the broker's certificate"),
    "no CA": ("tls", {"ssl.ca.location": None},
              "set kafka.ssl.ca.location to the CA that signed the broker's certificate"),
    "expired": ("expired", {}, "the broker's certificate has expired; renew it on the broker"),
    "name mismatch": ("mismatch", {},
                      "the broker's certificate is not valid for 127.0.0.1 (IP address "
                      "mismatch, certificate is not valid for '127.0.0.1'.)"),
    "no client certificate": ("mtls", {},
                              "the broker requires a client certificate (the broker sent TLS "
                              "alert 'certificate required'); set "
                              "kafka.ssl.certificate.location and kafka.ssl.key.location"),
    "refused client certificate": ("mtls", {"ssl.certificate.location": "stranger.pem",
                                            "ssl.key.location": "stranger.key"},
                                   "the broker refused this client's certificate"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tls_failure_ends_the_worker_with_one_sentence(tls: TlsSetup, tmp_path: Path,
                                                       case: str) -> None:
    endpoint, changes, expected = CASES[case]
    kafka: dict[str, Any] = tls.server_auth()
    for name, value in changes.items():
        if value is None:
            kafka.pop(name)
        else:
            kafka[name] = tls.certs.path(value)
    ep = tls.endpoint(endpoint)
    lines = _worker_fails(ep.bootstrap, kafka, tmp_path)
    assert lines == [lines[0]]
    head = f"streamproc worker: error: cannot connect to Kafka at {ep.bootstrap} over TLS: "
    assert lines[0].startswith(head), lines[0]
    assert expected in lines[0]


def test_faust_engine_names_a_tls_failure_too(tls: TlsSetup, tmp_path: Path) -> None:
    ep = tls.endpoint("expired")
    lines = _worker_fails(ep.bootstrap, tls.server_auth(), tmp_path, engine="faust")
    assert lines[-1].startswith(f"streamproc worker: error: cannot connect to Kafka at "
                                f"{ep.bootstrap} over TLS: the broker's certificate has expired")


@pytest.fixture
def authenticating_broker(tmp_path: Path) -> Iterator[str]:
    """Tansu requiring SASL: it knows no user, so every authentication fails."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "tansu.log", "wb") as out:
        proc = subprocess.Popen([broker_binary(), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url, "--authentication"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), 15, "the authenticating broker")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sasl_failure_ends_the_worker_without_showing_the_password(
    authenticating_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "sasl-password-5b2e91"
    monkeypatch.setenv("KAFKA_PASSWORD", password)
    kafka = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
             "sasl.username": "svc", "sasl.password": {"env": "KAFKA_PASSWORD"}}
    lines = _worker_fails(authenticating_broker, kafka, tmp_path)
    assert lines == [
        f"streamproc worker: error: cannot connect to Kafka at {authenticating_broker}: SASL "
        "authentication failed (SASL authentication error: SASL SCRAM authentication failed: "
        "broker responded with unknown-user); check kafka.sasl.username, "
        "kafka.sasl.password and kafka.sasl.mechanism"]
    assert password not in "\n".join(lines)


def test_faust_engine_consumes_over_mutual_tls(tls: TlsSetup, tmp_path: Path) -> None:
    ep = tls.endpoint("mtls")
    kafka = _mutual(tls, tmp_path / "key.passphrase")
    s = settings_for(ep, "faust-tls", kafka=kafka, engine="faust",
                     detection={"reference_size": REFERENCE_SIZE})
    worker = WorkerProcess(s, tmp_path / "worker.log")
    worker.wait_ready(90)
    with EventProducer(ep.bootstrap, features_topic=s.features_topic, kafka=kafka) as events:
        _send(events, "faust-tls-model", seed=7)
    wait_until(lambda: worker.absorbed() >= 1200, 90, "the Faust app consumed over TLS")
    wait_until(lambda: _alert_count(worker) >= 1, 30, "an alert")
    assert worker.terminate() == 0
    assert KEY_PASSPHRASE not in worker.log.read_text()


def test_plaintext_client_on_the_tls_port_times_out_with_a_hint(tls: TlsSetup) -> None:
    ep = tls.endpoint("tls")
    env = {**os.environ, "STREAMPROC_BROKER": ep.bootstrap,
           "STREAMPROC_KAFKA": '{"security.protocol": "PLAINTEXT"}',
           "STREAMPROC_BROKER_TIMEOUT_SECONDS": "3", "STREAMPROC_METRICS_PORT": "0"}
    result = run_cli("worker", env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "and check that kafka.security.protocol (PLAINTEXT) is what the listener speaks")


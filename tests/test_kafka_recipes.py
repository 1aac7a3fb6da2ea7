"""The SASL recipes in examples/kafka/ reach librdkafka unchanged, the SDK takes the same
properties, and the Faust engine translates them to aiokafka credentials (or refuses).

SASL itself cannot be exercised against the embedded broker: these tests load each
recipe as the worker does, build the worker's client configurations from it and have
librdkafka accept them; no client is pointed at a broker other than a closed local port.
The OIDC recipe's token endpoint is replaced by one on 127.0.0.1, which sees the
client-credentials request librdkafka makes with the recipe's client id, secret and scope.
"""

from __future__ import annotations

import base64
import http.server
import os
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
from confluent_kafka import Consumer, Producer

from streamproc.broker import free_port
from streamproc.client import EventProducer
from streamproc.config import load_settings
from streamproc.errors import ConfigError
from streamproc.faust.credentials import broker_credentials
from streamproc.kafka.common import base_config, consumer_config

from .conftest import REPO, wait_until
from .integration.tls import KEY_PASSPHRASE, Certificates

RECIPES = REPO / "examples" / "kafka"
SECRET = "recipe-secret-0c4d"


@pytest.fixture(autouse=True)
def _no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMPROC_KAFKA"):
            monkeypatch.delenv(name)


def _accepted_by_librdkafka(kafka: dict[str, str]) -> None:
    """The worker's producer and consumer configurations, built and constructed."""
    closed = f"127.0.0.1:{free_port()}"
    producer = base_config(closed, "streamproc-worker", kafka, {"acks": "all"})
    consumer = consumer_config(closed, "streamproc-worker", kafka,
                               {"group.id": "g", "enable.auto.commit": False})
    for config in (producer, consumer):
        assert {k: config[k] for k in kafka} == kafka  # unchanged, secrets included
    Producer({**producer, "log_level": 0})
    Consumer({**consumer, "log_level": 0}).close()


def test_confluent_cloud_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFLUENT_API_KEY", "ABCDEFG123")
    monkeypatch.setenv("CONFLUENT_API_SECRET", SECRET)
    s = load_settings(RECIPES / "confluent-cloud.yaml")
    assert s.broker == "pkc-12345.eu-west-1.aws.confluent.cloud:9092"
    kafka = s.kafka_properties()
    assert kafka == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                     "sasl.username": "ABCDEFG123", "sasl.password": SECRET}
    assert SECRET not in repr(s)
    _accepted_by_librdkafka(kafka)


def test_scram_recipe_reads_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "sasl.password"
    secret.write_text(SECRET + "\n")  # as `kubectl create secret --from-file` leaves it
    text = (RECIPES / "scram.yaml").read_text()
    assert "{file: /etc/streamproc/secrets/sasl.password}" in text
    recipe = tmp_path / "scram.yaml"  # the same recipe, the secret where the test put it
    recipe.write_text(text.replace("/etc/streamproc/secrets/sasl.password", str(secret)))
    kafka = load_settings(recipe).kafka_properties()
    assert kafka == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                     "sasl.username": "streamproc", "sasl.password": SECRET}
    _accepted_by_librdkafka(kafka)


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[dict[str, str], dict[str, list[str]]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.requests.append((dict(self.headers), urllib.parse.parse_qs(body)))
        self.send_response(401)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    _TokenEndpoint.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token"
    finally:
        server.shutdown()
        thread.join(10)


def test_oidc_recipe_asks_the_token_endpoint_with_its_client_credentials(
    token_endpoint: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMPROC_OIDC_CLIENT_SECRET", SECRET)
    # Only the endpoint changes (nested environment over the file): nothing leaves 127.0.0.1.
    monkeypatch.setenv("STREAMPROC_KAFKA__sasl.oauthbearer.token.endpoint.url", token_endpoint)
    s = load_settings(RECIPES / "oidc.yaml")  # librdkafka builds clients: they ask for a token
    kafka = s.kafka_properties()
    assert kafka == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.token.endpoint.url": token_endpoint,
        "sasl.oauthbearer.client.id": "streamproc-worker",
        "sasl.oauthbearer.client.secret": SECRET, "sasl.oauthbearer.scope": "kafka"}
    assert SECRET not in repr(s)
    _accepted_by_librdkafka(kafka)
    headers, form = wait_until(lambda: _TokenEndpoint.requests and _TokenEndpoint.requests[0],
                               10, "a token request")
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["kafka"]
    basic = base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode()
    assert basic == f"streamproc-worker:{SECRET}"


def test_event_producer_takes_the_kafka_properties(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    secret = tmp_path / "pw"
    secret.write_text(SECRET)
    with pytest.raises(ConfigError, match="kafka.ssl.ca.location: librdkafka cannot build the "
                       "producer with it") as caught:
        EventProducer(closed, kafka={"security.protocol": "SASL_SSL", "sasl.username": "u",
                                     "sasl.mechanism": "PLAIN",
                                     "sasl.password": {"file": str(secret)},
                                     "ssl.ca.location": str(tmp_path / "missing.pem")})
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="kafka.bootstrap.servers cannot be set: it is "
                       "EventProducer's first argument"):
        EventProducer(closed, kafka={"bootstrap.servers": closed})
    lines: list[str] = []

    class Log:
        def log(self, _level: int, fmt: str, *args: Any) -> None:
            lines.append(fmt % args)

    producer = EventProducer(closed, kafka={"security.protocol": "SASL_PLAINTEXT",
                                            "sasl.mechanism": "PLAIN", "sasl.username": "u",
                                            "sasl.password": {"file": str(secret)}},
                             config={"logger": Log(), "log_level": 7, "debug": "security"})
    wait_until(lambda: producer._producer.poll(0.1) is not None and any(  # serves the log
        "Selected provider PLAIN (builtin) for SASL mechanism PLAIN" in line for line in lines),
        10, "librdkafka's SASL set-up")
    assert not any(SECRET in line for line in lines)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


def test_faust_credentials_for_mutual_tls(certs: Certificates) -> None:
    creds = broker_credentials({
        "security.protocol": "SSL", "ssl.ca.location": certs.path("ca.pem"),
        "ssl.certificate.location": certs.path("client.pem"),
        "ssl.key.location": certs.path("client-encrypted.key"),
        "ssl.key.password": KEY_PASSPHRASE, "client.id": "ml"})
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_REQUIRED and creds.context.check_hostname
    assert [c["subject"] for c in creds.context.get_ca_certs()] == [
        ((("commonName", "streamproc test ca"),),)]


def test_faust_credentials_for_sasl(certs: Certificates) -> None:
    creds = broker_credentials({"security.protocol": "SASL_SSL",
                                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "svc",
                                "sasl.password": SECRET, "ssl.ca.location": certs.path("ca.pem"),
                                "ssl.endpoint.identification.algorithm": "none"})
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.mechanism.value, creds.username, creds.password) == (
        "SCRAM-SHA-512", "svc", SECRET)
    assert creds.protocol.value == "SASL_SSL" and not creds.ssl_context.check_hostname
    plain = broker_credentials({"security.protocol": "SASL_PLAINTEXT",
                                "sasl.mechanism": "PLAIN", "sasl.username": "u",
                                "sasl.password": SECRET})
    assert plain.protocol.value == "SASL_PLAINTEXT" and plain.ssl_context is None
    assert SECRET not in repr(creds)
    assert broker_credentials({}) is None


@pytest.mark.parametrize(("kafka", "what"), [
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
      "sasl.oauthbearer.method": "oidc"}, "kafka.sasl.oauthbearer.method"),
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"},
     "kafka.sasl.mechanism OAUTHBEARER"),
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI"}, "kafka.sasl.mechanism GSSAPI"),
    ({"security.protocol": "SSL", "ssl.keystore.location": "/k.p12"},
     "kafka.ssl.keystore.location"),
])
def test_faust_credentials_refuse_what_aiokafka_cannot_take(kafka: dict, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        broker_credentials(kafka)
    assert str(caught.value) == (
        f"{what} cannot be given to the Faust engine's aiokafka clients; use the default "
        "engine (--engine librdkafka), which takes every property")

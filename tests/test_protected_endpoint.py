"""The worker's HTTP endpoint (the server both engines run) with a web configuration file:
real TLS with certificates made by openssl, real bcrypt, real HTTP clients."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Counter

from streamproc.http import Health, HttpEndpoint

from .pki import Pki, basic, fetch, issue, make_pki

# Cost 4, bcrypt's least: the tests check outcomes, not the cost.
PASSWORD = "scrape-secret"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def web_config(directory: Path, text: str) -> Path:
    """Write ``text`` as a web config, atomically (a new inode, as a Kubernetes secret)."""
    path = directory / "web.yml"
    scratch = directory / ".web.yml.new"
    scratch.write_text(text)
    os.replace(scratch, path)
    return path


def tls_section(pki: Pki, **extra: str) -> str:
    lines = [f"  cert_file: {pki.server_cert}", f"  key_file: {pki.server_key}"]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "tls_server_config:\n" + "\n".join(lines) + "\n"


@contextmanager
def endpoint(config: Path) -> Iterator[HttpEndpoint]:
    registry = CollectorRegistry()
    Counter("streamproc_test_scrapes", "A series to find in the exposition.",
            registry=registry).inc()
    http = HttpEndpoint("127.0.0.1", 0, registry, Health(), config)
    http.start()
    try:
        yield http
    finally:
        http.stop()


def base(http: HttpEndpoint) -> str:
    return http.url.removesuffix("/metrics")


def test_basic_auth_over_tls_asks_everyone_for_the_password(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, tls_section(pki) + "basic_auth_users:\n"
                     f"  prometheus: {HASH}\n"
                     "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    with endpoint(cfg) as http:
        assert http.url.startswith("https://127.0.0.1:")
        for path in ("/metrics", "/livez", "/readyz", "/"):  # every path, as the toolkit
            refused = fetch(base(http) + path, ca=pki.ca)
            assert (refused.status, refused.headers["WWW-Authenticate"]) == (401, "Basic")
            assert refused.headers["X-Frame-Options"] == "deny"
        wrong = fetch(http.url, ca=pki.ca, authorization=basic("prometheus", "guess"))
        assert (wrong.status, wrong.headers["WWW-Authenticate"]) == (401, "Basic")
        unknown = fetch(http.url, ca=pki.ca, authorization=basic("grafana", PASSWORD))
        assert unknown.status == 401
        ok = fetch(http.url, ca=pki.ca, authorization=basic("prometheus", PASSWORD))
        assert ok.status == 200 and "WWW-Authenticate" not in ok.headers
        assert b"streamproc_test_scrapes_total 1.0" in ok.body
        assert ok.headers["X-Frame-Options"] == "deny"
        live = fetch(base(http) + "/livez", ca=pki.ca,
                     authorization=basic("prometheus", PASSWORD))
        assert (live.status, live.body) == (200, b"ok\n")
        with pytest.raises((ssl.SSLError, OSError)):  # plain HTTP to the TLS port: no answer
            fetch(http.url.replace("https://", "http://"))


def test_checks_are_cached_and_a_wrong_password_is_never_admitted(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: {HASH}\n")
    with endpoint(cfg) as http:
        auth = http.policy.auth  # type: ignore[union-attr]
        statuses = [fetch(http.url, authorization=basic("prometheus", PASSWORD)).status
                    for _ in range(5)]
        assert statuses == [200] * 5 and auth.comparisons == 1
        wrong = [fetch(http.url, authorization=basic("prometheus", "guess")).status
                 for _ in range(3)]
        assert wrong == [401] * 3 and auth.comparisons == 2  # the refusal is cached as one
        assert fetch(http.url, authorization=basic("prometheus", PASSWORD)).status == 200
        assert auth.comparisons == 2
        too_long = fetch(http.url, authorization=basic("prometheus", PASSWORD + "x" * 80))
        assert too_long.status == 401


def test_a_changed_file_applies_to_the_next_request(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: {HASH}\n")
    with endpoint(cfg) as http:
        assert fetch(http.url, authorization=basic("prometheus", PASSWORD)).status == 200
        new_hash = bcrypt.hashpw(b"rotated", bcrypt.gensalt(4)).decode()
        web_config(tmp_path, f"basic_auth_users:\n  prometheus: {new_hash}\n")
        # The cached admission is keyed by the old hash: it no longer opens the door.
        assert fetch(http.url, authorization=basic("prometheus", PASSWORD)).status == 401
        assert fetch(http.url, authorization=basic("prometheus", "rotated")).status == 200
        web_config(tmp_path, "basic_auth_users:\n  prometheus: not-a-hash\n")
        assert fetch(http.url, authorization=basic("prometheus", "rotated")).status == 500
        web_config(tmp_path, f"basic_auth_users:\n  prometheus: {new_hash}\n")
        assert fetch(http.url, authorization=basic("prometheus", "rotated")).status == 200


def _served_certificate(http: HttpEndpoint, ca: Path) -> bytes:
    import socket

    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", http.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_renewed_certificate_is_served_without_a_restart(pki, tmp_path) -> None:
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes(pki.server_cert.read_bytes())
    key.write_bytes(pki.server_key.read_bytes())
    cfg = web_config(tmp_path, "tls_server_config:\n  cert_file: live.crt\n"
                               "  key_file: live.key\n")  # relative to the file's directory
    with endpoint(cfg) as http:
        first = _served_certificate(http, pki.ca)
        assert first == ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
        renewed = issue(tmp_path, "renewed", (pki.ca, pki.dir / "ca.key"),
                        ("IP:127.0.0.1",), "serverAuth")
        os.replace(renewed[1], key)
        os.replace(renewed[0], cert)
        second = _served_certificate(http, pki.ca)
        assert second != first
        assert second == ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_mutual_tls_refuses_clients_without_a_certificate_of_the_ca(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, tls_section(pki, client_auth_type="RequireAndVerifyClientCert",
                                           client_ca_file=str(pki.ca)))
    with endpoint(cfg) as http:
        with pytest.raises((ssl.SSLError, OSError)):
            fetch(http.url, ca=pki.ca)
        with pytest.raises((ssl.SSLError, OSError)):
            fetch(http.url, ca=pki.ca, cert=(pki.stranger_cert, pki.stranger_key))
        ok = fetch(http.url, ca=pki.ca, cert=(pki.client_cert, pki.client_key))
        assert ok.status == 200


def test_verify_client_cert_if_given_admits_none_but_not_a_stranger(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, tls_section(pki, client_auth_type="VerifyClientCertIfGiven",
                                           client_ca_file=str(pki.ca)))
    with endpoint(cfg) as http:
        assert fetch(http.url, ca=pki.ca).status == 200
        assert fetch(http.url, ca=pki.ca, cert=(pki.client_cert, pki.client_key)).status == 200
        with pytest.raises((ssl.SSLError, OSError)):
            fetch(http.url, ca=pki.ca, cert=(pki.stranger_cert, pki.stranger_key))


@pytest.mark.parametrize("sans, admitted", [
    ("[prometheus]", True),
    ("['spiffe://streamproc.test/prometheus']", True),
    ("[grafana, 127.0.0.1]", False),
])
def test_client_allowed_sans(pki, tmp_path, sans: str, admitted: bool) -> None:
    cfg = web_config(tmp_path, tls_section(pki, client_auth_type="RequireAndVerifyClientCert",
                                           client_ca_file=str(pki.ca),
                                           client_allowed_sans=sans))
    with endpoint(cfg) as http:
        client = (pki.client_cert, pki.client_key)
        if admitted:
            assert fetch(http.url, ca=pki.ca, cert=client).status == 200
        else:
            with pytest.raises((ssl.SSLError, OSError)):
                fetch(http.url, ca=pki.ca, cert=client)


def test_min_version_refuses_older_clients(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, tls_section(pki, min_version="TLS13"))
    with endpoint(cfg) as http:
        assert fetch(http.url, ca=pki.ca).status == 200
        with pytest.raises(ssl.SSLError):
            fetch(http.url, ca=pki.ca, max_version=ssl.TLSVersion.TLSv1_2)


def test_rate_limit_answers_429_past_the_burst(pki, tmp_path) -> None:
    cfg = web_config(tmp_path, "rate_limit:\n  interval: 1h\n  burst: 2\n")
    with endpoint(cfg) as http:
        assert [fetch(http.url).status for _ in range(3)] == [200, 200, 429]


def test_without_a_web_config_the_endpoint_is_plain_http() -> None:
    http = HttpEndpoint("127.0.0.1", 0, CollectorRegistry(), Health())
    http.start()
    try:
        assert http.url.startswith("http://") and http.policy is None
        assert fetch(base(http) + "/livez").status == 200
    finally:
        http.stop()

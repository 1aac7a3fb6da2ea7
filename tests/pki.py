"""Certificates for the TLS tests, made by the `openssl` command in a temp dir, and a
client that presents them (:func:`fetch`).

Two CAs: ``ca`` signs the server certificate (SANs localhost and 127.0.0.1) and the
``client`` certificate (SANs DNS:prometheus and a SPIFFE URI); ``other_ca`` signs
``stranger``, a client certificate the server must not trust. EC P-256 keys: made in
milliseconds, and every TLS stack here (Python's ssl, Go's crypto/tls) speaks them.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

__all__ = ["Pki", "Response", "basic", "fetch", "make_pki"]

CLIENT_SANS = ("DNS:prometheus", "URI:spiffe://streamproc.test/prometheus")
# Long enough that no run of the suite outlives them.
DAYS = "2"


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    stranger_cert: Path
    stranger_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(path))


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _key(key)
    _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", DAYS,
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def issue(directory: Path, name: str, ca: tuple[Path, Path], sans: tuple[str, ...],
          usage: str) -> tuple[Path, Path]:
    """A leaf certificate signed by ``ca`` (cert, key): ``usage`` serverAuth or clientAuth."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _key(key)
    _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", DAYS,
             "-subj", f"/CN={name}", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-addext", "basicConstraints=critical,CA:FALSE",
             "-addext", "keyUsage=critical,digitalSignature",
             "-addext", f"extendedKeyUsage={usage}",
             "-addext", "subjectAltName=" + ",".join(sans))
    return cert, key


def make_pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        message = "openssl not installed (scripts/test.sh installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "ca")
    other = _ca(directory, "other-ca")
    server = issue(directory, "server", ca, ("DNS:localhost", "IP:127.0.0.1"), "serverAuth")
    client = issue(directory, "client", ca, CLIENT_SANS, "clientAuth")
    stranger = issue(directory, "stranger", other, ("DNS:prometheus",), "clientAuth")
    return Pki(directory, ca[0], *server, *client, other[0], *stranger)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def basic(user: str, password: str) -> str:
    """The Authorization header value of basic-auth credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def client_context(ca: Path | None, cert: tuple[Path, Path] | None = None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def fetch(url: str, *, ca: Path | None = None, cert: tuple[Path, Path] | None = None,
          authorization: str | None = None, max_version: ssl.TLSVersion | None = None,
          timeout: float = 10.0) -> Response:
    """GET ``url`` (http or https, verified against ``ca``), presenting ``cert`` if given.

    Raises ssl.SSLError or OSError when the connection is refused or cut before an answer.
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout,
            context=client_context(ca, cert, max_version))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Authorization": authorization} if authorization else {}
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers)
        resp = conn.getresponse()
        return Response(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()

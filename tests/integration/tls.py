"""Real TLS in front of the embedded broker: certificates made with `openssl`, Debian's
`stunnel4` terminating TLS, Tansu advertising the TLS port.

Tansu listens on a plain port on 127.0.0.1 and advertises the stunnel port in its
metadata, so a client that bootstraps through stunnel also reaches the broker through
it afterwards: nothing but TLS is ever spoken to a client.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamproc.broker import EmbeddedBroker, free_port

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
KEY_PASSPHRASE = "tls-key-passphrase-7d1c0e"  # encrypts the mutual-TLS client key


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; scripts/test.sh installs it")
        pytest.skip(f"{name} not installed (scripts/test.sh installs it)")
    return path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Certificates:
    """A CA, a second unrelated CA, and the certificates the tests need, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        require_tool("openssl")
        self.dir = directory
        for ca in ("ca", "other-ca"):
            _openssl("req", "-x509", *_EC, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                     "-days", "2", "-subj", f"/CN=streamproc test {ca}", cwd=directory)
        names = "IP:127.0.0.1,DNS:localhost"
        self._sign("server", "localhost", names, days=2)
        self._sign("expired", "localhost", names, days=-1)  # notAfter one day before now
        self._sign("mismatch", "broker.invalid", "DNS:broker.invalid", days=2)
        self._sign("client", "streamproc-client", "DNS:streamproc-client", days=2)
        self._sign("stranger", "streamproc-client", "DNS:streamproc-client", days=2,
                   ca="other-ca")
        _openssl("pkey", "-in", "client.key", "-aes256", "-passout", f"pass:{KEY_PASSPHRASE}",
                 "-out", "client-encrypted.key", cwd=directory)

    def _sign(self, name: str, cn: str, names: str, days: int, ca: str = "ca") -> None:
        (self.dir / f"{name}.ext").write_text(
            f"subjectAltName={names}\nbasicConstraints=CA:FALSE\n")
        _openssl("req", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", str(days),
                 "-extfile", f"{name}.ext", cwd=self.dir)

    def path(self, name: str) -> str:
        return str(self.dir / name)


@dataclass
class Service:
    """One stunnel endpoint: TLS on ``port``, relayed to ``target`` in plain TCP."""

    name: str
    port: int
    target: int
    cert: str
    verify_clients_with: str | None = None  # CA file: mutual TLS (stunnel `verify = 2`)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def stunnel(services: list[Service], certs: Certificates, log: Path) -> Iterator[None]:
    """One stunnel process serving every service until the block ends."""
    binary = require_tool("stunnel4") if shutil.which("stunnel4") else require_tool("stunnel")
    lines = ["foreground = yes", "pid =", "debug = 5", f"output = {log}"]
    for s in services:
        lines += [f"[{s.name}]", f"accept = 127.0.0.1:{s.port}",
                  f"connect = 127.0.0.1:{s.target}",
                  f"cert = {certs.path(s.cert + '.pem')}", f"key = {certs.path(s.cert + '.key')}"]
        if s.verify_clients_with:
            lines += [f"CAfile = {s.verify_clients_with}", "verify = 2"]
    conf = log.with_suffix(".conf")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([binary, str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not all(_port_open(s.port) for s in services):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"stunnel did not start; see {log} and {conf}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class TlsSetup:
    """Brokers reachable only through TLS, and endpoints that fail in known ways."""

    certs: Certificates
    services: dict[str, Service] = field(default_factory=dict)
    plain_bootstrap: str = ""  # the TLS broker's own plain port (no TLS there)

    def endpoint(self, name: str) -> Service:
        return self.services[name]

    def server_auth(self, ca: str = "ca.pem") -> dict[str, str]:
        """``kafka`` properties that verify the broker with the CA file ``ca``."""
        return {"security.protocol": "SSL", "ssl.ca.location": self.certs.path(ca)}


@contextmanager
def tls_setup(directory: Path) -> Iterator[TlsSetup]:
    """Two Tansu brokers (server-verified TLS; mutual TLS) behind one stunnel, plus
    endpoints with an expired certificate, a certificate for another name, and one whose
    certificate an unrelated CA signed."""
    certs = Certificates(directory)
    tls_port, mtls_port = free_port(), free_port()
    setup = TlsSetup(certs)
    with EmbeddedBroker(free_port(), log_file=directory / "tansu-tls.log",
                        advertised_port=tls_port) as tls_broker, \
            EmbeddedBroker(free_port(), log_file=directory / "tansu-mtls.log",
                           advertised_port=mtls_port) as mtls_broker:
        plain = tls_broker.port
        services = [
            Service("tls", tls_port, plain, "server"),
            Service("mtls", mtls_port, mtls_broker.port, "server",
                    verify_clients_with=certs.path("ca.pem")),
            Service("expired", free_port(), plain, "expired"),
            Service("mismatch", free_port(), plain, "mismatch"),
        ]
        setup.services = {s.name: s for s in services}
        setup.plain_bootstrap = tls_broker.bootstrap
        with stunnel(services, certs, directory / "stunnel.log"):
            yield setup

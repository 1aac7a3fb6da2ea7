"""``tls_server_config`` as an :class:`ssl.SSLContext`, and the client-SAN check.

How the toolkit's ``client_auth_type`` (Go's ``tls.ClientAuthType``) maps onto Python:

==========================  ==================  ===============================================
client_auth_type            ssl verify_mode     difference from Go
==========================  ==================  ===============================================
NoClientCert                CERT_NONE           none
RequestClientCert           CERT_NONE           Go asks for a certificate and ignores it; here
                                                none is asked for. Either way every client is
                                                admitted and its certificate is not used.
RequireAnyClientCert        CERT_REQUIRED       Go admits any certificate, unverified. Python
                                                cannot require one without verifying it: it
                                                is refused without client_ca_file/client_ca
                                                (:mod:`.config`), and with one it is checked
                                                against that CA, as RequireAndVerifyClientCert.
VerifyClientCertIfGiven     CERT_OPTIONAL       none
RequireAndVerifyClientCert  CERT_REQUIRED       none
==========================  ==================  ===============================================

Without ``client_ca_file``/``client_ca``, certificates are verified against the system's
CAs, as Go does with a nil ``ClientCAs``. ``min_version``/``max_version`` set the
context's bounds; ``cipher_suites`` (TLS 1.2 suites; 1.3 ones are not configurable, as
in Go) become OpenSSL cipher names; one ``curve_preferences`` entry restricts the key
exchange to that curve; ``prefer_server_cipher_suites`` is OP_CIPHER_SERVER_PREFERENCE.
``client_allowed_sans`` is checked after the handshake (:func:`san_allowed`): a client
whose certificate lacks them is disconnected before its request is read, where Go
fails the handshake itself.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import TlsServerConfig
from .names import CIPHER_SUITES, CURVES

__all__ = ["VERIFY_MODES", "san_allowed", "server_context"]

VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return b""


def server_context(tls: TlsServerConfig, origin: Path) -> ssl.SSLContext:
    """The server context ``tls`` describes; ConfigError naming the file if it cannot load."""
    where = f"web config {origin}: tls_server_config"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    ctx.maximum_version = _VERSIONS[tls.max_version]
    # The endpoint speaks HTTP/1.1 only (http2 in the file cannot change that).
    ctx.set_alpn_protocols(["http/1.1"])
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = [CIPHER_SUITES[name] for name in tls.cipher_suites if CIPHER_SUITES[name]]
    if tls12:
        ctx.set_ciphers(":".join(n for n in tls12 if n))
    if tls.curve_preferences:
        ctx.set_ecdh_curve(CURVES[tls.curve_preferences[0]])
    _load_pair(ctx, tls, where)
    ctx.verify_mode = VERIFY_MODES[tls.client_auth_type]
    if ctx.verify_mode != ssl.CERT_NONE:
        try:
            if tls.client_ca_file is not None:
                ctx.load_verify_locations(cafile=str(tls.client_ca_file))
            elif tls.client_ca is not None:
                ctx.load_verify_locations(cadata=tls.client_ca)
            else:
                ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        except (ssl.SSLError, ValueError) as exc:
            name = "client_ca_file" if tls.client_ca_file else "client_ca"
            raise ConfigError(f"{where}.{name} holds no usable CA certificate ({exc}); give "
                              "the PEM certificate of the CA that signs the clients") from None
    return ctx


def _load_pair(ctx: ssl.SSLContext, tls: TlsServerConfig, where: str) -> None:
    names = (f"{where}.{'cert_file' if tls.cert_file else 'cert'} and "
             f"{'key_file' if tls.key_file else 'key'}")
    with tempfile.TemporaryDirectory(prefix="streamproc-tls-") as scratch:
        # load_cert_chain reads files only: inline PEM goes to a private temp file.
        cert = tls.cert_file or _private_file(Path(scratch) / "cert.pem", tls.cert or "")
        key = tls.key_file or _private_file(Path(scratch) / "key.pem", tls.key or "")
        try:
            ctx.load_cert_chain(str(cert), str(key), password=_no_passphrase)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{names} cannot be loaded as a certificate and its private key ({exc}); "
                "give a PEM certificate and the unencrypted PEM key that matches it") from None


def _private_file(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def _sans(peercert: dict[str, Any]) -> Iterable[str]:
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "IP Address":
            yield str(ipaddress.ip_address(value.strip()))  # Go's net.IP.String() form
        else:  # DNS, email, URI
            yield value


def san_allowed(peercert: dict[str, Any] | None, allowed: tuple[str, ...]) -> bool:
    """Whether the verified client certificate has a SAN in ``allowed`` (exact match).

    >>> cert = {"subjectAltName": (("DNS", "prometheus"), ("IP Address", "10.0.0.7"))}
    >>> san_allowed(cert, ("prometheus",)), san_allowed(cert, ("10.0.0.7",))
    (True, True)
    >>> san_allowed(cert, ("grafana",)), san_allowed(None, ("prometheus",))
    (False, False)
    """
    if not peercert:
        return False
    wanted = set()
    for entry in allowed:
        try:
            wanted.add(str(ipaddress.ip_address(entry)))
        except ValueError:
            wanted.add(entry)
    return any(san in wanted for san in _sans(peercert))

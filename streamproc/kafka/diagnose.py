"""Why a client cannot connect: TLS and SASL failures named in one sentence.

librdkafka retries a failed TLS handshake or SASL authentication forever (every
few milliseconds) and reports each attempt through ``error_cb`` and its log. At
start-up :class:`ConnectionWatch` listens to both instead of logging them, and
:func:`failure_sentence` turns the last failure into what to fix. Such a failure
does not heal by waiting, so the start-up check stops as soon as it has seen one
twice.

librdkafka says only "certificate verify failed" for an unknown CA, an expired
certificate and a name mismatch alike; :func:`verify_reason` asks Python's ``ssl``
(the same OpenSSL checks) for the precise reason, with the same CA and name check.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError

__all__ = ["ConnectionWatch", "Failure", "classify", "failure_sentence", "verify_reason"]

_librdkafka_log = logging.getLogger("librdkafka")
PROBE_TIMEOUT_SECONDS = 3.0
DEFINITE_AFTER = 2  # the same kind of failure seen this often ends the start-up check

_BROKER = re.compile(r"(?:sasl_ssl|ssl|sasl_plaintext|plaintext)://([^/\s]+)/")
_CLIENT_CERT = re.compile(r"alert (certificate required|bad certificate|unknown ca|"
                          r"certificate unknown|certificate expired|certificate revoked|"
                          r"access denied|unsupported certificate)")


@dataclass(frozen=True)
class Failure:
    """One failed connection attempt: ``kind`` is verify, client_cert, not_tls, sasl."""

    kind: str
    broker: str | None
    detail: str


def classify(text: str, code: int | None = None) -> Failure | None:
    """The failure librdkafka describes in ``text``, or None if it is not TLS/SASL."""
    where = _BROKER.search(text)
    broker = where.group(1) if where else None
    if "certificate verify failed" in text:
        return Failure("verify", broker, "certificate verify failed")
    alert = _CLIENT_CERT.search(text)
    if alert:
        return Failure("client_cert", broker, f"the broker sent TLS alert '{alert.group(1)}'")
    if "wrong version number" in text or "packet length too long" in text:
        return Failure("not_tls", broker, "the listener does not answer in TLS")
    if code == KafkaError._AUTHENTICATION or "SASL authentication error" in text \
            or "mechanism handshake failed" in text:
        detail = text.split(": ", 1)[1] if where else text
        return Failure("sasl", broker, re.sub(r" \(after \d+ms in state \w+\)$", "", detail))
    return None


class ConnectionWatch:
    """``error_cb`` and ``logger`` of a client: quiet while ``checking``, recording TLS and
    SASL failures; afterwards it logs like every other client."""

    def __init__(self, on_error: Callable[[KafkaError], None]) -> None:
        self.checking = True
        self.last: Failure | None = None
        self.seen = 0
        self._on_error = on_error

    def _record(self, failure: Failure | None) -> None:
        if failure is not None:
            self.seen = self.seen + 1 if self.last and self.last.kind == failure.kind else 1
            self.last = failure

    @property
    def definite(self) -> bool:
        return self.last is not None and self.seen >= DEFINITE_AFTER

    def __call__(self, err: KafkaError) -> None:  # error_cb
        if self.checking:
            self._record(classify(err.str(), err.code()))
        else:
            self._on_error(err)

    def log(self, level: int, fmt: str, *args: Any) -> None:  # logger
        if self.checking:
            self._record(classify(fmt % args if args else fmt))
        else:
            _librdkafka_log.log(level, fmt, *args)


def _context(kafka: Mapping[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca = kafka.get("ssl.ca.location")
    if ca and ca != "probe":
        is_dir = os.path.isdir(ca)
        ctx = ssl.create_default_context(cafile=None if is_dir else ca,
                                         capath=ca if is_dir else None)
    if kafka.get("ssl.ca.pem"):
        ctx = ssl.create_default_context(cadata=kafka["ssl.ca.pem"])
    ctx.check_hostname = kafka.get("ssl.endpoint.identification.algorithm", "https") != "none"
    return ctx


def verify_reason(broker: str, kafka: Mapping[str, str]) -> tuple[int, str] | None:
    """OpenSSL's verify code and reason for ``broker``'s certificate, checked like
    librdkafka checks it, or None if Python's check passes or cannot be made."""
    host, _, port = broker.rpartition(":")
    host = host.strip("[]")
    try:
        ctx = _context(kafka)
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_SECONDS) as sock, \
                ctx.wrap_socket(sock, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message
    except (OSError, ValueError):
        return None


# OpenSSL verify codes (X509_V_ERR_*) and what to do about each.
_UNKNOWN_CA = {2, 18, 19, 20, 21}
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = {62, 64}


def _verify_hint(code: int | None, reason: str | None, host: str) -> str:
    if code in _UNKNOWN_CA:
        return (f"certificate verify failed ({reason}: the broker's certificate is not signed "
                "by a CA this client trusts); set kafka.ssl.ca.location to the CA that signed "
                "the broker's certificate")
    if code == _EXPIRED:
        return ("the broker's certificate has expired; renew it on the broker (or correct "
                "this machine's clock if it is wrong)")
    if code == _NOT_YET_VALID:
        return "the broker's certificate is not valid yet; check the clocks of both machines"
    if code in _NAME_MISMATCH:
        return (f"the broker's certificate is not valid for {host} ({reason}); connect with a "
                "name the certificate lists (--broker and the broker's advertised listener) "
                "or reissue it; kafka.ssl.endpoint.identification.algorithm: none turns the "
                "check off, insecurely")
    return ("certificate verify failed" + (f" ({reason})" if reason else "")
            + "; check kafka.ssl.ca.location and the broker's certificate")


def failure_sentence(failure: Failure, bootstrap: str, kafka: Mapping[str, str]) -> str:
    """One sentence: which broker, what failed, what to set."""
    broker = failure.broker or bootstrap.split(",")[0].strip()
    host = broker.rpartition(":")[0].strip("[]")
    head = f"cannot connect to Kafka at {broker}"
    if failure.kind == "verify":
        found = verify_reason(broker, kafka)
        code, reason = found if found else (None, None)
        return f"{head} over TLS: {_verify_hint(code, reason, host)}"
    if failure.kind == "client_cert":
        if kafka.get("ssl.certificate.location") or kafka.get("ssl.keystore.location") \
                or kafka.get("ssl.certificate.pem"):
            return (f"{head} over TLS: the broker refused this client's certificate "
                    f"({failure.detail}); give kafka.ssl.certificate.location and "
                    "kafka.ssl.key.location a certificate signed by a CA the broker trusts")
        return (f"{head} over TLS: the broker requires a client certificate "
                f"({failure.detail}); set kafka.ssl.certificate.location and "
                "kafka.ssl.key.location (mutual TLS)")
    if failure.kind == "not_tls":
        return (f"{head} over TLS: {failure.detail}; check the port, or set "
                "kafka.security.protocol to the listener's protocol")
    offered = re.search(r"broker's supported mechanisms: ([\w ,-]+)", failure.detail)
    hint = (f"set kafka.sasl.mechanism to one the broker offers ({offered.group(1).strip()})"
            if offered and "Unsupported SASL mechanism" in failure.detail
            else "check kafka.sasl.username, kafka.sasl.password and kafka.sasl.mechanism")
    return f"{head}: SASL authentication failed ({failure.detail}); {hint}"

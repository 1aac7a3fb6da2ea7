"""Read a Prometheus web configuration file into a :class:`WebConfig`, or say what is wrong.

The format is exporter-toolkit's (docs/web-configuration.md; its semantics checked
against the toolkit's web/tls_config.go and web/handler.go): ``tls_server_config``,
``http_server_config``, ``basic_auth_users`` and ``rate_limit``. Every key of the format
is known here. As in the toolkit, an unknown or repeated key is an error, relative paths
are relative to the file's directory, and TLS is on once any of ``cert``/``cert_file``,
``key``/``key_file``, ``client_ca``/``client_ca_file`` or ``client_auth_type`` is set.
What Python's ``ssl`` cannot do as Go's ``crypto/tls`` does is refused here with the
reason, never silently ignored (see :mod:`streamproc.webconfig.tls`).

Examples
--------
>>> cfg = parse_web_config('''
... basic_auth_users:
...   prometheus: $2b$04$qQKGc9chkhSOSfmp6tu3Q.DqZs7I0GFug73Kz3PJV2UY80WZJ1eN2
... ''', Path("/etc/streamproc/web.yml"))
>>> cfg.tls is None, sorted(cfg.users)
(True, ['prometheus'])
>>> parse_web_config("basic_auth_users:\\n  prometheus: scrape-secret\\n", Path("web.yml"))
Traceback (most recent call last):
...
streamproc.errors.ConfigError: web config web.yml: basic_auth_users.prometheus is not a bcrypt \
hash; put the hash of the password there, e.g. from `htpasswd -nBC 10 "" | tr -d ':\\n'`
>>> parse_web_config("tls_server_config:\\n  cert_filse: server.crt\\n", Path("web.yml"))
Traceback (most recent call last):
...
streamproc.errors.ConfigError: web config web.yml: tls_server_config.cert_filse is not a key \
of the web configuration format; did you mean cert_file?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .names import (
    CIPHER_SUITES,
    CLIENT_AUTH_ALIASES,
    CLIENT_AUTH_TYPES,
    CURVES,
    HEADERS,
    KEYS,
    TLS_VERSIONS,
)

__all__ = ["RateLimit", "TlsServerConfig", "WebConfig", "parse_go_duration", "parse_web_config",
           "read_web_config"]

# What Go's bcrypt.Cost accepts from htpasswd, Python's bcrypt and the like: $2a$, $2b$
# or $2y$, a cost of 4 to 31, then 53 characters of salt and hash.
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
_HASH_HINT = "e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"


@dataclass(frozen=True)
class TlsServerConfig:
    """``tls_server_config`` with the toolkit's defaults; paths made absolute."""

    cert_file: Path | None = None
    key_file: Path | None = None
    cert: str | None = None
    key: str | None = field(default=None, repr=False)
    client_ca_file: Path | None = None
    client_ca: str | None = None
    client_auth_type: str = "NoClientCert"
    client_allowed_sans: tuple[str, ...] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True

    def files(self) -> tuple[Path, ...]:
        """The files it reads: a change to any of them is a new TLS configuration."""
        return tuple(p for p in (self.cert_file, self.key_file, self.client_ca_file) if p)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: one request per ``interval_seconds``, bursts of ``burst``."""

    interval_seconds: float
    burst: int


@dataclass(frozen=True)
class WebConfig:
    """A parsed web configuration file."""

    path: Path
    tls: TlsServerConfig | None = None  # None: plain HTTP
    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # name -> bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True  # accepted for compatibility: the endpoint speaks HTTP/1.1
    rate_limit: RateLimit | None = None

    def summary(self) -> str:
        """What the file turns on, for the start-up log line."""
        parts = [f"TLS (client certificates: {self.tls.client_auth_type})" if self.tls
                 else "no TLS"]
        parts.append(f"basic auth for {len(self.users)} user(s)" if self.users
                     else "no basic auth")
        if self.rate_limit:
            parts.append(f"at most 1 request per {self.rate_limit.interval_seconds:g}s "
                         f"(bursts of {self.rate_limit.burst})")
        return ", ".join(parts)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration (what the toolkit's ``rate_limit.interval`` takes).

    >>> parse_go_duration("1m30s"), parse_go_duration("250ms"), parse_go_duration("0")
    (90.0, 0.25, 0.0)
    >>> parse_go_duration("5 seconds")
    Traceback (most recent call last):
    ...
    ValueError: '5 seconds' is not a Go duration
    """
    if text == "0":
        return 0.0
    parts = list(_GO_DURATION.finditer(text))
    if not parts or "".join(m.group(0) for m in parts) != text:
        raise ValueError(f"{text!r} is not a Go duration")
    return sum(float(m.group(1)) * _UNIT_SECONDS[m.group(2)] for m in parts)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of repeated keys; the toolkit's strict YAML refuses them."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        try:
            repeated = key in seen
        except TypeError:  # an unhashable key: construct_mapping says so
            break
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _unique_mapping)


class _Reader:
    """Typed reads of the parsed YAML, each failing with one sentence."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"web config {self.path}: {key} {problem}")

    def section(self, data: Any, name: str) -> dict[str, Any]:
        where = name or "the file"
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.fail(where, "must be a mapping of keys to values; see the web "
                                   "configuration format")
        for key in data:
            if key not in KEYS[name]:
                full = f"{name}.{key}" if name else str(key)
                close = difflib.get_close_matches(str(key), KEYS[name], n=1)
                hint = f"did you mean {close[0]}?" if close else (
                    "remove it (the keys here: " + ", ".join(KEYS[name]) + ")")
                raise self.fail(full, f"is not a key of the web configuration format; {hint}")
        return {k: v for k, v in data.items() if v is not None}

    def text(self, value: Any, key: str) -> str:
        # Go's YAML reads any scalar into a string field (X-XSS-Protection: 1).
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (str, int, float)):
            return str(value)
        raise self.fail(key, "must be a string; quote it")

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, "must be a list of strings")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false (got {value!r})")
        return value

    def file(self, value: Any, key: str) -> Path:
        path = Path(self.text(value, key))
        path = path if path.is_absolute() else self.path.parent / path
        if not path.is_file():
            raise self.fail(key, f"names {path}, which is not a file; give the path of an "
                                 "existing PEM file (relative paths are relative to the "
                                 "web config's directory)")
        return path

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        text = self.text(value, key)
        if text not in choices:
            raise self.fail(key, f"{text!r} is not one of {', '.join(choices)}; use one of "
                                 "those")
        return text


def parse_web_config(text: str, path: Path) -> WebConfig:
    """The configuration in ``text`` (the contents of ``path``); ConfigError if invalid."""
    r = _Reader(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"web config {path} is not valid YAML ({_yaml_problem(exc)}); fix "
                          "the file") from None
    top = r.section(data, "")
    users = _users(r, top.get("basic_auth_users"))
    http = r.section(top.get("http_server_config"), "http_server_config")
    headers = _headers(r, http.get("headers"))
    http2 = r.flag(http["http2"], "http_server_config.http2") if "http2" in http else True
    return WebConfig(path=path, tls=_tls(r, r.section(top.get("tls_server_config"),
                                                      "tls_server_config")),
                     users=users, headers=headers, http2=http2,
                     rate_limit=_rate_limit(r, r.section(top.get("rate_limit"), "rate_limit")))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line explanation as one clause: what, and where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def read_web_config(path: str | Path) -> WebConfig:
    """Parse the web configuration file at ``path``; ConfigError with one sentence if not."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"web config {path} cannot be read ({reason}); set "
                          "metrics_web_config (STREAMPROC_METRICS_WEB_CONFIG) to a readable "
                          "YAML file, or unset it for plain HTTP") from None
    return parse_web_config(text, path)


def _users(r: _Reader, data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise r.fail("basic_auth_users", "must map user names to bcrypt hashes")
    users: dict[str, str] = {}
    for name, hashed in data.items():
        user = r.text(name, "basic_auth_users (a user name)")
        key = f"basic_auth_users.{user}"
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise r.fail(key, f"is not a bcrypt hash; put the hash of the password there, "
                              f"{_HASH_HINT}")
        users[user] = hashed
    return users


def _headers(r: _Reader, data: Any) -> tuple[tuple[str, str], ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise r.fail("http_server_config.headers", "must map header names to values")
    out = []
    for name, value in data.items():
        key = f"http_server_config.headers.{name}"
        if name not in HEADERS:
            raise r.fail(key, "cannot be configured; the headers that can: "
                              + ", ".join(HEADERS))
        text = r.text(value, key)
        allowed = HEADERS[name]
        if allowed is not None and text not in allowed:
            raise r.fail(key, f"{text!r} is not an allowed value; use one of "
                              + ", ".join(allowed))
        out.append((str(name), text))
    return tuple(out)


def _rate_limit(r: _Reader, data: dict[str, Any]) -> RateLimit | None:
    interval = 0.0
    if "interval" in data:
        raw = data["interval"]
        try:
            interval = parse_go_duration(raw if isinstance(raw, str) else str(raw))
        except ValueError:
            raise r.fail("rate_limit.interval", f"{raw!r} is not a duration; write one like "
                                                "1s or 100ms (0 turns the limit off)") from None
    if interval == 0:
        return None
    burst = data.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise r.fail("rate_limit.burst", f"{burst!r} would refuse every request; set it to "
                                         "the number of requests allowed at once (1 or more)")
    return RateLimit(interval, burst)


def _tls(r: _Reader, d: dict[str, Any]) -> TlsServerConfig | None:
    key = "tls_server_config."
    if not any(d.get(k) not in (None, "") for k in ("cert", "key", "client_ca", "cert_file",
                                                     "key_file", "client_ca_file",
                                                     "client_auth_type")):
        for other in ("client_allowed_sans", "min_version", "max_version", "cipher_suites",
                      "curve_preferences", "prefer_server_cipher_suites"):
            if other in d:
                raise r.fail(key + other, "is set but TLS is not: set cert_file and key_file "
                                          "too, or remove it")
        return None
    for inline, path in (("cert", "cert_file"), ("key", "key_file"),
                         ("client_ca", "client_ca_file")):
        if d.get(inline) and d.get(path):
            raise r.fail(key + inline, f"and {key}{path} are both set; keep one of them")
    if not d.get("cert") and not d.get("cert_file"):
        raise r.fail(key + "cert_file", "is missing; TLS needs the server certificate: set "
                                        "cert_file (or cert, inline PEM)")
    if not d.get("key") and not d.get("key_file"):
        raise r.fail(key + "key_file", "is missing; TLS needs the server's private key: set "
                                       "key_file (or key, inline PEM)")
    auth = r.text(d.get("client_auth_type") or "NoClientCert", key + "client_auth_type")
    auth = r.choice(CLIENT_AUTH_ALIASES.get(auth, auth), key + "client_auth_type",
                    CLIENT_AUTH_TYPES)
    has_ca = bool(d.get("client_ca") or d.get("client_ca_file"))
    if has_ca and auth == "NoClientCert":
        raise r.fail(key + "client_ca_file", "is set without a client_auth_type asking for "
                                             "client certificates; set client_auth_type: "
                                             "RequireAndVerifyClientCert, or remove it")
    if auth == "RequireAnyClientCert" and not has_ca:
        # Python's ssl cannot require a certificate without verifying it against some CA.
        raise r.fail(key + "client_auth_type", "RequireAnyClientCert (accept any client "
                     "certificate, unverified) is not supported: Python's ssl verifies every "
                     "certificate it requires; set client_ca_file to the CA of your clients "
                     "(it is then checked as RequireAndVerifyClientCert)")
    sans = None
    if "client_allowed_sans" in d:
        sans = r.texts(d["client_allowed_sans"], key + "client_allowed_sans")
        if auth not in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
            raise r.fail(key + "client_allowed_sans", "needs client_auth_type "
                         "RequireAndVerifyClientCert (a client may otherwise send no "
                         "certificate to match); set it, or remove client_allowed_sans")
        if not sans:
            raise r.fail(key + "client_allowed_sans", "is empty, which would refuse every "
                                                      "client; list the SANs to admit")
    versions = {}
    for which, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        version = r.choice(d.get(which, default), key + which, TLS_VERSIONS)
        if version in ("TLS10", "TLS11"):
            raise r.fail(key + which, f"{version} is not supported: TLS 1.0 and 1.1 are "
                         "deprecated (RFC 8996) and OpenSSL refuses them at its default "
                         "security level; use TLS12 or TLS13")
        versions[which] = version
    if versions["min_version"] > versions["max_version"]:
        raise r.fail(key + "min_version", f"{versions['min_version']} is above max_version "
                     f"{versions['max_version']}; no TLS version would be left: lower it")
    ciphers = r.texts(d.get("cipher_suites", []), key + "cipher_suites")
    for name in ciphers:
        if name not in CIPHER_SUITES:
            raise r.fail(key + "cipher_suites", f"{name!r} is not a cipher suite Go's "
                         "tls.CipherSuites() lists; use those names, e.g. "
                         "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    curves = r.texts(d.get("curve_preferences", []), key + "curve_preferences")
    for name in curves:
        if name not in CURVES:
            raise r.fail(key + "curve_preferences", f"{name!r} is not a curve; use one of "
                                                    + ", ".join(CURVES))
    if len(curves) > 1:
        raise r.fail(key + "curve_preferences", f"lists {len(curves)} curves, but Python's ssl "
                     "can restrict the key exchange to one curve only, not order several; "
                     "list the one curve to allow, or remove the key for OpenSSL's defaults")
    prefer = d.get("prefer_server_cipher_suites", True)
    return TlsServerConfig(
        cert_file=r.file(d["cert_file"], key + "cert_file") if d.get("cert_file") else None,
        key_file=r.file(d["key_file"], key + "key_file") if d.get("key_file") else None,
        cert=r.text(d["cert"], key + "cert") if d.get("cert") else None,
        key=r.text(d["key"], key + "key") if d.get("key") else None,
        client_ca_file=(r.file(d["client_ca_file"], key + "client_ca_file")
                        if d.get("client_ca_file") else None),
        client_ca=r.text(d["client_ca"], key + "client_ca") if d.get("client_ca") else None,
        client_auth_type=auth, client_allowed_sans=sans,
        min_version=versions["min_version"], max_version=versions["max_version"],
        cipher_suites=ciphers, curve_preferences=curves,
        prefer_server_cipher_suites=r.flag(prefer, key + "prefer_server_cipher_suites"),
    )

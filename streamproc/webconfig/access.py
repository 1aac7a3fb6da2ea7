"""Who may read the endpoint: the web config file's decision for each connection and request.

As in exporter-toolkit, every path is protected (``/metrics``, ``/livez``, ``/readyz``
alike) and the file is re-read when it changes, so a renewed certificate or a new
password hash applies to the next connection without a restart. Here "changed" is
a stat of the file and of the certificates it names (mtime, size, inode), not a read
of everything per request. A file that turns invalid is refused loudly, as the toolkit
does: requests get 500 and TLS handshakes fail until it is fixed (the previous
configuration is not kept, since it may grant access the operator just removed).
Turning TLS on or off needs a restart: the listening socket was opened for one of them.

Basic auth compares bcrypt hashes, which takes ~0.1-0.3 s of CPU at cost 10-12. Like
the toolkit, outcomes are cached, keyed by user, stored hash and password, so a
Prometheus scraping every few seconds costs one comparison, not one per scrape; a new
hash for the user (a changed password) misses the cache. The key is an HMAC under a
key made at start-up, so the cache holds no fast hash of a password that would help
guess it offline. Refusals are cached apart from admissions, so a flood of guesses
cannot evict the scraper's entry, and comparisons run one at a time (at most one core).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from ..errors import ConfigError
from .config import RateLimit, WebConfig, read_web_config
from .tls import san_allowed, server_context

__all__ = ["AccessPolicy", "BasicAuth", "TokenBucket", "Verdict", "check_web_config"]

_log = logging.getLogger("streamproc.http")

# Outcomes kept per kind (admitted, refused): a handful of scrapers' credentials fit.
CACHE_ENTRIES = 100
# bcrypt uses the first 72 bytes of a password; bcrypt 5 refuses longer ones, 4 truncates.
# Refused here whichever is installed, so the outcome does not depend on the version.
MAX_PASSWORD_BYTES = 72
# Compared when the user is unknown, so that a wrong user costs as long as a wrong
# password and timing does not tell which user names exist (bcrypt of a random string).
_UNKNOWN_USER_HASH = b"$2b$10$f5Zm9bX5gg0cAMbRAG9JM.H2eknHZdibp3AzW9Hvjr/9HUn.BoQy6"


def _credentials(authorization: str | None) -> tuple[str, bytes] | None:
    """(user, password) of an ``Authorization: Basic`` header, or None.

    >>> _credentials("Basic " + base64.b64encode(b"prometheus:s3:cret").decode())
    ('prometheus', b's3:cret')
    >>> _credentials("Bearer abc") is None, _credentials("Basic !!") is None
    (True, True)
    """
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(authorization[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    return user.decode("utf-8", errors="replace"), password


class BasicAuth:
    """bcrypt checks of basic-auth credentials against ``basic_auth_users``, cached."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self.comparisons = 0  # bcrypt comparisons made (the cost the cache saves)
        self._key = secrets.token_bytes(32)
        self._admitted: dict[bytes, None] = {}  # insertion-ordered: the oldest goes first
        self._refused: dict[bytes, None] = {}
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()

    def check(self, users: Mapping[str, str], authorization: str | None) -> bool:
        creds = _credentials(authorization)
        if creds is None:
            return False
        user, password = creds
        stored = users.get(user)
        hashed = stored.encode() if stored is not None else _UNKNOWN_USER_HASH
        digest = hmac.new(self._key, b"\0".join(
            (hashlib.sha256(user.encode()).digest(), hashlib.sha256(hashed).digest(),
             hashlib.sha256(password).digest())), hashlib.sha256).digest()
        with self._lock:
            if digest in self._admitted:
                return True
            if digest in self._refused:
                return False
        with self._bcrypt_lock:
            self.comparisons += 1
            try:
                ok = len(password) <= MAX_PASSWORD_BYTES and bcrypt.checkpw(password, hashed)
            except ValueError:
                ok = False
        ok = ok and stored is not None
        with self._lock:
            cache = self._admitted if ok else self._refused
            cache[digest] = None
            while len(cache) > self.entries:
                del cache[next(iter(cache))]
        return ok


class TokenBucket:
    """Go's ``rate.Limiter`` as the toolkit uses it: ``burst`` tokens, one more per interval."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.limit.burst),
                               self._tokens + (now - self._last) / self.limit.interval_seconds)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass(frozen=True)
class Verdict:
    """A request's fate: serve it (``status`` None) or answer ``status``; ``headers`` always."""

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()


class AccessPolicy:
    """The web config file at ``path``, loaded now (ConfigError if invalid) and kept current."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._config, self._context = self._load()
        self.tls = self._config.tls is not None  # fixed: the socket serves one or the other
        self._signature = self._stat(self._config)
        self._error: str | None = None
        self._bucket = TokenBucket(self._config.rate_limit) if self._config.rate_limit else None
        self.auth = BasicAuth()

    @property
    def config(self) -> WebConfig:
        return self._config

    def _load(self) -> tuple[WebConfig, ssl.SSLContext | None]:
        config = read_web_config(self.path)
        context = server_context(config.tls, self.path) if config.tls else None
        return config, context

    def _stat(self, config: WebConfig) -> tuple[Any, ...]:
        files = (self.path, *(config.tls.files() if config.tls else ()))
        out = []
        for f in files:
            try:
                st = os.stat(f)
                out.append((f, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
            except OSError:
                out.append((f, None))
        return tuple(out)

    def _refresh(self) -> None:
        with self._lock:
            signature = self._stat(self._config)
            if signature == self._signature:
                return
            self._signature = signature  # stat before reading: a later write is seen later
            try:
                config, context = self._load()
                if (config.tls is not None) != self.tls:
                    raise ConfigError(f"web config {self.path}: tls_server_config now turns "
                                      f"TLS {'on' if config.tls else 'off'}; restart the "
                                      "worker to switch between HTTP and HTTPS")
            except ConfigError as exc:
                self._error = str(exc)
                _log.error("%s (refusing requests until the file is fixed)", exc)
                return
            if config.rate_limit != self._config.rate_limit:
                self._bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
            self._config, self._context, self._error = config, context, None
            self._signature = self._stat(config)
            _log.info("web config %s re-read: %s", self.path, config.summary())

    def context(self) -> ssl.SSLContext | None:
        """The TLS context for a new connection; None: refuse it (the file is invalid)."""
        self._refresh()
        return None if self._error else self._context

    def peer_allowed(self, peercert: dict[str, Any] | None) -> bool:
        """Whether a TLS client's certificate passes ``client_allowed_sans``."""
        tls = self._config.tls
        if tls is None or tls.client_allowed_sans is None:
            return True
        return san_allowed(peercert, tls.client_allowed_sans)

    def admit(self, authorization: str | None) -> Verdict:
        """Rate limit, then basic auth, as the toolkit's handler orders them."""
        self._refresh()
        if self._error:
            return Verdict(500)
        if self._bucket is not None and not self._bucket.allow():
            return Verdict(429)
        config = self._config
        if config.users and not self.auth.check(config.users, authorization):
            return Verdict(401, (*config.headers, ("WWW-Authenticate", "Basic")))
        return Verdict(None, config.headers)


def check_web_config(path: str | Path) -> WebConfig:
    """Validate the web config file at ``path`` as a worker would load it (ConfigError if not)."""
    return AccessPolicy(path).config

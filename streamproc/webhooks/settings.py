"""How an operator declares a webhook, and what a worker makes of it at start-up.

Examples
--------
>>> hook = WebhookSettings(url="https://hooks.example.com/drift?team=ml")
>>> hook.name
'hooks.example.com'
>>> resolve([WebhookSettings(url="http://a:8080/", auth_header="Authorization",
...                          auth_env="A_TOKEN")], {"A_TOKEN": "Bearer s3cret"})[0].headers
{'Authorization': 'Bearer s3cret'}
>>> resolve([WebhookSettings(url="http://a:8080/", auth_header="Authorization",
...                          auth_env="A_TOKEN")], {})
Traceback (most recent call last):
...
streamproc.errors.ConfigError: webhook 'a': environment variable A_TOKEN (its auth_env) is \
not set; export it with the value of the Authorization header, or remove auth_env
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError

__all__ = ["Webhook", "WebhookList", "WebhookSettings", "resolve"]

# A name is a metric label value and part of a consumer group id: keep it plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class WebhookSettings(BaseModel):
    """One entry of ``alert_webhooks``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) URL that receives each alert as a CloudEvent (POST).")
    name: str | None = Field(
        None, description="Metric label and consumer-group suffix; default: the URL's host."
    )
    auth_header: str | None = Field(None, description="Header that carries a secret, e.g. "
                                    "Authorization.")
    auth_env: str | None = Field(None, description="Environment variable holding its value.")
    timeout_seconds: float = Field(5.0, gt=0, description="Per attempt.")
    retry_initial_seconds: float = Field(1.0, gt=0, description="First wait after a failure.")
    retry_max_seconds: float = Field(60.0, gt=0, description="Cap of the doubling waits.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        return url

    @model_validator(mode="after")
    def _complete(self) -> WebhookSettings:
        if (self.auth_header is None) != (self.auth_env is None):
            raise ValueError("auth_header and auth_env go together: set both or neither")
        if self.name is None:
            self.name = urlsplit(self.url).hostname
        if not _NAME.fullmatch(self.name or ""):
            raise ValueError(
                f"webhook name {self.name!r} must be letters, digits, '.', '_' or '-' "
                "(at most 63)"
            )
        return self


def _distinct_names(hooks: list[WebhookSettings]) -> list[WebhookSettings]:
    seen: set[str] = set()
    for hook in hooks:
        if hook.name in seen:
            raise ValueError(f"two webhooks are named {hook.name!r}; give each a distinct name")
        seen.add(hook.name or "")
    return hooks


WebhookList = Annotated[list[WebhookSettings], AfterValidator(_distinct_names)]


@dataclass(frozen=True)
class Webhook:
    """A webhook ready to call: its secret read from the environment."""

    name: str
    url: str
    timeout_seconds: float
    retry_initial_seconds: float
    retry_max_seconds: float
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a secret


def resolve(hooks: list[WebhookSettings], environ: Mapping[str, str]) -> list[Webhook]:
    """Webhooks with their auth headers; ConfigError if a secret's variable is unset."""
    out = []
    for hook in hooks:
        headers = {}
        if hook.auth_header and hook.auth_env:
            value = environ.get(hook.auth_env)
            if not value:
                raise ConfigError(
                    f"webhook {hook.name!r}: environment variable {hook.auth_env} (its auth_env) "
                    f"is not set; export it with the value of the {hook.auth_header} header, "
                    "or remove auth_env"
                )
            headers[hook.auth_header] = value
        out.append(Webhook(hook.name or "", hook.url, hook.timeout_seconds,
                           hook.retry_initial_seconds, hook.retry_max_seconds, headers))
    return out

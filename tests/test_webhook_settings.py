"""Webhook settings: validation names the entry, a missing secret stops the worker at start-up."""

from __future__ import annotations

import json
import os

import pytest

from streamproc.config import load_settings
from streamproc.errors import ConfigError
from streamproc.webhooks.settings import resolve

from .conftest import run_cli


def test_defaults_and_environment_json() -> None:
    hooks = [{"url": "https://hooks.example.com/x"}, {"url": "http://10.0.0.1:8080/", "name": "b"}]
    s = load_settings(None, alert_webhooks=hooks)
    assert [(h.name, h.timeout_seconds, h.retry_initial_seconds, h.retry_max_seconds)
            for h in s.alert_webhooks] == [("hooks.example.com", 5.0, 1.0, 60.0),
                                           ("b", 5.0, 1.0, 60.0)]
    assert [h.headers for h in resolve(s.alert_webhooks, {})] == [{}, {}]


@pytest.mark.parametrize(("hooks", "message"), [
    ([{"url": "ftp://x/"}], "alert_webhooks.0.url: Value error, 'ftp://x/' is not an http(s) URL"),
    ([{"url": "http://a/"}, {"url": "http://a/b"}], "two webhooks are named 'a'"),
    ([{"url": "http://a/", "auth_env": "T"}], "auth_header and auth_env go together"),
    ([{"url": "http://a/", "name": "a b"}], "webhook name 'a b' must be letters"),
    ([{"url": "http://a/", "retries": 3}], "alert_webhooks.0.retries: Extra inputs"),
])
def test_bad_webhooks_name_the_entry(hooks: list[dict], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(None, alert_webhooks=hooks)


def test_a_missing_secret_is_one_sentence_and_exit_2_before_any_connection() -> None:
    hooks = [{"url": "http://127.0.0.1:1/", "name": "pager", "auth_header": "Authorization",
              "auth_env": "STREAMPROC_TEST_UNSET_TOKEN"}]
    env = {k: v for k, v in os.environ.items() if k != "STREAMPROC_TEST_UNSET_TOKEN"}
    env["STREAMPROC_ALERT_WEBHOOKS"] = json.dumps(hooks)
    # An unreachable broker would fail later and differently: the secret is checked first.
    result = run_cli("worker", "--broker", "127.0.0.1:1", "--metrics-port", "0", env=env)
    assert (result.returncode, result.stderr.strip().splitlines()) == (2, [
        "streamproc worker: error: webhook 'pager': environment variable "
        "STREAMPROC_TEST_UNSET_TOKEN (its auth_env) is not set; export it with the value of "
        "the Authorization header, or remove auth_env"])

"""metrics_web_config: what a web configuration file may say, and the one sentence for
each mistake, from the parser to the `streamproc worker` command (exit 2)."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from streamproc.config import load_settings
from streamproc.errors import ConfigError
from streamproc.webconfig import check_web_config, read_web_config
from streamproc.webconfig.names import CIPHER_SUITES, CLIENT_AUTH_TYPES
from streamproc.webconfig.tls import VERIFY_MODES, server_context

from .pki import Pki, make_pki

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def write(directory: Path, text: str) -> Path:
    path = directory / "web.yml"
    path.write_text(text)
    return path


def tls(pki: Pki, *extra: str) -> str:
    return "\n".join(["tls_server_config:", f"  cert_file: {pki.server_cert}",
                      f"  key_file: {pki.server_key}", *(f"  {e}" for e in extra)]) + "\n"


# (file text, with {cert}/{key}/{ca}/{client_key} placeholders; key named; words of the fix)
BAD = {
    "unknown top-level key": ("tls_config: {{}}\n", "tls_config", "tls_server_config"),
    "misspelt key": ("tls_server_config:\n  cert_filse: {cert}\n", "cert_filse", "cert_file"),
    "missing cert file": ("tls_server_config:\n  cert_file: /nonexistent/server.crt\n"
                          "  key_file: {key}\n", "tls_server_config.cert_file",
                          "existing PEM file"),
    "no key": ("tls_server_config:\n  cert_file: {cert}\n", "tls_server_config.key_file",
               "set key_file"),
    "cert and key that do not match": (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {client_key}\n",
        "cert_file and key_file", "matches"),
    "not a PEM certificate": ("tls_server_config:\n  cert_file: {config}\n  key_file: {key}\n",
                              "cert_file and key_file", "PEM certificate"),
    "a plain password": ("basic_auth_users:\n  prometheus: pw\n", "basic_auth_users.prometheus",
                         "htpasswd"),
    "a hash that is not bcrypt": (
        "basic_auth_users:\n  prometheus: $6$salt$abcdefghijklmnop\n",
        "basic_auth_users.prometheus", "bcrypt"),
    "unknown client_auth_type": (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerify\n", "client_auth_type",
        "RequireAndVerifyClientCert"),
    "RequireAnyClientCert without a CA": (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAnyClientCert\n", "client_auth_type", "client_ca_file"),
    "client CA without a policy": (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_ca_file: {ca}\n",
        "client_ca_file", "client_auth_type"),
    "misspelt min_version": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                             "  min_version: TLSv1.2\n", "min_version", "TLS12"),
    "deprecated min_version": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                               "  min_version: TLS11\n", "min_version", "TLS12"),
    "min above max": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                      "  min_version: TLS13\n  max_version: TLS12\n", "min_version", "lower"),
    "unknown cipher": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                       "  cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]\n", "cipher_suites",
                       "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    "several curves": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
                       "  curve_preferences: [X25519, CurveP256]\n", "curve_preferences",
                       "one curve"),
    "SANs without a required certificate": (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {ca}\n"
        "  client_allowed_sans: [prometheus]\n", "client_allowed_sans",
        "RequireAndVerifyClientCert"),
    "TLS options without TLS": ("tls_server_config:\n  min_version: TLS13\n",
                                "tls_server_config.min_version", "cert_file"),
    "a header the format does not allow": (
        "http_server_config:\n  headers:\n    Server: streamproc\n", "headers.Server",
        "X-Frame-Options"),
    "a header value it does not allow": (
        "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        "headers.X-Frame-Options", "sameorigin"),
    "http2 not a boolean": ("http_server_config:\n  http2: maybe\n", "http2", "true or false"),
    "a repeated key": (f"basic_auth_users:\n  a: {HASH}\n  a: {HASH}\n", "twice", "fix"),
    "not YAML": ("basic_auth_users: [\n", "not valid YAML", "fix"),
    "not a mapping": ("- tls_server_config\n", "the file", "mapping"),
    "a burst of zero": ("rate_limit:\n  interval: 1s\n  burst: 0\n", "rate_limit.burst",
                        "1 or more"),
    "an interval that is not a duration": ("rate_limit:\n  interval: 5 seconds\n  burst: 1\n",
                                           "rate_limit.interval", "1s"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_file_is_one_sentence_naming_it_the_key_and_the_fix(pki, tmp_path,
                                                                   case: str) -> None:
    text, key, fix = BAD[case]
    path = tmp_path / "web.yml"
    path.write_text(text.format(cert=pki.server_cert, key=pki.server_key, ca=pki.ca,
                                client_key=pki.client_key, config=path))
    with pytest.raises(ConfigError) as err:
        check_web_config(path)
    message = str(err.value)
    assert message.startswith(f"web config {path}")
    assert key in message and fix in message
    assert "\n" not in message and "Traceback" not in message


def test_a_missing_file_names_the_setting(tmp_path) -> None:
    with pytest.raises(ConfigError, match="STREAMPROC_METRICS_WEB_CONFIG"):
        check_web_config(tmp_path / "absent.yml")


def test_an_empty_file_turns_nothing_on(tmp_path) -> None:
    cfg = read_web_config(write(tmp_path, ""))
    assert (cfg.tls, dict(cfg.users), cfg.headers, cfg.rate_limit) == (None, {}, (), None)


def test_relative_paths_are_relative_to_the_file(pki) -> None:
    cfg = read_web_config(write(pki.dir, "tls_server_config:\n  cert_file: server.crt\n"
                                         "  key_file: server.key\n"))
    assert cfg.tls is not None and cfg.tls.cert_file == pki.server_cert


def test_inline_pem_works_like_the_files(pki, tmp_path) -> None:
    pem = {name: "|\n" + "".join(f"    {line}\n" for line in path.read_text().splitlines())
           for name, path in (("cert", pki.server_cert), ("key", pki.server_key),
                              ("client_ca", pki.ca))}
    cfg = check_web_config(write(tmp_path, "tls_server_config:\n"
                                           f"  cert: {pem['cert']}  key: {pem['key']}"
                                           f"  client_ca: {pem['client_ca']}"
                                           "  client_auth_type: RequireAndVerifyClientCert\n"))
    assert cfg.tls is not None and cfg.tls.cert_file is None
    assert "BEGIN CERTIFICATE" in (cfg.tls.cert or "")


def test_every_cipher_suite_the_toolkit_takes_is_accepted(pki, tmp_path) -> None:
    cfg = check_web_config(write(tmp_path, tls(pki, "cipher_suites:", *(
        f"  - {name}" for name in CIPHER_SUITES), "curve_preferences: [CurveP384]",
        "prefer_server_cipher_suites: false")))
    assert cfg.tls is not None
    ctx = server_context(cfg.tls, cfg.path)
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}
    assert tls12 == {v for v in CIPHER_SUITES.values() if v}
    assert not ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize("auth", [*CLIENT_AUTH_TYPES, "RequireClientCert"])
def test_each_client_auth_type_maps_onto_a_verify_mode(pki, tmp_path, auth: str) -> None:
    ca = [] if auth == "NoClientCert" else [f"client_ca_file: {pki.ca}"]
    cfg = check_web_config(write(tmp_path, tls(pki, f"client_auth_type: {auth}", *ca)))
    assert cfg.tls is not None
    expected = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_NONE,
                "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL}.get(auth, ssl.CERT_REQUIRED)
    assert server_context(cfg.tls, cfg.path).verify_mode == expected
    assert VERIFY_MODES[cfg.tls.client_auth_type] == expected


def test_the_setting_comes_from_the_environment(pki, tmp_path, monkeypatch) -> None:
    path = write(tmp_path, tls(pki) + f"basic_auth_users:\n  prometheus: {HASH}\n")
    monkeypatch.setenv("STREAMPROC_METRICS_WEB_CONFIG", str(path))
    assert load_settings(None).metrics_web_config == path
    monkeypatch.setenv("STREAMPROC_METRICS_WEB_CONFIG", "")
    assert load_settings(None).metrics_web_config is None
    monkeypatch.delenv("STREAMPROC_METRICS_WEB_CONFIG")
    assert load_settings(None).metrics_web_config is None  # the default: open HTTP
    write(tmp_path, "basic_auth_users:\n  prometheus: pw\n")
    with pytest.raises(ConfigError, match="basic_auth_users.prometheus"):
        load_settings(None, metrics_web_config=str(path))


def test_add_monitors_refuses_a_bad_file_when_called(pki, tmp_path) -> None:
    import faust

    from streamproc.faust import add_monitors

    path = write(tmp_path, tls(pki, "client_auth_type: RequireAnyClientCert"))
    settings = load_settings(None).model_copy(update={"metrics_web_config": path})
    app = faust.App("webcfg-check", broker="kafka://127.0.0.1:1", autodiscover=False)
    with pytest.raises(ConfigError, match="RequireAnyClientCert"):
        add_monitors(app, settings=settings)


@pytest.mark.parametrize("engine", ["librdkafka", "faust"])
def test_the_worker_command_exits_2_with_one_sentence(tmp_path, engine: str) -> None:
    path = write(tmp_path, "tls_server_config:\n  cert_file: missing.crt\n  key_file: k\n")
    env = {"PATH": "/usr/bin:/bin", "STREAMPROC_METRICS_WEB_CONFIG": str(path),
           "STREAMPROC_BROKER": "127.0.0.1:1"}
    run = subprocess.run([sys.executable, "-m", "streamproc", "worker", "--engine", engine],
                         capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"streamproc worker: error: web config {path}: tls_server_config.cert_file names "
        f"{tmp_path / 'missing.crt'}, which is not a file; give the path of an existing PEM "
        "file (relative paths are relative to the web config's directory)"]

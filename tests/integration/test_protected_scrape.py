"""A real Prometheus scrapes workers protected by a web configuration file.

Three workers on the embedded broker, each with its own ``metrics_web_config``:

- ``tls``: the default engine in this process, TLS and basic auth;
- ``mtls``: `streamproc worker` (the setting from STREAMPROC_METRICS_WEB_CONFIG), client
  certificates required and verified (RequireAndVerifyClientCert) and basic auth;
- ``faust``: `streamproc worker --engine faust`, TLS and basic auth.

One Prometheus (Debian's) scrapes each with the right credentials (``basic_auth`` and
``tls_config``), and each again with a wrong password or without a client certificate:
the first are up with streamproc series, the others down, saying why.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from ..conftest import WorkerProcess, running_worker, settings_for, wait_until
from ..pki import Pki, basic, fetch, make_pki
from .monitoring import Service, query, start_prometheus_jobs, targets

pytestmark = pytest.mark.integration

USER, PASSWORD = "prometheus", "scrape-secret"
# Cost 10, what `htpasswd -nBC 10` makes: the cache, not a cheap hash, keeps scrapes cheap.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()


def _web_config(pki: Pki, name: str, client_certs: bool) -> Path:
    lines = ["tls_server_config:", f"  cert_file: {pki.server_cert}",
             f"  key_file: {pki.server_key}"]
    if client_certs:
        lines += ["  client_auth_type: RequireAndVerifyClientCert",
                  f"  client_ca_file: {pki.ca}"]
    lines += ["basic_auth_users:", f"  {USER}: {HASH}"]
    path = pki.dir / f"{name}-web.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_ready(worker: WorkerProcess, pki: Pki, cert: tuple[Path, Path] | None) -> None:
    def ready() -> bool:
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited with {worker.proc.returncode}; see "
                                 f"{worker.log}")
        try:
            return fetch(f"https://127.0.0.1:{worker.port}/readyz", ca=pki.ca, cert=cert,
                         authorization=basic(USER, PASSWORD), timeout=2).status == 200
        except (ssl.SSLError, OSError):
            return False

    wait_until(ready, 90, f"worker ready (log: {worker.log})", 0.25)


def _job(name: str, port: int, pki: Pki, password: str = PASSWORD,
         client_cert: bool = False) -> dict[str, Any]:
    tls: dict[str, Any] = {"ca_file": str(pki.ca)}
    if client_cert:
        tls.update(cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    return {"job_name": name, "scheme": "https", "tls_config": tls,
            "basic_auth": {"username": USER, "password": password},
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}


@pytest.fixture(scope="module")
def prometheus(broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("protected")
    pki = make_pki(workdir / "pki")
    with ExitStack() as cleanup:
        s = settings_for(broker, "web-tls", metrics_web_config=_web_config(pki, "tls", False))
        worker = cleanup.enter_context(running_worker(s))
        tls_port = worker.http.port  # type: ignore[union-attr]
        mtls = WorkerProcess(settings_for(broker, "web-mtls", metrics_web_config=_web_config(
            pki, "mtls", True)), workdir / "mtls.log")
        cleanup.callback(mtls.terminate)
        faust = WorkerProcess(settings_for(broker, "web-faust", engine="faust",
                                           metrics_web_config=_web_config(pki, "faust", False)),
                              workdir / "faust.log")
        cleanup.callback(faust.terminate)
        _wait_ready(mtls, pki, (pki.client_cert, pki.client_key))
        _wait_ready(faust, pki, None)
        service = start_prometheus_jobs(workdir, [
            _job("tls", tls_port, pki),
            _job("tls-wrong-password", tls_port, pki, password="guess"),
            _job("mtls", mtls.port, pki, client_cert=True),
            _job("mtls-without-client-cert", mtls.port, pki),
            _job("faust", faust.port, pki),
            _job("faust-wrong-password", faust.port, pki, password="guess"),
        ])
        cleanup.callback(service.stop)
        wait_until(lambda: all(t["health"] != "unknown" for t in targets(service).values())
                   and len(targets(service)) == 6, 30, "every target scraped once")
        yield service


@pytest.mark.parametrize("job", ["tls", "mtls", "faust"])
def test_the_right_credentials_scrape_the_worker(prometheus: Service, job: str) -> None:
    def up() -> bool:
        return targets(prometheus)[job]["health"] == "up"

    wait_until(up, 20, f"{job} up", 0.5)
    answer = query(prometheus, f'up{{job="{job}"}}')
    assert [r["value"][1] for r in answer["data"]["result"]] == ["1"]
    partitions = wait_until(lambda: query(prometheus, f'streamproc_partitions_assigned'
                                                      f'{{job="{job}"}}')["data"]["result"],
                            20, f"streamproc series of {job}", 0.5)
    assert len(partitions) == 1 and float(partitions[0]["value"][1]) >= 0


@pytest.mark.parametrize("job, reason", [
    ("tls-wrong-password", "401"),
    ("faust-wrong-password", "401"),
    ("mtls-without-client-cert", "tls: certificate required"),
])
def test_wrong_credentials_leave_the_target_down_saying_why(prometheus: Service, job: str,
                                                            reason: str) -> None:
    target = wait_until(lambda: (t := targets(prometheus)[job])["lastError"] and t, 20,
                        f"an error scraping {job}", 0.5)
    assert target["health"] == "down"
    # TLS 1.3 sends the server's refusal after the client's handshake is done: Prometheus
    # reports the alert, or the reset if its request write loses that race.
    reasons = (reason, "connection reset by peer") if "certificate required" in reason \
        else (reason,)
    assert any(r in target["lastError"] for r in reasons), target["lastError"]
    answer = query(prometheus, f'up{{job="{job}"}}')
    assert [r["value"][1] for r in answer["data"]["result"]] == ["0"]
